/* libFuzzer target: *.json config files (outside input, issue 21): the
 * upstream-shaped JSON goes through the same bounded tree as YAML, the
 * canonical document is returned as is. Every input must parse or fail
 * with a filled error and a mappable field; nothing may crash, leak or
 * hang. */
#include "wv/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *doc = NULL;
    wv_verr err;
    enum wv_config_format fmt = WV_CONFIG_YAML;
    if (wv_config_from_text("site.json", (const char *)data, size, &doc, &fmt, &err) != 0) {
        if (!err.message[0])
            abort();
        char field[256];
        wv_config_field(fmt, (const char *)data, size, err.field, field, sizeof(field));
        return 0;
    }
    if (fmt == WV_CONFIG_YAML)
        abort(); /* a .json name is never read as YAML */
    wv_config_doc_free(doc);
    return 0;
}
