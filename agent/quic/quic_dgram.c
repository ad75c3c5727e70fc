/* QUIC DATAGRAM frames (RFC 9221) and virtual endpoints: what a relay
 * needs to carry other sites' end-to-end QUIC packets inside its channels
 * (docs/NAT.md). Contract in quic.h. */
#include "quic_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- DATAGRAM frames ---- */

static int on_recv_datagram(ngtcp2_conn *nc, uint32_t flags, const uint8_t *data, size_t len,
                            void *ud) {
    wv_quic_conn *c = ud;
    c->dgrams_recv++;
    if (c->ep->cbs.on_datagram)
        c->ep->cbs.on_datagram(c, data, len, c->ep->user);
    return 0;
}

void wv_quic__dgram_set_callbacks(ngtcp2_callbacks *cb) {
    cb->recv_datagram = on_recv_datagram;
}

static size_t peer_max_frame(wv_quic_conn *c) {
    const ngtcp2_transport_params *p = ngtcp2_conn_get_remote_transport_params(c->nc);
    return p ? (size_t)p->max_datagram_frame_size : 0;
}

size_t wv_quic_conn_datagram_max(wv_quic_conn *c) {
    if (!c->nc || !c->hs_done || !c->ep->cfg.datagrams || c->state != WV_QUIC__OPEN)
        return 0;
    size_t frame = peer_max_frame(c);
    if (frame < 8)
        return 0;
    size_t room = wv_quic__conn_payload(c);
    room = room > WV_QUIC__DGRAM_OVERHEAD ? room - WV_QUIC__DGRAM_OVERHEAD : 0;
    /* The frame's type and length count against the peer's limit too. */
    return WV_MIN(room, frame - 5);
}

int wv_quic_conn_send_datagram(wv_quic_conn *c, const uint8_t *hdr, size_t hdrlen,
                               const uint8_t *data, size_t len) {
    if (c->state >= WV_QUIC__CLOSING || c->close_requested)
        return WV_ERR_CLOSED;
    size_t max = wv_quic_conn_datagram_max(c);
    if (max == 0)
        return WV_ERR_INVAL;
    if (hdrlen + len > max || hdrlen + len == 0)
        return WV_ERR_TOOBIG;
    if (c->dg_n >= WV_QUIC__DGRAM_QUEUE) {
        c->dgrams_dropped++;
        return WV_ERR_AGAIN;
    }
    wv_quic__dgram *d = wv_malloc(sizeof(*d) + hdrlen + len);
    d->len = hdrlen + len;
    if (hdrlen)
        memcpy(d->data, hdr, hdrlen);
    if (len)
        memcpy(d->data + hdrlen, data, len);
    WV_QUEUE_APPEND(c->dg_head, c->dg_tail, d);
    c->dg_n++;
    wv_quic__ep_mark_dirty(c);
    return 0;
}

static void pop(wv_quic_conn *c) {
    wv_quic__dgram *d = c->dg_head;
    c->dg_head = d->next;
    if (!c->dg_head)
        c->dg_tail = NULL;
    c->dg_n--;
    free(d);
}

ngtcp2_ssize wv_quic__dgram_write(wv_quic_conn *c, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                  uint8_t *dest, size_t room, ngtcp2_tstamp ts) {
    /* One that no longer fits the path (it narrowed) is dropped: the
     * writer would otherwise get 0 for it forever. */
    size_t max = wv_quic_conn_datagram_max(c);
    while (c->dg_head && c->dg_head->len > max) {
        c->dgrams_dropped++;
        pop(c);
    }
    if (!c->dg_head)
        return 0;
    wv_quic__dgram *d = c->dg_head;
    ngtcp2_vec v = {d->data, d->len};
    int accepted = 0;
    ngtcp2_ssize n = ngtcp2_conn_writev_datagram(c->nc, path, pi, dest, room, &accepted,
                                                 NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, &v, 1, ts);
    if (accepted) {
        c->dgrams_sent++;
        pop(c);
    } else if (n == NGTCP2_ERR_INVALID_ARGUMENT || n == NGTCP2_ERR_INVALID_STATE) {
        /* Larger than the peer takes, or it takes none: never sendable. */
        c->dgrams_dropped++;
        pop(c);
        return NGTCP2_ERR_WRITE_MORE;
    }
    return n;
}

void wv_quic__dgram_free_all(wv_quic_conn *c) {
    while (c->dg_head)
        pop(c);
}

/* ---- virtual endpoints ---- */

int wv_quic_endpoint_bind_virtual(wv_quic_endpoint *ep, const struct sockaddr *local,
                                  wv_quic_virt_send_cb send, void *user) {
    if (ep->bound || ep->closing || !local || !send ||
        (local->sa_family != AF_INET && local->sa_family != AF_INET6))
        return WV_ERR_INVAL;
    memcpy(&ep->local, local, wv_quic__addr_len(local));
    ep->virt = true;
    ep->virt_send = send;
    ep->virt_user = user;
    ep->bound = true;
    return 0;
}

int wv_quic_endpoint_input(wv_quic_endpoint *ep, const struct sockaddr *from, const uint8_t *data,
                           size_t len) {
    if (ep->closing)
        return WV_ERR_CLOSED;
    if (!ep->virt || !from || !data || len == 0 || len > 65527 ||
        (from->sa_family != AF_INET && from->sa_family != AF_INET6))
        return WV_ERR_INVAL;
    if (ep->vin_n >= WV_QUIC__VIRT_QUEUE)
        return WV_ERR_AGAIN;
    wv_quic__dgram *d = wv_malloc(sizeof(*d) + len);
    d->len = len;
    memset(&d->from, 0, sizeof(d->from));
    memcpy(&d->from, from, wv_quic__addr_len(from));
    memcpy(d->data, data, len);
    WV_QUEUE_APPEND(ep->vin_head, ep->vin_tail, d);
    ep->vin_n++;
    wv_quic__ep_wake(ep);
    return 0;
}

void wv_quic__virt_drain(wv_quic_endpoint *ep) {
    /* What arrives meanwhile waits for the next pass. */
    wv_quic__dgram *d = ep->vin_head;
    ep->vin_head = ep->vin_tail = NULL;
    ep->vin_n = 0;
    while (d) {
        wv_quic__dgram *next = d->next;
        if (!ep->closing)
            wv_quic__ep_datagram(ep, d->data, d->len, (const struct sockaddr *)&d->from);
        free(d);
        d = next;
    }
}

void wv_quic__virt_dispose(wv_quic_endpoint *ep) {
    while (ep->vin_head) {
        wv_quic__dgram *d = ep->vin_head;
        ep->vin_head = d->next;
        free(d);
    }
    ep->vin_tail = NULL;
    ep->vin_n = 0;
}
