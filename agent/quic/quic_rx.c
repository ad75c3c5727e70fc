/* Receive with UDP GRO. The kernel hands over a whole burst of same-sized
 * datagrams of one flow as one buffer plus the segment size (a cmsg), so
 * the per-datagram receive path (the largest kernel cost at MTU 1500) runs
 * once per burst. libuv 1.44's uv_udp_t passes no ancillary data, so the
 * endpoint reads through a uv_poll on a dup() of the socket (libuv refuses
 * a second watcher on the same fd number; epoll keys on the pair of file and
 * fd, so a duplicate is a separate registration). Sends stay on the
 * uv_udp_t. Without UDP_GRO (old kernel) the uv_udp_t path is used. */
#include "quic_int.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Bursts read per readiness event before yielding to the loop. */
#define RX_ROUNDS 8

struct wv_quic__rx {
    uv_poll_t poll;
    int fd; /* the dup */
    size_t slots, slot;
    struct mmsghdr msgs[WV_QUIC__RX_SLOTS];
    struct iovec iov[WV_QUIC__RX_SLOTS];
    struct sockaddr_storage from[WV_QUIC__RX_SLOTS];
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl[WV_QUIC__RX_SLOTS];
};

static void on_readable(uv_poll_t *h, int status, int events) {
    (void)events;
    wv_quic_endpoint *ep = h->data;
    struct wv_quic__rx *rx = ep->rx;
    if (status < 0 || ep->closing)
        return;
    for (int round = 0; round < RX_ROUNDS && !ep->closing; round++) {
        for (size_t i = 0; i < rx->slots; i++) {
            rx->iov[i].iov_base = ep->rxbuf + i * rx->slot;
            rx->iov[i].iov_len = rx->slot;
            struct msghdr *m = &rx->msgs[i].msg_hdr;
            memset(m, 0, sizeof(*m));
            m->msg_name = &rx->from[i];
            m->msg_namelen = sizeof(rx->from[i]);
            m->msg_iov = &rx->iov[i];
            m->msg_iovlen = 1;
            m->msg_control = rx->ctrl[i].buf;
            m->msg_controllen = sizeof(rx->ctrl[i].buf);
        }
        int n = recvmmsg(rx->fd, rx->msgs, (unsigned)rx->slots, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return; /* EAGAIN, or an error the next readiness reports again */
        for (int i = 0; i < n && !ep->closing; i++) {
            struct msghdr *m = &rx->msgs[i].msg_hdr;
            size_t len = rx->msgs[i].msg_len, seg = len;
            if (m->msg_flags & MSG_TRUNC)
                continue;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
                if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
                    int v;
                    memcpy(&v, CMSG_DATA(cm), sizeof(v));
                    if (v > 0)
                        seg = (size_t)v;
                }
            }
            const uint8_t *p = ep->rxbuf + (size_t)i * rx->slot;
            /* Every segment but the last is exactly seg bytes. */
            for (size_t off = 0; off < len && !ep->closing; off += seg)
                wv_quic__ep_datagram(ep, p + off, WV_MIN(seg, len - off),
                                     (const struct sockaddr *)&rx->from[i]);
        }
        if ((size_t)n < rx->slots)
            return;
    }
}

bool wv_quic__rx_start(wv_quic_endpoint *ep, int fd) {
    int on = 1, off = 0;
    if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on)) != 0)
        return false;
    struct wv_quic__rx *rx = wv_calloc(1, sizeof(*rx));
    rx->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    rx->slots = WV_QUIC__RX_SLOTS;
    rx->slot = ep->rxbuflen / WV_QUIC__RX_SLOTS;
    if (rx->fd < 0 || uv_poll_init_socket(ep->loop, &rx->poll, rx->fd) != 0) {
        if (rx->fd >= 0)
            close(rx->fd);
        free(rx);
        setsockopt(fd, SOL_UDP, UDP_GRO, &off, sizeof(off));
        return false;
    }
    rx->poll.data = ep;
    ep->rx = rx;
    ep->handles++;
    uv_poll_start(&rx->poll, UV_READABLE, on_readable);
    return true;
}

void wv_quic__rx_stop(wv_quic_endpoint *ep) {
    if (ep->rx)
        uv_poll_stop(&ep->rx->poll);
}

void wv_quic__rx_close(wv_quic_endpoint *ep, uv_close_cb cb) {
    if (ep->rx && !uv_is_closing((uv_handle_t *)&ep->rx->poll))
        uv_close((uv_handle_t *)&ep->rx->poll, cb);
}

void wv_quic__rx_dispose(wv_quic_endpoint *ep) {
    if (!ep->rx)
        return;
    close(ep->rx->fd);
    free(ep->rx);
    ep->rx = NULL;
}
