#ifndef WV_CONFIG_INT_H
#define WV_CONFIG_INT_H
/* Internal to the config module: a small, bounded YAML tree built from
 * libyaml's event stream (config_tree.c) or from JSON (config_json.c),
 * walked by config.c, which leaves derived values to config_derive.c. */
#include "wv/config.h"

#include <stdbool.h>
#include <stddef.h>

#define WV_CONFIG_MAX_DEPTH 64
#define WV_CONFIG_MAX_NODES 100000

enum ynode_type { YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
    enum ynode_type type;
    char *s; /* scalar value (NUL-terminated) */
    size_t slen;
    bool plain; /* plain (unquoted) scalar style */
    int line;   /* 1-based */
    size_t n;   /* map entries or sequence items */
    size_t cap;
    char **keys; /* map keys (n of them) */
    struct ynode **items;
};

/* Parses text into a tree. Aliases, non-scalar keys, duplicate keys, more
 * than one document, over-deep nesting and too many nodes are refused with
 * err filled (field: the path so far). 0 or WV_ERR_INVAL / WV_ERR_TOOBIG.
 * An empty document yields an empty map. */
int wv_config__ytree_parse(const char *text, size_t len, struct ynode **out, wv_verr *err);
/* Frees the tree, wiping scalar values (they may hold secrets). */
void wv_config__ytree_free(struct ynode *n);
/* The value of key in a map, or NULL. */
const struct ynode *wv_config__ytree_get(const struct ynode *map, const char *key);
/* Is the scalar a YAML null ("", "~", "null" plain)? */
bool wv_config__ytree_is_null(const struct ynode *n);

/* The mapping of a parsed tree (freed here) onto the canonical document
 * (config.c): 0, or WV_ERR_INVAL with err filled. */
int wv_config__from_tree(struct ynode *root, json_t **doc, wv_verr *err);
/* After the walk: stun (the top-level list, may be NULL; borrowed) into the
 * sockets that detect by STUN and name none, names for the unnamed sockets
 * and remote apps (config_derive.c). */
void wv_config__derive(json_t *doc, json_t *stun);
/* obj[key] when it is a non-empty string, else dflt. */
const char *wv_config__str_or(json_t *obj, const char *key, const char *dflt);

#endif
