/* libFuzzer target: the message-channel codec (announce, offline,
 * sockinfo request/reply). What parses must re-encode, the encoding must
 * parse again, and encoding is then stable (a fixed point). */
#include "wv/discovery.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wv_msg m;
    if (wv_msg_parse((const char *)data, size, &m) != 0)
        return 0;
    char *enc = wv_msg_encode(&m);
    if (!enc)
        abort();
    wv_msg back;
    if (wv_msg_parse(enc, strlen(enc), &back) != 0)
        abort();
    char *enc2 = wv_msg_encode(&back);
    if (!enc2 || strcmp(enc, enc2) != 0)
        abort();
    /* Ordering against itself is never "newer". */
    if (wv_msg_newer(&m, &back))
        abort();
    wv_msg copy;
    wv_msg_copy(&copy, &m);
    wv_msg_dispose(&copy);
    free(enc2);
    free(enc);
    wv_msg_dispose(&back);
    wv_msg_dispose(&m);
    return 0;
}
