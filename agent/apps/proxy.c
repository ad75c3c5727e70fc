/* Splicing local sockets to QUIC app streams; see proxy.h for the rules.
 *
 * A connection (pconn) owns up to two libuv handles (the local socket and,
 * on the exposed side, a timer) and one QUIC stream. It is freed when both
 * handles are closed and the stream's close event has arrived (or the
 * stream was detached by wv_proxy_close). */
#include "proxy_int.h"
#include "wv/apps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct wv_stream_ops stream_ops;

/* ---- bookkeeping ---- */

void wv_apps__adj_buffered(pconn *c, long delta) {
    wv_proxy *p = c->p;
    c->buffered = (size_t)((long)c->buffered + delta);
    p->stats.buffered = (uint64_t)((long)p->stats.buffered + delta);
    if (p->stats.buffered > p->stats.buffered_peak)
        p->stats.buffered_peak = p->stats.buffered;
    if (c->buffered > p->stats.conn_buffered_peak)
        p->stats.conn_buffered_peak = c->buffered;
}

void wv_apps__count(pconn *c, uint64_t in, uint64_t out, int delta) {
    c->bytes_in += in;
    c->bytes_out += out;
    struct wv_app_counters *k = c->counters;
    if (!k)
        return;
    k->bytes_in += in;
    k->bytes_out += out;
    if (delta > 0) {
        /* A remote app's listener counts what it accepts itself. */
        if (c->exposed)
            k->connections++;
        k->active++;
    } else if (delta < 0) {
        k->active--; /* paired with the +1 (c->counted) */
    }
}

struct wv_app_counters *wv_app_counters_new(void) {
    struct wv_app_counters *k = wv_calloc(1, sizeof(*k));
    k->refs = 1;
    return k;
}

struct wv_app_counters *wv_app_counters_ref(struct wv_app_counters *k) {
    if (k)
        k->refs++;
    return k;
}

void wv_app_counters_unref(struct wv_app_counters *k) {
    if (k && --k->refs == 0)
        free(k);
}

pconn *wv_apps__new(wv_proxy *p, bool exposed) {
    pconn *c = wv_calloc(1, sizeof(*c));
    c->ops = &stream_ops;
    c->p = p;
    c->exposed = exposed;
    c->id = ++p->next_id;
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    c->started_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    WV_LIST_PUSH(p->conns, c);
    p->stats.active++;
    p->stats.total++;
    return c;
}

static void finish_proxy(wv_proxy *p) {
    if (!p->closing || !p->closer_closed || !p->flusher_closed || p->conns)
        return;
    if (p->close_cb)
        p->close_cb(p->close_arg);
    free(p);
}

void wv_apps__flush_unlist(pconn *c) {
    if (!c->flush_listed)
        return;
    c->flush_listed = false;
    WV_LIST_UNLINK_AS(c->p->flushq, c, fprev, fnext);
}

void wv_apps__drop_queue(pconn *c) {
    wv_apps__flush_unlist(c);
    while (c->qhead) {
        wreq *w = c->qhead;
        c->qhead = w->next;
        c->in_pending -= w->len;
        wv_apps__adj_buffered(c, -(long)w->len);
        /* Nobody will write these: give the peer its credit back. */
        if (c->stream_live)
            wv_quic_stream_consumed(c->qc, c->sid, w->len);
        free(w);
    }
    c->qtail = NULL;
}

static void conn_free(pconn *c) {
    wv_proxy *p = c->p;
    if (c->counted)
        wv_apps__count(c, 0, 0, -1);
    wv_app_counters_unref(c->counters);
    wv_apps__drop_queue(c);
    wv_apps__adj_buffered(c, -(long)c->buffered);
    WV_LIST_UNLINK(p->conns, c);
    p->stats.active--;
    free(c->hbuf);
    free(c->rbuf);
    free(c);
    finish_proxy(p);
}

/* Only called at the end of close callbacks, never mid-handler. */
static void maybe_free(pconn *c) {
    if (!c->stream_live && c->handles == 0)
        conn_free(c);
}

static void sock_closed(uv_handle_t *h) {
    pconn *c = h->data;
    free(h);
    c->handles--;
    maybe_free(c);
}

static void timer_closed(uv_handle_t *h) {
    pconn *c = h->data;
    c->handles--;
    maybe_free(c);
}

void wv_apps__close_timer(pconn *c) {
    if (!c->timer_open)
        return;
    c->timer_open = false;
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* rst: end a TCP connection with RST so its far end sees an abort, not a
 * clean EOF. SO_LINGER is set by hand because uv_tcp_close_reset() refuses
 * once a shutdown was requested, which is exactly the half-closed case. */
void wv_apps__close_sock(pconn *c, bool rst) {
    if (!c->sock || !c->sock_open)
        return;
    c->sock_open = false;
    c->reading = false;
    uv_os_fd_t fd;
    if (rst && !c->sock_unix && c->sock_connected && uv_fileno((uv_handle_t *)c->sock, &fd) == 0) {
        struct linger l = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    uv_close((uv_handle_t *)c->sock, sock_closed);
}

/* Ends everything now: the stream is reset, the local socket closed. */
void wv_apps__end(pconn *c, bool rst) {
    if (c->st == P_DEAD)
        return;
    c->st = P_DEAD;
    wv_apps__drop_queue(c);
    if (c->stream_live)
        wv_quic_stream_reset(c->qc, c->sid, WV_APPERR_ABORTED);
    wv_apps__close_timer(c);
    wv_apps__close_sock(c, rst);
}

/* The same, for an abort (counted) rather than a refusal. */
void wv_apps__abort(pconn *c, bool rst) {
    if (c->st != P_DEAD)
        c->p->stats.aborted++;
    wv_apps__end(c, rst);
}

/* ---- local -> tunnel ---- */

/* Offers data (a frame, or rbuf[roff..rlen) when data points there) to the
 * stream and keeps what it does not accept in rbuf. A frame needs an empty
 * remainder. false if the stream is gone (the connection is aborted). */
bool wv_apps__push_out(pconn *c, const uint8_t *data, size_t len, bool frame) {
    long n = wv_quic_stream_write(c->qc, c->sid, data, len, false);
    if (n < 0) {
        wv_apps__abort(c, true);
        return false;
    }
    if (frame) {
        c->ctrl_left = len - (size_t)n;
    } else {
        size_t ctl = WV_MIN((size_t)n, c->ctrl_left);
        c->ctrl_left -= ctl;
        if ((size_t)n > ctl)
            wv_apps__count(c, 0, (uint64_t)n - ctl, 0);
    }
    if ((size_t)n == len) {
        wv_apps__adj_buffered(c, -(long)(c->rlen - c->roff));
        c->roff = c->rlen = 0;
        return true;
    }
    if (data != c->rbuf + c->roff) {
        if (!c->rbuf)
            c->rbuf = wv_malloc(RBUF_SIZE);
        memcpy(c->rbuf, data + n, len - (size_t)n);
        c->roff = 0;
        c->rlen = len - (size_t)n;
        wv_apps__adj_buffered(c, (long)c->rlen);
    } else {
        c->roff += (size_t)n;
        wv_apps__adj_buffered(c, -n);
    }
    return true;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    pconn *c = h->data;
    if (!c->rbuf)
        c->rbuf = wv_malloc(RBUF_SIZE);
    /* Reading stops whenever a remainder is kept, so rbuf is free here;
     * a zero-length buffer (UV_ENOBUFS) would only stop the read. */
    *buf = uv_buf_init((char *)c->rbuf, c->rlen > c->roff ? 0 : RBUF_SIZE);
}

static void stop_reading(pconn *c) {
    if (c->reading) {
        uv_read_stop(c->sock);
        c->reading = false;
    }
}

/* libuv reports EOF, not ECONNRESET, when a RST arrives right after data
 * (its POLLHUP shortcut); the socket's pending error tells them apart. */
static bool local_error(pconn *c) {
    uv_os_fd_t fd;
    int err = 0;
    socklen_t len = sizeof(err);
    if (c->sock_unix || uv_fileno((uv_handle_t *)c->sock, &fd) != 0)
        return false;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    pconn *c = s->data;
    if (nread == 0 || c->st == P_DEAD)
        return;
    if (nread == UV_ENOBUFS) {
        stop_reading(c);
        return;
    }
    if (nread == UV_EOF && local_error(c)) {
        WV_DEBUG(c->p->log, SUB, "%s %s: local connection reset", c->exposed ? "app" : "remote app",
                 c->name);
        wv_apps__abort(c, true);
        return;
    }
    if (nread == UV_EOF) {
        c->local_eof = true;
        stop_reading(c);
        if (c->rlen == c->roff)
            wv_apps__send_fin(c);
        return;
    }
    if (nread < 0) {
        WV_DEBUG(c->p->log, SUB, "%s %s: local read: %s", c->exposed ? "app" : "remote app",
                 c->name, uv_strerror((int)nread));
        wv_apps__abort(c, true);
        return;
    }
    /* Account the bytes as held, then let push_out release what it sends. */
    c->roff = 0;
    c->rlen = (size_t)nread;
    wv_apps__adj_buffered(c, nread);
    if (!wv_apps__push_out(c, c->rbuf, (size_t)nread, false))
        return;
    if (c->rlen > c->roff)
        stop_reading(c); /* until the writable event */
}

void wv_apps__start_reading(pconn *c) {
    if (c->reading || !c->sock_open || !c->sock_connected || c->local_eof || c->rlen > c->roff ||
        (c->st != P_SPLICE && c->st != P_STATUS))
        return;
    if (uv_read_start(c->sock, on_alloc, on_read) != 0) {
        wv_apps__abort(c, true);
        return;
    }
    c->reading = true;
}

static void maybe_finish_local(pconn *c) {
    if (c->sock_open && c->fin_sent && c->shut_done)
        wv_apps__close_sock(c, false);
}

void wv_apps__send_fin(pconn *c) {
    if (c->fin_sent)
        return;
    c->fin_sent = true;
    if (wv_quic_stream_shutdown_write(c->qc, c->sid) != 0) {
        wv_apps__abort(c, true);
        return;
    }
    maybe_finish_local(c);
}

/* Reads the local socket now rather than on its next readiness event: the
 * stream just got credit, and this runs right before the QUIC layer writes
 * packets, so the bytes leave one loop pass earlier. With a 256 KiB window
 * that pass is a real share of the round trip that returns credit. Results
 * go through on_read, as libuv's would. */
static void read_now(pconn *c) {
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)c->sock, &fd) != 0)
        return;
    for (int i = 0; i < 4 && c->reading && c->st != P_DEAD; i++) {
        uv_buf_t b;
        on_alloc((uv_handle_t *)c->sock, RBUF_SIZE, &b);
        if (b.len == 0)
            return;
        ssize_t n = read(fd, b.base, b.len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        on_read(c->sock, n < 0 ? uv_translate_sys_error(errno) : n == 0 ? UV_EOF : n, &b);
        if (n <= 0 || (size_t)n < b.len)
            return; /* drained, or ended */
    }
}

static void on_writable(void *s) {
    pconn *c = s;
    if (c->st == P_DEAD || !c->stream_live)
        return;
    if (c->rlen > c->roff && !wv_apps__push_out(c, c->rbuf + c->roff, c->rlen - c->roff, false))
        return;
    if (c->rlen > c->roff)
        return;
    if (c->local_eof) {
        wv_apps__send_fin(c);
        return;
    }
    wv_apps__start_reading(c);
    if (c->reading)
        read_now(c);
}

/* ---- tunnel -> local ---- */

static void on_shutdown(uv_shutdown_t *req, int status) {
    pconn *c = req->data;
    c->shut_done = true;
    if (status < 0 && status != UV_ECANCELED) {
        wv_apps__abort(c, true);
        return;
    }
    maybe_finish_local(c);
}

void wv_apps__maybe_shutdown(pconn *c) {
    if (!c->peer_fin || c->in_pending > 0 || c->shut_started || !c->sock_open ||
        !c->sock_connected || c->st != P_SPLICE)
        return;
    c->shut_started = true;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, c->sock, on_shutdown) != 0)
        wv_apps__abort(c, true);
}

static void on_written(uv_write_t *req, int status) {
    wreq *w = req->data;
    pconn *c = w->c;
    size_t n = w->len;
    free(w);
    c->in_pending -= n;
    wv_apps__adj_buffered(c, -(long)n);
    if (status < 0) {
        if (status != UV_ECANCELED)
            wv_apps__abort(c, true);
        return;
    }
    /* End to end: the peer may send more only now that the bytes are out. */
    if (c->stream_live)
        wv_quic_stream_consumed(c->qc, c->sid, n);
    wv_apps__count(c, n, 0, 0);
    wv_apps__maybe_shutdown(c);
}

static void issue(pconn *c, wreq *w) {
    /* What waits on a stalled socket is its bytes, not the chunk's room
     * (glibc shrinks in place; the rest serves the next small chunks). */
    if (w->cap - w->len > WCHUNK_FIRST) {
        w = wv_realloc(w, sizeof(*w) + w->len);
        w->cap = w->len;
    }
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    w->req.data = w;
    if (uv_write(&w->req, c->sock, &b, 1, on_written) != 0) {
        c->in_pending -= w->len;
        wv_apps__adj_buffered(c, -(long)w->len);
        free(w);
        wv_apps__abort(c, true);
    }
}

/* Hands c's queued chunks to libuv, in order. A failed write aborts c, and
 * whatever is left then goes the way of any dropped queue (credit back). */
void wv_apps__issue_queued(pconn *c) {
    wv_apps__flush_unlist(c);
    while (c->qhead && c->st == P_SPLICE) {
        wreq *w = c->qhead;
        c->qhead = w->next;
        if (!c->qhead)
            c->qtail = NULL;
        w->next = NULL;
        issue(c, w);
    }
    wv_apps__drop_queue(c);
}

/* Issues every gathered chunk: one write per connection per loop pass. */
static void on_flush(uv_check_t *h) {
    wv_proxy *p = h->data;
    while (p->flushq)
        wv_apps__issue_queued(p->flushq);
    uv_check_stop(h);
}

static void deliver(pconn *c, const uint8_t *data, size_t len, bool fin) {
    if (c->st == P_REFUSED || c->st == P_DEAD) {
        if (len && c->stream_live)
            wv_quic_stream_consumed(c->qc, c->sid, len);
        return;
    }
    if (len > 0) {
        /* Gathered: appended to the last unissued chunk while it has room.
         * A pass's first chunk starts small and doubles up to WCHUNK_SIZE:
         * a stream that gets a packet or two per pass (many streams, a
         * slow path) would otherwise hold a 64 KiB chunk per packet while
         * its local reader stalls, several times the bytes the receive
         * window and the budget count. */
        wreq *w = c->qtail;
        if (w && w == c->qhead && w->cap - w->len < len && w->cap < WCHUNK_SIZE &&
            w->len + len <= WCHUNK_SIZE) {
            size_t cap = WV_MIN(WV_MAX(2 * w->cap, w->len + len), (size_t)WCHUNK_SIZE);
            w = wv_realloc(w, sizeof(*w) + cap);
            w->cap = cap;
            c->qhead = c->qtail = w;
        }
        if (!w || w->cap - w->len < len) {
            size_t cap = WV_MAX(len, w ? (size_t)WCHUNK_SIZE : (size_t)WCHUNK_FIRST);
            w = wv_malloc(sizeof(*w) + cap);
            w->c = c;
            w->len = 0;
            w->cap = cap;
            WV_QUEUE_APPEND(c->qhead, c->qtail, w);
        }
        memcpy(w->data + w->len, data, len);
        w->len += len;
        c->in_pending += len;
        wv_apps__adj_buffered(c, (long)len);
        if (c->st == P_SPLICE && !c->flush_listed) {
            wv_proxy *p = c->p;
            c->flush_listed = true;
            WV_LIST_PUSH_AS(p->flushq, c, fprev, fnext);
            uv_check_start(&p->flusher, on_flush);
        }
    }
    if (fin && c->st != P_DEAD) {
        c->peer_fin = true;
        wv_apps__maybe_shutdown(c);
    }
}

/* ---- frames ---- */

/* Feeds stream bytes into the frame being assembled. Returns 0 with *obj
 * when complete, WV_ERR_AGAIN, or WV_ERR_PROTO. *used: bytes of data that
 * belonged to the frame (consumed here; the rest is payload). */
static int take_frame(pconn *c, const uint8_t *data, size_t len, size_t *used, json_t **obj) {
    if (!c->hbuf)
        c->hbuf = wv_malloc(HBUF_SIZE);
    size_t n = WV_MIN(len, HBUF_SIZE - c->hlen);
    memcpy(c->hbuf + c->hlen, data, n);
    size_t consumed = 0;
    int rv = wv_frame_parse(c->hbuf, c->hlen + n, &consumed, obj);
    if (rv == 0) {
        *used = consumed - c->hlen;
        free(c->hbuf);
        c->hbuf = NULL;
        c->hlen = 0;
    } else {
        *used = n;
        c->hlen += n;
        if (rv == WV_ERR_AGAIN && c->hlen == HBUF_SIZE)
            rv = WV_ERR_PROTO; /* cannot happen: a full buffer holds a frame */
    }
    if (*used)
        wv_quic_stream_consumed(c->qc, c->sid, *used);
    return rv;
}

/* Peer text for a log line: bounded and without control characters. */
void wv_apps__clean(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++)
        dst[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ? '?' : src[i];
    dst[i] = '\0';
}

/* ---- client side ---- */

static void on_status(pconn *c, json_t *obj) {
    const char *code = NULL, *msg = NULL;
    int rv = wv_status_parse(obj, &code, &msg);
    if (rv == 0) {
        c->st = P_SPLICE;
        wv_apps__start_reading(c);
        return;
    }
    char cc[64], cm[200];
    wv_apps__clean(cc, sizeof(cc), rv == WV_ERR_PROTO ? "bad-status" : code);
    wv_apps__clean(cm, sizeof(cm), rv == WV_ERR_PROTO ? "malformed status frame" : msg);
    WV_WARN(c->p->log, SUB, "remote app %s (app %s): refused by the peer: %s: %s", c->name, c->peer,
            cc, cm);
    c->p->stats.remote_errors++;
    wv_apps__end(c, false);
}

/* Who connected to a remote app: "IP:PORT", or "unix" for a unix socket
 * (whose clients rarely have a name). */
static void client_address(uv_stream_t *client, char *out, size_t n) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char a[WV_ADDR_STRLEN];
    if (client->type == UV_TCP &&
        uv_tcp_getpeername((uv_tcp_t *)client, (struct sockaddr *)&ss, &len) == 0)
        snprintf(out, n, "%s", wv_addr_format((struct sockaddr *)&ss, a));
    else
        snprintf(out, n, "%s", client->type == UV_NAMED_PIPE ? "unix" : "?");
}

int wv_proxy_connect(wv_proxy *p, uv_stream_t *client, const char *site, const char *remote_app,
                     const char *app, const char *target, struct wv_app_counters *counters) {
    struct wv_app_header h;
    memset(&h, 0, sizeof(h));
    bool bad =
        !site || !app || !wv_valid_name(app) || (target && strlen(target) >= sizeof(h.target));
    if (p->closing || bad) {
        wv_close_free((uv_handle_t *)client);
        return bad ? WV_ERR_INVAL : WV_ERR_CLOSED;
    }
    if (p->o.max_open) {
        uint32_t open = 0;
        for (pconn *o = p->conns; o; o = o->next)
            open += o->st != P_DEAD && o->sock_open;
        if (open >= p->o.max_open) {
            p->stats.refused_open_limit++;
            WV_WARN(p->log, SUB, "remote app %s: refused: %u connections open (descriptor budget)",
                    remote_app ? remote_app : app, open);
            wv_close_free((uv_handle_t *)client);
            return WV_ERR_LIMIT;
        }
    }
    snprintf(h.app, sizeof(h.app), "%s", app);
    if (target)
        snprintf(h.target, sizeof(h.target), "%s", target);
    pconn *c = wv_apps__new(p, false);
    snprintf(c->name, sizeof(c->name), "%s", remote_app ? remote_app : app);
    snprintf(c->peer, sizeof(c->peer), "%s", app);
    snprintf(c->site, sizeof(c->site), "%s", site);
    client_address(client, c->addr, sizeof(c->addr));
    c->sock = client;
    c->sock_unix = client->type == UV_NAMED_PIPE;
    client->data = c;
    c->handles++;
    c->sock_open = c->sock_connected = true;
    c->st = P_STATUS;
    c->counters = wv_app_counters_ref(counters);
    int rv = p->o.opener.open ? p->o.opener.open(p->o.opener.self, site, c, &c->qc, &c->sid)
                              : WV_ERR_NOTFOUND;
    if (rv != 0) {
        /* INFO: a local client retrying against a site that is down would
         * flood the log at WARN; the remote app's state already says why. */
        WV_INFO(p->log, SUB, "remote app %s (app %s): no stream: %s", c->name, app,
                wv_strerror(rv));
        p->stats.remote_errors++;
        c->st = P_DEAD;
        wv_apps__close_sock(c, false);
        return rv;
    }
    c->stream_live = true;
    c->counted = true;
    wv_apps__count(c, 0, 0, +1);
    json_t *hj = wv_app_header_to_json(&h);
    uint8_t *b = NULL;
    size_t blen = 0;
    rv = wv_frame_encode(hj, &b, &blen);
    json_decref(hj);
    if (rv != 0) {
        wv_apps__end(c, false);
        return 0; /* the stream exists: the close event frees c */
    }
    bool ok = wv_apps__push_out(c, b, blen, true);
    free(b);
    /* Pipelining: the client's first bytes travel with the header; the
     * exposed side holds them under flow control until it has connected. */
    if (ok)
        wv_apps__start_reading(c);
    return 0;
}

/* ---- stream events ---- */

static void on_data(void *s, const uint8_t *data, size_t len, bool fin) {
    pconn *c = s;
    if (c->st == P_HEADER || c->st == P_STATUS) {
        size_t used = 0;
        json_t *obj = NULL;
        int rv = take_frame(c, data, len, &used, &obj);
        if (rv == WV_ERR_AGAIN && !fin)
            return;
        if (rv != 0) {
            if (c->st == P_HEADER) {
                wv_apps__refuse(c, WV_ERRC_BAD_HEADER,
                                rv == WV_ERR_AGAIN ? "stream ended in the header"
                                                   : "malformed header frame");
            } else {
                WV_WARN(c->p->log, SUB, "remote app %s (app %s): %s", c->name, c->peer,
                        rv == WV_ERR_AGAIN ? "stream ended before the status"
                                           : "malformed status frame");
                c->p->stats.remote_errors++;
                wv_apps__end(c, false);
            }
            return;
        }
        if (c->st == P_HEADER)
            wv_apps__on_header(c, obj);
        else
            on_status(c, obj);
        json_decref(obj);
        data += used;
        len -= used;
    }
    deliver(c, data, len, fin);
}

static void on_reset(void *s, uint64_t app_error) {
    pconn *c = s;
    if (c->st == P_REFUSED) {
        /* The opener's usual answer to our error status. */
        wv_apps__end(c, false);
        return;
    }
    WV_DEBUG(c->p->log, SUB, "%s %s: stream reset by the peer (0x%llx)",
             c->exposed ? "app" : "remote app", c->name, (unsigned long long)app_error);
    wv_apps__abort(c, true);
}

static void on_close(void *s, uint64_t app_error) {
    pconn *c = s;
    c->stream_live = false;
    /* A clean close in P_SPLICE means both FINs were exchanged; pending
     * local writes and the shutdown still finish on their own. */
    if (!(app_error == 0 && c->st == P_SPLICE)) {
        bool rst = app_error != 0 && c->st != P_DEAD && c->st != P_REFUSED;
        if (c->st != P_DEAD && c->st != P_REFUSED && app_error != 0) {
            c->p->stats.aborted++;
            /* Say why the client lost its connection. */
            if (app_error == WV_QUIC_STREAM_CONN_GONE)
                WV_INFO(c->p->log, SUB, "%s %s: connection cut: its data channel closed",
                        c->exposed ? "app" : "remote app", c->name);
            else
                WV_INFO(c->p->log, SUB, "%s %s: connection aborted (stream error 0x%llx)",
                        c->exposed ? "app" : "remote app", c->name, (unsigned long long)app_error);
        }
        c->st = P_DEAD;
        wv_apps__drop_queue(c);
        wv_apps__close_timer(c);
        wv_apps__close_sock(c, rst);
    }
    maybe_free(c);
}

static const struct wv_stream_ops stream_ops = {
    .data = on_data,
    .reset = on_reset,
    .close = on_close,
    .writable = on_writable,
};

/* ---- proxy ---- */

int wv_proxy_new(uv_loop_t *loop, wv_log *log, const struct wv_proxy_options *o,
                 const struct wv_proxy_callbacks *cbs, void *user, wv_proxy **out) {
    if (!loop || !cbs || !cbs->find_exposed || !out)
        return WV_ERR_INVAL;
    wv_proxy *p = wv_calloc(1, sizeof(*p));
    p->loop = loop;
    p->log = log;
    if (o)
        p->o = *o;
    if (!p->o.max_buffer)
        p->o.max_buffer = 256 * 1024;
    if (!p->o.connect_timeout_ms)
        p->o.connect_timeout_ms = 10000;
    p->cbs = *cbs;
    p->user = user;
    uv_timer_init(loop, &p->closer);
    p->closer.data = p;
    uv_check_init(loop, &p->flusher);
    p->flusher.data = p;
    *out = p;
    return 0;
}

static void closer_closed(uv_handle_t *h) {
    wv_proxy *p = h->data;
    if (h == (uv_handle_t *)&p->flusher)
        p->flusher_closed = true;
    else
        p->closer_closed = true;
    finish_proxy(p);
}

void wv_proxy_close(wv_proxy *p, void (*cb)(void *arg), void *arg) {
    if (p->closing)
        return;
    p->closing = true;
    p->close_cb = cb;
    p->close_arg = arg;
    pconn *c = p->conns;
    while (c) {
        pconn *next = c->next;
        wv_apps__abort(c, true);
        if (c->stream_live) {
            /* Detach: the stream's remaining events must not reach c. */
            wv_quic_stream_set_user(c->qc, c->sid, NULL);
            c->stream_live = false;
        }
        if (c->handles == 0)
            conn_free(c);
        c = next;
    }
    uv_close((uv_handle_t *)&p->closer, closer_closed);
    uv_close((uv_handle_t *)&p->flusher, closer_closed);
}

void wv_proxy_get_stats(const wv_proxy *p, struct wv_proxy_stats *out) {
    *out = p->stats;
}

void wv_proxy_each_conn(const wv_proxy *p,
                        void (*fn)(const struct wv_proxy_conn_info *ci, void *arg), void *arg) {
    for (const pconn *c = p->conns; c; c = c->next) {
        if (c->st == P_DEAD || c->st == P_REFUSED || !c->stream_live)
            continue;
        /* The header names the app: before it, the stream is nobody's yet. */
        if (c->exposed && c->st == P_HEADER)
            continue;
        struct wv_proxy_conn_info ci = {
            .id = c->id,
            .exposed = c->exposed,
            .app = c->name,
            .site = c->exposed ? c->peer : c->site,
            .address = c->addr[0] ? c->addr : NULL,
            .open = c->st == P_SPLICE,
            .started_ms = c->started_ms,
            .bytes_in = c->bytes_in,
            .bytes_out = c->bytes_out,
            .conn = c->qc,
        };
        fn(&ci, arg);
    }
}
