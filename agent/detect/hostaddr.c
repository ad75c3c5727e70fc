/* The host candidates of a nat-traversal socket: this host's own addresses
 * of the socket's family, which a peer behind the same NAT reaches without
 * a hairpin through the router. See detect.h. */
#include "wv/detect.h"

#include "wv/base.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

static bool usable(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        uint32_t h = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        /* Not loopback, unspecified, link-local or multicast. */
        return (h >> 24) != 127 && h != 0 && (h >> 16) != 0xa9fe && (h >> 28) != 0xe;
    }
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_LINKLOCAL(a) &&
           !IN6_IS_ADDR_MULTICAST(a) && !IN6_IS_ADDR_V4MAPPED(a);
}

size_t wv_detect_host_addresses(int family, char (*out)[INET6_ADDRSTRLEN], size_t max) {
    struct ifaddrs *ifs;
    size_t n = 0;
    if (getifaddrs(&ifs) != 0)
        return 0;
    for (struct ifaddrs *i = ifs; i && n < max; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != family || !(i->ifa_flags & IFF_UP) ||
            (i->ifa_flags & IFF_LOOPBACK) || !usable(i->ifa_addr))
            continue;
        char ip[INET6_ADDRSTRLEN];
        wv_addr_ip(i->ifa_addr, ip, sizeof(ip));
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = strcmp(out[k], ip) == 0;
        if (!dup)
            memcpy(out[n++], ip, sizeof(ip));
    }
    freeifaddrs(ifs);
    return n;
}
