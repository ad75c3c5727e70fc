/* libFuzzer target: the YAML config importer (outside input). Every input
 * must either parse into a document that exports back to YAML and re-imports,
 * or fail with a filled error; nothing may crash, leak or hang. */
#include "wv/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *doc = NULL;
    wv_verr err;
    if (wv_config_from_yaml((const char *)data, size, &doc, &err) != 0) {
        if (!err.message[0])
            abort();
        char field[256];
        wv_config_yaml_field((const char *)data, size, err.field, field, sizeof(field));
        return 0;
    }
    /* A document the importer accepted must export, and its export must
     * import again: a failure of either is a bug (abort: libFuzzer keeps the
     * input). */
    char *out = NULL;
    if (wv_config_to_yaml(doc, &out) != 0 || !out)
        abort();
    json_t *back = NULL;
    if (wv_config_from_yaml(out, strlen(out), &back, &err) != 0) {
        fprintf(stderr, "re-import of the export failed: %s: %s\n--- export:\n%s\n", err.field,
                err.message, out);
        abort();
    }
    wv_config_doc_free(back);
    free(out);
    wv_config_doc_free(doc);
    return 0;
}
