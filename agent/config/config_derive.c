/* What the walk of an upstream config leaves to derive (config.c): names
 * for the sockets and remote apps that give none, the top-level stun list
 * handed to the sockets that detect by STUN, the default topic. */
#include "config_int.h"
#include "wv/base.h"
#include "wv/crypto.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

const char *wv_config__str_or(json_t *obj, const char *key, const char *dflt) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : dflt;
}

/* "<mode>-<listenPort or publicPort>" */
static char *socket_base(json_t *sock) {
    json_int_t port = json_integer_value(json_object_get(sock, "listenPort"));
    if (port <= 0)
        port = json_integer_value(json_object_get(sock, "publicPort"));
    char *raw = port > 0 ? wv_asprintf("%s-%lld", wv_config__str_or(sock, "mode", "socket"),
                                       (long long)port)
                         : wv_strdup(wv_config__str_or(sock, "mode", "socket"));
    char *s = sanitize(raw, "socket");
    free(raw);
    return s;
}

/* "<siteName>-<appName>-<local port or unix basename>" */
static char *remote_base(json_t *app) {
    const char *local = wv_config__str_or(app, "localSocket", "");
    const char *tail = "";
    if (strncmp(local, "unix:", 5) == 0) {
        const char *slash = strrchr(local, '/');
        tail = slash ? slash + 1 : local + 5;
    } else {
        const char *colon = strrchr(local, ':');
        if (colon)
            tail = colon + 1;
    }
    char *raw = wv_asprintf("%s-%s%s%s", wv_config__str_or(app, "siteName", "site"),
                            wv_config__str_or(app, "appName", "app"), *tail ? "-" : "", tail);
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

void wv_config__derive(json_t *doc, json_t *stun) {
    apply_stun(stun, json_object_get(doc, "tunnelSockets"));
    derive_names(json_object_get(doc, "tunnelSockets"), socket_base);
    derive_names(json_object_get(doc, "remoteApps"), remote_base);
}

char *wv_config_derive_topic(const char *network_key) {
    char *out = wv_malloc(WV_DEFAULT_TOPIC_LEN + 1);
    if (wv_keys_default_topic(network_key, strlen(network_key), out) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
