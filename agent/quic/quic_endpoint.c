/* The endpoint: one UDP socket, CID routing, version negotiation,
 * stateless resets, the send path and deferred processing. */
#include "quic_int.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <netinet/udp.h>
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
    cfg->max_udp_payload = 1452;
    cfg->sock_buf = 8u << 20;
    cfg->accept = true;
    cfg->max_inbound = 256;
    cfg->retry_threshold = 8;
    cfg->max_handshakes_per_source = 4;
}

socklen_t qaddr_len(const struct sockaddr *sa) {
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4
 * peer) as the IPv4 address it is. */
static void unmap(const struct sockaddr *sa, struct sockaddr_storage *out) {
    memcpy(out, sa, qaddr_len(sa));
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
        return;
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = s6->sin6_port};
    memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
    memset(out, 0, sizeof(*out));
    memcpy(out, &s4, sizeof(s4));
}

size_t qpath_payload(const wv_quic_config *cfg, const struct sockaddr *remote, wv_log *log) {
    if (cfg->local_udp_payload <= cfg->max_udp_payload)
        return cfg->max_udp_payload;
    struct sockaddr_storage peer, any;
    unmap(remote, &peer);
    int af = peer.ss_family, fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cfg->max_udp_payload;
    /* Binding to the peer's address succeeds only if it is one of ours:
     * then the kernel routes to it over the loopback device. */
    any = peer;
    if (af == AF_INET)
        ((struct sockaddr_in *)&any)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&any)->sin6_port = 0;
    size_t out = cfg->max_udp_payload;
    int mtu = 0;
    socklen_t len = sizeof(mtu);
    const struct sockaddr *p = (const struct sockaddr *)&peer;
    if (bind(fd, (const struct sockaddr *)&any, qaddr_len(p)) == 0 &&
        connect(fd, p, qaddr_len(p)) == 0 &&
        getsockopt(fd, af == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
                   af == AF_INET ? IP_MTU : IPV6_MTU, &mtu, &len) == 0) {
        /* IP and UDP headers: 20 + 8, or 40 + 8. */
        size_t room = (size_t)mtu > 48 ? (size_t)mtu - (af == AF_INET ? 28 : 48) : 0;
        out = WV_MAX(cfg->max_udp_payload, WV_MIN(cfg->local_udp_payload, room));
    }
    close(fd);
    if (out != cfg->max_udp_payload)
        WV_DEBUG(log, QSUB, "peer is on this host (loopback route, MTU %d): datagrams up to %zu",
                 mtu, out);
    return out;
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
        (cfg->local_udp_payload && (cfg->local_udp_payload < 1200 ||
                                    cfg->local_udp_payload > 65527)) ||
        cfg->stream_window == 0 || cfg->conn_window == 0 || cfg->idle_timeout_ms == 0 ||
        cfg->cc > WV_QUIC_CC_BBR2)
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
    if (qtls_endpoint_init(ep, id) < 0) {
        free(ep);
        return WV_ERR_CRYPTO;
    }
    if (cfg->has_reset_secret) {
        memcpy(ep->reset_secret, cfg->reset_secret, sizeof(ep->reset_secret));
    } else if (gnutls_rnd(GNUTLS_RND_KEY, ep->reset_secret, sizeof(ep->reset_secret)) < 0) {
        qtls_endpoint_dispose(ep);
        free(ep);
        return WV_ERR_CRYPTO;
    }
    if (wv_quic__guard_init(ep) != 0) {
        qtls_endpoint_dispose(ep);
        free(ep);
        return WV_ERR_CRYPTO;
    }
    qmap_init(&ep->cids);
    qmap_init(&ep->tokens);
    ql_init(&ep->conns);
    ql_init(&ep->dirty);
    uv_idle_init(loop, &ep->idle);
    ep->idle.data = ep;
    ep->handles = 1;
    ep->rxbuflen = RX_SLOTS * RX_SLOT;
    ep->rxbuf = wv_malloc(ep->rxbuflen);
    /* Room for a whole GSO batch; a single packet never exceeds
     * max_udp_payload or local_udp_payload. */
    ep->txbuflen = WV_MAX(WV_MAX(cfg->max_udp_payload, cfg->local_udp_payload), (size_t)QGSO_BYTES);
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
    uint32_t sv[] = {NGTCP2_PROTO_VER_V1};
    uint8_t rnd;
    if (gnutls_rnd(GNUTLS_RND_NONCE, &rnd, 1) < 0)
        return;
    ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(
        ep->txbuf, ep->txbuflen, rnd, vc->scid, vc->scidlen, vc->dcid, vc->dcidlen, sv, 1);
    if (n > 0)
        qep_send(ep, from, ep->txbuf, (size_t)n);
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
        WV_DEBUG(ep->log, QSUB, "stateless reset for unknown connection");
        qep_send(ep, from, ep->txbuf, (size_t)n);
    }
}


/* The demultiplexing rule of the raw handler (quic.h, RFC 7983): top two
 * bits 00, the STUN magic cookie at offset 4, a length field that matches. */
static bool is_stun(const uint8_t *p, size_t len) {
    if (len < 20 || len > 1500 || (p[0] & 0xc0) != 0)
        return false;
    size_t mlen = (size_t)p[2] << 8 | p[3];
    return mlen % 4 == 0 && mlen + 20 == len && p[4] == 0x21 && p[5] == 0x12 && p[6] == 0xa4 &&
           p[7] == 0x42;
}

static void handle_datagram(wv_quic_endpoint *ep, const uint8_t *pkt, size_t len,
                            const struct sockaddr *from) {
    ngtcp2_version_cid vc;
    int rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, QCID_LEN);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        /* Only answer datagrams large enough to be a client's first
         * flight, so we never amplify. */
        if (ep->cfg.accept && len >= 1200)
            send_version_negotiation(ep, &vc, from);
        return;
    }
    wv_quic_conn *c = rv == 0 ? qmap_get(&ep->cids, vc.dcid, vc.dcidlen) : NULL;
    if (!c && ep->raw_cb && is_stun(pkt, len)) {
        ep->raw_cb(ep, pkt, len, from, ep->raw_user);
        return;
    }
    if (rv != 0)
        return;
    if (c) {
        qconn_read(c, from, pkt, len);
        return;
    }
    if (!(pkt[0] & 0x80)) {
        /* Perhaps a stateless reset from a peer that lost one of our
         * connections: its CID is random, only the trailing token tells. */
        if (len >= 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN) {
            c = qmap_get(&ep->tokens, pkt + len - NGTCP2_STATELESS_RESET_TOKENLEN,
                         NGTCP2_STATELESS_RESET_TOKENLEN);
            if (c) {
                qconn_read(c, from, pkt, len);
                return;
            }
        }
        send_stateless_reset(ep, &vc, from, len);
        return;
    }
    if (!ep->cfg.accept || ep->closing)
        return;
    if (ep->cfg.max_inbound && ep->ninbound >= ep->cfg.max_inbound) {
        WV_DEBUG(ep->log, QSUB, "inbound connection limit reached; Initial dropped");
        return;
    }
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, pkt, len) != 0)
        return;
    ngtcp2_cid odcid;
    enum wv_quic__admit adm = wv_quic__guard_admit(ep, &hd, from, &odcid);
    if (adm == WV_QUIC__DROP)
        return;
    if (qconn_new(ep, true, from, &hd, adm == WV_QUIC__ADMIT_VALIDATED ? &odcid : NULL, &c) < 0)
        return;
    if (ep->cbs.on_accept)
        ep->cbs.on_accept(ep, c, ep->user);
    /* on_accept may have closed it already; qconn_read copes. */
    qconn_read(c, from, pkt, len);
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags) {
    wv_quic_endpoint *ep = h->data;
    if (nread < 0) {
        WV_DEBUG(ep->log, QSUB, "udp recv: %s", uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || !from || ep->closing)
        return;
    if (flags & UV_UDP_PARTIAL)
        return;
    handle_datagram(ep, (const uint8_t *)buf->base, (size_t)nread, from);
}

void qep_handle_datagram(wv_quic_endpoint *ep, const uint8_t *pkt, size_t len,
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
    WV_INFO(ep->log, QSUB, "%s asked %d, kernel granted %d", name, want, got / 2);
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
        WV_WARN(ep->log, QSUB, "udp bind: %s", uv_strerror(rv));
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
        WV_DEBUG(ep->log, QSUB, "UDP GSO %s", ep->gso ? "available" : "unavailable");
        if (qrx_start(ep, fd))
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

typedef struct qsend {
    uv_udp_send_t req;
    wv_quic_endpoint *ep;
    size_t len;
    uint8_t data[];
} qsend;

static void send_cb(uv_udp_send_t *req, int status) {
    qsend *s = WV_CONTAINER_OF(req, qsend, req);
    wv_quic_endpoint *ep = s->ep;
    ep->sendq_bytes -= s->len;
    free(s);
    /* Writers paused on a full queue resume once it drains. */
    if (ep->sendq_bytes == 0 && ql_linked(&ep->dirty) && !ep->idle_on && !ep->closing) {
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

int qep_send_batch(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *buf, size_t len,
                   size_t seglen) {
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
            if (qep_send(ep, to, buf, seglen) == UV_EMSGSIZE)
                return UV_EMSGSIZE;
            WV_INFO(ep->log, QSUB, "UDP GSO send failed (%s); sending packets singly",
                    uv_strerror(rv));
            ep->gso = false;
            buf += seglen;
            len -= seglen;
        }
    }
    int err = 0;
    for (size_t off = 0; off < len; off += seglen)
        if (qep_send(ep, to, buf + off, WV_MIN(seglen, len - off)) == UV_EMSGSIZE)
            err = UV_EMSGSIZE;
    return err;
}

int qep_send(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *pkt, size_t len) {
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
        WV_DEBUG(ep->log, QSUB, "udp send: %s", uv_strerror(rv));
        return rv == UV_EMSGSIZE ? rv : 0;
    }
    qsend *s = wv_malloc(sizeof(*s) + len);
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

bool qep_send_paused(const wv_quic_endpoint *ep) {
    return ep->sendq_bytes >= QSENDQ_MAX;
}

void qep_mark_dirty(wv_quic_conn *c) {
    wv_quic_endpoint *ep = c->ep;
    if (!ql_linked(&c->dirty_link))
        ql_push(&ep->dirty, &c->dirty_link);
    if (!ep->idle_on) {
        uv_idle_start(&ep->idle, idle_cb);
        ep->idle_on = true;
    }
}

static void finish_close(wv_quic_endpoint *ep);

static void handle_close_cb(uv_handle_t *h) {
    wv_quic_endpoint *ep = h->data;
    qep_handle_closed(ep);
}

void qep_handle_closed(wv_quic_endpoint *ep) {
    if (--ep->handles == 0 && ep->closing)
        finish_close(ep);
}

static void finish_close(wv_quic_endpoint *ep) {
    void (*cb)(void *) = ep->close_cb;
    void *arg = ep->close_arg;
    qmap_dispose(&ep->cids);
    qmap_dispose(&ep->tokens);
    qtls_endpoint_dispose(ep);
    qrx_dispose(ep);
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
    /* Detach the list first: processing may mark connections dirty again
     * (e.g. a batch that did not finish). */
    qlink work;
    ql_init(&work);
    if (ql_linked(&ep->dirty)) {
        work.next = ep->dirty.next;
        work.prev = ep->dirty.prev;
        work.next->prev = &work;
        work.prev->next = &work;
        ql_init(&ep->dirty);
    }
    while (ql_linked(&work)) {
        wv_quic_conn *c = WV_CONTAINER_OF(work.next, wv_quic_conn, dirty_link);
        ql_del(&c->dirty_link);
        if (!ep->closing && qep_send_paused(ep)) {
            ql_push(&ep->dirty, &c->dirty_link);
            continue;
        }
        qconn_process(c);
    }
    if (ep->closing) {
        while (ql_linked(&ep->conns)) {
            wv_quic_conn *c = WV_CONTAINER_OF(ep->conns.next, wv_quic_conn, ep_link);
            qconn_abort(c, "endpoint closed");
        }
        uv_idle_stop(&ep->idle);
        ep->idle_on = false;
        if (!uv_is_closing((uv_handle_t *)&ep->idle)) {
            uv_close((uv_handle_t *)&ep->idle, handle_close_cb);
            qrx_close(ep, handle_close_cb);
            if (ep->bound)
                uv_close((uv_handle_t *)&ep->udp, handle_close_cb);
        }
        return;
    }
    if (!ql_linked(&ep->dirty) || qep_send_paused(ep)) {
        uv_idle_stop(&ep->idle);
        ep->idle_on = false;
    }
}

void wv_quic_endpoint_close(wv_quic_endpoint *ep, void (*cb)(void *arg), void *arg) {
    if (ep->closing)
        return;
    WV_DEBUG(ep->log, QSUB, "endpoint closing; %llu packets were queued after EAGAIN",
             (unsigned long long)ep->nqueued);
    ep->closing = true;
    ep->close_cb = cb;
    ep->close_arg = arg;
    if (ep->bound)
        uv_udp_recv_stop(&ep->udp);
    qrx_stop(ep);
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
    int rv = qconn_new(ep, false, remote, NULL, NULL, &c);
    if (rv < 0)
        return rv;
    c->has_pin = true;
    memcpy(c->pin, pin, WV_FINGERPRINT_LEN);
    qep_mark_dirty(c);
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
    qep_send(ep, to, data, len);
    return 0;
}
