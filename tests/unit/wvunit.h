#ifndef WVUNIT_H
#define WVUNIT_H
/* What the unit tests share (as libuv's test/task.h): cmocka with the
 * headers it needs before it, and small helpers. Failures are cmocka
 * assertions, so a helper that fails stops the test it runs in.
 *
 * The loop helpers are there when uv.h was included before this header,
 * J() when jansson.h was: a test that needs neither does not pull them in. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A test executable's main(): runs the array of cmocka tests given, as one
 * group with no group setup, and exits with the number that failed. */
#define WVU_MAIN(tests)                                                                            \
    int main(void) {                                                                               \
        return cmocka_run_group_tests(tests, NULL, NULL);                                          \
    }

/* Fail the test unless text holds (wvu_has) or lacks (wvu_lacks) every
 * string given, naming the first one that is wrong and the text. */
#define wvu_has(text, ...) wvu_find_((text), true, __VA_ARGS__, (const char *)NULL)
#define wvu_lacks(text, ...) wvu_find_((text), false, __VA_ARGS__, (const char *)NULL)
static inline void wvu_find_(const char *text, bool want, ...) {
    va_list ap;
    va_start(ap, want);
    const char *n;
    while ((n = va_arg(ap, const char *)) && (strstr(text, n) != NULL) == want)
        ;
    va_end(ap);
    if (n)
        fail_msg("%s \"%s\" in:\n%s", want ? "missing" : "unexpected", n, text);
}

/* A port on 127.0.0.1 free right now for type (SOCK_STREAM or SOCK_DGRAM):
 * bound by the kernel, noted and released. */
static inline uint16_t wvu_free_port(int type) {
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The contents of tests/fixtures/<name> (WV_FIXTURES_DIR, set by
 * tests/CMakeLists.txt), NUL-terminated; the caller frees it. */
static inline char *wvu_fixture(const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", WV_FIXTURES_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 4096 + 1 > cap) {
            cap = (len + 4096 + 1) * 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    assert_int_equal(ferror(f), 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

#ifdef UV_H
/* Runs loop until cond holds or ms milliseconds have passed; the test then
 * asserts cond. Something on the loop must wake it (wvu_tick_start), or
 * UV_RUN_ONCE may block. */
#define RUN_LOOP_UNTIL(loop, cond, ms)                                                             \
    do {                                                                                           \
        uint64_t deadline_ = uv_hrtime() + (uint64_t)(ms)*1000000;                                 \
        while (!(cond) && uv_hrtime() < deadline_)                                                 \
            uv_run((loop), UV_RUN_ONCE);                                                           \
    } while (0)
/* The same for a fixture fx with a `uv_loop_t loop` member. */
#define RUN_UNTIL(fx, cond, ms) RUN_LOOP_UNTIL(&(fx)->loop, cond, ms)

static inline void wvu_tick_cb(uv_timer_t *t) {}

/* A 5 ms repeating timer on loop: keeps UV_RUN_ONCE from blocking while a
 * test waits for a condition. Close it (uv_close) before the loop ends. */
static inline void wvu_tick_start(uv_loop_t *loop, uv_timer_t *tick) {
    assert_int_equal(uv_timer_init(loop, tick), 0);
    assert_int_equal(uv_timer_start(tick, wvu_tick_cb, 5, 5), 0);
}

/* Seconds since t0 (a uv_hrtime() value). */
static inline double wvu_secs(uint64_t t0) {
    return (double)(uv_hrtime() - t0) / 1e9;
}
#endif

#ifdef JANSSON_H
/* A JSON value from a literal of the test; a bad literal fails the test. */
static inline json_t *J(const char *text) {
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return v;
}
#endif

#endif
