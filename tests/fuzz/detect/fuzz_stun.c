/* libFuzzer target: STUN Binding responses (RFC 5389), which arrive on the
 * tunnel socket from anywhere. Each input is parsed twice: against the
 * transaction id it carries itself (so the fuzzer reaches the attributes)
 * and against a fixed one. A parsed address must be IPv4 or IPv6; a request
 * we build must never parse as a response. */
#include "wv/base.h"
#include "stun.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(const uint8_t *data, size_t size, const uint8_t txid[WV_STUN_TXID_LEN]) {
    struct sockaddr_storage mapped;
    int code = 0;
    memset(&mapped, 0, sizeof mapped);
    int rc = wv_stun_parse_response(data, size, txid, &mapped, &code);
    if (rc == 0 && mapped.ss_family != AF_INET && mapped.ss_family != AF_INET6)
        abort();
    if (rc != 0 && rc != WV_ERR_NOTFOUND && rc != WV_ERR_AUTH && rc != WV_ERR_PROTO)
        abort();
    (void)wv_stun_is_message(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t fixed[WV_STUN_TXID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    if (size >= WV_STUN_HEADER_LEN)
        check(data, size, data + 8);
    check(data, size, fixed);

    uint8_t req[WV_STUN_HEADER_LEN];
    uint8_t txid[WV_STUN_TXID_LEN] = {0};
    memcpy(txid, data, size < sizeof txid ? size : sizeof txid);
    if (wv_stun_build_request(req, sizeof req, txid) != WV_STUN_HEADER_LEN ||
        !wv_stun_is_message(req, sizeof req))
        abort();
    struct sockaddr_storage mapped;
    if (wv_stun_parse_response(req, sizeof req, txid, &mapped, NULL) == 0)
        abort();
    return 0;
}
