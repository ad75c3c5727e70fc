/* Proxy: app streams end to end over a real QUIC pair (see proxy_harness.h).
 * PROXY_TEST_LOG=1 shows the modules' log lines. */
#include "proxy_harness.h"

#include <signal.h>

#define MIB (1024u * 1024u)

static void expose_tcp(fx *f, const char *name, int port) {
    char *j = wv_asprintf("{\"mode\":\"single\",\"appSocket\":\"tcp:127.0.0.1:%d\"}", port);
    expose(f, name, j);
    free(j);
}

/* An echo server exposed as app "echo" and a listener for it. */
static fx *echo_fixture(struct srv *s, struct lsn *l) {
    fx *f = fx_new();
    srv_start(f, s, S_ECHO, NULL);
    expose_tcp(f, "echo", s->port);
    lsn_start(f, l, "echo", NULL, NULL);
    return f;
}

static void check_bounded(fx *f) {
    struct wv_proxy_stats sa, sb;
    get_stats(f, &sa, &sb);
    assert_true(sa.conn_buffered_peak <= 2 * MAXBUF);
    assert_true(sb.conn_buffered_peak <= 2 * MAXBUF);
}

static void sixty_four_mib_each_way_hashes_match(void **state) {
    fx *f = fx_new();
    struct srv s = {.src_len = 64 * MIB, .src_seed = 11, .sink_seed = 22, .hash = true};
    srv_start(f, &s, S_SOURCE, NULL);
    expose_tcp(f, "blob", s.port);
    struct lsn l = {0};
    lsn_start(f, &l, "blob", NULL, NULL);
    tconn c = {.send_len = 64 * MIB, .send_seed = 22, .recv_seed = 11, .hash = true};
    uint64_t t0 = uv_hrtime();
    t_connect(f, &c, l.port, NULL);
    RUN_UNTIL(f, c.closed && s.closed == 1, 50000);
    double dt = wvu_secs(t0);
    assert_true(t_ok(&c, 64 * MIB));
    assert_int_equal(s.closed, 1);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.sunk, 64 * MIB);
    assert_memory_equal(c.din, s.dout, 32);
    assert_memory_equal(c.dout, s.din, 32);
    print_message("64 MiB each way at once: %.2f s, %.0f MB/s per direction\n", dt,
                  64.0 * MIB / 1e6 / dt);
    settled_stats(f, NULL, NULL);
    /* Counters followed the bytes, payload only. */
    assert_int_equal(f->kb->bytes_in, 64 * MIB);
    assert_int_equal(f->kb->bytes_out, 64 * MIB);
    assert_int_equal(f->ka->bytes_in, 64 * MIB);
    assert_int_equal(f->ka->bytes_out, 64 * MIB);
    check_bounded(f);
    fx_free(f, true);
}

static void echo_app_returns_64_mib_intact(void **state) {
    struct srv s = {0};
    struct lsn l = {0};
    fx *f = echo_fixture(&s, &l);
    tconn c = {.send_len = 64 * MIB, .send_seed = 33, .recv_seed = 33};
    uint64_t t0 = uv_hrtime();
    t_connect(f, &c, l.port, NULL);
    RUN_UNTIL(f, c.closed, 50000);
    double dt = wvu_secs(t0);
    assert_true(t_ok(&c, 64 * MIB));
    print_message("64 MiB echoed: %.2f s, %.0f MB/s\n", dt, 64.0 * MIB / 1e6 / dt);
    check_bounded(f);
    fx_free(f, true);
}

static void two_hundred_parallel_echo_connections(void **state) {
    struct srv s = {0};
    struct lsn l = {0};
    fx *f = echo_fixture(&s, &l);
    enum { N = 200 };
    tconn *c = calloc(N, sizeof(*c));
    for (int i = 0; i < N; i++) {
        c[i].send_len = 128 * 1024 + (uint64_t)i;
        c[i].send_seed = c[i].recv_seed = 1000 + (uint64_t)i;
        t_connect(f, &c[i], l.port, NULL);
    }
    int done = 0;
    uint64_t t0 = uv_hrtime();
    while (done < N && wvu_secs(t0) < 30) {
        uv_run(&f->loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < N; i++)
            done += c[i].closed;
    }
    for (int i = 0; i < N; i++)
        assert_true(t_ok(&c[i], c[i].send_len));
    assert_int_equal(s.accepted, N);
    print_message("200 parallel echo connections: %.2f s\n", wvu_secs(t0));
    free(c);
    fx_free(f, true);
}

static void seq_next(tconn *t);

static void seq_closed(tconn *t) {
    fx *f = t->f;
    if (!t_ok(t, t->send_len))
        f->seq_bad++;
    if (--f->seq_left > 0)
        seq_next(t);
}

static void seq_next(tconn *t) {
    fx *f = t->f;
    memset(t, 0, sizeof(*t));
    t->send_len = 100;
    t->send_seed = t->recv_seed = (uint64_t)f->seq_left;
    t->on_closed = seq_closed;
    t_connect(f, t, f->seq_port, NULL);
}

static void ten_thousand_short_connections_in_a_row(void **state) {
    struct srv s = {0};
    struct lsn l = {0};
    fx *f = echo_fixture(&s, &l);
    f->seq_port = l.port;
    enum { N = 10000 };
    f->seq_left = N;
    f->seq.f = f;
    uint64_t t0 = uv_hrtime();
    seq_next(&f->seq);
    RUN_UNTIL(f, f->seq_left == 0, 60000);
    double dt = wvu_secs(t0);
    assert_int_equal(f->seq_left, 0);
    assert_int_equal(f->seq_bad, 0);
    print_message("10000 short connections: %.2f s, %.0f conn/s\n", dt, N / dt);
    struct wv_proxy_stats sa, sb;
    settled_stats(f, &sa, &sb);
    assert_int_equal(sa.total, N);
    assert_int_equal(sb.total, N);
    /* Every stream slot came back: far more streams than the peer's limit. */
    wv_quic_conn_stats st;
    wv_quic_conn_stats_get(f->cb, &st);
    assert_int_equal(st.streams_open, 0);
    fx_free(f, true);
}

static void half_closed_client_still_gets_full_reply(void **state) {
    fx *f = fx_new();
    /* The app answers only once it has seen the client's EOF. */
    struct srv s = {.src_len = 4 * MIB, .src_seed = 5, .sink_seed = 6};
    srv_start(f, &s, S_REPLY_AFTER_EOF, NULL);
    expose_tcp(f, "req", s.port);
    struct lsn l = {0};
    lsn_start(f, &l, "req", NULL, NULL);
    tconn c = {.send_len = 1000, .send_seed = 6, .recv_seed = 5};
    t_connect(f, &c, l.port, NULL);
    RUN_UNTIL(f, c.closed && s.closed == 1, 20000);
    assert_true(t_ok(&c, 4 * MIB));
    assert_int_equal(s.sunk, 1000);
    assert_int_equal(s.bad, 0);
    fx_free(f, true);
}

static void slow_reader_keeps_proxy_memory_bounded(void **state) {
    fx *f = fx_new();
    const uint64_t total = 256ull * MIB;
    struct srv s = {.src_len = total, .src_seed = 77, .sink_seed = 78};
    srv_start(f, &s, S_SOURCE, NULL);
    expose_tcp(f, "big", s.port);
    struct lsn l = {0};
    lsn_start(f, &l, "big", NULL, NULL);
    tconn c = {.send_len = 0, .recv_seed = 77, .read_delay_ms = 3000};
    t_connect(f, &c, l.port, NULL);
    /* The stall: the client reads nothing for 3 s. */
    uint64_t max_buffered = 0;
    while (!c.reading && !c.closed) {
        uv_run(&f->loop, UV_RUN_ONCE);
        struct wv_proxy_stats sa, sb;
        get_stats(f, &sa, &sb);
        max_buffered = WV_MAX(max_buffered, WV_MAX(sa.buffered, sb.buffered));
    }
    uint64_t stalled_at = s.last ? s.last->sent : 0;
    print_message("slow reader: app had written %.1f MiB when the client started reading; "
                  "proxy buffered at most %llu KiB\n",
                  (double)stalled_at / MIB, (unsigned long long)max_buffered / 1024);
    assert_true(max_buffered <= 2 * MAXBUF);
    /* Only socket buffers and the windows hold data; not the whole blob. */
    assert_true(stalled_at < 64ull * MIB);
    uint64_t t0 = uv_hrtime();
    RUN_UNTIL(f, c.closed && s.closed == 1, 50000);
    assert_true(t_ok(&c, total));
    print_message("slow reader: 256 MiB delivered %.2f s after the stall, %.0f MB/s\n", wvu_secs(t0),
                  (double)(total - stalled_at) / 1e6 / wvu_secs(t0));
    check_bounded(f);
    fx_free(f, true);
}

/* A client that must be refused: its connection closes without a byte. */
static void expect_refused(fx *f, struct lsn *l) {
    tconn c = {.send_len = 1000, .send_seed = 1};
    t_connect(f, &c, l->port, NULL);
    RUN_UNTIL(f, c.closed, 5000);
    assert_true(c.closed);
    assert_int_equal(c.recvd, 0);
    assert_true(c.rx_eof || c.rx_err || c.tx_err);
}

static void range_app_checks_target_and_unknown_app_is_refused(void **state) {
    fx *f = fx_new();
    struct srv s = {0};
    srv_start(f, &s, S_ECHO, NULL);
    char *j = wv_asprintf("{\"mode\":\"range\",\"portRange\":[\"%d\"],"
                          "\"addressRange\":[\"127.0.0.1/32\"]}",
                          s.port);
    expose(f, "rng", j);
    free(j);
    char in[32], port_out[32], addr_out[32];
    snprintf(in, sizeof(in), "127.0.0.1:%d", s.port);
    snprintf(port_out, sizeof(port_out), "127.0.0.1:%d", s.port == 65535 ? 1 : s.port + 1);
    snprintf(addr_out, sizeof(addr_out), "127.0.0.2:%d", s.port);
    struct lsn ok = {0}, bad_port = {0}, bad_addr = {0}, no_target = {0}, unknown = {0};
    lsn_start(f, &ok, "rng", in, NULL);
    lsn_start(f, &bad_port, "rng", port_out, NULL);
    lsn_start(f, &bad_addr, "rng", addr_out, NULL);
    lsn_start(f, &no_target, "rng", NULL, NULL);
    lsn_start(f, &unknown, "nope", NULL, NULL);

    tconn c = {.send_len = 300000, .send_seed = 9, .recv_seed = 9};
    t_connect(f, &c, ok.port, NULL);
    RUN_UNTIL(f, c.closed, 10000);
    assert_true(t_ok(&c, 300000));
    expect_refused(f, &bad_port);
    expect_refused(f, &bad_addr);
    expect_refused(f, &no_target);
    expect_refused(f, &unknown);
    assert_int_equal(s.accepted, 1);
    struct wv_proxy_stats sa, sb;
    settled_stats(f, &sa, &sb);
    assert_int_equal(sa.refused_target_denied, 3);
    assert_int_equal(sa.refused_unknown_app, 1);
    assert_int_equal(sb.remote_errors, 4);
    assert_int_equal(sa.total, 5);
    fx_free(f, true);
}

static void unix_app_reached_as_tcp_and_tcp_app_through_unix_socket(void **state) {
    fx *f = fx_new();
    char upath[128], lpath[128];
    snprintf(upath, sizeof(upath), "%s/echo.sock", f->dir);
    snprintf(lpath, sizeof(lpath), "%s/local.sock", f->dir);
    struct srv us = {0}, ts = {0};
    srv_start(f, &us, S_ECHO, upath);
    srv_start(f, &ts, S_ECHO, NULL);
    char *j = wv_asprintf("{\"mode\":\"single\",\"appSocket\":\"unix:%s\"}", upath);
    expose(f, "uecho", j);
    free(j);
    expose_tcp(f, "echo", ts.port);
    struct lsn lt = {0}, lu = {0};
    lsn_start(f, &lt, "uecho", NULL, NULL);
    lsn_start(f, &lu, "echo", NULL, lpath);
    tconn c1 = {.send_len = 2 * MIB, .send_seed = 3, .recv_seed = 3};
    tconn c2 = {.send_len = 2 * MIB, .send_seed = 4, .recv_seed = 4};
    t_connect(f, &c1, lt.port, NULL);
    t_connect(f, &c2, 0, lpath);
    RUN_UNTIL(f, c1.closed && c2.closed, 20000);
    assert_true(t_ok(&c1, 2 * MIB));
    assert_true(t_ok(&c2, 2 * MIB));
    assert_int_equal(us.accepted, 1);
    assert_int_equal(ts.accepted, 1);
    fx_free(f, true);
}

static void unreachable_app_gets_connect_refused(void **state) {
    fx *f = fx_new();
    /* A port nobody listens on: bind one, note it, close it. */
    struct srv gone = {0};
    srv_start(f, &gone, S_ECHO, NULL);
    int port = gone.port;
    uv_close(&gone.u.h, NULL);
    RUN_UNTIL(f, false, 10);
    expose_tcp(f, "dead", port);
    char *j = wv_asprintf("{\"mode\":\"single\",\"appSocket\":\"unix:%s/none.sock\"}", f->dir);
    expose(f, "deadunix", j);
    free(j);
    struct lsn l1 = {0}, l2 = {0};
    lsn_start(f, &l1, "dead", NULL, NULL);
    lsn_start(f, &l2, "deadunix", NULL, NULL);
    expect_refused(f, &l1);
    expect_refused(f, &l2);
    struct wv_proxy_stats sa;
    settled_stats(f, &sa, NULL);
    assert_int_equal(sa.refused_connect, 2);
    fx_free(f, true);
}

static void resets_travel_both_ways(void **state) {
    fx *f = fx_new();
    /* Client -> app: the client aborts while sending; the app sees RST. */
    struct srv sink = {.src_len = 0, .sink_seed = 8};
    srv_start(f, &sink, S_REPLY_AFTER_EOF, NULL);
    expose_tcp(f, "sink", sink.port);
    struct lsn l1 = {0};
    lsn_start(f, &l1, "sink", NULL, NULL);
    tconn c1 = {.send_len = 64 * MIB, .send_seed = 8};
    t_connect(f, &c1, l1.port, NULL);
    RUN_UNTIL(f, sink.last && sink.last->recvd >= MIB, 10000);
    assert_non_null(sink.last);
    c1.closing = true;
    assert_int_equal(uv_tcp_close_reset(&c1.u.tcp, t_handle_closed), 0);
    RUN_UNTIL(f, sink.closed == 1, 5000);
    assert_int_equal(sink.closed, 1);
    assert_int_equal(sink.resets, 1);

    /* App -> client: the app aborts while sending; the client sees RST. */
    struct srv src = {.src_len = 64 * MIB, .src_seed = 12};
    srv_start(f, &src, S_SOURCE, NULL);
    expose_tcp(f, "src", src.port);
    struct lsn l2 = {0};
    lsn_start(f, &l2, "src", NULL, NULL);
    tconn c2 = {.recv_seed = 12};
    t_connect(f, &c2, l2.port, NULL);
    RUN_UNTIL(f, c2.recvd >= MIB, 10000);
    assert_non_null(src.last);
    src.last->closing = true;
    assert_int_equal(uv_tcp_close_reset(&src.last->u.tcp, t_handle_closed), 0);
    RUN_UNTIL(f, c2.closed, 5000);
    assert_true(c2.closed);
    assert_true(c2.rx_err);
    assert_int_equal(c2.rx_errcode, UV_ECONNRESET);
    assert_false(c2.recv_bad);
    struct wv_proxy_stats sa, sb;
    settled_stats(f, &sa, &sb);
    assert_true(sa.aborted >= 2 && sb.aborted >= 2);
    fx_free(f, true);
}

static void closing_the_proxy_aborts_live_connections(void **state) {
    fx *f = fx_new();
    struct srv s = {.src_len = 64 * MIB, .src_seed = 1};
    srv_start(f, &s, S_SOURCE, NULL);
    expose_tcp(f, "src", s.port);
    struct lsn l = {0};
    lsn_start(f, &l, "src", NULL, NULL);
    tconn c[5];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < 5; i++) {
        c[i].recv_seed = 1;
        c[i].read_delay_ms = 60000; /* never reads */
        t_connect(f, &c[i], l.port, NULL);
    }
    RUN_UNTIL(f, f->ka->active == 5, 5000);
    assert_int_equal(f->ka->active, 5);
    close_proxies(f);
    assert_int_equal(f->ka->active, 0);
    assert_int_equal(f->kb->active, 0);
    RUN_UNTIL(f, s.closed == 5, 5000);
    assert_int_equal(s.closed, 5);
    for (int i = 0; i < 5; i++)
        t_close(&c[i]);
    RUN_UNTIL(f, c[0].closed && c[1].closed && c[2].closed && c[3].closed && c[4].closed, 5000);
    fx_free(f, false);
}

/* Plays the opener by hand: sends bytes (and FIN), returns the status code
 * the proxy answered ("ok" or the error code), then resets like a client. */
static void raw_exchange(fx *f, const void *bytes, size_t len, bool fin, char *code, size_t cap,
                         struct raw *r) {
    raw_open(f, r);
    if (len)
        assert_int_equal(wv_quic_stream_write(f->cb, r->sid, bytes, len, fin), (long)len);
    else if (fin)
        assert_int_equal(wv_quic_stream_shutdown_write(f->cb, r->sid), 0);
    RUN_UNTIL(f, r->fin || r->reset, 5000);
    size_t used = 0;
    json_t *o = NULL;
    assert_int_equal(wv_frame_parse(r->buf, r->len, &used, &o), 0);
    const char *c = NULL, *m = NULL;
    int rv = wv_status_parse(o, &c, &m);
    assert_true(rv == 0 || rv == WV_ERR_INVAL);
    snprintf(code, cap, "%s", rv == 0 ? "ok" : c);
    json_decref(o);
}

static void malformed_headers_get_bad_header(void **state) {
    fx *f = fx_new();
    struct srv s = {0};
    srv_start(f, &s, S_ECHO, NULL);
    expose_tcp(f, "echo", s.port);
    static const struct {
        const char *bytes;
        size_t len;
        bool fin;
    } cases[] = {
        {"\x00\x00", 2, false}, /* empty frame */
        {"\xff\xff", 2, false}, /* over 4096 */
        {"\x00\x03"
         "abc",
         5, false},                                                 /* not JSON */
        {"\x00\x03[1]", 5, false},                                  /* not an object */
        {"\x00\x14{\"app\":\"echo\",\"x\":1}", 22, false},          /* unknown field */
        {"\x00\x0e{\"app\":\"../x\"}", 16, false},                  /* invalid name */
        {"\x00\x1b{\"app\":\"echo\",\"target\":\"x\"}", 29, false}, /* target not IP:PORT */
        {"\x00\x1b{\"app\":\"echo\",\"app\":\"echo\"}", 29, false}, /* duplicate key */
        {"\x00\x10{\"ap", 6, true},                                 /* FIN inside the header */
        {"", 0, true},                                              /* FIN, no header */
    };
    for (size_t i = 0; i < WV_COUNTOF(cases); i++) {
        struct raw r;
        char code[64];
        raw_exchange(f, cases[i].bytes, cases[i].len, cases[i].fin, code, sizeof(code), &r);
        if (strcmp(code, WV_ERRC_BAD_HEADER) != 0)
            fail_msg("case %zu: got %s", i, code);
        wv_quic_stream_reset(f->cb, r.sid, WV_APPERR_ABORTED);
        RUN_UNTIL(f, r.closed, 3000);
        assert_true(r.closed);
    }
    assert_int_equal(s.accepted, 0);
    struct wv_proxy_stats sa;
    settled_stats(f, &sa, NULL);
    assert_int_equal(sa.refused_bad_header, WV_COUNTOF(cases));
    fx_free(f, true);
}

static void header_in_pieces_with_pipelined_payload(void **state) {
    fx *f = fx_new();
    struct srv s = {0};
    srv_start(f, &s, S_ECHO, NULL);
    expose_tcp(f, "echo", s.port);
    struct raw r;
    raw_open(f, &r);
    const char hdr[] = "\x00\x0e{\"app\":\"echo\"}";
    for (size_t i = 0; i < sizeof(hdr) - 1; i++) {
        assert_int_equal(wv_quic_stream_write(f->cb, r.sid, (const uint8_t *)hdr + i, 1, false), 1);
        for (int k = 0; k < 3; k++)
            uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(wv_quic_stream_write(f->cb, r.sid, (const uint8_t *)"hello", 5, true), 5);
    RUN_UNTIL(f, r.fin, 5000);
    assert_true(r.fin);
    size_t used = 0;
    json_t *o = NULL;
    assert_int_equal(wv_frame_parse(r.buf, r.len, &used, &o), 0);
    const char *c, *m;
    assert_int_equal(wv_status_parse(o, &c, &m), 0);
    json_decref(o);
    assert_int_equal(r.len - used, 5);
    assert_memory_equal(r.buf + used, "hello", 5);
    RUN_UNTIL(f, r.closed, 3000);
    assert_true(r.closed);
    fx_free(f, true);
}

static void silent_opener_times_out_with_bad_header(void **state) {
    fx *f = fx_new();
    struct raw r;
    char code[64];
    uint64_t t0 = uv_hrtime();
    raw_exchange(f, "\x00", 1, false, code, sizeof(code), &r);
    assert_string_equal(code, WV_ERRC_BAD_HEADER);
    assert_true(wvu_secs(t0) >= 1.9); /* connect_timeout_ms = 2000 */
    wv_quic_stream_reset(f->cb, r.sid, WV_APPERR_ABORTED);
    RUN_UNTIL(f, r.closed, 3000);
    assert_true(r.closed);
    fx_free(f, true);
}

static void bad_status_from_the_peer_closes_the_client(void **state) {
    fx *f = fx_new();
    struct lsn l = {0};
    lsn_start(f, &l, "echo", NULL, NULL);
    struct raw ra;
    f->raw_a = &ra;
    static const struct {
        const char *bytes;
        size_t len;
    } replies[] = {
        {"\x00\x05hello", 7},                   /* not JSON */
        {"\x00\x12{\"status\":\"weird\"}", 20}, /* unknown status */
        {"\x00\x12{\"status\":\"error\"}", 20}, /* error without code */
        {"", 0},                                /* FIN, no status */
        {"\x00\x2e{\"status\":\"error\",\"code\":\"x\",\"message\":\"a\\nb\"}", 48},
    };
    for (size_t i = 0; i < WV_COUNTOF(replies); i++) {
        f->raw_reply = (const uint8_t *)replies[i].bytes;
        f->raw_reply_len = replies[i].len;
        expect_refused(f, &l);
        RUN_UNTIL(f, ra.closed, 3000);
        /* The stream is gone (reset by the client side, or closed cleanly
         * when its FIN crossed our reply): its slot is back. */
        assert_true(ra.closed);
    }
    struct wv_proxy_stats sb;
    settled_stats(f, NULL, &sb);
    assert_int_equal(sb.remote_errors, WV_COUNTOF(replies));
    f->raw_a = NULL;
    fx_free(f, true);
}

static void never_accepting_app_gets_connect_timeout(void **state) {
    fx *f = fx_new();
    /* A listener with backlog 0 that never accepts: the kernel completes
     * one connection, then drops SYNs, so the next connect hangs. */
    uv_tcp_t full;
    struct sockaddr_in sin;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    uv_tcp_init(&f->loop, &full);
    assert_int_equal(uv_tcp_bind(&full, (struct sockaddr *)&sin, 0), 0);
    uv_os_fd_t fd;
    assert_int_equal(uv_fileno((uv_handle_t *)&full, &fd), 0);
    assert_int_equal(listen(fd, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&full, (struct sockaddr *)&ss, &len);
    expose_tcp(f, "stuck", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    const char hdr[] = "\x00\x0f{\"app\":\"stuck\"}";
    struct raw r1, r2;
    char code[64];
    raw_exchange(f, hdr, sizeof(hdr) - 1, false, code, sizeof(code), &r1);
    assert_string_equal(code, "ok");
    uint64_t t0 = uv_hrtime();
    raw_exchange(f, hdr, sizeof(hdr) - 1, false, code, sizeof(code), &r2);
    assert_string_equal(code, WV_ERRC_CONNECT_TIMEOUT);
    assert_true(wvu_secs(t0) >= 1.9);
    wv_quic_stream_reset(f->cb, r1.sid, WV_APPERR_ABORTED);
    wv_quic_stream_reset(f->cb, r2.sid, WV_APPERR_ABORTED);
    RUN_UNTIL(f, r1.closed && r2.closed, 3000);
    assert_true(r1.closed && r2.closed);
    struct wv_proxy_stats sa;
    settled_stats(f, &sa, NULL);
    assert_int_equal(sa.refused_timeout, 1);
    fx_free(f, true);
}

static void site_down_refuses_at_once_then_works(void **state) {
    struct srv s = {0};
    struct lsn l = {0};
    fx *f = echo_fixture(&s, &l);
    f->site_down = true;
    uint64_t t0 = uv_hrtime();
    expect_refused(f, &l);
    assert_true(wvu_secs(t0) < 1.0);
    f->site_down = false;
    tconn c = {.send_len = 5000, .send_seed = 2, .recv_seed = 2};
    t_connect(f, &c, l.port, NULL);
    RUN_UNTIL(f, c.closed, 5000);
    assert_true(t_ok(&c, 5000));
    /* Bad names are refused before any stream is opened. */
    uv_tcp_t *h = wv_malloc(sizeof(*h));
    uv_tcp_init(&f->loop, h);
    assert_int_equal(wv_proxy_connect(f->pb, (uv_stream_t *)h, "site-a", "r", "../bad", NULL, NULL),
                     WV_ERR_INVAL);
    struct wv_proxy_stats sb;
    settled_stats(f, NULL, &sb);
    assert_int_equal(sb.remote_errors, 1);
    assert_int_equal(sb.total, 2);
    fx_free(f, true);
}

static void random_headers_never_crash(void **state) {
    fx *f = fx_new();
    struct srv s = {0};
    srv_start(f, &s, S_ECHO, NULL);
    expose_tcp(f, "echo", s.port);
    enum { N = 100 };
    struct raw *r = calloc(N, sizeof(*r));
    uint8_t buf[600];
    for (int i = 0; i < N; i++) {
        size_t len = 1 + (size_t)(mix((uint64_t)i) % sizeof(buf));
        gen(4242 + (uint64_t)i, 0, buf, len);
        if (i % 2) /* a plausible length, so the body gets parsed */
            buf[0] = 0, buf[1] = (uint8_t)(len > 2 ? len - 2 : 1);
        raw_open(f, &r[i]);
        assert_int_equal(wv_quic_stream_write(f->cb, r[i].sid, buf, len, true), (long)len);
    }
    int done = 0;
    uint64_t t0 = uv_hrtime();
    while (done < N && wvu_secs(t0) < 10) {
        uv_run(&f->loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < N; i++)
            done += r[i].fin || r[i].reset;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        size_t used;
        json_t *o = NULL;
        assert_int_equal(wv_frame_parse(r[i].buf, r[i].len, &used, &o), 0);
        const char *code = NULL, *msg = NULL;
        assert_int_equal(wv_status_parse(o, &code, &msg), WV_ERR_INVAL);
        assert_true(strcmp(code, WV_ERRC_BAD_HEADER) == 0 ||
                    strcmp(code, WV_ERRC_UNKNOWN_APP) == 0);
        json_decref(o);
        wv_quic_stream_reset(f->cb, r[i].sid, WV_APPERR_ABORTED);
    }
    /* The raw handlers must outlive their streams' close events. */
    t0 = uv_hrtime();
    while (done > 0 && wvu_secs(t0) < 5) {
        uv_run(&f->loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < N; i++)
            done += !r[i].closed;
    }
    assert_int_equal(done, 0);
    free(r);
    fx_free(f, true);
}

/* What wv_proxy_each_conn saw of one side. */
struct listing {
    int n;
    struct wv_proxy_conn_info ci;
    char app[256], site[256], address[160];
};

static void list_one(const struct wv_proxy_conn_info *ci, void *arg) {
    struct listing *l = arg;
    l->n++;
    l->ci = *ci;
    snprintf(l->app, sizeof(l->app), "%s", ci->app);
    snprintf(l->site, sizeof(l->site), "%s", ci->site);
    snprintf(l->address, sizeof(l->address), "%s", ci->address ? ci->address : "(null)");
}

static bool listed(fx *f, struct listing *a, struct listing *b) {
    memset(a, 0, sizeof(*a));
    memset(b, 0, sizeof(*b));
    wv_proxy_each_conn(f->pa, list_one, a);
    wv_proxy_each_conn(f->pb, list_one, b);
    return a->n == 1 && b->n == 1 && a->ci.open && b->ci.open && a->ci.bytes_in == 100000 &&
           b->ci.bytes_out == 100000;
}

static void open_connections_are_listed_with_bytes_and_addresses(void **state) {
    struct srv s = {0};
    struct lsn l = {0};
    fx *f = echo_fixture(&s, &l);
    /* A client that sends 100000 bytes and reads nothing for 2 s: its
     * connection stays open while we look. */
    tconn c = {.send_len = 100000, .send_seed = 9, .recv_seed = 9, .read_delay_ms = 2000};
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    int64_t t0 = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    t_connect(f, &c, l.port, NULL);
    struct listing a, b;
    RUN_UNTIL(f, listed(f, &a, &b), 5000);
    assert_true(listed(f, &a, &b));
    /* Client side (B): the remote app, its site, the local client's address. */
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    assert_int_equal(uv_tcp_getsockname(&c.u.tcp, (struct sockaddr *)&ss, &len), 0);
    char want[WV_ADDR_STRLEN];
    wv_addr_format((struct sockaddr *)&ss, want);
    assert_false(b.ci.exposed);
    assert_string_equal(b.app, "echo");
    assert_string_equal(b.site, "site-a");
    assert_string_equal(b.address, want);
    assert_ptr_equal(b.ci.conn, f->cb);
    /* Exposed side (A): the app, the peer, the target it connected to. */
    char target[32];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    assert_true(a.ci.exposed);
    assert_string_equal(a.app, "echo");
    assert_string_equal(a.site, "b");
    assert_string_equal(a.address, target);
    assert_ptr_equal(a.ci.conn, f->ca);
    assert_true(a.ci.id > 0 && b.ci.id > 0);
    assert_true(a.ci.started_ms >= t0 - 1000 && a.ci.started_ms <= t0 + 5000);
    assert_true(b.ci.started_ms >= t0 - 1000 && b.ci.started_ms <= t0 + 5000);
    RUN_UNTIL(f, c.closed, 10000);
    assert_true(t_ok(&c, 100000));
    settled_stats(f, NULL, NULL);
    listed(f, &a, &b);
    assert_int_equal(a.n, 0);
    assert_int_equal(b.n, 0);
    fx_free(f, true);
}

int main(void) {
    /* As the agent does: a peer's reset must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sixty_four_mib_each_way_hashes_match),
        cmocka_unit_test(echo_app_returns_64_mib_intact),
        cmocka_unit_test(two_hundred_parallel_echo_connections),
        cmocka_unit_test(ten_thousand_short_connections_in_a_row),
        cmocka_unit_test(half_closed_client_still_gets_full_reply),
        cmocka_unit_test(slow_reader_keeps_proxy_memory_bounded),
        cmocka_unit_test(range_app_checks_target_and_unknown_app_is_refused),
        cmocka_unit_test(unix_app_reached_as_tcp_and_tcp_app_through_unix_socket),
        cmocka_unit_test(unreachable_app_gets_connect_refused),
        cmocka_unit_test(resets_travel_both_ways),
        cmocka_unit_test(closing_the_proxy_aborts_live_connections),
        cmocka_unit_test(malformed_headers_get_bad_header),
        cmocka_unit_test(header_in_pieces_with_pipelined_payload),
        cmocka_unit_test(silent_opener_times_out_with_bad_header),
        cmocka_unit_test(bad_status_from_the_peer_closes_the_client),
        cmocka_unit_test(never_accepting_app_gets_connect_timeout),
        cmocka_unit_test(site_down_refuses_at_once_then_works),
        cmocka_unit_test(random_headers_never_crash),
        cmocka_unit_test(open_connections_are_listed_with_bytes_and_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
