#include "wv/base.h"

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

void wv_metrics_add(wv_metrics *m, const char *name, enum wv_metric_type type, const char *help,
                    const char *labels, double value) {
    struct family *f = family(m, name, type, help);
    char line[1024];
    if (labels && *labels)
        snprintf(line, sizeof(line), "%s{%s} %.17g\n", name, labels, value);
    else
        snprintf(line, sizeof(line), "%s %.17g\n", name, value);
    append(f, line);
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
