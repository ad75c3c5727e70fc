#include "wv/base.h"

#include <dirent.h>
#include <math.h>
#include <sys/resource.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct family {
    char *name;
    char *help;
    enum wv_metric_type type;
    struct wv_buf samples; /* rendered sample lines */
};

struct wv_metrics {
    struct family *f;
    size_t n, cap;
};

wv_metrics *wv_metrics_new(void) {
    return wv_calloc(1, sizeof(wv_metrics));
}

void wv_metrics_free(wv_metrics *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->f[i].name);
        free(m->f[i].help);
        wv_buf_dispose(&m->f[i].samples);
    }
    free(m->f);
    free(m);
}

static struct family *family(wv_metrics *m, const char *name, enum wv_metric_type type,
                             const char *help) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->f[i].name, name) == 0)
            return &m->f[i];
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->f = wv_realloc(m->f, m->cap * sizeof(*m->f));
    }
    struct family *f = &m->f[m->n++];
    memset(f, 0, sizeof(*f));
    f->name = wv_strdup(name);
    f->help = wv_strdup(help ? help : name);
    f->type = type;
    return f;
}

static void append(struct family *f, const char *s) {
    wv_buf_add(&f->samples, s, strlen(s));
}

static void sample(wv_metrics *m, const char *name, enum wv_metric_type type, const char *help,
                   const char *labels, const char *value) {
    struct family *f = family(m, name, type, help);
    char line[1024];
    if (labels && *labels)
        snprintf(line, sizeof(line), "%s{%s} %s\n", name, labels, value);
    else
        snprintf(line, sizeof(line), "%s %s\n", name, value);
    append(f, line);
}

void wv_metrics_add(wv_metrics *m, const char *name, enum wv_metric_type type, const char *help,
                    const char *labels, double value) {
    char v[64];
    /* Whole numbers (counters, most gauges) as integers; fractions with the
     * 9 significant digits a double of a measurement holds honestly
     * (0.001234, not 0.0012340000000000001). */
    if (value == floor(value) && fabs(value) < 9.0e15)
        snprintf(v, sizeof(v), "%.0f", value);
    else
        snprintf(v, sizeof(v), "%.9g", value);
    sample(m, name, type, help, labels, v);
}

void wv_metrics_add_rows(wv_metrics *m, const char *labels, const struct wv_metric_row *rows,
                         size_t n) {
    for (size_t i = 0; i < n; i++)
        wv_metrics_add(m, rows[i].name, rows[i].type, rows[i].help, labels, rows[i].value);
}

void wv_metrics_add_u64(wv_metrics *m, const char *name, enum wv_metric_type type, const char *help,
                        const char *labels, uint64_t value) {
    char v[32];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
    sample(m, name, type, help, labels, v);
}

/* /proc/self: resident and virtual memory, descriptors, CPU time, start. */
void wv_metrics_process(wv_metrics *m) {
    long page = sysconf(_SC_PAGESIZE), tick = sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* Fields after the command name, which may hold spaces and ')'. */
        char *p = strrchr(buf, ')');
        unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
        long long rss = 0;
        if (p &&
            sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                   "%*d %*d %llu %llu %lld",
                   &utime, &stime, &start, &vsize, &rss) == 5 &&
            tick > 0) {
            wv_metrics_add(m, "process_cpu_seconds_total", WV_COUNTER,
                           "Total user and system CPU time spent in seconds.", NULL,
                           (double)(utime + stime) / (double)tick);
            wv_metrics_add_u64(m, "process_resident_memory_bytes", WV_GAUGE,
                               "Resident memory size in bytes.", NULL,
                               (uint64_t)(rss > 0 ? rss : 0) * (uint64_t)page);
            wv_metrics_add_u64(m, "process_virtual_memory_bytes", WV_GAUGE,
                               "Virtual memory size in bytes.", NULL, vsize);
            double boot = 0;
            FILE *st = fopen("/proc/stat", "r");
            char line[256];
            while (st && fgets(line, sizeof(line), st))
                if (sscanf(line, "btime %lf", &boot) == 1)
                    break;
            if (st)
                fclose(st);
            if (boot > 0)
                wv_metrics_add(m, "process_start_time_seconds", WV_GAUGE,
                               "Start time of the process since unix epoch in seconds.", NULL,
                               boot + (double)start / (double)tick);
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        uint64_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        wv_metrics_add_u64(m, "process_open_fds", WV_GAUGE, "Number of open file descriptors.",
                           NULL, n ? n - 1 : 0); /* not the one reading the directory */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        wv_metrics_add_u64(m, "process_max_fds", WV_GAUGE,
                           "Maximum number of open file descriptors.", NULL,
                           rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur);
}

void wv_metrics_label(char *buf, size_t n, const char *key, const char *value) {
    size_t len = strlen(buf);
    int w = snprintf(buf + len, n - len, "%s%s=\"", len ? "," : "", key);
    if (w < 0 || (size_t)w >= n - len)
        return;
    len += (size_t)w;
    for (const char *p = value; *p && len + 3 < n; p++) {
        if (*p == '\\' || *p == '"') {
            buf[len++] = '\\';
            buf[len++] = *p;
        } else if (*p == '\n') {
            buf[len++] = '\\';
            buf[len++] = 'n';
        } else {
            buf[len++] = *p;
        }
    }
    if (len + 1 < n)
        buf[len++] = '"';
    buf[len] = '\0';
}

char *wv_metrics_render(const wv_metrics *m) {
    struct wv_buf out = {0};
    for (size_t i = 0; i < m->n; i++) {
        const struct family *f = &m->f[i];
        wv_buf_printf(&out, "# HELP %s %s\n# TYPE %s %s\n%s", f->name, f->help, f->name,
                      f->type == WV_COUNTER ? "counter" : "gauge",
                      f->samples.p ? f->samples.p : "");
    }
    return wv_buf_take(&out);
}
