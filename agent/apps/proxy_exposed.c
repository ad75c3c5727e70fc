/* The exposed side of an app stream: header, app lookup, range check,
 * connecting to the app, and the status reply (docs/PROTOCOL.md). */
#include "proxy_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wv_apps__refuse(pconn *c, const char *code, const char *message) {
    wv_proxy *p = c->p;
    WV_INFO(p->log, SUB, "site %s app %s: refused: %s (%s)", c->peer, c->name[0] ? c->name : "?",
            code, message);
    if (strcmp(code, WV_ERRC_UNKNOWN_APP) == 0)
        p->stats.refused_unknown_app++;
    else if (strcmp(code, WV_ERRC_TARGET_DENIED) == 0)
        p->stats.refused_target_denied++;
    else if (strcmp(code, WV_ERRC_CONNECT_TIMEOUT) == 0)
        p->stats.refused_timeout++;
    else if (strcmp(code, WV_ERRC_BAD_HEADER) == 0)
        p->stats.refused_bad_header++;
    else if (strcmp(code, WV_ERRC_FORBIDDEN) == 0)
        p->stats.refused_forbidden++;
    else if (strcmp(code, WV_ERRC_LIMIT) != 0)
        p->stats.refused_connect++;
    c->st = P_REFUSED;
    wv_apps__close_timer(c);
    wv_apps__close_sock(c, false);
    wv_apps__drop_queue(c);
    free(c->hbuf);
    c->hbuf = NULL;
    json_t *st = wv_status_json(code, message);
    uint8_t *b = NULL;
    size_t blen = 0;
    int rv = wv_frame_encode(st, &b, &blen);
    json_decref(st);
    /* No local side: the FIN follows the status as if the app said EOF. */
    c->local_eof = true;
    if (rv != 0 || !wv_apps__push_out(c, b, blen, true)) {
        free(b);
        if (rv != 0)
            wv_apps__end(c, false);
        return;
    }
    free(b);
    if (c->rlen == c->roff)
        wv_apps__send_fin(c);
}

/* A peer's connection could not reach the app: the app's status says so
 * (the peer only sees a refusal). */
static void target_failed(pconn *c, const char *why) {
    if (!c->counters)
        return;
    c->counters->target_failures++;
    snprintf(c->counters->target_error, sizeof(c->counters->target_error), "%s", why);
}

static void on_timeout(uv_timer_t *t) {
    pconn *c = t->data;
    if (c->st == P_HEADER) {
        wv_apps__refuse(c, WV_ERRC_BAD_HEADER, "no header in time");
    } else if (c->st == P_CONNECTING) {
        target_failed(c, "connection timed out");
        wv_apps__refuse(c, WV_ERRC_CONNECT_TIMEOUT, "connecting to the app timed out");
    }
}

static void on_connect(uv_connect_t *req, int status) {
    pconn *c = req->data;
    if (status == UV_ECANCELED || c->st != P_CONNECTING)
        return;
    if (status < 0) {
        target_failed(c, uv_strerror(status));
        wv_apps__refuse(c, WV_ERRC_CONNECT_REFUSED, uv_strerror(status));
        return;
    }
    if (c->counters)
        c->counters->target_error[0] = '\0';
    c->sock_connected = true;
    wv_apps__close_timer(c);
    if (!c->sock_unix)
        uv_tcp_nodelay((uv_tcp_t *)c->sock, 1);
    json_t *st = wv_status_json(WV_STATUS_OK, NULL);
    uint8_t *b = NULL;
    size_t blen = 0;
    int rv = wv_frame_encode(st, &b, &blen);
    json_decref(st);
    if (rv != 0) {
        wv_apps__abort(c, true);
        return;
    }
    bool ok = wv_apps__push_out(c, b, blen, true);
    free(b);
    if (!ok)
        return;
    c->st = P_SPLICE;
    c->counted = true;
    wv_apps__count(c, 0, 0, +1);
    WV_DEBUG(c->p->log, SUB, "site %s app %s: connected", c->peer, c->name);
    /* The pipelined payload that waited under flow control goes out now. */
    wv_apps__issue_queued(c);
    wv_apps__maybe_shutdown(c);
    wv_apps__start_reading(c);
}

/* Is target allowed by the range app's portRange and addressRange? */
static bool target_allowed(const json_t *app, const struct sockaddr *sa) {
    uint16_t port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                                   : ((const struct sockaddr_in6 *)sa)->sin6_port);
    bool port_ok = false, addr_ok = false;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(app, "portRange"), i, v) {
        uint16_t lo = 0, hi = 0;
        if (json_is_integer(v))
            lo = hi = (uint16_t)json_integer_value(v);
        else if (wv_parse_port_range(json_string_value(v), &lo, &hi) != 0)
            continue;
        if (port >= lo && port <= hi)
            port_ok = true;
    }
    json_array_foreach(json_object_get(app, "addressRange"), i, v) {
        struct wv_cidr cidr;
        if (wv_parse_cidr(json_string_value(v), &cidr) == 0 && wv_cidr_contains(&cidr, sa))
            addr_ok = true;
    }
    return port_ok && addr_ok;
}

static void start_connect(pconn *c, const struct wv_app_socket *as) {
    wv_proxy *p = c->p;
    if (as->is_unix)
        snprintf(c->addr, sizeof(c->addr), "unix:%s", as->path);
    else
        wv_addr_format((const struct sockaddr *)&as->addr, c->addr);
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } *h = wv_malloc(sizeof(*h));
    c->sock = (uv_stream_t *)h;
    c->sock_unix = as->is_unix;
    if (as->is_unix)
        uv_pipe_init(p->loop, &h->pipe, 0);
    else
        uv_tcp_init(p->loop, &h->tcp);
    c->sock->data = c;
    c->handles++;
    c->sock_open = true;
    c->creq.data = c;
    c->st = P_CONNECTING;
    uv_timer_start(&c->timer, on_timeout, p->o.connect_timeout_ms, 0);
    if (as->is_unix) {
        uv_pipe_connect(&c->creq, &h->pipe, as->path, on_connect);
        return;
    }
    int rv = uv_tcp_connect(&c->creq, &h->tcp, (const struct sockaddr *)&as->addr, on_connect);
    if (rv != 0)
        wv_apps__refuse(c, WV_ERRC_CONNECT_REFUSED, uv_strerror(rv));
}

void wv_apps__on_header(pconn *c, json_t *obj) {
    struct wv_app_header h;
    const char *why = NULL;
    if (wv_app_header_from_json(obj, &h, &why) != 0) {
        wv_apps__refuse(c, WV_ERRC_BAD_HEADER, why);
        return;
    }
    snprintf(c->name, sizeof(c->name), "%s", h.app);
    struct wv_app_counters *counters = NULL;
    const json_t *app = c->p->cbs.find_exposed(c->p, h.app, &counters, c->p->user);
    wv_app_counters_unref(c->counters);
    c->counters = wv_app_counters_ref(counters);
    if (!app) {
        wv_apps__refuse(c, WV_ERRC_UNKNOWN_APP, "no such exposed app");
        return;
    }
    json_t *allowed = json_object_get(app, "allowedSites");
    if (allowed) {
        bool ok = false;
        size_t i;
        json_t *v;
        json_array_foreach(allowed, i, v) ok = ok || strcmp(json_string_value(v), c->peer) == 0;
        if (!ok) {
            wv_apps__refuse(c, WV_ERRC_FORBIDDEN, "this site may not use the app (allowedSites)");
            return;
        }
    }
    json_int_t max = json_integer_value(json_object_get(app, "maxConnections"));
    if (max <= 0)
        max = WV_EXPOSED_MAX_CONNS_DEFAULT;
    json_int_t open = 0;
    for (pconn *o = c->p->conns; o; o = o->next)
        open += o != c && o->exposed && (o->st == P_CONNECTING || o->st == P_SPLICE) &&
                strcmp(o->name, h.app) == 0;
    if (open >= max) {
        c->p->stats.refused_app_limit++;
        if (counters)
            counters->refused_limit++;
        char msg[96];
        snprintf(msg, sizeof(msg), "the app has %lld connections open (maxConnections)",
                 (long long)max);
        wv_apps__refuse(c, WV_ERRC_LIMIT, msg);
        return;
    }
    struct wv_app_socket as;
    memset(&as, 0, sizeof(as));
    const char *mode = json_string_value(json_object_get(app, "mode"));
    if (mode && strcmp(mode, "range") == 0) {
        if (!h.target[0] || wv_parse_hostport(h.target, &as.addr) != 0) {
            wv_apps__refuse(c, WV_ERRC_TARGET_DENIED, "a range app needs a target IP:PORT");
            return;
        }
        if (!target_allowed(app, (const struct sockaddr *)&as.addr)) {
            wv_apps__refuse(c, WV_ERRC_TARGET_DENIED,
                            "target outside the app's address or port ranges");
            return;
        }
    } else {
        /* A target sent to a single app is ignored: the app decides. */
        const char *s = json_string_value(json_object_get(app, "appSocket"));
        if (!s || wv_parse_app_socket(s, &as, NULL) != 0) {
            wv_apps__refuse(c, WV_ERRC_CONNECT_REFUSED, "the app's socket is invalid");
            return;
        }
    }
    start_connect(c, &as);
}

void wv_proxy_accept(wv_proxy *p, const char *site, wv_quic_conn *conn, int64_t sid) {
    if (p->closing) {
        wv_quic_stream_reset(conn, sid, WV_APPERR_ABORTED);
        return;
    }
    pconn *c = wv_apps__new(p, true);
    snprintf(c->peer, sizeof(c->peer), "%s", site ? site : "?");
    c->qc = conn;
    c->sid = sid;
    c->stream_live = true;
    c->st = P_HEADER;
    wv_quic_stream_set_user(conn, sid, c);
    /* One timer bounds both the header wait and the connect. */
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    c->timer_open = true;
    c->handles++;
    uv_timer_start(&c->timer, on_timeout, p->o.connect_timeout_ms, 0);
    /* Bounds that need no header: this peer's streams, descriptors. */
    uint32_t per_peer = p->o.max_streams_per_peer ? p->o.max_streams_per_peer
                                                  : WV_LIMIT_STREAMS_PER_PEER;
    uint32_t mine = 0, open = 0;
    for (pconn *o = p->conns; o; o = o->next) {
        if (o == c || o->st == P_DEAD)
            continue;
        open += o->sock_open;
        /* A refused stream only waits for its FIN: it holds no socket. */
        mine += o->exposed && o->st != P_REFUSED && strcmp(o->peer, c->peer) == 0;
    }
    if (mine >= per_peer) {
        p->stats.refused_peer_limit++;
        char msg[96];
        snprintf(msg, sizeof(msg), "this site has %u app streams open here (limits.streamsPerPeer)",
                 per_peer);
        wv_apps__refuse(c, WV_ERRC_LIMIT, msg);
    } else if (p->o.max_open && open >= p->o.max_open) {
        p->stats.refused_open_limit++;
        wv_apps__refuse(c, WV_ERRC_LIMIT, "the site is at its connection limit (descriptors)");
    }
}

void wv_proxy_set_limits(wv_proxy *p, uint32_t max_streams_per_peer, uint32_t max_open) {
    p->o.max_streams_per_peer = max_streams_per_peer;
    p->o.max_open = max_open;
}
