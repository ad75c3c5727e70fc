/* The HTTP core in one process: the server runs on a libuv loop in the
 * main thread, a client thread speaks raw HTTP/1.1 to it. Also the JSON
 * merge patch. Every test ends with uv_loop_close() == 0. */
#include "wvunit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_int.h"
#include "http.h"
#include "sse.h"
#include "wv/base.h"

struct fixture {
    uv_loop_t loop;
    wv_http *h;
    uv_async_t done;
    uv_timer_t resume_timer;
    wv_http_req *parked;
    uint16_t port;
    int gate_calls;
    /* Client side: requests in, answers out. */
    const char *const *requests;
    char answers[8][2048];
    unsigned n;
};

static void echo(wv_http_req *r, void *user) {
    json_t *j =
        json_pack("{s:s?, s:s?}", "p0", wv_http_req_param(r, 0), "p1", wv_http_req_param(r, 1));
    json_t *body = wv_http_req_json(r);
    if (body)
        json_object_set(j, "body", body);
    int64_t rev;
    if (wv_http_if_match(r, &rev) != 0) {
        wv_http_reply_error(r, 412, "precondition_failed", NULL, "bad If-Match");
        json_decref(j);
        return;
    }
    json_object_set_new(j, "ifMatch", json_integer(rev));
    wv_http_set_etag(r, 42);
    wv_http_reply_json(r, 200, j);
}

static void on_resume(uv_timer_t *t) {
    struct fixture *f = t->data;
    wv_http_req_resume(f->parked);
    f->parked = NULL;
}

/* Parks requests with "X-Park: 1" for 20 ms, as the auth gate does while a
 * password check runs, then lets them through. */
static bool gate(wv_http_req *r, void *user) {
    struct fixture *f = user;
    f->gate_calls++;
    const char *park = wv_http_req_header(r, "X-Park");
    if (park && !wv_http_req_gate_state(r)) {
        wv_http_req_set_gate_state(r, (void *)1, NULL);
        f->parked = r;
        wv_http_req_suspend(r);
        uv_timer_start(&f->resume_timer, on_resume, 20, 0);
        return false;
    }
    return true;
}

static void *client(void *arg) {
    struct fixture *f = arg;
    for (unsigned i = 0; f->requests[i]; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
            (void)!write(s, f->requests[i], strlen(f->requests[i]));
            size_t len = 0;
            ssize_t n;
            while (len < sizeof f->answers[i] - 1 &&
                   (n = read(s, f->answers[i] + len, sizeof f->answers[i] - 1 - len)) > 0)
                len += (size_t)n;
        }
        close(s);
        f->n = i + 1;
    }
    uv_async_send(&f->done);
    return NULL;
}

static void on_done(uv_async_t *a) {
    struct fixture *f = a->data;
    uv_close((uv_handle_t *)&f->done, NULL);
    uv_close((uv_handle_t *)&f->resume_timer, NULL);
    wv_http_close(f->h, NULL, NULL);
}

/* Runs the requests (each ends with Connection: close) against a server
 * with the echo routes. */
static void serve_rate(struct fixture *f, const char *const *requests, unsigned rate,
                       bool loopback) {
    memset(f, 0, sizeof *f);
    f->requests = requests;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct wv_http_opts o = {.listen = (struct sockaddr *)&sa, .max_body = 64};
    if (rate) {
        o.rate_per_s = rate;
        o.rate_burst = 2;
        o.rate_loopback = loopback;
    }
    assert_int_equal(wv_http_new(&f->loop, NULL, &o, &f->h), 0);
    wv_http_route(f->h, "GET", "/things/{a}/parts/{b}", 0, echo, f);
    wv_http_route(f->h, "PUT", "/things/{a}", 0, echo, f);
    wv_http_route(f->h, "GET", "/open", WV_ROUTE_PUBLIC, echo, f);
    wv_http_route(f->h, "GET", "/files", WV_ROUTE_PUBLIC | WV_ROUTE_PREFIX, echo, f);
    wv_http_set_gate(f->h, gate, f);
    assert_int_equal(wv_http_start(f->h), 0);
    f->port = wv_http_port(f->h);
    assert_true(f->port > 0);
    uv_async_init(&f->loop, &f->done, on_done);
    f->done.data = f;
    uv_timer_init(&f->loop, &f->resume_timer);
    f->resume_timer.data = f;
    pthread_t th;
    pthread_create(&th, NULL, client, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void serve(struct fixture *f, const char *const *requests) {
    serve_rate(f, requests, 0, false);
}

/* Answer i holds every one of the needles (a NULL-terminated list); a
 * failure names the needle and shows the answer. */
static void expect_answer(const struct fixture *f, unsigned i, ...) {
    va_list ap;
    va_start(ap, i);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        if (!strstr(f->answers[i], needle))
            fail_msg("answer %u lacks %s:\n%s", i, needle, f->answers[i]);
    va_end(ap);
}

#define REQ(line, extra) line " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" extra "\r\n"

static void routes_params_and_errors(void **state) {
    static const char *const reqs[] = {
        REQ("GET /things/A%41/parts/b%2Fc", ""),
        REQ("GET /things/x", ""),
        REQ("DELETE /things/x", ""),
        REQ("GET /files/deep/down", ""),
        REQ("GET /filesx", ""),
        NULL,
    };
    struct fixture f;
    serve(&f, reqs);
    assert_int_equal(f.n, 5);
    /* %41 decodes; %2F stays encoded so a name cannot span segments. */
    expect_answer(&f, 0, "\"p0\":\"AA\"", "\"p1\":\"b%2Fc\"", "ETag: \"42\"", NULL);
    expect_answer(&f, 1, "HTTP/1.1 405", "Allow: PUT", NULL);
    expect_answer(&f, 2, "HTTP/1.1 405", NULL);
    expect_answer(&f, 3, "HTTP/1.1 200", NULL);
    expect_answer(&f, 4, "HTTP/1.1 404", "\"code\":\"not_found\"", NULL);
}

static void requests_over_the_client_rate_get_429(void **state) {
    static const char *const reqs[] = {
        REQ("GET /open", ""),
        REQ("GET /open", ""),
        REQ("GET /open", ""),
        REQ("GET /things/a/parts/b", ""),
        NULL,
    };
    struct fixture f;
    serve_rate(&f, reqs, 1, true); /* 1/s, burst 2, loopback not exempt */
    assert_int_equal(f.n, 4);
    expect_answer(&f, 0, "HTTP/1.1 200", NULL);
    expect_answer(&f, 1, "HTTP/1.1 200", NULL);
    expect_answer(&f, 2, "HTTP/1.1 429", "Retry-After: 1", "\"code\":\"too_many_requests\"", NULL);
    /* Before the gate: a stranger cannot spend the auth check's time. */
    expect_answer(&f, 3, "HTTP/1.1 429", NULL);
    assert_int_equal(f.gate_calls, 0);

    /* Loopback clients are exempt unless asked (the default). */
    static const char *const many[] = {
        REQ("GET /open", ""),
        REQ("GET /open", ""),
        REQ("GET /open", ""),
        REQ("GET /open", ""),
        REQ("GET /open", ""),
        REQ("GET /open", ""),
        NULL,
    };
    serve_rate(&f, many, 1, false);
    assert_int_equal(f.n, 6);
    for (int i = 0; i < 6; i++)
        expect_answer(&f, i, "HTTP/1.1 200", NULL);
}

static void bodies_are_bounded_typed_and_parsed(void **state) {
    static const char *const reqs[] = {
        REQ("PUT /things/x", "Content-Type: application/json\r\nContent-Length: 7\r\n") "{\"a\":1}",
        REQ("PUT /things/x", "Content-Type: text/plain\r\nContent-Length: 2\r\n") "{}",
        REQ("PUT /things/x", "Content-Type: application/json\r\nContent-Length: 2\r\n") "{]",
        REQ("PUT /things/x", "Content-Type: application/json\r\nContent-Length: 65\r\n"),
        REQ("PUT /things/x",
            "Content-Type: application/json; charset=utf-8\r\n"
            "Transfer-Encoding: chunked\r\n") "41\r\n"
                                              "[111111111111111111111111111111111111111111111111111"
                                              "1111111111111\r\n0\r\n\r\n",
        REQ("PUT /things/x", "Content-Type: application/json\r\nContent-Length: 2\r\n"
                             "If-Match: \"7\"\r\n") "{}",
        REQ("PUT /things/x", "Content-Type: application/json\r\nContent-Length: 2\r\n"
                             "If-Match: W/\"7\"\r\n") "{}",
        REQ("PUT /things/x", "Content-Type: application/json\r\nContent-Length: 2\r\n"
                             "Origin: http://evil.example\r\n") "{}",
        NULL,
    };
    struct fixture f;
    serve(&f, reqs);
    assert_int_equal(f.n, 8);
    expect_answer(&f, 0, "\"body\":{\"a\":1}", NULL);
    expect_answer(&f, 1, "HTTP/1.1 415", NULL);
    expect_answer(&f, 2, "HTTP/1.1 400", "\"code\":\"bad_json\"", NULL);
    expect_answer(&f, 3, "HTTP/1.1 413", NULL);
    expect_answer(&f, 4, "HTTP/1.1 413", NULL);
    expect_answer(&f, 5, "\"ifMatch\":7", NULL);
    expect_answer(&f, 6, "HTTP/1.1 412", NULL);
    expect_answer(&f, 7, "HTTP/1.1 403", NULL);
}

static void gate_can_park_a_request(void **state) {
    static const char *const reqs[] = {
        REQ("GET /things/a/parts/b", "X-Park: 1\r\n"),
        REQ("GET /open", ""),
        NULL,
    };
    struct fixture f;
    serve(&f, reqs);
    expect_answer(&f, 0, "HTTP/1.1 200", "\"p1\":\"b\"", NULL);
    expect_answer(&f, 1, "HTTP/1.1 200", NULL);
    /* Twice for the parked request (before and after), never for /open. */
    assert_int_equal(f.gate_calls, 2);
}

/* --- A client that never reads is dropped, not buffered without bound ------------ */

struct lag {
    uv_loop_t loop;
    wv_http *h;
    wv_sse_hub *hub;
    uv_timer_t pump;
    uint16_t port;
    unsigned published;
    uint64_t deadline;
    bool saw_client, dropped;
    int fd;
};

static void events(wv_http_req *r, void *user) {
    wv_sse_serve(((struct lag *)user)->hub, r);
}

static void on_pump(uv_timer_t *t) {
    struct lag *l = t->data;
    if (wv_sse_clients(l->hub) > 0)
        l->saw_client = true;
    if (l->saw_client && wv_sse_clients(l->hub) == 0) {
        l->dropped = true;
    } else if (uv_now(&l->loop) < l->deadline) {
        if (l->published >= 20000)
            return; /* the queue bound is reached long before this */
        char big[1024];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        json_t *ev = json_pack("{s:s}", "pad", big);
        for (int i = 0; i < 50; i++, l->published++)
            wv_sse_publish(l->hub, "change", ev);
        json_decref(ev);
        return;
    }
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    wv_sse_close(l->hub);
    wv_http_close(l->h, NULL, NULL);
}

static void *slow_client(void *arg) {
    struct lag *l = arg;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(l->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int small = 4096;
    setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (connect(l->fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        static const char req[] = "GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n";
        (void)!write(l->fd, req, sizeof req - 1);
    }
    return NULL; /* and never reads */
}

static void sse_drops_a_client_that_lags(void **state) {
    struct lag l;
    memset(&l, 0, sizeof l);
    assert_int_equal(uv_loop_init(&l.loop), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct wv_http_opts o = {.listen = (struct sockaddr *)&sa};
    assert_int_equal(wv_http_new(&l.loop, NULL, &o, &l.h), 0);
    wv_http_route(l.h, "GET", "/events", 0, events, &l);
    assert_int_equal(wv_http_start(l.h), 0);
    l.port = wv_http_port(l.h);
    l.hub = wv_sse_new(&l.loop, l.h, 0, 64 << 10);
    l.fd = socket(AF_INET, SOCK_STREAM, 0);
    pthread_t th;
    pthread_create(&th, NULL, slow_client, &l);
    pthread_join(th, NULL);
    uv_timer_init(&l.loop, &l.pump);
    l.pump.data = &l;
    l.deadline = uv_now(&l.loop) + 5000;
    uv_timer_start(&l.pump, on_pump, 5, 1);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    close(l.fd);
    assert_true(l.saw_client);
    assert_true(l.dropped);
    assert_int_equal(uv_loop_close(&l.loop), 0);
}

static void merge_patch_follows_rfc7386(void **state) {
    static const char *const cases[][3] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
        {"[1,2]", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
    };
    for (unsigned i = 0; i < WV_COUNTOF(cases); i++) {
        json_t *t = json_loads(cases[i][0], 0, NULL), *p = json_loads(cases[i][1], 0, NULL);
        json_t *want = json_loads(cases[i][2], 0, NULL);
        json_t *got = wv_json_merge_patch(t, p);
        assert_true(json_equal(got, want));
        json_decref(t);
        json_decref(p);
        json_decref(want);
        json_decref(got);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(routes_params_and_errors),
    cmocka_unit_test(bodies_are_bounded_typed_and_parsed),
    cmocka_unit_test(requests_over_the_client_rate_get_429),
    cmocka_unit_test(gate_can_park_a_request),
    cmocka_unit_test(sse_drops_a_client_that_lags),
    cmocka_unit_test(merge_patch_follows_rfc7386),
};
WVU_MAIN(tests)
