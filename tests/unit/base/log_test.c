#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "wv/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *read_all(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

static void json_lines_escape_and_name_subsystem(void **state) {
    char path[] = "/tmp/wvlogXXXXXX";
    int fd = mkstemp(path);
    close(fd);
    wv_log *log = wv_log_new(WV_LOG_INFO, WV_LOG_JSON, path);
    assert_non_null(log);
    WV_DEBUG(log, "store", "hidden");
    WV_INFO(log, "mqtt", "quote \" and\nnewline");
    wv_log_free(log);
    char *s = read_all(path);
    assert_null(strstr(s, "hidden"));
    assert_non_null(strstr(s, "\"subsys\":\"mqtt\""));
    assert_non_null(strstr(s, "quote \\\" and\\nnewline"));
    assert_non_null(strstr(s, "\"level\":\"INFO\""));
    free(s);
    unlink(path);
}

static void level_and_format_parse(void **state) {
    assert_int_equal(wv_log_level_parse("debug"), WV_LOG_DEBUG);
    assert_int_equal(wv_log_level_parse("ERROR"), WV_LOG_ERROR);
    assert_int_equal(wv_log_level_parse("loud"), -1);
    assert_int_equal(wv_log_format_parse("json"), WV_LOG_JSON);
    assert_int_equal(wv_log_format_parse("xml"), -1);
}

static void unopenable_file_fails(void **state) {
    assert_null(wv_log_new(WV_LOG_INFO, WV_LOG_TEXT, "/nonexistent-dir/x.log"));
}

static void ct_memcmp_and_strerror(void **state) {
    assert_int_equal(wv_ct_memcmp("abc", "abc", 3), 0);
    assert_int_not_equal(wv_ct_memcmp("abc", "abd", 3), 0);
    assert_string_equal(wv_strerror(WV_ERR_NOTFOUND), "not found");
    char *s = wv_asprintf("%d-%s", 7, "x");
    assert_string_equal(s, "7-x");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_lines_escape_and_name_subsystem),
        cmocka_unit_test(level_and_format_parse),
        cmocka_unit_test(unopenable_file_fails),
        cmocka_unit_test(ct_memcmp_and_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
