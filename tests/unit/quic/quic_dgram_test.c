/* DATAGRAM frames and virtual endpoints (issue 20): the QUIC pieces of a
 * relay. A QUIC connection between two virtual endpoints, whose every
 * packet travels inside DATAGRAM frames of an ordinary connection a <-> b,
 * completes its handshake (pinned end to end) and carries a stream intact. */
#include "quic_pair.h"

#include <gnutls/crypto.h>
#include <stdlib.h>

typedef struct world {
    uv_loop_t loop;
    qpair p;
    wv_quic_conn *outer_a, *outer_b; /* a's (server) and b's (client) view */
    int outer_up;
    wv_quic_endpoint *va, *vb; /* virtual: "behind" a and b */
    struct sockaddr_storage fake_a, fake_b;
    wv_quic_conn *inner_b, *inner_a; /* vb dials va */
    int inner_up, got_dgram;
    size_t dgram_len;
    uint8_t *rx;
    size_t rxlen;
    bool rx_fin;
    int vclosed;
} world;

static world *W;

static void fake(struct sockaddr_storage *ss, int n) {
    char ip[32];
    snprintf(ip, sizeof ip, "100::%d", n);
    assert_int_equal(uv_ip6_addr(ip, 443, (struct sockaddr_in6 *)ss), 0);
}

/* Outer endpoints a and b: a datagram from b carries vb's packets to va and
 * the other way round; the first byte says which way (1: to va). */
static void outer_accept(wv_quic_endpoint *ep, wv_quic_conn *c, void *u) {
    W->outer_a = c;
}
static void outer_hs(wv_quic_conn *c, void *u) {
    W->outer_up++;
}
static void outer_dgram(wv_quic_conn *c, const uint8_t *d, size_t len, void *u) {
    W->got_dgram++;
    W->dgram_len = len;
    if (len > 1 && d[0] == 1)
        wv_quic_endpoint_input(W->va, (struct sockaddr *)&W->fake_b, d + 1, len - 1);
    else if (len > 1 && d[0] == 2)
        wv_quic_endpoint_input(W->vb, (struct sockaddr *)&W->fake_a, d + 1, len - 1);
}

static void vsend(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *d, size_t len,
                  void *u) {
    uint8_t dir = ep == W->vb ? 1 : 2;
    wv_quic_conn *c = ep == W->vb ? W->outer_b : W->outer_a;
    wv_quic_conn_send_datagram(c, &dir, 1, d, len);
}

static void inner_accept(wv_quic_endpoint *ep, wv_quic_conn *c, void *u) {
    W->inner_a = c;
}
static void inner_hs(wv_quic_conn *c, void *u) {
    W->inner_up++;
}
static void inner_data(wv_quic_conn *c, int64_t sid, const uint8_t *d, size_t len, bool fin,
                       void *u) {
    W->rx = realloc(W->rx, W->rxlen + len + 1);
    memcpy(W->rx + W->rxlen, d, len);
    W->rxlen += len;
    W->rx_fin |= fin;
    wv_quic_stream_consumed(c, sid, len);
}
static void vclosed(void *arg) {
    W->vclosed++;
}

static void relayed_connection_is_end_to_end(void **state) {
    world w = {0};
    W = &w;
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.datagrams = true;
    wv_quic_callbacks ocb = {
        .on_accept = outer_accept, .on_handshake_done = outer_hs, .on_datagram = outer_dgram};
    qpair_init(&w.p, &w.loop, &cfg, NULL, &ocb, NULL, NULL, "127.0.0.1", "127.0.0.1");
    w.outer_b = qpair_dial(&w.p, NULL, NULL);
    RUN_UNTIL(&w, w.outer_up == 2, 5000);
    assert_int_equal(w.outer_up, 2);
    /* PMTUD may still be at 1200 bytes: wait until a 1200-byte inner
     * packet (plus our byte) fits a frame. */
    RUN_UNTIL(&w,
              wv_quic_conn_datagram_max(w.outer_b) >= 1201 &&
                  wv_quic_conn_datagram_max(w.outer_a) >= 1201,
              5000);
    assert_true(wv_quic_conn_datagram_max(w.outer_b) >= 1201);

    /* One datagram each way, one too big. */
    uint8_t x[3] = {9, 8, 7};
    assert_int_equal(wv_quic_conn_send_datagram(w.outer_b, NULL, 0, x, sizeof x), 0);
    RUN_UNTIL(&w, w.got_dgram == 1, 3000);
    assert_int_equal(w.got_dgram, 1);
    assert_int_equal(w.dgram_len, 3);
    size_t big = wv_quic_conn_datagram_max(w.outer_b) + 1;
    uint8_t *bigbuf = calloc(1, big);
    assert_int_equal(wv_quic_conn_send_datagram(w.outer_b, NULL, 0, bigbuf, big), WV_ERR_TOOBIG);
    free(bigbuf);

    /* Two virtual endpoints; vb dials va through the outer connection. */
    wv_quic_config vc;
    wv_quic_config_default(&vc);
    vc.max_udp_payload = 1200;
    wv_quic_callbacks icb = {
        .on_accept = inner_accept, .on_handshake_done = inner_hs, .on_stream_data = inner_data};
    fake(&w.fake_a, 1);
    fake(&w.fake_b, 2);
    vc.accept = true;
    assert_int_equal(wv_quic_endpoint_new(&w.loop, &vc, w.p.ida, NULL, &icb, NULL, &w.va), 0);
    vc.accept = false;
    assert_int_equal(wv_quic_endpoint_new(&w.loop, &vc, w.p.idb, NULL, &icb, NULL, &w.vb), 0);
    assert_int_equal(wv_quic_endpoint_bind_virtual(w.va, (struct sockaddr *)&w.fake_a, vsend, NULL),
                     0);
    assert_int_equal(wv_quic_endpoint_bind_virtual(w.vb, (struct sockaddr *)&w.fake_b, vsend, NULL),
                     0);
    assert_int_equal(wv_quic_endpoint_bind_virtual(w.vb, (struct sockaddr *)&w.fake_b, vsend, NULL),
                     WV_ERR_INVAL);
    assert_int_equal(wv_quic_dial(w.vb, (struct sockaddr *)&w.fake_a,
                                  wv_identity_fingerprint(w.p.ida), &w.inner_b),
                     0);
    RUN_UNTIL(&w, w.inner_up == 2, 5000);
    assert_int_equal(w.inner_up, 2);
    /* The inner handshake saw the other end's own certificate. */
    assert_memory_equal(wv_quic_conn_peer_fingerprint(w.inner_a), wv_identity_fingerprint(w.p.idb),
                        WV_FINGERPRINT_LEN);

    size_t total = 1 << 20;
    uint8_t *blob = malloc(total);
    gnutls_rnd(GNUTLS_RND_NONCE, blob, total);
    int64_t sid;
    assert_int_equal(wv_quic_stream_open(w.inner_b, &sid), 0);
    size_t off = 0;
    uint64_t t0 = uv_hrtime();
    while (!w.rx_fin && wvu_secs(t0) < 20) {
        if (off < total) {
            long n = wv_quic_stream_write(w.inner_b, sid, blob + off, total - off, true);
            if (n > 0)
                off += (size_t)n;
        }
        uv_run(&w.loop, UV_RUN_ONCE);
    }
    assert_true(w.rx_fin);
    assert_int_equal(w.rxlen, total);
    assert_memory_equal(w.rx, blob, total);
    wv_quic_conn_stats st;
    wv_quic_conn_stats_get(w.outer_b, &st);
    assert_true(st.dgrams_sent > total / 1300);
    free(blob);
    free(w.rx);

    wv_quic_endpoint_close(w.va, vclosed, NULL);
    wv_quic_endpoint_close(w.vb, vclosed, NULL);
    RUN_UNTIL(&w, w.vclosed == 2, 3000);
    assert_int_equal(w.vclosed, 2);
    qpair_dispose(&w.p);
}

/* A peer that offers no DATAGRAM support gets none. */
static void no_datagrams_without_the_peer(void **state) {
    world w = {0};
    W = &w;
    wv_quic_config cfg;
    wv_quic_config_default(&cfg); /* datagrams off on both */
    wv_quic_callbacks ocb = {.on_accept = outer_accept, .on_handshake_done = outer_hs};
    qpair_init(&w.p, &w.loop, &cfg, NULL, &ocb, NULL, NULL, "127.0.0.1", "127.0.0.1");
    w.outer_b = qpair_dial(&w.p, NULL, NULL);
    RUN_UNTIL(&w, w.outer_up == 2, 5000);
    uint8_t x = 1;
    assert_int_equal(wv_quic_conn_datagram_max(w.outer_b), 0);
    assert_int_equal(wv_quic_conn_send_datagram(w.outer_b, NULL, 0, &x, 1), WV_ERR_INVAL);
    qpair_dispose(&w.p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(relayed_connection_is_end_to_end),
    cmocka_unit_test(no_datagrams_without_the_peer),
};
WVU_MAIN(tests)
