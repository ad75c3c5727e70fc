#ifndef PROXY_HARNESS_H
#define PROXY_HARNESS_H
/* Harness of proxy_test.c. The proxy over a real QUIC pair (quic/quic_pair.h:
 * two endpoints on one loop over loopback), its stream events forwarded to
 * the wv_stream_ops handlers by the tunnel's own forwarding
 * (wv_tunnel_forward_*), the remote apps' listeners the real wv_applisten,
 * and real TCP/unix clients and target servers.
 *
 * Side A exposes apps (proxy pa), side B dials and runs the remote apps'
 * listeners (proxy pb). */
#include <jansson.h>

#include "quic/quic_pair.h"

#include "wv/apps.h"
#include "wv/base.h"
#include "wv/tunnel.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXBUF (256 * 1024)
#define CHUNK 65536

typedef struct fx fx;
typedef struct tconn tconn;

/* A TCP or unix stream handle. */
union ustream {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_handle_t h;
    uv_stream_t s;
};

enum smode { S_ECHO, S_SOURCE, S_REPLY_AFTER_EOF };

/* A test endpoint of a TCP/unix connection: a client, or one accepted by a
 * target server. Sends send_len pattern bytes (seed send_seed) then shuts
 * its write side; checks what it reads against recv_seed; echoes instead
 * when echo is set. */
struct tconn {
    union ustream u;
    uv_connect_t creq;
    uv_shutdown_t sreq;
    uv_timer_t delay;
    fx *f;
    struct srv *srv; /* for accepted ones */
    int handles;
    bool is_unix, echo, reply_after_eof, hash;
    uint64_t send_len, sent, send_seed;
    size_t queued; /* bytes in uv_write requests */
    bool shut_started, shut_done, tx_err;
    uint64_t recv_seed, recvd;
    bool recv_bad, rx_eof, rx_err, reading, closing, closed, delay_on;
    int rx_errcode;
    uint64_t read_delay_ms;
    gnutls_hash_hd_t hin, hout;
    uint8_t din[32], dout[32];
    void (*on_closed)(tconn *t);
};

struct srv {
    union ustream u;
    fx *f;
    enum smode mode;
    bool is_unix;
    uint64_t src_len, src_seed, sink_seed;
    int accepted, closed, bad, resets;
    uint64_t sunk, sent_total;
    uint8_t din[32], dout[32];
    bool hash;
    tconn *last;
    int port;
};

/* A remote app's local listener on side B: a wv_applisten handing what it
 * accepts to proxy pb, as the reconciler does. */
struct lsn {
    fx *f;
    wv_applisten *l;
    const char *app, *target;
    int port; /* TCP */
};

struct fx {
    uv_loop_t loop;
    qpair q; /* q.a is side A's endpoint, q.b side B's */
    wv_log *log;
    wv_quic_conn *ca, *cb;
    int hs, proxies_closed;
    wv_applisten *lsns[16]; /* closed by fx_free */
    int nlsns;
    wv_proxy *pa, *pb;
    json_t *apps;
    char dir[64];
    /* The proxies' counters: A's exposed apps all count into ka, the
     * connections of B's listeners into kb. active returns to 0. */
    struct wv_app_counters *ka, *kb;
    /* When set, streams opened on side A get a raw handler answering this
     * instead of the proxy (a misbehaving exposed side). */
    const uint8_t *raw_reply;
    size_t raw_reply_len;
    struct raw *raw_a;
    bool site_down; /* the stream opener finds no channel */
    int seq_left, seq_bad, seq_port;
    tconn seq;
    uint8_t rbuf[CHUNK];
};

/* ---- pattern ---- */

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Byte off of stream seed, computable at any offset. */
static void gen(uint64_t seed, uint64_t off, uint8_t *buf, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint64_t pos = off + i;
        uint64_t w = mix(seed * 0x100000001b3ull + (pos >> 3));
        unsigned b = pos & 7;
        size_t n = WV_MIN((size_t)(8 - b), len - i);
        uint8_t bytes[8];
        memcpy(bytes, &w, 8);
        memcpy(buf + i, bytes + b, n);
        i += n;
    }
}

/* ---- raw stream handler: a hand-written peer ---- */

struct raw {
    const struct wv_stream_ops *ops; /* tunnel.h convention */
    fx *f;
    wv_quic_conn *qc;
    int64_t sid;
    uint8_t buf[16384];
    size_t len;
    bool fin, reset, closed, replied;
};

static void raw_data(void *h, const uint8_t *d, size_t len, bool fin) {
    struct raw *r = h;
    size_t n = WV_MIN(len, sizeof(r->buf) - r->len);
    memcpy(r->buf + r->len, d, n);
    r->len += n;
    r->fin |= fin;
    wv_quic_stream_consumed(r->qc, r->sid, len);
    if (r->f->raw_reply && !r->replied) {
        r->replied = true;
        wv_quic_stream_write(r->qc, r->sid, r->f->raw_reply, r->f->raw_reply_len, true);
    }
}
static void raw_reset(void *h, uint64_t err) {
    struct raw *r = h;
    r->reset = true;
    wv_quic_stream_reset(r->qc, r->sid, err);
}
static void raw_close(void *h, uint64_t err) {
    ((struct raw *)h)->closed = true;
}
static void raw_writable(void *h) {}
static const struct wv_stream_ops raw_ops = {raw_data, raw_reset, raw_close, raw_writable};

/* Opens a raw stream from side B to the proxy on side A. */
static void raw_open(fx *f, struct raw *r) {
    memset(r, 0, sizeof(*r));
    r->ops = &raw_ops;
    r->f = f;
    r->qc = f->cb;
    assert_int_equal(wv_quic_stream_open(f->cb, &r->sid), 0);
    wv_quic_stream_set_user(f->cb, r->sid, r);
}

/* ---- QUIC side: what the tunnel manager does above QUIC ---- */

static void q_accept(wv_quic_endpoint *ep, wv_quic_conn *c, void *user) {
    ((fx *)user)->ca = c;
}
static void q_hs(wv_quic_conn *c, void *user) {
    ((fx *)user)->hs++;
}

static void q_stream_open(wv_quic_conn *c, int64_t sid, void *user) {
    fx *f = user;
    if (wv_quic_conn_endpoint(c) == f->q.a && f->raw_a) {
        struct raw *r = f->raw_a;
        memset(r, 0, sizeof(*r));
        r->ops = &raw_ops;
        r->f = f;
        r->qc = c;
        r->sid = sid;
        wv_quic_stream_set_user(c, sid, r);
    } else if (wv_quic_conn_endpoint(c) == f->q.a && f->pa)
        wv_proxy_accept(f->pa, "b", c, sid);
    else
        wv_quic_stream_reset(c, sid, WV_APPERR_ABORTED);
}

static void q_closed(wv_quic_conn *c, const wv_quic_close_info *info, void *user) {
    fx *f = user;
    if (f->ca == c)
        f->ca = NULL;
    if (f->cb == c)
        f->cb = NULL;
}

static const wv_quic_callbacks qcbs = {
    .on_accept = q_accept,
    .on_handshake_done = q_hs,
    .on_stream_open = q_stream_open,
    .on_stream_data = wv_tunnel_forward_data,
    .on_stream_reset = wv_tunnel_forward_reset,
    .on_stream_close = wv_tunnel_forward_close,
    .on_stream_writable = wv_tunnel_forward_writable,
    .on_conn_closed = q_closed,
};

static int open_stream(void *arg, const char *site, void *handler, wv_quic_conn **conn,
                       int64_t *sid) {
    fx *f = arg;
    if (!f->cb || f->site_down)
        return WV_ERR_NOTFOUND;
    int rv = wv_quic_stream_open(f->cb, sid);
    if (rv != 0)
        return rv;
    wv_quic_stream_set_user(f->cb, *sid, handler);
    *conn = f->cb;
    return 0;
}

/* ---- proxy callbacks ---- */

static const json_t *find_exposed(wv_proxy *p, const char *app, struct wv_app_counters **counters,
                                  void *user) {
    fx *f = user;
    assert_ptr_equal(p, f->pa);
    *counters = f->ka;
    return json_object_get(f->apps, app);
}

/* ---- tconn ---- */

static void t_pump(tconn *t);
static void t_start_read(tconn *t);

static void t_handle_closed(uv_handle_t *h) {
    tconn *t = h->data;
    if (--t->handles > 0)
        return;
    t->closed = true;
    if (t->hash) {
        gnutls_hash_deinit(t->hin, t->din);
        gnutls_hash_deinit(t->hout, t->dout);
    }
    if (t->srv) {
        struct srv *s = t->srv;
        s->closed++;
        s->sunk += t->recvd;
        s->sent_total += t->sent;
        if (t->recv_bad)
            s->bad++;
        if (getenv("PROXY_TEST_LOG"))
            fprintf(stderr, "app conn closed: eof %d err %s recvd %llu\n", t->rx_eof,
                    t->rx_err ? uv_strerror(t->rx_errcode) : "-", (unsigned long long)t->recvd);
        if (t->rx_err && t->rx_errcode == UV_ECONNRESET)
            s->resets++;
        memcpy(s->din, t->din, 32);
        memcpy(s->dout, t->dout, 32);
        if (s->last == t)
            s->last = NULL;
        free(t);
        return;
    }
    if (t->on_closed)
        t->on_closed(t);
}

static void t_close(tconn *t) {
    if (t->closing)
        return;
    t->closing = true;
    uv_close(&t->u.h, t_handle_closed);
    if (t->delay_on)
        uv_close((uv_handle_t *)&t->delay, t_handle_closed);
}

static void t_maybe_close(tconn *t) {
    if ((t->rx_eof && t->shut_done) || t->rx_err || t->tx_err)
        t_close(t);
}

static void t_shut_cb(uv_shutdown_t *r, int status) {
    tconn *t = r->data;
    t->shut_done = true;
    if (status < 0 && status != UV_ECANCELED)
        t->tx_err = true;
    t_maybe_close(t);
}

static void t_shutdown(tconn *t) {
    if (t->shut_started || t->closing)
        return;
    t->shut_started = true;
    t->sreq.data = t;
    if (uv_shutdown(&t->sreq, &t->u.s, t_shut_cb) != 0) {
        t->shut_done = t->tx_err = true;
        t_maybe_close(t);
    }
}

struct twr {
    uv_write_t req;
    tconn *t;
    size_t len;
    uint8_t data[];
};

static void t_write_cb(uv_write_t *r, int status) {
    struct twr *w = r->data;
    tconn *t = w->t;
    t->queued -= w->len;
    free(w);
    if (status < 0) {
        t->tx_err = true;
        t_maybe_close(t);
        return;
    }
    if (t->echo) {
        if (!t->reading && !t->rx_eof && t->queued < MAXBUF)
            t_start_read(t);
        if (t->rx_eof && t->queued == 0)
            t_shutdown(t);
        return;
    }
    t_pump(t);
}

static void t_write(tconn *t, const uint8_t *data, size_t len) {
    struct twr *w = malloc(sizeof(*w) + len);
    w->t = t;
    w->len = len;
    w->req.data = w;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    t->queued += len;
    if (t->hash)
        gnutls_hash(t->hout, data, len);
    if (uv_write(&w->req, &t->u.s, &b, 1, t_write_cb) != 0) {
        t->queued -= len;
        free(w);
        t->tx_err = true;
        t_maybe_close(t);
    }
}

static void t_pump(tconn *t) {
    if (t->closing)
        return;
    if (t->reply_after_eof && !t->rx_eof)
        return;
    uint8_t buf[CHUNK];
    while (t->sent < t->send_len && t->queued < 4 * CHUNK && !t->closing) {
        size_t n = (size_t)WV_MIN((uint64_t)CHUNK, t->send_len - t->sent);
        gen(t->send_seed, t->sent, buf, n);
        t->sent += n;
        t_write(t, buf, n);
    }
    if (t->sent == t->send_len && t->queued == 0)
        t_shutdown(t);
}

static void t_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    tconn *t = h->data;
    /* One buffer for all: every read is consumed before the next. */
    *b = uv_buf_init((char *)t->f->rbuf, CHUNK);
}

static void t_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    tconn *t = s->data;
    if (n == 0)
        return;
    uv_os_fd_t fd;
    int err = 0;
    socklen_t elen = sizeof(err);
    /* libuv turns a RST right after data into EOF; the pending error does not lie. */
    if (n == UV_EOF && !t->is_unix && uv_fileno(&t->u.h, &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err != 0)
        n = -err;
    if (n == UV_EOF) {
        t->rx_eof = true;
        t->reading = false;
        if (t->echo) {
            if (t->queued == 0)
                t_shutdown(t);
        } else {
            t_pump(t);
        }
        t_maybe_close(t);
        return;
    }
    if (n < 0) {
        t->rx_err = true;
        t->rx_errcode = (int)n;
        t_maybe_close(t);
        return;
    }
    const uint8_t *d = (const uint8_t *)b->base;
    if (t->hash)
        gnutls_hash(t->hin, d, (size_t)n);
    if (t->echo) {
        t_write(t, d, (size_t)n);
        if (t->queued >= MAXBUF && t->reading) {
            uv_read_stop(&t->u.s);
            t->reading = false;
        }
    } else if (!t->recv_bad) {
        uint8_t exp[CHUNK];
        gen(t->recv_seed, t->recvd, exp, (size_t)n);
        if (memcmp(exp, d, (size_t)n) != 0)
            t->recv_bad = true;
    }
    t->recvd += (uint64_t)n;
}

static void t_start_read(tconn *t) {
    if (t->reading || t->closing || t->rx_eof)
        return;
    t->reading = true;
    assert_int_equal(uv_read_start(&t->u.s, t_alloc, t_read), 0);
}

static void t_delay_cb(uv_timer_t *tm) {
    t_start_read(tm->data);
}

static void t_begin(tconn *t) {
    if (t->hash) {
        gnutls_hash_init(&t->hin, GNUTLS_DIG_SHA256);
        gnutls_hash_init(&t->hout, GNUTLS_DIG_SHA256);
    }
    if (t->read_delay_ms) {
        uv_timer_init(&t->f->loop, &t->delay);
        t->delay_on = true;
        t->delay.data = t;
        t->handles++;
        uv_timer_start(&t->delay, t_delay_cb, t->read_delay_ms, 0);
    } else {
        t_start_read(t);
    }
    if (!t->echo)
        t_pump(t);
}

static void t_connected(uv_connect_t *r, int status) {
    tconn *t = r->data;
    if (status < 0) {
        t->rx_err = t->tx_err = true;
        t->rx_errcode = status;
        t_close(t);
        return;
    }
    t_begin(t);
}

/* Starts a client to a TCP port on 127.0.0.1 or a unix path. */
static void t_connect(fx *f, tconn *t, int port, const char *path) {
    t->f = f;
    t->u.h.data = t;
    t->creq.data = t;
    t->handles = 1;
    if (path) {
        t->is_unix = true;
        uv_pipe_init(&f->loop, &t->u.pipe, 0);
        t->u.h.data = t;
        uv_pipe_connect(&t->creq, &t->u.pipe, path, t_connected);
        return;
    }
    struct sockaddr_in sin;
    uv_ip4_addr("127.0.0.1", port, &sin);
    uv_tcp_init(&f->loop, &t->u.tcp);
    t->u.h.data = t;
    assert_int_equal(uv_tcp_connect(&t->creq, &t->u.tcp, (struct sockaddr *)&sin, t_connected), 0);
}

static bool t_ok(const tconn *t, uint64_t expect) {
    return t->closed && !t->recv_bad && !t->rx_err && !t->tx_err && t->rx_eof &&
           t->recvd == expect && t->sent == t->send_len;
}

/* ---- target servers ---- */

static void srv_conn(uv_stream_t *server, int status) {
    struct srv *s = server->data;
    assert_int_equal(status, 0);
    tconn *t = calloc(1, sizeof(*t));
    t->f = s->f;
    t->srv = s;
    t->handles = 1;
    t->is_unix = s->is_unix;
    if (s->is_unix)
        uv_pipe_init(&s->f->loop, &t->u.pipe, 0);
    else
        uv_tcp_init(&s->f->loop, &t->u.tcp);
    t->u.h.data = t;
    assert_int_equal(uv_accept(server, &t->u.s), 0);
    s->accepted++;
    s->last = t;
    t->echo = s->mode == S_ECHO;
    t->reply_after_eof = s->mode == S_REPLY_AFTER_EOF;
    t->send_len = s->mode == S_ECHO ? 0 : s->src_len;
    t->send_seed = s->src_seed;
    t->recv_seed = s->sink_seed;
    t->hash = s->hash;
    t_begin(t);
}

static void srv_start(fx *f, struct srv *s, enum smode mode, const char *path) {
    s->f = f;
    s->mode = mode;
    if (path) {
        s->is_unix = true;
        uv_pipe_init(&f->loop, &s->u.pipe, 0);
        assert_int_equal(uv_pipe_bind(&s->u.pipe, path), 0);
    } else {
        struct sockaddr_in sin;
        uv_ip4_addr("127.0.0.1", 0, &sin);
        uv_tcp_init(&f->loop, &s->u.tcp);
        assert_int_equal(uv_tcp_bind(&s->u.tcp, (struct sockaddr *)&sin, 0), 0);
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        uv_tcp_getsockname(&s->u.tcp, (struct sockaddr *)&ss, &len);
        s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    s->u.h.data = s;
    assert_int_equal(uv_listen(&s->u.s, 1024, srv_conn), 0);
}

/* ---- remote app listeners (side B) ---- */

static void lsn_conn(wv_applisten *al, uv_stream_t *client, void *user) {
    struct lsn *l = user;
    wv_proxy_connect(l->f->pb, client, "site-a", l->app, l->app, l->target, l->f->kb);
}

/* Listens for remote app `app` (with target, for range apps) on a free TCP
 * port of 127.0.0.1 (l->port), or on the unix socket path. */
static void lsn_start(fx *f, struct lsn *l, const char *app, const char *target, const char *path) {
    l->f = f;
    l->app = app;
    l->target = target;
    struct wv_app_socket sock = {.is_unix = path != NULL};
    char why[128];
    int rv;
    if (path) {
        snprintf(sock.path, sizeof(sock.path), "%s", path);
        rv = wv_applisten_new(&f->loop, &sock, lsn_conn, l, &l->l, why);
    } else {
        /* A listener does not tell its port: take a free one (again, if
         * another process got there first). */
        int tries = 0;
        do {
            l->port = wvu_free_port(SOCK_STREAM);
            uv_ip4_addr("127.0.0.1", l->port, (struct sockaddr_in *)&sock.addr);
            rv = wv_applisten_new(&f->loop, &sock, lsn_conn, l, &l->l, why);
        } while (rv == WV_ERR_IO && ++tries < 10);
    }
    if (rv != 0)
        fail_msg("listener for %s: %s", app, why);
    assert_true(f->nlsns < (int)WV_COUNTOF(f->lsns));
    f->lsns[f->nlsns++] = l->l;
}

/* ---- fixture ---- */

static fx *fx_new(void) {
    fx *f = calloc(1, sizeof(*f));
    if (getenv("PROXY_TEST_LOG"))
        f->log = wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, NULL);
    snprintf(f->dir, sizeof(f->dir), "/tmp/proxy_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->apps = json_object();

    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    /* What the agent does: the stream window is the proxy's max_buffer. */
    cfg.stream_window = MAXBUF;
    qpair_init(&f->q, &f->loop, &cfg, f->log, &qcbs, f, f, "127.0.0.1", "127.0.0.1");
    f->cb = qpair_dial(&f->q, NULL, NULL);
    RUN_UNTIL(f, f->hs == 2, 5000);
    assert_int_equal(f->hs, 2);

    struct wv_proxy_callbacks pcbs = {.find_exposed = find_exposed};
    struct wv_proxy_options o = {.max_buffer = MAXBUF,
                                 .connect_timeout_ms = 2000,
                                 .opener = {.open = open_stream, .self = f}};
    f->ka = wv_app_counters_new();
    f->kb = wv_app_counters_new();
    assert_int_equal(wv_proxy_new(&f->loop, f->log, &o, &pcbs, f, &f->pa), 0);
    assert_int_equal(wv_proxy_new(&f->loop, f->log, &o, &pcbs, f, &f->pb), 0);
    return f;
}

static void expose(fx *f, const char *name, const char *json) {
    json_t *o = J(json);
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(f->apps, name, o);
}

static void proxy_closed(void *arg) {
    ((fx *)arg)->proxies_closed++;
}

static void walk_close(uv_handle_t *h, void *keep) {
    if (h != keep && !uv_is_closing(h))
        uv_close(h, NULL);
}

/* The proxies' counters: pa's (the exposed side) into a, pb's (the client
 * side) into b; either may be NULL. */
static void get_stats(fx *f, struct wv_proxy_stats *a, struct wv_proxy_stats *b) {
    if (a)
        wv_proxy_get_stats(f->pa, a);
    if (b)
        wv_proxy_get_stats(f->pb, b);
}

/* Waits (up to 5 s) until neither proxy has a connection left, then reads
 * their counters as get_stats does. */
static void settled_stats(fx *f, struct wv_proxy_stats *a, struct wv_proxy_stats *b) {
    struct wv_proxy_stats sa, sb;
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        get_stats(f, &sa, &sb);
    } while ((sa.active || sb.active) && uv_hrtime() < deadline);
    get_stats(f, a, b);
}

/* Closes the proxies (they must be idle unless abort is set), then
 * everything else; the loop must end empty. */
static void close_proxies(fx *f);

static void fx_free(fx *f, bool expect_idle) {
    struct wv_proxy_stats sa, sb;
    if (expect_idle) {
        settled_stats(f, &sa, &sb);
        assert_int_equal(sa.active, 0);
        assert_int_equal(sb.active, 0);
        assert_int_equal(sa.buffered, 0);
        assert_int_equal(sb.buffered, 0);
        assert_int_equal(f->ka->active, 0);
        assert_int_equal(f->kb->active, 0);
    }
    close_proxies(f);
    for (int i = 0; i < f->nlsns; i++)
        wv_applisten_close(f->lsns[i]);
    qpair_close(&f->q);
    /* Servers and their connections belong to the test. */
    uv_walk(&f->loop, walk_close, &f->q.tick);
    qpair_dispose(&f->q);
    json_decref(f->apps);
    wv_app_counters_unref(f->ka);
    wv_app_counters_unref(f->kb);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    wv_log_free(f->log);
    free(f);
}

/* Closes both proxies and waits for them; live connections are aborted. */
static void close_proxies(fx *f) {
    if (!f->pa)
        return;
    wv_proxy_close(f->pa, proxy_closed, f);
    wv_proxy_close(f->pb, proxy_closed, f);
    RUN_UNTIL(f, f->proxies_closed == 2, 5000);
    assert_int_equal(f->proxies_closed, 2);
    f->pa = f->pb = NULL;
}

#endif
