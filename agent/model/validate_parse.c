/* The address and socket parsers of validate.h: pure string functions shared
 * by the validator and the runtime (listeners, the range ACL). */
#include "wv/base.h"
#include "wv/model.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static void set_why(char *why, const char *msg) {
    if (why)
        snprintf(why, 128, "%s", msg);
}

/* Decimal digits only (no sign, no spaces), at most 5 of them. */
static int parse_port(const char *s, size_t len, unsigned lo, unsigned hi, uint16_t *out) {
    if (len == 0 || len > 5)
        return WV_ERR_INVAL;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return WV_ERR_INVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return WV_ERR_INVAL;
    *out = (uint16_t)v;
    return 0;
}

int wv_parse_ip(const char *s, uint16_t port, struct sockaddr_storage *out) {
    memset(out, 0, sizeof(*out));
    if (!s || !*s || strlen(s) >= INET6_ADDRSTRLEN)
        return WV_ERR_INVAL;
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return 0;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    return WV_ERR_INVAL;
}

/* "[v6]:PORT" or "v4:PORT" with port in lo..hi. Bare IPv6 without brackets
 * is refused: its last group could be read as a port. */
static int hostport(const char *s, unsigned lo, struct sockaddr_storage *out, char *why) {
    char host[INET6_ADDRSTRLEN + 1];
    const char *port;
    int family;
    size_t n = strlen(s);
    if (n == 0 || n > 64) {
        set_why(why, n ? "too long" : "empty address");
        return WV_ERR_INVAL;
    }
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':') {
            set_why(why, "expected [IPv6]:PORT");
            return WV_ERR_INVAL;
        }
        size_t hl = (size_t)(end - s - 1);
        if (hl == 0 || hl >= sizeof(host)) {
            set_why(why, "invalid IPv6 address");
            return WV_ERR_INVAL;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        port = end + 2;
        family = AF_INET6;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) {
            set_why(why, "expected ADDRESS:PORT");
            return WV_ERR_INVAL;
        }
        size_t hl = (size_t)(colon - s);
        if (hl == 0 || hl >= sizeof(host) || memchr(s, ':', hl)) {
            set_why(why, "invalid IPv4 address (write IPv6 as [ADDR]:PORT)");
            return WV_ERR_INVAL;
        }
        memcpy(host, s, hl);
        host[hl] = '\0';
        port = colon + 1;
        family = AF_INET;
    }
    /* The form says the family: "[1.2.3.4]:1" is no IPv6 address. */
    if (wv_parse_ip(host, 0, out) < 0 || out->ss_family != family) {
        set_why(why, family == AF_INET6 ? "invalid IPv6 address" : "invalid IPv4 address");
        memset(out, 0, sizeof(*out));
        return WV_ERR_INVAL;
    }
    uint16_t p;
    if (parse_port(port, strlen(port), lo, 65535, &p) < 0) {
        set_why(why,
                lo ? "port must be an integer in 1..65535" : "port must be an integer in 0..65535");
        memset(out, 0, sizeof(*out));
        return WV_ERR_INVAL;
    }
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons(p);
    else
        ((struct sockaddr_in6 *)out)->sin6_port = htons(p);
    return 0;
}

int wv_parse_hostport(const char *s, struct sockaddr_storage *out) {
    if (!s)
        return WV_ERR_INVAL;
    return hostport(s, 0, out, NULL);
}

int wv_parse_app_socket(const char *s, struct wv_app_socket *out, char *why) {
    memset(out, 0, sizeof(*out));
    if (!s || !*s) {
        set_why(why, "empty socket");
        return WV_ERR_INVAL;
    }
    if (strncmp(s, "unix:", 5) == 0) {
        const char *path = s + 5;
        size_t n = strlen(path);
        if (path[0] != '/') {
            set_why(why, "unix socket path must be absolute");
            return WV_ERR_INVAL;
        }
        if (n >= sizeof(out->path)) {
            set_why(why, "unix socket path too long (max 107 bytes)");
            return WV_ERR_INVAL;
        }
        out->is_unix = true;
        memcpy(out->path, path, n + 1);
        return 0;
    }
    if (strncmp(s, "tcp:", 4) == 0)
        s += 4;
    return hostport(s, 1, &out->addr, why);
}

int wv_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi) {
    if (!s)
        return WV_ERR_INVAL;
    const char *dash = strchr(s, '-');
    size_t n = strlen(s);
    if (!dash) {
        if (parse_port(s, n, 1, 65535, lo) < 0)
            return WV_ERR_INVAL;
        *hi = *lo;
        return 0;
    }
    uint16_t a, b;
    if (parse_port(s, (size_t)(dash - s), 1, 65535, &a) < 0 ||
        parse_port(dash + 1, strlen(dash + 1), 1, 65535, &b) < 0 || a > b)
        return WV_ERR_INVAL;
    *lo = a;
    *hi = b;
    return 0;
}

int wv_parse_cidr(const char *s, struct wv_cidr *out) {
    memset(out, 0, sizeof(*out));
    if (!s)
        return WV_ERR_INVAL;
    char ip[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(ip))
        return WV_ERR_INVAL;
    memcpy(ip, s, n);
    ip[n] = '\0';
    unsigned max;
    if (inet_pton(AF_INET, ip, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, ip, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return WV_ERR_INVAL;
    }
    uint16_t prefix = (uint16_t)max;
    if (slash && parse_port(slash + 1, strlen(slash + 1), 0, max, &prefix) < 0) {
        memset(out, 0, sizeof(*out));
        return WV_ERR_INVAL;
    }
    out->prefix = (uint8_t)prefix;
    /* Host bits are cleared so contains() can compare whole bytes. */
    for (unsigned bit = prefix; bit < max; bit++)
        out->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return 0;
}

static bool prefix_match(const uint8_t *net, const uint8_t *addr, unsigned prefix) {
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(net, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (net[full] & mask) == (addr[full] & mask);
}

bool wv_cidr_contains(const struct wv_cidr *c, const struct sockaddr *sa) {
    if (!c || !sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        return c->family == AF_INET &&
               prefix_match(c->addr, (const uint8_t *)&v4->sin_addr, c->prefix);
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
    const uint8_t *a = v6->sin6_addr.s6_addr;
    if (c->family == AF_INET6)
        return prefix_match(c->addr, a, c->prefix);
    /* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
        return prefix_match(c->addr, a + 12, c->prefix);
    return false;
}

bool wv_valid_name(const char *s) {
    size_t n = s ? strnlen(s, WV_NAME_MAX + 1) : 0;
    if (n == 0 || n > WV_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
            return false;
    }
    return true;
}

long long wv_parse_duration(const char *s) {
    if (!s || !*s || strlen(s) > 24)
        return -1;
    if (strcmp(s, "never") == 0)
        return 0;
    long long n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > 1000000000000LL)
            return -1;
        n = n * 10 + (*p - '0');
    }
    if (p == s || n <= 0)
        return -1;
    long long unit;
    switch (*p) {
    case '\0':
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (*p && p[1])
        return -1;
    const long long max = 10LL * 366 * 86400;
    if (n > max / unit)
        return -1;
    return n * unit;
}
