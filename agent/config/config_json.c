/* Config files in JSON (wv_config_from_text): the canonical document as it
 * is, or upstream-shaped JSON as viper reads it, turned into the YAML tree
 * that config.c walks. */
#include "config_int.h"
#include "wv/base.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The JSON value as a YAML tree, so that upstream-shaped JSON goes through
 * the one mapping of keys: strings become quoted scalars (a quoted "25890"
 * is not an integer, as in YAML), numbers, booleans and null plain ones.
 * Bounded like the YAML parser (depth and nodes). */
static struct ynode *jnode(const json_t *v, int depth, size_t *nodes, wv_verr *err) {
    if (depth > WV_CONFIG_MAX_DEPTH || ++*nodes > WV_CONFIG_MAX_NODES) {
        snprintf(err->field, sizeof(err->field), "%s", "");
        snprintf(err->message, sizeof(err->message),
                 "JSON nested deeper than %d levels or "
                 "more than %d values",
                 WV_CONFIG_MAX_DEPTH, WV_CONFIG_MAX_NODES);
        return NULL;
    }
    struct ynode *n = wv_calloc(1, sizeof(*n));
    n->line = 0;
    if (json_is_object(v) || json_is_array(v)) {
        n->type = json_is_object(v) ? YN_MAP : YN_SEQ;
        n->cap = json_is_object(v) ? json_object_size(v) : json_array_size(v);
        n->items = wv_calloc(n->cap ? n->cap : 1, sizeof(*n->items));
        if (n->type == YN_MAP)
            n->keys = wv_calloc(n->cap ? n->cap : 1, sizeof(*n->keys));
        const char *k;
        json_t *x;
        size_t i;
        if (n->type == YN_MAP) {
            json_object_foreach((json_t *)v, k, x) {
                for (size_t j = 0; j < n->n; j++) {
                    if (strcasecmp(n->keys[j], k) == 0) {
                        snprintf(err->field, sizeof(err->field), "%s", k);
                        snprintf(err->message, sizeof(err->message), "duplicate key");
                        wv_config__ytree_free(n);
                        return NULL;
                    }
                }
                struct ynode *c = jnode(x, depth + 1, nodes, err);
                if (!c) {
                    wv_config__ytree_free(n);
                    return NULL;
                }
                n->keys[n->n] = wv_strdup(k);
                n->items[n->n++] = c;
            }
        } else {
            json_array_foreach((json_t *)v, i, x) {
                struct ynode *c = jnode(x, depth + 1, nodes, err);
                if (!c) {
                    wv_config__ytree_free(n);
                    return NULL;
                }
                n->items[n->n++] = c;
            }
        }
        return n;
    }
    n->type = YN_SCALAR;
    if (json_is_string(v)) {
        n->s = wv_strndup(json_string_value(v), json_string_length(v));
        n->plain = false;
    } else {
        n->s = json_is_null(v) ? wv_strdup("null") : json_dumps(v, JSON_ENCODE_ANY);
        if (!n->s)
            n->s = wv_strdup("");
        n->plain = true;
    }
    n->slen = strlen(n->s);
    return n;
}

int wv_config_from_text(const char *path, const char *text, size_t len, json_t **doc,
                        enum wv_config_format *fmt, wv_verr *err) {
    size_t pl = path ? strlen(path) : 0;
    *doc = NULL;
    memset(err, 0, sizeof(*err));
    if (fmt)
        *fmt = WV_CONFIG_YAML;
    if (pl < 5 || strcasecmp(path + pl - 5, ".json") != 0)
        return wv_config_from_yaml(text, len, doc, err);
    if (len > WV_CONFIG_MAX_BYTES) {
        snprintf(err->message, sizeof(err->message), "config larger than %d bytes",
                 WV_CONFIG_MAX_BYTES);
        return WV_ERR_INVAL;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err->message, sizeof(err->message), "JSON syntax error at line %d, column %d: %s",
                 je.line, je.column, je.text);
        return WV_ERR_INVAL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err->message, sizeof(err->message), "the config must be a JSON object");
        return WV_ERR_INVAL;
    }
    if (json_is_object(json_object_get(j, "site"))) {
        if (fmt)
            *fmt = WV_CONFIG_JSON_CANONICAL;
        *doc = j;
        return 0;
    }
    if (fmt)
        *fmt = WV_CONFIG_JSON_UPSTREAM;
    size_t nodes = 0;
    struct ynode *root = jnode(j, 0, &nodes, err);
    wv_config_doc_free(j);
    if (!root)
        return WV_ERR_INVAL;
    int rc = wv_config__from_tree(root, doc, err);
    return rc;
}
