/* The ends of a connection: the CONNECTION_CLOSE that ngtcp2_ccerr asks
 * for (or silence), the closing and draining periods, on_conn_closed and
 * teardown. */
#include "quic_int.h"

#include <stdlib.h>
#include <string.h>

static void destroy(wv_quic_conn *c);

static void notify_closed(wv_quic_conn *c) {
    if (c->closed_notified)
        return;
    wv_quic_endpoint *ep = c->ep;
    /* Streams first, so the app can release per-stream state in the usual
     * place; then the connection. */
    while (wv_quic__linked(&c->all_streams)) {
        wv_quic__stream *s = WV_CONTAINER_OF(c->all_streams.next, wv_quic__stream, all);
        if (c->nc)
            ngtcp2_conn_set_stream_user_data(c->nc, s->id, NULL);
        if (ep->cbs.on_stream_close)
            ep->cbs.on_stream_close(c, s->id, WV_QUIC_STREAM_CONN_GONE, ep->user);
        wv_quic__stream_free(c, s);
    }
    c->closed_notified = true;
    if (!c->info.what)
        c->info = (wv_quic_close_info){WV_ERR_CLOSED, false, false, 0, "closed"};
    char addr[64];
    wv_quic__addr_str(c, addr);
    WV_INFO(ep->log, WV_QUIC__SUB, "conn %s (%s) closed: %s (%s code %llu, %s)", addr,
            c->server ? "inbound" : "outbound", c->info.what,
            c->info.app_code ? "app" : "transport", (unsigned long long)c->info.code,
            c->info.err ? wv_strerror(c->info.err) : "clean");
    if (ep->cbs.on_conn_closed)
        ep->cbs.on_conn_closed(c, &c->info, ep->user);
}

/* The closing and draining periods last three PTOs (RFC 9000 10.2). */
static void period_over(uv_timer_t *t) {
    destroy(t->data);
}

static void start_period(wv_quic_conn *c, enum wv_quic__state st) {
    c->state = st;
    uint64_t ms = ngtcp2_conn_get_pto(c->nc) * 3 / NGTCP2_MILLISECONDS + 1;
    uv_timer_start(&c->timer, period_over, ms, 0);
    wv_quic__link_del(&c->dirty_link);
    notify_closed(c);
}

/* Writes and sends the CONNECTION_CLOSE ccerr asks for. False when there
 * is none to send: ngtcp2 writes nothing for the silent kinds (idle close,
 * dropped connection, version negotiation), or the connection cannot. */
static bool write_close(wv_quic_conn *c, const ngtcp2_ccerr *ccerr) {
    ngtcp2_path_storage ps;
    ngtcp2_pkt_info pi = {0};
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
        c->nc, &ps.path, &pi, c->ep->txbuf, wv_quic__conn_payload(c), ccerr, wv_quic__now());
    if (n <= 0)
        return false;
    free(c->close_pkt);
    c->close_pkt = wv_malloc((size_t)n);
    memcpy(c->close_pkt, c->ep->txbuf, (size_t)n);
    c->close_pktlen = (size_t)n;
    /* The peer may have moved (NAT rebinding): ngtcp2 knows the path. */
    if (ps.path.remote.addrlen && ps.path.remote.addrlen <= sizeof(c->remote))
        memcpy(&c->remote, ps.path.remote.addr, ps.path.remote.addrlen);
    wv_quic__ep_send(c->ep, (const struct sockaddr *)&c->remote, c->close_pkt, c->close_pktlen);
    return true;
}

/* What a close with ccerr means for the app (wv_quic_close_info). */
static wv_quic_close_info info_of(const ngtcp2_ccerr *e, bool remote, const char *what) {
    wv_quic_close_info i = {WV_ERR_CLOSED, remote, false, e->error_code, what};
    switch (e->type) {
    case NGTCP2_CCERR_TYPE_APPLICATION:
        i.app_code = true;
        i.err = e->error_code ? WV_ERR_CLOSED : 0;
        break;
    case NGTCP2_CCERR_TYPE_TRANSPORT:
        if (e->error_code >= NGTCP2_CRYPTO_ERROR && e->error_code <= (NGTCP2_CRYPTO_ERROR | 0xff))
            i.err = WV_ERR_CRYPTO;
        else if (e->error_code != NGTCP2_NO_ERROR)
            i.err = WV_ERR_PROTO;
        break;
    case NGTCP2_CCERR_TYPE_VERSION_NEGOTIATION:
        i.err = WV_ERR_PROTO;
        break;
    default: /* idle close, dropped, retry */
        break;
    }
    return i;
}

/* The library failed the connection (read, expiry or write): ngtcp2_ccerr
 * tells whether the peer gets a CONNECTION_CLOSE (a TLS alert for a failed
 * handshake) and the closing period follows, or the connection ends
 * silently (idle timeout, handshake timeout, dropped, version
 * negotiation). */
void wv_quic__conn_fail(wv_quic_conn *c, int liberr) {
    ngtcp2_ccerr ccerr;
    ngtcp2_ccerr_default(&ccerr);
    const char *what = ngtcp2_strerror(liberr);
    bool remote = false;
    switch (liberr) {
    case NGTCP2_ERR_CRYPTO:
        ngtcp2_ccerr_set_tls_alert(&ccerr, ngtcp2_conn_get_tls_alert(c->nc), NULL, 0);
        what = "TLS handshake failed";
        break;
    case NGTCP2_ERR_IDLE_CLOSE:
        /* Silence is the protocol here: the peer times out too. */
        ngtcp2_ccerr_set_liberr(&ccerr, liberr, NULL, 0);
        what = "idle timeout";
        break;
    case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
        /* Nobody answered: nobody to tell. */
        ccerr.type = NGTCP2_CCERR_TYPE_DROP_CONN;
        what = "handshake timeout";
        break;
    case NGTCP2_ERR_RECV_VERSION_NEGOTIATION:
        ngtcp2_ccerr_set_liberr(&ccerr, liberr, NULL, 0);
        what = "no common QUIC version";
        remote = true;
        break;
    case NGTCP2_ERR_DROP_CONN:
    case NGTCP2_ERR_RETRY:
        ngtcp2_ccerr_set_liberr(&ccerr, liberr, NULL, 0);
        what = "dropped";
        break;
    default:
        ngtcp2_ccerr_set_liberr(&ccerr, liberr, NULL, 0);
        break;
    }
    if (!c->info.what)
        c->info = info_of(&ccerr, remote, what);
    if (liberr == NGTCP2_ERR_CRYPTO)
        c->info.err = WV_ERR_CRYPTO;
    if (write_close(c, &ccerr))
        start_period(c, WV_QUIC__CLOSING);
    else
        wv_quic__conn_abort(c, c->info.what);
}

void wv_quic__conn_close_local(wv_quic_conn *c) {
    ngtcp2_ccerr ccerr;
    ngtcp2_ccerr_default(&ccerr);
    ngtcp2_ccerr_set_application_error(&ccerr, c->close_code, NULL, 0);
    if (!c->info.what)
        c->info = info_of(&ccerr, false, "closed locally");
    if (write_close(c, &ccerr))
        start_period(c, WV_QUIC__CLOSING);
    else
        wv_quic__conn_abort(c, c->info.what);
}

/* Ends at once, telling the peer nothing (unless the app asked for a close
 * that has not gone out yet). */
void wv_quic__conn_abort(wv_quic_conn *c, const char *what) {
    if (c->state == WV_QUIC__DEAD)
        return;
    if (c->close_requested && c->state < WV_QUIC__CLOSING && c->ep->bound && !c->close_pkt) {
        ngtcp2_ccerr ccerr;
        ngtcp2_ccerr_default(&ccerr);
        ngtcp2_ccerr_set_application_error(&ccerr, c->close_code, NULL, 0);
        write_close(c, &ccerr);
        if (!c->info.what)
            c->info = info_of(&ccerr, false, "closed locally");
    }
    if (!c->info.what)
        c->info = (wv_quic_close_info){WV_ERR_CLOSED, false, false, 0, what};
    notify_closed(c);
    destroy(c);
}

/* The peer's CONNECTION_CLOSE (or a stateless reset, whose callback
 * already said so): the draining period. */
void wv_quic__conn_drain(wv_quic_conn *c) {
    if (!c->info.what)
        c->info = info_of(ngtcp2_conn_get_ccerr(c->nc), true, "closed by peer");
    start_period(c, WV_QUIC__DRAINING);
}

static void timer_close_cb(uv_handle_t *h) {
    wv_quic_conn *c = h->data;
    wv_quic_endpoint *ep = c->ep;
    free(c);
    wv_quic__ep_handle_closed(ep);
}

static void destroy(wv_quic_conn *c) {
    wv_quic_endpoint *ep = c->ep;
    c->state = WV_QUIC__DEAD;
    wv_quic__dgram_free_all(c);
    wv_quic__fec_free(c);
    if (c->nc) {
        size_t n = ngtcp2_conn_get_scid(c->nc, NULL);
        ngtcp2_cid *ids = wv_calloc(n ? n : 1, sizeof(*ids));
        n = ngtcp2_conn_get_scid(c->nc, ids);
        for (size_t i = 0; i < n; i++)
            wv_quic__map_del(&ep->cids, ids[i].data, ids[i].datalen, c);
        free(ids);
    }
    if (c->server) {
        wv_quic__map_del(&ep->cids, c->odcid.data, c->odcid.datalen, c);
        ep->ninbound--;
    }
    for (size_t i = 0; i < c->ntokens; i++)
        wv_quic__map_del(&ep->tokens, c->tokens[i], NGTCP2_STATELESS_RESET_TOKENLEN, c);
    c->ntokens = 0;
    while (wv_quic__linked(&c->all_streams))
        wv_quic__stream_free(c, WV_CONTAINER_OF(c->all_streams.next, wv_quic__stream, all));
    if (c->nc) {
        ngtcp2_conn_del(c->nc);
        wv_quic__budget_release(ep->cfg.budget, c->rx.window);
    }
    if (c->tls)
        gnutls_deinit(c->tls);
    c->nc = NULL;
    c->tls = NULL;
    wv_quic__map_dispose(&c->streams);
    free(c->close_pkt);
    c->close_pkt = NULL;
    wv_quic__link_del(&c->ep_link);
    wv_quic__link_del(&c->dirty_link);
    uv_close((uv_handle_t *)&c->timer, timer_close_cb);
}
