
#include "wvunit.h"

#include "wv/base.h"
#include "wv/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void generate_export_import_keeps_fingerprint(void **state) {
    wv_identity *id = NULL, *back = NULL;
    char *cert = NULL, *key = NULL;
    assert_int_equal(wv_identity_generate("site-a", &id), 0);
    assert_int_equal(wv_identity_export_pem(id, &key, &cert), 0);
    assert_non_null(strstr(cert, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(key, "PRIVATE KEY"));
    assert_int_equal(wv_identity_import_pem(key, cert, &back), 0);
    assert_memory_equal(wv_identity_fingerprint(id), wv_identity_fingerprint(back),
                        WV_FINGERPRINT_LEN);
    free(cert);
    free(key);
    wv_identity_free(id);
    wv_identity_free(back);
}

static void two_identities_differ(void **state) {
    wv_identity *a, *b;
    assert_int_equal(wv_identity_generate(NULL, &a), 0);
    assert_int_equal(wv_identity_generate(NULL, &b), 0);
    assert_memory_not_equal(wv_identity_fingerprint(a), wv_identity_fingerprint(b),
                            WV_FINGERPRINT_LEN);
    wv_identity_free(a);
    wv_identity_free(b);
}

static void key_of_another_identity_is_refused(void **state) {
    wv_identity *a, *b, *x = NULL;
    char *ca, *ka, *cb, *kb;
    assert_int_equal(wv_identity_generate(NULL, &a), 0);
    assert_int_equal(wv_identity_generate(NULL, &b), 0);
    assert_int_equal(wv_identity_export_pem(a, &ka, &ca), 0);
    assert_int_equal(wv_identity_export_pem(b, &kb, &cb), 0);
    assert_int_equal(wv_identity_import_pem(kb, ca, &x), WV_ERR_INVAL);
    assert_null(x);
    assert_int_equal(wv_identity_import_pem(ka, "garbage", &x), WV_ERR_INVAL);
    assert_int_equal(wv_identity_import_pem("garbage", ca, &x), WV_ERR_INVAL);
    /* Swapped arguments are caught, not half-imported. */
    assert_int_equal(wv_identity_import_pem(ca, ka, &x), WV_ERR_INVAL);
    free(ca);
    free(ka);
    free(cb);
    free(kb);
    wv_identity_free(a);
    wv_identity_free(b);
}

static void fingerprint_hex_round_trip_and_malformed(void **state) {
    uint8_t fp[WV_FINGERPRINT_LEN], back[WV_FINGERPRINT_LEN];
    char hex[WV_FINGERPRINT_HEX_LEN + 1];
    for (int i = 0; i < WV_FINGERPRINT_LEN; i++)
        fp[i] = (uint8_t)(i * 37 + 5);
    wv_fingerprint_to_hex(fp, hex);
    assert_int_equal(strlen(hex), 64);
    assert_int_equal(wv_fingerprint_from_hex(hex, back), 0);
    assert_memory_equal(fp, back, sizeof(fp));
    char colons[3 * WV_FINGERPRINT_LEN] = "";
    for (int i = 0; i < WV_FINGERPRINT_LEN; i++) {
        char b[4];
        snprintf(b, sizeof(b), i ? ":%02X" : "%02X", fp[i]);
        strcat(colons, b);
    }
    assert_int_equal(wv_fingerprint_from_hex(colons, back), 0);
    assert_memory_equal(fp, back, sizeof(fp));
    assert_int_equal(wv_fingerprint_from_hex("abcd", back), WV_ERR_INVAL);
    hex[10] = 'g';
    assert_int_equal(wv_fingerprint_from_hex(hex, back), WV_ERR_INVAL);
    wv_fingerprint_to_hex(fp, hex);
    char longer[80];
    snprintf(longer, sizeof(longer), "%s00", hex);
    assert_int_equal(wv_fingerprint_from_hex(longer, back), WV_ERR_INVAL);
    assert_int_equal(wv_fingerprint_from_hex(NULL, back), WV_ERR_INVAL);
}

/* Regression: the secret must survive export/import, or a restarted site
 * cannot reset the connections its previous run left open (the DER export
 * of a reloaded key differs from the original's). */
static void derived_secret_is_stable_across_reload(void **state) {
    wv_identity *a, *b, *c;
    char *cert, *key;
    assert_int_equal(wv_identity_generate("s", &a), 0);
    assert_int_equal(wv_identity_export_pem(a, &key, &cert), 0);
    assert_int_equal(wv_identity_import_pem(key, cert, &b), 0);
    assert_int_equal(wv_identity_generate("s", &c), 0);
    uint8_t sa[32], sb[32], sc[32], sl[32];
    assert_int_equal(wv_identity_derive_secret(a, "label", sa), 0);
    assert_int_equal(wv_identity_derive_secret(b, "label", sb), 0);
    assert_int_equal(wv_identity_derive_secret(c, "label", sc), 0);
    assert_int_equal(wv_identity_derive_secret(a, "other", sl), 0);
    assert_memory_equal(sa, sb, 32);
    assert_memory_not_equal(sa, sc, 32);
    assert_memory_not_equal(sa, sl, 32);
    free(cert);
    free(key);
    wv_identity_free(a);
    wv_identity_free(b);
    wv_identity_free(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(generate_export_import_keeps_fingerprint),
    cmocka_unit_test(two_identities_differ),
    cmocka_unit_test(derived_secret_is_stable_across_reload),
    cmocka_unit_test(key_of_another_identity_is_refused),
    cmocka_unit_test(fingerprint_hex_round_trip_and_malformed),
};
WVU_MAIN(tests)
