#ifndef WV_LOG_H
#define WV_LOG_H
/* The logger: passed to every module, connected by main to stdout or a
 * file, as text or JSON lines. Every line names its subsystem. Callers must
 * never pass a secret (keys, tokens, passwords) in a message.
 *
 * Thread-safe: lines from paho's threads and the loop never interleave. */
#include <stdarg.h>
#include <stdbool.h>

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
void wv_log_set_level(wv_log *log, enum wv_log_level level);
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

#endif
