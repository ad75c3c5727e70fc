/* The time series of the agent's recent past (see wv/history.h). */
#include "wv/history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NO_RTT UINT32_MAX
#define NAME_MAX_LEN 255

/* One second: 16 bytes. Bytes saturate at 4 GiB per second (34 Gbit/s). */
struct fine {
    uint32_t rx, tx;
    uint32_t rtt_us; /* NO_RTT: none */
    uint32_t active;
};

/* One minute: 24 bytes. */
struct coarse {
    uint64_t rx, tx;
    uint32_t rtt_us;
    uint32_t active;
};

/* The minute in progress. */
struct minute_acc {
    int64_t min; /* -1: none yet */
    uint64_t rx, tx;
    uint64_t rtt_sum_us;
    uint32_t rtt_n, active;
};

struct series {
    struct series *prev, *next; /* most recently fed first */
    enum wv_hist_kind kind;
    char *name;
    int64_t first, last; /* seconds of the oldest and newest sample */
    int64_t first_min;   /* minute of the oldest sample */
    uint64_t tot_rx, tot_tx; /* the last totals (add_totals) */
    struct minute_acc acc;
    struct fine fine[WV_HIST_FINE_STEPS];     /* index: second % steps */
    struct coarse coarse[WV_HIST_COARSE_STEPS]; /* index: minute % steps */
};

struct wv_history {
    struct series *head, *tail;
    size_t count, max;
    size_t name_bytes;
};

static const char *const kind_names[WV_HIST_NKINDS] = {"site", "peer", "channel", "remoteApp",
                                                       "exposedApp"};

const char *wv_hist_kind_name(enum wv_hist_kind kind) {
    return kind < WV_HIST_NKINDS ? kind_names[kind] : "?";
}

int wv_hist_kind_parse(const char *name) {
    for (int i = 0; name && i < WV_HIST_NKINDS; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return i;
    return -1;
}

size_t wv_history_series_bytes(void) {
    return sizeof(struct series);
}

wv_history *wv_history_new(unsigned max_series) {
    wv_history *h = wv_calloc(1, sizeof(*h));
    h->max = max_series ? max_series : 256;
    return h;
}

/* Most recently used first; the tail is the next to expire. */
static void unlink_series(wv_history *h, struct series *s) {
    if (h->tail == s)
        h->tail = s->prev;
    WV_LIST_UNLINK(h->head, s);
}

static void push_front(wv_history *h, struct series *s) {
    WV_LIST_PUSH(h->head, s);
    if (!h->tail)
        h->tail = s;
}

static void free_series(wv_history *h, struct series *s) {
    unlink_series(h, s);
    h->count--;
    h->name_bytes -= strlen(s->name) + 1;
    free(s->name);
    free(s);
}

void wv_history_free(wv_history *h) {
    if (!h)
        return;
    while (h->head)
        free_series(h, h->head);
    free(h);
}

size_t wv_history_count(const wv_history *h) {
    return h->count;
}

size_t wv_history_bytes(const wv_history *h) {
    return sizeof(*h) + h->count * sizeof(struct series) + h->name_bytes;
}

static struct series *find(const wv_history *h, enum wv_hist_kind kind, const char *name) {
    for (struct series *s = h->head; s; s = s->next)
        if (s->kind == kind && strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

/* Finds or creates the series and makes it the most recently fed. NULL
 * when max_series are held and every one was fed lately. */
static struct series *get(wv_history *h, enum wv_hist_kind kind, const char *name, int64_t sec) {
    char key[NAME_MAX_LEN + 1];
    snprintf(key, sizeof(key), "%s", name ? name : "");
    struct series *s = find(h, kind, key);
    if (s) {
        unlink_series(h, s);
        push_front(h, s);
        return s;
    }
    if (h->count >= h->max) {
        if (h->tail->last >= sec - WV_HIST_STALE_S)
            return NULL;
        free_series(h, h->tail);
    }
    /* Every step written now, empty: the series takes its memory at once
     * rather than creeping up to it over the day (and calloc's pages, left
     * untouched, would not show in the RSS until then). */
    s = wv_calloc(1, sizeof(*s));
    for (size_t i = 0; i < WV_HIST_FINE_STEPS; i++)
        s->fine[i].rtt_us = NO_RTT;
    for (size_t i = 0; i < WV_HIST_COARSE_STEPS; i++)
        s->coarse[i].rtt_us = NO_RTT;
    s->kind = kind;
    s->name = wv_strdup(key);
    s->first = s->last = -1;
    s->acc.min = -1;
    h->count++;
    h->name_bytes += strlen(key) + 1;
    push_front(h, s);
    return s;
}

static uint32_t sat32(uint64_t v) {
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint32_t rtt_us(double ms) {
    if (!(ms >= 0)) /* also NaN */
        return NO_RTT;
    double us = ms * 1000.0;
    return us >= (double)(NO_RTT - 1) ? NO_RTT - 1 : (uint32_t)llround(us);
}

static struct fine *fine_at(struct series *s, int64_t sec) {
    return &s->fine[sec % WV_HIST_FINE_STEPS];
}

static struct coarse *coarse_at(struct series *s, int64_t min) {
    return &s->coarse[min % WV_HIST_COARSE_STEPS];
}

/* Ends the minute in progress: it goes into the coarse ring. */
static void flush_minute(struct series *s) {
    if (s->acc.min < 0)
        return;
    struct coarse *c = coarse_at(s, s->acc.min);
    c->rx = s->acc.rx;
    c->tx = s->acc.tx;
    c->rtt_us = s->acc.rtt_n ? (uint32_t)(s->acc.rtt_sum_us / s->acc.rtt_n) : NO_RTT;
    c->active = s->acc.active;
}

/* Adds one second's share to the minute it belongs to. Minutes with no
 * second at all (a gap) are cleared on the way. */
static void minute_add(struct series *s, int64_t sec, uint64_t rx, uint64_t tx, uint32_t rtt,
                       uint32_t active) {
    int64_t min = sec / 60;
    /* Seconds only move forward (wv_history_add), so minutes do too. */
    if (min > s->acc.min) {
        flush_minute(s);
        int64_t from = s->acc.min < 0 ? min : s->acc.min + 1;
        if (min - from >= WV_HIST_COARSE_STEPS)
            from = min - WV_HIST_COARSE_STEPS + 1;
        for (int64_t m = from; m < min; m++)
            *coarse_at(s, m) = (struct coarse){.rtt_us = NO_RTT};
        memset(&s->acc, 0, sizeof(s->acc));
        s->acc.min = min;
    }
    s->acc.rx += rx;
    s->acc.tx += tx;
    if (rtt != NO_RTT) {
        s->acc.rtt_sum_us += rtt;
        s->acc.rtt_n++;
    }
    if (active > s->acc.active)
        s->acc.active = active;
}

/* The k-th of n even shares of total (k = 1..n): the shares sum to total. */
static uint64_t share(uint64_t total, int64_t k, int64_t n) {
    unsigned __int128 a = (unsigned __int128)total * (uint64_t)k / (uint64_t)n;
    unsigned __int128 b = (unsigned __int128)total * (uint64_t)(k - 1) / (uint64_t)n;
    return (uint64_t)(a - b);
}

void wv_history_add(wv_history *h, enum wv_hist_kind kind, const char *name, int64_t sec,
                    const struct wv_hist_sample *smp) {
    if (kind >= WV_HIST_NKINDS || sec < 0)
        return;
    struct series *s = get(h, kind, name, sec);
    if (!s)
        return;
    uint32_t rtt = rtt_us(smp->rtt_ms);
    if (s->last < 0) {
        s->first = s->last = sec;
        s->first_min = sec / 60;
        *fine_at(s, sec) = (struct fine){sat32(smp->rx), sat32(smp->tx), rtt, smp->active};
        minute_add(s, sec, smp->rx, smp->tx, rtt, smp->active);
        return;
    }
    if (sec <= s->last) {
        /* The same second again, or the clock went back: the newest step. */
        struct fine *f = fine_at(s, s->last);
        f->rx = sat32((uint64_t)f->rx + smp->rx);
        f->tx = sat32((uint64_t)f->tx + smp->tx);
        if (rtt != NO_RTT)
            f->rtt_us = rtt;
        f->active = smp->active;
        minute_add(s, s->last, smp->rx, smp->tx, rtt, smp->active);
        return;
    }
    int64_t gap = sec - s->last;
    if (gap > WV_HIST_FINE_STEPS) {
        /* A clock jump: the seconds between are empty, the bytes are now. */
        for (int64_t t = sec - WV_HIST_FINE_STEPS + 1; t < sec; t++)
            *fine_at(s, t) = (struct fine){.rtt_us = NO_RTT};
        *fine_at(s, sec) = (struct fine){sat32(smp->rx), sat32(smp->tx), rtt, smp->active};
        minute_add(s, sec, smp->rx, smp->tx, rtt, smp->active);
    } else {
        for (int64_t k = 1; k <= gap; k++) {
            uint64_t rx = share(smp->rx, k, gap), tx = share(smp->tx, k, gap);
            int64_t t = s->last + k;
            *fine_at(s, t) = (struct fine){sat32(rx), sat32(tx), rtt, smp->active};
            minute_add(s, t, rx, tx, rtt, smp->active);
        }
    }
    s->last = sec;
}

struct wv_hist_sample wv_history_add_totals(wv_history *h, enum wv_hist_kind kind,
                                            const char *name, int64_t sec, uint64_t rx_total,
                                            uint64_t tx_total, double rtt_ms, uint32_t active) {
    struct wv_hist_sample smp = {.rtt_ms = rtt_ms, .active = active};
    if (kind >= WV_HIST_NKINDS || sec < 0)
        return smp;
    struct series *s = get(h, kind, name, sec);
    if (!s)
        return smp;
    /* The first totals are the object's whole count: its counters began
     * at zero when it did, a sample or less ago. */
    smp.rx = rx_total >= s->tot_rx ? rx_total - s->tot_rx : rx_total;
    smp.tx = tx_total >= s->tot_tx ? tx_total - s->tot_tx : tx_total;
    s->tot_rx = rx_total;
    s->tot_tx = tx_total;
    wv_history_add(h, kind, name, sec, &smp);
    return smp;
}

void wv_history_drop(wv_history *h, enum wv_hist_kind kind, const char *name, bool prefix) {
    size_t n = strlen(name);
    struct series *s = h->head;
    while (s) {
        struct series *next = s->next;
        if (s->kind == kind &&
            (prefix ? strncmp(s->name, name, n) == 0 : strcmp(s->name, name) == 0))
            free_series(h, s);
        s = next;
    }
}

void wv_history_expire(wv_history *h, int64_t now) {
    /* Least recently fed last: drop from the tail while too old. */
    while (h->tail && h->tail->last < now - WV_HIST_MAX_AGE_S)
        free_series(h, h->tail);
}

/* --- Reading ------------------------------------------------------------------ */

static json_t *rtt_json(uint32_t us) {
    return us == NO_RTT ? json_null() : json_real((double)us / 1000.0);
}

static json_t *series_json(const struct series *s, unsigned step, int64_t since) {
    int64_t start, end; /* in steps */
    if (step == 1) {
        end = s->last;
        start = WV_MAX(s->first, end - WV_HIST_FINE_STEPS + 1);
    } else {
        end = s->acc.min;
        start = WV_MAX(s->first_min, end - WV_HIST_COARSE_STEPS + 1);
    }
    int64_t from = since > 0 ? (since + (int64_t)step - 1) / (int64_t)step : 0;
    start = WV_MAX(start, from);
    if (s->last < 0 || start > end)
        return NULL;
    json_t *rx = json_array(), *tx = json_array(), *rtt = json_array(), *act = json_array();
    for (int64_t t = start; t <= end; t++) {
        if (step == 1) {
            const struct fine *f = &s->fine[t % WV_HIST_FINE_STEPS];
            json_array_append_new(rx, json_integer((json_int_t)f->rx));
            json_array_append_new(tx, json_integer((json_int_t)f->tx));
            json_array_append_new(rtt, rtt_json(f->rtt_us));
            json_array_append_new(act, json_integer((json_int_t)f->active));
        } else if (t == s->acc.min) {
            const struct minute_acc *a = &s->acc;
            json_array_append_new(rx, json_integer((json_int_t)a->rx));
            json_array_append_new(tx, json_integer((json_int_t)a->tx));
            json_array_append_new(rtt, rtt_json(a->rtt_n ? (uint32_t)(a->rtt_sum_us / a->rtt_n)
                                                          : NO_RTT));
            json_array_append_new(act, json_integer((json_int_t)a->active));
        } else {
            const struct coarse *c = &s->coarse[t % WV_HIST_COARSE_STEPS];
            json_array_append_new(rx, json_integer((json_int_t)c->rx));
            json_array_append_new(tx, json_integer((json_int_t)c->tx));
            json_array_append_new(rtt, rtt_json(c->rtt_us));
            json_array_append_new(act, json_integer((json_int_t)c->active));
        }
    }
    return json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "kind", kind_names[s->kind], "name",
                     s->name, "start", (json_int_t)(start * (int64_t)step), "rx", rx, "tx", tx,
                     "rttMs", rtt, "active", act);
}

static int by_key(const void *a, const void *b) {
    const struct series *x = *(const struct series *const *)a, *y = *(const struct series *const *)b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->name, y->name);
}

json_t *wv_history_json(const wv_history *h, int kind, const char *name, unsigned step,
                        int64_t since, int64_t now) {
    if (step != 1 && step != 60)
        return NULL;
    /* By kind, then name: a stable order for clients. */
    const struct series **pick = wv_calloc(h->count ? h->count : 1, sizeof(*pick));
    size_t n = 0;
    for (const struct series *s = h->head; s; s = s->next)
        if ((kind < 0 || (int)s->kind == kind) && (!name || strcmp(s->name, name) == 0))
            pick[n++] = s;
    qsort(pick, n, sizeof(*pick), by_key);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *j = series_json(pick[i], step, since);
        if (j)
            json_array_append_new(list, j);
    }
    free(pick);
    return json_pack("{s:i, s:I, s:o}", "step", (int)step, "now", (json_int_t)now, "series", list);
}
