#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "wv/base.h"
#include "envelope.h"

#include <stdlib.h>
#include <string.h>

static const char *TOPIC = "wovenet/test/a/0123456789abcdef0123456789abcdef";

static void key_of(uint8_t k[WV_KEY_LEN], uint8_t v) {
    memset(k, v, WV_KEY_LEN);
}

static void seal_then_open(void **state) {
    uint8_t k[WV_KEY_LEN];
    key_of(k, 7);
    const char *msg = "{\"type\":\"announce\"}";
    uint8_t *sealed, *pt;
    size_t slen, plen;
    assert_int_equal(wv_envelope_seal(k, TOPIC, msg, strlen(msg), &sealed, &slen), 0);
    assert_int_equal(slen, strlen(msg) + WV_ENVELOPE_OVERHEAD);
    assert_int_equal(sealed[0], WV_ENVELOPE_VERSION);
    assert_null(memmem(sealed, slen, "announce", 8));
    assert_int_equal(wv_envelope_open(k, TOPIC, sealed, slen, &pt, &plen), 0);
    assert_int_equal(plen, strlen(msg));
    assert_string_equal((char *)pt, msg); /* NUL-terminated by contract */
    free(pt);
    free(sealed);
}

static void nonce_differs_per_message(void **state) {
    uint8_t k[WV_KEY_LEN];
    key_of(k, 1);
    uint8_t *a, *b;
    size_t al, bl;
    assert_int_equal(wv_envelope_seal(k, TOPIC, "same", 4, &a, &al), 0);
    assert_int_equal(wv_envelope_seal(k, TOPIC, "same", 4, &b, &bl), 0);
    assert_memory_not_equal(a + 1, b + 1, WV_ENVELOPE_NONCE_LEN);
    free(a);
    free(b);
}

static void empty_plaintext_ok(void **state) {
    uint8_t k[WV_KEY_LEN];
    key_of(k, 2);
    uint8_t *s, *p;
    size_t sl, pl;
    assert_int_equal(wv_envelope_seal(k, TOPIC, "", 0, &s, &sl), 0);
    assert_int_equal(wv_envelope_open(k, TOPIC, s, sl, &p, &pl), 0);
    assert_int_equal(pl, 0);
    free(p);
    free(s);
}

static void tampered_byte_fails_everywhere(void **state) {
    uint8_t k[WV_KEY_LEN];
    key_of(k, 3);
    uint8_t *s, *p;
    size_t sl, pl;
    assert_int_equal(wv_envelope_seal(k, TOPIC, "hello world", 11, &s, &sl), 0);
    for (size_t i = 1; i < sl; i++) { /* byte 0 is the version: see below */
        s[i] ^= 0x40;
        assert_int_equal(wv_envelope_open(k, TOPIC, s, sl, &p, &pl), WV_ERR_CRYPTO);
        assert_null(p);
        s[i] ^= 0x40;
    }
    s[0] = 2;
    assert_int_equal(wv_envelope_open(k, TOPIC, s, sl, &p, &pl), WV_ERR_PROTO);
    free(s);
}

static void wrong_key_and_wrong_topic_fail(void **state) {
    uint8_t k[WV_KEY_LEN], other[WV_KEY_LEN];
    key_of(k, 4);
    key_of(other, 5);
    uint8_t *s, *p;
    size_t sl, pl;
    assert_int_equal(wv_envelope_seal(k, TOPIC, "x", 1, &s, &sl), 0);
    assert_int_equal(wv_envelope_open(other, TOPIC, s, sl, &p, &pl), WV_ERR_CRYPTO);
    assert_int_equal(wv_envelope_open(k, "wovenet/test/a/other", s, sl, &p, &pl), WV_ERR_CRYPTO);
    assert_int_equal(wv_envelope_open(k, "", s, sl, &p, &pl), WV_ERR_INVAL);
    /* A long topic takes the heap path for the associated data. */
    char longtopic[1000];
    memset(longtopic, 'a', sizeof longtopic - 1);
    longtopic[sizeof longtopic - 1] = 0;
    uint8_t *s2;
    size_t s2l;
    assert_int_equal(wv_envelope_seal(k, longtopic, "x", 1, &s2, &s2l), 0);
    assert_int_equal(wv_envelope_open(k, longtopic, s2, s2l, &p, &pl), 0);
    free(p);
    assert_int_equal(wv_envelope_open(k, TOPIC, s2, s2l, &p, &pl), WV_ERR_CRYPTO);
    free(s2);
    free(s);
}

static void truncated_fails(void **state) {
    uint8_t k[WV_KEY_LEN];
    key_of(k, 6);
    uint8_t *s, *p;
    size_t sl, pl;
    assert_int_equal(wv_envelope_seal(k, TOPIC, "payload", 7, &s, &sl), 0);
    for (size_t n = 0; n < sl; n++) {
        int rc = wv_envelope_open(k, TOPIC, s, n, &p, &pl);
        assert_true(rc == WV_ERR_PROTO || rc == WV_ERR_CRYPTO);
        assert_null(p);
    }
    free(s);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_then_open),
        cmocka_unit_test(nonce_differs_per_message),
        cmocka_unit_test(empty_plaintext_ok),
        cmocka_unit_test(tampered_byte_fails_everywhere),
        cmocka_unit_test(wrong_key_and_wrong_topic_fail),
        cmocka_unit_test(truncated_fails),
        cmocka_unit_test(oversize_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
