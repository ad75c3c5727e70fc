/* TUN devices in other network namespaces, for wanemu.
 *
 * A TUN device belongs to the network namespace its /dev/net/tun file was
 * opened in, and stays there whatever namespace the process is in later. So
 * the main thread, before any other thread exists, enters each namespace
 * with setns(2), opens the device there (IFF_TUN | IFF_NO_PI: bare IP
 * packets), sets its MTU and queue length and brings it up through a socket
 * of that namespace, and returns to the namespace it started in. The device
 * goes away when the process exits. Needs CAP_NET_ADMIN and CAP_SYS_ADMIN
 * (root). */
#ifndef WANEMU_TUN_H
#define WANEMU_TUN_H

#include <stddef.h>
#include <stdint.h>

/* One device: the TUN fd, and a netlink socket of its namespace to read the
 * kernel's counters of the device with. */
struct wanemu_tun {
    int fd;
    int nl;
    int ifindex;
};

/* Opens dev (created if missing) in namespace ns: a name under /run/netns
 * (as `ip netns` makes them), a path such as /proc/PID/ns/net, or NULL for
 * the current namespace. Returns 0 with t->fd non-blocking, or -1 with a
 * message in err (t then holds nothing open). */
int wanemu_tun_open(struct wanemu_tun *t, const char *ns, const char *dev, unsigned mtu,
                    unsigned txqlen, char *err, size_t errlen);
void wanemu_tun_close(struct wanemu_tun *t);

/* Packets the kernel dropped on the way into the device because its queue
 * (txqueuelen) was full: sent by the namespace faster than wanemu read them.
 * Returns the count, or -1 when the kernel did not say. */
int64_t wanemu_tun_tx_dropped(struct wanemu_tun *t);

#endif
