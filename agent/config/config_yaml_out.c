/* Export side of the config module: the canonical document written as the
 * upstream's newer YAML format, and canonical field paths mapped back to the
 * YAML paths a user wrote (for import errors). */
#include "config_int.h"
#include "wv/base.h"
#include "wv/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* --- canonical -> YAML-shaped JSON (insertion order is output order) ------- */

static void copy(json_t *dst, const char *dkey, json_t *src, const char *skey) {
    json_t *v = json_object_get(src, skey);
    if (v)
        json_object_set(dst, dkey, v);
}

static void copy_keys(json_t *dst, json_t *src, const char *const *keys) {
    for (; *keys; keys++)
        copy(dst, *keys, src, *keys);
}

static json_t *shape_site(json_t *doc, json_t *site) {
    json_t *y = json_object();
    copy(y, "siteName", site, "siteName");
    copy(y, "membership", site, "membership");
    copy(y, "relay", site, "relay");
    copy(y, "limits", site, "limits");
    /* a secret given in clear is never written, only marked as set */
    if (json_is_true(json_object_get(site, "networkKeySet")) || json_object_get(site, "networkKey"))
        json_object_set_new(y, "crypto", json_pack("{s:b}", "keySet", 1));
    json_t *logger = json_object_get(site, "logger");
    if (logger) {
        json_t *l = json_object();
        copy_keys(l, logger, (const char *const[]){"level", "file", "format", NULL});
        json_object_set_new(y, "logger", l);
    }
    json_t *mc = json_object_get(site, "messageChannel");
    if (mc) {
        json_t *m = json_object(), *mq = json_object();
        copy(m, "protocol", mc, "protocol");
        json_t *brokers = json_object_get(mc, "brokers");
        if (json_array_size(brokers) > 0)
            json_object_set(mq, "brokerServer", json_array_get(brokers, 0));
        if (json_array_size(brokers) > 1) {
            json_t *rest = json_array();
            for (size_t i = 1; i < json_array_size(brokers); i++)
                json_array_append(rest, json_array_get(brokers, i));
            json_object_set_new(mq, "brokerServers", rest);
        }
        copy_keys(mq, mc, (const char *const[]){"topic", "username", NULL});
        if (json_is_true(json_object_get(mc, "passwordSet")) || json_object_get(mc, "password"))
            json_object_set_new(mq, "passwordSet", json_true());
        copy(mq, "caFile", mc, "caFile");
        json_object_set_new(m, "mqtt", mq);
        json_object_set_new(y, "messageChannel", m);
    }

    json_t *socks = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(doc, "tunnelSockets"), i, v) {
        json_t *s = json_object();
        copy_keys(s, v,
                  (const char *const[]){"name", "mode", "transportProtocol", "publicAddress",
                                        "publicPort", "listenAddress", "listenPort",
                                        "maxUdpPayload", "keepAlive", "portMapping",
                                        "portMappingLifetime", "enabled", NULL});
        json_t *hd = json_object_get(v, "httpDetector");
        if (hd) {
            json_t *h = json_object();
            copy_keys(h, hd, (const char *const[]){"url", "interval", NULL});
            json_object_set_new(s, "httpDetector", h);
        }
        copy(s, "stunServers", v, "stunServers");
        json_array_append_new(socks, s);
    }
    json_object_set_new(y, "tunnel", json_pack("{s:o}", "localSockets", socks));

    json_t *exposed = json_array();
    json_array_foreach(json_object_get(doc, "exposedApps"), i, v) {
        json_t *a = json_object();
        copy(a, "appName", v, "name");
        copy_keys(a, v,
                  (const char *const[]){"mode", "appSocket", "portRange", "addressRange",
                                        "maxConnections", "allowedSites", "healthCheck",
                                        "enabled", NULL});
        json_array_append_new(exposed, a);
    }
    json_object_set_new(y, "localExposedApps", exposed);

    json_t *remote = json_array();
    json_array_foreach(json_object_get(doc, "remoteApps"), i, v) {
        json_t *a = json_object();
        copy_keys(a, v,
                  (const char *const[]){"name", "siteName", "appName", "localSocket", "appSocket",
                                        "maxConnections", "enabled", NULL});
        json_array_append_new(remote, a);
    }
    json_object_set_new(y, "remoteApps", remote);

    json_t *api = json_object_get(site, "restfulApi");
    if (api) {
        json_t *a = json_object();
        copy_keys(a, api, (const char *const[]){"enabled", "listenAddr", "allowedHosts", NULL});
        json_t *tls = json_object_get(api, "tls");
        if (tls) {
            json_t *t = json_object();
            copy_keys(t, tls, (const char *const[]){"enabled", "key", "cert", NULL});
            json_object_set_new(a, "tls", t);
        }
        json_t *users = json_object_get(json_object_get(api, "auth"), "basicAuth");
        if (users) {
            json_t *list = json_array(), *u;
            size_t j;
            json_array_foreach(users, j, u) {
                json_t *o = json_object();
                copy(o, "user", u, "user");
                if (json_is_true(json_object_get(u, "passwordSet")) ||
                    json_object_get(u, "password"))
                    json_object_set_new(o, "passwordSet", json_true());
                json_array_append_new(list, o);
            }
            json_object_set_new(a, "auth", json_pack("{s:o}", "basicAuth", list));
        }
        json_object_set_new(y, "restfulApi", a);
    }
    return y;
}

/* --- emitting ------------------------------------------------------------------ */

static int write_cb(void *data, unsigned char *buf, size_t size) {
    wv_buf_add(data, buf, size);
    return 1;
}

/* Would a plain scalar with this text read back as something else than a
 * string (number, bool, null) in a generic YAML reader? Quote it then. */
static bool needs_quotes(const char *s) {
    static const char *const words[] = {"",   "~",  "null", "true", "false", "yes",
                                        "no", "on", "off",  "y",    "n"};
    for (size_t i = 0; i < WV_COUNTOF(words); i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    const char *p = s;
    if (*p == '-' || *p == '+' || *p == '.')
        p++;
    return *p >= '0' && *p <= '9'; /* numbers, also "5901-5990", dates, hex */
}

static int scalar(yaml_emitter_t *e, const char *s, bool quoted_ok) {
    yaml_event_t ev;
    yaml_scalar_style_t style =
        quoted_ok && needs_quotes(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style);
    return yaml_emitter_emit(e, &ev) ? 0 : WV_ERR_INVAL;
}

static int emit(yaml_emitter_t *e, json_t *v) {
    yaml_event_t ev;
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return WV_ERR_INVAL;
        json_object_foreach(v, k, x) {
            if (scalar(e, k, false) || emit(e, x))
                return WV_ERR_INVAL;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev) ? 0 : WV_ERR_INVAL;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return WV_ERR_INVAL;
        json_array_foreach(v, i, x) {
            if (emit(e, x))
                return WV_ERR_INVAL;
        }
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev) ? 0 : WV_ERR_INVAL;
    }
    case JSON_STRING:
        return scalar(e, json_string_value(v), true);
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return scalar(e, num, false);
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        return scalar(e, num, false);
    case JSON_TRUE:
        return scalar(e, "true", false);
    case JSON_FALSE:
        return scalar(e, "false", false);
    default:
        return scalar(e, "", true);
    }
}

int wv_config_to_yaml(const json_t *doc, char **out) {
    *out = NULL;
    json_t *d = (json_t *)doc;
    json_t *site = json_object_get(d, "site");
    if (!json_is_object(site))
        return WV_ERR_INVAL;
    json_t *y = shape_site(d, site);
    struct wv_buf o = {0};
    json_t *rev = json_object_get(d, "revision");
    char *head = rev ? wv_asprintf("# wovenet site config, exported at revision %lld.\n",
                                   (long long)json_integer_value(rev))
                     : wv_strdup("# wovenet site config.\n");
    wv_buf_add(&o, head, strlen(head));
    free(head);
    static const char note[] =
        "# Secrets are not exported: keySet / passwordSet mark a value kept in\n"
        "# the store; give crypto.key / password instead to set a new one.\n";
    wv_buf_add(&o, note, sizeof(note) - 1);

    yaml_emitter_t e;
    yaml_event_t ev;
    int rc = 0;
    if (!yaml_emitter_initialize(&e))
        abort();
    yaml_emitter_set_output(&e, write_cb, &o);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (!yaml_emitter_emit(&e, &ev))
        rc = WV_ERR_INVAL;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if (!rc && !yaml_emitter_emit(&e, &ev))
        rc = WV_ERR_INVAL;
    if (!rc)
        rc = emit(&e, y);
    yaml_document_end_event_initialize(&ev, 1);
    if (!rc && !yaml_emitter_emit(&e, &ev))
        rc = WV_ERR_INVAL;
    yaml_stream_end_event_initialize(&ev);
    if (!rc && !yaml_emitter_emit(&e, &ev))
        rc = WV_ERR_INVAL;
    yaml_emitter_delete(&e);
    json_decref(y);
    if (rc) {
        wv_buf_dispose(&o);
        return rc;
    }
    *out = wv_buf_take(&o);
    return 0;
}

/* --- canonical field path -> YAML path ----------------------------------------- */

/* Which of two spellings the user wrote in item idx of a YAML list. */
static const char *spelled(const struct ynode *list, long idx, const char *a, const char *b) {
    if (list && list->type == YN_SEQ && idx >= 0 && (size_t)idx < list->n &&
        !wv_config__ytree_get(list->items[idx], a) && wv_config__ytree_get(list->items[idx], b))
        return b;
    return a;
}

void wv_config_yaml_field(const char *text, size_t len, const char *canon, char *out, size_t size) {
    struct ynode *root = NULL;
    wv_verr ignore;
    if (text)
        wv_config__ytree_parse(text, len, &root, &ignore);
    const struct ynode *mc = wv_config__ytree_get(root, "messageChannel");
    const struct ynode *mqtt = wv_config__ytree_get(mc, "mqtt");
    const char *rest;
    long idx = -1;
    char tail[256];

#define PREFIX(p) (strncmp(canon, p, strlen(p)) == 0 && (rest = canon + strlen(p), 1))
    if (PREFIX("site.networkKeySet")) {
        snprintf(out, size, "crypto.keySet");
    } else if (PREFIX("site.networkKey")) {
        snprintf(out, size, "%s",
                 wv_config__ytree_get(mc, "cryptoKey") &&
                         !wv_config__ytree_get(wv_config__ytree_get(root, "crypto"), "key")
                     ? "messageChannel.cryptoKey"
                     : "crypto.key");
    } else if (PREFIX("site.messageChannel.protocol")) {
        snprintf(out, size, "messageChannel.protocol");
    } else if (PREFIX("site.messageChannel.brokers")) {
        bool single = wv_config__ytree_get(mqtt, "brokerServer") != NULL;
        if (sscanf(rest, "[%ld]", &idx) == 1 && !(single && idx == 0))
            snprintf(out, size, "messageChannel.mqtt.brokerServers[%ld]", single ? idx - 1 : idx);
        else
            snprintf(out, size, "messageChannel.mqtt.brokerServer");
    } else if (PREFIX("site.messageChannel.")) {
        snprintf(out, size, "messageChannel.mqtt.%s", rest);
    } else if (PREFIX("site.")) {
        snprintf(out, size, "%s", rest);
    } else if (PREFIX("tunnelSockets")) {
        const struct ynode *list =
            wv_config__ytree_get(wv_config__ytree_get(root, "tunnel"), "localSockets");
        int n = 0;
        sscanf(rest, "[%ld]%n", &idx, &n);
        /* stunServers the socket did not name came from the top-level stun: */
        if (n > 0 && strncmp(rest + n, ".stunServers", 12) == 0 && list && list->type == YN_SEQ &&
            idx >= 0 && (size_t)idx < list->n &&
            !wv_config__ytree_get(list->items[idx], "stunServers") &&
            wv_config__ytree_get(root, "stun"))
            snprintf(out, size, "stun%s", rest + n + 12);
        else
            snprintf(out, size, "tunnel.localSockets%s", rest);
    } else if (PREFIX("exposedApps")) {
        const struct ynode *list = wv_config__ytree_get(root, "localExposedApps");
        int n = 0;
        tail[0] = '\0';
        sscanf(rest, "[%ld]%n", &idx, &n);
        if (n > 0 && strcmp(rest + n, ".name") == 0)
            snprintf(tail, sizeof(tail), ".%s", spelled(list, idx, "appName", "id"));
        else if (n > 0 && strcmp(rest + n, ".appSocket") == 0)
            snprintf(tail, sizeof(tail), ".%s", spelled(list, idx, "appSocket", "socket"));
        if (tail[0])
            snprintf(out, size, "localExposedApps[%ld]%s", idx, tail);
        else
            snprintf(out, size, "localExposedApps%s", rest);
    } else if (PREFIX("remoteApps")) {
        const struct ynode *list = wv_config__ytree_get(root, "remoteApps");
        int n = 0;
        sscanf(rest, "[%ld]%n", &idx, &n);
        if (n > 0 && strcmp(rest + n, ".appName") == 0)
            snprintf(out, size, "remoteApps[%ld].%s", idx,
                     spelled(list, idx, "appName", "remoteAppId"));
        else
            snprintf(out, size, "%s", canon);
    } else if (strcmp(canon, "site") == 0) {
        snprintf(out, size, "siteName");
    } else {
        snprintf(out, size, "%s", canon);
    }
#undef PREFIX
    wv_config__ytree_free(root);
}
