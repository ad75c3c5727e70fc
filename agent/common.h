#ifndef WV_COMMON_H
#define WV_COMMON_H
/* Errors and memory: the two things every module shares.
 *
 * Functions return 0 or a negative WV_ERR_*; wv_strerror() names it. Codes
 * from errno, SQLite, MHD and paho are mapped once, at the boundary. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WV_OK = 0,
    WV_ERR_NOMEM = -1,    /* allocation failed (only from bounded pools) */
    WV_ERR_INVAL = -2,    /* invalid argument or input */
    WV_ERR_NOTFOUND = -3, /* no such object */
    WV_ERR_EXISTS = -4,   /* an object of that name exists */
    WV_ERR_IO = -5,       /* file or socket error (see errno) */
    WV_ERR_DB = -6,       /* SQLite error */
    WV_ERR_CONFLICT = -7, /* revision / If-Match mismatch */
    WV_ERR_TOOBIG = -8,   /* input over its bound */
    WV_ERR_CRYPTO = -9,   /* decryption, authentication or TLS failure */
    WV_ERR_PROTO = -10,   /* malformed message from a peer */
    WV_ERR_AGAIN = -11,   /* try again later (no buffer, no channel) */
    WV_ERR_CLOSED = -12,  /* the object is closing or closed */
    WV_ERR_LIMIT = -13,   /* a configured limit was reached */
    WV_ERR_AUTH = -14,    /* authentication failed */
};

const char *wv_strerror(int err);

/* One allocation policy: out of memory aborts with a message. Bounded pools
 * that can refuse work use plain malloc and return WV_ERR_NOMEM instead. */
void *wv_malloc(size_t n);
void *wv_calloc(size_t count, size_t size);
void *wv_realloc(void *p, size_t n);
char *wv_strdup(const char *s);
char *wv_strndup(const char *s, size_t n);
char *wv_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define WV_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))
#define WV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define WV_MAX(a, b) ((a) > (b) ? (a) : (b))
#define WV_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Reads a whole file of at most max bytes into a NUL-terminated buffer the
 * caller frees. 0, WV_ERR_IO or WV_ERR_TOOBIG. */
int wv_read_file(const char *path, size_t max, char **out);
/* Reads at most limit bytes of a file (the rest is left unread), into a
 * NUL-terminated buffer the caller frees; *len gets the count. 0 or
 * WV_ERR_IO (errno set). For parsers that report oversize input themselves. */
int wv_read_file_upto(const char *path, size_t limit, char **out, size_t *len);

/* Wipes a secret so the compiler cannot elide it. */
void wv_memwipe(void *p, size_t n);
/* Constant-time comparison of two equal-length buffers: 0 when equal. */
int wv_ct_memcmp(const void *a, const void *b, size_t n);

#endif
