/* One QUIC connection: creation, the ngtcp2 callbacks about the
 * connection, the packet write loop, reads and timers. (Its ends are in
 * quic_close.c, the stream callbacks in quic_stream.c.) */
#include "quic_int.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_VEC 16

uint64_t wv_quic__now(void) {
    return uv_hrtime();
}

static void arm_timer(wv_quic_conn *c);

void wv_quic__addr_str(const wv_quic_conn *c, char out[WV_ADDR_STRLEN]) {
    wv_addr_format((const struct sockaddr *)&c->remote, out);
}

/* Fires the app's on_handshake_done right here rather than after
 * read_pkt: 1-RTT stream frames coalesced with the client's Finished are
 * processed in the same read_pkt call, and the app must hear of the
 * handshake before it hears of those streams. */

size_t wv_quic__conn_payload(const wv_quic_conn *c) {
    if (!c->nc)
        return c->cap;
    return WV_MIN(c->cap, ngtcp2_conn_get_path_max_tx_udp_payload_size(c->nc));
}

/* ---- ngtcp2 callbacks: state changes only, never I/O ---- */

/* Fires the app's on_handshake_done right here rather than after
 * read_pkt: 1-RTT stream frames coalesced with the client's Finished are
 * processed in the same read_pkt call, and the app must hear of the
 * handshake before it hears of those streams. */
static int on_handshake_completed(ngtcp2_conn *nc, void *ud) {
    wv_quic_conn *c = ud;
    c->hs_done = true;
    if (c->state == WV_QUIC__HANDSHAKE)
        c->state = WV_QUIC__OPEN;
    if (!wv_quic__tls_alpn_ok(c)) {
        c->info = (wv_quic_close_info){WV_ERR_CRYPTO, false, false, 0, "ALPN mismatch"};
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    c->hs_notified = true;
    char addr[64], fp[WV_FINGERPRINT_HEX_LEN + 1];
    wv_quic__addr_str(c, addr);
    wv_fingerprint_to_hex(c->peer_fp, fp);
    WV_INFO(c->ep->log, WV_QUIC__SUB, "conn %s (%s) established, peer certificate %s", addr,
            c->server ? "inbound" : "outbound", fp);
    if (c->ep->cbs.on_handshake_done)
        c->ep->cbs.on_handshake_done(c, c->ep->user);
    return 0;
}

static int on_extend_max_local_streams_bidi(ngtcp2_conn *nc, uint64_t max_streams, void *ud) {
    wv_quic_conn *c = ud;
    if (c->streams_wanted) {
        c->streams_avail = true;
        wv_quic__ep_mark_dirty(c);
    }
    return 0;
}

static void on_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx) {
    (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

static int on_get_new_connection_id(ngtcp2_conn *nc, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
                                    void *ud) {
    wv_quic_conn *c = ud;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) < 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    /* Derived from the endpoint secret, so we can later reset a peer that
     * talks to a connection we no longer have. */
    if (ngtcp2_crypto_generate_stateless_reset_token(token, c->ep->reset_secret,
                                                     sizeof(c->ep->reset_secret), cid) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    wv_quic__map_put(&c->ep->cids, cid->data, cid->datalen, c);
    return 0;
}

static int on_remove_connection_id(ngtcp2_conn *nc, const ngtcp2_cid *cid, void *ud) {
    wv_quic_conn *c = ud;
    wv_quic__map_del(&c->ep->cids, cid->data, cid->datalen, c);
    return 0;
}

static int on_recv_stateless_reset(ngtcp2_conn *nc, const ngtcp2_pkt_stateless_reset *sr,
                                   void *ud) {
    wv_quic_conn *c = ud;
    c->info = (wv_quic_close_info){WV_ERR_CLOSED, true, false, 0, "stateless reset"};
    return 0;
}

static int on_dcid_status(ngtcp2_conn *nc, ngtcp2_connection_id_status_type type, uint64_t seq,
                          const ngtcp2_cid *cid, const uint8_t *token, void *ud) {
    wv_quic_conn *c = ud;
    if (!token)
        return 0;
    wv_quic__map *m = &c->ep->tokens;
    if (type == NGTCP2_CONNECTION_ID_STATUS_TYPE_ACTIVATE) {
        /* Bounded; a token we cannot hold only means a slower detection
         * (idle timeout) of a peer's restart. */
        if (c->ntokens < WV_COUNTOF(c->tokens)) {
            memcpy(c->tokens[c->ntokens++], token, NGTCP2_STATELESS_RESET_TOKENLEN);
            wv_quic__map_put(m, token, NGTCP2_STATELESS_RESET_TOKENLEN, c);
        }
        return 0;
    }
    for (size_t i = 0; i < c->ntokens; i++)
        if (memcmp(c->tokens[i], token, NGTCP2_STATELESS_RESET_TOKENLEN) == 0) {
            wv_quic__map_del(m, token, NGTCP2_STATELESS_RESET_TOKENLEN, c);
            memmove(c->tokens[i], c->tokens[c->ntokens - 1], NGTCP2_STATELESS_RESET_TOKENLEN);
            c->ntokens--;
            break;
        }
    return 0;
}

static void set_callbacks(ngtcp2_callbacks *cb, bool server) {
    memset(cb, 0, sizeof(*cb));
    if (server) {
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    } else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->handshake_completed = on_handshake_completed;
    cb->extend_max_local_streams_bidi = on_extend_max_local_streams_bidi;
    cb->rand = on_rand;
    cb->get_new_connection_id = on_get_new_connection_id;
    cb->remove_connection_id = on_remove_connection_id;
    cb->recv_stateless_reset = on_recv_stateless_reset;
    cb->dcid_status = on_dcid_status;
    wv_quic__stream_set_callbacks(cb);
    wv_quic__dgram_set_callbacks(cb);
}

/* ---- creation ---- */

/* The largest UDP payload the route to remote takes at its first hop (the
 * interface MTU, or a smaller path MTU the kernel learnt, less the IP and
 * UDP headers), as PLPMTUD's upper bound (RFC 8899 5.1.2); 0 if the
 * kernel does not say. A connected throwaway socket; nothing is sent. */
static size_t first_hop_payload(const struct sockaddr *remote) {
    int af = remote->sa_family, mtu = 0;
    socklen_t len = sizeof(mtu);
    int fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    bool ok = connect(fd, remote, wv_quic__addr_len(remote)) == 0 &&
              getsockopt(fd, af == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
                         af == AF_INET6 ? IPV6_MTU : IP_MTU, &mtu, &len) == 0;
    close(fd);
    size_t hdr = af == AF_INET6 ? 48 : 28;
    return ok && (size_t)mtu > hdr ? (size_t)mtu - hdr : 0;
}

/* ngtcp2 1.x has one BBR, version 2: WV_QUIC_CC_BBR2 maps to it too. */
static const ngtcp2_cc_algo cc_algos[] = {NGTCP2_CC_ALGO_CUBIC, NGTCP2_CC_ALGO_RENO,
                                          NGTCP2_CC_ALGO_BBR, NGTCP2_CC_ALGO_BBR};

int wv_quic__conn_new(wv_quic_endpoint *ep, bool server, const struct sockaddr *remote,
                      const ngtcp2_pkt_hd *hd, const ngtcp2_cid *retry_odcid, wv_quic_conn **out) {
    const wv_quic_config *cfg = &ep->cfg;
    wv_quic_conn *c = wv_calloc(1, sizeof(*c));
    ngtcp2_callbacks cbs;
    ngtcp2_settings st;
    ngtcp2_transport_params p;
    ngtcp2_cid scid, dcid;
    int rv;

    c->ep = ep;
    c->server = server;
    c->state = WV_QUIC__HANDSHAKE;
    c->cap = ep->ceiling;
    memcpy(&c->remote, remote, wv_quic__addr_len(remote));
    wv_quic__map_init(&c->streams);
    wv_quic__link_init(&c->all_streams);
    wv_quic__link_init(&c->sendq);
    wv_quic__link_init(&c->wantq);
    wv_quic__link_init(&c->ep_link);
    wv_quic__link_init(&c->dirty_link);

    scid.datalen = WV_QUIC__CID_LEN;
    dcid.datalen = WV_QUIC__CID_LEN;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, WV_QUIC__CID_LEN) < 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, WV_QUIC__CID_LEN) < 0)
        goto fail_early;

    ngtcp2_settings_default(&st);
    st.initial_ts = wv_quic__now();
    st.cc_algo = cc_algos[cfg->cc];
    st.max_tx_udp_payload_size = ep->ceiling;
    uint16_t probes[WV_QUIC__MAX_PROBES];
    size_t nprobes = 0;
    if (ep->npmtud) {
        /* ngtcp2 starts at 1200 bytes and probes these sizes once the
         * handshake is confirmed (docs/QUIC.md); it copies the list.
         * Sizes the first hop cannot take are left out: the kernel would
         * refuse them at once, and ngtcp2 would count each try as bytes in
         * flight until it gave up. */
        size_t hop = first_hop_payload(remote);
        for (size_t i = 0; i < ep->npmtud; i++)
            if (!hop || ep->pmtud[i] <= hop)
                probes[nprobes++] = ep->pmtud[i];
    }
    if (nprobes) {
        st.pmtud_probes = probes;
        st.pmtud_probeslen = nprobes;
    } else if (ep->npmtud) {
        st.no_pmtud = 1; /* 1200 is all the first hop takes */
    } else {
        /* A known path (max_udp_payload above 1452): that size from the
         * start, no probing. */
        st.no_pmtud = 1;
        st.no_tx_udp_payload_size_shaping = 1;
    }
    /* ngtcp2's window auto-tuning stays off (max_window and
     * max_stream_window 0): it would grant growth it cannot ask the
     * agent's budget for. Ours is in wv_quic_stream_consumed. */
    st.max_window = 0;
    st.max_stream_window = 0;
    st.handshake_timeout = (uint64_t)cfg->handshake_timeout_ms * NGTCP2_MILLISECONDS;

    /* The stream and data limits and the idle timeout default to zero
     * (none): set each one. */
    ngtcp2_transport_params_default(&p);
    p.initial_max_stream_data_bidi_local = cfg->stream_window;
    p.initial_max_stream_data_bidi_remote = cfg->stream_window;
    p.initial_max_stream_data_uni = ep->max_streams_uni ? 65536 : 0;
    p.initial_max_data = cfg->conn_window;
    p.initial_max_streams_bidi = cfg->max_streams_bidi;
    p.initial_max_streams_uni = ep->max_streams_uni;
    p.max_idle_timeout = (uint64_t)cfg->idle_timeout_ms * NGTCP2_MILLISECONDS;
    p.max_udp_payload_size = NGTCP2_DEFAULT_MAX_RECV_UDP_PAYLOAD_SIZE;
    p.active_connection_id_limit = 4;
    if (cfg->datagrams)
        p.max_datagram_frame_size = 65535;

    set_callbacks(&cbs, server);
    ngtcp2_path path = {
        {(ngtcp2_sockaddr *)&ep->local, wv_quic__addr_len((struct sockaddr *)&ep->local)},
        {(ngtcp2_sockaddr *)&c->remote, wv_quic__addr_len(remote)},
        NULL};
    if (server) {
        p.original_dcid = hd->dcid;
        p.original_dcid_present = 1;
        if (retry_odcid) {
            /* After our Retry: the client's first DCID is in the token, and
             * the DCID it uses now is the SCID our Retry carried. */
            p.original_dcid = *retry_odcid;
            p.retry_scid = hd->dcid;
            p.retry_scid_present = 1;
        }
        p.stateless_reset_token_present = 1;
        if (ngtcp2_crypto_generate_stateless_reset_token(p.stateless_reset_token, ep->reset_secret,
                                                         sizeof(ep->reset_secret), &scid) != 0)
            goto fail_early;
        c->odcid = hd->dcid;
        rv = ngtcp2_conn_server_new(&c->nc, &hd->scid, &scid, &path, hd->version, &cbs, &st, &p,
                                    NULL, c);
    } else {
        rv = ngtcp2_conn_client_new(&c->nc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cbs, &st, &p,
                                    NULL, c);
    }
    if (rv != 0) {
        WV_WARN(ep->log, WV_QUIC__SUB, "conn_new: %s", ngtcp2_strerror(rv));
        goto fail_early;
    }
    if (wv_quic__tls_session_new(c) < 0) {
        ngtcp2_conn_del(c->nc);
        goto fail_early;
    }
    ngtcp2_conn_set_tls_native_handle(c->nc, c->tls);
    if (cfg->keepalive_ms)
        ngtcp2_conn_set_keep_alive_timeout(c->nc,
                                           (uint64_t)cfg->keepalive_ms * NGTCP2_MILLISECONDS);

    c->rx.window = cfg->conn_window;
    c->rx.epoch_ts = wv_quic__now();
    wv_quic__budget_add(cfg->budget, c->rx.window);
    wv_quic__map_put(&ep->cids, scid.data, scid.datalen, c);
    if (server)
        wv_quic__map_put(&ep->cids, c->odcid.data, c->odcid.datalen, c);
    uv_timer_init(ep->loop, &c->timer);
    c->timer.data = c;
    ep->handles++;
    wv_quic__link_push(&ep->conns, &c->ep_link);
    if (server)
        ep->ninbound++;
    *out = c;
    return 0;
fail_early:
    wv_quic__map_dispose(&c->streams);
    free(c);
    return WV_ERR_CRYPTO;
}

/* ---- the packet write loop ---- */

/* The first queued stream that can put something in a packet now. Streams
 * with nothing left drop out of the queue on the way. */
static wv_quic__stream *pick(wv_quic_conn *c, bool conn_blocked) {
    wv_quic__link *n = c->sendq.next;
    while (n != &c->sendq) {
        wv_quic__stream *s = WV_CONTAINER_OF(n, wv_quic__stream, sendq);
        n = n->next;
        if (s->blocked || !wv_quic__stream_has_pending(s)) {
            wv_quic__link_del(&s->sendq);
            continue;
        }
        if (s->end > s->sent && conn_blocked)
            continue;
        return s;
    }
    return NULL;
}

/* Packets of one connection accumulate in the endpoint's buffer and leave
 * as one GSO send: equal-sized packets, a shorter one closing the batch.
 * (ngtcp2 1.11 has no aggregation helper; ngtcp2_conn_write_aggregate_pkt
 * arrived in 1.15.) */
typedef struct batch {
    size_t used, seg, n;
    int err; /* UV_EMSGSIZE once a datagram was too large for the path */
    struct sockaddr_storage to;
} batch;

static void flush(wv_quic_endpoint *ep, batch *b) {
    if (b->used &&
        wv_quic__ep_send_batch(ep, (const struct sockaddr *)&b->to, ep->txbuf, b->used, b->seg) < 0)
        b->err = UV_EMSGSIZE;
    b->used = b->seg = b->n = 0;
}

/* The path took less than it had: a local-looking address that is NATed
 * onwards, say, or a route whose MTU fell (docs/QUIC.md). PMTUD never goes
 * down again by itself, so later packets shrink, to 1452, then to 1200
 * (QUIC's minimum); ngtcp2 resends what was lost in them. */
static void shrink(wv_quic_conn *c) {
    size_t was = wv_quic__conn_payload(c);
    size_t to = was > NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE ? NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE
                                                        : NGTCP2_MAX_UDP_PAYLOAD_SIZE;
    if (to >= was)
        return;
    c->cap = to;
    char addr[64];
    wv_quic__addr_str(c, addr);
    WV_INFO(c->ep->log, WV_QUIC__SUB, "conn %s: the path refused %zu-byte datagrams; sending %zu",
            addr, was, to);
}

/* Files the packet just written at txbuf + b->used into the batch; pmax
 * is the path's packet size. */
static void add(wv_quic_conn *c, batch *b, const ngtcp2_path *path, size_t n, size_t pmax) {
    wv_quic_endpoint *ep = c->ep;
    const struct sockaddr *to = (const struct sockaddr *)path->remote.addr;
    socklen_t tolen = wv_quic__addr_len(to);
    if (n > pmax) {
        /* A PMTUD probe: alone, and its loss is PMTUD's answer, not an
         * error of the path (ngtcp2 tries the next size). */
        wv_quic__ep_send(ep, to, ep->txbuf + b->used, n);
        return;
    }
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
    /* A group of the loss repair ends: its packets go out, then its repairs. */
    bool repair = wv_quic__fec_sent(c, ep->txbuf + b->used, n);
    b->used += n;
    b->n++;
    if (repair || n < b->seg || b->n >= WV_QUIC__GSO_SEGS || ep->txbuflen - b->used < pmax)
        flush(ep, b);
    if (repair)
        wv_quic__fec_flush(c, to);
}

/* Writes packets; returns false when the connection hit a fatal error. */
static bool write_packets(wv_quic_conn *c) {
    wv_quic_endpoint *ep = c->ep;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_tstamp ts = wv_quic__now();
    size_t npkts = 0, spins = 0;
    batch b = {0};
    /* Pacing: one burst is the send quantum, and at most WV_QUIC__BATCH
     * packets. */
    size_t pmax = wv_quic__conn_payload(c);
    size_t quantum = ngtcp2_conn_get_send_quantum(c->nc) / pmax;
    size_t maxpkts = WV_MAX(WV_MIN(quantum, (size_t)WV_QUIC__BATCH), (size_t)2);

    for (;;) {
        if (npkts >= maxpkts || wv_quic__ep_send_paused(ep) || ++spins > 16 * WV_QUIC__BATCH) {
            /* Yield to the loop (and to incoming ACKs); continue later. */
            wv_quic__ep_mark_dirty(c);
            break;
        }
        if (c->dg_head && c->hs_done) {
            /* DATAGRAM frames first: what they carry (relayed QUIC) has
             * its own loss recovery, and waits behind nothing. */
            /* The same dest and room as the stream writes below: a packet
             * ngtcp2 left open (WRITE_MORE) may be finished by either. */
            size_t room = WV_MIN(ep->txbuflen - b.used, c->cap);
            ngtcp2_pkt_info pi = {0};
            ngtcp2_ssize n = wv_quic__dgram_write(c, &ps.path, &pi, ep->txbuf + b.used, room, ts);
            if (n == NGTCP2_ERR_WRITE_MORE)
                continue;
            if (n < 0) {
                flush(ep, &b);
                wv_quic__conn_fail(c, (int)n);
                return false;
            }
            if (n == 0)
                break; /* congestion window or pacing */
            add(c, &b, &ps.path, (size_t)n, pmax);
            c->bytes_sent += (uint64_t)n;
            c->pkts_sent++;
            npkts++;
            continue;
        }
        ngtcp2_vec v[MAX_VEC];
        size_t nv = 0;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        wv_quic__stream *s = pick(c, ngtcp2_conn_get_max_data_left(c->nc) == 0);
        int64_t sid = -1;
        if (s) {
            sid = s->id;
            uint64_t pos = s->sent;
            for (wv_quic__chunk *k = s->cur; k && nv < MAX_VEC; k = k->next) {
                size_t skip = (size_t)(pos - k->off);
                v[nv].base = k->data + skip;
                v[nv].len = k->len - skip;
                pos += v[nv].len;
                nv++;
            }
            if (s->fin_wanted && pos == s->end)
                flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        /* Room for a PMTUD probe (up to the cap) where the buffer has it;
         * ngtcp2 keeps ordinary packets to the path's size. */
        size_t room = WV_MIN(ep->txbuflen - b.used, c->cap);
        ngtcp2_pkt_info pi = {0};
        ngtcp2_ssize ndata = -1;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->nc, &ps.path, &pi, ep->txbuf + b.used, room,
                                                   &ndata, flags, sid, v, nv, ts);
        if (n < 0) {
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
                /* Until extend_max_stream_data. */
                s->blocked = true;
                wv_quic__link_del(&s->sendq);
                continue;
            }
            if (n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
                wv_quic__link_del(&s->sendq);
                c->unsent -= s->end - s->sent;
                s->end = s->sent;
                /* The peer's STOP_SENDING made ngtcp2 reset our side
                 * (ngtcp2 has no callback for a received STOP_SENDING):
                 * tell the app. */
                wv_quic__stream_peer_aborted(c, s, 0);
                continue;
            }
            if (n == NGTCP2_ERR_WRITE_MORE) {
                /* Room left in the packet: fill it from the next stream. */
                wv_quic__stream_advance(c, s, ndata, flags & NGTCP2_WRITE_STREAM_FLAG_FIN);
                if (wv_quic__linked(&s->sendq)) {
                    wv_quic__link_del(&s->sendq);
                    wv_quic__link_push(&c->sendq, &s->sendq);
                }
                continue;
            }
            flush(ep, &b);
            wv_quic__conn_fail(c, (int)n);
            return false;
        }
        if (s)
            wv_quic__stream_advance(c, s, ndata, flags & NGTCP2_WRITE_STREAM_FLAG_FIN);
        if (n == 0)
            break; /* congestion window, pacing, or nothing to say */
        add(c, &b, &ps.path, (size_t)n, pmax);
        c->bytes_sent += (uint64_t)n;
        c->pkts_sent++;
        npkts++;
        if (s && wv_quic__linked(&s->sendq)) {
            /* Round robin between streams, one packet each. */
            wv_quic__link_del(&s->sendq);
            wv_quic__link_push(&c->sendq, &s->sendq);
        }
    }
    flush(ep, &b);
    if (b.err) {
        shrink(c);
        wv_quic__ep_mark_dirty(c);
    }
    if (c->hs_done && !c->hs_flushed && npkts > 0) {
        c->hs_flushed = true;
        if (c->resets_pending)
            wv_quic__ep_mark_dirty(c); /* the resets held back for it */
    }
    ngtcp2_conn_update_pkt_tx_time(c->nc, ts);
    return true;
}

/* ---- I/O entry points (never inside an ngtcp2 call) ---- */

void wv_quic__conn_read(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt,
                        size_t len) {
    wv_quic_endpoint *ep = c->ep;
    if (c->state == WV_QUIC__DEAD || c->state == WV_QUIC__DRAINING)
        return;
    if (c->state == WV_QUIC__CLOSING) {
        /* Repeat our CONNECTION_CLOSE, ever more rarely. */
        uint64_t n = ++c->closing_rx;
        if (c->close_pkt && (n & (n - 1)) == 0)
            wv_quic__ep_send(ep, from, c->close_pkt, c->close_pktlen);
        return;
    }
    ngtcp2_path path = {
        {(ngtcp2_sockaddr *)&ep->local, wv_quic__addr_len((struct sockaddr *)&ep->local)},
        {(ngtcp2_sockaddr *)from, wv_quic__addr_len(from)},
        NULL};
    ngtcp2_pkt_info pi = {0};
    c->bytes_recv += len;
    c->pkts_recv++;
    wv_quic__fec_received(c, from, pkt, len);
    int rv = ngtcp2_conn_read_pkt(c->nc, &path, &pi, pkt, len, wv_quic__now());
    if (rv == 0) {
        if (c->state < WV_QUIC__CLOSING)
            wv_quic__ep_mark_dirty(c);
    } else if (rv == NGTCP2_ERR_DRAINING) {
        wv_quic__conn_drain(c);
    } else {
        if (rv != NGTCP2_ERR_DROP_CONN && rv != NGTCP2_ERR_RETRY &&
            rv != NGTCP2_ERR_RECV_VERSION_NEGOTIATION)
            WV_DEBUG(ep->log, WV_QUIC__SUB, "read_pkt: %s", ngtcp2_strerror(rv));
        wv_quic__conn_fail(c, rv);
    }
}

/* Lets ngtcp2 act on a due deadline (loss detection, ACK delay, idle,
 * pacing, PMTUD). Returns false when the connection ended. */
static bool run_expiry(wv_quic_conn *c) {
    ngtcp2_tstamp now = wv_quic__now();
    if (ngtcp2_conn_get_expiry(c->nc) > now)
        return true;
    int rv = ngtcp2_conn_handle_expiry(c->nc, now);
    if (rv == 0)
        return true;
    wv_quic__conn_fail(c, rv);
    return false;
}

static void timer_cb(uv_timer_t *t) {
    wv_quic__conn_process(t->data);
}

static void arm_timer(wv_quic_conn *c) {
    ngtcp2_tstamp exp = ngtcp2_conn_get_expiry(c->nc);
    if (exp == UINT64_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = wv_quic__now();
    /* Round up: firing early only costs a wasted wake-up and re-arm.
     * Pacing needs no finer timer: ngtcp2 lets a packet go up to 1 ms
     * before its pacing time. A deadline already due was just handled in
     * this pass; look again in 1 ms rather than spin. */
    uint64_t ms = exp <= now ? 1 : (exp - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS;
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

void wv_quic__conn_process(wv_quic_conn *c) {
    if (c->state >= WV_QUIC__CLOSING)
        return;
    wv_quic_endpoint *ep = c->ep;
    if (c->streams_avail && !c->close_requested) {
        c->streams_avail = c->streams_wanted = false;
        if (ep->cbs.on_streams_available)
            ep->cbs.on_streams_available(c, ep->user);
    }
    if (!c->close_requested) {
        wv_quic__stream_do_pending(c);
        wv_quic__stream_fire_writable(c);
    }
    if (c->close_requested) {
        wv_quic__conn_close_local(c);
        return;
    }
    if (!run_expiry(c))
        return;
    if (!write_packets(c))
        return;
    arm_timer(c);
}

/* ---- public verbs ---- */

void wv_quic_conn_close(wv_quic_conn *c, uint64_t app_error) {
    if (c->close_requested || c->state >= WV_QUIC__CLOSING)
        return;
    c->close_requested = true;
    c->close_code = app_error;
    wv_quic__ep_mark_dirty(c);
}

void wv_quic_conn_set_user(wv_quic_conn *c, void *user) {
    c->user = user;
}
void *wv_quic_conn_get_user(const wv_quic_conn *c) {
    return c->user;
}
wv_quic_endpoint *wv_quic_conn_endpoint(const wv_quic_conn *c) {
    return c->ep;
}
bool wv_quic_conn_is_server(const wv_quic_conn *c) {
    return c->server;
}
bool wv_quic_conn_handshake_done(const wv_quic_conn *c) {
    return c->hs_notified;
}

void wv_quic_conn_stats_get(wv_quic_conn *c, wv_quic_conn_stats *out) {
    memset(out, 0, sizeof(*out));
    if (c->nc) {
        ngtcp2_conn_info ci;
        ngtcp2_conn_get_conn_info(c->nc, &ci);
        out->smoothed_rtt_ns = ci.smoothed_rtt;
        out->min_rtt_ns = ci.min_rtt;
        out->latest_rtt_ns = ci.latest_rtt;
        out->cwnd = ci.cwnd;
        out->bytes_in_flight = ci.bytes_in_flight;
        const ngtcp2_path *path = ngtcp2_conn_get_path(c->nc);
        if (path->remote.addrlen && path->remote.addrlen <= sizeof(c->remote))
            memcpy(&c->remote, path->remote.addr, path->remote.addrlen);
    }
    out->bytes_sent = c->bytes_sent;
    out->bytes_recv = c->bytes_recv;
    out->pkts_sent = c->pkts_sent;
    out->pkts_recv = c->pkts_recv;
    out->streams_open = c->nstreams;
    out->rx_window = c->rx.window;
    out->max_udp_payload = wv_quic__conn_payload(c);
    out->dgrams_sent = c->dgrams_sent;
    out->dgrams_recv = c->dgrams_recv;
    out->dgrams_dropped = c->dgrams_dropped;
    wv_quic__fec_stats(c, &out->fec);
    out->local = c->ep->local;
    out->remote = c->remote;
}
