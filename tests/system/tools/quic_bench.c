/* quic_bench: pushes N MiB over one QUIC stream between two endpoints in
 * this process on loopback and prints the rate. No assertions.
 *
 *   quic_bench [MiB=256] [max_udp_payload=1452] [cc=cubic|reno|bbr|bbr2] [ipv4|ipv6]
 *              [socket buffer KiB]
 *
 * A small socket buffer exercises the EAGAIN queue of the send path.
 * max_udp_payload "pN" (e.g. p32000): start at 1200 bytes and let PMTUD
 * probe up to N (local_udp_payload = N) instead of sending N from the
 * start; the output then says when the sender's datagrams reached their
 * final size.
 */
#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/quic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct bench {
    uv_loop_t *loop;
    wv_quic_endpoint *srv, *cli;
    wv_quic_conn *conn;
    int64_t sid;
    uint8_t chunk[65536];
    uint64_t total, sent, recvd;
    uint64_t t_start, t_end;
    bool done, failed;
    size_t want_payload, last_payload; /* pN: the ceiling, the last size seen */
    uint64_t t_reached, at_reached;    /* when that size came (ns after start), at which byte */
} bench;

static void pump(bench *b) {
    while (b->sent < b->total) {
        size_t want = (size_t)WV_MIN((uint64_t)sizeof(b->chunk), b->total - b->sent);
        long n = wv_quic_stream_write(b->conn, b->sid, b->chunk, want, b->sent + want == b->total);
        if (n < 0) {
            b->failed = true;
            return;
        }
        b->sent += (uint64_t)n;
        if ((size_t)n < want)
            return;
    }
}

static void on_hs(wv_quic_conn *c, void *user) {
    bench *b = user;
    if (wv_quic_conn_is_server(c))
        return;
    b->conn = c;
    if (wv_quic_stream_open(c, &b->sid) < 0) {
        b->failed = true;
        return;
    }
    b->t_start = uv_hrtime();
    pump(b);
}

static void on_data(wv_quic_conn *c, int64_t sid, const uint8_t *d, size_t len, bool fin,
                    void *user) {
    bench *b = user;
    b->recvd += len;
    wv_quic_stream_consumed(c, sid, len);
    if (b->want_payload && b->last_payload < b->want_payload && b->conn) {
        wv_quic_conn_stats st;
        wv_quic_conn_stats_get(b->conn, &st);
        if (st.max_udp_payload != b->last_payload) {
            b->last_payload = st.max_udp_payload;
            b->t_reached = uv_hrtime() - b->t_start;
            b->at_reached = b->recvd;
        }
    }
    if (fin) {
        b->t_end = uv_hrtime();
        b->done = true;
        wv_quic_conn_close(c, 0);
    }
}

static void on_writable(wv_quic_conn *c, int64_t sid, void *user) {
    pump(user);
}

static void on_closed(wv_quic_conn *c, const wv_quic_close_info *info, void *user) {
    bench *b = user;
    if (!b->done) {
        fprintf(stderr, "connection closed early: %s\n", info->what);
        b->failed = true;
    }
}

static void stop_when_done(uv_timer_t *t) {
    bench *b = t->data;
    if (b->done || b->failed) {
        uv_timer_stop(t);
        wv_quic_endpoint_close(b->srv, NULL, NULL);
        wv_quic_endpoint_close(b->cli, NULL, NULL);
        uv_close((uv_handle_t *)t, NULL);
    }
}

int main(int argc, char **argv) {
    uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 256;
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    size_t probe_to = 0;
    if (argc > 2 && argv[2][0] == 'p')
        cfg.local_udp_payload = probe_to = strtoul(argv[2] + 1, NULL, 10);
    else if (argc > 2)
        cfg.max_udp_payload = strtoul(argv[2], NULL, 10);
    if (argc > 3) {
        const char *names[] = {"cubic", "reno", "bbr", "bbr2"};
        for (int i = 0; i < 4; i++)
            if (strcmp(argv[3], names[i]) == 0)
                cfg.cc = (enum wv_quic_cc)i;
    }
    bool v6 = argc > 4 && strcmp(argv[4], "ipv6") == 0;
    if (argc > 5)
        cfg.sock_buf = strtoul(argv[5], NULL, 10) * 1024;

    bench b = {.total = mib << 20, .want_payload = probe_to};
    memset(b.chunk, 0x5a, sizeof(b.chunk));
    uv_loop_t loop;
    uv_loop_init(&loop);
    b.loop = &loop;
    wv_identity *ids, *idc;
    if (wv_identity_generate("srv", &ids) < 0 || wv_identity_generate("cli", &idc) < 0)
        return 1;
    wv_quic_callbacks cbs = {.on_handshake_done = on_hs,
                             .on_stream_data = on_data,
                             .on_stream_writable = on_writable,
                             .on_conn_closed = on_closed};
    /* QUIC_BENCH_LOG=1: the module's debug lines on stderr. */
    wv_log *log = getenv("QUIC_BENCH_LOG") ? wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, NULL) : NULL;
    if (wv_quic_endpoint_new(&loop, &cfg, ids, log, &cbs, &b, &b.srv) < 0 ||
        wv_quic_endpoint_new(&loop, &cfg, idc, log, &cbs, &b, &b.cli) < 0) {
        fprintf(stderr, "bad configuration\n");
        return 1;
    }
    struct sockaddr_storage ss;
    if (v6)
        uv_ip6_addr("::1", 0, (struct sockaddr_in6 *)&ss);
    else
        uv_ip4_addr("127.0.0.1", 0, (struct sockaddr_in *)&ss);
    if (wv_quic_endpoint_bind(b.srv, (struct sockaddr *)&ss) < 0 ||
        wv_quic_endpoint_bind(b.cli, (struct sockaddr *)&ss) < 0)
        return 1;
    wv_quic_endpoint_local_addr(b.srv, &ss);
    wv_quic_conn *c;
    if (wv_quic_dial(b.cli, (struct sockaddr *)&ss, wv_identity_fingerprint(ids), &c) < 0)
        return 1;
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &b;
    uv_timer_start(&t, stop_when_done, 10, 10);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    wv_identity_free(ids);
    wv_identity_free(idc);
    wv_log_free(log);
    if (b.failed || !b.done) {
        fprintf(stderr, "transfer failed\n");
        return 1;
    }
    double secs = (double)(b.t_end - b.t_start) / 1e9;
    /* CPU time of both ends: on a shared machine the wall-clock rate says
     * as much about the neighbours as about us. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("quic_bench: %llu MiB in %.3f s = %.1f MB/s (payload %zu, cc %d, %s); "
           "process CPU %.2f s = %.1f MB per CPU-second\n",
           (unsigned long long)mib, secs, (double)b.total / secs / 1e6, cfg.max_udp_payload,
           (int)cfg.cc, v6 ? "ipv6" : "ipv4", cpu, (double)b.total / cpu / 1e6);
    if (probe_to)
        printf("quic_bench: PMTUD to %zu: datagrams of %zu bytes after %.2f ms (%.2f MiB "
               "received)\n",
               probe_to, b.last_payload, (double)b.t_reached / 1e6,
               (double)b.at_reached / (1 << 20));
    return 0;
}
