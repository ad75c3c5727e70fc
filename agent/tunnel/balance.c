#include "balance.h"

int wv_balance_pick(const struct wv_chan_load *c, size_t n) {
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (!c[i].up)
            continue;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        const struct wv_chan_load *b = &c[best];
        /* Compare in_flight/cwnd by cross-multiplying: no division, no
         * floating point, exact. 128-bit products cannot overflow. */
        unsigned __int128 lhs = (unsigned __int128)c[i].bytes_in_flight * (b->cwnd ? b->cwnd : 1);
        unsigned __int128 rhs = (unsigned __int128)b->bytes_in_flight * (c[i].cwnd ? c[i].cwnd : 1);
        if (lhs < rhs || (lhs == rhs && c[i].streams < b->streams))
            best = (int)i;
    }
    return best;
}

uint64_t wv_backoff_ms(unsigned attempt, uint32_t rnd) {
    uint64_t d = attempt >= 6 ? 60000 : 1000ull << attempt;
    if (d > 60000)
        d = 60000;
    return d / 2 + rnd % (d / 2 + 1);
}
