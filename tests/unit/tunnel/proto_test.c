#include "wvunit.h"

#include "wv/base.h"
#include "wv/tunnel.h"

#include <stdlib.h>
#include <string.h>

static void frame_roundtrip_and_partial(void **state) {
    json_t *o = json_pack("{s:s, s:s}", "app", "web", "target", "10.0.2.5:80");
    uint8_t *b;
    size_t n, used;
    assert_int_equal(wv_frame_encode(o, &b, &n), 0);
    json_t *back = NULL;
    for (size_t k = 0; k < n; k++)
        assert_int_equal(wv_frame_parse(b, k, &used, &back), WV_ERR_AGAIN);
    assert_int_equal(wv_frame_parse(b, n, &used, &back), 0);
    assert_int_equal(used, n);
    assert_true(json_equal(o, back));
    struct wv_app_header h;
    const char *why = NULL;
    assert_int_equal(wv_app_header_from_json(back, &h, &why), 0);
    assert_string_equal(h.app, "web");
    assert_string_equal(h.target, "10.0.2.5:80");
    json_decref(back);
    json_decref(o);
    free(b);
}

static void frame_rejects_bad_length_and_body(void **state) {
    size_t used;
    json_t *out = NULL;
    uint8_t zero[] = {0, 0};
    assert_int_equal(wv_frame_parse(zero, 2, &used, &out), WV_ERR_PROTO);
    uint8_t big[] = {0x10, 0x01}; /* 4097 */
    assert_int_equal(wv_frame_parse(big, 2, &used, &out), WV_ERR_PROTO);
    uint8_t arr[] = {0, 2, '[', ']'};
    assert_int_equal(wv_frame_parse(arr, 4, &used, &out), WV_ERR_PROTO);
    uint8_t junk[] = {0, 3, 0xff, 0xfe, '{'};
    assert_int_equal(wv_frame_parse(junk, 5, &used, &out), WV_ERR_PROTO);
    uint8_t dup[] = "\x00\x13{\"app\":\"a\",\"app\":1}";
    assert_int_equal(wv_frame_parse(dup, sizeof(dup) - 1, &used, &out), WV_ERR_PROTO);
    assert_null(out);
    char huge[WV_FRAME_MAX + 10];
    memset(huge, 'a', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = 0;
    json_t *o = json_pack("{s:s}", "app", huge);
    uint8_t *b;
    size_t n;
    assert_int_equal(wv_frame_encode(o, &b, &n), WV_ERR_TOOBIG);
    json_decref(o);
}

static void header_rejects_bad_fields(void **state) {
    struct wv_app_header h;
    const char *why;
    const char *bad[] = {
        "{}",
        "{\"app\":1}",
        "{\"app\":\"\"}",
        "{\"app\":\"a/b\"}",
        "{\"app\":\"a\",\"x\":1}",
        "{\"app\":\"a\",\"target\":\"nohost\"}",
        "{\"app\":\"a\",\"target\":\"1.2.3.4:70000\"}",
        "{\"app\":\"a\",\"target\":5}",
    };
    for (size_t i = 0; i < WV_COUNTOF(bad); i++) {
        json_t *o = json_loads(bad[i], 0, NULL);
        assert_non_null(o);
        why = NULL;
        assert_int_equal(wv_app_header_from_json(o, &h, &why), WV_ERR_PROTO);
        assert_non_null(why);
        json_decref(o);
    }
    json_t *o = json_loads("{\"app\":\"a\",\"target\":\"[2001:db8::1]:443\"}", 0, NULL);
    assert_int_equal(wv_app_header_from_json(o, &h, &why), 0);
    json_decref(o);
}

static void status_codes(void **state) {
    const char *code, *msg;
    json_t *ok = wv_status_json(WV_STATUS_OK, NULL);
    assert_int_equal(wv_status_parse(ok, &code, &msg), 0);
    json_t *e = wv_status_json(WV_ERRC_TARGET_DENIED, "10.9.9.9:22 is outside the ranges");
    assert_int_equal(wv_status_parse(e, &code, &msg), WV_ERR_INVAL);
    assert_string_equal(code, "target-denied");
    assert_string_equal(msg, "10.9.9.9:22 is outside the ranges");
    json_t *bad = json_pack("{s:i}", "status", 1);
    assert_int_equal(wv_status_parse(bad, &code, &msg), WV_ERR_PROTO);
    json_decref(ok);
    json_decref(e);
    json_decref(bad);
}

static void proof_verifies_and_binds_everything(void **state) {
    uint8_t key[32], exp[32], buf[WV_PROOF_MAX];
    char site[256];
    memset(key, 7, sizeof(key));
    memset(exp, 9, sizeof(exp));
    int n = wv_proof_build(key, exp, WV_ROLE_CLIENT, "siteAlpha7", buf);
    assert_true(n > 0);
    /* Every prefix of a valid proof asks for more bytes. */
    for (int k = 0; k < n; k++)
        assert_int_equal(wv_proof_verify(key, exp, WV_ROLE_CLIENT, buf, (size_t)k, site),
                         WV_ERR_AGAIN);
    assert_int_equal(wv_proof_verify(key, exp, WV_ROLE_CLIENT, buf, (size_t)n, site), n);
    assert_string_equal(site, "siteAlpha7");
    /* Wrong role, wrong key, other connection's exporter, flipped bits. */
    assert_int_equal(wv_proof_verify(key, exp, WV_ROLE_SERVER, buf, (size_t)n, site), WV_ERR_AUTH);
    uint8_t key2[32], exp2[32];
    memcpy(key2, key, 32);
    key2[0] ^= 1;
    memcpy(exp2, exp, 32);
    exp2[31] ^= 1;
    assert_int_equal(wv_proof_verify(key2, exp, WV_ROLE_CLIENT, buf, (size_t)n, site), WV_ERR_AUTH);
    assert_int_equal(wv_proof_verify(key, exp2, WV_ROLE_CLIENT, buf, (size_t)n, site), WV_ERR_AUTH);
    for (int i = 6; i < n; i++) {
        uint8_t copy[WV_PROOF_MAX];
        memcpy(copy, buf, (size_t)n);
        copy[i] ^= 0x20;
        int r = wv_proof_verify(key, exp, WV_ROLE_CLIENT, copy, (size_t)n, site);
        assert_true(r == WV_ERR_AUTH || r == WV_ERR_PROTO);
    }
    uint8_t junk[] = "HTTP/1.1 200 OK";
    assert_int_equal(wv_proof_verify(key, exp, WV_ROLE_CLIENT, junk, sizeof(junk), site),
                     WV_ERR_PROTO);
    char longname[300];
    memset(longname, 'a', 299);
    longname[299] = 0;
    assert_int_equal(wv_proof_build(key, exp, WV_ROLE_SERVER, longname, buf), WV_ERR_INVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(frame_roundtrip_and_partial),
    cmocka_unit_test(frame_rejects_bad_length_and_body),
    cmocka_unit_test(header_rejects_bad_fields),
    cmocka_unit_test(status_codes),
    cmocka_unit_test(proof_verifies_and_binds_everything),
};
WVU_MAIN(tests)
