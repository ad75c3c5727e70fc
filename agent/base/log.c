#include "wv/base.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

struct wv_log {
    enum wv_log_level level;
    enum wv_log_format format;
    char *path; /* NULL: stdout */
    FILE *fp;
    pthread_mutex_t mu;
};

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

wv_log *wv_log_new(enum wv_log_level level, enum wv_log_format format, const char *path) {
    wv_log *log = wv_calloc(1, sizeof(*log));
    log->level = level;
    log->format = format;
    pthread_mutex_init(&log->mu, NULL);
    if (path && *path) {
        log->path = wv_strdup(path);
        log->fp = fopen(path, "a");
        if (!log->fp) {
            int e = errno;
            wv_log_free(log);
            errno = e;
            return NULL;
        }
    } else {
        log->fp = stdout;
    }
    return log;
}

void wv_log_free(wv_log *log) {
    if (!log)
        return;
    if (log->fp && log->fp != stdout)
        fclose(log->fp);
    pthread_mutex_destroy(&log->mu);
    free(log->path);
    free(log);
}

int wv_log_reopen(wv_log *log) {
    if (!log || !log->path)
        return 0;
    FILE *fp = fopen(log->path, "a");
    if (!fp)
        return WV_ERR_IO;
    pthread_mutex_lock(&log->mu);
    fclose(log->fp);
    log->fp = fp;
    pthread_mutex_unlock(&log->mu);
    return 0;
}

/* The level is read without the lock by every writer (paho's threads too),
 * and changed by a site edit on the loop: atomic. */
void wv_log_set_level(wv_log *log, enum wv_log_level level) {
    if (log)
        __atomic_store_n(&log->level, level, __ATOMIC_RELAXED);
}

bool wv_log_enabled(const wv_log *log, enum wv_log_level level) {
    return log && level >= __atomic_load_n(&log->level, __ATOMIC_RELAXED);
}

int wv_log_configure(wv_log *log, enum wv_log_level level, enum wv_log_format format,
                     const char *path) {
    if (!log)
        return 0;
    if (path && !*path)
        path = NULL;
    int rc = 0;
    bool same = (!path && !log->path) || (path && log->path && strcmp(path, log->path) == 0);
    FILE *fp = NULL, *old = NULL;
    char *old_path = NULL;
    if (!same) {
        fp = path ? fopen(path, "a") : stdout;
        if (!fp)
            rc = WV_ERR_IO;
    }
    pthread_mutex_lock(&log->mu);
    log->format = format;
    if (fp) {
        old = log->fp;
        old_path = log->path;
        log->fp = fp;
        log->path = path ? wv_strdup(path) : NULL;
    }
    pthread_mutex_unlock(&log->mu);
    wv_log_set_level(log, level);
    if (old && old != stdout)
        fclose(old);
    free(old_path);
    return rc;
}

int wv_log_level_parse(const char *s) {
    for (size_t i = 0; i < WV_COUNTOF(level_names); i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(s, "warning") == 0)
        return WV_LOG_WARN;
    return -1;
}

int wv_log_format_parse(const char *s) {
    if (strcasecmp(s, "text") == 0 || strcasecmp(s, "console") == 0)
        return WV_LOG_TEXT;
    if (strcasecmp(s, "json") == 0)
        return WV_LOG_JSON;
    return -1;
}

const char *wv_log_level_name(enum wv_log_level level) {
    return (unsigned)level < WV_COUNTOF(level_names) ? level_names[level] : "?";
}

/* Writes s as the inside of a JSON string. */
static void json_escape(FILE *fp, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", fp);
            break;
        case '\\':
            fputs("\\\\", fp);
            break;
        case '\n':
            fputs("\\n", fp);
            break;
        case '\r':
            fputs("\\r", fp);
            break;
        case '\t':
            fputs("\\t", fp);
            break;
        default:
            if (*p < 0x20)
                fprintf(fp, "\\u%04x", *p);
            else
                fputc(*p, fp);
        }
    }
}

void wv_log_vwrite(wv_log *log, enum wv_log_level level, const char *subsys, const char *fmt,
                   va_list ap) {
    if (!wv_log_enabled(log, level))
        return;
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    pthread_mutex_lock(&log->mu);
    if (log->format == WV_LOG_JSON) {
        fprintf(log->fp, "{\"time\":\"%s\",\"level\":\"%s\",\"subsys\":\"", ts, level_names[level]);
        json_escape(log->fp, subsys);
        fputs("\",\"msg\":\"", log->fp);
        json_escape(log->fp, msg);
        fputs("\"}\n", log->fp);
    } else {
        fprintf(log->fp, "%s %-5s [%s] %s\n", ts, level_names[level], subsys, msg);
    }
    fflush(log->fp);
    pthread_mutex_unlock(&log->mu);
}

void wv_log_write(wv_log *log, enum wv_log_level level, const char *subsys, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    wv_log_vwrite(log, level, subsys, fmt, ap);
    va_end(ap);
}
