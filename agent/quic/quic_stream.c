/* Streams: send buffers held until acknowledged, receive credit returned
 * only when the app consumed the bytes, the ngtcp2 callbacks about streams
 * and the stream verbs. The packet write loop is in quic_conn.c. */
#include "quic_int.h"

#include <stdlib.h>
#include <string.h>

wv_quic__stream *wv_quic__stream_new(wv_quic_conn *c, int64_t id, bool remote) {
    wv_quic__stream *s = wv_calloc(1, sizeof(*s));
    s->id = id;
    s->remote = remote;
    s->rx.window = c->ep->cfg.stream_window;
    s->rx.epoch_ts = wv_quic__now();
    wv_quic__link_init(&s->all);
    wv_quic__link_init(&s->sendq);
    wv_quic__link_init(&s->wantq);
    wv_quic__link_push(&c->all_streams, &s->all);
    wv_quic__map_put(&c->streams, (const uint8_t *)&id, sizeof(id), s);
    c->nstreams++;
    return s;
}

void wv_quic__stream_free(wv_quic_conn *c, wv_quic__stream *s) {
    wv_quic__chunk *k = s->head;
    while (k) {
        wv_quic__chunk *next = k->next;
        free(k);
        k = next;
    }
    c->unsent -= s->end - s->sent;
    wv_quic__link_del(&s->all);
    wv_quic__link_del(&s->sendq);
    wv_quic__link_del(&s->wantq);
    wv_quic__map_del(&c->streams, (const uint8_t *)&s->id, sizeof(s->id), s);
    c->nstreams--;
    free(s);
}

/* ngtcp2 reports acknowledgements in order, as a growing prefix. */
static void acked(wv_quic__stream *s, uint64_t off, uint64_t len) {
    if (off + len <= s->acked)
        return;
    s->acked = off + len;
    while (s->head && s->head->off + s->head->len <= s->acked) {
        wv_quic__chunk *k = s->head;
        s->head = k->next;
        if (!s->head)
            s->tail = NULL;
        free(k);
    }
}

static wv_quic__stream *find(wv_quic_conn *c, int64_t sid) {
    return wv_quic__map_get(&c->streams, (const uint8_t *)&sid, sizeof(sid));
}

/* What the app may still queue on s: the peer's credit for the stream and
 * the connection, less what is queued but not yet handed to ngtcp2. */
static uint64_t credit(wv_quic_conn *c, wv_quic__stream *s) {
    uint64_t sl = ngtcp2_conn_get_max_stream_data_left(c->nc, s->id);
    uint64_t cl = ngtcp2_conn_get_max_data_left(c->nc);
    uint64_t su = s->end - s->sent;
    uint64_t a = sl > su ? sl - su : 0, b = cl > c->unsent ? cl - c->unsent : 0;
    return WV_MIN(a, b);
}

bool wv_quic__stream_has_pending(const wv_quic__stream *s) {
    return s->end > s->sent || (s->fin_wanted && !s->fin_sent);
}

void wv_quic__stream_peer_aborted(wv_quic_conn *c, wv_quic__stream *s, uint64_t code) {
    if (!s || s->peer_aborted || s->app_reset || c->closed_notified)
        return;
    s->peer_aborted = true;
    if (c->ep->cbs.on_stream_reset)
        c->ep->cbs.on_stream_reset(c, s->id, code, c->ep->user);
}

void wv_quic__stream_do_pending(wv_quic_conn *c) {
    /* ngtcp2 1.11 bug: until a client has written its Finished, writing
     * stream data takes every stream with no data queued out of its send
     * queue (conn_retry_early_payloadlen), RESET_STREAM and STOP_SENDING
     * to send or not, and those frames then never leave. So a client's
     * resets wait for its first packets after the handshake. */
    if (!c->resets_pending || (!c->server && !c->hs_flushed))
        return;
    c->resets_pending = false;
    wv_quic__link *n = c->all_streams.next;
    while (n != &c->all_streams) {
        wv_quic__stream *s = WV_CONTAINER_OF(n, wv_quic__stream, all);
        n = n->next;
        if (!s->reset_pending)
            continue;
        s->reset_pending = false;
        wv_quic__link_del(&s->sendq);
        wv_quic__link_del(&s->wantq);
        c->unsent -= s->end - s->sent;
        s->end = s->sent;
        /* RESET_STREAM and STOP_SENDING in one packet. A 1.x peer that has
         * not seen the stream yet creates it on either frame, so it answers
         * the STOP_SENDING with its own RESET_STREAM. May close the stream
         * at once, firing on_stream_close. */
        ngtcp2_conn_shutdown_stream(c->nc, 0, s->id, s->reset_code);
    }
}

void wv_quic__stream_fire_writable(wv_quic_conn *c) {
    if (!wv_quic__linked(&c->wantq))
        return;
    /* Detached, because a callback may queue the stream again. */
    wv_quic__link work;
    wv_quic__link_take(&work, &c->wantq);
    while (wv_quic__linked(&work)) {
        wv_quic__stream *s = WV_CONTAINER_OF(work.next, wv_quic__stream, wantq);
        wv_quic__link_del(&s->wantq);
        if (credit(c, s) == 0) {
            wv_quic__link_push(&c->wantq, &s->wantq);
            continue;
        }
        s->want_writable = false;
        if (c->ep->cbs.on_stream_writable && !c->close_requested)
            c->ep->cbs.on_stream_writable(c, s->id, c->ep->user);
    }
}

void wv_quic__stream_advance(wv_quic_conn *c, wv_quic__stream *s, ngtcp2_ssize ndata, bool fin) {
    if (ndata < 0)
        return;
    s->sent += (uint64_t)ndata;
    c->unsent -= (uint64_t)ndata;
    while (s->cur && s->cur->off + s->cur->len <= s->sent)
        s->cur = s->cur->next;
    if (fin && s->sent == s->end)
        s->fin_sent = true;
    if (!wv_quic__stream_has_pending(s))
        wv_quic__link_del(&s->sendq);
}

/* ---- ngtcp2 callbacks: state changes only, never I/O ---- */

static wv_quic__stream *stream_of(wv_quic_conn *c, int64_t sid, void *sud) {
    return sud ? sud : find(c, sid);
}

static int on_stream_open(ngtcp2_conn *nc, int64_t sid, void *ud) {
    wv_quic_conn *c = ud;
    if (!ngtcp2_is_bidi_stream(sid))
        return 0; /* only an interop test grants unidirectional streams */
    wv_quic__stream *s = wv_quic__stream_new(c, sid, true);
    ngtcp2_conn_set_stream_user_data(nc, sid, s);
    if (c->ep->cbs.on_stream_open && !c->closed_notified)
        c->ep->cbs.on_stream_open(c, sid, c->ep->user);
    return 0;
}

static int on_recv_stream_data(ngtcp2_conn *nc, uint32_t flags, int64_t sid, uint64_t off,
                               const uint8_t *data, size_t len, void *ud, void *sud) {
    wv_quic_conn *c = ud;
    wv_quic__stream *s = stream_of(c, sid, sud);
    bool fin = flags & NGTCP2_STREAM_DATA_FLAG_FIN;
    if (!s)
        return 0;
    s->delivered += len;
    if (s->app_reset || c->closed_notified) {
        /* Nobody will consume it: give the credit straight back. */
        s->consumed += len;
        c->rx_consumed += len;
        ngtcp2_conn_extend_max_stream_offset(nc, sid, len);
        ngtcp2_conn_extend_max_offset(nc, len);
        return 0;
    }
    /* ngtcp2 reports a bare FIN with data NULL; hand the app a valid
     * pointer so memcpy(dst, data, 0) in a handler stays defined. */
    static const uint8_t none[1];
    if (c->ep->cbs.on_stream_data)
        c->ep->cbs.on_stream_data(c, sid, data ? data : none, len, fin, c->ep->user);
    return 0;
}

static int on_acked_stream_data_offset(ngtcp2_conn *nc, int64_t sid, uint64_t off, uint64_t len,
                                       void *ud, void *sud) {
    wv_quic__stream *s = stream_of(ud, sid, sud);
    if (s)
        acked(s, off, len);
    return 0;
}

static int on_stream_close(ngtcp2_conn *nc, uint32_t flags, int64_t sid, uint64_t app_error,
                           void *ud, void *sud) {
    wv_quic_conn *c = ud;
    wv_quic__stream *s = stream_of(c, sid, sud);
    if (!s)
        return 0;
    uint64_t code = (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) ? app_error : 0;
    /* Stream slots and connection credit are never returned by ngtcp2 on
     * its own; without this the peer stalls after max_streams_bidi streams
     * or after a window's worth of data on abandoned streams. */
    if (s->remote)
        ngtcp2_conn_extend_max_streams_bidi(nc, 1);
    if (s->delivered > s->consumed) {
        c->rx_consumed += s->delivered - s->consumed;
        ngtcp2_conn_extend_max_offset(nc, s->delivered - s->consumed);
    }
    if (c->ep->cbs.on_stream_close && !c->closed_notified)
        c->ep->cbs.on_stream_close(c, sid, code, c->ep->user);
    wv_quic__stream_free(c, s);
    wv_quic__ep_mark_dirty(c);
    return 0;
}

static int on_stream_reset(ngtcp2_conn *nc, int64_t sid, uint64_t final_size, uint64_t app_error,
                           void *ud, void *sud) {
    wv_quic_conn *c = ud;
    wv_quic__stream_peer_aborted(c, stream_of(c, sid, sud), app_error);
    return 0;
}

static int on_extend_max_stream_data(ngtcp2_conn *nc, int64_t sid, uint64_t max_data, void *ud,
                                     void *sud) {
    wv_quic_conn *c = ud;
    wv_quic__stream *s = stream_of(c, sid, sud);
    if (!s)
        return 0;
    s->blocked = false;
    if (wv_quic__stream_has_pending(s) && !wv_quic__linked(&s->sendq))
        wv_quic__link_push(&c->sendq, &s->sendq);
    wv_quic__ep_mark_dirty(c);
    return 0;
}

void wv_quic__stream_set_callbacks(ngtcp2_callbacks *cb) {
    cb->recv_stream_data = on_recv_stream_data;
    cb->acked_stream_data_offset = on_acked_stream_data_offset;
    cb->stream_open = on_stream_open;
    cb->stream_close = on_stream_close;
    cb->stream_reset = on_stream_reset;
    cb->extend_max_stream_data = on_extend_max_stream_data;
}

/* ---- public verbs ---- */

static bool dead(const wv_quic_conn *c) {
    return c->close_requested || c->state >= WV_QUIC__CLOSING;
}

int wv_quic_stream_open(wv_quic_conn *c, int64_t *sid) {
    if (dead(c))
        return WV_ERR_CLOSED;
    if (!c->hs_done)
        return WV_ERR_AGAIN;
    int64_t id;
    int rv = ngtcp2_conn_open_bidi_stream(c->nc, &id, NULL);
    if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) {
        c->streams_wanted = true;
        return WV_ERR_AGAIN;
    }
    if (rv != 0)
        return WV_ERR_CLOSED;
    wv_quic__stream *s = wv_quic__stream_new(c, id, false);
    ngtcp2_conn_set_stream_user_data(c->nc, id, s);
    *sid = id;
    return 0;
}

long wv_quic_stream_write(wv_quic_conn *c, int64_t sid, const uint8_t *data, size_t len, bool fin) {
    if (dead(c))
        return WV_ERR_CLOSED;
    wv_quic__stream *s = find(c, sid);
    if (!s)
        return WV_ERR_NOTFOUND;
    if (s->fin_wanted || s->app_reset || s->peer_aborted)
        return WV_ERR_CLOSED;
    size_t n = (size_t)WV_MIN((uint64_t)len, credit(c, s));
    if (n > 0) {
        wv_quic__chunk *k = wv_malloc(sizeof(*k) + n);
        k->off = s->end;
        k->len = n;
        memcpy(k->data, data, n);
        WV_QUEUE_APPEND(s->head, s->tail, k);
        if (!s->cur)
            s->cur = k;
        s->end += n;
        c->unsent += n;
    }
    if (n < len) {
        s->want_writable = true;
        if (!wv_quic__linked(&s->wantq))
            wv_quic__link_push(&c->wantq, &s->wantq);
    } else if (fin) {
        s->fin_wanted = true;
    }
    if (wv_quic__stream_has_pending(s)) {
        if (!wv_quic__linked(&s->sendq))
            wv_quic__link_push(&c->sendq, &s->sendq);
        wv_quic__ep_mark_dirty(c);
    }
    return (long)n;
}

int wv_quic_stream_shutdown_write(wv_quic_conn *c, int64_t sid) {
    if (dead(c))
        return WV_ERR_CLOSED;
    wv_quic__stream *s = find(c, sid);
    if (!s)
        return WV_ERR_NOTFOUND;
    if (s->app_reset)
        return WV_ERR_CLOSED;
    if (s->fin_wanted)
        return 0;
    s->fin_wanted = true;
    if (!wv_quic__linked(&s->sendq))
        wv_quic__link_push(&c->sendq, &s->sendq);
    wv_quic__ep_mark_dirty(c);
    return 0;
}

/* Auto-tuning (quic.h): by how much the window may grow now (0 when it is
 * at cap or neither rule says so). Once the app has consumed a whole
 * window since the epoch began, the epoch ends and the window doubles if
 * that took less than 4 RTT; once a round trip has passed since the last
 * rate interval began, the window is raised to 4 times what the app
 * consumed in it. */
static uint64_t grow(wv_quic__rxwin *w, uint64_t consumed, uint64_t cap, uint64_t now,
                     uint64_t srtt) {
    uint64_t next = w->window;
    if (!w->rate_ts) {
        w->rate_ts = now;
        w->rate_at = consumed;
    } else if (srtt && now - w->rate_ts >= srtt) {
        next = wv_quic__window_rate(next, cap, consumed - w->rate_at, now - w->rate_ts, srtt);
        w->rate_ts = now;
        w->rate_at = consumed;
    }
    if (consumed - w->epoch_at >= w->window) {
        next = WV_MAX(next, wv_quic__window_next(w->window, cap, now - w->epoch_ts, srtt));
        w->epoch_at = consumed;
        w->epoch_ts = now;
    }
    return next - w->window;
}

int wv_quic_stream_consumed(wv_quic_conn *c, int64_t sid, size_t n) {
    wv_quic__stream *s = find(c, sid);
    if (!s || !c->nc)
        return WV_ERR_NOTFOUND;
    if (n > s->delivered - s->consumed)
        return WV_ERR_INVAL;
    s->consumed += n;
    c->rx_consumed += n;
    /* Growth goes out with the credit of bytes the app has disposed of:
     * a stream whose reader stalls never grows. The stream's own growth
     * costs nothing extra (its bytes count against the connection's
     * window); the connection's is taken from the budget. */
    const wv_quic_config *cfg = &c->ep->cfg;
    ngtcp2_conn_info ci;
    ngtcp2_conn_get_conn_info(c->nc, &ci);
    uint64_t now = wv_quic__now();
    uint64_t sg = grow(&s->rx, s->consumed, cfg->stream_window_max, now, ci.smoothed_rtt);
    s->rx.window += sg;
    uint64_t want =
        c->rx.window + grow(&c->rx, c->rx_consumed, cfg->conn_window_max, now, ci.smoothed_rtt);
    if (sg)
        want = WV_MAX(want, WV_MIN(cfg->conn_window_max, s->rx.window + s->rx.window / 2));
    uint64_t cg = want > c->rx.window ? wv_quic__budget_take(cfg->budget, want - c->rx.window) : 0;
    c->rx.window += cg;
    /* Both levels: stream credit alone would leave the connection window
     * exhausted after conn_window bytes in total. */
    ngtcp2_conn_extend_max_stream_offset(c->nc, sid, n + sg);
    ngtcp2_conn_extend_max_offset(c->nc, n + cg);
    if (c->state < WV_QUIC__CLOSING)
        wv_quic__ep_mark_dirty(c);
    return 0;
}

int wv_quic_stream_reset(wv_quic_conn *c, int64_t sid, uint64_t app_error) {
    wv_quic__stream *s = find(c, sid);
    if (!s)
        return WV_ERR_NOTFOUND;
    if (s->app_reset)
        return 0;
    s->app_reset = true;
    s->reset_pending = true;
    s->reset_code = app_error;
    c->resets_pending = true;
    if (c->state < WV_QUIC__CLOSING)
        wv_quic__ep_mark_dirty(c);
    return 0;
}

void wv_quic_stream_set_user(wv_quic_conn *c, int64_t sid, void *user) {
    wv_quic__stream *s = find(c, sid);
    if (s)
        s->user = user;
}

void *wv_quic_stream_get_user(wv_quic_conn *c, int64_t sid) {
    wv_quic__stream *s = find(c, sid);
    return s ? s->user : NULL;
}
