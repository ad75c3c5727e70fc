/* The recent-events log (api/evlog.h): what is notable, the words, the
 * ring's bound and the after/limit view. */
#include <jansson.h>

#include "wvunit.h"

#include "evlog.h"

#define NOW 1700000000123LL

static json_t *ev(const char *kind, const char *name, const char *action, json_t *status) {
    return json_pack("{s:s, s:s?, s:s, s:o}", "kind", kind, "name", name, "action", action,
                     "status", status ? status : json_object());
}

static unsigned offer(wv_evlog *l, const char *type, json_t *e) {
    unsigned n = wv_evlog_offer(l, type, e, NOW);
    json_decref(e);
    return n;
}

/* The newest entry's field. */
static const char *last(wv_evlog *l, const char *field) {
    static char buf[512];
    json_t *all = wv_evlog_json(l, 0, 0);
    assert_true(json_array_size(all) > 0);
    json_t *e = json_array_get(all, json_array_size(all) - 1);
    snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(e, field)));
    json_decref(all);
    return buf;
}

static void config_changes_are_kept_in_words(void **state) {
    wv_evlog *l = wv_evlog_new(0);
    assert_int_equal(
        offer(l, "change",
              ev("remoteApps", "web1", "created", json_pack("{s:s}", "state", "listening"))),
        1);
    assert_string_equal(last(l, "message"), "created remote app web1");
    assert_string_equal(last(l, "level"), "info");
    assert_string_equal(last(l, "time"), "2023-11-14T22:13:20.123Z");
    assert_int_equal(offer(l, "change", ev("site", NULL, "changed", NULL)), 1);
    assert_string_equal(last(l, "message"), "changed the site settings");
    assert_int_equal(wv_evlog_last_id(l), 2);
    wv_evlog_free(l);
}

static void write_in_error_at_once_makes_two_entries(void **state) {
    wv_evlog *l = wv_evlog_new(0);
    json_t *st = json_pack("{s:s, s:s}", "state", "error", "error",
                           "cannot listen on tcp:127.0.0.1:80: address already in use");
    assert_int_equal(offer(l, "change", ev("remoteApps", "dup", "created", st)), 2);
    assert_string_equal(last(l, "level"), "error");
    assert_string_equal(last(l, "message"),
                        "remote app dup: error: cannot listen on tcp:127.0.0.1:80: address "
                        "already in use");
    wv_evlog_free(l);
}

static void counters_moving_are_not_kept(void **state) {
    wv_evlog *l = wv_evlog_new(0);
    /* The first status of an object that is fine is not news. */
    assert_int_equal(offer(l, "status",
                           ev("exposedApps", "web", "status",
                              json_pack("{s:s, s:i}", "state", "ready", "bytesIn", 5))),
                     0);
    assert_int_equal(offer(l, "status",
                           ev("exposedApps", "web", "status",
                              json_pack("{s:s, s:i}", "state", "ready", "bytesIn", 9))),
                     0);
    assert_int_equal(offer(l, "status", ev("channels", "aws", "status", NULL)), 0);
    assert_int_equal(offer(l, "status", ev("peers", "aws", "status", NULL)), 0);
    assert_int_equal(wv_evlog_last_id(l), 0);
    wv_evlog_free(l);
}

static void state_transitions_name_both_states(void **state) {
    wv_evlog *l = wv_evlog_new(0);
    offer(l, "status",
          ev("remoteApps", "iperf", "status", json_pack("{s:s}", "state", "listening")));
    assert_int_equal(
        offer(l, "status",
              ev("remoteApps", "iperf", "status", json_pack("{s:s}", "state", "waiting-for-site"))),
        1);
    assert_string_equal(last(l, "message"), "remote app iperf: listening → waiting-for-site");
    assert_string_equal(last(l, "level"), "warn");
    assert_string_equal(last(l, "action"), "state");
    /* The same error text again is no news; a new one is. */
    json_t *e1 =
        json_pack("{s:s, s:s}", "state", "error", "error", "site aws does not expose \"x\"");
    assert_int_equal(offer(l, "status", ev("remoteApps", "iperf", "status", json_deep_copy(e1))),
                     1);
    assert_int_equal(offer(l, "status", ev("remoteApps", "iperf", "status", e1)), 0);
    wv_evlog_free(l);
}

static void target_failure_and_address_change_are_kept(void **state) {
    wv_evlog *l = wv_evlog_new(0);
    offer(l, "status", ev("exposedApps", "db", "status", json_pack("{s:s}", "state", "ready")));
    assert_int_equal(offer(l, "status",
                           ev("exposedApps", "db", "status",
                              json_pack("{s:s, s:s}", "state", "ready", "lastError",
                                        "the last connection to the target failed: "
                                        "connection refused"))),
                     1);
    assert_string_equal(last(l, "action"), "target-failed");
    assert_string_equal(last(l, "level"), "warn");
    offer(l, "status",
          ev("tunnelSockets", "v4", "status",
             json_pack("{s:s, s:s}", "state", "listening", "publicAddress", "203.0.113.7")));
    assert_int_equal(
        offer(l, "status",
              ev("tunnelSockets", "v4", "status",
                 json_pack("{s:s, s:s}", "state", "listening", "publicAddress", "203.0.113.9"))),
        1);
    assert_string_equal(last(l, "message"), "tunnel socket v4: public address now 203.0.113.9");
    wv_evlog_free(l);
}

static void deleted_object_is_forgotten(void **state) {
    wv_evlog *l = wv_evlog_new(0);
    offer(l, "status", ev("remoteApps", "a", "status", json_pack("{s:s}", "state", "listening")));
    assert_int_equal(offer(l, "change", ev("remoteApps", "a", "deleted", NULL)), 1);
    assert_string_equal(last(l, "message"), "deleted remote app a");
    /* Made again, fine: a first sighting, not a transition. */
    assert_int_equal(
        offer(l, "status",
              ev("remoteApps", "a", "status", json_pack("{s:s}", "state", "listening"))),
        0);
    wv_evlog_free(l);
}

static void channels_peers_and_broker(void **state) {
    wv_evlog *l = wv_evlog_new(0);
    assert_int_equal(offer(l, "status",
                           ev("channels", "aws", "up",
                              json_pack("{s:i, s:s, s:s, s:s}", "id", 3, "family", "ipv6", "path",
                                        "direct", "remoteAddress", "[2001:db8::1]:25890"))),
                     1);
    assert_string_equal(last(l, "message"),
                        "channel 3 to aws up (IPv6, direct, [2001:db8::1]:25890)");
    assert_int_equal(
        offer(l, "status",
              ev("channels", "aws", "down", json_pack("{s:i, s:s}", "id", 3, "family", "ipv4"))),
        1);
    assert_string_equal(last(l, "level"), "warn");
    assert_int_equal(offer(l, "status", ev("peers", "aws", "joined", NULL)), 1);
    assert_string_equal(last(l, "message"), "site aws joined the mesh");
    assert_int_equal(offer(l, "status", ev("peers", "aws", "deleted", NULL)), 1);
    assert_string_equal(last(l, "message"), "forgot site aws");
    assert_int_equal(offer(l, "status", ev("broker", "disconnected", "status", NULL)), 1);
    assert_string_equal(last(l, "level"), "warn");
    assert_int_equal(offer(l, "status", ev("broker", "disconnected", "status", NULL)), 0);
    assert_int_equal(offer(l, "status", ev("broker", "connected", "status", NULL)), 1);
    assert_string_equal(last(l, "message"), "broker connected");
    wv_evlog_free(l);
}

static void ring_keeps_the_newest_and_after_limit_select(void **state) {
    wv_evlog *l = wv_evlog_new(4);
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "a%d", i);
        offer(l, "change", ev("exposedApps", name, "created", NULL));
    }
    json_t *all = wv_evlog_json(l, 0, 0);
    assert_int_equal(json_array_size(all), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 0), "id")), 7);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 3), "id")), 10);
    json_decref(all);
    json_t *some = wv_evlog_json(l, 8, 0);
    assert_int_equal(json_array_size(some), 2);
    json_decref(some);
    json_t *lim = wv_evlog_json(l, 0, 1);
    assert_int_equal(json_array_size(lim), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(lim, 0), "id")), 10);
    json_decref(lim);
    json_t *none = wv_evlog_json(l, 10, 0);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
    wv_evlog_free(l);
}

static void malformed_events_are_ignored(void **state) {
    wv_evlog *l = wv_evlog_new(0);
    json_t *bad = json_pack("{s:i}", "kind", 5);
    assert_int_equal(wv_evlog_offer(l, "change", bad, NOW), 0);
    assert_int_equal(wv_evlog_offer(l, NULL, bad, NOW), 0);
    json_decref(bad);
    /* A status without a state is not a transition. */
    assert_int_equal(
        offer(l, "status", ev("remoteApps", "x", "status", json_pack("{s:i}", "bytesIn", 1))), 0);
    /* Over-long text is cut, not refused. */
    char big[2000];
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(offer(l, "status",
                           ev("remoteApps", "x", "status",
                              json_pack("{s:s, s:s}", "state", "error", "error", big))),
                     1);
    assert_true(strlen(last(l, "message")) < 400);
    /* Cut inside a multi-byte character: cut before it, still UTF-8. */
    char wide[1500] = "";
    for (int i = 0; i < 400; i++)
        strcat(wide, "\xe2\x86\x92");
    for (int pad = 0; pad < 3; pad++) {
        char err[1600];
        snprintf(err, sizeof(err), "%.*s%s", pad, "xx", wide);
        uint64_t before = wv_evlog_last_id(l);
        offer(l, "status",
              ev("remoteApps", "x", "status",
                 json_pack("{s:s, s:s}", "state", "error", "error", err)));
        assert_int_equal(wv_evlog_last_id(l), before + 1);
    }
    wv_evlog_free(l);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(config_changes_are_kept_in_words),
    cmocka_unit_test(write_in_error_at_once_makes_two_entries),
    cmocka_unit_test(counters_moving_are_not_kept),
    cmocka_unit_test(state_transitions_name_both_states),
    cmocka_unit_test(target_failure_and_address_change_are_kept),
    cmocka_unit_test(deleted_object_is_forgotten),
    cmocka_unit_test(channels_peers_and_broker),
    cmocka_unit_test(ring_keeps_the_newest_and_after_limit_select),
    cmocka_unit_test(malformed_events_are_ignored),
};
WVU_MAIN(tests)
