/* One direction of the emulated path: a thread that reads every packet the
 * sending namespace routes into its TUN device, runs it through the shaper
 * and writes it into the other namespace's TUN device at its release time.
 *
 * Packets live in a pool of fixed-size slots allocated once (mmap, touched
 * only as used; freed slots are reused first), so nothing is allocated per
 * packet. The thread reads in batches (until the device is empty or
 * WANEMU_BATCH packets), releases what is due, and sleeps in ppoll() until
 * the next release or the next packet. */
#ifndef WANEMU_PUMP_H
#define WANEMU_PUMP_H

#include "shaper.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define WANEMU_BATCH 64

/* Counters of one direction. Written by its thread only, read by the main
 * thread at any time (relaxed atomics: each value is exact, the set is not a
 * snapshot). */
struct wanemu_stats {
    _Atomic uint64_t rx_pkts, rx_bytes; /* read from the sending side's device */
    _Atomic uint64_t tx_pkts, tx_bytes; /* written into the receiving side's device */
    _Atomic uint64_t drop_loss;         /* random loss */
    _Atomic uint64_t drop_queue;        /* bottleneck queue full (tail drop) */
    _Atomic uint64_t drop_pool;         /* no free slot: more held than --pool */
    _Atomic uint64_t drop_oversize;     /* longer than the MTU */
    _Atomic uint64_t drop_write;        /* the receiving device refused it */
    _Atomic uint64_t reordered;         /* sent without the delay (--reorder) */
    _Atomic uint64_t queue_max_bytes;   /* bottleneck queue high-water mark */
    _Atomic uint64_t held_max;          /* most slots in use at once */
    _Atomic uint64_t late_ns_sum;       /* how late the releases were, summed */
    _Atomic uint64_t late_ns_max;       /* ... and the latest one */
};

struct wanemu_pump {
    const char *name; /* "a_to_b" / "b_to_a" */
    int in_fd, out_fd, stop_fd;
    uint32_t mtu, stride, pool_n;
    unsigned long slack_ns; /* how late a release close behind others may be (pump.c) */
    uint8_t *pool;
    size_t pool_size;
    uint32_t *lens;
    uint32_t *free_slots;
    uint32_t free_n;
    struct wanemu_shaper sh;
    struct wanemu_relq rq;
    struct wanemu_stats st;
    pthread_t thread;
    _Atomic int err;      /* errno of a fatal read/poll error that ended the thread, else 0 */
    _Atomic int stopping; /* set before stop_fd is signalled: seen even while busy */
};

/* Sets up p to move packets from in_fd to out_fd (both non-blocking TUN
 * fds it does not own) under *c; stop_fd (an eventfd) ends the thread once
 * readable. Returns 0 or -1 (out of memory). */
int wanemu_pump_init(struct wanemu_pump *p, const char *name, int in_fd, int out_fd, int stop_fd,
                     const struct wanemu_dir_conf *c, uint64_t seed, uint32_t mtu, uint32_t pool_n);
void wanemu_pump_dispose(struct wanemu_pump *p);
/* Starts the thread. Returns 0 or an errno value. */
int wanemu_pump_start(struct wanemu_pump *p);
/* Waits for the thread (after stop_fd was signalled). */
void wanemu_pump_join(struct wanemu_pump *p);

#endif
