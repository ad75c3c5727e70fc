/* The upstream YAML config (seed's older keys and the newer format) mapped
 * onto the canonical document. Schema-driven: every map is walked key by
 * key, so an unknown key is refused with its full YAML path. */
#include "wv/config.h"
#include "wv/crypto.h"
#include "config_int.h"
#include "wv/base.h"

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

static const char *str_or(json_t *obj, const char *key, const char *dflt);

#define UNKNOWN(w, path, key) fail((w), (path), (key), "unknown key")
/* Keys are matched case-insensitively, as upstream's viper does
 * ("appsocket" is appSocket); ck is the canonical spelling matched. */
#define IS(k) (strcasecmp(key, (k)) == 0 && ((ck = (k)), true))

/* --- Sections --------------------------------------------------------------- */

static int do_mqtt(struct walk *w, const char *path, const struct ynode *m, json_t *mc) {
    for (size_t i = 0; m->type == YN_MAP && i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        const struct ynode *v = m->items[i];
        int rc;
        if (IS("brokerServer") || IS("brokerServers")) {
            json_t *list;
            if (IS("brokerServer"))
                rc = rd_string(w, path, key, v, &list);
            else
                rc = rd_strings(w, path, key, v, &list);
            if (rc)
                return rc;
            json_t *brokers = json_object_get(mc, "brokers");
            if (!brokers) {
                brokers = json_array();
                json_object_set_new(mc, "brokers", brokers);
            }
            /* brokerServer is always first, whatever the key order */
            if (json_is_string(list))
                json_array_insert_new(brokers, 0, list);
            else {
                json_array_extend(brokers, list);
                json_decref(list);
            }
        } else if (IS("topic") || IS("username") || IS("password") || IS("caFile")) {
            rc = put(w, mc, ck, rd_string, path, key, v);
        } else if (IS("passwordSet")) {
            rc = put(w, mc, ck, rd_bool, path, key, v);
        } else {
            rc = UNKNOWN(w, path, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int do_message_channel(struct walk *w, const char *path, const struct ynode *m,
                              json_t *site) {
    json_t *mc = child(site, "messageChannel");
    for (size_t i = 0; m->type == YN_MAP && i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        const struct ynode *v = m->items[i];
        char sub[256];
        int rc;
        if (IS("protocol")) {
            rc = put(w, mc, ck, rd_string, path, key, v);
        } else if (IS("cryptoKey")) {
            rc = alias_clash(w, path, key, site, "networkKey", "crypto.key");
            if (!rc)
                rc = put(w, site, "networkKey", rd_string, path, key, v);
        } else if (IS("mqtt")) {
            rc = rd_map(w, path, key, v, sub, sizeof(sub));
            if (!rc)
                rc = do_mqtt(w, sub, v, mc);
        } else {
            rc = UNKNOWN(w, path, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int do_crypto(struct walk *w, const char *path, const struct ynode *m, json_t *site) {
    for (size_t i = 0; m->type == YN_MAP && i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        int rc;
        if (IS("key")) {
            rc = alias_clash(w, path, key, site, "networkKey", "messageChannel.cryptoKey");
            if (!rc)
                rc = put(w, site, "networkKey", rd_string, path, key, m->items[i]);
        } else if (IS("keySet")) {
            rc = put(w, site, "networkKeySet", rd_bool, path, key, m->items[i]);
        } else {
            rc = UNKNOWN(w, path, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int do_logger(struct walk *w, const char *path, const struct ynode *m, json_t *logger) {
    for (size_t i = 0; m->type == YN_MAP && i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        int rc;
        if (IS("level") || IS("file") || IS("format"))
            rc = put(w, logger, ck, rd_string, path, key, m->items[i]);
        else
            rc = UNKNOWN(w, path, key);
        if (rc)
            return rc;
    }
    return 0;
}

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
        for (size_t j = 0; j < m->n; j++) {
            const char *key = m->keys[j];
            const char *ck = key;
            (void)ck;
            int rc;
            if (IS("user") || IS("password"))
                rc = put(w, u, ck, rd_string, ip, key, m->items[j]);
            else if (IS("passwordSet"))
                rc = put(w, u, ck, rd_bool, ip, key, m->items[j]);
            else
                rc = UNKNOWN(w, ip, key);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int do_restful_api(struct walk *w, const char *path, const struct ynode *m, json_t *api) {
    for (size_t i = 0; m->type == YN_MAP && i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        const struct ynode *v = m->items[i];
        char sub[256];
        int rc;
        if (IS("enabled")) {
            rc = put(w, api, ck, rd_bool, path, key, v);
        } else if (IS("listenAddr")) {
            rc = put(w, api, ck, rd_string, path, key, v);
        } else if (IS("allowedHosts")) {
            rc = put(w, api, ck, rd_strings, path, key, v);
        } else if (IS("logger")) {
            /* upstream's separate API log file: accepted, ignored (one logger here) */
            rc = rd_map(w, path, key, v, sub, sizeof(sub));
            for (size_t j = 0; !rc && v->type == YN_MAP && j < v->n; j++) {
                json_t *ignored;
                if (strcasecmp(v->keys[j], "file") != 0)
                    rc = UNKNOWN(w, sub, v->keys[j]);
                else if (!(rc = rd_string(w, sub, v->keys[j], v->items[j], &ignored)))
                    json_decref(ignored);
            }
        } else if (IS("tls")) {
            json_t *tls = child(api, "tls");
            rc = rd_map(w, path, key, v, sub, sizeof(sub));
            for (size_t j = 0; !rc && v->type == YN_MAP && j < v->n; j++) {
                const char *k2 = v->keys[j];
                if (strcasecmp(k2, "enabled") == 0)
                    rc = put(w, tls, "enabled", rd_bool, sub, k2, v->items[j]);
                else if (strcasecmp(k2, "key") == 0 || strcasecmp(k2, "cert") == 0)
                    rc = put(w, tls, strcasecmp(k2, "key") == 0 ? "key" : "cert", rd_string, sub,
                             k2, v->items[j]);
                else
                    rc = UNKNOWN(w, sub, k2);
            }
        } else if (IS("auth")) {
            json_t *auth = child(api, "auth");
            rc = rd_map(w, path, key, v, sub, sizeof(sub));
            for (size_t j = 0; !rc && v->type == YN_MAP && j < v->n; j++) {
                char sub2[256];
                if (strcasecmp(v->keys[j], "basicAuth") != 0)
                    rc = UNKNOWN(w, sub, v->keys[j]);
                else if (!(rc = rd_seq(w, sub, v->keys[j], v->items[j]))) {
                    snprintf(sub2, sizeof(sub2), "%s.basicAuth", sub);
                    rc = do_basic_auth(w, sub2, v->items[j], auth);
                }
            }
        } else {
            rc = UNKNOWN(w, path, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int do_socket(struct walk *w, const char *path, const struct ynode *m, json_t *sock) {
    for (size_t i = 0; i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        const struct ynode *v = m->items[i];
        char sub[256];
        int rc;
        if (IS("name") || IS("mode") || IS("transportProtocol") || IS("publicAddress") ||
            IS("listenAddress") || IS("portMapping")) {
            rc = put(w, sock, ck, rd_string, path, key, v);
        } else if (IS("publicPort") || IS("listenPort") || IS("maxUdpPayload") ||
                   IS("keepAlive") || IS("portMappingLifetime")) {
            rc = put(w, sock, ck, rd_int, path, key, v);
        } else if (IS("enabled")) { /* ours: false pauses the socket */
            rc = put(w, sock, ck, rd_bool, path, key, v);
        } else if (IS("stunServers")) {
            rc = put(w, sock, ck, rd_strings, path, key, v);
        } else if (IS("httpDetector")) {
            json_t *hd = child(sock, "httpDetector");
            rc = rd_map(w, path, key, v, sub, sizeof(sub));
            for (size_t j = 0; !rc && v->type == YN_MAP && j < v->n; j++) {
                const char *k2 = v->keys[j];
                if (strcasecmp(k2, "url") == 0)
                    rc = put(w, hd, "url", rd_string, sub, k2, v->items[j]);
                else if (strcasecmp(k2, "interval") == 0)
                    rc = put(w, hd, "interval", rd_int, sub, k2, v->items[j]);
                else
                    rc = UNKNOWN(w, sub, k2);
            }
        } else {
            rc = UNKNOWN(w, path, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int do_exposed(struct walk *w, const char *path, const struct ynode *m, json_t *app) {
    for (size_t i = 0; i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        const struct ynode *v = m->items[i];
        int rc;
        if (IS("appName") || IS("id")) {
            rc = alias_clash(w, path, key, app, "name", IS("id") ? "appName" : "id");
            if (!rc)
                rc = put(w, app, "name", rd_string, path, key, v);
        } else if (IS("appSocket") || IS("socket")) {
            rc = alias_clash(w, path, key, app, "appSocket", IS("socket") ? "appSocket" : "socket");
            if (!rc)
                rc = put(w, app, "appSocket", rd_string, path, key, v);
        } else if (IS("mode")) {
            rc = put(w, app, ck, rd_string, path, key, v);
        } else if (IS("portRange") || IS("addressRange") || IS("allowedSites")) {
            rc = put(w, app, ck, rd_strings, path, key, v);
        } else if (IS("enabled")) { /* ours: false stops offering the app */
            rc = put(w, app, ck, rd_bool, path, key, v);
        } else if (IS("healthCheck")) { /* ours: a periodic check of the target */
            char sub[256];
            json_t *hc = child(app, "healthCheck");
            rc = rd_map(w, path, key, v, sub, sizeof(sub));
            for (size_t j = 0; !rc && v->type == YN_MAP && j < v->n; j++) {
                if (strcasecmp(v->keys[j], "interval") == 0)
                    rc = put(w, hc, "interval", rd_int, sub, v->keys[j], v->items[j]);
                else
                    rc = UNKNOWN(w, sub, v->keys[j]);
            }
        } else if (IS("maxConnections")) { /* ours */
            rc = put(w, app, ck, rd_int, path, key, v);
        } else {
            rc = UNKNOWN(w, path, key);
        }
        if (rc)
            return rc;
    }
    /* Upstream ignores appSocket on a range app; so does import. */
    if (strcmp(str_or(app, "mode", ""), "range") == 0)
        json_object_del(app, "appSocket");
    return 0;
}

static int do_remote(struct walk *w, const char *path, const struct ynode *m, json_t *app) {
    for (size_t i = 0; i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        const struct ynode *v = m->items[i];
        int rc;
        if (IS("appName") || IS("remoteAppId")) {
            rc = alias_clash(w, path, key, app, "appName",
                             IS("remoteAppId") ? "appName" : "remoteAppId");
            if (!rc)
                rc = put(w, app, "appName", rd_string, path, key, v);
        } else if (IS("name") || IS("siteName") || IS("localSocket") || IS("appSocket")) {
            rc = put(w, app, ck, rd_string, path, key, v);
        } else if (IS("maxConnections")) { /* ours; upstream has no such key */
            rc = put(w, app, ck, rd_int, path, key, v);
        } else if (IS("enabled")) { /* ours: false closes the listener */
            rc = put(w, app, ck, rd_bool, path, key, v);
        } else {
            rc = UNKNOWN(w, path, key);
        }
        if (rc)
            return rc;
    }
    return 0;
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

static int do_tunnel(struct walk *w, const struct ynode *m, json_t *doc) {
    for (size_t i = 0; m->type == YN_MAP && i < m->n; i++) {
        const char *key = m->keys[i];
        const char *ck = key;
        (void)ck;
        int rc;
        if (IS("localSockets")) {
            rc = rd_seq(w, "tunnel", key, m->items[i]);
            if (!rc)
                rc = do_list(w, "tunnel.localSockets", m->items[i],
                             json_object_get(doc, "tunnelSockets"), do_socket);
        } else {
            rc = UNKNOWN(w, "tunnel", key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

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
            rc = put(w, site, key, rd_string, "", key, v);
        } else if (IS("limits")) { /* ours */
            json_t *lim = child(site, "limits");
            rc = rd_map(w, "", key, v, sub, sizeof(sub));
            for (size_t j = 0; !rc && v->type == YN_MAP && j < v->n; j++) {
                const char *k2 = v->keys[j];
                if (!strcmp(k2, "streamsPerPeer") || !strcmp(k2, "dialPeers") ||
                    !strcmp(k2, "dialSocketsPerPeer") || !strcmp(k2, "dialsPerSecond") ||
                    !strcmp(k2, "relayPeers") || !strcmp(k2, "relayBytesPerSecond") ||
                    !strcmp(k2, "streamWindowMiB") || !strcmp(k2, "channelWindowMiB") ||
                    !strcmp(k2, "bufferBudgetMiB"))
                    rc = put(w, lim, k2, rd_int, sub, k2, v->items[j]);
                else
                    rc = UNKNOWN(w, sub, k2);
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

/* --- Derived values ----------------------------------------------------------- */

static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* Keeps [A-Za-z0-9._-] (others become '-'), drops a leading non-alphanumeric
 * run, and truncates to leave room for a "-NNNN" suffix within 255 bytes. */
static char *sanitize(const char *s, const char *fallback) {
    size_t len = strlen(s);
    char *out = wv_malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len && o < 248; i++) {
        char c = name_char(s[i]) ? s[i] : '-';
        if (o == 0 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            continue;
        out[o++] = c;
    }
    out[o] = '\0';
    if (o == 0) {
        free(out);
        return wv_strdup(fallback);
    }
    return out;
}

static bool name_taken(json_t *arr, const char *name, size_t upto) {
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (i == upto)
            continue;
        const char *n = json_string_value(json_object_get(json_array_get(arr, i), "name"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* Gives item idx of arr a unique name from base: base, base-2, base-3, ... */
static void assign_name(json_t *arr, size_t idx, const char *base) {
    char *name = wv_strdup(base);
    for (unsigned k = 2; name_taken(arr, name, idx); k++) {
        free(name);
        name = wv_asprintf("%s-%u", base, k);
    }
    json_object_set_new(json_array_get(arr, idx), "name", json_string(name));
    free(name);
}

static const char *str_or(json_t *obj, const char *key, const char *dflt) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : dflt;
}

/* "<mode>-<listenPort or publicPort>" */
static char *socket_base(json_t *sock) {
    json_int_t port = json_integer_value(json_object_get(sock, "listenPort"));
    if (port <= 0)
        port = json_integer_value(json_object_get(sock, "publicPort"));
    char *raw = port > 0 ? wv_asprintf("%s-%lld", str_or(sock, "mode", "socket"), (long long)port)
                         : wv_strdup(str_or(sock, "mode", "socket"));
    char *s = sanitize(raw, "socket");
    free(raw);
    return s;
}

/* "<siteName>-<appName>-<local port or unix basename>" */
static char *remote_base(json_t *app) {
    const char *local = str_or(app, "localSocket", "");
    const char *tail = "";
    if (strncmp(local, "unix:", 5) == 0) {
        const char *slash = strrchr(local, '/');
        tail = slash ? slash + 1 : local + 5;
    } else {
        const char *colon = strrchr(local, ':');
        if (colon)
            tail = colon + 1;
    }
    char *raw = wv_asprintf("%s-%s%s%s", str_or(app, "siteName", "site"),
                            str_or(app, "appName", "app"), *tail ? "-" : "", tail);
    char *s = sanitize(raw, "remote-app");
    free(raw);
    return s;
}

/* The top-level stun: list goes to every autoStunDetect or nat-traversal socket that names
 * no stunServers of its own ("stun:" URI prefixes dropped), and nowhere
 * else: a socket that does not detect by STUN has no use for it. */
static void apply_stun(json_t *stun, json_t *sockets) {
    size_t i;
    json_t *s;
    if (!json_array_size(stun))
        return;
    json_t *list = json_array(), *v;
    json_array_foreach(stun, i, v) {
        const char *x = json_string_value(v);
        if (strncasecmp(x, "stun://", 7) == 0)
            x += 7;
        else if (strncasecmp(x, "stun:", 5) == 0)
            x += 5;
        json_array_append_new(list, json_string(x));
    }
    json_array_foreach(sockets, i, s) {
        const char *pa = json_string_value(json_object_get(s, "publicAddress"));
        const char *mode = json_string_value(json_object_get(s, "mode"));
        bool by_stun = (pa && strcmp(pa, "autoStunDetect") == 0) ||
                    (mode && strcmp(mode, "nat-traversal") == 0);
        if (by_stun && !json_object_get(s, "stunServers"))
            json_object_set(s, "stunServers", list);
    }
    json_decref(list);
}

static void derive_names(json_t *arr, char *(*base_fn)(json_t *)) {
    /* explicit names first, so derived ones never take them */
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *obj = json_array_get(arr, i);
        if (json_object_get(obj, "name"))
            continue;
        char *base = base_fn(obj);
        assign_name(arr, i, base);
        free(base);
    }
}

char *wv_config_derive_topic(const char *network_key) {
    char *out = wv_malloc(WV_DEFAULT_TOPIC_LEN + 1);
    if (wv_keys_default_topic(network_key, strlen(network_key), out) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The mapping of a parsed tree (freed here) onto the canonical document. */
static int from_tree(struct ynode *root, json_t **doc, wv_verr *err) {
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
    apply_stun(w.stun, json_object_get(d, "tunnelSockets"));
    json_decref(w.stun);
    derive_names(json_object_get(d, "tunnelSockets"), socket_base);
    derive_names(json_object_get(d, "remoteApps"), remote_base);

    json_t *site = json_object_get(d, "site");
    const char *key = json_string_value(json_object_get(site, "networkKey"));
    const char *ck = key;
    (void)ck;
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
    return from_tree(root, doc, err);
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

/* --- JSON files ------------------------------------------------------------ */

/* The JSON value as a YAML tree, so that upstream-shaped JSON goes through
 * the one mapping of keys: strings become quoted scalars (a quoted "25890"
 * is not an integer, as in YAML), numbers, booleans and null plain ones.
 * Bounded like the YAML parser (depth and nodes). */
static struct ynode *jnode(const json_t *v, int depth, size_t *nodes, wv_verr *err) {
    if (depth > WV_CONFIG_MAX_DEPTH || ++*nodes > WV_CONFIG_MAX_NODES) {
        snprintf(err->field, sizeof(err->field), "%s", "");
        snprintf(err->message, sizeof(err->message), "JSON nested deeper than %d levels or "
                 "more than %d values", WV_CONFIG_MAX_DEPTH, WV_CONFIG_MAX_NODES);
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
    int rc = from_tree(root, doc, err);
    return rc;
}

void wv_config_field(enum wv_config_format fmt, const char *text, size_t len, const char *canon,
                     char *out, size_t size) {
    if (fmt == WV_CONFIG_JSON_CANONICAL)
        snprintf(out, size, "%s", canon);
    else
        wv_config_yaml_field(text, len, canon, out, size);
}
