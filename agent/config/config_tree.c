/* A bounded YAML tree from libyaml's event API. Events rather than the
 * document API so that aliases can be refused before anything is expanded
 * (no billion-laughs) and every limit is checked as the input streams in. */
#include "config_int.h"
#include "wv/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct frame {
    struct ynode *node;
    char *pending_key; /* a map's key waiting for its value */
};

struct builder {
    struct frame stack[WV_CONFIG_MAX_DEPTH + 1];
    int depth;
    size_t nodes;
    struct ynode *root;
    int docs;
    wv_verr *err;
};

static void set_err(wv_verr *err, const char *field, const char *fmt, const char *a, long b) {
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    snprintf(err->message, sizeof(err->message), fmt, a, b);
}

/* The path of the current position ("tunnel.localSockets[0]"), for errors. */
static void path_of(const struct builder *b, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < b->depth; i++) {
        const struct frame *f = &b->stack[i];
        /* below the top, the open child is the last item appended */
        bool top = i == b->depth - 1;
        int w;
        if (f->node->type == YN_MAP) {
            const char *key = top ? f->pending_key : f->node->keys[f->node->n - 1];
            if (!key)
                break;
            w = snprintf(buf + used, size - used, "%s%s", used ? "." : "", key);
        } else {
            w = snprintf(buf + used, size - used, "[%zu]", top ? f->node->n : f->node->n - 1);
        }
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
}

static void ynode_append(struct ynode *parent, char *key, struct ynode *child) {
    if (parent->n == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->items = wv_realloc(parent->items, parent->cap * sizeof(*parent->items));
        if (parent->type == YN_MAP)
            parent->keys = wv_realloc(parent->keys, parent->cap * sizeof(*parent->keys));
    }
    if (parent->type == YN_MAP)
        parent->keys[parent->n] = key;
    parent->items[parent->n++] = child;
}

/* Attaches a finished node (scalar, or a map/seq just opened) to its parent.
 * Returns 0 or an error. */
static int attach(struct builder *b, struct ynode *n) {
    char path[256];
    if (++b->nodes > WV_CONFIG_MAX_NODES) {
        path_of(b, path, sizeof(path));
        set_err(b->err, path, "too many YAML nodes (more than %s%ld)", "", WV_CONFIG_MAX_NODES);
        wv_config__ytree_free(n);
        return WV_ERR_TOOBIG;
    }
    if (b->depth == 0) {
        if (b->root) {
            set_err(b->err, "", "more than one YAML document%s", "", 0);
            wv_config__ytree_free(n);
            return WV_ERR_INVAL;
        }
        b->root = n;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->type == YN_SEQ) {
        ynode_append(f->node, NULL, n);
        return 0;
    }
    if (!f->pending_key) {
        /* n is a key */
        if (n->type != YN_SCALAR) {
            path_of(b, path, sizeof(path));
            set_err(b->err, path, "line %s%ld: mapping keys must be plain strings", "", n->line);
            wv_config__ytree_free(n);
            return WV_ERR_INVAL;
        }
        /* Keys are case-insensitive (config.c): "appName" and "appname"
         * in one mapping are the same key twice. */
        for (size_t i = 0; i < f->node->n; i++) {
            if (strcasecmp(f->node->keys[i], n->s) == 0) {
                path_of(b, path, sizeof(path));
                size_t l = strlen(path);
                snprintf(path + l, sizeof(path) - l, "%s%s", l ? "." : "", n->s);
                set_err(b->err, path, "duplicate key%s (line %ld)", "", n->line);
                wv_config__ytree_free(n);
                return WV_ERR_INVAL;
            }
        }
        f->pending_key = n->s;
        n->s = NULL;
        wv_config__ytree_free(n);
        return 0;
    }
    ynode_append(f->node, f->pending_key, n);
    f->pending_key = NULL;
    return 0;
}

static struct ynode *ynode_new(enum ynode_type type, int line) {
    struct ynode *n = wv_calloc(1, sizeof(*n));
    n->type = type;
    n->line = line;
    return n;
}

static int on_event(struct builder *b, const yaml_event_t *ev) {
    char path[256];
    int line = (int)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1) {
            set_err(b->err, "", "more than one YAML document (line %s%ld)", "", line);
            return WV_ERR_INVAL;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        path_of(b, path, sizeof(path));
        set_err(b->err, path, "line %s%ld: YAML aliases are not supported", "", line);
        return WV_ERR_INVAL;
    case YAML_SCALAR_EVENT: {
        struct ynode *n = ynode_new(YN_SCALAR, line);
        n->slen = ev->data.scalar.length;
        n->s = wv_strndup((const char *)ev->data.scalar.value, n->slen);
        if (strlen(n->s) != n->slen) {
            /* The copy stopped at the NUL: free() must wipe only that much. */
            n->slen = strlen(n->s);
            path_of(b, path, sizeof(path));
            set_err(b->err, path, "line %s%ld: NUL byte in a value", "", line);
            wv_config__ytree_free(n);
            return WV_ERR_INVAL;
        }
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return attach(b, n);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (b->depth >= WV_CONFIG_MAX_DEPTH) {
            path_of(b, path, sizeof(path));
            set_err(b->err, path, "nesting deeper than %s%ld levels", "", WV_CONFIG_MAX_DEPTH);
            return WV_ERR_TOOBIG;
        }
        struct ynode *n = ynode_new(ev->type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ, line);
        /* Push first so a key that is a map is reported by attach(). */
        int rc = attach(b, n);
        if (rc)
            return rc;
        b->stack[b->depth].node = n;
        b->stack[b->depth].pending_key = NULL;
        b->depth++;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0)
            b->depth--;
        return 0;
    default:
        return 0;
    }
}

int wv_config__ytree_parse(const char *text, size_t len, struct ynode **out, wv_verr *err) {
    *out = NULL;
    memset(err, 0, sizeof(*err));
    if (len > WV_CONFIG_MAX_BYTES) {
        set_err(err, "", "config larger than %s%ld bytes", "", WV_CONFIG_MAX_BYTES);
        return WV_ERR_TOOBIG;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort(); /* only fails on OOM */
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    struct builder b = {.err = err};
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            snprintf(err->field, sizeof(err->field), "%s", "");
            snprintf(err->message, sizeof(err->message),
                     "YAML syntax error at line %zu, column %zu: %s%s%s",
                     parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "unknown problem", parser.context ? " " : "",
                     parser.context ? parser.context : "");
            rc = WV_ERR_INVAL;
            break;
        }
        bool done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc || done)
            break;
    }
    yaml_parser_delete(&parser);
    /* pending keys of unfinished frames belong to no node yet */
    for (int i = 0; i < b.depth; i++)
        free(b.stack[i].pending_key);
    if (rc) {
        wv_config__ytree_free(b.root);
        return rc;
    }
    if (!b.root || (b.root->type == YN_SCALAR && wv_config__ytree_is_null(b.root))) {
        wv_config__ytree_free(b.root);
        b.root = ynode_new(YN_MAP, 1);
    }
    if (b.root->type != YN_MAP) {
        set_err(err, "", "the config must be a mapping of keys to values (line %s%ld)", "",
                b.root->line);
        wv_config__ytree_free(b.root);
        return WV_ERR_INVAL;
    }
    *out = b.root;
    return 0;
}

void wv_config__ytree_free(struct ynode *n) {
    if (!n)
        return;
    if (n->s) {
        wv_memwipe(n->s, n->slen);
        free(n->s);
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            free(n->keys[i]);
        wv_config__ytree_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n);
}

const struct ynode *wv_config__ytree_get(const struct ynode *map, const char *key) {
    if (!map || map->type != YN_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcasecmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

bool wv_config__ytree_is_null(const struct ynode *n) {
    return n->type == YN_SCALAR && n->plain &&
           (n->slen == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
            strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0);
}
