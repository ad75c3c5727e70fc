#ifndef WV_BALANCE_H
#define WV_BALANCE_H
/* Pure policy of the tunnel: which data channel takes a new stream, and
 * how long to wait before re-dialing a dead one. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wv_chan_load {
    bool up;                  /* proven and open */
    uint64_t bytes_in_flight; /* unacknowledged bytes */
    uint64_t cwnd;            /* congestion window, bytes (0 treated as 1) */
    uint32_t streams;         /* active streams */
};

/* Index of the up channel with the least load: lowest in-flight/cwnd ratio,
 * then fewest active streams, then the lowest index. -1 if none is up. */
int wv_balance_pick(const struct wv_chan_load *c, size_t n);

/* Delay before re-dial attempt number `attempt` (0 = first retry):
 * exponential from 1 s, capped at 60 s, with jitter drawn from rnd so the
 * result lies in [d/2, d]. */
uint64_t wv_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
