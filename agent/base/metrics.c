#include "wv/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct family {
    char *name;
    char *help;
    enum wv_metric_type type;
    char *samples; /* rendered sample lines */
    size_t len, cap;
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
        free(m->f[i].samples);
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
    size_t n = strlen(s);
    if (f->len + n + 1 > f->cap) {
        f->cap = (f->len + n + 1) * 2;
        f->samples = wv_realloc(f->samples, f->cap);
    }
    memcpy(f->samples + f->len, s, n + 1);
    f->len += n;
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
    size_t cap = 1, len = 0;
    for (size_t i = 0; i < m->n; i++)
        cap += m->f[i].len + strlen(m->f[i].help) + 2 * strlen(m->f[i].name) + 32;
    char *out = wv_malloc(cap);
    out[0] = '\0';
    for (size_t i = 0; i < m->n; i++) {
        const struct family *f = &m->f[i];
        len += (size_t)snprintf(out + len, cap - len, "# HELP %s %s\n# TYPE %s %s\n%s", f->name,
                                f->help, f->name, f->type == WV_COUNTER ? "counter" : "gauge",
                                f->samples ? f->samples : "");
    }
    return out;
}
