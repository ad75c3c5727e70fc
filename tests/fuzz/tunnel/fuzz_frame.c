/* libFuzzer target: the app-stream wire format. The input is read as a
 * stream of frames, the way a server reads a peer's app stream; every frame
 * is tried as an app header and as a status reply. What parses as a header
 * must encode back to a frame that parses to the same header. */
#include "wv/tunnel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void header_roundtrip(const struct wv_app_header *h) {
    json_t *j = wv_app_header_to_json(h);
    if (!j)
        abort();
    uint8_t *buf = NULL;
    size_t blen = 0, used = 0;
    json_t *back = NULL;
    struct wv_app_header h2;
    const char *why = NULL;
    if (wv_frame_encode(j, &buf, &blen) != 0 || wv_frame_parse(buf, blen, &used, &back) != 0 ||
        used != blen || wv_app_header_from_json(back, &h2, &why) != 0 ||
        strcmp(h->app, h2.app) != 0 || strcmp(h->target, h2.target) != 0)
        abort();
    json_decref(back);
    free(buf);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t off = 0;
    while (off < size) {
        size_t used = 0;
        json_t *obj = NULL;
        int rc = wv_frame_parse(data + off, size - off, &used, &obj);
        if (rc != 0)
            break;
        if (used == 0 || used > size - off || !json_is_object(obj))
            abort();
        off += used;
        struct wv_app_header h;
        const char *why = NULL;
        if (wv_app_header_from_json(obj, &h, &why) == 0)
            header_roundtrip(&h);
        else if (!why)
            abort();
        const char *code = NULL, *msg = NULL;
        wv_status_parse(obj, &code, &msg);
        json_decref(obj);
    }
    return 0;
}
