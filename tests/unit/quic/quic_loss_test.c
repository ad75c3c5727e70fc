/* QUIC over a lossy path: a relay between the two endpoints drops some
 * datagrams, so data must be retransmitted from the send buffers the
 * module holds until acknowledged. Both directions carry a stream whose
 * bytes are checked one by one. */
#include "quic_int.h"
#include "quic_pair.h"
#include "quic_relay.h"

#include "wv/base.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
    bool offer;                /* both sides offer loss repair */
    wv_quic_conn_stats sa, sb; /* at the end: server's, dialer's */
    wv_quic_conn *ca, *cb;
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
    *(wv_quic_conn_is_server(c) ? &l->ca : &l->cb) = c;
    if (l->offer)
        wv_quic_conn_fec_offer(c);
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

static void transfer(lossy *l, unsigned drop_every, enum wv_quic_cc cc) {
    l->da.total = DOWN_BYTES;
    l->db.total = UP_BYTES;
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.stream_window = 256 * 1024;
    cfg.conn_window = 512 * 1024;
    cfg.cc = cc;
    cfg.max_udp_payload = 1452; /* an Internet path's datagrams, not loopback's */
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
    wv_quic_conn_stats_get(l->ca, &l->sa);
    wv_quic_conn_stats_get(l->cb, &l->sb);

    uv_close((uv_handle_t *)&l->r.sock, NULL);
    qpair_dispose(&l->q);
}

static void transfer_survives_loss(unsigned drop_every, enum wv_quic_cc cc) {
    lossy *l = calloc(1, sizeof(*l));
    transfer(l, drop_every, cc);
    free(l);
}

static void both_directions_intact_with_3_percent_loss_cubic(void **state) {
    transfer_survives_loss(33, WV_QUIC_CC_CUBIC);
}

static void both_directions_intact_with_10_percent_loss_bbr(void **state) {
    transfer_survives_loss(10, WV_QUIC_CC_BBR);
}

/* Loss repair (quic_fec.c): 2 % of the datagrams dropped (and what the
 * receiving socket drops of the bursts on loopback); the receiver of the
 * larger stream rebuilds lost packets from the repairs, and the sender's
 * groups shrink from 64 to what that loss asks for. */
static void lost_packets_are_rebuilt_from_repairs(void **state) {
    lossy *l = calloc(1, sizeof(*l));
    l->offer = true;
    transfer(l, 50, WV_QUIC_CC_BBR);
    printf("server: %llu of the dialer's packets covered, %llu lost, %llu rebuilt; dialer: "
           "group %u, %llu repairs, peer loss %.2f%%\n",
           (unsigned long long)l->sa.fec.packets, (unsigned long long)l->sa.fec.lost,
           (unsigned long long)l->sa.fec.rebuilt, l->sb.fec.group,
           (unsigned long long)l->sb.fec.repairs_sent, l->sb.fec.peer_loss * 100);
    assert_true(l->sb.fec.sending && l->sa.fec.sending);
    assert_true(l->sb.fec.repairs_sent > 0);
    assert_true(l->sa.fec.lost > 10);
    assert_true(l->sa.fec.rebuilt >= 10);
    assert_true(l->sa.fec.rebuilt <= l->sa.fec.lost);
    assert_true(l->sb.fec.group >= 4 && l->sb.fec.group < 64);
    free(l);
}

/* Without the offer (a peer that is not wovenet) nothing but QUIC is sent. */
static void no_repairs_without_an_offer(void **state) {
    lossy *l = calloc(1, sizeof(*l));
    transfer(l, 50, WV_QUIC_CC_BBR);
    assert_false(l->sb.fec.sending || l->sa.fec.sending);
    assert_int_equal(l->sb.fec.repairs_sent + l->sa.fec.repairs_sent, 0);
    assert_int_equal(l->sa.fec.rebuilt + l->sb.fec.rebuilt, 0);
    free(l);
}

/* Repairs and reports come unauthenticated (quic_fec.c): 4000 forged ones
 * with the server's CID, random and well-formed (consecutive groups, a
 * rebuilt "packet" whose check bytes match), sent while the transfer
 * runs, change nothing of what arrives; ASan watches the parsing. */
static void forged_repairs_and_reports_do_no_harm(void **state) {
    lossy *l = calloc(1, sizeof(*l));
    l->offer = true;
    l->da.total = DOWN_BYTES;
    l->db.total = UP_BYTES;
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.max_udp_payload = 1452;
    qpair_init(&l->q, &l->loop, &cfg, NULL, &cbs, l, l, "127.0.0.1", "127.0.0.1");
    struct sockaddr_storage srv;
    wv_quic_endpoint_local_addr(l->q.a, &srv);
    qpair_dial(&l->q, &srv, NULL);
    RUN_UNTIL(l, l->hs == 2, 5000);
    uint8_t cid[WV_QUIC__CID_LEN];
    const ngtcp2_cid *dc = ngtcp2_conn_get_dcid(l->cb->nc); /* the server's CID */
    assert_int_equal(dc->datalen, sizeof(cid));
    memcpy(cid, dc->data, sizeof(cid));
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    srand(7);
    uint8_t pkt[1600];
    for (unsigned i = 0; i < 4000; i++) {
        size_t n = 1 + (size_t)rand() % 1500;
        for (size_t j = 0; j < n; j++)
            pkt[j] = (uint8_t)rand();
        pkt[0] = i % 3 ? 0x21 : 0x22;
        if (n > 1 + sizeof(cid))
            memcpy(pkt + 1, cid, sizeof(cid));
        if (i % 2 && n > 40 + 1 + sizeof(cid)) {
            /* Well-formed: group i/2, k 1, the length the header says. */
            uint8_t *h = pkt + 1 + sizeof(cid);
            size_t len = 2 * (n - 27) - (i % 4 == 1);
            h[0] = (uint8_t)(i / 2 >> 8), h[1] = (uint8_t)(i / 2);
            h[2] = 1;
            h[3] = (uint8_t)(i % 4 == 1);
            h[4] = (uint8_t)(len >> 8), h[5] = (uint8_t)len;
            pkt[27] = 0x40; /* a short header, should it be rebuilt */
        }
        sendto(fd, pkt, n, 0, (struct sockaddr *)&srv, sizeof(struct sockaddr_in));
        if (i % 50 == 0)
            uv_run(&l->loop, UV_RUN_NOWAIT);
    }
    close(fd);
    RUN_UNTIL(l, l->da.fin_seen && l->db.fin_seen, 20000);
    assert_int_equal(l->da.got, UP_BYTES);
    assert_int_equal(l->db.got, DOWN_BYTES);
    assert_false(l->da.bad || l->db.bad);
    assert_int_equal(l->closed, 0);
    qpair_dispose(&l->q);
    free(l);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(both_directions_intact_with_3_percent_loss_cubic),
    cmocka_unit_test(both_directions_intact_with_10_percent_loss_bbr),
    cmocka_unit_test(lost_packets_are_rebuilt_from_repairs),
    cmocka_unit_test(no_repairs_without_an_offer),
    cmocka_unit_test(forged_repairs_and_reports_do_no_harm),
};
WVU_MAIN(tests)
