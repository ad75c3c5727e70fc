/* One QUIC connection: creation, ngtcp2 callbacks, timers, the closing and
 * draining periods, teardown. */
#include "quic_int.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t qnow(void) {
    return uv_hrtime();
}

static void arm_timer(wv_quic_conn *c);
static void timer_cb(uv_timer_t *t);
static void destroy(wv_quic_conn *c);

/* ---- ngtcp2 callbacks: state changes only, never I/O ---- */

void qconn_addr_str(const wv_quic_conn *c, char out[64]) {
    char ip[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr *sa = (const struct sockaddr *)&c->remote;
    if (sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
        snprintf(out, 64, "[%s]:%d", ip, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    } else {
        uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
        snprintf(out, 64, "%s:%d", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    }
}

/* Fires the app's on_handshake_done right here rather than after
 * read_pkt: 1-RTT stream frames coalesced with the client's Finished are
 * processed in the same read_pkt call, and the app must hear of the
 * handshake before it hears of those streams. */
static int on_handshake_completed(ngtcp2_conn *nc, void *ud) {
    wv_quic_conn *c = ud;
    c->hs_done = true;
    if (c->state == QS_HANDSHAKE)
        c->state = QS_OPEN;
    gnutls_datum_t sel;
    if (gnutls_alpn_get_selected_protocol(c->tls, &sel) < 0 || sel.size != strlen(WV_QUIC_ALPN) ||
        memcmp(sel.data, WV_QUIC_ALPN, sel.size) != 0) {
        c->info = (wv_quic_close_info){WV_ERR_CRYPTO, false, false, 0, "ALPN mismatch"};
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    c->hs_notified = true;
    char addr[64], fp[WV_FINGERPRINT_HEX_LEN + 1];
    qconn_addr_str(c, addr);
    wv_fingerprint_to_hex(c->peer_fp, fp);
    WV_INFO(c->ep->log, QSUB, "conn %s (%s) established, peer certificate %s", addr,
            c->server ? "inbound" : "outbound", fp);
    if (c->ep->cbs.on_handshake_done)
        c->ep->cbs.on_handshake_done(c, c->ep->user);
    return 0;
}

static qstream *stream_of(wv_quic_conn *c, int64_t sid, void *sud) {
    return sud ? sud : qmap_get(&c->streams, (const uint8_t *)&sid, sizeof(sid));
}

static int on_stream_open(ngtcp2_conn *nc, int64_t sid, void *ud) {
    wv_quic_conn *c = ud;
    if (!ngtcp2_is_bidi_stream(sid))
        return 0; /* we grant no unidirectional streams; cannot happen */
    qstream *s = qstream_new(c, sid, true);
    ngtcp2_conn_set_stream_user_data(nc, sid, s);
    if (c->ep->cbs.on_stream_open && !c->closed_notified)
        c->ep->cbs.on_stream_open(c, sid, c->ep->user);
    return 0;
}

static int on_recv_stream_data(ngtcp2_conn *nc, uint32_t flags, int64_t sid, uint64_t off,
                               const uint8_t *data, size_t len, void *ud, void *sud) {
    wv_quic_conn *c = ud;
    qstream *s = stream_of(c, sid, sud);
    bool fin = flags & NGTCP2_STREAM_DATA_FLAG_FIN;
    if (!s)
        return 0;
    s->delivered += len;
    if (s->app_reset || c->closed_notified) {
        /* Nobody will consume it: give the credit straight back. */
        s->consumed += len;
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
    wv_quic_conn *c = ud;
    qstream *s = stream_of(c, sid, sud);
    if (s)
        qstream_acked(c, s, off, len);
    return 0;
}

static int on_stream_close(ngtcp2_conn *nc, uint32_t flags, int64_t sid, uint64_t app_error,
                           void *ud, void *sud) {
    wv_quic_conn *c = ud;
    qstream *s = stream_of(c, sid, sud);
    if (!s)
        return 0;
    uint64_t code = (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) ? app_error : 0;
    /* Stream slots and connection credit are never returned by ngtcp2 on
     * its own; without this the peer stalls after max_streams_bidi streams
     * or after a window's worth of data on abandoned streams. */
    if (s->remote)
        ngtcp2_conn_extend_max_streams_bidi(nc, 1);
    if (s->delivered > s->consumed)
        ngtcp2_conn_extend_max_offset(nc, s->delivered - s->consumed);
    if (c->ep->cbs.on_stream_close && !c->closed_notified)
        c->ep->cbs.on_stream_close(c, sid, code, c->ep->user);
    qstream_free(c, s);
    qep_mark_dirty(c);
    return 0;
}

static void peer_aborted(wv_quic_conn *c, qstream *s, uint64_t code) {
    if (!s || s->peer_aborted || s->app_reset || c->closed_notified)
        return;
    s->peer_aborted = true;
    if (c->ep->cbs.on_stream_reset)
        c->ep->cbs.on_stream_reset(c, s->id, code, c->ep->user);
}

static int on_stream_reset(ngtcp2_conn *nc, int64_t sid, uint64_t final_size, uint64_t app_error,
                           void *ud, void *sud) {
    wv_quic_conn *c = ud;
    peer_aborted(c, stream_of(c, sid, sud), app_error);
    return 0;
}

static int on_extend_max_stream_data(ngtcp2_conn *nc, int64_t sid, uint64_t max_data, void *ud,
                                     void *sud) {
    wv_quic_conn *c = ud;
    qstream *s = stream_of(c, sid, sud);
    if (!s)
        return 0;
    s->blocked = false;
    if ((s->end > s->sent || (s->fin_wanted && !s->fin_sent)) && !ql_linked(&s->sendq))
        ql_push(&c->sendq, &s->sendq);
    qep_mark_dirty(c);
    return 0;
}

static int on_extend_max_local_streams_bidi(ngtcp2_conn *nc, uint64_t max_streams, void *ud) {
    wv_quic_conn *c = ud;
    if (c->streams_wanted) {
        c->streams_avail = true;
        qep_mark_dirty(c);
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
    qmap_put(&c->ep->cids, cid->data, cid->datalen, c);
    return 0;
}

static int on_remove_connection_id(ngtcp2_conn *nc, const ngtcp2_cid *cid, void *ud) {
    wv_quic_conn *c = ud;
    qmap_del(&c->ep->cids, cid->data, cid->datalen, c);
    return 0;
}

static int on_recv_stateless_reset(ngtcp2_conn *nc, const ngtcp2_pkt_stateless_reset *sr,
                                   void *ud) {
    wv_quic_conn *c = ud;
    c->info = (wv_quic_close_info){WV_ERR_CLOSED, true, false, 0, "stateless reset"};
    return 0;
}

static int on_dcid_status(ngtcp2_conn *nc, int type, uint64_t seq, const ngtcp2_cid *cid,
                          const uint8_t *token, void *ud) {
    wv_quic_conn *c = ud;
    if (!token)
        return 0;
    qmap *m = &c->ep->tokens;
    if (type == NGTCP2_CONNECTION_ID_STATUS_TYPE_ACTIVATE) {
        /* Bounded; a token we cannot hold only means a slower detection
         * (idle timeout) of a peer's restart. */
        if (c->ntokens < WV_COUNTOF(c->tokens)) {
            memcpy(c->tokens[c->ntokens++], token, NGTCP2_STATELESS_RESET_TOKENLEN);
            qmap_put(m, token, NGTCP2_STATELESS_RESET_TOKENLEN, c);
        }
        return 0;
    }
    for (size_t i = 0; i < c->ntokens; i++)
        if (memcmp(c->tokens[i], token, NGTCP2_STATELESS_RESET_TOKENLEN) == 0) {
            qmap_del(m, token, NGTCP2_STATELESS_RESET_TOKENLEN, c);
            memmove(c->tokens[i], c->tokens[c->ntokens - 1], NGTCP2_STATELESS_RESET_TOKENLEN);
            c->ntokens--;
            break;
        }
    return 0;
}

void qconn_set_callbacks(ngtcp2_callbacks *cb) {
    memset(cb, 0, sizeof(*cb));
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
    cb->recv_stream_data = on_recv_stream_data;
    cb->acked_stream_data_offset = on_acked_stream_data_offset;
    cb->stream_open = on_stream_open;
    cb->stream_close = on_stream_close;
    cb->stream_reset = on_stream_reset;
    cb->extend_max_stream_data = on_extend_max_stream_data;
    cb->extend_max_local_streams_bidi = on_extend_max_local_streams_bidi;
    cb->rand = on_rand;
    cb->get_new_connection_id = on_get_new_connection_id;
    cb->remove_connection_id = on_remove_connection_id;
    cb->recv_stateless_reset = on_recv_stateless_reset;
    cb->dcid_status = on_dcid_status;
}

/* ---- creation ---- */

static const ngtcp2_cc_algo cc_algos[] = {NGTCP2_CC_ALGO_CUBIC, NGTCP2_CC_ALGO_RENO,
                                          NGTCP2_CC_ALGO_BBR, NGTCP2_CC_ALGO_BBR2};

int qconn_new(wv_quic_endpoint *ep, bool server, const struct sockaddr *remote,
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
    c->state = QS_HANDSHAKE;
    memcpy(&c->remote, remote, qaddr_len(remote));
    qmap_init(&c->streams);
    ql_init(&c->all_streams);
    ql_init(&c->sendq);
    ql_init(&c->wantq);
    ql_init(&c->ep_link);
    ql_init(&c->dirty_link);

    scid.datalen = QCID_LEN;
    dcid.datalen = QCID_LEN;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, QCID_LEN) < 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, QCID_LEN) < 0)
        goto fail_early;

    ngtcp2_settings_default(&st);
    st.initial_ts = qnow();
    st.cc_algo = cc_algos[cfg->cc];
    c->max_payload = qpath_payload(cfg, remote, ep->log);
    st.max_tx_udp_payload_size = c->max_payload;
    /* Above what PMTUD would find, the size is known: no probing. */
    st.no_tx_udp_payload_size_shaping = c->max_payload > NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE;
    /* Auto-tuning may grow windows, but only up to the configured values:
     * the app sizes its buffers to them. */
    st.max_window = cfg->conn_window;
    st.max_stream_window = cfg->stream_window;
    st.handshake_timeout = (uint64_t)cfg->handshake_timeout_ms * NGTCP2_MILLISECONDS;

    /* 0.12 defaults every limit to zero: set each one. */
    ngtcp2_transport_params_default(&p);
    p.initial_max_stream_data_bidi_local = cfg->stream_window;
    p.initial_max_stream_data_bidi_remote = cfg->stream_window;
    p.initial_max_stream_data_uni = 0;
    p.initial_max_data = cfg->conn_window;
    p.initial_max_streams_bidi = cfg->max_streams_bidi;
    p.initial_max_streams_uni = 0;
    p.max_idle_timeout = (uint64_t)cfg->idle_timeout_ms * NGTCP2_MILLISECONDS;
    p.max_udp_payload_size = NGTCP2_DEFAULT_MAX_RECV_UDP_PAYLOAD_SIZE;
    p.active_connection_id_limit = 4;
    p.ack_delay_exponent = NGTCP2_DEFAULT_ACK_DELAY_EXPONENT;
    p.max_ack_delay = NGTCP2_DEFAULT_MAX_ACK_DELAY;
    p.max_datagram_frame_size = 0;
    p.disable_active_migration = 0;

    qconn_set_callbacks(&cbs);
    ngtcp2_path path = {{(ngtcp2_sockaddr *)&ep->local, qaddr_len((struct sockaddr *)&ep->local)},
                        {(ngtcp2_sockaddr *)&c->remote, qaddr_len(remote)},
                        NULL};
    if (server) {
        cbs.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
        p.original_dcid = hd->dcid;
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
        cbs.client_initial = ngtcp2_crypto_client_initial_cb;
        cbs.recv_retry = ngtcp2_crypto_recv_retry_cb;
        rv = ngtcp2_conn_client_new(&c->nc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cbs, &st, &p,
                                    NULL, c);
    }
    if (rv != 0) {
        WV_WARN(ep->log, QSUB, "conn_new: %s", ngtcp2_strerror(rv));
        goto fail_early;
    }
    if (qtls_session_new(c) < 0) {
        ngtcp2_conn_del(c->nc);
        goto fail_early;
    }
    ngtcp2_conn_set_tls_native_handle(c->nc, c->tls);
    if (cfg->keepalive_ms)
        ngtcp2_conn_set_keep_alive_timeout(c->nc,
                                           (uint64_t)cfg->keepalive_ms * NGTCP2_MILLISECONDS);

    qmap_put(&ep->cids, scid.data, scid.datalen, c);
    if (server)
        qmap_put(&ep->cids, c->odcid.data, c->odcid.datalen, c);
    uv_timer_init(ep->loop, &c->timer);
    c->timer.data = c;
    ep->handles++;
    ql_push(&ep->conns, &c->ep_link);
    if (server)
        ep->ninbound++;
    *out = c;
    return 0;
fail_early:
    qmap_dispose(&c->streams);
    free(c);
    return WV_ERR_CRYPTO;
}

/* ---- endings ---- */

static void notify_closed(wv_quic_conn *c) {
    if (c->closed_notified)
        return;
    wv_quic_endpoint *ep = c->ep;
    /* Streams first, so the app can release per-stream state in the usual
     * place; then the connection. */
    while (ql_linked(&c->all_streams)) {
        qstream *s = WV_CONTAINER_OF(c->all_streams.next, qstream, all);
        if (c->nc)
            ngtcp2_conn_set_stream_user_data(c->nc, s->id, NULL);
        if (ep->cbs.on_stream_close)
            ep->cbs.on_stream_close(c, s->id, WV_QUIC_STREAM_CONN_GONE, ep->user);
        qstream_free(c, s);
    }
    c->closed_notified = true;
    if (!c->info.what)
        c->info = (wv_quic_close_info){WV_ERR_CLOSED, false, false, 0, "closed"};
    char addr[64];
    qconn_addr_str(c, addr);
    WV_INFO(ep->log, QSUB, "conn %s (%s) closed: %s (%s code %llu, %s)", addr,
            c->server ? "inbound" : "outbound", c->info.what,
            c->info.app_code ? "app" : "transport", (unsigned long long)c->info.code,
            c->info.err ? wv_strerror(c->info.err) : "clean");
    if (ep->cbs.on_conn_closed)
        ep->cbs.on_conn_closed(c, &c->info, ep->user);
}

/* The closing and draining periods last three PTOs (RFC 9000 10.2). */
static void start_period(wv_quic_conn *c, enum qstate st) {
    c->state = st;
    uint64_t ms = ngtcp2_conn_get_pto(c->nc) * 3 / NGTCP2_MILLISECONDS + 1;
    uv_timer_start(&c->timer, timer_cb, ms, 0);
    ql_del(&c->dirty_link);
    notify_closed(c);
}

static bool write_close(wv_quic_conn *c, const ngtcp2_connection_close_error *ccerr) {
    ngtcp2_path_storage ps;
    ngtcp2_pkt_info pi = {0};
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->nc, &ps.path, &pi, c->ep->txbuf,
                                                        c->max_payload, ccerr, qnow());
    if (n <= 0)
        return false;
    free(c->close_pkt);
    c->close_pkt = wv_malloc((size_t)n);
    memcpy(c->close_pkt, c->ep->txbuf, (size_t)n);
    c->close_pktlen = (size_t)n;
    /* The peer may have moved (NAT rebinding): ngtcp2 knows the path. */
    if (ps.path.remote.addrlen && ps.path.remote.addrlen <= sizeof(c->remote))
        memcpy(&c->remote, ps.path.remote.addr, ps.path.remote.addrlen);
    qep_send(c->ep, (const struct sockaddr *)&c->remote, c->close_pkt, c->close_pktlen);
    return true;
}

static int err_of_transport(uint64_t code) {
    if (code >= NGTCP2_CRYPTO_ERROR && code <= (NGTCP2_CRYPTO_ERROR | 0xff))
        return WV_ERR_CRYPTO;
    if (code == NGTCP2_NO_ERROR)
        return WV_ERR_CLOSED;
    return WV_ERR_PROTO;
}

/* Local failure: tell the peer why, then linger in the closing period. */
void qconn_fail(wv_quic_conn *c, int liberr) {
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    if (liberr == NGTCP2_ERR_CRYPTO) {
        uint8_t alert = ngtcp2_conn_get_tls_alert(c->nc);
        ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, alert, NULL, 0);
    } else {
        ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr, NULL, 0);
    }
    if (!c->info.what)
        c->info = (wv_quic_close_info){
            liberr == NGTCP2_ERR_CRYPTO ? WV_ERR_CRYPTO : err_of_transport(ccerr.error_code), false,
            false, ccerr.error_code,
            liberr == NGTCP2_ERR_CRYPTO ? "TLS handshake failed" : ngtcp2_strerror(liberr)};
    if (write_close(c, &ccerr))
        start_period(c, QS_CLOSING);
    else
        qconn_abort(c, c->info.what);
}

static void close_local(wv_quic_conn *c) {
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    ngtcp2_connection_close_error_set_application_error(&ccerr, c->close_code, NULL, 0);
    if (!c->info.what)
        c->info = (wv_quic_close_info){c->close_code ? WV_ERR_CLOSED : 0, false, true,
                                       c->close_code, "closed locally"};
    if (write_close(c, &ccerr))
        start_period(c, QS_CLOSING);
    else
        qconn_abort(c, c->info.what);
}

/* Ends at once, telling the peer nothing (unless the app asked for a close
 * that has not gone out yet). */
void qconn_abort(wv_quic_conn *c, const char *what) {
    if (c->state == QS_DEAD)
        return;
    if (c->close_requested && c->state < QS_CLOSING && c->ep->bound && !c->close_pkt) {
        ngtcp2_connection_close_error ccerr;
        ngtcp2_connection_close_error_default(&ccerr);
        ngtcp2_connection_close_error_set_application_error(&ccerr, c->close_code, NULL, 0);
        write_close(c, &ccerr);
        if (!c->info.what)
            c->info = (wv_quic_close_info){c->close_code ? WV_ERR_CLOSED : 0, false, true,
                                           c->close_code, "closed locally"};
    }
    if (!c->info.what)
        c->info = (wv_quic_close_info){WV_ERR_CLOSED, false, false, 0, what};
    notify_closed(c);
    destroy(c);
}

static void timer_close_cb(uv_handle_t *h) {
    wv_quic_conn *c = h->data;
    wv_quic_endpoint *ep = c->ep;
    free(c);
    qep_handle_closed(ep);
}

static void destroy(wv_quic_conn *c) {
    wv_quic_endpoint *ep = c->ep;
    c->state = QS_DEAD;
    if (c->nc) {
        size_t n = ngtcp2_conn_get_num_scid(c->nc);
        ngtcp2_cid *ids = wv_calloc(n ? n : 1, sizeof(*ids));
        n = ngtcp2_conn_get_scid(c->nc, ids);
        for (size_t i = 0; i < n; i++)
            qmap_del(&ep->cids, ids[i].data, ids[i].datalen, c);
        free(ids);
    }
    if (c->server) {
        qmap_del(&ep->cids, c->odcid.data, c->odcid.datalen, c);
        ep->ninbound--;
    }
    for (size_t i = 0; i < c->ntokens; i++)
        qmap_del(&ep->tokens, c->tokens[i], NGTCP2_STATELESS_RESET_TOKENLEN, c);
    c->ntokens = 0;
    while (ql_linked(&c->all_streams))
        qstream_free(c, WV_CONTAINER_OF(c->all_streams.next, qstream, all));
    if (c->nc)
        ngtcp2_conn_del(c->nc);
    if (c->tls)
        gnutls_deinit(c->tls);
    c->nc = NULL;
    c->tls = NULL;
    qmap_dispose(&c->streams);
    free(c->close_pkt);
    c->close_pkt = NULL;
    ql_del(&c->ep_link);
    ql_del(&c->dirty_link);
    uv_close((uv_handle_t *)&c->timer, timer_close_cb);
}

/* ---- I/O entry points (never inside an ngtcp2 call) ---- */

static void after_io(wv_quic_conn *c) {
    if (c->state < QS_CLOSING)
        qep_mark_dirty(c);
}

void qconn_read(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt, size_t len) {
    wv_quic_endpoint *ep = c->ep;
    if (c->state == QS_DEAD || c->state == QS_DRAINING)
        return;
    if (c->state == QS_CLOSING) {
        /* Repeat our CONNECTION_CLOSE, ever more rarely. */
        uint64_t n = ++c->closing_rx;
        if (c->close_pkt && (n & (n - 1)) == 0)
            qep_send(ep, from, c->close_pkt, c->close_pktlen);
        return;
    }
    ngtcp2_path path = {{(ngtcp2_sockaddr *)&ep->local, qaddr_len((struct sockaddr *)&ep->local)},
                        {(ngtcp2_sockaddr *)from, qaddr_len(from)},
                        NULL};
    ngtcp2_pkt_info pi = {0};
    c->bytes_recv += len;
    c->pkts_recv++;
    int rv = ngtcp2_conn_read_pkt(c->nc, &path, &pi, pkt, len, qnow());
    if (rv == 0) {
        after_io(c);
        return;
    }
    if (rv == NGTCP2_ERR_DRAINING) {
        if (!c->info.what) {
            ngtcp2_connection_close_error ccerr;
            ngtcp2_conn_get_connection_close_error(c->nc, &ccerr);
            bool app = ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION;
            int err =
                app ? (ccerr.error_code ? WV_ERR_CLOSED : 0) : err_of_transport(ccerr.error_code);
            c->info = (wv_quic_close_info){err, true, app, ccerr.error_code, "closed by peer"};
        }
        start_period(c, QS_DRAINING);
    } else if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_RETRY) {
        qconn_abort(c, "dropped");
    } else if (rv == NGTCP2_ERR_RECV_VERSION_NEGOTIATION) {
        c->info = (wv_quic_close_info){WV_ERR_PROTO, true, false, 0, "no common QUIC version"};
        qconn_abort(c, c->info.what);
    } else {
        WV_DEBUG(ep->log, QSUB, "read_pkt: %s", ngtcp2_strerror(rv));
        qconn_fail(c, rv);
    }
}

/* Lets ngtcp2 act on a due deadline (loss detection, ACK delay, idle,
 * pacing). Returns false when the connection ended. */
static bool run_expiry(wv_quic_conn *c) {
    ngtcp2_tstamp now = qnow();
    if (ngtcp2_conn_get_expiry(c->nc) > now)
        return true;
    int rv = ngtcp2_conn_handle_expiry(c->nc, now);
    if (rv == 0)
        return true;
    if (rv == NGTCP2_ERR_IDLE_CLOSE) {
        /* Silence is the protocol here: the peer times out too. */
        c->info = (wv_quic_close_info){WV_ERR_CLOSED, false, false, 0, "idle timeout"};
        qconn_abort(c, c->info.what);
    } else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
        c->info = (wv_quic_close_info){WV_ERR_CLOSED, false, false, 0, "handshake timeout"};
        qconn_abort(c, c->info.what);
    } else {
        qconn_fail(c, rv);
    }
    return false;
}

static void timer_cb(uv_timer_t *t) {
    wv_quic_conn *c = t->data;
    if (c->state == QS_CLOSING || c->state == QS_DRAINING) {
        destroy(c);
        return;
    }
    qconn_process(c);
}

static void arm_timer(wv_quic_conn *c) {
    ngtcp2_tstamp exp = ngtcp2_conn_get_expiry(c->nc);
    if (exp == UINT64_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = qnow();
    /* Round up: firing early only costs a wasted wake-up and re-arm.
     * Pacing needs no finer timer: ngtcp2 lets a packet go up to 1 ms
     * before its pacing time (NGTCP2_PKT_PACING_OVERHEAD). A deadline
     * already due was just handled in this pass; look again in 1 ms rather
     * than spin. */
    uint64_t ms = exp <= now ? 1 : (exp - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS;
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

void qconn_process(wv_quic_conn *c) {
    if (c->state >= QS_CLOSING)
        return;
    wv_quic_endpoint *ep = c->ep;
    if (c->streams_avail && !c->close_requested) {
        c->streams_avail = c->streams_wanted = false;
        if (ep->cbs.on_streams_available)
            ep->cbs.on_streams_available(c, ep->user);
    }
    if (!c->close_requested) {
        qstream_do_pending(c);
        qstream_fire_writable(c);
    }
    if (c->close_requested) {
        close_local(c);
        return;
    }
    if (!run_expiry(c))
        return;
    if (!qconn_write(c))
        return;
    arm_timer(c);
}

/* ---- public verbs ---- */

void wv_quic_conn_close(wv_quic_conn *c, uint64_t app_error) {
    if (c->close_requested || c->state >= QS_CLOSING)
        return;
    c->close_requested = true;
    c->close_code = app_error;
    qep_mark_dirty(c);
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
        ngtcp2_conn_stat st;
        ngtcp2_conn_get_conn_stat(c->nc, &st);
        out->smoothed_rtt_ns = st.smoothed_rtt;
        out->min_rtt_ns = st.min_rtt;
        out->latest_rtt_ns = st.latest_rtt;
        out->cwnd = st.cwnd;
        out->bytes_in_flight = st.bytes_in_flight;
        const ngtcp2_path *path = ngtcp2_conn_get_path(c->nc);
        if (path->remote.addrlen && path->remote.addrlen <= sizeof(c->remote))
            memcpy(&c->remote, path->remote.addr, path->remote.addrlen);
    }
    out->bytes_sent = c->bytes_sent;
    out->bytes_recv = c->bytes_recv;
    out->pkts_sent = c->pkts_sent;
    out->pkts_recv = c->pkts_recv;
    out->streams_open = c->nstreams;
    out->max_udp_payload = c->max_payload;
    out->local = c->ep->local;
    out->remote = c->remote;
}
