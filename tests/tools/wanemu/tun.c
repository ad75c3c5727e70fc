#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* MTU, queue length and IFF_UP, through a socket of the namespace the
 * calling thread is in; and the device's index. */
static int configure(const char *dev, unsigned mtu, unsigned txqlen, int *ifindex, char *err,
                     size_t errlen) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
    const char *what = "SIOCSIFMTU";
    ifr.ifr_mtu = (int)mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
        goto fail;
    what = "SIOCSIFTXQLEN";
    ifr.ifr_qlen = (int)txqlen;
    if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0)
        goto fail;
    what = "SIOCGIFFLAGS";
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        goto fail;
    what = "SIOCSIFFLAGS";
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        goto fail;
    what = "SIOCGIFINDEX";
    if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
        goto fail;
    *ifindex = ifr.ifr_ifindex;
    close(s);
    return 0;
fail:
    snprintf(err, errlen, "%s %s: %s", what, dev, strerror(errno));
    close(s);
    return -1;
}

int wanemu_tun_open(struct wanemu_tun *t, const char *ns, const char *dev, unsigned mtu,
                    unsigned txqlen, char *err, size_t errlen) {
    int home = -1, there = -1;
    *t = (struct wanemu_tun){.fd = -1, .nl = -1};
    if (strlen(dev) >= IFNAMSIZ) {
        snprintf(err, errlen, "device name %s: longer than %d bytes", dev, IFNAMSIZ - 1);
        return -1;
    }
    if (ns) {
        char path[512];
        if (strchr(ns, '/'))
            snprintf(path, sizeof(path), "%s", ns);
        else
            snprintf(path, sizeof(path), "/run/netns/%s", ns);
        home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        there = open(path, O_RDONLY | O_CLOEXEC);
        if (home < 0 || there < 0) {
            snprintf(err, errlen, "namespace %s: %s", path, strerror(errno));
            goto out;
        }
        if (setns(there, CLONE_NEWNET) < 0) {
            snprintf(err, errlen, "setns into %s: %s", path, strerror(errno));
            goto out;
        }
    }
    /* Everything opened here belongs to the namespace. */
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
    } else {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
        if (ioctl(t->fd, TUNSETIFF, &ifr) < 0)
            snprintf(err, errlen, "TUNSETIFF %s: %s", dev, strerror(errno));
        else if (configure(dev, mtu, txqlen, &t->ifindex, err, errlen) == 0 &&
                 (t->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0)
            snprintf(err, errlen, "netlink socket: %s", strerror(errno));
        if (t->nl < 0)
            wanemu_tun_close(t);
    }
    if (ns && setns(home, CLONE_NEWNET) < 0) {
        /* Never run on in the wrong namespace. */
        snprintf(err, errlen, "setns back: %s", strerror(errno));
        wanemu_tun_close(t);
    }
out:
    if (home >= 0)
        close(home);
    if (there >= 0)
        close(there);
    return t->fd >= 0 ? 0 : -1;
}

void wanemu_tun_close(struct wanemu_tun *t) {
    if (t->fd >= 0)
        close(t->fd);
    if (t->nl >= 0)
        close(t->nl);
    t->fd = t->nl = -1;
}

int64_t wanemu_tun_tx_dropped(struct wanemu_tun *t) {
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req = {.nh = {.nlmsg_len = sizeof(req),
                    .nlmsg_type = RTM_GETLINK,
                    .nlmsg_flags = NLM_F_REQUEST,
                    .nlmsg_seq = 1},
             .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = t->ifindex}};
    if (t->nl < 0 || send(t->nl, &req, sizeof(req), 0) < 0)
        return -1;
    static _Alignas(struct nlmsghdr) char buf[16384];
    ssize_t n = recv(t->nl, buf, sizeof(buf), 0);
    if (n <= 0)
        return -1;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
         h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type != RTM_NEWLINK)
            continue;
        struct ifinfomsg *ifi = NLMSG_DATA(h);
        int len = (int)IFLA_PAYLOAD(h);
        for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type == IFLA_STATS64 && RTA_PAYLOAD(a) >= sizeof(struct rtnl_link_stats64)) {
                struct rtnl_link_stats64 st;
                memcpy(&st, RTA_DATA(a), sizeof(st));
                return (int64_t)st.tx_dropped;
            }
        }
    }
    return -1;
}
