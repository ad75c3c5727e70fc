#include "wv/base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wv_strerror(int err) {
    switch (err) {
    case WV_OK: return "ok";
    case WV_ERR_NOMEM: return "out of memory";
    case WV_ERR_INVAL: return "invalid argument";
    case WV_ERR_NOTFOUND: return "not found";
    case WV_ERR_EXISTS: return "already exists";
    case WV_ERR_IO: return "I/O error";
    case WV_ERR_DB: return "database error";
    case WV_ERR_CONFLICT: return "revision conflict";
    case WV_ERR_TOOBIG: return "too big";
    case WV_ERR_CRYPTO: return "cryptographic failure";
    case WV_ERR_PROTO: return "protocol error";
    case WV_ERR_AGAIN: return "try again";
    case WV_ERR_CLOSED: return "closed";
    case WV_ERR_LIMIT: return "limit reached";
    case WV_ERR_AUTH: return "authentication failed";
    case WV_ERR_MANAGED: return "managed by the config file";
    default: return "unknown error";
    }
}

static void oom(size_t n) {
    fprintf(stderr, "wovenet: out of memory allocating %zu bytes\n", n);
    abort();
}

void *wv_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *wv_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *wv_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *wv_strdup(const char *s) {
    return wv_strndup(s, strlen(s));
}

char *wv_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *p = wv_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *wv_asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    char *p = wv_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void wv_memwipe(void *p, size_t n) {
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

int wv_ct_memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d != 0;
}

int wv_read_file_upto(const char *path, size_t limit, char **out, size_t *len) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return WV_ERR_IO;
    char *buf = wv_malloc(limit + 1);
    size_t n = fread(buf, 1, limit, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return WV_ERR_IO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int wv_read_file(const char *path, size_t max, char **out) {
    size_t n;
    int rc = wv_read_file_upto(path, max + 1, out, &n);
    if (rc == 0 && n > max) {
        free(*out);
        *out = NULL;
        return WV_ERR_TOOBIG;
    }
    return rc;
}
