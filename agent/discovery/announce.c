#include "wv/discovery.h"

#include "wv/base.h"
#include "wv/crypto.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
    [WV_MSG_ANNOUNCE] = "announce",
    [WV_MSG_OFFLINE] = "offline",
    [WV_MSG_SOCKINFO_REQUEST] = "sockinfo-request",
    [WV_MSG_SOCKINFO_REPLY] = "sockinfo-reply",
    [WV_MSG_PUNCH_REQUEST] = "punch-request",
};

/* Fields allowed per type; anything else is refused so that two versions of
 * the protocol never silently half-understand each other. */
static const char *const announce_fields[] = {
    "type", "site", "instance", "seq", "ts", "sockets", "apps", "fingerprint",
    "relay", "key", "sig", "prevKey", "prevSig", NULL};
static const char *const reply_fields[] = {
    "type", "site", "to", "instance", "seq", "ts", "sockets", "apps", "fingerprint",
    "relay", "re", "key", "sig", "prevKey", "prevSig", NULL};
static const char *const offline_fields[] = {"type", "site", "instance", "seq", "ts",
                                             "key", "sig", NULL};
static const char *const request_fields[] = {"type", "from", "to", "instance", "seq", "ts",
                                             "key", "sig", NULL};
static const char *const socket_fields[] = {"address", "port", "protocol", "detected",
                                            "kind",    "group", NULL};
/* Candidate kinds of a nat-traversal socket (index = enum wv_cand_kind). */
static const char *const cand_names[] = {"", "host", "stun", "mapped"};

const char *wv_cand_kind_name(enum wv_cand_kind k) {
    return k < WV_COUNTOF(cand_names) ? cand_names[k] : "";
}

static bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool hostname_valid(const char *s) {
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > WV_ADDRESS_MAX)
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (is_alnum(c) || (c == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

static bool address_valid(const char *s) {
    unsigned char buf[16];
    if (strnlen(s, WV_ADDRESS_MAX + 1) > WV_ADDRESS_MAX)
        return false;
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1 || hostname_valid(s);
}

static bool hex_valid(const char *s, size_t len) {
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool has_body(enum wv_msg_type t) {
    return t == WV_MSG_ANNOUNCE || t == WV_MSG_SOCKINFO_REPLY;
}

static bool has_to(enum wv_msg_type t) {
    return t == WV_MSG_SOCKINFO_REQUEST || t == WV_MSG_SOCKINFO_REPLY ||
           t == WV_MSG_PUNCH_REQUEST;
}

static bool is_request(enum wv_msg_type t) {
    return t == WV_MSG_SOCKINFO_REQUEST || t == WV_MSG_PUNCH_REQUEST;
}

static bool opt_hex(const char *s, size_t len) {
    return s[0] == '\0' || hex_valid(s, len);
}

/* "<instance>.<seq>" */
static bool reqid_valid(const char *s) {
    const char *dot = strchr(s, '.');
    if (!dot || dot - s != WV_INSTANCE_HEX_LEN || !dot[1] || strlen(dot + 1) > 20)
        return false;
    for (const char *p = dot + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    char inst[WV_INSTANCE_HEX_LEN + 1];
    memcpy(inst, s, WV_INSTANCE_HEX_LEN);
    inst[WV_INSTANCE_HEX_LEN] = '\0';
    return hex_valid(inst, WV_INSTANCE_HEX_LEN);
}

static bool sig_fields_valid(const wv_msg *m) {
    if (!opt_hex(m->key, WV_PUBKEY_HEX_LEN) || !opt_hex(m->sig, WV_SIG_HEX_LEN) ||
        !opt_hex(m->prev_key, WV_PUBKEY_HEX_LEN) || !opt_hex(m->prev_sig, WV_SIG_HEX_LEN))
        return false;
    if (m->sig[0] && !m->key[0])
        return false; /* a signature without its key */
    if (!m->prev_key[0] != !m->prev_sig[0])
        return false;
    bool body = m->type == WV_MSG_ANNOUNCE || m->type == WV_MSG_SOCKINFO_REPLY;
    if (!body && m->prev_key[0])
        return false;
    if (m->type == WV_MSG_SOCKINFO_REPLY ? (m->re[0] && !reqid_valid(m->re)) : m->re[0] != '\0')
        return false;
    return true;
}

static bool msg_valid(const wv_msg *m) {
    if (m->type < WV_MSG_ANNOUNCE || m->type > WV_MSG_PUNCH_REQUEST)
        return false;
    if (!sig_fields_valid(m))
        return false;
    if (!wv_valid_name(m->site) || !hex_valid(m->instance, WV_INSTANCE_HEX_LEN))
        return false;
    if (m->seq > (uint64_t)INT64_MAX || m->ts < 0)
        return false;
    if (has_to(m->type) ? !wv_valid_name(m->to) : m->to[0] != '\0')
        return false;
    if (!has_body(m->type))
        return m->nsockets == 0 && m->napps == 0 && !m->relay;
    if (m->nsockets > WV_ANNOUNCE_MAX_SOCKETS || m->napps > WV_ANNOUNCE_MAX_APPS)
        return false;
    for (size_t i = 0; i < m->nsockets; i++)
        if (!address_valid(m->sockets[i].address) || m->sockets[i].port == 0 ||
            m->sockets[i].kind > WV_CAND_MAPPED ||
            m->sockets[i].group >= WV_ANNOUNCE_MAX_SOCKETS)
            return false;
    for (size_t i = 0; i < m->napps; i++)
        if (!wv_valid_name(m->apps[i]))
            return false;
    return hex_valid(m->fingerprint, WV_FINGERPRINT_HEX_LEN);
}

static bool only_fields(json_t *obj, const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return false;
    }
    return true;
}

/* Copies a JSON string member into a fixed buffer; false if missing, not a
 * string, containing NUL or too long. */
static bool get_str(json_t *obj, const char *key, char *dst, size_t cap) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    if (n >= cap || strlen(json_string_value(v)) != n)
        return false;
    memcpy(dst, json_string_value(v), n + 1);
    return true;
}

static bool get_uint(json_t *obj, const char *key, uint64_t *dst) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *dst = (uint64_t)json_integer_value(v);
    return true;
}

static bool parse_sockets(json_t *arr, wv_msg *m) {
    if (!json_is_array(arr) || json_array_size(arr) > WV_ANNOUNCE_MAX_SOCKETS)
        return false;
    m->sockets = wv_calloc(json_array_size(arr), sizeof *m->sockets);
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        wv_msg_socket *o = &m->sockets[i];
        char proto[8];
        uint64_t port;
        json_t *det = json_object_get(s, "detected");
        if (!json_is_object(s) || !only_fields(s, socket_fields) ||
            !get_str(s, "address", o->address, sizeof o->address) || !get_uint(s, "port", &port) ||
            port == 0 || port > 65535 || !get_str(s, "protocol", proto, sizeof proto) ||
            strcmp(proto, "quic") != 0 || !json_is_boolean(det))
            return false;
        o->port = (uint16_t)port;
        o->detected = json_is_true(det);
        /* A nat-traversal socket's candidates carry both or neither. */
        json_t *kind = json_object_get(s, "kind"), *group = json_object_get(s, "group");
        if (!kind != !group)
            return false;
        if (kind) {
            if (!json_is_string(kind) || !json_is_integer(group) || json_integer_value(group) < 0 ||
                json_integer_value(group) >= WV_ANNOUNCE_MAX_SOCKETS)
                return false;
            for (size_t k = 1; k < WV_COUNTOF(cand_names); k++)
                if (strcmp(json_string_value(kind), cand_names[k]) == 0)
                    o->kind = (enum wv_cand_kind)k;
            if (o->kind == WV_CAND_NONE)
                return false;
            o->group = (uint8_t)json_integer_value(group);
        }
        m->nsockets++;
    }
    return true;
}

static bool parse_apps(json_t *arr, wv_msg *m) {
    if (!json_is_array(arr) || json_array_size(arr) > WV_ANNOUNCE_MAX_APPS)
        return false;
    m->apps = wv_calloc(json_array_size(arr), sizeof *m->apps);
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a) {
        if (!json_is_string(a) || json_string_length(a) > WV_NAME_MAX ||
            strlen(json_string_value(a)) != json_string_length(a))
            return false;
        m->apps[m->napps++] = wv_strdup(json_string_value(a));
    }
    return true;
}

static bool parse_obj(json_t *root, wv_msg *m) {
    char type[32];
    if (!json_is_object(root) || !get_str(root, "type", type, sizeof type))
        return false;
    m->type = 0;
    for (int t = WV_MSG_ANNOUNCE; t <= WV_MSG_PUNCH_REQUEST; t++)
        if (strcmp(type, type_names[t]) == 0)
            m->type = t;
    static const char *const *const fields[] = {
        [WV_MSG_ANNOUNCE] = announce_fields,
        [WV_MSG_OFFLINE] = offline_fields,
        [WV_MSG_SOCKINFO_REQUEST] = request_fields,
        [WV_MSG_SOCKINFO_REPLY] = reply_fields,
        [WV_MSG_PUNCH_REQUEST] = request_fields,
    };
    if (m->type == 0 || !only_fields(root, fields[m->type]))
        return false;
    const char *sender = is_request(m->type) ? "from" : "site";
    uint64_t ts;
    if (!get_str(root, sender, m->site, sizeof m->site) ||
        !get_str(root, "instance", m->instance, sizeof m->instance) ||
        !get_uint(root, "seq", &m->seq) || !get_uint(root, "ts", &ts))
        return false;
    m->ts = (int64_t)ts;
    if (has_to(m->type) && !get_str(root, "to", m->to, sizeof m->to))
        return false;
    static const struct {
        const char *name;
        size_t off, cap;
    } opt[] = {
        {"key", offsetof(wv_msg, key), sizeof(((wv_msg *)0)->key)},
        {"sig", offsetof(wv_msg, sig), sizeof(((wv_msg *)0)->sig)},
        {"re", offsetof(wv_msg, re), sizeof(((wv_msg *)0)->re)},
        {"prevKey", offsetof(wv_msg, prev_key), sizeof(((wv_msg *)0)->prev_key)},
        {"prevSig", offsetof(wv_msg, prev_sig), sizeof(((wv_msg *)0)->prev_sig)},
    };
    for (size_t i = 0; i < WV_COUNTOF(opt); i++)
        if (json_object_get(root, opt[i].name) &&
            (!get_str(root, opt[i].name, (char *)m + opt[i].off, opt[i].cap) ||
             !((char *)m + opt[i].off)[0]))
            return false;
    if (has_body(m->type) && (!parse_sockets(json_object_get(root, "sockets"), m) ||
                              !parse_apps(json_object_get(root, "apps"), m) ||
                              !get_str(root, "fingerprint", m->fingerprint, sizeof m->fingerprint)))
        return false;
    /* Optional, and only ever true: one encoding per message (signatures). */
    json_t *relay = json_object_get(root, "relay");
    if (relay && !json_is_true(relay))
        return false;
    m->relay = relay != NULL;
    return msg_valid(m);
}

int wv_msg_parse(const char *json, size_t len, wv_msg *out) {
    memset(out, 0, sizeof *out);
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return WV_ERR_PROTO;
    bool ok = parse_obj(root, out);
    json_decref(root);
    if (!ok) {
        wv_msg_dispose(out);
        return WV_ERR_PROTO;
    }
    return 0;
}

char *wv_msg_encode(const wv_msg *m) {
    if (!msg_valid(m))
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type_names[m->type]));
    json_object_set_new(o, is_request(m->type) ? "from" : "site",
                        json_string(m->site));
    if (has_to(m->type))
        json_object_set_new(o, "to", json_string(m->to));
    json_object_set_new(o, "instance", json_string(m->instance));
    json_object_set_new(o, "seq", json_integer((json_int_t)m->seq));
    json_object_set_new(o, "ts", json_integer((json_int_t)m->ts));
    if (has_body(m->type)) {
        json_t *socks = json_array();
        for (size_t i = 0; i < m->nsockets; i++) {
            const wv_msg_socket *ms = &m->sockets[i];
            json_t *so = json_pack("{s:s, s:i, s:s, s:b}", "address", ms->address, "port",
                                   (int)ms->port, "protocol", "quic", "detected",
                                   (int)ms->detected);
            if (ms->kind != WV_CAND_NONE) {
                json_object_set_new(so, "kind", json_string(wv_cand_kind_name(ms->kind)));
                json_object_set_new(so, "group", json_integer(ms->group));
            }
            json_array_append_new(socks, so);
        }
        json_object_set_new(o, "sockets", socks);
        json_t *apps = json_array();
        for (size_t i = 0; i < m->napps; i++)
            json_array_append_new(apps, json_string(m->apps[i]));
        json_object_set_new(o, "apps", apps);
        json_object_set_new(o, "fingerprint", json_string(m->fingerprint));
        if (m->relay)
            json_object_set_new(o, "relay", json_true());
    }
    if (m->re[0])
        json_object_set_new(o, "re", json_string(m->re));
    if (m->prev_key[0]) {
        json_object_set_new(o, "prevKey", json_string(m->prev_key));
        json_object_set_new(o, "prevSig", json_string(m->prev_sig));
    }
    if (m->key[0])
        json_object_set_new(o, "key", json_string(m->key));
    if (m->sig[0])
        json_object_set_new(o, "sig", json_string(m->sig));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

void wv_msg_copy(wv_msg *dst, const wv_msg *src) {
    *dst = *src;
    dst->sockets = NULL;
    dst->apps = NULL;
    if (src->nsockets) {
        dst->sockets = wv_malloc(src->nsockets * sizeof *dst->sockets);
        memcpy(dst->sockets, src->sockets, src->nsockets * sizeof *dst->sockets);
    }
    if (src->napps) {
        dst->apps = wv_malloc(src->napps * sizeof *dst->apps);
        for (size_t i = 0; i < src->napps; i++)
            dst->apps[i] = wv_strdup(src->apps[i]);
    }
}

void wv_msg_dispose(wv_msg *m) {
    for (size_t i = 0; i < m->napps; i++)
        free(m->apps[i]);
    free(m->apps);
    free(m->sockets);
    memset(m, 0, sizeof *m);
}

int wv_msg_add_app(wv_msg *m, const char *name) {
    if (!wv_valid_name(name))
        return WV_ERR_INVAL;
    if (m->napps >= WV_ANNOUNCE_MAX_APPS)
        return WV_ERR_LIMIT;
    m->apps = wv_realloc(m->apps, (m->napps + 1) * sizeof *m->apps);
    m->apps[m->napps++] = wv_strdup(name);
    return 0;
}

int wv_msg_add_candidate(wv_msg *m, const char *address, uint16_t port, enum wv_cand_kind kind,
                         unsigned group) {
    if (kind == WV_CAND_NONE || kind > WV_CAND_MAPPED || group >= WV_ANNOUNCE_MAX_SOCKETS)
        return WV_ERR_INVAL;
    int rc = wv_msg_add_socket(m, address, port, kind != WV_CAND_HOST);
    if (rc == 0) {
        m->sockets[m->nsockets - 1].kind = kind;
        m->sockets[m->nsockets - 1].group = (uint8_t)group;
    }
    return rc;
}

int wv_msg_add_socket(wv_msg *m, const char *address, uint16_t port, bool detected) {
    if (!address || !address_valid(address) || port == 0)
        return WV_ERR_INVAL;
    if (m->nsockets >= WV_ANNOUNCE_MAX_SOCKETS)
        return WV_ERR_LIMIT;
    m->sockets = wv_realloc(m->sockets, (m->nsockets + 1) * sizeof *m->sockets);
    wv_msg_socket *s = &m->sockets[m->nsockets++];
    memset(s, 0, sizeof *s);
    strcpy(s->address, address);
    s->port = port;
    s->detected = detected;
    return 0;
}

int wv_msg_new_instance(char out[WV_INSTANCE_HEX_LEN + 1]) {
    uint8_t r[WV_INSTANCE_HEX_LEN / 2];
    if (gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof r) < 0)
        return WV_ERR_CRYPTO;
    wv_hex(r, sizeof r, out);
    return 0;
}

bool wv_msg_newer(const wv_msg *held, const wv_msg *cand) {
    if (strcmp(held->instance, cand->instance) == 0)
        return cand->seq > held->seq;
    return cand->ts > held->ts;
}

/* The replay cache: a ring of the last `capacity` accepted (instance, seq)
 * pairs. A linear scan is fine at inbox rates (a few messages per minute per
 * peer) and keeps the memory bound obvious. */
struct wv_replay {
    size_t cap, len, next;
    int64_t window_ms;
    struct entry {
        char instance[WV_INSTANCE_HEX_LEN + 1];
        uint64_t seq;
    } * e;
};

wv_replay *wv_replay_new(size_t capacity, int64_t window_ms) {
    wv_replay *r = wv_calloc(1, sizeof *r);
    r->cap = capacity ? capacity : 1;
    r->window_ms = window_ms;
    r->e = wv_calloc(r->cap, sizeof *r->e);
    return r;
}

void wv_replay_free(wv_replay *r) {
    if (!r)
        return;
    free(r->e);
    free(r);
}

int wv_replay_check(wv_replay *r, const char *instance, uint64_t seq, int64_t ts, int64_t now_ms) {
    if (ts < now_ms - r->window_ms || ts > now_ms + r->window_ms)
        return WV_ERR_PROTO;
    for (size_t i = 0; i < r->len; i++)
        if (r->e[i].seq == seq && strcmp(r->e[i].instance, instance) == 0)
            return WV_ERR_PROTO;
    struct entry *e = &r->e[r->next];
    snprintf(e->instance, sizeof e->instance, "%s", instance);
    e->seq = seq;
    r->next = (r->next + 1) % r->cap;
    if (r->len < r->cap)
        r->len++;
    return 0;
}

/* --- Signatures ------------------------------------------------------------- */

char *wv_msg_signing_text(const wv_msg *m) {
    wv_msg c = *m; /* shallow: encode only reads */
    c.sig[0] = '\0';
    char *json = wv_msg_encode(&c);
    if (!json)
        return NULL;
    char *out = wv_asprintf("%s%s", WV_SIGN_CONTEXT, json);
    free(json);
    return out;
}

int wv_msg_sign(wv_msg *m, const wv_identity *id) {
    uint8_t pub[WV_PUBKEY_LEN], sig[WV_SIG_LEN];
    if (wv_identity_public_key(id, pub) != 0)
        return WV_ERR_CRYPTO;
    wv_hex(pub, sizeof pub, m->key);
    m->sig[0] = '\0';
    char *text = wv_msg_signing_text(m);
    if (!text)
        return WV_ERR_INVAL;
    int rc = wv_identity_sign(id, text, strlen(text), sig);
    free(text);
    if (rc == 0)
        wv_hex(sig, sizeof sig, m->sig);
    return rc;
}

int wv_msg_verify(const wv_msg *m) {
    if (!m->key[0] || !m->sig[0])
        return WV_ERR_NOTFOUND;
    uint8_t pub[WV_PUBKEY_LEN], sig[WV_SIG_LEN];
    if (wv_unhex(m->key, pub, sizeof pub) != 0 || wv_unhex(m->sig, sig, sizeof sig) != 0)
        return WV_ERR_AUTH;
    char *text = wv_msg_signing_text(m);
    if (!text)
        return WV_ERR_AUTH;
    int rc = wv_ed25519_verify(pub, text, strlen(text), sig);
    free(text);
    return rc;
}

