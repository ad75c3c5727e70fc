#include "wvunit.h"

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
    wvu_lacks(s, "hidden");
    wvu_has(s, "\"subsys\":\"mqtt\"", "quote \\\" and\\nnewline", "\"level\":\"INFO\"");
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

/* A site edit reconfigures the running logger: level and format from the
 * next line, a new file opened before the old is left, an unopenable one
 * refused with the old destination kept. */
static void configure_applies_level_format_and_file_live(void **state) {
    char a[] = "/tmp/wvlogaXXXXXX", b[] = "/tmp/wvlogbXXXXXX";
    close(mkstemp(a));
    close(mkstemp(b));
    wv_log *log = wv_log_new(WV_LOG_INFO, WV_LOG_TEXT, a);
    assert_non_null(log);
    WV_DEBUG(log, "t", "debug-1 hidden");
    assert_int_equal(wv_log_configure(log, WV_LOG_DEBUG, WV_LOG_TEXT, a), 0);
    WV_DEBUG(log, "t", "debug-2 shown");
    assert_int_equal(wv_log_configure(log, WV_LOG_WARN, WV_LOG_JSON, b), 0);
    WV_INFO(log, "t", "info-3 hidden");
    WV_WARN(log, "t", "warn-4 in b");
    assert_int_equal(wv_log_configure(log, WV_LOG_INFO, WV_LOG_TEXT, "/nonexistent-dir/x.log"),
                     WV_ERR_IO);
    WV_INFO(log, "t", "info-5 still in b, as text");
    wv_log_free(log);
    char *sa = read_all(a), *sb = read_all(b);
    wvu_lacks(sa, "debug-1", "warn-4");
    wvu_has(sa, "DEBUG [t] debug-2 shown");
    wvu_lacks(sb, "info-3");
    wvu_has(sb, "\"msg\":\"warn-4 in b\"", "INFO  [t] info-5 still in b, as text");
    free(sa);
    free(sb);
    unlink(a);
    unlink(b);
}

static void ct_memcmp_and_strerror(void **state) {
    assert_int_equal(wv_ct_memcmp("abc", "abc", 3), 0);
    assert_int_not_equal(wv_ct_memcmp("abc", "abd", 3), 0);
    assert_string_equal(wv_strerror(WV_ERR_NOTFOUND), "not found");
    char *s = wv_asprintf("%d-%s", 7, "x");
    assert_string_equal(s, "7-x");
    free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(json_lines_escape_and_name_subsystem),
    cmocka_unit_test(level_and_format_parse),
    cmocka_unit_test(unopenable_file_fails),
    cmocka_unit_test(configure_applies_level_format_and_file_live),
    cmocka_unit_test(ct_memcmp_and_strerror),
};
WVU_MAIN(tests)
