/* libFuzzer target: REST bodies through the one validator. The first byte
 * selects what the body is (bits 0-1: object / site / document / merge
 * patch; bits 2-3: the collection; bit 4: want_secrets); the rest is the
 * body, parsed the way the HTTP layer parses it. Validation normalizes in
 * place and is idempotent, so what validates must validate again unchanged. */
#include "api_int.h"
#include "wv/model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const enum wv_kind kinds[4] = {WV_KIND_SOCKET, WV_KIND_EXPOSED_APP, WV_KIND_REMOTE_APP,
                                      WV_KIND_REMOTE_APP};

static int run(int what, enum wv_kind kind, bool secrets, json_t *obj, wv_verr *err) {
    switch (what) {
    case 0:
        return wv_validate_object(kind, obj, err);
    case 1:
        return wv_validate_site(obj, secrets, err);
    default:
        return wv_validate_document(obj, secrets, err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int what = data[0] & 3;
    enum wv_kind kind = kinds[(data[0] >> 2) & 3];
    bool secrets = (data[0] >> 4) & 1;
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!body)
        return 0;
    if (what == 3) {
        /* PATCH: an RFC 7396 merge of the body into a valid stored object,
         * then the object validator. */
        json_t *cur = json_pack("{s:s, s:s, s:s}", "name", "web", "site", "b", "localSocket",
                                "tcp:127.0.0.1:8080");
        json_t *merged = wv_json_merge_patch(cur, body);
        json_decref(body);
        json_decref(cur);
        body = merged;
        what = 0;
        kind = WV_KIND_REMOTE_APP;
        if (!body)
            return 0;
    }
    wv_verr err;
    memset(&err, 0, sizeof err);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    if (run(what, kind, secrets, body, &err) == 0) {
        json_t *again = json_deep_copy(body);
        wv_verr err2;
        if (run(what, kind, secrets, again, &err2) != 0 || !json_equal(again, body))
            abort();
        json_decref(again);
    } else if (!err.message[0]) {
        abort();
    }
    json_decref(body);
    return 0;
}
