/* The agent's time series (wv/history.h): steps, gaps, the two rings,
 * counters that restart, the bound on series, expiry and the JSON view. */
#include <jansson.h>
#include <math.h>

#include "wvunit.h"

#include "wv/history.h"

#define T0 1700000000 /* a whole minute: 1700000000 = 28333333 * 60 + 20 */
#define M0 ((int64_t)T0 / 60 * 60)

static struct wv_hist_sample S(uint64_t rx, uint64_t tx, double rtt, uint32_t active) {
    return (struct wv_hist_sample){.rx = rx, .tx = tx, .rtt_ms = rtt, .active = active};
}

/* The one series (kind, name) at step, or fails. */
static json_t *
one(wv_history *h, int kind, const char *name, unsigned step, int64_t since, json_t **doc) {
    *doc = wv_history_json(h, kind, name, step, since, T0 + 5000);
    assert_non_null(*doc);
    json_t *list = json_object_get(*doc, "series");
    assert_int_equal(json_array_size(list), 1);
    return json_array_get(list, 0);
}

static json_int_t at(json_t *series, const char *field, size_t i) {
    json_t *v = json_array_get(json_object_get(series, field), i);
    assert_non_null(v);
    return json_integer_value(v);
}

static json_int_t sum(json_t *series, const char *field) {
    json_int_t total = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(series, field), i, v) total += json_integer_value(v);
    return total;
}

static void consecutive_seconds_are_consecutive_points(void **state) {
    wv_history *h = wv_history_new(0);
    for (int i = 0; i < 10; i++) {
        struct wv_hist_sample s = S(1000 * (i + 1), 10 * i, 0.26, (uint32_t)i);
        wv_history_add(h, WV_HIST_PEER, "aws", T0 + i, &s);
    }
    json_t *doc, *s = one(h, WV_HIST_PEER, "aws", 1, 0, &doc);
    assert_string_equal(json_string_value(json_object_get(s, "kind")), "peer");
    assert_string_equal(json_string_value(json_object_get(s, "name")), "aws");
    assert_int_equal(json_integer_value(json_object_get(s, "start")), T0);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), 10);
    assert_int_equal(at(s, "rx", 0), 1000);
    assert_int_equal(at(s, "rx", 9), 10000);
    assert_int_equal(at(s, "tx", 9), 90);
    assert_int_equal(at(s, "active", 4), 4);
    /* RTT to the microsecond: 0.26 ms stays 0.26 ms. */
    assert_true(fabs(json_real_value(json_array_get(json_object_get(s, "rttMs"), 3)) - 0.26) <
                1e-9);
    assert_int_equal(json_integer_value(json_object_get(doc, "step")), 1);
    json_decref(doc);
    wv_history_free(h);
}

static void no_rtt_is_null(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample s = S(1, 1, -1, 0);
    wv_history_add(h, WV_HIST_SITE, "", T0, &s);
    json_t *doc, *j = one(h, WV_HIST_SITE, NULL, 1, 0, &doc);
    assert_true(json_is_null(json_array_get(json_object_get(j, "rttMs"), 0)));
    json_decref(doc);
    wv_history_free(h);
}

static void gap_spreads_bytes_evenly_and_exactly(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample a = S(0, 0, -1, 1), b = S(1000, 7, -1, 2);
    wv_history_add(h, WV_HIST_CHANNEL, "aws/1", T0, &a);
    wv_history_add(h, WV_HIST_CHANNEL, "aws/1", T0 + 3, &b); /* the timer slept 3 s */
    json_t *doc, *s = one(h, WV_HIST_CHANNEL, "aws/1", 1, 0, &doc);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), 4);
    assert_int_equal(at(s, "rx", 0), 0);
    assert_int_equal(at(s, "rx", 1), 333);
    assert_int_equal(at(s, "rx", 2), 333);
    assert_int_equal(at(s, "rx", 3), 334);
    assert_int_equal(sum(s, "rx"), 1000);
    assert_int_equal(sum(s, "tx"), 7);
    assert_int_equal(at(s, "active", 2), 2);
    json_decref(doc);
    wv_history_free(h);
}

static void same_second_accumulates_and_clock_back_adds_to_newest(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample a = S(100, 1, -1, 1), b = S(50, 2, 3.0, 5), c = S(25, 0, -1, 6);
    wv_history_add(h, WV_HIST_REMOTE_APP, "web", T0 + 10, &a);
    wv_history_add(h, WV_HIST_REMOTE_APP, "web", T0 + 10, &b);
    wv_history_add(h, WV_HIST_REMOTE_APP, "web", T0 + 2, &c); /* clock went back */
    json_t *doc, *s = one(h, WV_HIST_REMOTE_APP, "web", 1, 0, &doc);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), 1);
    assert_int_equal(at(s, "rx", 0), 175);
    assert_int_equal(at(s, "tx", 0), 3);
    assert_int_equal(at(s, "active", 0), 6);
    assert_true(fabs(json_real_value(json_array_get(json_object_get(s, "rttMs"), 0)) - 3.0) < 1e-9);
    json_decref(doc);
    wv_history_free(h);
}

static void fine_ring_keeps_fifteen_minutes(void **state) {
    wv_history *h = wv_history_new(0);
    for (int i = 0; i < WV_HIST_FINE_STEPS + 100; i++) {
        struct wv_hist_sample s = S((uint64_t)i, 0, -1, 0);
        wv_history_add(h, WV_HIST_SITE, "", T0 + i, &s);
    }
    json_t *doc, *s = one(h, WV_HIST_SITE, "", 1, 0, &doc);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), WV_HIST_FINE_STEPS);
    assert_int_equal(json_integer_value(json_object_get(s, "start")), T0 + 100);
    assert_int_equal(at(s, "rx", 0), 100);
    assert_int_equal(at(s, "rx", WV_HIST_FINE_STEPS - 1), WV_HIST_FINE_STEPS + 99);
    json_decref(doc);
    wv_history_free(h);
}

static void minutes_sum_bytes_average_rtt_keep_peak(void **state) {
    wv_history *h = wv_history_new(0);
    /* 150 seconds from a whole minute: two full minutes and a half one. */
    for (int i = 0; i < 150; i++) {
        struct wv_hist_sample s = S(10, 1, i < 60 ? (i % 2 ? 2.0 : 4.0) : -1, (uint32_t)(i % 7));
        wv_history_add(h, WV_HIST_PEER, "aws", M0 + i, &s);
    }
    json_t *doc, *s = one(h, WV_HIST_PEER, "aws", 60, 0, &doc);
    assert_int_equal(json_integer_value(json_object_get(s, "start")), M0);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), 3);
    assert_int_equal(at(s, "rx", 0), 600);
    assert_int_equal(at(s, "rx", 1), 600);
    assert_int_equal(at(s, "rx", 2), 300); /* the minute in progress, as it stands */
    assert_int_equal(at(s, "tx", 2), 30);
    assert_true(fabs(json_real_value(json_array_get(json_object_get(s, "rttMs"), 0)) - 3.0) < 1e-9);
    assert_true(json_is_null(json_array_get(json_object_get(s, "rttMs"), 1)));
    assert_int_equal(at(s, "active", 0), 6);
    json_decref(doc);
    wv_history_free(h);
}

static void coarse_ring_keeps_a_day(void **state) {
    wv_history *h = wv_history_new(0);
    /* One sample a minute for 25 h: gaps of 60 s, spread over each minute. */
    for (int m = 0; m < 25 * 60; m++) {
        struct wv_hist_sample s = S(60, 0, -1, 0);
        wv_history_add(h, WV_HIST_SITE, "", M0 + m * 60, &s);
    }
    json_t *doc, *s = one(h, WV_HIST_SITE, "", 60, 0, &doc);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), WV_HIST_COARSE_STEPS);
    assert_int_equal(json_integer_value(json_object_get(s, "start")),
                     M0 + (25 * 60 - WV_HIST_COARSE_STEPS) * 60);
    assert_int_equal(at(s, "rx", 100), 60);
    json_decref(doc);
    wv_history_free(h);
}

static void clock_jump_leaves_empty_steps(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample a = S(5, 5, -1, 0), b = S(7, 7, -1, 0);
    wv_history_add(h, WV_HIST_SITE, "", M0, &a);
    wv_history_add(h, WV_HIST_SITE, "", M0 + 3600, &b); /* an hour later */
    json_t *doc, *s = one(h, WV_HIST_SITE, "", 1, 0, &doc);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), WV_HIST_FINE_STEPS);
    assert_int_equal(sum(s, "rx"), 7);
    assert_int_equal(at(s, "rx", WV_HIST_FINE_STEPS - 1), 7);
    json_decref(doc);
    s = one(h, WV_HIST_SITE, "", 60, 0, &doc);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), 61);
    assert_int_equal(at(s, "rx", 0), 5);
    assert_int_equal(at(s, "rx", 30), 0);
    assert_int_equal(at(s, "rx", 60), 7);
    json_decref(doc);
    wv_history_free(h);
}

static void since_drops_older_points(void **state) {
    wv_history *h = wv_history_new(0);
    for (int i = 0; i < 20; i++) {
        struct wv_hist_sample s = S((uint64_t)i, 0, -1, 0);
        wv_history_add(h, WV_HIST_PEER, "aws", T0 + i, &s);
    }
    json_t *doc, *s = one(h, WV_HIST_PEER, "aws", 1, T0 + 15, &doc);
    assert_int_equal(json_integer_value(json_object_get(s, "start")), T0 + 15);
    assert_int_equal(json_array_size(json_object_get(s, "rx")), 5);
    assert_int_equal(at(s, "rx", 0), 15);
    json_decref(doc);
    /* Nothing newer than since: the series is left out. */
    doc = wv_history_json(h, WV_HIST_PEER, NULL, 1, T0 + 100, T0 + 100);
    assert_int_equal(json_array_size(json_object_get(doc, "series")), 0);
    json_decref(doc);
    wv_history_free(h);
}

static void totals_count_whole_then_record_differences(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample d =
        wv_history_add_totals(h, WV_HIST_CHANNEL, "aws/3", T0, 5000, 400, 1.5, 1);
    /* A new channel moved 5000 bytes before its first sample: they count. */
    assert_int_equal(d.rx, 5000);
    assert_int_equal(d.tx, 400);
    d = wv_history_add_totals(h, WV_HIST_CHANNEL, "aws/3", T0 + 1, 8000, 500, 1.5, 1);
    assert_int_equal(d.rx, 3000);
    assert_int_equal(d.tx, 100);
    /* The counters restarted (a re-joined mesh): the new totals are new bytes. */
    d = wv_history_add_totals(h, WV_HIST_CHANNEL, "aws/3", T0 + 2, 200, 10, 1.5, 1);
    assert_int_equal(d.rx, 200);
    assert_int_equal(d.tx, 10);
    json_t *doc, *s = one(h, WV_HIST_CHANNEL, "aws/3", 1, 0, &doc);
    assert_int_equal(sum(s, "rx"), 8200);
    json_decref(doc);
    wv_history_free(h);
}

static void bound_replaces_the_least_recently_fed(void **state) {
    wv_history *h = wv_history_new(3);
    struct wv_hist_sample s = S(1, 1, -1, 0);
    wv_history_add(h, WV_HIST_CHANNEL, "a/1", T0, &s);
    wv_history_add(h, WV_HIST_CHANNEL, "a/2", T0, &s);
    wv_history_add(h, WV_HIST_CHANNEL, "a/3", T0, &s);
    /* All fed lately: a fourth is not kept, and the three keep their steps. */
    wv_history_add(h, WV_HIST_CHANNEL, "a/4", T0 + 1, &s);
    assert_int_equal(wv_history_count(h), 3);
    struct wv_hist_sample d = wv_history_add_totals(h, WV_HIST_CHANNEL, "a/5", T0 + 1, 9, 9, -1, 0);
    assert_int_equal(d.rx, 0);
    json_t *none = wv_history_json(h, WV_HIST_CHANNEL, "a/4", 1, 0, T0);
    assert_int_equal(json_array_size(json_object_get(none, "series")), 0);
    json_decref(none);
    /* a/2 goes quiet (a channel gone) while the others are fed on. */
    for (int i = 1; i <= WV_HIST_STALE_S + 1; i++) {
        wv_history_add(h, WV_HIST_CHANNEL, "a/1", T0 + i, &s);
        wv_history_add(h, WV_HIST_CHANNEL, "a/3", T0 + i, &s);
    }
    wv_history_add(h, WV_HIST_CHANNEL, "a/4", T0 + WV_HIST_STALE_S + 1, &s);
    assert_int_equal(wv_history_count(h), 3);
    json_t *doc = wv_history_json(h, WV_HIST_CHANNEL, "a/2", 1, 0, T0);
    assert_int_equal(json_array_size(json_object_get(doc, "series")), 0);
    json_decref(doc);
    doc = wv_history_json(h, -1, NULL, 1, 0, T0);
    json_t *list = json_object_get(doc, "series");
    assert_int_equal(json_array_size(list), 3);
    /* Sorted by kind and name whatever the feeding order. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "a/1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "name")), "a/3");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "name")), "a/4");
    json_decref(doc);
    /* Memory is what the header says: a fixed cost per series. */
    assert_true(wv_history_bytes(h) >= 3 * WV_HIST_SERIES_BYTES);
    assert_true(wv_history_bytes(h) < 3 * WV_HIST_SERIES_BYTES + 256);
    assert_true(WV_HIST_SERIES_BYTES < 50 * 1024);
    wv_history_free(h);
}

static void expire_drops_series_unfed_for_a_day(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample s = S(1, 1, -1, 0);
    wv_history_add(h, WV_HIST_CHANNEL, "gone/1", T0, &s);
    wv_history_add(h, WV_HIST_PEER, "here", T0 + WV_HIST_MAX_AGE_S, &s);
    wv_history_expire(h, T0 + WV_HIST_MAX_AGE_S);
    assert_int_equal(wv_history_count(h), 2); /* exactly a day: kept */
    wv_history_expire(h, T0 + WV_HIST_MAX_AGE_S + 1);
    assert_int_equal(wv_history_count(h), 1);
    json_t *doc = wv_history_json(h, WV_HIST_PEER, "here", 1, 0, T0);
    assert_int_equal(json_array_size(json_object_get(doc, "series")), 1);
    json_decref(doc);
    wv_history_free(h);
}

static void drop_by_name_and_prefix(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample s = S(1, 1, -1, 0);
    wv_history_add(h, WV_HIST_CHANNEL, "aws/1", T0, &s);
    wv_history_add(h, WV_HIST_CHANNEL, "aws/2", T0, &s);
    wv_history_add(h, WV_HIST_CHANNEL, "awsx/1", T0, &s);
    wv_history_add(h, WV_HIST_PEER, "aws", T0, &s);
    wv_history_drop(h, WV_HIST_CHANNEL, "aws/", true);
    assert_int_equal(wv_history_count(h), 2);
    wv_history_drop(h, WV_HIST_PEER, "aws", false);
    assert_int_equal(wv_history_count(h), 1);
    wv_history_drop(h, WV_HIST_PEER, "nobody", false);
    assert_int_equal(wv_history_count(h), 1);
    wv_history_free(h);
}

static void bytes_saturate_per_second_not_wrap(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample s = S(5ull << 32, 1, -1, 0);
    wv_history_add(h, WV_HIST_SITE, "", M0, &s);
    json_t *doc, *j = one(h, WV_HIST_SITE, "", 1, 0, &doc);
    assert_int_equal(at(j, "rx", 0), UINT32_MAX);
    json_decref(doc);
    /* The minute ring is 64-bit: it keeps the whole count. */
    j = one(h, WV_HIST_SITE, "", 60, 0, &doc);
    assert_int_equal(at(j, "rx", 0), (json_int_t)(5ull << 32));
    json_decref(doc);
    wv_history_free(h);
}

static void bad_input_is_refused(void **state) {
    wv_history *h = wv_history_new(0);
    struct wv_hist_sample s = S(1, 1, -1, 0);
    wv_history_add(h, WV_HIST_NKINDS, "x", T0, &s);
    wv_history_add(h, WV_HIST_SITE, "", -5, &s);
    assert_int_equal(wv_history_count(h), 0);
    assert_null(wv_history_json(h, -1, NULL, 10, 0, T0));
    /* Long names are cut to 255 bytes, not refused. */
    char name[600];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    wv_history_add(h, WV_HIST_PEER, name, T0, &s);
    json_t *doc = wv_history_json(h, WV_HIST_PEER, NULL, 1, 0, T0);
    const char *got = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "series"), 0), "name"));
    assert_int_equal(strlen(got), 255);
    json_decref(doc);
    assert_int_equal(wv_hist_kind_parse("remoteApp"), WV_HIST_REMOTE_APP);
    assert_int_equal(wv_hist_kind_parse("remoteapp"), -1);
    assert_int_equal(wv_hist_kind_parse(NULL), -1);
    assert_string_equal(wv_hist_kind_name(WV_HIST_EXPOSED_APP), "exposedApp");
    wv_history_free(h);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(consecutive_seconds_are_consecutive_points),
    cmocka_unit_test(no_rtt_is_null),
    cmocka_unit_test(gap_spreads_bytes_evenly_and_exactly),
    cmocka_unit_test(same_second_accumulates_and_clock_back_adds_to_newest),
    cmocka_unit_test(fine_ring_keeps_fifteen_minutes),
    cmocka_unit_test(minutes_sum_bytes_average_rtt_keep_peak),
    cmocka_unit_test(coarse_ring_keeps_a_day),
    cmocka_unit_test(clock_jump_leaves_empty_steps),
    cmocka_unit_test(since_drops_older_points),
    cmocka_unit_test(totals_count_whole_then_record_differences),
    cmocka_unit_test(bound_replaces_the_least_recently_fed),
    cmocka_unit_test(expire_drops_series_unfed_for_a_day),
    cmocka_unit_test(drop_by_name_and_prefix),
    cmocka_unit_test(bytes_saturate_per_second_not_wrap),
    cmocka_unit_test(bad_input_is_refused),
};
WVU_MAIN(tests)
