/* QUIC over a lossy path: a relay between the two endpoints drops some
 * datagrams, so data must be retransmitted from the send buffers the
 * module holds until acknowledged. Both directions carry a stream whose
 * bytes are checked one by one. */
#include "quic_pair.h"
#include "quic_relay.h"

#include "wv/base.h"

#include <stdlib.h>
#include <string.h>

#define UP_BYTES (3u << 20)   /* dialer -> server */
#define DOWN_BYTES (1u << 20) /* server -> dialer */

typedef struct dir {
    int64_t sid;
    size_t sent, total; /* what this side sends */
    size_t got;         /* what it received, checked */
    bool fin_seen, bad;
} dir;

typedef struct lossy {
    uv_loop_t loop;
    qpair q;
    relay r;
    dir da, db; /* q.a = server side, q.b = dialer side */
    int closed, hs;
} lossy;

static uint8_t pat(size_t i, bool up) {
    return (uint8_t)(i * 31 + (i >> 11) + (up ? 7 : 0));
}

static void push(lossy *l, wv_quic_conn *c, dir *d, bool up) {
    uint8_t chunk[16384];
    while (d->sent < d->total) {
        size_t n = WV_MIN(sizeof(chunk), d->total - d->sent);
        for (size_t i = 0; i < n; i++)
            chunk[i] = pat(d->sent + i, up);
        long w = wv_quic_stream_write(c, d->sid, chunk, n, d->sent + n == d->total);
        assert_true(w >= 0);
        d->sent += (size_t)w;
        if ((size_t)w < n)
            return;
    }
}

static void on_hs(wv_quic_conn *c, void *user) {
    lossy *l = user;
    l->hs++;
    if (!wv_quic_conn_is_server(c)) {
        assert_int_equal(wv_quic_stream_open(c, &l->db.sid), 0);
        push(l, c, &l->db, true);
    }
}

static void on_open(wv_quic_conn *c, int64_t sid, void *user) {
    lossy *l = user;
    l->da.sid = sid;
    push(l, c, &l->da, false);
}

static void on_data(wv_quic_conn *c, int64_t sid, const uint8_t *data, size_t len, bool fin,
                    void *user) {
    lossy *l = user;
    bool server = wv_quic_conn_is_server(c);
    dir *d = server ? &l->da : &l->db;
    for (size_t i = 0; i < len; i++)
        if (data[i] != pat(d->got + i, server))
            d->bad = true;
    d->got += len;
    if (fin)
        d->fin_seen = true;
    assert_int_equal(wv_quic_stream_consumed(c, sid, len), 0);
}

static void on_writable(wv_quic_conn *c, int64_t sid, void *user) {
    lossy *l = user;
    bool server = wv_quic_conn_is_server(c);
    push(l, c, server ? &l->da : &l->db, !server);
}

static void on_closed(wv_quic_conn *c, const wv_quic_close_info *info, void *user) {
    ((lossy *)user)->closed++;
}

static const wv_quic_callbacks cbs = {
    .on_handshake_done = on_hs,
    .on_stream_open = on_open,
    .on_stream_data = on_data,
    .on_stream_writable = on_writable,
    .on_conn_closed = on_closed,
};

static void transfer_survives_loss(unsigned drop_every, enum wv_quic_cc cc) {
    lossy *l = calloc(1, sizeof(*l));
    l->da.total = DOWN_BYTES;
    l->db.total = UP_BYTES;
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.stream_window = 256 * 1024;
    cfg.conn_window = 512 * 1024;
    cfg.cc = cc;
    qpair_init(&l->q, &l->loop, &cfg, NULL, &cbs, l, l, "127.0.0.1", "127.0.0.1");
    struct sockaddr_storage srv;
    wv_quic_endpoint_local_addr(l->q.a, &srv);

    struct sockaddr_storage via;
    relay_start(&l->r, &l->loop, &srv, drop_every, &via);
    qpair_dial(&l->q, &via, NULL);
    RUN_UNTIL(l, l->da.fin_seen && l->db.fin_seen, 20000);
    assert_int_equal(l->hs, 2);
    assert_true(l->da.fin_seen && l->db.fin_seen);
    assert_int_equal(l->da.got, UP_BYTES);
    assert_int_equal(l->db.got, DOWN_BYTES);
    assert_false(l->da.bad);
    assert_false(l->db.bad);
    assert_true(l->r.dropped > 10);
    assert_int_equal(l->closed, 0);

    uv_close((uv_handle_t *)&l->r.sock, NULL);
    qpair_dispose(&l->q);
    free(l);
}

static void both_directions_intact_with_3_percent_loss_cubic(void **state) {
    transfer_survives_loss(33, WV_QUIC_CC_CUBIC);
}

static void both_directions_intact_with_10_percent_loss_bbr(void **state) {
    transfer_survives_loss(10, WV_QUIC_CC_BBR);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(both_directions_intact_with_3_percent_loss_cubic),
    cmocka_unit_test(both_directions_intact_with_10_percent_loss_bbr),
};
WVU_MAIN(tests)
