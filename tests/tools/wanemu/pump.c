#include "pump.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The single writer's increment: no locked instruction needed. */
static inline void bump(_Atomic uint64_t *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void high_water(_Atomic uint64_t *c, uint64_t v) {
    if (v > atomic_load_explicit(c, memory_order_relaxed))
        atomic_store_explicit(c, v, memory_order_relaxed);
}

int wanemu_pump_init(struct wanemu_pump *p, const char *name, int in_fd, int out_fd, int stop_fd,
                     const struct wanemu_dir_conf *c, uint64_t seed, uint32_t mtu,
                     uint32_t pool_n) {
    *p = (struct wanemu_pump){.name = name,
                              .in_fd = in_fd,
                              .out_fd = out_fd,
                              .stop_fd = stop_fd,
                              .mtu = mtu,
                              .pool_n = pool_n};
    /* One byte more than the MTU shows a packet that would not fit. */
    p->stride = (mtu + 1 + 63) & ~63u;
    p->pool_size = (size_t)p->stride * pool_n;
    p->pool = mmap(NULL, p->pool_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p->pool == MAP_FAILED) {
        p->pool = NULL;
        return -1;
    }
    p->lens = calloc(pool_n, sizeof(*p->lens));
    p->free_slots = malloc(pool_n * sizeof(*p->free_slots));
    if (!p->lens || !p->free_slots)
        return -1;
    /* Slot 0 on top: the pages touched stay the few the traffic needs. */
    for (uint32_t i = 0; i < pool_n; i++)
        p->free_slots[i] = pool_n - 1 - i;
    p->free_n = pool_n;
    if (wanemu_shaper_init(&p->sh, c, seed, pool_n) != 0 || wanemu_relq_init(&p->rq, pool_n) != 0)
        return -1;
    return 0;
}

void wanemu_pump_dispose(struct wanemu_pump *p) {
    if (p->pool)
        munmap(p->pool, p->pool_size);
    free(p->lens);
    free(p->free_slots);
    wanemu_shaper_dispose(&p->sh);
    wanemu_relq_dispose(&p->rq);
}

static inline uint8_t *slot_data(struct wanemu_pump *p, uint32_t slot) {
    return p->pool + (size_t)slot * p->stride;
}

/* Writes up to WANEMU_BATCH packets due by now into the receiving device
 * (a bounded batch, so that reading never waits behind a long release: the
 * sending side's device queue would overflow meanwhile). Returns how many. */
static int release_due(struct wanemu_pump *p, uint64_t now) {
    uint64_t t;
    int n = 0;
    while (n < WANEMU_BATCH && wanemu_relq_peek(&p->rq, &t) && t <= now) {
        uint32_t slot = wanemu_relq_pop(&p->rq);
        uint32_t len = p->lens[slot];
        if (write(p->out_fd, slot_data(p, slot), len) == (ssize_t)len) {
            bump(&p->st.tx_pkts, 1);
            bump(&p->st.tx_bytes, len);
            bump(&p->st.late_ns_sum, now - t);
            high_water(&p->st.late_ns_max, now - t);
        } else {
            bump(&p->st.drop_write, 1);
        }
        p->free_slots[p->free_n++] = slot;
        n++;
    }
    return n;
}

/* Reads up to WANEMU_BATCH packets. Returns how many, or -1 with errno on a
 * read error other than "empty". Each packet's clock is read after its read:
 * a clock read once per batch would release a packet that arrived while the
 * thread was preempted mid-batch early, by as long as the preemption. */
static int read_batch(struct wanemu_pump *p) {
    static __thread uint8_t scratch[65536];
    int got = 0;
    while (got < WANEMU_BATCH) {
        uint32_t slot = UINT32_MAX;
        uint8_t *buf = scratch;
        size_t cap = sizeof(scratch);
        if (p->free_n) {
            slot = p->free_slots[p->free_n - 1];
            buf = slot_data(p, slot);
            cap = p->stride;
        }
        ssize_t n = read(p->in_fd, buf, cap);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return got;
            return -1;
        }
        uint64_t now = now_ns();
        got++;
        bump(&p->st.rx_pkts, 1);
        bump(&p->st.rx_bytes, (uint64_t)n);
        if (slot == UINT32_MAX) {
            bump(&p->st.drop_pool, 1);
            continue;
        }
        if ((uint32_t)n > p->mtu) {
            bump(&p->st.drop_oversize, 1);
            continue;
        }
        uint64_t release;
        bool reordered;
        switch (wanemu_shaper_admit(&p->sh, now, (uint32_t)n, &release, &reordered)) {
        case WANEMU_LOSS:
            bump(&p->st.drop_loss, 1);
            continue;
        case WANEMU_QUEUE_FULL:
            bump(&p->st.drop_queue, 1);
            continue;
        case WANEMU_PASS:
            break;
        }
        p->free_n--;
        p->lens[slot] = (uint32_t)n;
        /* Cannot fail: the queue holds as many entries as the pool has slots. */
        (void)wanemu_relq_push(&p->rq, release, slot);
        if (reordered)
            bump(&p->st.reordered, 1);
    }
    return got;
}

#define COALESCE_WITHIN_NS 1000000ull

static void *run(void *arg) {
    struct wanemu_pump *p = arg;
    /* The slack is applied here, not by the kernel: it ignores the timer
     * slack of real-time threads (--rt). */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct pollfd fds[2] = {{.fd = p->in_fd, .events = POLLIN},
                            {.fd = p->stop_fd, .events = POLLIN}};
    while (!atomic_load_explicit(&p->stopping, memory_order_relaxed)) {
        int got = read_batch(p);
        if (got < 0) {
            atomic_store(&p->err, errno);
            break;
        }
        high_water(&p->st.held_max, p->pool_n - p->free_n);
        high_water(&p->st.queue_max_bytes, p->sh.q_max_bytes);
        uint64_t now = now_ns();
        int sent = release_due(p, now);
        if (got == WANEMU_BATCH || sent == WANEMU_BATCH)
            continue; /* more waiting: no sleep */
        struct timespec ts, *tsp = NULL;
        uint64_t next;
        if (wanemu_relq_peek(&p->rq, &next)) {
            now = now_ns();
            if (next <= now)
                continue;
            /* A release due soon (a busy path: at 1 Gbit/s one every 12 us)
             * may wait up to the slack longer, so that one wake-up writes
             * several packets; one further off (a ping across a delay of
             * more than 1 ms) is woken for on time. */
            uint64_t wait = next - now;
            if (wait < COALESCE_WITHIN_NS)
                wait += p->slack_ns;
            ts.tv_sec = (time_t)(wait / 1000000000ull);
            ts.tv_nsec = (long)(wait % 1000000000ull);
            tsp = &ts;
        }
        if (ppoll(fds, 2, tsp, NULL) < 0 && errno != EINTR) {
            atomic_store(&p->err, errno);
            break;
        }
        if (fds[1].revents)
            break;
        /* A device gone (its namespace deleted) polls as an error: never spin on it. */
        if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            atomic_store(&p->err, EIO);
            break;
        }
    }
    return NULL;
}

int wanemu_pump_start(struct wanemu_pump *p) {
    return pthread_create(&p->thread, NULL, run, p);
}

void wanemu_pump_join(struct wanemu_pump *p) {
    pthread_join(p->thread, NULL);
}
