/* wanemu's path model, without I/O: what happens to one packet on one
 * direction of the emulated path. In order: random loss; the bottleneck, a
 * token bucket on bytes in front of a bounded drop-tail queue; the one-way
 * delay, with optional uniform jitter and netem-style reordering (a chosen
 * packet skips the delay). The pump (pump.c) hands it each packet with its
 * arrival time and releases the packet at the time it returns; the release
 * queue below orders the held packets by that time. Everything here is
 * single-threaded: one shaper and one release queue per direction, owned by
 * that direction's thread. */
#ifndef WANEMU_SHAPER_H
#define WANEMU_SHAPER_H

#include <stdbool.h>
#include <stdint.h>

/* One direction's settings. Times in nanoseconds. */
struct wanemu_dir_conf {
    uint64_t delay_ns;    /* fixed one-way delay */
    uint64_t jitter_ns;   /* delay varies uniformly in [delay - jitter, delay + jitter] */
    double loss;          /* probability that a packet is dropped, 0..1 */
    double reorder;       /* probability that a packet skips the delay, 0..1 */
    uint64_t rate_bps;    /* bottleneck rate in bits/s of IP packets; 0: none (and no queue) */
    uint64_t burst_bytes; /* token bucket depth: bytes that may pass at once after idle */
    uint64_t queue_bytes; /* drop-tail bound of the bottleneck queue in bytes; 0: none */
    uint32_t queue_pkts;  /* ... and in packets; 0: none */
};

enum wanemu_verdict {
    WANEMU_PASS = 0,
    WANEMU_LOSS,       /* the random loss took it */
    WANEMU_QUEUE_FULL, /* the bottleneck queue was full: dropped at the tail */
};

/* A packet in the bottleneck queue: when its last bit leaves, and its size. */
struct wanemu_qent {
    uint64_t depart_ns;
    uint32_t len;
};

struct wanemu_shaper {
    struct wanemu_dir_conf c;
    uint64_t rng[4];
    uint64_t tx_free_ns; /* token-bucket clock: when the bottleneck has sent all it holds,
                            less what the bucket's saved tokens let through at once */
    uint64_t burst_ns;   /* burst_bytes at the rate */
    /* The packets admitted but not yet fully sent, in order (FIFO ring). */
    struct wanemu_qent *q;
    uint32_t q_cap, q_head, q_n;
    uint64_t q_bytes;
    uint64_t q_max_bytes; /* high-water mark, for the counters */
};

/* Copies *c. max_pkts bounds the queue ring when c->queue_pkts is 0 (the pump
 * passes its pool size: no more packets can be held anyway). Returns 0, or -1
 * when memory is short. */
int wanemu_shaper_init(struct wanemu_shaper *s, const struct wanemu_dir_conf *c, uint64_t seed,
                       uint32_t max_pkts);
void wanemu_shaper_dispose(struct wanemu_shaper *s);

/* Decides the fate of a packet of len bytes arriving at now_ns (a monotonic
 * clock that never goes back between calls). On WANEMU_PASS *release_ns is
 * when it leaves the far end of the path (>= now_ns), and *reordered says
 * whether it was picked to skip the delay. */
enum wanemu_verdict wanemu_shaper_admit(struct wanemu_shaper *s, uint64_t now_ns, uint32_t len,
                                        uint64_t *release_ns, bool *reordered);

/* Bytes in the bottleneck queue at now_ns (packets not yet fully sent). */
uint64_t wanemu_shaper_queued(struct wanemu_shaper *s, uint64_t now_ns);

/* A uniform double in [0, 1) from the shaper's generator (xoshiro256**
 * seeded by splitmix64, so a seed gives the same sequence everywhere). */
double wanemu_rand01(uint64_t rng[4]);
void wanemu_rand_seed(uint64_t rng[4], uint64_t seed);

/* The release queue: held packets (pool slot numbers) ordered by release
 * time, then by arrival (a binary min-heap; with a fixed delay the times
 * arrive in order, so a push costs one comparison and a pop log2(n)). */
struct wanemu_relent {
    uint64_t t;
    uint64_t seq_slot; /* arrival number << 24 | slot: ties leave in arrival order */
};

struct wanemu_relq {
    struct wanemu_relent *h;
    uint32_t n, cap;
    uint64_t seq;
};

#define WANEMU_MAX_SLOTS (1u << 24)

int wanemu_relq_init(struct wanemu_relq *q, uint32_t cap);
void wanemu_relq_dispose(struct wanemu_relq *q);
/* Returns 0, or -1 when full (cap entries). slot < WANEMU_MAX_SLOTS. */
int wanemu_relq_push(struct wanemu_relq *q, uint64_t t, uint32_t slot);
/* The earliest entry's time, or false when empty. */
static inline bool wanemu_relq_peek(const struct wanemu_relq *q, uint64_t *t) {
    if (q->n == 0)
        return false;
    *t = q->h[0].t;
    return true;
}
/* Removes the earliest entry and returns its slot. Only when not empty. */
uint32_t wanemu_relq_pop(struct wanemu_relq *q);

#endif
