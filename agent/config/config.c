/* The upstream YAML config (seed's older keys and the newer format) mapped
 * onto the canonical document. Schema-driven: every map is walked key by
 * key, so an unknown key is refused with its full YAML path. */
#include "wv/config.h"
#include "config_int.h"
#include "wv/base.h"
#include "wv/crypto.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* YAML paths in error messages are bounded (wv_verr.field is 256 bytes);
 * a truncated path in a message is acceptable. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

/* A walk position: the YAML path of the map being read. */
struct walk {
    wv_verr *err;
    json_t *stun; /* the top-level stun: list (upstream), for autoStunDetect sockets */
};

static int fail(struct walk *w, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct walk *w, const char *path, const char *key, const char *fmt, ...) {
    if (key)
        snprintf(w->err->field, sizeof(w->err->field), "%s%s%s", path, *path ? "." : "", key);
    else
        snprintf(w->err->field, sizeof(w->err->field), "%s", path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err->message, sizeof(w->err->message), fmt, ap);
    va_end(ap);
    return WV_ERR_INVAL;
}

static const char *kind_name(const struct ynode *n) {
    if (n->type == YN_MAP)
        return "a mapping";
    if (n->type == YN_SEQ)
        return "a list";
    return n->plain ? "a plain value" : "a quoted string";
}

/* --- Typed readers; each sets *out as a new JSON value -------------------- */

static int rd_string(struct walk *w, const char *path, const char *key, const struct ynode *n,
                     json_t **out) {
    if (n->type != YN_SCALAR)
        return fail(w, path, key, "expected a string, got %s", kind_name(n));
    *out = json_string(wv_config__ytree_is_null(n) ? "" : n->s);
    if (!*out)
        return fail(w, path, key, "not valid UTF-8");
    return 0;
}

static int rd_int(struct walk *w, const char *path, const char *key, const struct ynode *n,
                  json_t **out) {
    if (n->type != YN_SCALAR || !n->plain || n->slen == 0)
        return fail(w, path, key, "expected an integer, got %s",
                    n->type == YN_SCALAR && n->plain ? "nothing" : kind_name(n));
    char *end;
    errno = 0;
    long long v = strtoll(n->s, &end, 10);
    if (errno || *end || end == n->s)
        return fail(w, path, key, "expected an integer, got \"%.64s\"", n->s);
    *out = json_integer(v);
    return 0;
}

static int rd_bool(struct walk *w, const char *path, const char *key, const struct ynode *n,
                   json_t **out) {
    if (n->type == YN_SCALAR && n->plain) {
        if (strcasecmp(n->s, "true") == 0) {
            *out = json_true();
            return 0;
        }
        if (strcasecmp(n->s, "false") == 0) {
            *out = json_false();
            return 0;
        }
    }
    if (n->type == YN_SCALAR)
        return fail(w, path, key, "expected true or false, got \"%.64s\"", n->s);
    return fail(w, path, key, "expected true or false, got %s", kind_name(n));
}

/* A list of strings; plain numbers are taken as their text ("5900"). */
static int rd_strings(struct walk *w, const char *path, const char *key, const struct ynode *n,
                      json_t **out) {
    if (n->type == YN_SCALAR && wv_config__ytree_is_null(n)) {
        *out = json_array();
        return 0;
    }
    if (n->type != YN_SEQ)
        return fail(w, path, key, "expected a list, got %s", kind_name(n));
    json_t *arr = json_array();
    char sub[256];
    snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
    for (size_t i = 0; i < n->n; i++) {
        char idx[32];
        snprintf(idx, sizeof(idx), "[%zu]", i);
        char item_path[300];
        snprintf(item_path, sizeof(item_path), "%s%s", sub, idx);
        json_t *v;
        if (rd_string(w, item_path, NULL, n->items[i], &v)) {
            json_decref(arr);
            return WV_ERR_INVAL;
        }
        json_array_append_new(arr, v);
    }
    *out = arr;
    return 0;
}

/* A map (or null, taken as empty) at path.key; sets *sub_path. */
static int rd_map(struct walk *w, const char *path, const char *key, const struct ynode *n,
                  char *sub_path, size_t size) {
    snprintf(sub_path, size, "%s%s%s", path, *path ? "." : "", key);
    if (n->type == YN_MAP || wv_config__ytree_is_null(n))
        return 0;
    return fail(w, path, key, "expected a mapping, got %s", kind_name(n));
}

static int rd_seq(struct walk *w, const char *path, const char *key, const struct ynode *n) {
    if (n->type == YN_SEQ || wv_config__ytree_is_null(n))
        return 0;
    return fail(w, path, key, "expected a list, got %s", kind_name(n));
}

/* Reads key `ykey` of the map into obj[jkey] with reader rd. */
typedef int (*reader)(struct walk *, const char *, const char *, const struct ynode *, json_t **);

static int put(struct walk *w, json_t *obj, const char *jkey, reader rd, const char *path,
               const char *ykey, const struct ynode *n) {
    json_t *v;
    int rc = rd(w, path, ykey, n, &v);
    if (rc)
        return rc;
    json_object_set_new(obj, jkey, v);
    return 0;
}

/* The same canonical field given twice under two upstream spellings. */
static int alias_clash(struct walk *w, const char *path, const char *key, json_t *obj,
                       const char *jkey, const char *other) {
    if (json_object_get(obj, jkey))
        return fail(w, path, key, "conflicts with %s (give only one)", other);
    return 0;
}

static json_t *child(json_t *obj, const char *key) {
    json_t *c = json_object_get(obj, key);
    if (!c) {
        c = json_object();
        json_object_set_new(obj, key, c);
    }
    return c;
}

#define UNKNOWN(w, path, key) fail((w), (path), (key), "unknown key")
/* Keys are matched case-insensitively, as upstream's viper does
 * ("appsocket" is appSocket); ck is the canonical spelling matched. */
#define IS(k) (strcasecmp(key, (k)) == 0 && ((ck = (k)), true))

static bool is(const char *key, const char *k) {
    return strcasecmp(key, k) == 0;
}

/* --- Sections --------------------------------------------------------------- */

/* A key of a section that holds one value: its canonical spelling (matched
 * as IS does), its reader, and where the value goes: obj[jkey], obj[key]
 * when jkey is NULL. alias: the other spelling of the same field, named
 * when both are given (refused). */
struct field {
    const char *key;
    reader rd;
    const char *jkey;
    const char *alias;
};

/* The keys of a section that are more than one value (nested sections,
 * lists, merged values); UNKNOWN for any other key. ctx: the section's. */
typedef int (*more_fn)(struct walk *w, const char *path, const char *key, const struct ynode *v,
                       json_t *obj, void *ctx);

static const struct field *field_of(const struct field *f, const char *key) {
    for (; f && f->key; f++)
        if (is(key, f->key))
            return f;
    return NULL;
}

/* Walks the map m at path (null: no keys) into obj: the keys of fields as
 * values, the others through more (NULL: none). */
static int walk_map(struct walk *w, const char *path, const struct ynode *m, json_t *obj,
                    const struct field *fields, more_fn more, void *ctx) {
    for (size_t i = 0; m->type == YN_MAP && i < m->n; i++) {
        const char *key = m->keys[i];
        const struct field *f = field_of(fields, key);
        int rc;
        if (f) {
            const char *jkey = f->jkey ? f->jkey : f->key;
            rc = f->alias ? alias_clash(w, path, key, obj, jkey, f->alias) : 0;
            if (!rc)
                rc = put(w, obj, jkey, f->rd, path, key, m->items[i]);
        } else {
            rc = more ? more(w, path, key, m->items[i], obj, ctx) : UNKNOWN(w, path, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* The mapping path.key (null: empty) walked into obj. */
static int walk_sub(struct walk *w, const char *path, const char *key, const struct ynode *v,
                    json_t *obj, const struct field *fields, more_fn more, void *ctx) {
    char sub[256];
    int rc = rd_map(w, path, key, v, sub, sizeof(sub));
    return rc ? rc : walk_map(w, sub, v, obj, fields, more, ctx);
}

static const struct field mqtt_fields[] = {
    {"topic", rd_string, NULL, NULL},     {"username", rd_string, NULL, NULL},
    {"password", rd_string, NULL, NULL},  {"caFile", rd_string, NULL, NULL},
    {"passwordSet", rd_bool, NULL, NULL}, {0},
};

/* brokerServer and brokerServers: one list, brokerServer always first,
 * whatever the key order. */
static int mqtt_more(struct walk *w, const char *path, const char *key, const struct ynode *v,
                     json_t *mc, void *ctx) {
    json_t *list;
    int rc;
    if (is(key, "brokerServer"))
        rc = rd_string(w, path, key, v, &list);
    else if (is(key, "brokerServers"))
        rc = rd_strings(w, path, key, v, &list);
    else
        return UNKNOWN(w, path, key);
    if (rc)
        return rc;
    json_t *brokers = json_object_get(mc, "brokers");
    if (!brokers) {
        brokers = json_array();
        json_object_set_new(mc, "brokers", brokers);
    }
    if (json_is_string(list))
        json_array_insert_new(brokers, 0, list);
    else {
        json_array_extend(brokers, list);
        json_decref(list);
    }
    return 0;
}

static const struct field message_channel_fields[] = {{"protocol", rd_string, NULL, NULL}, {0}};

/* cryptoKey is the site's networkKey (crypto.key upstream); ctx: the site. */
static int message_channel_more(struct walk *w, const char *path, const char *key,
                                const struct ynode *v, json_t *mc, void *ctx) {
    int rc;
    if (is(key, "cryptoKey")) {
        rc = alias_clash(w, path, key, ctx, "networkKey", "crypto.key");
        if (!rc)
            rc = put(w, ctx, "networkKey", rd_string, path, key, v);
    } else if (is(key, "mqtt")) {
        rc = walk_sub(w, path, key, v, mc, mqtt_fields, mqtt_more, NULL);
    } else {
        rc = UNKNOWN(w, path, key);
    }
    return rc;
}

static int do_message_channel(struct walk *w, const char *path, const struct ynode *m,
                              json_t *site) {
    return walk_map(w, path, m, child(site, "messageChannel"), message_channel_fields,
                    message_channel_more, site);
}

static const struct field crypto_fields[] = {
    {"key", rd_string, "networkKey", "messageChannel.cryptoKey"},
    {"keySet", rd_bool, "networkKeySet", NULL},
    {0},
};

static int do_crypto(struct walk *w, const char *path, const struct ynode *m, json_t *site) {
    return walk_map(w, path, m, site, crypto_fields, NULL, NULL);
}

static const struct field logger_fields[] = {{"level", rd_string, NULL, NULL},
                                             {"file", rd_string, NULL, NULL},
                                             {"format", rd_string, NULL, NULL},
                                             {0}};

static int do_logger(struct walk *w, const char *path, const struct ynode *m, json_t *logger) {
    return walk_map(w, path, m, logger, logger_fields, NULL, NULL);
}

static const struct field basic_auth_fields[] = {{"user", rd_string, NULL, NULL},
                                                 {"password", rd_string, NULL, NULL},
                                                 {"passwordSet", rd_bool, NULL, NULL},
                                                 {0}};

static int do_basic_auth(struct walk *w, const char *path, const struct ynode *s, json_t *auth) {
    json_t *users = json_array();
    json_object_set_new(auth, "basicAuth", users);
    for (size_t i = 0; s->type == YN_SEQ && i < s->n; i++) {
        char ip[256];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        const struct ynode *m = s->items[i];
        if (m->type != YN_MAP)
            return fail(w, ip, NULL, "expected a mapping, got %s", kind_name(m));
        json_t *u = json_object();
        json_array_append_new(users, u);
        int rc = walk_map(w, ip, m, u, basic_auth_fields, NULL, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct field restful_api_fields[] = {{"enabled", rd_bool, NULL, NULL},
                                                  {"listenAddr", rd_string, NULL, NULL},
                                                  {"allowedHosts", rd_strings, NULL, NULL},
                                                  {0}};
/* upstream's separate API log file: accepted, ignored (one logger here) */
static const struct field api_logger_fields[] = {{"file", rd_string, NULL, NULL}, {0}};
static const struct field tls_fields[] = {{"enabled", rd_bool, NULL, NULL},
                                          {"key", rd_string, NULL, NULL},
                                          {"cert", rd_string, NULL, NULL},
                                          {0}};

static int auth_more(struct walk *w, const char *path, const char *key, const struct ynode *v,
                     json_t *auth, void *ctx) {
    char sub[256];
    if (!is(key, "basicAuth"))
        return UNKNOWN(w, path, key);
    int rc = rd_seq(w, path, key, v);
    if (rc)
        return rc;
    snprintf(sub, sizeof(sub), "%s.basicAuth", path);
    return do_basic_auth(w, sub, v, auth);
}

static int restful_api_more(struct walk *w, const char *path, const char *key,
                            const struct ynode *v, json_t *api, void *ctx) {
    int rc;
    if (is(key, "logger")) {
        json_t *ignored = json_object();
        rc = walk_sub(w, path, key, v, ignored, api_logger_fields, NULL, NULL);
        json_decref(ignored);
    } else if (is(key, "tls")) {
        rc = walk_sub(w, path, key, v, child(api, "tls"), tls_fields, NULL, NULL);
    } else if (is(key, "auth")) {
        rc = walk_sub(w, path, key, v, child(api, "auth"), NULL, auth_more, NULL);
    } else {
        rc = UNKNOWN(w, path, key);
    }
    return rc;
}

static int do_restful_api(struct walk *w, const char *path, const struct ynode *m, json_t *api) {
    return walk_map(w, path, m, api, restful_api_fields, restful_api_more, NULL);
}

static const struct field socket_fields[] = {
    {"name", rd_string, NULL, NULL},
    {"mode", rd_string, NULL, NULL},
    {"transportProtocol", rd_string, NULL, NULL},
    {"publicAddress", rd_string, NULL, NULL},
    {"listenAddress", rd_string, NULL, NULL},
    {"portMapping", rd_string, NULL, NULL},
    {"publicPort", rd_int, NULL, NULL},
    {"listenPort", rd_int, NULL, NULL},
    {"maxUdpPayload", rd_int, NULL, NULL},
    {"keepAlive", rd_int, NULL, NULL},
    {"portMappingLifetime", rd_int, NULL, NULL},
    {"enabled", rd_bool, NULL, NULL}, /* ours: false pauses the socket */
    {"stunServers", rd_strings, NULL, NULL},
    {0},
};
static const struct field http_detector_fields[] = {
    {"url", rd_string, NULL, NULL}, {"interval", rd_int, NULL, NULL}, {0}};

static int socket_more(struct walk *w, const char *path, const char *key, const struct ynode *v,
                       json_t *sock, void *ctx) {
    if (!is(key, "httpDetector"))
        return UNKNOWN(w, path, key);
    return walk_sub(w, path, key, v, child(sock, "httpDetector"), http_detector_fields, NULL, NULL);
}

static int do_socket(struct walk *w, const char *path, const struct ynode *m, json_t *sock) {
    return walk_map(w, path, m, sock, socket_fields, socket_more, NULL);
}

static const struct field exposed_fields[] = {
    {"appName", rd_string, "name", "id"},
    {"id", rd_string, "name", "appName"},
    {"appSocket", rd_string, NULL, "socket"},
    {"socket", rd_string, "appSocket", "appSocket"},
    {"mode", rd_string, NULL, NULL},
    {"portRange", rd_strings, NULL, NULL},
    {"addressRange", rd_strings, NULL, NULL},
    {"allowedSites", rd_strings, NULL, NULL},
    {"enabled", rd_bool, NULL, NULL},       /* ours: false stops offering the app */
    {"maxConnections", rd_int, NULL, NULL}, /* ours */
    {0},
};
static const struct field health_check_fields[] = {{"interval", rd_int, NULL, NULL}, {0}};

/* healthCheck (ours): a periodic check of the target. */
static int exposed_more(struct walk *w, const char *path, const char *key, const struct ynode *v,
                        json_t *app, void *ctx) {
    if (!is(key, "healthCheck"))
        return UNKNOWN(w, path, key);
    return walk_sub(w, path, key, v, child(app, "healthCheck"), health_check_fields, NULL, NULL);
}

static int do_exposed(struct walk *w, const char *path, const struct ynode *m, json_t *app) {
    int rc = walk_map(w, path, m, app, exposed_fields, exposed_more, NULL);
    if (rc)
        return rc;
    /* Upstream ignores appSocket on a range app; so does import. */
    if (strcmp(wv_config__str_or(app, "mode", ""), "range") == 0)
        json_object_del(app, "appSocket");
    return 0;
}

static const struct field remote_fields[] = {
    {"appName", rd_string, NULL, "remoteAppId"},
    {"remoteAppId", rd_string, "appName", "appName"},
    {"name", rd_string, NULL, NULL},
    {"siteName", rd_string, NULL, NULL},
    {"localSocket", rd_string, NULL, NULL},
    {"appSocket", rd_string, NULL, NULL},
    {"maxConnections", rd_int, NULL, NULL}, /* ours; upstream has no such key */
    {"enabled", rd_bool, NULL, NULL},       /* ours: false closes the listener */
    {0},
};

static int do_remote(struct walk *w, const char *path, const struct ynode *m, json_t *app) {
    return walk_map(w, path, m, app, remote_fields, NULL, NULL);
}

typedef int (*item_fn)(struct walk *, const char *, const struct ynode *, json_t *);

/* A list of mappings at path (already checked to be a list or null). */
static int do_list(struct walk *w, const char *path, const struct ynode *s, json_t *out,
                   item_fn fn) {
    for (size_t i = 0; s->type == YN_SEQ && i < s->n; i++) {
        char ip[256];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        if (s->items[i]->type != YN_MAP)
            return fail(w, ip, NULL, "expected a mapping, got %s", kind_name(s->items[i]));
        json_t *obj = json_object();
        json_array_append_new(out, obj);
        int rc = fn(w, ip, s->items[i], obj);
        if (rc)
            return rc;
    }
    return 0;
}

/* The tunnel's localSockets; ctx: the document. */
static int tunnel_more(struct walk *w, const char *path, const char *key, const struct ynode *v,
                       json_t *obj, void *ctx) {
    if (!is(key, "localSockets"))
        return UNKNOWN(w, "tunnel", key);
    int rc = rd_seq(w, "tunnel", key, v);
    return rc ? rc
              : do_list(w, "tunnel.localSockets", v, json_object_get(ctx, "tunnelSockets"),
                        do_socket);
}

static int do_tunnel(struct walk *w, const struct ynode *m, json_t *doc) {
    return walk_map(w, "tunnel", m, doc, NULL, tunnel_more, doc);
}

/* site.limits: integers, stored under these spellings whatever the case in
 * the file (as every other key). */
static const char *const LIMIT_KEYS[] = {
    "streamsPerPeer", "dialPeers",       "dialSocketsPerPeer", "dialsPerSecond", "relayPeers",
    "relayBytesPerSecond", "streamWindowMiB", "channelWindowMiB", "bufferBudgetMiB"};

static int do_top(struct walk *w, const struct ynode *root, json_t *doc) {
    json_t *site = json_object_get(doc, "site");
    for (size_t i = 0; i < root->n; i++) {
        const char *key = root->keys[i];
        const char *ck = key;
        (void)ck;
        const struct ynode *v = root->items[i];
        char sub[256];
        int rc;
        if (IS("siteName")) {
            rc = put(w, site, ck, rd_string, "", key, v);
        } else if (IS("crypto")) {
            rc = rd_map(w, "", key, v, sub, sizeof(sub));
            if (!rc)
                rc = do_crypto(w, sub, v, site);
        } else if (IS("logger")) {
            rc = rd_map(w, "", key, v, sub, sizeof(sub));
            if (!rc)
                rc = do_logger(w, sub, v, child(site, "logger"));
        } else if (IS("messageChannel")) {
            rc = rd_map(w, "", key, v, sub, sizeof(sub));
            if (!rc)
                rc = do_message_channel(w, sub, v, site);
        } else if (IS("relay")) { /* ours: forward for sites that cannot meet */
            rc = put(w, site, "relay", rd_bool, "", key, v);
        } else if (IS("membership")) { /* ours: open | approve */
            rc = put(w, site, ck, rd_string, "", key, v);
        } else if (IS("limits")) { /* ours */
            json_t *lim = child(site, "limits");
            rc = rd_map(w, "", key, v, sub, sizeof(sub));
            for (size_t j = 0; !rc && v->type == YN_MAP && j < v->n; j++) {
                const char *k2 = v->keys[j], *name = NULL;
                for (size_t l = 0; !name && l < WV_COUNTOF(LIMIT_KEYS); l++)
                    if (is(k2, LIMIT_KEYS[l]))
                        name = LIMIT_KEYS[l];
                rc = name ? put(w, lim, name, rd_int, sub, k2, v->items[j]) : UNKNOWN(w, sub, k2);
            }
        } else if (IS("restfulApi")) {
            rc = rd_map(w, "", key, v, sub, sizeof(sub));
            if (!rc)
                rc = do_restful_api(w, sub, v, child(site, "restfulApi"));
        } else if (IS("tunnel")) {
            rc = rd_map(w, "", key, v, sub, sizeof(sub));
            if (!rc)
                rc = do_tunnel(w, v, doc);
        } else if (IS("localExposedApps")) {
            rc = rd_seq(w, "", key, v);
            if (!rc)
                rc = do_list(w, key, v, json_object_get(doc, "exposedApps"), do_exposed);
        } else if (IS("remoteApps")) {
            rc = rd_seq(w, "", key, v);
            if (!rc)
                rc = do_list(w, key, v, json_object_get(doc, "remoteApps"), do_remote);
        } else if (IS("stun")) {
            /* Upstream's list of STUN servers for every autoStunDetect socket. */
            json_decref(w->stun);
            w->stun = NULL;
            rc = rd_strings(w, "", key, v, &w->stun);
        } else {
            rc = UNKNOWN(w, "", key);
        }
        if (rc)
            return rc;
    }
    return 0;
}
/* The mapping of a parsed tree (freed here) onto the canonical document. */
int wv_config__from_tree(struct ynode *root, json_t **doc, wv_verr *err) {
    int rc;
    json_t *d =
        json_pack("{s:{}, s:[], s:[], s:[]}", "site", "tunnelSockets", "exposedApps", "remoteApps");
    struct walk w = {.err = err};
    rc = do_top(&w, root, d);
    wv_config__ytree_free(root);
    if (rc) {
        json_decref(w.stun);
        wv_config_doc_free(d);
        return rc;
    }
    wv_config__derive(d, w.stun);
    json_decref(w.stun);

    json_t *site = json_object_get(d, "site");
    const char *key = json_string_value(json_object_get(site, "networkKey"));
    json_t *mc = json_object_get(site, "messageChannel");
    const char *topic = json_string_value(json_object_get(mc, "topic"));
    if (key && *key && (!topic || !*topic)) {
        char *t = wv_config_derive_topic(key);
        if (t)
            json_object_set_new(child(site, "messageChannel"), "topic", json_string(t));
        free(t);
    }
    *doc = d;
    return 0;
}

int wv_config_from_yaml(const char *text, size_t len, json_t **doc, wv_verr *err) {
    *doc = NULL;
    struct ynode *root;
    int rc = wv_config__ytree_parse(text, len, &root, err);
    if (rc)
        return rc == WV_ERR_TOOBIG ? WV_ERR_INVAL : rc;
    return wv_config__from_tree(root, doc, err);
}

/* Wipes every string under a key that holds a secret, then frees. */
static void wipe_secrets(json_t *v) {
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, k, x) {
            if (json_is_string(x) && (strcmp(k, "networkKey") == 0 || strcmp(k, "password") == 0))
                wv_memwipe((char *)json_string_value(x), json_string_length(x));
            else
                wipe_secrets(x);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) wipe_secrets(x);
    }
}

void wv_config_doc_free(json_t *doc) {
    if (!doc)
        return;
    if (doc->refcount == 1)
        wipe_secrets(doc);
    json_decref(doc);
}

int wv_config_read_file(const char *path, char **text, size_t *len) {
    return wv_read_file_upto(path, WV_CONFIG_MAX_BYTES + 1, text, len);
}
void wv_config_field(enum wv_config_format fmt, const char *text, size_t len, const char *canon,
                     char *out, size_t size) {
    if (fmt == WV_CONFIG_JSON_CANONICAL)
        snprintf(out, size, "%s", canon);
    else
        wv_config_yaml_field(text, len, canon, out, size);
}
