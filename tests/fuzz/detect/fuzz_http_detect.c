/* libFuzzer target: the HTTP address detector's response body (whatever
 * the configured web service answers). What parses must be an IP literal
 * that parses again to itself (canonical form). */
#include "wv/base.h"
#include "wv/detect.h"
#include "wv/model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char ip[64], again[64];
    int rc = wv_detect_parse_http_body((const char *)data, size, ip, sizeof ip);
    if (rc != 0) {
        if (rc != WV_ERR_INVAL && rc != WV_ERR_TOOBIG)
            abort();
        return 0;
    }
    struct sockaddr_storage ss;
    if (wv_parse_ip(ip, 1, &ss) != 0)
        abort();
    if (wv_detect_parse_http_body(ip, strlen(ip), again, sizeof again) != 0 ||
        strcmp(ip, again) != 0)
        abort();
    /* Too small an output buffer is refused, never overrun. */
    char tiny[4];
    if (strlen(ip) >= sizeof tiny &&
        wv_detect_parse_http_body((const char *)data, size, tiny, sizeof tiny) == 0)
        abort();
    return 0;
}
