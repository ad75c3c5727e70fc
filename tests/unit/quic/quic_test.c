/* QUIC transport, in process: two endpoints on one loop over loopback. */
#include "quic_fx.h"

static void handshake_with_pin_exposes_fingerprints(void **state) {
    fx *f = fx_new("127.0.0.1", NULL);
    connect_pair(f);
    assert_memory_equal(wv_quic_conn_peer_fingerprint(f->b.conn), wv_identity_fingerprint(f->q.ida),
                        WV_FINGERPRINT_LEN);
    assert_memory_equal(wv_quic_conn_peer_fingerprint(f->a.conn), wv_identity_fingerprint(f->q.idb),
                        WV_FINGERPRINT_LEN);
    assert_true(wv_quic_conn_is_server(f->a.conn));
    assert_false(wv_quic_conn_is_server(f->b.conn));

    uint8_t ea[32], eb[32], other[32];
    assert_int_equal(wv_quic_conn_exporter(f->a.conn, "EXPORTER-wovenet-test", (const uint8_t *)"x",
                                           1, ea, sizeof(ea)),
                     0);
    assert_int_equal(wv_quic_conn_exporter(f->b.conn, "EXPORTER-wovenet-test", (const uint8_t *)"x",
                                           1, eb, sizeof(eb)),
                     0);
    assert_memory_equal(ea, eb, sizeof(ea));
    assert_int_equal(wv_quic_conn_exporter(f->b.conn, "EXPORTER-wovenet-other",
                                           (const uint8_t *)"x", 1, other, sizeof(other)),
                     0);
    assert_memory_not_equal(ea, other, sizeof(ea));

    wv_quic_conn_stats st;
    wv_quic_conn_stats_get(f->b.conn, &st);
    assert_true(st.smoothed_rtt_ns > 0);
    assert_true(st.bytes_sent > 0 && st.bytes_recv > 0);
    assert_int_equal(st.remote.ss_family, AF_INET);

    /* A clean close reaches the other side with code 0. */
    wv_quic_conn_close(f->b.conn, 0);
    RUN_UNTIL(f, f->a.closed && f->b.closed, 3000);
    assert_int_equal(f->b.closed, 1);
    assert_int_equal(f->b.close.err, 0);
    assert_int_equal(f->a.closed, 1);
    assert_int_equal(f->a.close.err, 0);
    assert_true(f->a.close.remote);
    fx_free(f);
}

static void wrong_pin_fails_with_crypto_error(void **state) {
    fx *f = fx_new("127.0.0.1", NULL);
    uint8_t pin[WV_FINGERPRINT_LEN];
    memcpy(pin, wv_identity_fingerprint(f->q.ida), sizeof(pin));
    pin[0] ^= 1;
    dial(f, pin);
    RUN_UNTIL(f, f->b.closed && f->a.closed, 3000);
    assert_int_equal(f->b.hs, 0);
    assert_int_equal(f->a.hs, 0);
    assert_int_equal(f->b.closed, 1);
    assert_int_equal(f->b.close.err, WV_ERR_CRYPTO);
    /* The server learns it from the client's alert. */
    assert_int_equal(f->a.closed, 1);
    assert_int_equal(f->a.close.err, WV_ERR_CRYPTO);
    fx_free(f);
}

static void ipv6_loopback_works(void **state) {
    fx *f = fx_new("::1", NULL);
    f->b.open_on_hs = true;
    connect_pair(f);
    RUN_UNTIL(f, f->a.rfin, 2000);
    assert_int_equal(f->a.rlen, 2);
    assert_memory_equal(f->a.rbuf, "hi", 2);
    wv_quic_conn_stats st;
    wv_quic_conn_stats_get(f->a.conn, &st);
    assert_int_equal(st.remote.ss_family, AF_INET6);
    fx_free(f);
}

static void echo_8mib_round_trip_intact(void **state) {
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    /* Small windows so that flow control is exercised all the way. */
    cfg.stream_window = 256 * 1024;
    cfg.conn_window = 512 * 1024;
    cfg.max_udp_payload = 1452;
    fx *f = fx_new("127.0.0.1", &cfg);
    connect_pair(f);
    size_t len = 8u << 20;
    uint8_t *data = start_echo(f, len);
    /* The sender may queue no more than the peer's stream window. */
    assert_true(f->b.soff <= cfg.stream_window);
    RUN_UNTIL(f, f->b.rfin, 20000);
    assert_true(f->b.rfin);
    assert_int_equal(f->b.rlen, len);
    assert_memory_equal(f->b.rbuf, data, len);
    assert_true(f->b.writables > 0);
    assert_int_equal(f->a.stream_opens, 1);
    RUN_UNTIL(f, f->a.stream_closes == 1 && f->b.stream_closes == 1, 3000);
    assert_int_equal(f->a.stream_closes, 1);
    assert_int_equal(f->b.stream_closes, 1);
    free(data);
    fx_free(f);
}

/* A peer at one of this host's addresses gets loopback-sized datagrams
 * (capped by the loopback route's MTU); the bytes still arrive intact. */
static void local_peer_gets_local_payload(const char *ip, size_t want) {
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.stream_window = 256 * 1024;
    cfg.conn_window = 512 * 1024;
    cfg.local_udp_payload = 65527;
    fx *f = fx_new(ip, &cfg);
    connect_pair(f);
    size_t len = 4u << 20;
    uint8_t *data = start_echo(f, len);
    RUN_UNTIL(f, f->b.rfin, 20000);
    assert_int_equal(f->b.rlen, len);
    assert_memory_equal(f->b.rbuf, data, len);
    wv_quic_conn_stats sa, sb;
    wv_quic_conn_stats_get(f->a.conn, &sa);
    wv_quic_conn_stats_get(f->b.conn, &sb);
    assert_int_equal(sa.max_udp_payload, want);
    assert_int_equal(sb.max_udp_payload, want);
    /* Far fewer packets than 1452-byte ones would take (8 MiB moved). */
    assert_true(sb.pkts_sent + sa.pkts_sent < (2 * len) / 4000);
    free(data);
    fx_free(f);
}

static void local_ipv4_peer_uses_route_mtu(void **state) {
    /* The route MTU the kernel reports for lo is capped at the largest
     * IPv4 datagram, 65535: less 20 + 8 header bytes. */
    local_peer_gets_local_payload("127.0.0.1", 65507);
}

static void local_ipv6_peer_uses_route_mtu(void **state) {
    local_peer_gets_local_payload("::1", 65536 - 40 - 8);
}

/* Which sizes PMTUD probes (the route guess it replaces had its own rule
 * here): the configured list up to the ceiling, in order, and the
 * ceiling itself last; above 1452, max_udp_payload is exact. */
static void pmtud_probe_rule(void **state) {
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    uint16_t p[WV_QUIC__MAX_PROBES];
    size_t n;
    /* Default: sizes up to 1452 only, the largest first. */
    assert_int_equal(wv_quic__pmtud_probes(&cfg, p, &n), 1452);
    assert_int_equal(n, 5);
    assert_int_equal(p[0], 1452);
    assert_int_equal(p[4], 1232);
    /* With room above: jumbo frames, then the ceiling. */
    cfg.local_udp_payload = 32000;
    assert_int_equal(wv_quic__pmtud_probes(&cfg, p, &n), 32000);
    assert_int_equal(n, 7);
    assert_int_equal(p[5], 8952);
    assert_int_equal(p[6], 32000);
    /* A ceiling between the list's sizes is tried after them. */
    cfg.local_udp_payload = 16000;
    assert_int_equal(wv_quic__pmtud_probes(&cfg, p, &n), 16000);
    assert_int_equal(n, 7);
    assert_int_equal(p[6], 16000);
    /* The loopback sizes, then the largest QUIC allows. */
    cfg.local_udp_payload = 65527;
    assert_int_equal(wv_quic__pmtud_probes(&cfg, p, &n), 65527);
    assert_int_equal(n, 10);
    assert_int_equal(p[7], 65488);
    assert_int_equal(p[8], 65507);
    assert_int_equal(p[9], 65527);
    /* A configured list replaces the default one. */
    cfg.pmtud_probes[0] = 4000;
    cfg.pmtud_probes[1] = 9000;
    cfg.local_udp_payload = 9000;
    assert_int_equal(wv_quic__pmtud_probes(&cfg, p, &n), 9000);
    assert_int_equal(n, 2);
    assert_int_equal(p[0], 4000);
    assert_int_equal(p[1], 9000);
    memset(cfg.pmtud_probes, 0, sizeof(cfg.pmtud_probes));
    /* Above 1452, max_udp_payload is exact: no probing, whatever else is
     * configured (local_udp_payload below it included). */
    cfg.max_udp_payload = 9000;
    cfg.local_udp_payload = 4000;
    assert_int_equal(wv_quic__pmtud_probes(&cfg, p, &n), 9000);
    assert_int_equal(n, 0);
    /* Out of range is refused at endpoint creation. */
    wv_identity *id;
    wv_quic_endpoint *ep = NULL;
    uv_loop_t loop;
    uv_loop_init(&loop);
    assert_int_equal(wv_identity_generate("x", &id), 0);
    cfg.local_udp_payload = 70000;
    assert_int_equal(wv_quic_endpoint_new(&loop, &cfg, id, NULL, NULL, NULL, &ep), WV_ERR_INVAL);
    cfg.local_udp_payload = 1000;
    assert_int_equal(wv_quic_endpoint_new(&loop, &cfg, id, NULL, NULL, NULL, &ep), WV_ERR_INVAL);
    cfg.local_udp_payload = 0;
    cfg.pmtud_probes[0] = 1200; /* probes must be larger than QUIC's minimum */
    assert_int_equal(wv_quic_endpoint_new(&loop, &cfg, id, NULL, NULL, NULL, &ep), WV_ERR_INVAL);
    assert_null(ep);
    wv_identity_free(id);
    uv_loop_close(&loop);
}

static void receiver_that_does_not_consume_stalls_sender_at_window(void **state) {
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.stream_window = 64 * 1024;
    cfg.conn_window = 1024 * 1024;
    fx *f = fx_new("127.0.0.1", &cfg);
    connect_pair(f);
    size_t len = 1u << 20;
    uint8_t *data = start_send(f, len);
    RUN_UNTIL(f, f->a.rlen == cfg.stream_window, 3000);
    /* Let it try for a while: nothing more may arrive or be accepted. */
    RUN_UNTIL(f, false, 200);
    assert_int_equal(f->a.rlen, cfg.stream_window);
    assert_int_equal(f->b.soff, cfg.stream_window);
    assert_int_equal(f->a.unconsumed, cfg.stream_window);
    /* Consuming opens the window and the rest flows. */
    f->a.consume = true;
    assert_int_equal(wv_quic_stream_consumed(f->a.conn, f->a.sid, f->a.unconsumed), 0);
    f->a.unconsumed = 0;
    RUN_UNTIL(f, f->a.rfin, 5000);
    assert_int_equal(f->a.rlen, len);
    assert_memory_equal(f->a.rbuf, data, len);
    free(data);
    fx_free(f);
}

/* Receive-window auto-tuning (quic.h): the rule itself. */
static void window_rule_doubles_only_when_drained_within_four_rtts(void **state) {
    const uint64_t ms = 1000000, k = 1024, m = 1024 * 1024;
    /* A whole window consumed in 30 ms or 80 ms on a 20 ms path: it doubles. */
    assert_int_equal(wv_quic__window_next(256 * k, 16 * m, 30 * ms, 20 * ms), 512 * k);
    assert_int_equal(wv_quic__window_next(256 * k, 16 * m, 80 * ms, 20 * ms), 512 * k);
    /* In 82 ms (more than 4 RTT + 1 ms): the reader, not the window, limits. */
    assert_int_equal(wv_quic__window_next(256 * k, 16 * m, 82 * ms, 20 * ms), 256 * k);
    /* Never beyond the cap; no cap (0) or one below: no growth. */
    assert_int_equal(wv_quic__window_next(12 * m, 16 * m, 1 * ms, 20 * ms), 16 * m);
    assert_int_equal(wv_quic__window_next(16 * m, 16 * m, 1 * ms, 20 * ms), 16 * m);
    assert_int_equal(wv_quic__window_next(256 * k, 0, 0, 20 * ms), 256 * k);
    assert_int_equal(wv_quic__window_next(256 * k, 128 * k, 0, 20 * ms), 256 * k);
    /* Before an RTT sample is worth anything, the slack still applies. */
    assert_int_equal(wv_quic__window_next(64 * k, m, ms / 2, 0), 128 * k);
}

/* The rate rule: at least 4 times what the app consumed per round trip. */
static void window_rule_grows_to_four_times_the_consumed_rate(void **state) {
    const uint64_t ms = 1000000, k = 1024, m = 1024 * 1024;
    /* 128 KiB consumed in one 200 ms round trip: 512 KiB. */
    assert_int_equal(wv_quic__window_rate(256 * k, 32 * m, 128 * k, 200 * ms, 200 * ms), 512 * k);
    /* The same bytes over two round trips: 256 KiB, no growth. */
    assert_int_equal(wv_quic__window_rate(256 * k, 32 * m, 128 * k, 400 * ms, 200 * ms), 256 * k);
    /* A stalled reader (nothing consumed) never grows; nor past the cap. */
    assert_int_equal(wv_quic__window_rate(256 * k, 32 * m, 0, 200 * ms, 200 * ms), 256 * k);
    assert_int_equal(wv_quic__window_rate(256 * k, 32 * m, 16 * m, 200 * ms, 200 * ms), 32 * m);
    assert_int_equal(wv_quic__window_rate(32 * m, 32 * m, 16 * m, 200 * ms, 200 * ms), 32 * m);
    assert_int_equal(wv_quic__window_rate(256 * k, 32 * m, 64 * m, 200 * ms, 200 * ms), 32 * m);
    assert_int_equal(wv_quic__window_rate(256 * k, 32 * m, 128 * k, 0, 200 * ms), 256 * k);
}

static uint64_t rx_window(wv_quic_conn *c) {
    wv_quic_conn_stats st;
    wv_quic_conn_stats_get(c, &st);
    return st.rx_window;
}

static void autotuned(wv_quic_config *cfg, wv_quic_budget *b) {
    wv_quic_config_default(cfg);
    cfg->stream_window = 64 * 1024;
    cfg->stream_window_max = 4u << 20;
    cfg->conn_window = 128 * 1024;
    cfg->conn_window_max = 8u << 20;
    cfg->budget = b;
}

/* With auto-tuning on, a stream whose reader consumes nothing gets exactly
 * its initial window and no more: growth only goes out with the credit of
 * consumed bytes. */
static void stalled_reader_window_never_grows(void **state) {
    wv_quic_budget *b = wv_quic_budget_new(0);
    wv_quic_config cfg;
    autotuned(&cfg, b);
    fx *f = fx_new("127.0.0.1", &cfg);
    connect_pair(f);
    size_t len = 4u << 20;
    uint8_t *data = start_send(f, len);
    RUN_UNTIL(f, f->a.rlen == cfg.stream_window, 3000);
    RUN_UNTIL(f, false, 300);
    assert_int_equal(f->a.rlen, cfg.stream_window);
    assert_int_equal(f->b.soff, cfg.stream_window);
    wv_quic_budget_stats bs;
    wv_quic_budget_get_stats(b, &bs);
    /* Two connections (one per side), each at its initial window. */
    assert_int_equal(bs.conns, 2);
    assert_int_equal(bs.used, 2 * cfg.conn_window);
    assert_int_equal(rx_window(f->b.conn), cfg.conn_window);
    /* Once the reader catches up the rest flows. */
    f->a.consume = true;
    assert_int_equal(wv_quic_stream_consumed(f->a.conn, f->a.sid, f->a.unconsumed), 0);
    f->a.unconsumed = 0;
    RUN_UNTIL(f, f->a.rfin, 10000);
    assert_int_equal(f->a.rlen, len);
    assert_memory_equal(f->a.rbuf, data, len);
    free(data);
    fx_free(f);
    wv_quic_budget_get_stats(b, &bs);
    assert_int_equal(bs.conns, 0);
    assert_int_equal(bs.used, 0);
    wv_quic_budget_free(b);
}

/* A reader that keeps up grows the windows, and the budget stops the
 * connection windows where it is used; closing gives the budget back. */
static void fast_reader_windows_grow_within_budget(void **state) {
    wv_quic_config cfg;
    autotuned(&cfg, NULL);
    uint64_t limit = 2 * cfg.conn_window + (512u << 10);
    wv_quic_budget *b = wv_quic_budget_new(limit);
    cfg.budget = b;
    fx *f = fx_new("127.0.0.1", &cfg);
    connect_pair(f);
    f->a.consume = true;
    size_t len = 48u << 20;
    uint8_t *data = start_send(f, len);
    RUN_UNTIL(f, f->a.rfin, 30000);
    assert_int_equal(f->a.rlen, len);
    assert_memory_equal(f->a.rbuf, data, len);
    /* a received: its connection's window grew, within the budget. */
    uint64_t w = rx_window(f->a.conn);
    wv_quic_budget_stats bs;
    wv_quic_budget_get_stats(b, &bs);
    printf("  a's receive window %llu KiB; budget used %llu of %llu KiB, %llu refused\n",
           (unsigned long long)w >> 10, (unsigned long long)bs.used >> 10,
           (unsigned long long)limit >> 10, (unsigned long long)bs.refused);
    assert_true(w > cfg.conn_window);
    assert_true(bs.used <= limit);
    assert_int_equal(bs.used, w + rx_window(f->b.conn));
    assert_true(bs.refused > 0);
    free(data);
    fx_free(f);
    wv_quic_budget_get_stats(b, &bs);
    assert_int_equal(bs.conns, 0);
    assert_int_equal(bs.used, 0);
    assert_true(bs.peak <= limit);
    wv_quic_budget_free(b);
}

static void two_thousand_sequential_streams_reuse_slots(void **state) {
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.max_streams_bidi = 16;
    fx *f = fx_new("127.0.0.1", &cfg);
    connect_pair(f);
    f->a.ping_pong = f->b.ping_pong = true;
    f->b.streams_target = 2000;
    /* Open until the peer's limit bites, then one per finished stream. */
    while (open_next(&f->b, f->b.conn))
        ;
    assert_int_equal(f->b.streams_opened, 16);
    RUN_UNTIL(f, f->b.streams_done == 2000, 20000);
    assert_int_equal(f->b.streams_done, 2000);
    assert_true(f->b.avail > 0); /* the limit was hit and lifted */
    RUN_UNTIL(f, f->a.stream_closes == 2000 && f->b.stream_closes == 2000, 3000);
    assert_int_equal(f->a.stream_opens, 2000);
    assert_int_equal(f->a.stream_closes, 2000);
    assert_int_equal(f->b.stream_closes, 2000);
    fx_free(f);
}

static void idle_timeout_closes_conn_whose_peer_vanished(void **state) {
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.idle_timeout_ms = 1000;
    cfg.keepalive_ms = 300;
    fx *f = fx_new("127.0.0.1", &cfg);
    connect_pair(f);
    /* Keep-alive holds an idle but healthy connection open. */
    RUN_UNTIL(f, false, 1500);
    assert_int_equal(f->b.closed, 0);
    wv_quic_endpoint_close(f->q.a, qpair_ep_closed, &f->q);
    f->q.a = NULL;
    uint64_t t0 = uv_hrtime();
    RUN_UNTIL(f, f->b.closed, 4000);
    assert_int_equal(f->b.closed, 1);
    assert_int_equal(f->b.close.err, WV_ERR_CLOSED);
    assert_string_equal(f->b.close.what, "idle timeout");
    uint64_t ms = (f->b.close_ns - t0) / 1000000;
    assert_true(ms <= 1500);
    assert_int_equal(f->q.ep_closed, 1);
    f->q.ep_closed = 0;
    fx_free(f);
}

/* A connected pair and one stream of b's on which a received "abc". */
static fx *fx_with_stream(int64_t *sid) {
    fx *f = fx_new("127.0.0.1", NULL);
    connect_pair(f);
    assert_int_equal(wv_quic_stream_open(f->b.conn, sid), 0);
    assert_int_equal(wv_quic_stream_write(f->b.conn, *sid, (const uint8_t *)"abc", 3, false), 3);
    RUN_UNTIL(f, f->a.rlen == 3, 2000);
    assert_int_equal(f->a.rlen, 3);
    return f;
}

static void stream_reset_reaches_peer(void **state) {
    int64_t sid;
    fx *f = fx_with_stream(&sid);
    assert_int_equal(wv_quic_stream_reset(f->b.conn, sid, 7), 0);
    RUN_UNTIL(f, f->a.resets == 1 && f->b.stream_closes == 1, 2000);
    assert_int_equal(f->a.resets, 1);
    assert_int_equal(f->b.stream_closes, 1);
    assert_int_equal(wv_quic_stream_write(f->b.conn, sid, (const uint8_t *)"x", 1, false),
                     WV_ERR_NOTFOUND);
    /* b's reset shuts both directions (RESET_STREAM and STOP_SENDING): a's
     * ngtcp2 answers the STOP_SENDING with its own RESET_STREAM, and once b
     * acknowledged that, a's stream is gone - possibly already here. */
    int rc = wv_quic_stream_reset(f->a.conn, f->a.sid, 8);
    assert_true(rc == 0 || rc == WV_ERR_NOTFOUND);
    RUN_UNTIL(f, f->a.stream_closes == 1, 2000);
    assert_int_equal(f->a.stream_closes, 1);
    /* Unknown streams and over-consumption are refused. */
    assert_int_equal(wv_quic_stream_consumed(f->a.conn, 999, 1), WV_ERR_NOTFOUND);
    fx_free(f);
}

static void open_streams_end_with_conn(void **state) {
    int64_t sid;
    fx *f = fx_with_stream(&sid);
    assert_int_equal(wv_quic_stream_consumed(f->a.conn, f->a.sid, 4), WV_ERR_INVAL);
    wv_quic_conn_close(f->a.conn, 42);
    RUN_UNTIL(f, f->a.closed && f->b.closed, 2000);
    assert_int_equal(f->a.stream_closes, 1);
    assert_int_equal(f->b.stream_closes, 1);
    assert_int_equal(f->b.close.err, WV_ERR_CLOSED);
    assert_true(f->b.close.app_code);
    assert_int_equal(f->b.close.code, 42);
    fx_free(f);
}

/* Regression: a stream reset before any of its data left used to hang. The
 * RESET_STREAM reached the peer first, the peer (not having the stream yet)
 * forgot it and ignored the STOP_SENDING, and our read side never ended. */
static void reset_of_unsent_stream_closes_on_both_sides(void **state) {
    fx *f = fx_new("127.0.0.1", NULL);
    connect_pair(f);
    for (int i = 0; i < 5; i++) {
        int64_t sid;
        assert_int_equal(wv_quic_stream_open(f->b.conn, &sid), 0);
        assert_int_equal(wv_quic_stream_write(f->b.conn, sid, (const uint8_t *)"abc", 3, false), 3);
        assert_int_equal(wv_quic_stream_reset(f->b.conn, sid, 7), 0);
    }
    RUN_UNTIL(f, f->b.stream_closes == 5 && f->a.stream_closes == f->a.stream_opens, 2000);
    assert_int_equal(f->b.stream_closes, 5);
    assert_int_equal(f->a.stream_closes, f->a.stream_opens);
    fx_free(f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(handshake_with_pin_exposes_fingerprints),
    cmocka_unit_test(wrong_pin_fails_with_crypto_error),
    cmocka_unit_test(ipv6_loopback_works),
    cmocka_unit_test(echo_8mib_round_trip_intact),
    cmocka_unit_test(local_ipv4_peer_uses_route_mtu),
    cmocka_unit_test(local_ipv6_peer_uses_route_mtu),
    cmocka_unit_test(pmtud_probe_rule),
    cmocka_unit_test(receiver_that_does_not_consume_stalls_sender_at_window),
    cmocka_unit_test(window_rule_doubles_only_when_drained_within_four_rtts),
    cmocka_unit_test(window_rule_grows_to_four_times_the_consumed_rate),
    cmocka_unit_test(stalled_reader_window_never_grows),
    cmocka_unit_test(fast_reader_windows_grow_within_budget),
    cmocka_unit_test(two_thousand_sequential_streams_reuse_slots),
    cmocka_unit_test(idle_timeout_closes_conn_whose_peer_vanished),
    cmocka_unit_test(stream_reset_reaches_peer),
    cmocka_unit_test(reset_of_unsent_stream_closes_on_both_sides),
    cmocka_unit_test(open_streams_end_with_conn),
};
WVU_MAIN(tests)
