/* Receive-window auto-tuning: the growth rule and the budget shared by the
 * endpoints of an agent (quic.h). The windows themselves live in the
 * streams and connections (quic_stream.c grows them as the app consumes). */
#include "quic_int.h"

#include <stdlib.h>

/* A window doubles when the app consumed all of it within this many
 * smoothed RTTs, plus the slack (the loop pass and the local write between
 * a packet's arrival and its consumption, timer rounding). 4, as quic-go:
 * a lost packet holds the in-order bytes behind it back for a round trip
 * or more, and with 2 the windows of a lossy path stopped growing (one
 * stream, 100 ms and 0.5% loss: 284 Mbit/s with 2, 576 with 4). */
#define GROW_RTTS 4
#define GROW_SLACK_NS (1000ull * 1000)
/* And a window is at least this many times what the app consumed in the
 * last round trip (Linux's receive buffer auto-tuning keeps 2 times, and
 * more while the rate grows). The doubling above needs a whole window
 * drained within 4 RTT: behind a sender in slow start the first window
 * took longer (the congestion window, not ours, limited it then), and
 * then grew by half a window per RTT (a larger window's bytes arrive a
 * round trip after it is granted). On a 200 ms path one stream spent a
 * second more than TCP getting to the path's rate. 4: the sender may
 * double its rate in the round trip the credit takes to reach it. */
#define RATE_TIMES 4

struct wv_quic_budget {
    wv_quic_budget_stats st;
};

uint64_t wv_quic__window_next(uint64_t window, uint64_t cap, uint64_t elapsed, uint64_t srtt) {
    if (window >= cap || elapsed >= GROW_RTTS * srtt + GROW_SLACK_NS)
        return window;
    return cap - window > window ? 2 * window : cap;
}

uint64_t wv_quic__window_rate(uint64_t window, uint64_t cap, uint64_t bytes, uint64_t elapsed,
                              uint64_t srtt) {
    if (window >= cap || elapsed == 0)
        return window;
    double want = (double)RATE_TIMES * (double)bytes * (double)srtt / (double)elapsed;
    if (want <= (double)window)
        return window;
    return want >= (double)cap ? cap : (uint64_t)want;
}

wv_quic_budget *wv_quic_budget_new(uint64_t limit) {
    wv_quic_budget *b = wv_calloc(1, sizeof(*b));
    b->st.limit = limit;
    return b;
}

void wv_quic_budget_set_limit(wv_quic_budget *b, uint64_t limit) {
    b->st.limit = limit;
}

void wv_quic_budget_get_stats(const wv_quic_budget *b, wv_quic_budget_stats *out) {
    *out = b->st;
}

void wv_quic_budget_free(wv_quic_budget *b) {
    free(b);
}

static void count(wv_quic_budget *b, uint64_t n) {
    b->st.used += n;
    if (b->st.used > b->st.peak)
        b->st.peak = b->st.used;
}

uint64_t wv_quic__budget_take(wv_quic_budget *b, uint64_t want) {
    if (!b || want == 0)
        return want;
    uint64_t room = !b->st.limit ? want : b->st.used < b->st.limit ? b->st.limit - b->st.used : 0;
    uint64_t n = WV_MIN(want, room);
    if (n < want)
        b->st.refused++;
    count(b, n);
    return n;
}

void wv_quic__budget_add(wv_quic_budget *b, uint64_t window) {
    if (!b)
        return;
    count(b, window);
    b->st.conns++;
}

void wv_quic__budget_release(wv_quic_budget *b, uint64_t window) {
    if (!b)
        return;
    b->st.used -= WV_MIN(window, b->st.used);
    b->st.conns--;
}

void wv_quic_endpoint_set_window_max(wv_quic_endpoint *ep, uint64_t stream_window_max,
                                     uint64_t conn_window_max) {
    ep->cfg.stream_window_max = stream_window_max;
    ep->cfg.conn_window_max = conn_window_max;
}
