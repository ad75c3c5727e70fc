/* Basic-auth password hashing (wv/crypto.h). */
#include "wvunit.h"

#include "wv/crypto.h"

#include <stdlib.h>
#include <string.h>

static void hash_verifies_and_bad_encodings_fail(void **state) {
    char *h = wv_password_hash_iter("correct horse", 1000);
    assert_non_null(h);
    assert_int_equal(strncmp(h, "pbkdf2-sha256$1000$", 19), 0);
    assert_int_equal(wv_password_verify("correct horse", h), 0);
    assert_int_equal(wv_password_verify("correct horsE", h), WV_ERR_AUTH);
    assert_int_equal(wv_password_verify("", h), WV_ERR_AUTH);
    char *h2 = wv_password_hash_iter("correct horse", 1000);
    assert_string_not_equal(h, h2); /* salted */
    assert_int_equal(wv_password_verify("correct horse", NULL), WV_ERR_AUTH);
    assert_int_equal(wv_password_verify("correct horse", "plain"), WV_ERR_AUTH);
    assert_int_equal(wv_password_verify("correct horse", "pbkdf2-sha256$0$AAAA$AAAA"), WV_ERR_AUTH);
    assert_int_equal(wv_password_verify("correct horse", "pbkdf2-sha256$99999999999$AAAA$AAAA"),
                     WV_ERR_AUTH);
    assert_int_equal(wv_password_verify("correct horse", "pbkdf2-sha256$1000$!!$AAAA"),
                     WV_ERR_AUTH);
    /* A truncated hash must not verify. */
    h[strlen(h) - 6] = '\0';
    assert_int_equal(wv_password_verify("correct horse", h), WV_ERR_AUTH);
    free(h);
    free(h2);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(hash_verifies_and_bad_encodings_fail),
};
WVU_MAIN(tests)
