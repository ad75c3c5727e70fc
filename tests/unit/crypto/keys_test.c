
#include "wvunit.h"

#include "wv/base.h"
#include "wv/crypto.h"

#include <string.h>

static void assert_key_hex(const uint8_t key[WV_KEY_LEN], const char *want) {
    char hex[2 * WV_KEY_LEN + 1];
    wv_hex(key, WV_KEY_LEN, hex);
    assert_string_equal(hex, want);
}

static void assert_site_hash(const wv_keys *k, const char *site, const char *want) {
    char seg[WV_SITE_HASH_HEX_LEN + 1];
    assert_int_equal(wv_keys_site_hash(k, site, seg), 0);
    assert_string_equal(seg, want);
}

/* Known answers computed independently with Python's hashlib.pbkdf2_hmac and
 * hmac (see the key schedule in keys.h). */
static void vector_1000_iterations(void **state) {
    const char *key = "correct horse battery staple";
    uint8_t master[WV_KEY_LEN];
    assert_int_equal(wv_keys_master(key, strlen(key), "wovenet/test", 1000, master), 0);
    assert_key_hex(master, "4538ba03a752bc2209bef84a884e23109a4b259adb36ba0759fde7186dac42c8");
    wv_keys k;
    assert_int_equal(wv_keys_expand(master, &k), 0);
    assert_key_hex(k.message, "858ee8585321a18125b620cb045da4a5003a8e7f41c20783ef9718e4798b203c");
    assert_key_hex(k.topic, "da09f734748b76571b83c7c69d11619eb7de7620e0f31a93c7403f6254962e5b");
    assert_key_hex(k.tunnel, "59bf971c063dd6987a250bd9a98929db4d2f5948dd1016414d4ee2db1dc44888");
    assert_site_hash(&k, "siteAlpha7", "fc55bde811de393495520bb7436b8af6");
    wv_keys_wipe(&k);
    uint8_t zero[sizeof k] = {0};
    assert_memory_equal(&k, zero, sizeof k);
}

static void vector_one_iteration(void **state) {
    wv_keys k;
    assert_int_equal(wv_keys_derive("k", 1, "t", 1, &k), 0);
    assert_key_hex(k.message, "8a79aac08f72720376fbaae34875a5be4c79d9407b9d632b65027aec055f3e16");
    assert_key_hex(k.tunnel, "b356199858d20019118662d95870e826ea3fdf06e5ae376fccc3b6ca9d88ca61");
    assert_site_hash(&k, "siteAlpha7", "5910eb59cc2299c0f33b6981d410ba30");
}

static void default_iterations_vector(void **state) {
    /* The production work factor, once, so the default is really what the
     * protocol documents. */
    assert_true(WV_KDF_ITERATIONS >= 100000);
    const char *key = "correct horse battery staple";
    wv_keys k;
    assert_int_equal(wv_keys_derive(key, strlen(key), "wovenet/test", WV_KDF_ITERATIONS, &k), 0);
    assert_key_hex(k.message, "5e80423363211d3fde242c1f5974330814968a66420e4696b27f2b276503086e");
}

static void topic_and_key_change_everything(void **state) {
    wv_keys a, b, c;
    assert_int_equal(wv_keys_derive("key", 3, "topic/a", 2, &a), 0);
    assert_int_equal(wv_keys_derive("key", 3, "topic/b", 2, &b), 0);
    assert_int_equal(wv_keys_derive("kez", 3, "topic/a", 2, &c), 0);
    assert_memory_not_equal(a.message, b.message, WV_KEY_LEN);
    assert_memory_not_equal(a.message, c.message, WV_KEY_LEN);
    assert_memory_not_equal(a.message, a.topic, WV_KEY_LEN);
    assert_memory_not_equal(a.topic, a.tunnel, WV_KEY_LEN);
}

static void bad_inputs_refused(void **state) {
    wv_keys k;
    uint8_t m[WV_KEY_LEN];
    assert_int_equal(wv_keys_master("", 0, "t", 1, m), WV_ERR_INVAL);
    assert_int_equal(wv_keys_master("k", 1, "", 1, m), WV_ERR_INVAL);
    assert_int_equal(wv_keys_master("k", 1, NULL, 1, m), WV_ERR_INVAL);
    assert_int_equal(wv_keys_master("k", 1, "t", 0, m), WV_ERR_INVAL);
    assert_int_equal(wv_keys_derive(NULL, 1, "t", 1, &k), WV_ERR_INVAL);
    assert_int_equal(wv_keys_derive("k", 1, "t", 1, &k), 0);
    char seg[WV_SITE_HASH_HEX_LEN + 1];
    assert_int_equal(wv_keys_site_hash(&k, "", seg), WV_ERR_INVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(vector_1000_iterations),    cmocka_unit_test(vector_one_iteration),
    cmocka_unit_test(default_iterations_vector), cmocka_unit_test(topic_and_key_change_everything),
    cmocka_unit_test(bad_inputs_refused),
};
WVU_MAIN(tests)
