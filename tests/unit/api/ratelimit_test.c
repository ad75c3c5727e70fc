/* The per-client token bucket behind the API's 429 rate limit. */
#include "wvunit.h"

#include "ratelimit.h"

#include <stdio.h>

static void burst_then_refused_then_refilled(void **state) {
    wv_ratelimit *rl = wv_ratelimit_new(10, 5, 4); /* 10/s, burst 5 */
    uint64_t retry = 0;
    for (int i = 0; i < 5; i++)
        assert_true(wv_ratelimit_take(rl, "198.51.100.1", 1000, NULL));
    assert_false(wv_ratelimit_take(rl, "198.51.100.1", 1000, &retry));
    assert_int_equal(retry, 100); /* one token per 100 ms */
    /* Another client is not affected. */
    assert_true(wv_ratelimit_take(rl, "198.51.100.2", 1000, NULL));
    assert_false(wv_ratelimit_take(rl, "198.51.100.1", 1099, NULL));
    assert_true(wv_ratelimit_take(rl, "198.51.100.1", 1100, NULL));
    assert_false(wv_ratelimit_take(rl, "198.51.100.1", 1100, NULL));
    /* A long pause refills up to the burst, not beyond. */
    for (int i = 0; i < 5; i++)
        assert_true(wv_ratelimit_take(rl, "198.51.100.1", 100000, NULL));
    assert_false(wv_ratelimit_take(rl, "198.51.100.1", 100000, NULL));
    wv_ratelimit_free(rl);
}

static void table_is_bounded(void **state) {
    wv_ratelimit *rl = wv_ratelimit_new(1, 1, 2);
    assert_true(wv_ratelimit_take(rl, "a", 10, NULL));
    assert_false(wv_ratelimit_take(rl, "a", 10, NULL));
    /* Many clients cycle through two slots: memory stays fixed. */
    char key[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "c%d", i);
        assert_true(wv_ratelimit_take(rl, key, 20 + (uint64_t)i, NULL));
    }
    assert_null(wv_ratelimit_new(0, 1, 1));
    assert_null(wv_ratelimit_new(1, 0, 1));
    assert_null(wv_ratelimit_new(1, 1, 0));
    wv_ratelimit_free(rl);
}

static void slow_rate_is_smooth(void **state) {
    wv_ratelimit *rl = wv_ratelimit_new(1, 1, 1); /* 1/s */
    uint64_t retry = 0;
    assert_true(wv_ratelimit_take(rl, "x", 5000, NULL));
    assert_false(wv_ratelimit_take(rl, "x", 5500, &retry));
    assert_int_equal(retry, 500);
    assert_true(wv_ratelimit_take(rl, "x", 6000, NULL));
    wv_ratelimit_free(rl);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(burst_then_refused_then_refilled),
    cmocka_unit_test(table_is_bounded),
    cmocka_unit_test(slow_rate_is_smooth),
};
WVU_MAIN(tests)
