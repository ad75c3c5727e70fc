/* wv_cli_parse for the API clients (status, apply): defaults from the
 * environment, flags, and the usage errors (exit 64). */
#include "wvunit.h"

#include "wv/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARSE(cli, ...)                                                                            \
    do {                                                                                           \
        char *argv_[] = {"wovenet", __VA_ARGS__, NULL};                                            \
        wv_cli_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, (cli));                   \
    } while (0)

static void status_defaults_and_env(void **state) {
    struct wv_cli c;
    unsetenv("WOVENET_API");
    unsetenv("WOVENET_TOKEN");
    PARSE(&c, "status");
    assert_int_equal(c.cmd, WV_CLI_STATUS);
    assert_string_equal(c.url, "http://127.0.0.1:18080");
    assert_null(c.token);
    assert_false(c.json);
    setenv("WOVENET_API", "http://10.0.0.1:1", 1);
    setenv("WOVENET_TOKEN", "tok-env", 1);
    PARSE(&c, "status", "--json");
    assert_string_equal(c.url, "http://10.0.0.1:1");
    assert_string_equal(c.token, "tok-env");
    assert_true(c.json);
    /* flags win over the environment */
    PARSE(&c, "status", "--api", "http://127.0.0.1:9", "-t", "tok-flag");
    assert_string_equal(c.url, "http://127.0.0.1:9");
    assert_string_equal(c.token, "tok-flag");
    unsetenv("WOVENET_API");
    unsetenv("WOVENET_TOKEN");
}

static void apply_flags(void **state) {
    struct wv_cli c;
    PARSE(&c, "apply", "-f", "d.yaml", "--dry-run", "--api", "http://h:1");
    assert_int_equal(c.cmd, WV_CLI_APPLY);
    assert_string_equal(c.file, "d.yaml");
    assert_true(c.dry_run);
    assert_string_equal(c.url, "http://h:1");
    PARSE(&c, "apply", "--file=x.json");
    assert_int_equal(c.cmd, WV_CLI_APPLY);
    assert_string_equal(c.file, "x.json");
    assert_false(c.dry_run);
    /* run's --api is still an ADDR:PORT, not a URL */
    PARSE(&c, "run", "--api", "127.0.0.1:18080");
    assert_int_equal(c.cmd, WV_CLI_RUN);
    assert_string_equal(c.api, "127.0.0.1:18080");
    assert_null(c.file);
}

static void usage_errors_exit_64(void **state) {
    assert_int_equal(WV_EXIT_USAGE, 64);
    assert_int_equal(WV_EXIT_CHANGED, 2);
    struct wv_cli c;
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w"); /* the usage text is not under test */
    PARSE(&c, "apply");
    assert_int_equal(c.cmd, WV_CLI_DONE);
    assert_int_equal(c.exit_code, WV_EXIT_USAGE);
    PARSE(&c, "apply", "-f");
    assert_int_equal(c.exit_code, WV_EXIT_USAGE);
    PARSE(&c, "status", "--bogus");
    assert_int_equal(c.cmd, WV_CLI_DONE);
    assert_int_equal(c.exit_code, WV_EXIT_USAGE);
    PARSE(&c, "status", "extra");
    assert_int_equal(c.exit_code, WV_EXIT_USAGE);
    PARSE(&c, "status", "--dry-run");
    assert_int_equal(c.exit_code, WV_EXIT_USAGE);
    fclose(stderr);
    stderr = saved;
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(status_defaults_and_env),
    cmocka_unit_test(apply_flags),
    cmocka_unit_test(usage_errors_exit_64),
};
WVU_MAIN(tests)
