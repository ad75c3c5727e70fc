#include "wvunit.h"

#include "balance.h"
#include "wv/base.h"

static void pick_least_loaded_up_channel(void **state) {
    struct wv_chan_load c[3] = {
        {.up = true, .bytes_in_flight = 500, .cwnd = 1000, .streams = 1},
        {.up = true, .bytes_in_flight = 300, .cwnd = 1000, .streams = 9},
        {.up = false, .bytes_in_flight = 0, .cwnd = 1000},
    };
    assert_int_equal(wv_balance_pick(c, 3), 1);
    /* Ratio, not absolute bytes: a bigger window carries more. */
    c[0].cwnd = 10000;
    assert_int_equal(wv_balance_pick(c, 3), 0);
    c[0].up = c[1].up = false;
    assert_int_equal(wv_balance_pick(c, 3), -1);
    assert_int_equal(wv_balance_pick(c, 0), -1);
}

static void idle_channels_share_by_stream_count(void **state) {
    /* Both idle: new streams alternate, so both families carry traffic. */
    struct wv_chan_load c[2] = {{.up = true, .cwnd = 14720}, {.up = true, .cwnd = 14720}};
    int counts[2] = {0, 0};
    for (int i = 0; i < 10; i++) {
        int k = wv_balance_pick(c, 2);
        counts[k]++;
        c[k].streams++;
    }
    assert_int_equal(counts[0], 5);
    assert_int_equal(counts[1], 5);
}

static void zero_cwnd_and_huge_values_do_not_overflow(void **state) {
    struct wv_chan_load c[2] = {{.up = true, .bytes_in_flight = UINT64_MAX, .cwnd = 0},
                                {.up = true, .bytes_in_flight = UINT64_MAX - 1, .cwnd = 0}};
    assert_int_equal(wv_balance_pick(c, 2), 1);
}

static void backoff_grows_caps_and_jitters(void **state) {
    for (unsigned a = 0; a < 20; a++) {
        uint64_t cap = a >= 6 ? 60000 : 1000ull << a;
        if (cap > 60000)
            cap = 60000;
        for (uint32_t r = 0; r < 5000; r += 997) {
            uint64_t d = wv_backoff_ms(a, r * 2654435761u);
            assert_true(d >= cap / 2 && d <= cap);
        }
    }
    assert_true(wv_backoff_ms(0, 0) >= 500);
    assert_true(wv_backoff_ms(100, 0xffffffffu) <= 60000);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(pick_least_loaded_up_channel),
    cmocka_unit_test(idle_channels_share_by_stream_count),
    cmocka_unit_test(zero_cwnd_and_huge_values_do_not_overflow),
    cmocka_unit_test(backoff_grows_caps_and_jitters),
};
WVU_MAIN(tests)
