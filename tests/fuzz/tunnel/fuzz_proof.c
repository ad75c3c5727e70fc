/* libFuzzer target: the membership proof read from the control stream.
 * The first byte picks the role the verifier wants; the rest is the proof
 * as received. Whatever the bytes, a forged proof must not verify: the
 * fuzzer cannot know the MAC key, so a success is a bug. Separately, a
 * proof built for a name taken from the input must verify exactly once
 * and fail for the other role and with any byte flipped. */
#include "wv/base.h"
#include "wv/tunnel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t auth[32] = {0xa5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static const uint8_t exporter[32] = {0x5a, 9, 8, 7, 6, 5, 4, 3, 2, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    enum wv_role want = (data[0] & 1) ? WV_ROLE_SERVER : WV_ROLE_CLIENT;
    char site[256];
    int rc = wv_proof_verify(auth, exporter, want, data + 1, size - 1, site);
    if (rc >= 0)
        abort(); /* a forged MAC verified */
    if (rc != WV_ERR_AGAIN && rc != WV_ERR_PROTO && rc != WV_ERR_AUTH)
        abort();

    /* A genuine proof for a name made of the input bytes. */
    char name[256];
    size_t n = size - 1 > 255 ? 255 : size - 1;
    memcpy(name, data + 1, n);
    name[n] = '\0';
    if (!name[0])
        return 0; /* the builder refuses an empty name */
    uint8_t proof[WV_PROOF_MAX];
    int len = wv_proof_build(auth, exporter, want, name, proof);
    if (len < 0)
        abort();
    size_t nlen = strlen(name);
    if ((size_t)len != 4 + 1 + 1 + nlen + 32)
        abort();
    rc = wv_proof_verify(auth, exporter, want, proof, (size_t)len, site);
    if (rc >= 0 && (rc != len || strcmp(site, name) != 0))
        abort();
    if (rc < 0 && rc != WV_ERR_PROTO)
        abort(); /* only a name the verifier refuses may fail */
    /* Truncated: needs more bytes (or is refused), never verifies. */
    if (len > 1 && wv_proof_verify(auth, exporter, want, proof, (size_t)len - 1, site) >= 0)
        abort();
    enum wv_role other = want == WV_ROLE_SERVER ? WV_ROLE_CLIENT : WV_ROLE_SERVER;
    if (wv_proof_verify(auth, exporter, other, proof, (size_t)len, site) >= 0)
        abort();
    proof[(size_t)data[0] % (size_t)len] ^= 0x01;
    if (wv_proof_verify(auth, exporter, want, proof, (size_t)len, site) >= 0)
        abort();
    return 0;
}
