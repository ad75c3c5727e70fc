/* wanemu's path model with exact times: what the system test can only see
 * through the noise of a shared machine. */
#include <stdint.h>
#include <stdlib.h>

#include "wvunit.h"

#include "shaper.h"

#define MS 1000000ull
#define T0 (1000 * 1000 * MS) /* a monotonic clock well past zero */

static struct wanemu_shaper sh;

static void start(const struct wanemu_dir_conf *c, uint64_t seed) {
    assert_int_equal(wanemu_shaper_init(&sh, c, seed, 1024), 0);
}

static int teardown(void **state) {
    wanemu_shaper_dispose(&sh);
    return 0;
}

static enum wanemu_verdict admit(uint64_t now, uint32_t len, uint64_t *rel) {
    bool reordered;
    return wanemu_shaper_admit(&sh, now, len, rel, &reordered);
}

static void delay_only_releases_after_exactly_the_delay(void **state) {
    start(&(struct wanemu_dir_conf){.delay_ns = 50 * MS}, 1);
    uint64_t rel;
    for (uint64_t i = 0; i < 1000; i++) {
        assert_int_equal(admit(T0 + i * 1000, 1500, &rel), WANEMU_PASS);
        assert_int_equal(rel, T0 + i * 1000 + 50 * MS);
    }
    assert_int_equal(wanemu_shaper_queued(&sh, T0), 0);
}

static void loss_rate_matches_and_the_seed_repeats_it(void **state) {
    struct wanemu_dir_conf c = {.loss = 0.02};
    int lost[3] = {0};
    unsigned char first[2000];
    for (int run = 0; run < 3; run++) {
        start(&c, run == 2 ? 8 : 7);
        for (int i = 0; i < 100000; i++) {
            uint64_t rel;
            int l = admit(T0, 100, &rel) == WANEMU_LOSS;
            lost[run] += l;
            if (i < 2000) {
                if (run == 0)
                    first[i] = (unsigned char)l;
                else if (run == 1)
                    assert_int_equal(first[i], l);
            }
        }
        wanemu_shaper_dispose(&sh);
    }
    /* 2000 expected, binomial sigma 44. */
    assert_in_range(lost[0], 1800, 2200);
    assert_int_equal(lost[0], lost[1]);
    assert_true(lost[2] != lost[0]);
    assert_in_range(lost[2], 1800, 2200);
}

static void no_loss_never_drops(void **state) {
    start(&(struct wanemu_dir_conf){.loss = 0}, 1);
    uint64_t rel;
    for (int i = 0; i < 100000; i++)
        assert_int_equal(admit(T0, 100, &rel), WANEMU_PASS);
}

/* 1250 bytes at 10 Mbit/s: 1 ms on the wire each. */
static void rate_serialises_back_to_back_packets(void **state) {
    start(&(struct wanemu_dir_conf){.rate_bps = 10000000,
                                    .delay_ns = 20 * MS,
                                    .queue_bytes = 1 << 20},
          1);
    uint64_t rel;
    for (uint64_t i = 1; i <= 5; i++) {
        assert_int_equal(admit(T0, 1250, &rel), WANEMU_PASS);
        assert_int_equal(rel, T0 + i * MS + 20 * MS);
    }
    assert_int_equal(wanemu_shaper_queued(&sh, T0), 5 * 1250);
    assert_int_equal(wanemu_shaper_queued(&sh, T0 + 2 * MS), 3 * 1250);
    assert_int_equal(wanemu_shaper_queued(&sh, T0 + 5 * MS), 0);
    /* After idle, a packet goes at once plus its own time on the wire. */
    assert_int_equal(admit(T0 + 100 * MS, 1250, &rel), WANEMU_PASS);
    assert_int_equal(rel, T0 + 101 * MS + 20 * MS);
}

static void full_byte_queue_drops_the_tail_not_the_head(void **state) {
    start(&(struct wanemu_dir_conf){.rate_bps = 10000000, .queue_bytes = 3 * 1250}, 1);
    uint64_t rel;
    for (uint64_t i = 1; i <= 3; i++) {
        assert_int_equal(admit(T0, 1250, &rel), WANEMU_PASS);
        assert_int_equal(rel, T0 + i * MS);
    }
    assert_int_equal(admit(T0, 1250, &rel), WANEMU_QUEUE_FULL);
    assert_int_equal(admit(T0 + MS / 2, 1250, &rel), WANEMU_QUEUE_FULL);
    /* Even a 1-byte packet: the queue's bytes are at the bound. */
    assert_int_equal(admit(T0 + MS / 2, 1, &rel), WANEMU_QUEUE_FULL);
    /* The first one has left: room for one more, behind the other two. */
    assert_int_equal(admit(T0 + MS, 1250, &rel), WANEMU_PASS);
    assert_int_equal(rel, T0 + 4 * MS);
    assert_int_equal(admit(T0 + MS, 1250, &rel), WANEMU_QUEUE_FULL);
    assert_int_equal(sh.q_max_bytes, 3 * 1250);
}

static void full_packet_queue_drops_the_tail(void **state) {
    start(&(struct wanemu_dir_conf){.rate_bps = 1000000, .queue_pkts = 4}, 1);
    uint64_t rel;
    for (int i = 0; i < 4; i++)
        assert_int_equal(admit(T0, 60, &rel), WANEMU_PASS);
    assert_int_equal(admit(T0, 60, &rel), WANEMU_QUEUE_FULL);
}

static void token_bucket_lets_a_burst_through_after_idle(void **state) {
    start(&(struct wanemu_dir_conf){.rate_bps = 10000000,
                                    .burst_bytes = 2500,
                                    .queue_bytes = 1 << 20},
          1);
    uint64_t rel;
    /* Idle since the clock's start: a full bucket of two packets. */
    assert_int_equal(admit(T0, 1250, &rel), WANEMU_PASS);
    assert_int_equal(rel, T0);
    assert_int_equal(admit(T0, 1250, &rel), WANEMU_PASS);
    assert_int_equal(rel, T0);
    assert_int_equal(admit(T0, 1250, &rel), WANEMU_PASS);
    assert_int_equal(rel, T0 + MS);
    /* 1.5 ms of idle refills 1.5 packets of tokens at most... */
    assert_int_equal(admit(T0 + 2500 * 1000, 1250, &rel), WANEMU_PASS);
    assert_int_equal(rel, T0 + 2500 * 1000);
    assert_int_equal(admit(T0 + 2500 * 1000, 1250, &rel), WANEMU_PASS);
    assert_int_equal(rel, T0 + 3 * MS);
    /* ...and long idle never more than the bucket. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(admit(T0 + 1000 * MS, 1250, &rel), WANEMU_PASS);
        assert_int_equal(rel, T0 + 1000 * MS);
    }
    assert_int_equal(admit(T0 + 1000 * MS, 1250, &rel), WANEMU_PASS);
    assert_int_equal(rel, T0 + 1001 * MS);
}

static void jitter_stays_within_its_bounds_and_spreads(void **state) {
    start(&(struct wanemu_dir_conf){.delay_ns = 20 * MS, .jitter_ns = 5 * MS}, 3);
    uint64_t lo = UINT64_MAX, hi = 0, rel;
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(admit(T0, 100, &rel), WANEMU_PASS);
        uint64_t d = rel - T0;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo >= 15 * MS && lo < 15 * MS + MS / 10);
    assert_true(hi <= 25 * MS && hi > 25 * MS - MS / 10);
}

static void reorder_sends_the_chosen_share_without_delay(void **state) {
    start(&(struct wanemu_dir_conf){.delay_ns = 20 * MS, .reorder = 0.25}, 5);
    int quick = 0;
    for (int i = 0; i < 40000; i++) {
        uint64_t rel;
        bool reordered;
        assert_int_equal(wanemu_shaper_admit(&sh, T0, 100, &rel, &reordered), WANEMU_PASS);
        assert_int_equal(rel, reordered ? T0 : T0 + 20 * MS);
        quick += reordered;
    }
    assert_in_range(quick, 9500, 10500);
}

static void release_queue_orders_by_time_then_arrival(void **state) {
    struct wanemu_relq q;
    assert_int_equal(wanemu_relq_init(&q, 4096), 0);
    uint64_t t = 0, prev_t = 0;
    assert_false(wanemu_relq_peek(&q, &t));
    srand(11);
    for (uint32_t i = 0; i < 4096; i++)
        assert_int_equal(wanemu_relq_push(&q, (uint64_t)(rand() % 64), i), 0);
    assert_int_equal(wanemu_relq_push(&q, 0, 0), -1);
    uint32_t prev_slot = 0;
    for (int i = 0; i < 4096; i++) {
        assert_true(wanemu_relq_peek(&q, &t));
        uint32_t slot = wanemu_relq_pop(&q);
        assert_true(t >= prev_t);
        /* Slots were pushed in arrival order: equal times leave in that order. */
        if (i > 0 && t == prev_t)
            assert_true(slot > prev_slot);
        prev_t = t;
        prev_slot = slot;
    }
    assert_false(wanemu_relq_peek(&q, &t));
    wanemu_relq_dispose(&q);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(delay_only_releases_after_exactly_the_delay, teardown),
    cmocka_unit_test_teardown(loss_rate_matches_and_the_seed_repeats_it, teardown),
    cmocka_unit_test_teardown(no_loss_never_drops, teardown),
    cmocka_unit_test_teardown(rate_serialises_back_to_back_packets, teardown),
    cmocka_unit_test_teardown(full_byte_queue_drops_the_tail_not_the_head, teardown),
    cmocka_unit_test_teardown(full_packet_queue_drops_the_tail, teardown),
    cmocka_unit_test_teardown(token_bucket_lets_a_burst_through_after_idle, teardown),
    cmocka_unit_test_teardown(jitter_stays_within_its_bounds_and_spreads, teardown),
    cmocka_unit_test_teardown(reorder_sends_the_chosen_share_without_delay, teardown),
    cmocka_unit_test(release_queue_orders_by_time_then_arrival),
};
WVU_MAIN(tests)
