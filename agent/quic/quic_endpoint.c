/* The endpoint: one UDP socket, CID routing, version negotiation,
 * stateless resets, the send path and deferred processing. */
#include "quic_int.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* recvmmsg batches as many datagrams as fit in the buffer in 64 KiB slots
 * (libuv caps it at 20). */
#define RX_SLOTS 16
#define RX_SLOT 65536
/* Stateless resets we send per second: cheap to forge a trigger for. */
#define RESETS_PER_SEC 100

void wv_quic_config_default(wv_quic_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->stream_window = 16u << 20;
    cfg->conn_window = 24u << 20;
    cfg->max_streams_bidi = 1024;
    cfg->idle_timeout_ms = 10000;
    cfg->keepalive_ms = 2500;
    cfg->handshake_timeout_ms = 10000;
    cfg->cc = WV_QUIC_CC_CUBIC;
    cfg->fec = true;
    cfg->max_udp_payload = 1452;
    cfg->sock_buf = 8u << 20;
    cfg->accept = true;
    cfg->max_inbound = 256;
    cfg->retry_threshold = 8;
    cfg->max_handshakes_per_source = 4;
}

socklen_t wv_quic__addr_len(const struct sockaddr *sa) {
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* ngtcp2 sends 1200-byte datagrams until the handshake is confirmed, then
 * probes these sizes in order (lib/ngtcp2_pmtud.c): 1452 (MTU 1500) and,
 * when the path drops that, the largest of the next four that fits (PPPoE,
 * tunnels, the IPv6 minimum); then jumbo frames (9000 less the IPv6 and UDP
 * headers) and the loopback device (MTU 65536: 65488 over IPv6; 65507, the
 * largest IPv4 datagram). A size the path drops ends the search above it. */
static const uint16_t default_probes[] = {1452, 1444, 1406, 1342, 1232, 8952, 32000, 65488, 65507};

size_t wv_quic__pmtud_probes(const wv_quic_config *cfg, uint16_t *probes, size_t *nprobes) {
    size_t ceiling = WV_MAX(cfg->max_udp_payload, cfg->local_udp_payload), n = 0;
    *nprobes = 0;
    if (cfg->max_udp_payload > NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE)
        return ceiling; /* a known path: exact, no probing */
    const uint16_t *list = cfg->pmtud_probes;
    size_t len = 0;
    while (len < WV_QUIC_PMTUD_MAX_PROBES && list[len])
        len++;
    if (len == 0) {
        list = default_probes;
        len = WV_COUNTOF(default_probes);
    }
    bool has_ceiling = false;
    for (size_t i = 0; i < len; i++)
        if (list[i] <= ceiling) {
            probes[n++] = list[i];
            has_ceiling |= list[i] == ceiling;
        }
    if (!has_ceiling && ceiling > NGTCP2_MAX_UDP_PAYLOAD_SIZE)
        probes[n++] = (uint16_t)ceiling;
    *nprobes = n;
    return ceiling;
}

void wv_quic__endpoint_set_interop(wv_quic_endpoint *ep, const char *alpn,
                                   uint64_t max_streams_uni) {
    snprintf(ep->alpn, sizeof(ep->alpn), "%s", alpn);
    ep->max_streams_uni = max_streams_uni;
}

static void idle_cb(uv_idle_t *h);

int wv_quic_endpoint_new(uv_loop_t *loop, const wv_quic_config *cfg, const wv_identity *id,
                         wv_log *log, const wv_quic_callbacks *cbs, void *user,
                         wv_quic_endpoint **out) {
    wv_quic_config def;
    if (!cfg) {
        wv_quic_config_default(&def);
        cfg = &def;
    }
    if (!loop || !id || cfg->max_udp_payload < 1200 || cfg->max_udp_payload > 65527 ||
        (cfg->local_udp_payload &&
         (cfg->local_udp_payload < 1200 || cfg->local_udp_payload > 65527)) ||
        cfg->stream_window == 0 || cfg->conn_window == 0 || cfg->idle_timeout_ms == 0 ||
        (cfg->stream_window_max && cfg->stream_window_max < cfg->stream_window) ||
        (cfg->conn_window_max && cfg->conn_window_max < cfg->conn_window) ||
        cfg->cc > WV_QUIC_CC_BBR2)
        return WV_ERR_INVAL;
    for (size_t i = 0; i < WV_QUIC_PMTUD_MAX_PROBES && cfg->pmtud_probes[i]; i++)
        if (cfg->pmtud_probes[i] <= 1200 || cfg->pmtud_probes[i] > 65527)
            return WV_ERR_INVAL;
    wv_quic_endpoint *ep = wv_calloc(1, sizeof(*ep));
    ep->loop = loop;
    ep->log = log;
    ep->cfg = *cfg;
    /* The secret lives in reset_secret only, wiped on close. */
    wv_memwipe(ep->cfg.reset_secret, sizeof(ep->cfg.reset_secret));
    if (cbs)
        ep->cbs = *cbs;
    ep->user = user;
    snprintf(ep->alpn, sizeof(ep->alpn), "%s", WV_QUIC_ALPN);
    ep->ceiling = wv_quic__pmtud_probes(cfg, ep->pmtud, &ep->npmtud);
    if (wv_quic__tls_endpoint_init(ep, id) < 0) {
        free(ep);
        return WV_ERR_CRYPTO;
    }
    if (cfg->has_reset_secret) {
        memcpy(ep->reset_secret, cfg->reset_secret, sizeof(ep->reset_secret));
    } else if (gnutls_rnd(GNUTLS_RND_KEY, ep->reset_secret, sizeof(ep->reset_secret)) < 0) {
        wv_quic__tls_endpoint_dispose(ep);
        free(ep);
        return WV_ERR_CRYPTO;
    }
    if (wv_quic__guard_init(ep) != 0) {
        wv_quic__tls_endpoint_dispose(ep);
        free(ep);
        return WV_ERR_CRYPTO;
    }
    wv_quic__map_init(&ep->cids);
    wv_quic__map_init(&ep->tokens);
    wv_quic__link_init(&ep->conns);
    wv_quic__link_init(&ep->dirty);
    uv_idle_init(loop, &ep->idle);
    ep->idle.data = ep;
    ep->handles = 1;
    ep->rxbuflen = RX_SLOTS * RX_SLOT;
    ep->rxbuf = wv_malloc(ep->rxbuflen);
    /* Room for a whole GSO batch; a single packet never exceeds the
     * ceiling. */
    ep->txbuflen = WV_MAX(ep->ceiling, (size_t)WV_QUIC__GSO_BYTES);
    ep->txbuf = wv_malloc(ep->txbuflen);
    *out = ep;
    return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    wv_quic_endpoint *ep = h->data;
    /* One buffer reused for every batch: datagrams are consumed
     * synchronously in recv_cb, before libuv asks for the next one. */
    *buf = uv_buf_init((char *)ep->rxbuf, (unsigned)ep->rxbuflen);
}

static void send_version_negotiation(wv_quic_endpoint *ep, const ngtcp2_version_cid *vc,
                                     const struct sockaddr *from) {
    /* What ngtcp2 accepts (ngtcp2_is_supported_version); we dial v1. */
    uint32_t sv[] = {NGTCP2_PROTO_VER_V1, NGTCP2_PROTO_VER_V2};
    uint8_t rnd;
    if (gnutls_rnd(GNUTLS_RND_NONCE, &rnd, 1) < 0)
        return;
    ngtcp2_ssize n =
        ngtcp2_pkt_write_version_negotiation(ep->txbuf, ep->txbuflen, rnd, vc->scid, vc->scidlen,
                                             vc->dcid, vc->dcidlen, sv, WV_COUNTOF(sv));
    if (n > 0)
        wv_quic__ep_send(ep, from, ep->txbuf, (size_t)n);
}

/* A short-header packet for no connection we know: most likely a peer that
 * still talks to a connection we lost (restart, idle drop). A reset tells it
 * at once instead of after its idle timeout. */
static void send_stateless_reset(wv_quic_endpoint *ep, const ngtcp2_version_cid *vc,
                                 const struct sockaddr *from, size_t pktlen) {
    /* Always smaller than the trigger, so two endpoints cannot loop. */
    if (pktlen < 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN + 1)
        return;
    uint64_t sec = uv_now(ep->loop) / 1000;
    if (sec != ep->reset_window_ms) {
        ep->reset_window_ms = sec;
        ep->resets_in_window = 0;
    }
    if (++ep->resets_in_window > RESETS_PER_SEC)
        return;
    size_t randlen = pktlen - 1 - 1 - NGTCP2_STATELESS_RESET_TOKENLEN;
    if (randlen > 40)
        randlen = 40;
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[40];
    ngtcp2_cid cid;
    ngtcp2_cid_init(&cid, vc->dcid, vc->dcidlen);
    if (ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret,
                                                     sizeof(ep->reset_secret), &cid) != 0 ||
        gnutls_rnd(GNUTLS_RND_NONCE, rnd, randlen) < 0)
        return;
    ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(ep->txbuf, ep->txbuflen, token, rnd, randlen);
    if (n > 0) {
        WV_DEBUG(ep->log, WV_QUIC__SUB, "stateless reset for unknown connection");
        wv_quic__ep_send(ep, from, ep->txbuf, (size_t)n);
    }
}

/* The demultiplexing rule of the raw handler (quic.h, RFC 7983): top two
 * bits 00, the STUN magic cookie at offset 4, a length field that matches. */
static bool is_stun(const uint8_t *p, size_t len) {
    if (len < 20 || len > 1500 || (p[0] & 0xc0) != 0)
        return false;
    size_t mlen = wv_get16(p + 2);
    return mlen % 4 == 0 && mlen + 20 == len && wv_get32(p + 4) == 0x2112a442; /* magic cookie */
}

static void handle_datagram(wv_quic_endpoint *ep, const uint8_t *pkt, size_t len,
                            const struct sockaddr *from) {
    ngtcp2_version_cid vc;
    int rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, WV_QUIC__CID_LEN);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        /* Only answer datagrams large enough to be a client's first
         * flight, so we never amplify. */
        if (ep->cfg.accept && len >= 1200)
            send_version_negotiation(ep, &vc, from);
        return;
    }
    wv_quic_conn *c = rv == 0 ? wv_quic__map_get(&ep->cids, vc.dcid, vc.dcidlen) : NULL;
    if (!c && ep->raw_cb && is_stun(pkt, len)) {
        ep->raw_cb(ep, pkt, len, from, ep->raw_user);
        return;
    }
    if (rv != 0)
        return;
    if (!c && !(pkt[0] & 0x40))
        return; /* fixed bit clear: a loss repair (quic_fec.c) for a connection gone */
    if (c) {
        if (!wv_quic__fec_input(c, from, pkt, len))
            wv_quic__conn_read(c, from, pkt, len);
        return;
    }
    if (!(pkt[0] & 0x80)) {
        /* Perhaps a stateless reset from a peer that lost one of our
         * connections: its CID is random, only the trailing token tells. */
        if (len >= 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN) {
            c = wv_quic__map_get(&ep->tokens, pkt + len - NGTCP2_STATELESS_RESET_TOKENLEN,
                                 NGTCP2_STATELESS_RESET_TOKENLEN);
            if (c) {
                wv_quic__conn_read(c, from, pkt, len);
                return;
            }
        }
        send_stateless_reset(ep, &vc, from, len);
        return;
    }
    if (!ep->cfg.accept || ep->closing)
        return;
    if (ep->cfg.max_inbound && ep->ninbound >= ep->cfg.max_inbound) {
        WV_DEBUG(ep->log, WV_QUIC__SUB, "inbound connection limit reached; Initial dropped");
        return;
    }
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, pkt, len) != 0)
        return;
    ngtcp2_cid odcid;
    enum wv_quic__admit adm = wv_quic__guard_admit(ep, &hd, from, &odcid);
    if (adm == WV_QUIC__DROP)
        return;
    if (wv_quic__conn_new(ep, true, from, &hd, adm == WV_QUIC__ADMIT_VALIDATED ? &odcid : NULL,
                          &c) < 0)
        return;
    if (ep->cbs.on_accept)
        ep->cbs.on_accept(ep, c, ep->user);
    /* on_accept may have closed it already; wv_quic__conn_read copes. */
    wv_quic__conn_read(c, from, pkt, len);
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags) {
    wv_quic_endpoint *ep = h->data;
    if (nread < 0) {
        WV_DEBUG(ep->log, WV_QUIC__SUB, "udp recv: %s", uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || !from || ep->closing)
        return;
    if (flags & UV_UDP_PARTIAL)
        return;
    handle_datagram(ep, (const uint8_t *)buf->base, (size_t)nread, from);
}

void wv_quic__ep_datagram(wv_quic_endpoint *ep, const uint8_t *pkt, size_t len,
                          const struct sockaddr *from) {
    handle_datagram(ep, pkt, len, from);
}

static void set_buf(wv_quic_endpoint *ep, int fd, int opt, int force, const char *name) {
    int want = (int)ep->cfg.sock_buf, got = 0;
    socklen_t len = sizeof(got);
    /* FORCE passes rmem_max/wmem_max when we have CAP_NET_ADMIN. */
    if (setsockopt(fd, SOL_SOCKET, force, &want, sizeof(want)) != 0)
        setsockopt(fd, SOL_SOCKET, opt, &want, sizeof(want));
    getsockopt(fd, SOL_SOCKET, opt, &got, &len);
    /* Linux reports double what it accounts for payload. */
    WV_INFO(ep->log, WV_QUIC__SUB, "%s asked %d, kernel granted %d", name, want, got / 2);
}

int wv_quic_endpoint_bind(wv_quic_endpoint *ep, const struct sockaddr *addr) {
    if (ep->bound || ep->closing || !addr ||
        (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
        return WV_ERR_INVAL;
    int rv = uv_udp_init_ex(ep->loop, &ep->udp, addr->sa_family | UV_UDP_RECVMMSG);
    if (rv < 0)
        return WV_ERR_IO;
    ep->udp.data = ep;
    ep->handles++;
    ep->bound = true;
    rv = uv_udp_bind(&ep->udp, addr, 0);
    if (rv < 0) {
        /* The caller names the socket and logs once per change; a retry
         * loop must not repeat this line. */
        WV_DEBUG(ep->log, WV_QUIC__SUB, "udp bind: %s", uv_strerror(rv));
        errno = -rv;
        goto fail;
    }
    int len = sizeof(ep->local);
    uv_udp_getsockname(&ep->udp, (struct sockaddr *)&ep->local, &len);
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&ep->udp, &fd) == 0) {
        set_buf(ep, fd, SO_RCVBUF, SO_RCVBUFFORCE, "SO_RCVBUF");
        set_buf(ep, fd, SO_SNDBUF, SO_SNDBUFFORCE, "SO_SNDBUF");
        /* DF bit: PMTUD probes must fail rather than fragment. */
        int val = IP_PMTUDISC_DO;
        if (addr->sa_family == AF_INET6) {
            val = IPV6_PMTUDISC_DO;
            setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &val, sizeof(val));
        } else {
            setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &val, sizeof(val));
        }
        /* GSO cuts the per-packet syscall cost; probe that the kernel
         * takes the option, then leave it off until a batch needs it. */
        val = 1200;
        ep->gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &val, sizeof(val)) == 0;
        val = 0;
        if (ep->gso)
            setsockopt(fd, SOL_UDP, UDP_SEGMENT, &val, sizeof(val));
        WV_DEBUG(ep->log, WV_QUIC__SUB, "UDP GSO %s", ep->gso ? "available" : "unavailable");
        if (wv_quic__rx_start(ep, fd))
            return 0;
    }
    rv = uv_udp_recv_start(&ep->udp, alloc_cb, recv_cb);
    if (rv < 0)
        goto fail;
    return 0;
fail:
    /* The handle stays open and is released by endpoint_close. */
    return WV_ERR_IO;
}

int wv_quic_endpoint_local_addr(const wv_quic_endpoint *ep, struct sockaddr_storage *out) {
    if (!ep->bound)
        return WV_ERR_INVAL;
    *out = ep->local;
    return 0;
}

typedef struct send_req {
    uv_udp_send_t req;
    wv_quic_endpoint *ep;
    size_t len;
    uint8_t data[];
} send_req;

static void send_cb(uv_udp_send_t *req, int status) {
    send_req *s = WV_CONTAINER_OF(req, send_req, req);
    wv_quic_endpoint *ep = s->ep;
    ep->sendq_bytes -= s->len;
    free(s);
    /* Writers paused on a full queue resume once it drains. */
    if (ep->sendq_bytes == 0 && wv_quic__linked(&ep->dirty) && !ep->idle_on && !ep->closing) {
        uv_idle_start(&ep->idle, idle_cb);
        ep->idle_on = true;
    }
}

/* The segment size is a socket option, so it also applies to sends that
 * libuv queued earlier. Raising it (or 0 = off) never splits a packet
 * already queued; lowering it is only done with an empty queue. */
static bool set_gso(wv_quic_endpoint *ep, int seg) {
    uv_os_fd_t fd;
    if (ep->gso_cur == seg)
        return true;
    if (uv_fileno((uv_handle_t *)&ep->udp, &fd) != 0 ||
        setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) != 0) {
        ep->gso = false;
        return false;
    }
    ep->gso_cur = seg;
    return true;
}

int wv_quic__ep_send_batch(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *buf,
                           size_t len, size_t seglen) {
    if (ep->virt) {
        for (size_t off = 0; off < len && !ep->closing; off += seglen)
            ep->virt_send(ep, to, buf + off, WV_MIN(seglen, len - off), ep->virt_user);
        return 0;
    }
    if (!ep->bound || uv_is_closing((uv_handle_t *)&ep->udp))
        return 0;
    if (len > seglen && ep->gso && ep->sendq_bytes == 0 && set_gso(ep, (int)seglen)) {
        uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
        int rv = uv_udp_try_send(&ep->udp, &b, 1, to);
        if (rv >= 0)
            return 0;
        if (rv != UV_EAGAIN && rv != UV_ENOBUFS) {
            /* Segments larger than the path's MTU fail as EINVAL: the
             * first packet alone tells that apart from a device that
             * cannot do GSO (e.g. EIO without checksum offload). */
            set_gso(ep, 0);
            if (wv_quic__ep_send(ep, to, buf, seglen) == UV_EMSGSIZE)
                return UV_EMSGSIZE;
            WV_INFO(ep->log, WV_QUIC__SUB, "UDP GSO send failed (%s); sending packets singly",
                    uv_strerror(rv));
            ep->gso = false;
            buf += seglen;
            len -= seglen;
        }
    }
    int err = 0;
    for (size_t off = 0; off < len; off += seglen)
        if (wv_quic__ep_send(ep, to, buf + off, WV_MIN(seglen, len - off)) == UV_EMSGSIZE)
            err = UV_EMSGSIZE;
    return err;
}

int wv_quic__ep_send(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *pkt,
                     size_t len) {
    if (ep->virt) {
        if (!ep->closing)
            ep->virt_send(ep, to, pkt, len, ep->virt_user);
        return 0;
    }
    if (!ep->bound || uv_is_closing((uv_handle_t *)&ep->udp))
        return 0;
    if (ep->gso_cur && len > (size_t)ep->gso_cur)
        set_gso(ep, 0);
    uv_buf_t b = uv_buf_init((char *)pkt, (unsigned)len);
    int rv = UV_EAGAIN;
    if (ep->sendq_bytes == 0)
        rv = uv_udp_try_send(&ep->udp, &b, 1, to);
    if (rv >= 0)
        return 0;
    if (rv != UV_EAGAIN && rv != UV_ENOBUFS) {
        /* EMSGSIZE (a PMTUD probe too big), unreachable, ...: the packet
         * is lost and QUIC recovers. */
        WV_DEBUG(ep->log, WV_QUIC__SUB, "udp send: %s", uv_strerror(rv));
        return rv == UV_EMSGSIZE ? rv : 0;
    }
    send_req *s = wv_malloc(sizeof(*s) + len);
    s->ep = ep;
    s->len = len;
    memcpy(s->data, pkt, len);
    b = uv_buf_init((char *)s->data, (unsigned)len);
    if (uv_udp_send(&s->req, &ep->udp, &b, 1, to, send_cb) < 0) {
        free(s);
        return 0;
    }
    ep->sendq_bytes += len;
    ep->nqueued++;
    return 0;
}

bool wv_quic__ep_send_paused(const wv_quic_endpoint *ep) {
    return ep->sendq_bytes >= WV_QUIC__SENDQ_MAX;
}

void wv_quic__ep_mark_dirty(wv_quic_conn *c) {
    wv_quic_endpoint *ep = c->ep;
    if (!wv_quic__linked(&c->dirty_link))
        wv_quic__link_push(&ep->dirty, &c->dirty_link);
    wv_quic__ep_wake(ep);
}

void wv_quic__ep_wake(wv_quic_endpoint *ep) {
    if (!ep->idle_on && !uv_is_closing((uv_handle_t *)&ep->idle)) {
        uv_idle_start(&ep->idle, idle_cb);
        ep->idle_on = true;
    }
}

static void finish_close(wv_quic_endpoint *ep);

static void handle_close_cb(uv_handle_t *h) {
    wv_quic_endpoint *ep = h->data;
    wv_quic__ep_handle_closed(ep);
}

void wv_quic__ep_handle_closed(wv_quic_endpoint *ep) {
    if (--ep->handles == 0 && ep->closing)
        finish_close(ep);
}

static void finish_close(wv_quic_endpoint *ep) {
    void (*cb)(void *) = ep->close_cb;
    void *arg = ep->close_arg;
    wv_quic__map_dispose(&ep->cids);
    wv_quic__map_dispose(&ep->tokens);
    wv_quic__tls_endpoint_dispose(ep);
    wv_quic__rx_dispose(ep);
    wv_quic__virt_dispose(ep);
    wv_memwipe(ep->reset_secret, sizeof(ep->reset_secret));
    wv_memwipe(ep->retry_secret, sizeof(ep->retry_secret));
    free(ep->rxbuf);
    free(ep->txbuf);
    free(ep);
    if (cb)
        cb(arg);
}

/* Runs outside any ngtcp2 call: the only place, with timers and recv,
 * where packets are written and objects freed. */
static void idle_cb(uv_idle_t *h) {
    wv_quic_endpoint *ep = h->data;
    if (ep->vin_head)
        wv_quic__virt_drain(ep); /* a virtual endpoint's input */
    /* Detach the list first: processing may mark connections dirty again
     * (e.g. a batch that did not finish). */
    wv_quic__link work;
    wv_quic__link_take(&work, &ep->dirty);
    while (wv_quic__linked(&work)) {
        wv_quic_conn *c = WV_CONTAINER_OF(work.next, wv_quic_conn, dirty_link);
        wv_quic__link_del(&c->dirty_link);
        if (!ep->closing && wv_quic__ep_send_paused(ep)) {
            wv_quic__link_push(&ep->dirty, &c->dirty_link);
            continue;
        }
        wv_quic__conn_process(c);
    }
    if (ep->closing) {
        while (wv_quic__linked(&ep->conns)) {
            wv_quic_conn *c = WV_CONTAINER_OF(ep->conns.next, wv_quic_conn, ep_link);
            wv_quic__conn_abort(c, "endpoint closed");
        }
        uv_idle_stop(&ep->idle);
        ep->idle_on = false;
        if (!uv_is_closing((uv_handle_t *)&ep->idle)) {
            uv_close((uv_handle_t *)&ep->idle, handle_close_cb);
            wv_quic__rx_close(ep, handle_close_cb);
            if (ep->bound && !ep->virt)
                uv_close((uv_handle_t *)&ep->udp, handle_close_cb);
        }
        return;
    }
    if ((!wv_quic__linked(&ep->dirty) && !ep->vin_head) || wv_quic__ep_send_paused(ep)) {
        uv_idle_stop(&ep->idle);
        ep->idle_on = false;
    }
}

void wv_quic_endpoint_close(wv_quic_endpoint *ep, void (*cb)(void *arg), void *arg) {
    if (ep->closing)
        return;
    WV_DEBUG(ep->log, WV_QUIC__SUB, "endpoint closing; %llu packets were queued after EAGAIN",
             (unsigned long long)ep->nqueued);
    ep->closing = true;
    ep->close_cb = cb;
    ep->close_arg = arg;
    if (ep->bound && !ep->virt)
        uv_udp_recv_stop(&ep->udp);
    wv_quic__rx_stop(ep);
    /* Teardown happens in idle_cb so that a close from inside a callback
     * never frees what the caller's stack still uses. */
    uv_idle_start(&ep->idle, idle_cb);
    ep->idle_on = true;
}

int wv_quic_dial(wv_quic_endpoint *ep, const struct sockaddr *remote,
                 const uint8_t pin[WV_FINGERPRINT_LEN], wv_quic_conn **out) {
    if (ep->closing)
        return WV_ERR_CLOSED;
    if (!ep->bound || !remote || !pin || remote->sa_family != ep->local.ss_family)
        return WV_ERR_INVAL;
    wv_quic_conn *c;
    int rv = wv_quic__conn_new(ep, false, remote, NULL, NULL, &c);
    if (rv < 0)
        return rv;
    c->has_pin = true;
    memcpy(c->pin, pin, WV_FINGERPRINT_LEN);
    wv_quic__ep_mark_dirty(c);
    *out = c;
    return 0;
}

void wv_quic_endpoint_set_raw_handler(wv_quic_endpoint *ep, wv_quic_raw_cb on_raw_datagram,
                                      void *user) {
    ep->raw_cb = on_raw_datagram;
    ep->raw_user = user;
}

int wv_quic_endpoint_send_raw(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *data,
                              size_t len) {
    if (ep->closing)
        return WV_ERR_CLOSED;
    if (!ep->bound || !to || !data || len == 0 || len > 65507 ||
        to->sa_family != ep->local.ss_family)
        return WV_ERR_INVAL;
    wv_quic__ep_send(ep, to, data, len);
    return 0;
}
