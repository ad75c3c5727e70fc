/* Password hashing for basic-auth users: PBKDF2-HMAC-SHA256 encoded as
 * "pbkdf2-sha256$ITER$SALT$HASH" (base64). */
#include "wv/crypto.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PBKDF2_DEFAULT_ITER 100000
#define PBKDF2_MAX_ITER 10000000 /* a stored hash cannot make a check take forever */
#define SALT_BYTES 16
#define HASH_BYTES 32

char *wv_base64(const unsigned char *p, size_t n) {
    gnutls_datum_t in = {(unsigned char *)p, (unsigned)n}, out = {NULL, 0};
    if (gnutls_base64_encode2(&in, &out) < 0) {
        fprintf(stderr, "wovenet: base64 encoding failed\n");
        abort();
    }
    char *s = wv_strndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    return s;
}

/* Decodes exactly want bytes of base64 or fails. */
static int unb64(const char *s, size_t len, unsigned char *buf, size_t want) {
    gnutls_datum_t in = {(unsigned char *)s, (unsigned)len}, out = {NULL, 0};
    if (gnutls_base64_decode2(&in, &out) < 0)
        return WV_ERR_INVAL;
    int rc = out.size == want ? 0 : WV_ERR_INVAL;
    if (rc == 0)
        memcpy(buf, out.data, want);
    gnutls_free(out.data);
    return rc;
}

char *wv_password_hash_iter(const char *password, unsigned iterations) {
    unsigned char salt[SALT_BYTES], hash[HASH_BYTES];
    if (gnutls_rnd(GNUTLS_RND_NONCE, salt, sizeof(salt)) < 0)
        return NULL;
    gnutls_datum_t key = {(unsigned char *)password, (unsigned)strlen(password)};
    gnutls_datum_t sd = {salt, sizeof(salt)};
    if (gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &sd, iterations, hash, sizeof(hash)) < 0)
        return NULL;
    char *s64 = wv_base64(salt, sizeof(salt)), *h64 = wv_base64(hash, sizeof(hash));
    char *out = wv_asprintf("pbkdf2-sha256$%u$%s$%s", iterations, s64, h64);
    wv_memwipe(hash, sizeof(hash));
    free(s64);
    free(h64);
    return out;
}

char *wv_password_hash(const char *password) {
    return wv_password_hash_iter(password, PBKDF2_DEFAULT_ITER);
}

int wv_password_verify(const char *password, const char *encoded) {
    static const char tag[] = "pbkdf2-sha256$";
    unsigned char salt[SALT_BYTES], want[HASH_BYTES], got[HASH_BYTES];
    if (!password || !encoded || strncmp(encoded, tag, sizeof(tag) - 1) != 0)
        return WV_ERR_AUTH;
    const char *p = encoded + sizeof(tag) - 1;
    char *end;
    unsigned long iter = strtoul(p, &end, 10);
    if (end == p || *end != '$' || iter < 1 || iter > PBKDF2_MAX_ITER)
        return WV_ERR_AUTH;
    const char *s = end + 1, *sep = strchr(s, '$');
    if (!sep || unb64(s, (size_t)(sep - s), salt, sizeof(salt)) < 0 ||
        unb64(sep + 1, strlen(sep + 1), want, sizeof(want)) < 0)
        return WV_ERR_AUTH;
    gnutls_datum_t key = {(unsigned char *)password, (unsigned)strlen(password)};
    gnutls_datum_t sd = {salt, sizeof(salt)};
    if (gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &sd, (unsigned)iter, got, sizeof(got)) < 0)
        return WV_ERR_AUTH;
    int rc = wv_ct_memcmp(got, want, sizeof(got)) == 0 ? 0 : WV_ERR_AUTH;
    wv_memwipe(got, sizeof(got));
    return rc;
}
