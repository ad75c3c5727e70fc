#include "wv/base.h"
#include "wv/model.h"
#include "wv/tunnel.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

int wv_frame_parse(const uint8_t *buf, size_t len, size_t *consumed, json_t **out) {
    if (len < 2)
        return WV_ERR_AGAIN;
    size_t n = wv_get16(buf);
    if (n == 0 || n > WV_FRAME_MAX)
        return WV_ERR_PROTO;
    if (len < 2 + n)
        return WV_ERR_AGAIN;
    json_error_t e;
    json_t *obj = json_loadb((const char *)buf + 2, n, JSON_REJECT_DUPLICATES, &e);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        return WV_ERR_PROTO;
    }
    *consumed = 2 + n;
    *out = obj;
    return 0;
}

int wv_frame_encode(const json_t *obj, uint8_t **out, size_t *outlen) {
    char *s = json_dumps(obj, JSON_COMPACT);
    if (!s)
        return WV_ERR_INVAL;
    size_t n = strlen(s);
    if (n > WV_FRAME_MAX) {
        free(s);
        return WV_ERR_TOOBIG;
    }
    uint8_t *b = wv_malloc(n + 2);
    wv_put16(b, (uint16_t)n);
    memcpy(b + 2, s, n);
    free(s);
    *out = b;
    *outlen = n + 2;
    return 0;
}

int wv_app_header_from_json(const json_t *obj, struct wv_app_header *h, const char **why) {
    memset(h, 0, sizeof(*h));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "app") != 0 && strcmp(key, "target") != 0) {
            *why = "unknown field in header";
            return WV_ERR_PROTO;
        }
    }
    const char *app = json_string_value(json_object_get(obj, "app"));
    if (!app || !wv_valid_name(app)) {
        *why = "header needs a valid app name";
        return WV_ERR_PROTO;
    }
    snprintf(h->app, sizeof(h->app), "%s", app);
    json_t *t = json_object_get(obj, "target");
    if (t) {
        struct sockaddr_storage ss;
        const char *ts = json_string_value(t);
        if (!ts || strlen(ts) >= sizeof(h->target) || wv_parse_hostport(ts, &ss) != 0) {
            *why = "target must be IP:PORT";
            return WV_ERR_PROTO;
        }
        snprintf(h->target, sizeof(h->target), "%s", ts);
    }
    return 0;
}

json_t *wv_app_header_to_json(const struct wv_app_header *h) {
    json_t *o = json_pack("{s:s}", "app", h->app);
    if (h->target[0])
        json_object_set_new(o, "target", json_string(h->target));
    return o;
}

json_t *wv_status_json(const char *code, const char *message) {
    if (!code || strcmp(code, WV_STATUS_OK) == 0)
        return json_pack("{s:s}", "status", "ok");
    return json_pack("{s:s, s:s, s:s}", "status", "error", "code", code, "message",
                     message ? message : code);
}

int wv_status_parse(const json_t *obj, const char **code, const char **message) {
    const char *st = json_string_value(json_object_get(obj, "status"));
    if (!st)
        return WV_ERR_PROTO;
    if (strcmp(st, "ok") == 0)
        return 0;
    if (strcmp(st, "error") != 0)
        return WV_ERR_PROTO;
    *code = json_string_value(json_object_get(obj, "code"));
    *message = json_string_value(json_object_get(obj, "message"));
    if (!*code)
        return WV_ERR_PROTO;
    if (!*message)
        *message = *code;
    return WV_ERR_INVAL;
}

static const char proof_magic[4] = {'W', 'V', 'P', '1'};
static const char proof_ctx[] = "wovenet/1 proof";

static int proof_mac(const uint8_t key[32], const uint8_t exporter[32], uint8_t role,
                     const char *site, size_t nlen, uint8_t mac[32]) {
    gnutls_hmac_hd_t h;
    if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, key, 32) < 0)
        return WV_ERR_CRYPTO;
    uint8_t hdr[2] = {role, (uint8_t)nlen};
    gnutls_hmac(h, proof_ctx, sizeof(proof_ctx) - 1);
    gnutls_hmac(h, exporter, 32);
    gnutls_hmac(h, hdr, 2);
    gnutls_hmac(h, site, nlen);
    gnutls_hmac_deinit(h, mac);
    return 0;
}

int wv_proof_build(const uint8_t auth_key[32], const uint8_t exporter[32], enum wv_role role,
                   const char *site, uint8_t *out) {
    size_t nlen = strlen(site);
    if (nlen == 0 || nlen > 255)
        return WV_ERR_INVAL;
    memcpy(out, proof_magic, 4);
    out[4] = (uint8_t)role;
    out[5] = (uint8_t)nlen;
    memcpy(out + 6, site, nlen);
    if (proof_mac(auth_key, exporter, (uint8_t)role, site, nlen, out + 6 + nlen) != 0)
        return WV_ERR_CRYPTO;
    return (int)(6 + nlen + 32);
}

int wv_proof_verify(const uint8_t auth_key[32], const uint8_t exporter[32], enum wv_role want_role,
                    const uint8_t *buf, size_t len, char *site) {
    if (len < 6)
        return memcmp(buf, proof_magic, WV_MIN(len, 4)) == 0 ? WV_ERR_AGAIN : WV_ERR_PROTO;
    if (memcmp(buf, proof_magic, 4) != 0 || buf[4] > 1 || buf[5] == 0)
        return WV_ERR_PROTO;
    size_t nlen = buf[5];
    if (len < 6 + nlen + 32)
        return WV_ERR_AGAIN;
    char name[256];
    memcpy(name, buf + 6, nlen);
    name[nlen] = '\0';
    if (strlen(name) != nlen || !wv_valid_name(name))
        return WV_ERR_PROTO;
    uint8_t mac[32];
    if (proof_mac(auth_key, exporter, buf[4], name, nlen, mac) != 0)
        return WV_ERR_CRYPTO;
    int bad = wv_ct_memcmp(mac, buf + 6 + nlen, 32);
    wv_memwipe(mac, sizeof(mac));
    if (bad || buf[4] != (uint8_t)want_role)
        return WV_ERR_AUTH;
    memcpy(site, name, nlen + 1);
    return (int)(6 + nlen + 32);
}
