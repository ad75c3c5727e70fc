/* libFuzzer target: the sealed MQTT envelope and the plaintext behind it.
 * Random bytes almost never pass AES-GCM, so each input is used twice:
 * opened as it is (the framing and bounds checks an outsider reaches), and
 * sealed under a test key then opened again (the round trip must give the
 * same bytes back) and handed to the message parser, the code a holder of
 * the network key reaches. */
#include "wv/discovery.h"
#include "wv/base.h"
#include "envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t key[WV_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                        17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const char topic[] = "wovenet/fuzz/announce/0123456789abcdef";

static void parse(const uint8_t *pt, size_t len) {
    wv_msg m;
    if (wv_msg_parse((const char *)pt, len, &m) == 0)
        wv_msg_dispose(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    if (wv_envelope_open(key, topic, data, size, &pt, &ptlen) == 0) {
        parse(pt, ptlen);
        free(pt);
    } else if (pt) {
        abort(); /* the contract: *pt is NULL on failure */
    }

    uint8_t *sealed = NULL;
    size_t slen = 0;
    int rc = wv_envelope_seal(key, topic, data, size, &sealed, &slen);
    if (rc != 0) {
        if (size <= WV_ENVELOPE_MAX_PLAINTEXT)
            abort();
        return 0;
    }
    if (slen != size + WV_ENVELOPE_OVERHEAD)
        abort();
    if (wv_envelope_open(key, topic, sealed, slen, &pt, &ptlen) != 0 || ptlen != size ||
        memcmp(pt, data, size) != 0 || pt[size] != '\0')
        abort();
    parse(pt, ptlen);
    free(pt);
    /* Moved to another topic, the same bytes must not open. */
    if (wv_envelope_open(key, "wovenet/fuzz/inbox/x", sealed, slen, &pt, &ptlen) == 0)
        abort();
    free(sealed);
    return 0;
}
