/* The rules of docs/CANONICAL.md. Each object is checked field by field
 * and normalized in place; every failure names the JSON path of the field.
 * Normalization only ever fills or rewrites fields into their canonical
 * form, so running it on its own output is a no-op. */
#include "validate_util.h"
#include "wv/base.h"
#include "wv/model.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_COLLECTION 4096
#define MAX_RANGE 256
#define MAX_BROKERS 8
#define MAX_STUN 8
#define MAX_USERS 64
#define MAX_PATH_LEN 4096
#define MAX_URL_LEN 2048

/* Each kind's document key and its singular noun in messages. */
static const struct {
    const char *key, *noun;
} kinds[] = {
    [WV_KIND_SITE] = {"site", "site"},
    [WV_KIND_SOCKET] = {"tunnelSockets", "tunnel socket"},
    [WV_KIND_EXPOSED_APP] = {"exposedApps", "exposed app"},
    [WV_KIND_REMOTE_APP] = {"remoteApps", "remote app"},
};

const char *wv_kind_key(enum wv_kind kind) {
    return (unsigned)kind < WV_COUNTOF(kinds) ? kinds[kind].key : "?";
}

const char *wv_kind_noun(enum wv_kind kind) {
    return (unsigned)kind < WV_COUNTOF(kinds) ? kinds[kind].noun : "?";
}

/* --- Field checks by kind ---------------------------------------------------- */

static bool is_auto(const char *s) {
    return strcmp(s, "autoHttpDetect") == 0 || strcmp(s, "autoStunDetect") == 0;
}

static int ip_or_empty(json_t *o, const char *p, const char *k, bool allow_auto, const char **out,
                       wv_verr *err) {
    if (wv_model__str(o, p, k, "", 0, 64, out, err) < 0)
        return WV_ERR_INVAL;
    struct sockaddr_storage ss;
    if (**out == '\0' || (allow_auto && is_auto(*out)) || wv_parse_ip(*out, 0, &ss) == 0)
        return 0;
    return wv_model__fail(err, p, k, "invalid IP address \"%s\"%s", *out,
                          allow_auto ? " (or autoHttpDetect, autoStunDetect)" : "");
}

/* "HOST:PORT" where HOST is a DNS name, an IPv4 literal or "[IPv6]". */
static bool valid_server(const char *s) {
    struct sockaddr_storage ss;
    if (wv_parse_hostport(s, &ss) == 0)
        return strrchr(s, ':')[1] != '0';
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon - s > 253 || s[0] == '[')
        return false;
    for (const char *c = s; c < colon; c++)
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-')
            return false;
    uint16_t lo, hi;
    return wv_parse_port_range(colon + 1, &lo, &hi) == 0 && lo == hi;
}

/* Broker URL: scheme://host[:port][/path]; credentials in the URL are
 * refused because the URL is shown in exports and logs. */
static int check_url(const char *p, const char *k, const char *url, const char *const *schemes,
                     const char *list, wv_verr *err) {
    const char *sep = strstr(url, "://");
    bool scheme_ok = false;
    for (size_t i = 0; sep && schemes[i]; i++)
        if ((size_t)(sep - url) == strlen(schemes[i]) &&
            strncasecmp(url, schemes[i], strlen(schemes[i])) == 0)
            scheme_ok = true;
    if (!scheme_ok)
        return wv_model__fail(err, p, k, "unsupported URL scheme in \"%s\" (%s)", url, list);
    const char *h = sep + 3;
    size_t hl = strcspn(h, "/?#");
    const char *port = NULL;
    if (memchr(h, '@', hl))
        return wv_model__fail(err, p, k,
                              "credentials in the URL are not allowed (use username/password)");
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return wv_model__fail(err, p, k, "URL contains whitespace or control characters");
    if (h[0] == '[') {
        const char *end = memchr(h, ']', hl);
        if (!end || end == h + 1)
            return wv_model__fail(err, p, k, "invalid host in \"%s\"", url);
        if (end + 1 < h + hl) {
            if (end[1] != ':')
                return wv_model__fail(err, p, k, "invalid host in \"%s\"", url);
            port = end + 2;
        }
    } else {
        const char *colon = memchr(h, ':', hl);
        size_t name_len = colon ? (size_t)(colon - h) : hl;
        if (name_len == 0)
            return wv_model__fail(err, p, k, "host required in \"%s\"", url);
        if (colon)
            port = colon + 1;
    }
    if (port) {
        unsigned v = 0;
        size_t n = (size_t)(h + hl - port);
        for (size_t i = 0; i < n; i++) {
            if (port[i] < '0' || port[i] > '9' || i >= 5)
                return wv_model__fail(err, p, k, "invalid port in \"%s\"", url);
            v = v * 10 + (unsigned)(port[i] - '0');
        }
        if (n == 0 || v < 1 || v > 65535)
            return wv_model__fail(err, p, k, "port out of range (1..65535) in \"%s\"", url);
    }
    return 0;
}

/* Normalizes a socket string in place: bare "IP:PORT" gets "tcp:". */
static int app_socket(json_t *o, const char *p, const char *k, bool required, bool tcp_only,
                      wv_verr *err) {
    const char *s;
    if (!required && !json_object_get(o, k))
        return 0;
    if (wv_model__str(o, p, k, NULL, 1, 5 + 107, &s, err) < 0)
        return WV_ERR_INVAL;
    struct wv_app_socket as;
    char why[128];
    if (wv_parse_app_socket(s, &as, why) < 0)
        return wv_model__fail(err, p, k, "invalid socket \"%s\": %s", s, why);
    if (tcp_only && as.is_unix)
        return wv_model__fail(err, p, k, "must be a tcp: address");
    if (strncmp(s, "tcp:", 4) != 0 && !as.is_unix) {
        char *full = wv_asprintf("tcp:%s", s);
        json_object_set_new(o, k, json_string(full));
        free(full);
    }
    return 0;
}

static int refuse_if_present(json_t *o, const char *p, const char *k, const char *when,
                             wv_verr *err) {
    if (json_object_get(o, k))
        return wv_model__fail(err, p, k, "only allowed when %s", when);
    return 0;
}

/* "enabled": false pauses an object without deleting it. Optional; true is
 * the default and is dropped, so there is one canonical form (absent) and
 * documents written before the field existed are unchanged. */
static int enabled(json_t *o, const char *p, wv_verr *err) {
    json_t *v = json_object_get(o, "enabled");
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return wv_model__fail(err, p, "enabled", "expected a boolean");
    if (json_is_true(v))
        json_object_del(o, "enabled");
    return 0;
}

static int validate_socket(json_t *o, const char *p, wv_verr *err) {
    static const char *const keys[] = {"name",
                                       "mode",
                                       "transportProtocol",
                                       "publicAddress",
                                       "publicPort",
                                       "listenAddress",
                                       "listenPort",
                                       "httpDetector",
                                       "stunServers",
                                       "maxUdpPayload",
                                       "keepAlive",
                                       "portMapping",
                                       "portMappingLifetime",
                                       "status",
                                       "enabled",
                                       NULL};
    static const char *const modes[] = {"dedicated-address", "port-forwarding", "nat-traversal",
                                        NULL};
    static const char *const protos[] = {"quic", NULL};
    const char *mode, *pub, *lis, *tmp;
    json_int_t pport, lport, tmp_payload;
    if (wv_model__keys(o, p, keys, err) < 0 || wv_model__name(o, p, "name", err) < 0 ||
        wv_model__enum(o, p, "mode", NULL, modes, 0, &mode, err) < 0 ||
        wv_model__enum(o, p, "transportProtocol", "quic", protos, -1, &tmp, err) < 0 ||
        ip_or_empty(o, p, "publicAddress", true, &pub, err) < 0 ||
        wv_model__int(o, p, "publicPort", 0, 0, 65535, &pport, err) < 0 ||
        ip_or_empty(o, p, "listenAddress", false, &lis, err) < 0 ||
        wv_model__int(o, p, "listenPort", 0, 0, 65535, &lport, err) < 0 || enabled(o, p, err) < 0)
        return WV_ERR_INVAL;
    /* Optional, absent by default: PMTUD finds the size of each path
     * (docs/QUIC.md); this is for a known path, exact above 1452. */
    if (json_object_get(o, "maxUdpPayload") &&
        wv_model__int(o, p, "maxUdpPayload", 0, 1200, 65527, &tmp_payload, err) < 0)
        return WV_ERR_INVAL;

    if (strcmp(pub, "autoHttpDetect") == 0) {
        static const char *const dkeys[] = {"url", "interval", NULL};
        static const char *const schemes[] = {"http", "https", NULL};
        char dp[256];
        json_t *d;
        const char *url;
        json_int_t iv;
        wv_model__join(dp, p, "httpDetector");
        if (wv_model__obj(o, p, "httpDetector", false, &d, err) < 0 ||
            wv_model__keys(d, dp, dkeys, err) < 0 ||
            wv_model__str(d, dp, "url", NULL, 1, MAX_URL_LEN, &url, err) < 0 ||
            check_url(dp, "url", url, schemes, "http, https", err) < 0 ||
            wv_model__int(d, dp, "interval", 60, 5, 86400, &iv, err) < 0)
            return WV_ERR_INVAL;
    } else if (refuse_if_present(o, p, "httpDetector", "publicAddress is autoHttpDetect", err) <
               0) {
        return WV_ERR_INVAL;
    }
    bool nat = strcmp(mode, "nat-traversal") == 0;
    if (strcmp(pub, "autoStunDetect") == 0 || (nat && json_object_get(o, "stunServers"))) {
        json_t *arr, *v;
        size_t i;
        if (wv_model__arr(o, p, "stunServers", nat ? 0 : 1, MAX_STUN, &arr, err) < 0)
            return WV_ERR_INVAL;
        json_array_foreach(arr, i, v) {
            char ip[256];
            snprintf(ip, sizeof(ip), "stunServers[%zu]", i);
            if (!json_is_string(v))
                return wv_model__fail(err, p, ip, "expected a string");
            if (json_string_length(v) > 260 || !valid_server(json_string_value(v)))
                return wv_model__fail(err, p, ip, "invalid server \"%.64s\" (expected HOST:PORT)",
                                      json_string_value(v));
        }
    } else if (!nat && refuse_if_present(o, p, "stunServers",
                                         "publicAddress is autoStunDetect or the mode "
                                         "nat-traversal", err) < 0) {
        return WV_ERR_INVAL;
    }
    if (nat) {
        /* No public address: the candidates are the host's addresses and
         * what STUN learns from the socket itself (docs/NAT.md). */
        json_int_t ka;
        if (*pub != '\0')
            return wv_model__fail(err, p, "publicAddress",
                                  "not allowed for nat-traversal (the socket's addresses are "
                                  "found by STUN: give stunServers)");
        if (pport != 0)
            return wv_model__fail(err, p, "publicPort", "not allowed for nat-traversal");
        if (json_object_get(o, "keepAlive") &&
            wv_model__int(o, p, "keepAlive", 0, 1, WV_NAT_KEEPALIVE_MAX_S, &ka, err) < 0)
            return WV_ERR_INVAL;
        /* Optional: ask the router for a port (UPnP-IGD, NAT-PMP). */
        static const char *const maps[] = {"auto", "upnp", "natpmp", NULL};
        const char *pm;
        json_int_t life;
        if (json_object_get(o, "portMapping") &&
            wv_model__enum(o, p, "portMapping", NULL, maps, 0, &pm, err) < 0)
            return WV_ERR_INVAL;
        if (json_object_get(o, "portMappingLifetime")) {
            if (!json_object_get(o, "portMapping"))
                return wv_model__fail(err, p, "portMappingLifetime",
                                      "only allowed when portMapping is set");
            if (wv_model__int(o, p, "portMappingLifetime", 0, 30, 86400, &life, err) < 0)
                return WV_ERR_INVAL;
        }
        return 0;
    }
    if (refuse_if_present(o, p, "keepAlive", "mode is nat-traversal", err) < 0 ||
        refuse_if_present(o, p, "portMapping", "mode is nat-traversal", err) < 0 ||
        refuse_if_present(o, p, "portMappingLifetime", "mode is nat-traversal", err) < 0)
        return WV_ERR_INVAL;

    if (strcmp(mode, "dedicated-address") == 0) {
        if (*pub == '\0' && *lis == '\0')
            return wv_model__fail(err, p, "publicAddress",
                                  "required (or listenAddress) for dedicated-address");
        if (pport == 0 && lport == 0)
            return wv_model__fail(err, p, "listenPort",
                                  "required (or publicPort) for dedicated-address");
        if (pport && lport && pport != lport)
            return wv_model__fail(err, p, "publicPort",
                                  "must equal listenPort for dedicated-address");
        if (pport == 0)
            json_object_set_new(o, "publicPort", json_integer(lport));
        if (lport == 0)
            json_object_set_new(o, "listenPort", json_integer(pport));
        if (*pub == '\0')
            json_object_set_new(o, "publicAddress", json_string(lis));
    } else {
        if (*pub == '\0')
            return wv_model__fail(err, p, "publicAddress", "required for port-forwarding");
        if (pport == 0)
            return wv_model__fail(err, p, "publicPort", "required for port-forwarding (1..65535)");
        if (lport == 0)
            return wv_model__fail(err, p, "listenPort", "required for port-forwarding (1..65535)");
    }
    return 0;
}

static int range_list(json_t *o, const char *p, const char *k, bool ports, wv_verr *err) {
    json_t *arr, *v;
    size_t i;
    if (wv_model__arr(o, p, k, 1, MAX_RANGE, &arr, err) < 0)
        return WV_ERR_INVAL;
    json_array_foreach(arr, i, v) {
        char ip[64];
        snprintf(ip, sizeof(ip), "%s[%zu]", k, i);
        if (ports && json_is_integer(v)) {
            json_int_t n = json_integer_value(v);
            if (n < 1 || n > 65535)
                return wv_model__fail(err, p, ip, "port out of range (1..65535)");
            char buf[16];
            snprintf(buf, sizeof(buf), "%d", (int)n);
            json_array_set_new(arr, i, json_string(buf));
            continue;
        }
        if (!json_is_string(v))
            return wv_model__fail(err, p, ip,
                                  ports ? "expected a string or an integer" : "expected a string");
        const char *s = json_string_value(v);
        if (json_string_length(v) > 64)
            return wv_model__fail(err, p, ip, "too long (max 64 bytes)");
        if (ports) {
            uint16_t lo, hi;
            if (wv_parse_port_range(s, &lo, &hi) < 0)
                return wv_model__fail(err, p, ip, "invalid port range \"%s\" (N or N-M, 1..65535)",
                                      s);
        } else {
            struct wv_cidr c;
            if (wv_parse_cidr(s, &c) < 0)
                return wv_model__fail(err, p, ip, "invalid address or CIDR \"%s\"", s);
        }
    }
    return 0;
}

/* Optional, stored only when given: {"interval": 5..3600 seconds, default 30}. */
static int health_check(json_t *o, const char *p, wv_verr *err) {
    static const char *const hkeys[] = {"interval", NULL};
    char hp[256];
    json_t *h;
    json_int_t iv;
    if (!json_object_get(o, "healthCheck"))
        return 0;
    wv_model__join(hp, p, "healthCheck");
    if (wv_model__obj(o, p, "healthCheck", false, &h, err) < 0 ||
        wv_model__keys(h, hp, hkeys, err) < 0 ||
        wv_model__int(h, hp, "interval", 30, 5, 3600, &iv, err) < 0)
        return WV_ERR_INVAL;
    return 0;
}

/* allowedSites: optional list of site names (absent: every member). */
static int allowed_sites(json_t *o, const char *p, wv_verr *err) {
    json_t *arr, *v;
    size_t i;
    if (!json_object_get(o, "allowedSites"))
        return 0;
    if (wv_model__arr(o, p, "allowedSites", 0, WV_MAX_ALLOWED_SITES, &arr, err) < 0)
        return WV_ERR_INVAL;
    json_array_foreach(arr, i, v) {
        char k[40];
        snprintf(k, sizeof(k), "allowedSites[%zu]", i);
        if (!json_is_string(v) || !wv_valid_name(json_string_value(v)))
            return wv_model__fail(err, p, k, "expected a site name (1..255 of A-Z a-z 0-9 . _ -)");
    }
    return 0;
}

static int validate_exposed(json_t *o, const char *p, wv_verr *err) {
    static const char *const keys[] = {"name",           "mode",         "appSocket",
                                       "portRange",      "addressRange", "maxConnections",
                                       "allowedSites",   "status",       "healthCheck",
                                       "enabled",        NULL};
    static const char *const modes[] = {"single", "range", NULL};
    const char *mode;
    json_int_t max_conns;
    if (wv_model__keys(o, p, keys, err) < 0 || wv_model__name(o, p, "name", err) < 0 ||
        wv_model__enum(o, p, "mode", "single", modes, 0, &mode, err) < 0 ||
        enabled(o, p, err) < 0)
        return WV_ERR_INVAL;
    /* Optional and stored only when set, like a remote app's. */
    if (json_object_get(o, "maxConnections") &&
        wv_model__int(o, p, "maxConnections", 0, 1, WV_REMOTE_MAX_CONNS_LIMIT, &max_conns, err) < 0)
        return WV_ERR_INVAL;
    if (allowed_sites(o, p, err) < 0)
        return WV_ERR_INVAL;
    if (strcmp(mode, "single") == 0) {
        if (app_socket(o, p, "appSocket", true, false, err) < 0 ||
            refuse_if_present(o, p, "portRange", "mode is range", err) < 0 ||
            refuse_if_present(o, p, "addressRange", "mode is range", err) < 0 ||
            health_check(o, p, err) < 0)
            return WV_ERR_INVAL;
        return 0;
    }
    if (refuse_if_present(o, p, "healthCheck", "mode is single (a range has no one target)",
                          err) < 0 ||
        refuse_if_present(o, p, "appSocket", "mode is single", err) < 0 ||
        range_list(o, p, "portRange", true, err) < 0 ||
        range_list(o, p, "addressRange", false, err) < 0)
        return WV_ERR_INVAL;
    return 0;
}

static int validate_remote(json_t *o, const char *p, wv_verr *err) {
    static const char *const keys[] = {"name",      "siteName",       "appName", "localSocket",
                                       "appSocket", "maxConnections", "status",  "enabled",
                                       NULL};
    json_int_t max_conns;
    if (wv_model__keys(o, p, keys, err) < 0 || wv_model__name(o, p, "name", err) < 0 ||
        wv_model__name(o, p, "siteName", err) < 0 || wv_model__name(o, p, "appName", err) < 0 ||
        app_socket(o, p, "localSocket", true, false, err) < 0 || enabled(o, p, err) < 0)
        return WV_ERR_INVAL;
    /* Optional, absent by default (the reconciler then allows 512): stored
     * only when set, like maxUdpPayload, so older documents stay canonical. */
    if (json_object_get(o, "maxConnections") &&
        wv_model__int(o, p, "maxConnections", 0, 1, WV_REMOTE_MAX_CONNS_LIMIT, &max_conns, err) < 0)
        return WV_ERR_INVAL;
    /* An empty target means "not set"; dropping it keeps one canonical form. */
    json_t *t = json_object_get(o, "appSocket");
    if (json_is_string(t) && json_string_length(t) == 0)
        json_object_del(o, "appSocket");
    return app_socket(o, p, "appSocket", false, true, err);
}

static int validate_kind(enum wv_kind kind, json_t *obj, const char *p, wv_verr *err) {
    if (!json_is_object(obj))
        return wv_model__fail(err, p, "", "expected an object");
    int rc;
    switch (kind) {
    case WV_KIND_SOCKET:
        rc = validate_socket(obj, p, err);
        break;
    case WV_KIND_EXPOSED_APP:
        rc = validate_exposed(obj, p, err);
        break;
    case WV_KIND_REMOTE_APP:
        rc = validate_remote(obj, p, err);
        break;
    default:
        return wv_model__fail(err, p, "", "not a collection object");
    }
    if (rc == 0)
        json_object_del(obj, "status");
    return rc;
}

int wv_validate_object(enum wv_kind kind, json_t *obj, wv_verr *err) {
    if (err)
        memset(err, 0, sizeof(*err));
    return validate_kind(kind, obj, "", err);
}

/* --- Site ----------------------------------------------------------------------- */

/* A secret: present => bounded string; absent => required only when the
 * caller has no stored value to keep. The "...Set" marker is dropped. */
static int secret(json_t *o, const char *p, const char *k, const char *marker, size_t min,
                  bool required, wv_verr *err) {
    json_t *m = json_object_get(o, marker);
    if (m && !json_is_boolean(m))
        return wv_model__fail(err, p, marker, "expected a boolean");
    json_object_del(o, marker);
    const char *s;
    if (!json_object_get(o, k))
        return required ? wv_model__fail(err, p, k, "required") : 0;
    return wv_model__str(o, p, k, NULL, min, 255, &s, err);
}

const char *wv_network_key_weak(const char *key) {
    size_t n = key ? strlen(key) : 0;
    bool seen[256] = {false};
    unsigned distinct = 0, lower = 0, upper = 0, digit = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        distinct += !seen[c];
        seen[c] = true;
        lower |= islower(c) != 0;
        upper |= isupper(c) != 0;
        digit |= isdigit(c) != 0;
        other |= !isalnum(c);
    }
    if (n > 255)
        return "the network key must be at most 255 bytes";
    if (n >= 16 && distinct >= 8 && lower + upper + digit + other >= 3)
        return NULL;
    if (n >= 24 && distinct >= 10)
        return NULL;
    return WV_NETWORK_KEY_RULE;
}

static int validate_channel(json_t *mc, const char *p, wv_verr *err) {
    static const char *const keys[] = {"protocol", "brokers",     "topic",  "username",
                                       "password", "passwordSet", "caFile", NULL};
    static const char *const protos[] = {"mqtt", NULL};
    static const char *const schemes[] = {"mqtt", "mqtts", "ssl", "tcp", "ws", "wss", NULL};
    const char *s;
    json_t *arr, *v;
    size_t i;
    if (wv_model__keys(mc, p, keys, err) < 0 ||
        wv_model__enum(mc, p, "protocol", "mqtt", protos, -1, &s, err) < 0 ||
        wv_model__arr(mc, p, "brokers", 1, MAX_BROKERS, &arr, err) < 0)
        return WV_ERR_INVAL;
    json_array_foreach(arr, i, v) {
        char ip[32];
        snprintf(ip, sizeof(ip), "brokers[%zu]", i);
        if (!json_is_string(v))
            return wv_model__fail(err, p, ip, "expected a string");
        if (json_string_length(v) > MAX_URL_LEN ||
            strlen(json_string_value(v)) != json_string_length(v))
            return wv_model__fail(err, p, ip, "too long or contains NUL");
        if (check_url(p, ip, json_string_value(v), schemes, "mqtt, mqtts, ssl, tcp, ws, wss", err) <
            0)
            return WV_ERR_INVAL;
    }
    if (wv_model__str(mc, p, "topic", "", 0, 200, &s, err) < 0)
        return WV_ERR_INVAL;
    if (strpbrk(s, "+#"))
        return wv_model__fail(err, p, "topic", "must not contain '+' or '#'");
    if (wv_model__str(mc, p, "username", "", 0, 255, &s, err) < 0 ||
        wv_model__str(mc, p, "caFile", "", 0, MAX_PATH_LEN, &s, err) < 0 ||
        secret(mc, p, "password", "passwordSet", 0, false, err) < 0) /* optional either way */
        return WV_ERR_INVAL;
    return 0;
}

static int validate_logger(json_t *lg, const char *p, wv_verr *err) {
    static const char *const keys[] = {"level", "file", "format", NULL};
    static const char *const levels[] = {"DEBUG", "INFO", "WARN", "ERROR", NULL};
    static const char *const formats[] = {"text", "json", NULL};
    const char *s;
    if (wv_model__keys(lg, p, keys, err) < 0 ||
        wv_model__enum(lg, p, "level", "INFO", levels, 1, &s, err) < 0 ||
        wv_model__str(lg, p, "file", "", 0, MAX_PATH_LEN, &s, err) < 0 ||
        wv_model__enum(lg, p, "format", "text", formats, -1, &s, err) < 0)
        return WV_ERR_INVAL;
    return 0;
}

static bool valid_user(const char *s) {
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._@-", *s))
            return false;
    return true;
}

/* A DNS name for restfulApi.allowedHosts: labels of [A-Za-z0-9-], dots
 * between, no port (the port is never compared). */
static bool host_name_ok(const char *s) {
    size_t label = 0, n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i <= n; i++) {
        if (s[i] == '.' || s[i] == '\0') {
            if (label == 0 || label > 63)
                return false;
            label = 0;
        } else if (isalnum((unsigned char)s[i]) || s[i] == '-') {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

static int validate_hosts(json_t *api, const char *p, wv_verr *err) {
    json_t *hosts, *h;
    size_t i;
    if (!json_object_get(api, "allowedHosts"))
        return 0; /* optional; absent means none */
    if (wv_model__arr(api, p, "allowedHosts", 0, WV_MAX_ALLOWED_HOSTS, &hosts, err) < 0)
        return WV_ERR_INVAL;
    json_array_foreach(hosts, i, h) {
        char k[48];
        snprintf(k, sizeof(k), "allowedHosts[%zu]", i);
        if (!json_is_string(h) || !host_name_ok(json_string_value(h)))
            return wv_model__fail(err, p, k,
                                  "expected a host name such as \"wovenet.example.org\" "
                                  "(letters, digits, '-' and '.', no port)");
    }
    return 0;
}

static int validate_api(json_t *api, const char *p, bool want_secrets, wv_verr *err) {
    static const char *const keys[] = {"enabled", "listenAddr", "allowedHosts", "tls", "auth", NULL};
    static const char *const tkeys[] = {"enabled", "cert", "key", NULL};
    static const char *const akeys[] = {"basicAuth", NULL};
    static const char *const ukeys[] = {"user", "password", "passwordSet", NULL};
    char tp[256], ap[256];
    const char *s, *cert, *key;
    bool on;
    json_t *tls, *auth, *users, *u;
    size_t i;
    if (wv_model__keys(api, p, keys, err) < 0 ||
        wv_model__bool(api, p, "enabled", true, &on, err) < 0 ||
        wv_model__str(api, p, "listenAddr", "127.0.0.1:18080", 1, 64, &s, err) < 0)
        return WV_ERR_INVAL;
    struct sockaddr_storage ss;
    if (wv_parse_hostport(s, &ss) < 0)
        return wv_model__fail(err, p, "listenAddr", "invalid address \"%s\" (ADDR:PORT or [v6]:PORT)",
                          s);
    if (validate_hosts(api, p, err) < 0)
        return WV_ERR_INVAL;
    wv_model__join(tp, p, "tls");
    if (wv_model__obj(api, p, "tls", true, &tls, err) < 0 ||
        wv_model__keys(tls, tp, tkeys, err) < 0 ||
        wv_model__bool(tls, tp, "enabled", false, &on, err) < 0 ||
        wv_model__str(tls, tp, "cert", "", 0, MAX_PATH_LEN, &cert, err) < 0 ||
        wv_model__str(tls, tp, "key", "", 0, MAX_PATH_LEN, &key, err) < 0)
        return WV_ERR_INVAL;
    if (on && !*cert)
        return wv_model__fail(err, tp, "cert", "required when tls is enabled");
    if (on && !*key)
        return wv_model__fail(err, tp, "key", "required when tls is enabled");
    wv_model__join(ap, p, "auth");
    if (wv_model__obj(api, p, "auth", true, &auth, err) < 0 ||
        wv_model__keys(auth, ap, akeys, err) < 0)
        return WV_ERR_INVAL;
    if (!json_object_get(auth, "basicAuth"))
        json_object_set_new(auth, "basicAuth", json_array());
    if (wv_model__arr(auth, ap, "basicAuth", 0, MAX_USERS, &users, err) < 0)
        return WV_ERR_INVAL;
    json_t *seen = json_object();
    json_array_foreach(users, i, u) {
        char up[320];
        snprintf(up, sizeof(up), "%s.basicAuth[%zu]", ap, i);
        if (!json_is_object(u)) {
            json_decref(seen);
            return wv_model__fail(err, up, "", "expected an object");
        }
        if (wv_model__keys(u, up, ukeys, err) < 0 ||
            wv_model__str(u, up, "user", NULL, 1, 64, &s, err) < 0 ||
            secret(u, up, "password", "passwordSet", 8, want_secrets, err) < 0) {
            json_decref(seen);
            return WV_ERR_INVAL;
        }
        if (!valid_user(s)) {
            json_decref(seen);
            return wv_model__fail(err, up, "user", "invalid user \"%s\" (1..64 of [A-Za-z0-9._@-])",
                                  s);
        }
        if (json_object_get(seen, s)) {
            json_decref(seen);
            return wv_model__fail(err, up, "user", "duplicate user \"%s\"", s);
        }
        json_object_set_new(seen, s, json_true());
    }
    json_decref(seen);
    return 0;
}

/* site.limits: each optional, stored only when set. */
static int validate_limits(json_t *site, const char *p, wv_verr *err) {
    static const char *const keys[] = {"streamsPerPeer",  "dialPeers",       "dialSocketsPerPeer",
                                       "dialsPerSecond",  "relayPeers",      "relayBytesPerSecond",
                                       "streamWindowMiB", "channelWindowMiB", "bufferBudgetMiB",
                                       NULL};
    static const json_int_t hi[] = {65536, 4096, 64, 10000, 4096, 10000000000LL, 1024, 4096, 65536};
    json_t *l = json_object_get(site, "limits");
    char lp[256];
    if (!l)
        return 0;
    wv_model__join(lp, p, "limits");
    if (!json_is_object(l))
        return wv_model__fail(err, p, "limits", "expected an object");
    if (wv_model__keys(l, lp, keys, err) < 0)
        return WV_ERR_INVAL;
    for (size_t i = 0; keys[i]; i++) {
        json_int_t v;
        if (json_object_get(l, keys[i]) &&
            wv_model__int(l, lp, keys[i], 0, 1, hi[i], &v, err) < 0)
            return WV_ERR_INVAL;
    }
    return 0;
}

static int validate_site_at(json_t *site, const char *p, bool want_secrets, wv_verr *err) {
    static const char *const keys[] = {"siteName",   "networkKey", "networkKeySet", "messageChannel",
                                       "logger",     "restfulApi", "membership",    "limits",
                                       "relay",      "status",     NULL};
    static const char *const memberships[] = {"open", "approve", NULL};
    char cp[256];
    json_t *mc, *lg, *api;
    if (!json_is_object(site))
        return wv_model__fail(err, p, "", "expected an object");
    if (wv_model__keys(site, p, keys, err) < 0 || wv_model__name(site, p, "siteName", err) < 0 ||
        secret(site, p, "networkKey", "networkKeySet", 8, want_secrets, err) < 0)
        return WV_ERR_INVAL;
    wv_model__join(cp, p, "messageChannel");
    if (wv_model__obj(site, p, "messageChannel", false, &mc, err) < 0 ||
        validate_channel(mc, cp, err) < 0)
        return WV_ERR_INVAL;
    wv_model__join(cp, p, "logger");
    if (wv_model__obj(site, p, "logger", true, &lg, err) < 0 || validate_logger(lg, cp, err) < 0)
        return WV_ERR_INVAL;
    wv_model__join(cp, p, "restfulApi");
    if (wv_model__obj(site, p, "restfulApi", true, &api, err) < 0 ||
        validate_api(api, cp, want_secrets, err) < 0)
        return WV_ERR_INVAL;
    const char *ms;
    if (json_object_get(site, "membership") &&
        wv_model__enum(site, p, "membership", "open", memberships, -1, &ms, err) < 0)
        return WV_ERR_INVAL;
    if (validate_limits(site, p, err) < 0)
        return WV_ERR_INVAL;
    /* relay: this site forwards other sites' end-to-end QUIC packets when
     * they cannot reach each other (docs/NAT.md). Off by default; false is
     * the absent, canonical form. */
    json_t *relay = json_object_get(site, "relay");
    if (relay && !json_is_boolean(relay))
        return wv_model__fail(err, p, "relay", "expected a boolean");
    if (json_is_false(relay))
        json_object_del(site, "relay");
    const char *key = json_string_value(json_object_get(site, "networkKey"));
    const char *weak = key ? wv_network_key_weak(key) : NULL;
    if (weak)
        return wv_model__fail(err, p, "networkKey", "%s", weak);
    json_object_del(site, "status");
    return 0;
}

int wv_validate_site(json_t *site, bool want_secrets, wv_verr *err) {
    if (err)
        memset(err, 0, sizeof(*err));
    return validate_site_at(site, "", want_secrets, err);
}

/* --- Document -------------------------------------------------------------------- */

static int validate_collection(json_t *doc, enum wv_kind kind, wv_verr *err) {
    const char *k = wv_kind_key(kind);
    json_t *arr, *o;
    size_t i;
    if (!json_object_get(doc, k))
        json_object_set_new(doc, k, json_array());
    if (wv_model__arr(doc, "", k, 0, MAX_COLLECTION, &arr, err) < 0)
        return WV_ERR_INVAL;
    /* A jansson object is the set of names seen: O(n) for 4096 entries. */
    json_t *seen = json_object();
    int rc = 0;
    json_array_foreach(arr, i, o) {
        char p[64];
        snprintf(p, sizeof(p), "%s[%zu]", k, i);
        if ((rc = validate_kind(kind, o, p, err)) < 0)
            break;
        const char *name = json_string_value(json_object_get(o, "name"));
        if (json_object_get(seen, name)) {
            rc = wv_model__fail(err, p, "name", "duplicate name \"%s\"", name);
            break;
        }
        json_object_set_new(seen, name, json_true());
    }
    json_decref(seen);
    return rc;
}

int wv_validate_document(json_t *doc, bool want_secrets, wv_verr *err) {
    static const char *const keys[] = {"revision",    "site",       "tunnelSockets",
                                       "exposedApps", "remoteApps", NULL};
    if (err)
        memset(err, 0, sizeof(*err));
    if (!json_is_object(doc))
        return wv_model__fail(err, "", "", "expected an object");
    if (wv_model__keys(doc, "", keys, err) < 0)
        return WV_ERR_INVAL;
    json_object_del(doc, "revision");
    json_t *site = json_object_get(doc, "site");
    if (!site)
        return wv_model__fail(err, "", "site", "required");
    if (validate_site_at(site, "site", want_secrets, err) < 0 ||
        validate_collection(doc, WV_KIND_SOCKET, err) < 0 ||
        validate_collection(doc, WV_KIND_EXPOSED_APP, err) < 0 ||
        validate_collection(doc, WV_KIND_REMOTE_APP, err) < 0)
        return WV_ERR_INVAL;
    return 0;
}
