/* The one growable byte buffer, and addresses as text. */
#include "wv/base.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void reserve(struct wv_buf *b, size_t more) {
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->p = wv_realloc(b->p, cap);
    b->cap = cap;
}

void wv_buf_add(struct wv_buf *b, const void *data, size_t n) {
    reserve(b, n);
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void wv_buf_printf(struct wv_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void wv_buf_consume(struct wv_buf *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->p, b->p + n, b->len - n);
        b->len -= n;
    }
    if (b->p)
        b->p[b->len] = '\0';
}

char *wv_buf_take(struct wv_buf *b) {
    reserve(b, 0);
    char *p = b->p;
    memset(b, 0, sizeof(*b));
    return p;
}

void wv_buf_dispose(struct wv_buf *b) {
    free(b->p);
    memset(b, 0, sizeof(*b));
}

char *wv_addr_ip(const struct sockaddr *sa, char *out, size_t n) {
    const void *ip = NULL;
    if (sa && sa->sa_family == AF_INET)
        ip = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa && sa->sa_family == AF_INET6)
        ip = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!ip || !inet_ntop(sa->sa_family, ip, out, (socklen_t)n))
        snprintf(out, n, "?");
    return out;
}

bool wv_addr_same_source(const struct sockaddr *a, const struct sockaddr *b) {
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 8) == 0;
}

char *wv_addr_format(const struct sockaddr *sa, char out[WV_ADDR_STRLEN]) {
    char ip[INET6_ADDRSTRLEN];
    wv_addr_ip(sa, ip, sizeof(ip));
    if (sa && sa->sa_family == AF_INET)
        snprintf(out, WV_ADDR_STRLEN, "%s:%u", ip,
                 ntohs(((const struct sockaddr_in *)sa)->sin_port));
    else if (sa && sa->sa_family == AF_INET6)
        snprintf(out, WV_ADDR_STRLEN, "[%s]:%u", ip,
                 ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    else
        snprintf(out, WV_ADDR_STRLEN, "?");
    return out;
}
