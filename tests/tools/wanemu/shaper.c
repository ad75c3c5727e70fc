#include "shaper.h"

#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void wanemu_rand_seed(uint64_t rng[4], uint64_t seed) {
    for (int i = 0; i < 4; i++)
        rng[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double wanemu_rand01(uint64_t rng[4]) {
    return (double)(next_u64(rng) >> 11) * 0x1.0p-53;
}

int wanemu_shaper_init(struct wanemu_shaper *s, const struct wanemu_dir_conf *c, uint64_t seed,
                       uint32_t max_pkts) {
    *s = (struct wanemu_shaper){.c = *c};
    wanemu_rand_seed(s->rng, seed);
    if (c->rate_bps) {
        s->burst_ns = (uint64_t)((double)c->burst_bytes * 8e9 / (double)c->rate_bps);
        s->q_cap = c->queue_pkts ? c->queue_pkts : max_pkts;
        s->q = calloc(s->q_cap ? s->q_cap : 1, sizeof(*s->q));
        if (!s->q)
            return -1;
    }
    return 0;
}

void wanemu_shaper_dispose(struct wanemu_shaper *s) {
    free(s->q);
    s->q = NULL;
}

/* Forgets the packets whose last bit has left by now. */
static void drain(struct wanemu_shaper *s, uint64_t now) {
    while (s->q_n && s->q[s->q_head].depart_ns <= now) {
        s->q_bytes -= s->q[s->q_head].len;
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_n--;
    }
}

uint64_t wanemu_shaper_queued(struct wanemu_shaper *s, uint64_t now_ns) {
    if (!s->c.rate_bps)
        return 0;
    drain(s, now_ns);
    return s->q_bytes;
}

/* When the packet's last bit leaves the bottleneck, or WANEMU_QUEUE_FULL. */
static enum wanemu_verdict bottleneck(struct wanemu_shaper *s, uint64_t now, uint32_t len,
                                      uint64_t *depart) {
    drain(s, now);
    if ((s->c.queue_bytes && s->q_bytes + len > s->c.queue_bytes) || s->q_n == s->q_cap)
        return WANEMU_QUEUE_FULL;
    /* Token bucket as a virtual clock: tokens saved while idle (at most the
     * burst) show as tx_free lagging behind now. */
    uint64_t base = s->tx_free_ns;
    if (now > s->burst_ns && base < now - s->burst_ns)
        base = now - s->burst_ns;
    s->tx_free_ns = base + (uint64_t)len * 8000000000ull / s->c.rate_bps;
    *depart = s->tx_free_ns > now ? s->tx_free_ns : now;
    if (*depart > now) {
        uint32_t tail = (s->q_head + s->q_n) % s->q_cap;
        s->q[tail] = (struct wanemu_qent){.depart_ns = *depart, .len = len};
        s->q_n++;
        s->q_bytes += len;
        if (s->q_bytes > s->q_max_bytes)
            s->q_max_bytes = s->q_bytes;
    }
    return WANEMU_PASS;
}

enum wanemu_verdict wanemu_shaper_admit(struct wanemu_shaper *s, uint64_t now_ns, uint32_t len,
                                        uint64_t *release_ns, bool *reordered) {
    const struct wanemu_dir_conf *c = &s->c;
    *reordered = false;
    if (c->loss > 0 && wanemu_rand01(s->rng) < c->loss)
        return WANEMU_LOSS;
    uint64_t depart = now_ns;
    if (c->rate_bps) {
        enum wanemu_verdict v = bottleneck(s, now_ns, len, &depart);
        if (v != WANEMU_PASS)
            return v;
    }
    if (c->reorder > 0 && wanemu_rand01(s->rng) < c->reorder) {
        *reordered = true;
        *release_ns = depart;
        return WANEMU_PASS;
    }
    int64_t d = (int64_t)c->delay_ns;
    if (c->jitter_ns) {
        double u = wanemu_rand01(s->rng) * 2.0 - 1.0;
        d += (int64_t)(u * (double)c->jitter_ns);
        if (d < 0)
            d = 0;
    }
    *release_ns = depart + (uint64_t)d;
    return WANEMU_PASS;
}

int wanemu_relq_init(struct wanemu_relq *q, uint32_t cap) {
    *q = (struct wanemu_relq){.cap = cap};
    q->h = malloc((size_t)(cap ? cap : 1) * sizeof(*q->h));
    return q->h ? 0 : -1;
}

void wanemu_relq_dispose(struct wanemu_relq *q) {
    free(q->h);
    q->h = NULL;
}

static inline bool before(const struct wanemu_relent *a, const struct wanemu_relent *b) {
    return a->t < b->t || (a->t == b->t && a->seq_slot < b->seq_slot);
}

int wanemu_relq_push(struct wanemu_relq *q, uint64_t t, uint32_t slot) {
    if (q->n == q->cap)
        return -1;
    struct wanemu_relent e = {.t = t, .seq_slot = (q->seq++ << 24) | slot};
    uint32_t i = q->n++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before(&e, &q->h[parent]))
            break;
        q->h[i] = q->h[parent];
        i = parent;
    }
    q->h[i] = e;
    return 0;
}

uint32_t wanemu_relq_pop(struct wanemu_relq *q) {
    uint32_t slot = (uint32_t)(q->h[0].seq_slot & (WANEMU_MAX_SLOTS - 1));
    struct wanemu_relent last = q->h[--q->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= q->n)
            break;
        if (child + 1 < q->n && before(&q->h[child + 1], &q->h[child]))
            child++;
        if (!before(&q->h[child], &last))
            break;
        q->h[i] = q->h[child];
        i = child;
    }
    q->h[i] = last;
    return slot;
}
