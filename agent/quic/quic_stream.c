/* Streams: send buffers held until acknowledged, receive credit returned
 * only when the app consumed the bytes, and the packet write loop. */
#include "quic_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_VEC 16

qstream *qstream_new(wv_quic_conn *c, int64_t id, bool remote) {
    qstream *s = wv_calloc(1, sizeof(*s));
    s->id = id;
    s->remote = remote;
    ql_init(&s->all);
    ql_init(&s->sendq);
    ql_init(&s->wantq);
    ql_push(&c->all_streams, &s->all);
    qmap_put(&c->streams, (const uint8_t *)&id, sizeof(id), s);
    c->nstreams++;
    return s;
}

void qstream_free(wv_quic_conn *c, qstream *s) {
    qchunk *k = s->head;
    while (k) {
        qchunk *next = k->next;
        free(k);
        k = next;
    }
    c->unsent -= s->end - s->sent;
    ql_del(&s->all);
    ql_del(&s->sendq);
    ql_del(&s->wantq);
    qmap_del(&c->streams, (const uint8_t *)&s->id, sizeof(s->id), s);
    c->nstreams--;
    free(s);
}

/* ngtcp2 reports acknowledgements in order, as a growing prefix. */
void qstream_acked(wv_quic_conn *c, qstream *s, uint64_t off, uint64_t len) {
    if (off + len <= s->acked)
        return;
    s->acked = off + len;
    while (s->head && s->head->off + s->head->len <= s->acked) {
        qchunk *k = s->head;
        s->head = k->next;
        if (!s->head)
            s->tail = NULL;
        free(k);
    }
}

static qstream *find(wv_quic_conn *c, int64_t sid) {
    return qmap_get(&c->streams, (const uint8_t *)&sid, sizeof(sid));
}

/* What the app may still queue on s: the peer's credit for the stream and
 * the connection, less what is queued but not yet handed to ngtcp2. */
static uint64_t credit(wv_quic_conn *c, qstream *s) {
    uint64_t sl = ngtcp2_conn_get_max_stream_data_left(c->nc, s->id);
    uint64_t cl = ngtcp2_conn_get_max_data_left(c->nc);
    uint64_t su = s->end - s->sent;
    uint64_t a = sl > su ? sl - su : 0, b = cl > c->unsent ? cl - c->unsent : 0;
    return WV_MIN(a, b);
}

static bool has_pending(const qstream *s) {
    return s->end > s->sent || (s->fin_wanted && !s->fin_sent);
}

void qstream_do_pending(wv_quic_conn *c) {
    if (!c->resets_pending)
        return;
    c->resets_pending = false;
    qlink *n = c->all_streams.next;
    while (n != &c->all_streams) {
        qstream *s = WV_CONTAINER_OF(n, qstream, all);
        n = n->next;
        if (!s->reset_pending)
            continue;
        s->reset_pending = false;
        ql_del(&s->sendq);
        ql_del(&s->wantq);
        c->unsent -= s->end - s->sent;
        s->end = s->sent;
        /* May close the stream at once, firing on_stream_close. */
        /* Write side first, then read side: ngtcp2 0.12 prepends each
         * frame to its queue, so STOP_SENDING leaves before RESET_STREAM.
         * A peer that has not seen the stream yet then creates it and
         * answers with its own RESET_STREAM. The other order makes an
         * ngtcp2 peer drop the stream on RESET_STREAM and ignore the
         * STOP_SENDING, and our read side would wait forever. Either call
         * may close the stream at once (firing on_stream_close). */
        int64_t id = s->id;
        uint64_t code = s->reset_code;
        ngtcp2_conn_shutdown_stream_write(c->nc, id, code);
        ngtcp2_conn_shutdown_stream_read(c->nc, id, code);
    }
}

void qstream_fire_writable(wv_quic_conn *c) {
    if (!ql_linked(&c->wantq))
        return;
    /* Detached, because a callback may queue the stream again. */
    qlink work = {c->wantq.prev, c->wantq.next};
    work.next->prev = &work;
    work.prev->next = &work;
    ql_init(&c->wantq);
    while (ql_linked(&work)) {
        qstream *s = WV_CONTAINER_OF(work.next, qstream, wantq);
        ql_del(&s->wantq);
        if (credit(c, s) == 0) {
            ql_push(&c->wantq, &s->wantq);
            continue;
        }
        s->want_writable = false;
        if (c->ep->cbs.on_stream_writable && !c->close_requested)
            c->ep->cbs.on_stream_writable(c, s->id, c->ep->user);
    }
}

static void advance(wv_quic_conn *c, qstream *s, ngtcp2_ssize ndata, bool fin) {
    if (ndata < 0)
        return;
    s->sent += (uint64_t)ndata;
    c->unsent -= (uint64_t)ndata;
    while (s->cur && s->cur->off + s->cur->len <= s->sent)
        s->cur = s->cur->next;
    if (fin && s->sent == s->end)
        s->fin_sent = true;
    if (!has_pending(s))
        ql_del(&s->sendq);
}

/* The first queued stream that can put something in a packet now. Streams
 * with nothing left drop out of the queue on the way. */
static qstream *pick(wv_quic_conn *c, bool conn_blocked) {
    qlink *n = c->sendq.next;
    while (n != &c->sendq) {
        qstream *s = WV_CONTAINER_OF(n, qstream, sendq);
        n = n->next;
        if (s->blocked || !has_pending(s)) {
            ql_del(&s->sendq);
            continue;
        }
        if (s->end > s->sent && conn_blocked)
            continue;
        return s;
    }
    return NULL;
}

/* Packets of one connection accumulate in the endpoint's buffer and leave
 * as one GSO send: equal-sized packets, a shorter one closing the batch. */
typedef struct batch {
    size_t used, seg, n;
    int err; /* UV_EMSGSIZE once a datagram was too large for the path */
    struct sockaddr_storage to;
} batch;

static void flush(wv_quic_endpoint *ep, batch *b) {
    if (b->used &&
        qep_send_batch(ep, (const struct sockaddr *)&b->to, ep->txbuf, b->used, b->seg) < 0)
        b->err = UV_EMSGSIZE;
    b->used = b->seg = b->n = 0;
}

/* The path took less than we sent: a local-looking address that is NATed
 * onwards, say (docs/QUIC.md). Later packets shrink, to 1452 (what PMTUD
 * would reach), then to 1200 (QUIC's minimum); ngtcp2 resends what was
 * lost in them. */
static void shrink(wv_quic_conn *c) {
    size_t was = c->max_payload;
    c->max_payload = was > NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE ? NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE
                                                             : NGTCP2_MAX_UDP_PAYLOAD_SIZE;
    if (c->max_payload >= was)
        return;
    char addr[64];
    qconn_addr_str(c, addr);
    WV_INFO(c->ep->log, QSUB, "conn %s: the path refused %zu-byte datagrams; sending %zu", addr,
            was, c->max_payload);
}

/* Files the packet just written at txbuf + b->used into the batch. */
static void add(wv_quic_endpoint *ep, batch *b, const ngtcp2_path *path, size_t n, size_t maxlen) {
    const struct sockaddr *to = (const struct sockaddr *)path->remote.addr;
    socklen_t tolen = qaddr_len(to);
    if (b->used && (n > b->seg || memcmp(&b->to, to, tolen) != 0)) {
        /* Cannot join: send the batch, then move this packet to the front. */
        uint8_t *pkt = ep->txbuf + b->used;
        flush(ep, b);
        memmove(ep->txbuf, pkt, n);
    }
    if (!b->used) {
        memcpy(&b->to, to, tolen);
        b->seg = n;
    }
    b->used += n;
    b->n++;
    if (n < b->seg || b->n >= QGSO_SEGS || ep->txbuflen - b->used < maxlen)
        flush(ep, b);
}

bool qconn_write(wv_quic_conn *c) {
    wv_quic_endpoint *ep = c->ep;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_tstamp ts = qnow();
    size_t npkts = 0, spins = 0;
    batch b = {0};
    /* Pacing: one burst is the send quantum, and at most QBATCH packets. */
    size_t maxlen = c->max_payload;
    size_t quantum = ngtcp2_conn_get_send_quantum(c->nc) / maxlen;
    size_t maxpkts = WV_MAX(WV_MIN(quantum, (size_t)QBATCH), (size_t)2);

    for (;;) {
        if (npkts >= maxpkts || qep_send_paused(ep) || ++spins > 16 * QBATCH) {
            /* Yield to the loop (and to incoming ACKs); continue later. */
            qep_mark_dirty(c);
            break;
        }
        ngtcp2_vec v[MAX_VEC];
        size_t nv = 0;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        qstream *s = pick(c, ngtcp2_conn_get_max_data_left(c->nc) == 0);
        int64_t sid = -1;
        if (s) {
            sid = s->id;
            uint64_t pos = s->sent;
            for (qchunk *k = s->cur; k && nv < MAX_VEC; k = k->next) {
                size_t skip = (size_t)(pos - k->off);
                v[nv].base = k->data + skip;
                v[nv].len = k->len - skip;
                pos += v[nv].len;
                nv++;
            }
            if (s->fin_wanted && pos == s->end)
                flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_pkt_info pi = {0};
        ngtcp2_ssize ndata = -1;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->nc, &ps.path, &pi, ep->txbuf + b.used, maxlen,
                                                   &ndata, flags, sid, v, nv, ts);
        if (n < 0) {
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
                /* Until extend_max_stream_data. */
                s->blocked = true;
                ql_del(&s->sendq);
                continue;
            }
            if (n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
                ql_del(&s->sendq);
                c->unsent -= s->end - s->sent;
                s->end = s->sent;
                /* The peer's STOP_SENDING made ngtcp2 reset our side
                 * (0.12 has no callback for it): tell the app. */
                if (!s->app_reset && !s->peer_aborted && !c->closed_notified) {
                    s->peer_aborted = true;
                    if (ep->cbs.on_stream_reset)
                        ep->cbs.on_stream_reset(c, s->id, 0, ep->user);
                }
                continue;
            }
            if (n == NGTCP2_ERR_WRITE_MORE) {
                /* Room left in the packet: fill it from the next stream. */
                advance(c, s, ndata, flags & NGTCP2_WRITE_STREAM_FLAG_FIN);
                if (ql_linked(&s->sendq)) {
                    ql_del(&s->sendq);
                    ql_push(&c->sendq, &s->sendq);
                }
                continue;
            }
            flush(ep, &b);
            qconn_fail(c, (int)n);
            return false;
        }
        if (s)
            advance(c, s, ndata, flags & NGTCP2_WRITE_STREAM_FLAG_FIN);
        if (n == 0)
            break; /* congestion window, pacing, or nothing to say */
        add(ep, &b, &ps.path, (size_t)n, maxlen);
        c->bytes_sent += (uint64_t)n;
        c->pkts_sent++;
        npkts++;
        if (s && ql_linked(&s->sendq)) {
            /* Round robin between streams, one packet each. */
            ql_del(&s->sendq);
            ql_push(&c->sendq, &s->sendq);
        }
    }
    flush(ep, &b);
    if (b.err) {
        shrink(c);
        qep_mark_dirty(c);
    }
    /* Pacing only once the handshake is done: before the first RTT sample
     * ngtcp2 0.12 paces at cwnd per initial RTT (333 ms), which held the
     * client's Finished back ~20 ms behind its 1200-byte Initial. */
    if (c->hs_done)
        ngtcp2_conn_update_pkt_tx_time(c->nc, ts);
    return true;
}

/* ---- public verbs ---- */

static bool dead(const wv_quic_conn *c) {
    return c->close_requested || c->state >= QS_CLOSING;
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
    qstream *s = qstream_new(c, id, false);
    ngtcp2_conn_set_stream_user_data(c->nc, id, s);
    *sid = id;
    return 0;
}

long wv_quic_stream_write(wv_quic_conn *c, int64_t sid, const uint8_t *data, size_t len, bool fin) {
    if (dead(c))
        return WV_ERR_CLOSED;
    qstream *s = find(c, sid);
    if (!s)
        return WV_ERR_NOTFOUND;
    if (s->fin_wanted || s->app_reset || s->peer_aborted)
        return WV_ERR_CLOSED;
    size_t n = (size_t)WV_MIN((uint64_t)len, credit(c, s));
    if (n > 0) {
        qchunk *k = wv_malloc(sizeof(*k) + n);
        k->next = NULL;
        k->off = s->end;
        k->len = n;
        memcpy(k->data, data, n);
        if (s->tail)
            s->tail->next = k;
        else
            s->head = k;
        s->tail = k;
        if (!s->cur)
            s->cur = k;
        s->end += n;
        c->unsent += n;
    }
    if (n < len) {
        s->want_writable = true;
        if (!ql_linked(&s->wantq))
            ql_push(&c->wantq, &s->wantq);
    } else if (fin) {
        s->fin_wanted = true;
    }
    if (has_pending(s)) {
        if (!ql_linked(&s->sendq))
            ql_push(&c->sendq, &s->sendq);
        qep_mark_dirty(c);
    }
    return (long)n;
}

int wv_quic_stream_shutdown_write(wv_quic_conn *c, int64_t sid) {
    if (dead(c))
        return WV_ERR_CLOSED;
    qstream *s = find(c, sid);
    if (!s)
        return WV_ERR_NOTFOUND;
    if (s->app_reset)
        return WV_ERR_CLOSED;
    if (s->fin_wanted)
        return 0;
    s->fin_wanted = true;
    if (!ql_linked(&s->sendq))
        ql_push(&c->sendq, &s->sendq);
    qep_mark_dirty(c);
    return 0;
}

int wv_quic_stream_consumed(wv_quic_conn *c, int64_t sid, size_t n) {
    qstream *s = find(c, sid);
    if (!s || !c->nc)
        return WV_ERR_NOTFOUND;
    if (n > s->delivered - s->consumed)
        return WV_ERR_INVAL;
    s->consumed += n;
    /* Both levels: stream credit alone would leave the connection window
     * exhausted after conn_window bytes in total. */
    ngtcp2_conn_extend_max_stream_offset(c->nc, sid, n);
    ngtcp2_conn_extend_max_offset(c->nc, n);
    if (c->state < QS_CLOSING)
        qep_mark_dirty(c);
    return 0;
}

int wv_quic_stream_reset(wv_quic_conn *c, int64_t sid, uint64_t app_error) {
    qstream *s = find(c, sid);
    if (!s)
        return WV_ERR_NOTFOUND;
    if (s->app_reset)
        return 0;
    s->app_reset = true;
    s->reset_pending = true;
    s->reset_code = app_error;
    c->resets_pending = true;
    if (c->state < QS_CLOSING)
        qep_mark_dirty(c);
    return 0;
}

void wv_quic_stream_set_user(wv_quic_conn *c, int64_t sid, void *user) {
    qstream *s = find(c, sid);
    if (s)
        s->user = user;
}

void *wv_quic_stream_get_user(wv_quic_conn *c, int64_t sid) {
    qstream *s = find(c, sid);
    return s ? s->user : NULL;
}
