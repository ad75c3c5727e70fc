#include "wvunit.h"

#include "stun.h"
#include "wv/base.h"
#include "wv/detect.h"
#include "wv/model.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, char *out) {
    return wv_detect_parse_http_body(s, strlen(s), out, INET6_ADDRSTRLEN);
}

static void body_good(void **state) {
    char ip[INET6_ADDRSTRLEN];
    assert_int_equal(parse("198.51.100.7", ip), 0);
    assert_string_equal(ip, "198.51.100.7");
    assert_int_equal(parse("  203.0.113.5\r\n", ip), 0);
    assert_string_equal(ip, "203.0.113.5");
    assert_int_equal(parse("\t2001:DB8:0:0::1\n", ip), 0);
    assert_string_equal(ip, "2001:db8::1"); /* canonical form */
    assert_int_equal(parse("127.0.0.1", ip), 0);
}

static void body_bad(void **state) {
    char ip[INET6_ADDRSTRLEN];
    const char *bad[] = {"",
                         "   \n",
                         "<html><body>198.51.100.7</body></html>",
                         "198.51.100.7 203.0.113.5",
                         "198.51.100.7\n203.0.113.5",
                         "198.51.100",
                         "198.51.100.256",
                         "ip=198.51.100.7",
                         "fe80::1%eth0",
                         "[2001:db8::1]",
                         "198.51.100.7:25890",
                         "0.0.0.0",
                         "::",
                         "224.0.0.1",
                         "ff02::1",
                         "2001:db8::1::2",
                         "1234:5678:9abc:def0:1234:5678:9abc:def0:1",
                         "deadbeef"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], ip) != WV_ERR_INVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* Embedded NUL. */
    assert_int_equal(wv_detect_parse_http_body("1.2.3.4\0x", 9, ip, sizeof(ip)), WV_ERR_INVAL);
    /* Oversize, even if it would trim to an address. */
    char big[WV_DETECT_MAX_BODY + 2];
    memset(big, ' ', sizeof(big));
    memcpy(big, "198.51.100.7", 12);
    assert_int_equal(wv_detect_parse_http_body(big, sizeof(big), ip, sizeof(ip)), WV_ERR_TOOBIG);
    assert_int_equal(wv_detect_parse_http_body(big, WV_DETECT_MAX_BODY, ip, sizeof(ip)), 0);
    /* Output too small. */
    assert_int_equal(wv_detect_parse_http_body("198.51.100.7", 12, ip, 8), WV_ERR_INVAL);
    assert_int_equal(wv_detect_parse_http_body(NULL, 3, ip, sizeof(ip)), WV_ERR_INVAL);
}

static void body_random_bytes(void **state) {
    char buf[64], ip[INET6_ADDRSTRLEN];
    srand(11);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % (int)sizeof(buf));
        for (size_t k = 0; k < n; k++)
            buf[k] = "0123456789abcdef.: \n\x01"[rand() % 21];
        int rv = wv_detect_parse_http_body(buf, n, ip, sizeof(ip));
        assert_true(rv == 0 || rv == WV_ERR_INVAL);
        if (rv == 0) {
            struct sockaddr_storage ss;
            assert_int_equal(wv_parse_ip(ip, 0, &ss), 0);
        }
    }
}

/* --- STUN from a QUIC endpoint, against a scripted server on loopback ------------- */

struct fx {
    uv_loop_t loop;
    wv_log *log;
    wv_identity *id;
    wv_quic_endpoint *ep;
    uv_udp_t srv;
    struct sockaddr_storage srv_addr;
    int requests, changes;
    int mode; /* 0 answer, 1 silent, 2 answer garbage then the real thing */
    uv_timer_t stop;
};

static void srv_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
    static char buf[2048];
    *b = uv_buf_init(buf, sizeof(buf));
}

static void srv_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                     unsigned fl) {
    struct fx *f = h->data;
    if (n <= 0 || !from)
        return;
    assert_true(wv_stun_is_message((uint8_t *)b->base, (size_t)n));
    f->requests++;
    if (f->mode == 1 || (f->mode == 3 && f->requests < 3))
        return; /* lose it: the client retransmits */
    /* Answer with MAPPED-ADDRESS 203.0.113.77:40000. */
    uint8_t r[32] = {0x01, 0x01, 0, 12};
    memcpy(r + 4, b->base + 4, 16);
    uint8_t attr[12] = {0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x9c, 0x40, 203, 0, 113, 77};
    memcpy(r + 20, attr, 12);
    uv_buf_t out = uv_buf_init((char *)r, 32);
    if (f->mode == 2) {
        uint8_t junk[24];
        memcpy(junk, r, 20);
        junk[3] = 4;
        memcpy(junk + 20, "\x00\x01\x00\x09", 4); /* attribute overruns */
        uv_buf_t j = uv_buf_init((char *)junk, 24);
        uv_udp_try_send(h, &j, 1, from);
    }
    uv_udp_try_send(h, &out, 1, from);
}

static wv_quic_endpoint *get_ep(wv_detect *d, const char *name, void *user) {
    struct fx *f = user;
    return strcmp(name, "s1") == 0 ? f->ep : NULL;
}

static void on_changed(wv_detect *d, const char *name, void *user) {
    struct fx *f = user;
    f->changes++;
    uv_stop(&f->loop);
}

static void on_stop(uv_timer_t *t) {
    uv_stop(t->loop);
}

static void setup_fx(struct fx *f) {
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->log = wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, NULL);
    assert_int_equal(wv_identity_generate("t", &f->id), 0);
    assert_int_equal(wv_quic_endpoint_new(&f->loop, NULL, f->id, f->log, NULL, NULL, &f->ep), 0);
    struct sockaddr_storage a;
    wv_parse_ip("127.0.0.1", 0, &a);
    assert_int_equal(wv_quic_endpoint_bind(f->ep, (struct sockaddr *)&a), 0);
    uv_udp_init(&f->loop, &f->srv);
    f->srv.data = f;
    assert_int_equal(uv_udp_bind(&f->srv, (struct sockaddr *)&a, 0), 0);
    int len = sizeof(f->srv_addr);
    uv_udp_getsockname(&f->srv, (struct sockaddr *)&f->srv_addr, &len);
    uv_udp_recv_start(&f->srv, srv_alloc, srv_recv);
    uv_timer_init(&f->loop, &f->stop);
}

static void teardown_fx(struct fx *f) {
    wv_quic_endpoint_close(f->ep, NULL, NULL);
    uv_close((uv_handle_t *)&f->srv, NULL);
    uv_close((uv_handle_t *)&f->stop, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    wv_identity_free(f->id);
    wv_log_free(f->log);
}

static json_t *stun_socket(struct fx *f, const char *mode, bool hostname) {
    char srv[64];
    snprintf(srv, sizeof(srv), "%s:%u", hostname ? "localhost" : "127.0.0.1",
             ntohs(((struct sockaddr_in *)&f->srv_addr)->sin_port));
    return json_pack("[{s:s, s:s, s:s, s:i, s:i, s:[s, s]}]", "name", "s1", "mode", mode,
                     "publicAddress", "autoStunDetect", "publicPort", 25000, "listenPort", 25000,
                     "stunServers", "203.0.113.200:notaport", srv);
}

static void run_case(int mode, const char *sockmode, uint16_t want_port, int min_requests,
                     bool hostname) {
    struct fx f;
    setup_fx(&f);
    f.mode = mode;
    wv_detect *d;
    struct wv_detect_callbacks cbs = {.changed = on_changed, .endpoint = get_ep};
    assert_int_equal(wv_detect_new(&f.loop, f.log, &cbs, &f, &d), 0);
    json_t *socks = stun_socket(&f, sockmode, hostname);
    wv_detect_set_sockets(d, socks);
    char ip[INET6_ADDRSTRLEN];
    uint16_t port;
    assert_int_equal(wv_detect_get(d, "s1", ip, sizeof(ip), &port), WV_ERR_AGAIN);
    assert_int_equal(wv_detect_get(d, "nope", ip, sizeof(ip), &port), WV_ERR_NOTFOUND);
    uv_timer_start(&f.stop, on_stop, 8000, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    json_t *st = wv_detect_status(d, "s1");
    if (mode == 1) {
        assert_int_equal(f.changes, 0);
        assert_int_equal(f.requests, 3); /* 0, 0.5 s, 1.5 s; given up at 3.5 s */
        assert_string_equal(json_string_value(json_object_get(st, "state")), "failed");
        assert_non_null(strstr(json_string_value(json_object_get(st, "error")), "no STUN"));
    } else {
        assert_int_equal(f.changes, 1);
        assert_true(f.requests >= min_requests);
        assert_int_equal(wv_detect_get(d, "s1", ip, sizeof(ip), &port), 0);
        assert_string_equal(ip, "203.0.113.77");
        assert_int_equal(port, want_port);
        assert_string_equal(json_string_value(json_object_get(st, "state")), "detected");
    }
    struct wv_detect_stats ds;
    wv_detect_get_stats(d, &ds);
    assert_int_equal(ds.detections, mode == 1 ? 0 : 1);
    json_decref(st);
    json_decref(socks);
    wv_detect_free(d);
    teardown_fx(&f);
}

static void stun_maps_from_the_endpoint(void **state) {
    run_case(0, "dedicated-address", 40000, 1, false);
}
static void stun_server_by_name(void **state) {
    run_case(0, "dedicated-address", 40000, 1, true);
}
static void stun_port_forwarding_keeps_port(void **state) {
    run_case(0, "port-forwarding", 25000, 1, false);
}
static void stun_garbage_then_answer(void **state) {
    run_case(2, "dedicated-address", 40000, 1, false);
}
static void stun_retransmits(void **state) {
    run_case(3, "dedicated-address", 40000, 3, false);
}
static void stun_silent_server_fails(void **state) {
    run_case(1, "dedicated-address", 0, 0, false);
}

/* --- HTTP against a canned server on loopback -------------------------------------- */

struct hsrv {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_tcp_t conns[4];
    int nconns;
    bool silent;
    int changes;
};

static void conn_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
    static char buf[4096];
    *b = uv_buf_init(buf, sizeof(buf));
}

static void conn_write_done(uv_write_t *w, int status) {
    free(w);
}

static void conn_read(uv_stream_t *c, ssize_t n, const uv_buf_t *b) {
    struct hsrv *h = c->data;
    if (n <= 0 || h->silent)
        return;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 13\r\nConnection: close\r\n\r\n198.51.100.9\n";
    uv_write_t *w = malloc(sizeof(*w));
    uv_buf_t out = uv_buf_init((char *)resp, sizeof(resp) - 1);
    uv_write(w, c, &out, 1, conn_write_done);
    uv_read_stop(c);
}

static void on_conn(uv_stream_t *srv, int status) {
    struct hsrv *h = srv->data;
    assert_true(h->nconns < 4);
    uv_tcp_t *c = &h->conns[h->nconns++];
    uv_tcp_init(srv->loop, c);
    c->data = h;
    assert_int_equal(uv_accept(srv, (uv_stream_t *)c), 0);
    uv_read_start((uv_stream_t *)c, conn_alloc, conn_read);
}

static void http_changed(wv_detect *d, const char *name, void *user) {
    struct hsrv *h = user;
    h->changes++;
    uv_stop(h->loop);
}

static void run_http(bool silent) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct hsrv h = {.silent = silent, .loop = &loop};
    uv_tcp_init(&loop, &h.tcp);
    h.tcp.data = &h;
    struct sockaddr_storage a;
    wv_parse_ip("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&h.tcp, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&h.tcp, 8, on_conn), 0);
    int len = sizeof(a);
    uv_tcp_getsockname(&h.tcp, (struct sockaddr *)&a, &len);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/ip",
             ntohs(((struct sockaddr_in *)&a)->sin_port));
    wv_log *log = wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, NULL);
    wv_detect *d;
    struct wv_detect_callbacks cbs = {.changed = http_changed};
    assert_int_equal(wv_detect_new(&loop, log, &cbs, &h, &d), 0);
    json_t *socks =
        json_pack("[{s:s, s:s, s:s, s:i, s:i, s:{s:s, s:i}}]", "name", "h1", "mode",
                  "port-forwarding", "publicAddress", "autoHttpDetect", "publicPort", 25891,
                  "listenPort", 25000, "httpDetector", "url", url, "interval", 60);
    wv_detect_set_sockets(d, socks);
    uv_timer_t stop;
    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, on_stop, silent ? 300 : 8000, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    char ip[INET6_ADDRSTRLEN];
    uint16_t port = 0;
    if (silent) {
        /* Freed while its request hangs on a worker: the request finishes
         * (5 s timeout) and is discarded; nothing leaks, nothing fires. */
        assert_int_equal(wv_detect_get(d, "h1", ip, sizeof(ip), &port), WV_ERR_AGAIN);
    } else {
        assert_int_equal(h.changes, 1);
        assert_int_equal(wv_detect_get(d, "h1", ip, sizeof(ip), &port), 0);
        assert_string_equal(ip, "198.51.100.9");
        assert_int_equal(port, 25891);
    }
    wv_detect_free(d);
    json_decref(socks);
    for (int i = 0; i < h.nconns; i++)
        uv_close((uv_handle_t *)&h.conns[i], NULL);
    uv_close((uv_handle_t *)&h.tcp, NULL);
    uv_close((uv_handle_t *)&stop, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(h.changes, silent ? 0 : 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    wv_log_free(log);
}

static void http_detects(void **state) {
    run_http(false);
}
static void http_free_while_in_flight(void **state) {
    run_http(true);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(body_good),
    cmocka_unit_test(body_bad),
    cmocka_unit_test(body_random_bytes),
    cmocka_unit_test(http_detects),
    cmocka_unit_test(http_free_while_in_flight),
    cmocka_unit_test(stun_maps_from_the_endpoint),
    cmocka_unit_test(stun_server_by_name),
    cmocka_unit_test(stun_port_forwarding_keeps_port),
    cmocka_unit_test(stun_garbage_then_answer),
    cmocka_unit_test(stun_retransmits),
    cmocka_unit_test(stun_silent_server_fails),
};
WVU_MAIN(tests)
