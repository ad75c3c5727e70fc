#ifndef WV_BASE_H
#define WV_BASE_H
/* base: what every subsystem shares and nothing else. Errors and memory,
 * the logger, Prometheus metrics, embedded files, the growable buffer and
 * addresses as text. Depends on nothing of the project; no library but libc.
 * Everything here is safe on any thread unless it says otherwise. */

/* Errors and memory: the two things every module shares.
 *
 * Functions return 0 or a negative WV_ERR_*; wv_strerror() names it. Codes
 * from errno, SQLite, MHD and paho are mapped once, at the boundary. */
#include <stdarg.h>
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
    WV_ERR_MANAGED = -15, /* the object is managed by the config file (store origins) */
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
/* Intrusive doubly-linked lists under a head pointer (NULL-terminated):
 * the element's links are the members named prev and next. PUSH inserts
 * at the front; UNLINK takes the element out and clears its links. */
#define WV_LIST_PUSH_AS(head, e, prev, next)                                                       \
    do {                                                                                           \
        (e)->prev = NULL;                                                                          \
        (e)->next = (head);                                                                        \
        if (head)                                                                                  \
            (head)->prev = (e);                                                                    \
        (head) = (e);                                                                              \
    } while (0)
#define WV_LIST_UNLINK_AS(head, e, prev, next)                                                     \
    do {                                                                                           \
        if ((e)->prev)                                                                             \
            (e)->prev->next = (e)->next;                                                           \
        else                                                                                       \
            (head) = (e)->next;                                                                    \
        if ((e)->next)                                                                             \
            (e)->next->prev = (e)->prev;                                                           \
        (e)->prev = (e)->next = NULL;                                                              \
    } while (0)
#define WV_LIST_PUSH(head, e) WV_LIST_PUSH_AS(head, e, prev, next)
#define WV_LIST_UNLINK(head, e) WV_LIST_UNLINK_AS(head, e, prev, next)
/* Singly-linked FIFO queues under a head and a tail pointer: APPEND puts
 * e (its link the member named next) last. */
#define WV_QUEUE_APPEND(head, tail, e)                                                             \
    do {                                                                                           \
        (e)->next = NULL;                                                                          \
        if (tail)                                                                                  \
            (tail)->next = (e);                                                                    \
        else                                                                                       \
            (head) = (e);                                                                          \
        (tail) = (e);                                                                              \
    } while (0)
#define WV_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Big-endian (network order) integers in byte buffers, for the wire
 * formats: STUN, the tunnel's frames, loss repair. */
static inline uint16_t wv_get16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t wv_get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t wv_get64(const uint8_t *p) {
    return (uint64_t)wv_get32(p) << 32 | wv_get32(p + 4);
}
static inline void wv_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void wv_put32(uint8_t *p, uint32_t v) {
    wv_put16(p, (uint16_t)(v >> 16));
    wv_put16(p + 2, (uint16_t)v);
}
static inline void wv_put64(uint8_t *p, uint64_t v) {
    wv_put32(p, (uint32_t)(v >> 32));
    wv_put32(p + 4, (uint32_t)v);
}

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

/* The logger: passed to every module, connected by main to stdout or a
 * file, as text or JSON lines. Every line names its subsystem. Callers must
 * never pass a secret (keys, tokens, passwords) in a message.
 *
 * Thread-safe: lines from paho's threads and the loop never interleave. */

enum wv_log_level { WV_LOG_DEBUG = 0, WV_LOG_INFO, WV_LOG_WARN, WV_LOG_ERROR };
enum wv_log_format { WV_LOG_TEXT = 0, WV_LOG_JSON };

typedef struct wv_log wv_log;

/* Creates a logger writing to stdout (path NULL or "", as upstream) or
 * appending to path.
 * Returns NULL and sets errno if the file cannot be opened. */
wv_log *wv_log_new(enum wv_log_level level, enum wv_log_format format, const char *path);
void wv_log_free(wv_log *log);
/* Reopens the file (after rotation, on SIGHUP). 0 or WV_ERR_IO. */
int wv_log_reopen(wv_log *log);
/* Changes the level at once; safe while other threads write. */
void wv_log_set_level(wv_log *log, enum wv_log_level level);
/* Applies new settings to a running logger (a site edit): level, format
 * and destination (path NULL or "": stdout), from the next line on. A new
 * file is opened before the old one is closed: if it cannot be, the old
 * destination is kept (level and format still change) and WV_ERR_IO is
 * returned with errno set; else 0. */
int wv_log_configure(wv_log *log, enum wv_log_level level, enum wv_log_format format,
                     const char *path);
bool wv_log_enabled(const wv_log *log, enum wv_log_level level);

/* Parses "DEBUG"/"info"/... and "json"/"text"; -1 if unknown. */
int wv_log_level_parse(const char *s);
int wv_log_format_parse(const char *s);
const char *wv_log_level_name(enum wv_log_level level);

void wv_log_write(wv_log *log, enum wv_log_level level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void wv_log_vwrite(wv_log *log, enum wv_log_level level, const char *subsys, const char *fmt,
                   va_list ap);

/* A NULL logger is allowed everywhere and drops everything. */
#define WV_DEBUG(log, sub, ...) wv_log_write((log), WV_LOG_DEBUG, (sub), __VA_ARGS__)
#define WV_INFO(log, sub, ...) wv_log_write((log), WV_LOG_INFO, (sub), __VA_ARGS__)
#define WV_WARN(log, sub, ...) wv_log_write((log), WV_LOG_WARN, (sub), __VA_ARGS__)
#define WV_ERROR(log, sub, ...) wv_log_write((log), WV_LOG_ERROR, (sub), __VA_ARGS__)

/* A writer of the Prometheus text exposition format. Modules add samples in
 * any order; each family's HELP/TYPE is written once and its samples are
 * kept together, as `promtool check metrics` requires.
 *
 *   wv_metrics *m = wv_metrics_new();
 *   wv_metrics_add(m, "wovenet_peers", WV_GAUGE, "Known peer sites.", NULL, 3);
 *   wv_metrics_add(m, "wovenet_channel_bytes_sent_total", WV_COUNTER, "...",
 *                  "site=\"b\",channel=\"1\"", 1234);
 *   char *text = wv_metrics_render(m); ... free(text); wv_metrics_free(m);
 *
 * Whole values are written as integers, others with 9 significant digits.
 * Counter names must end in _total. Label values are escaped by
 * wv_metrics_label() when built from outside input. */

typedef struct wv_metrics wv_metrics;
enum wv_metric_type { WV_COUNTER, WV_GAUGE };

wv_metrics *wv_metrics_new(void);
void wv_metrics_free(wv_metrics *m);
/* labels: NULL or the inside of the braces, e.g. `code="200"`. The first
 * call for a name fixes its type and help. */
void wv_metrics_add(wv_metrics *m, const char *name, enum wv_metric_type type, const char *help,
                    const char *labels, double value);
/* The same for an exact 64-bit count (byte counters may pass 2^53). */
/* One series of a table written by wv_metrics_add_rows. */
struct wv_metric_row {
    const char *name;
    enum wv_metric_type type;
    const char *help;
    double value;
};
/* wv_metrics_add() for each of the n rows, all with the same labels (or
 * NULL). */
void wv_metrics_add_rows(wv_metrics *m, const char *labels, const struct wv_metric_row *rows,
                         size_t n);
void wv_metrics_add_u64(wv_metrics *m, const char *name, enum wv_metric_type type, const char *help,
                        const char *labels, uint64_t value);
/* The process_* series of Prometheus' client conventions, from /proc/self:
 * process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds,
 * process_open_fds, process_max_fds. */
void wv_metrics_process(wv_metrics *m);
/* Appends `key="escaped value"` (with a leading comma when buf is not
 * empty) to buf of size n. */
void wv_metrics_label(char *buf, size_t n, const char *key, const char *value);
/* The whole exposition text; caller frees. */
char *wv_metrics_render(const wv_metrics *m);

/* A file embedded at build time (see cmake/embed.cmake). Tables end with a
 * zeroed entry; data is NUL-terminated one byte past len. */
struct wv_embedded {
    const char *path;
    const unsigned char *data;
    size_t len;
};

/* --- A growable buffer ------------------------------------------------------ */
/* Bytes kept NUL-terminated one past len (p is NULL until the first add).
 * Growth follows the one OOM policy; bounds are the caller's to check.
 * Zero-initialise to start. */
struct wv_buf {
    char *p;
    size_t len, cap;
};
void wv_buf_add(struct wv_buf *b, const void *data, size_t n);
void wv_buf_printf(struct wv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (all of them when n >= len). */
void wv_buf_consume(struct wv_buf *b, size_t n);
/* Hands over the bytes (never NULL, NUL-terminated; caller frees) and
 * empties b. */
char *wv_buf_take(struct wv_buf *b);
void wv_buf_dispose(struct wv_buf *b);

/* --- Addresses as text ------------------------------------------------------- */
struct sockaddr;
/* Long enough for "[IPv6]:PORT". */
#define WV_ADDR_STRLEN 64
/* "IP:PORT" or "[IPv6]:PORT"; "?" for anything but AF_INET/AF_INET6. */
char *wv_addr_format(const struct sockaddr *sa, char out[WV_ADDR_STRLEN]);
/* The IP alone (n >= INET6_ADDRSTRLEN fits any); "?" as above. */
char *wv_addr_ip(const struct sockaddr *sa, char *out, size_t n);
/* One source, as the handshake and connection limits count them: for IPv4
 * the same address, for IPv6 the same /64 (what one host or subscriber
 * holds). Ports are not compared; different families never match. */
bool wv_addr_same_source(const struct sockaddr *a, const struct sockaddr *b);

#endif
