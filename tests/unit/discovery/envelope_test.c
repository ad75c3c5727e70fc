
#include "wvunit.h"

#include "envelope.h"
#include "wv/base.h"

#include <stdlib.h>
#include <string.h>

static const char *TOPIC = "wovenet/test/a/0123456789abcdef0123456789abcdef";

static void key_of(uint8_t k[WV_KEY_LEN], uint8_t v) {
    memset(k, v, WV_KEY_LEN);
}

/* What a test works on: a key of one repeated byte, one message sealed
 * under it and TOPIC, and what an open gave back (the test frees s and p). */
struct env {
    uint8_t k[WV_KEY_LEN];
    uint8_t *s, *p;
    size_t sl, pl;
};

/* e with the key of byte v and msg (n bytes) sealed: that must succeed. */
static void seal_ok(struct env *e, uint8_t v, const void *msg, size_t n) {
    memset(e, 0, sizeof(*e));
    key_of(e->k, v);
    assert_int_equal(wv_envelope_seal(e->k, TOPIC, msg, n, &e->s, &e->sl), 0);
}

static void seal_then_open(void **state) {
    const char *msg = "{\"type\":\"announce\"}";
    struct env e;
    seal_ok(&e, 7, msg, strlen(msg));
    assert_int_equal(e.sl, strlen(msg) + WV_ENVELOPE_OVERHEAD);
    assert_int_equal(e.s[0], WV_ENVELOPE_VERSION);
    assert_null(memmem(e.s, e.sl, "announce", 8));
    assert_int_equal(wv_envelope_open(e.k, TOPIC, e.s, e.sl, &e.p, &e.pl), 0);
    assert_int_equal(e.pl, strlen(msg));
    assert_string_equal((char *)e.p, msg); /* NUL-terminated by contract */
    free(e.p);
    free(e.s);
}

static void nonce_differs_per_message(void **state) {
    struct env a, b;
    seal_ok(&a, 1, "same", 4);
    seal_ok(&b, 1, "same", 4);
    assert_memory_not_equal(a.s + 1, b.s + 1, WV_ENVELOPE_NONCE_LEN);
    free(a.s);
    free(b.s);
}

static void empty_plaintext_ok(void **state) {
    struct env e;
    seal_ok(&e, 2, "", 0);
    assert_int_equal(wv_envelope_open(e.k, TOPIC, e.s, e.sl, &e.p, &e.pl), 0);
    assert_int_equal(e.pl, 0);
    free(e.p);
    free(e.s);
}

static void tampered_byte_fails_everywhere(void **state) {
    struct env e;
    seal_ok(&e, 3, "hello world", 11);
    for (size_t i = 1; i < e.sl; i++) { /* byte 0 is the version: see below */
        e.s[i] ^= 0x40;
        assert_int_equal(wv_envelope_open(e.k, TOPIC, e.s, e.sl, &e.p, &e.pl), WV_ERR_CRYPTO);
        assert_null(e.p);
        e.s[i] ^= 0x40;
    }
    e.s[0] = 2;
    assert_int_equal(wv_envelope_open(e.k, TOPIC, e.s, e.sl, &e.p, &e.pl), WV_ERR_PROTO);
    free(e.s);
}

static void wrong_key_and_wrong_topic_fail(void **state) {
    struct env e;
    uint8_t other[WV_KEY_LEN];
    seal_ok(&e, 4, "x", 1);
    key_of(other, 5);
    assert_int_equal(wv_envelope_open(other, TOPIC, e.s, e.sl, &e.p, &e.pl), WV_ERR_CRYPTO);
    assert_int_equal(wv_envelope_open(e.k, "wovenet/test/a/other", e.s, e.sl, &e.p, &e.pl),
                     WV_ERR_CRYPTO);
    assert_int_equal(wv_envelope_open(e.k, "", e.s, e.sl, &e.p, &e.pl), WV_ERR_INVAL);
    /* A long topic takes the heap path for the associated data. */
    char longtopic[1000];
    memset(longtopic, 'a', sizeof longtopic - 1);
    longtopic[sizeof longtopic - 1] = 0;
    uint8_t *s2;
    size_t s2l;
    assert_int_equal(wv_envelope_seal(e.k, longtopic, "x", 1, &s2, &s2l), 0);
    assert_int_equal(wv_envelope_open(e.k, longtopic, s2, s2l, &e.p, &e.pl), 0);
    free(e.p);
    assert_int_equal(wv_envelope_open(e.k, TOPIC, s2, s2l, &e.p, &e.pl), WV_ERR_CRYPTO);
    free(s2);
    free(e.s);
}

static void truncated_fails(void **state) {
    struct env e;
    seal_ok(&e, 6, "payload", 7);
    for (size_t n = 0; n < e.sl; n++) {
        int rc = wv_envelope_open(e.k, TOPIC, e.s, n, &e.p, &e.pl);
        assert_true(rc == WV_ERR_PROTO || rc == WV_ERR_CRYPTO);
        assert_null(e.p);
    }
    free(e.s);
}

static void oversize_refused(void **state) {
    uint8_t k[WV_KEY_LEN];
    key_of(k, 8);
    size_t big = WV_ENVELOPE_MAX_PLAINTEXT + 1;
    uint8_t *buf = calloc(1, big + WV_ENVELOPE_OVERHEAD + 1);
    uint8_t *s, *p;
    size_t sl, pl;
    assert_int_equal(wv_envelope_seal(k, TOPIC, buf, big, &s, &sl), WV_ERR_TOOBIG);
    assert_null(s);
    assert_int_equal(wv_envelope_seal(k, TOPIC, buf, big - 1, &s, &sl), 0);
    assert_int_equal(wv_envelope_open(k, TOPIC, s, sl, &p, &pl), 0);
    free(p);
    free(s);
    buf[0] = WV_ENVELOPE_VERSION;
    assert_int_equal(wv_envelope_open(k, TOPIC, buf, WV_ENVELOPE_MAX_SEALED + 1, &p, &pl),
                     WV_ERR_TOOBIG);
    free(buf);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(seal_then_open),
    cmocka_unit_test(nonce_differs_per_message),
    cmocka_unit_test(empty_plaintext_ok),
    cmocka_unit_test(tampered_byte_fails_everywhere),
    cmocka_unit_test(wrong_key_and_wrong_topic_fail),
    cmocka_unit_test(truncated_fails),
    cmocka_unit_test(oversize_refused),
};
WVU_MAIN(tests)
