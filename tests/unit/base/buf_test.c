/* The growable buffer and the address formatter (wv/base.h). */
#include "wvunit.h"

#include "wv/base.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static void add_printf_consume_take(void **state) {
    struct wv_buf b = {0};
    wv_buf_add(&b, "", 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    char big[5000];
    memset(big, 'x', sizeof(big));
    wv_buf_add(&b, big, sizeof(big));
    wv_buf_printf(&b, "%s-%d", "end", 42);
    assert_int_equal(b.len, sizeof(big) + 6);
    assert_string_equal(b.p + sizeof(big), "end-42");
    wv_buf_consume(&b, sizeof(big));
    assert_string_equal(b.p, "end-42");
    wv_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    wv_buf_printf(&b, "%s", "");
    assert_int_equal(b.len, 0);
    char *p = wv_buf_take(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_string_equal(p, "");
    free(p);
    struct wv_buf e = {0};
    p = wv_buf_take(&e); /* never NULL, even when nothing was added */
    assert_non_null(p);
    free(p);
    wv_buf_dispose(&e);
}

static void addresses_as_text(void **state) {
    char out[WV_ADDR_STRLEN], ip[INET6_ADDRSTRLEN];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(25890)};
    inet_pton(AF_INET, "198.51.100.7", &a.sin_addr);
    assert_string_equal(wv_addr_format((struct sockaddr *)&a, out), "198.51.100.7:25890");
    assert_string_equal(wv_addr_ip((struct sockaddr *)&a, ip, sizeof(ip)), "198.51.100.7");
    struct sockaddr_in6 b = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "2001:db8::1", &b.sin6_addr);
    assert_string_equal(wv_addr_format((struct sockaddr *)&b, out), "[2001:db8::1]:443");
    assert_string_equal(wv_addr_ip((struct sockaddr *)&b, ip, sizeof(ip)), "2001:db8::1");
    struct sockaddr u = {.sa_family = AF_UNIX};
    assert_string_equal(wv_addr_format(&u, out), "?");
    assert_string_equal(wv_addr_format(NULL, out), "?");
}

/* IPv4: one address; IPv6: one /64; the port never counts. */
static void same_source(void **state) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1)};
    struct sockaddr_in a2 = {.sin_family = AF_INET, .sin_port = htons(2)};
    inet_pton(AF_INET, "198.51.100.7", &a.sin_addr);
    inet_pton(AF_INET, "198.51.100.7", &a2.sin_addr);
    assert_true(wv_addr_same_source((struct sockaddr *)&a, (struct sockaddr *)&a2));
    inet_pton(AF_INET, "198.51.100.8", &a2.sin_addr);
    assert_false(wv_addr_same_source((struct sockaddr *)&a, (struct sockaddr *)&a2));
    struct sockaddr_in6 b = {.sin6_family = AF_INET6}, b2 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8:1:2::1", &b.sin6_addr);
    inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &b2.sin6_addr);
    assert_true(wv_addr_same_source((struct sockaddr *)&b, (struct sockaddr *)&b2));
    inet_pton(AF_INET6, "2001:db8:1:3::1", &b2.sin6_addr);
    assert_false(wv_addr_same_source((struct sockaddr *)&b, (struct sockaddr *)&b2));
    assert_false(wv_addr_same_source((struct sockaddr *)&a, (struct sockaddr *)&b));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(add_printf_consume_take),
    cmocka_unit_test(addresses_as_text),
    cmocka_unit_test(same_source),
};
WVU_MAIN(tests)
