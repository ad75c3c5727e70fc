/* quic_probe: an outsider's QUIC client, built from the project's own QUIC
 * module, for the security tests. It dials a site's tunnel socket with a
 * fresh identity, never proves membership, and tries to use the channel
 * anyway: it opens app streams and sends app headers on them.
 *
 *   quic_probe HOST PORT PIN_HEX MODE [APP] [WAIT_MS=8000]
 *
 * MODE: none       complete TLS, send no proof at all
 *       garbage    send a proof-shaped message with a wrong MAC
 *       wrong-pin  dial with PIN_HEX with one bit flipped (the dialer side of
 *                  a man in the middle: the certificate does not match)
 *
 * Prints one JSON line: {"handshake":bool, "closed":bool, "closedByServer":
 * bool, "closeErr":int, "closedAfterMs":ms since the handshake (or the dial
 * when there was none), "streamsOpened":n, "streamsReset":n, "replyBytes":n}
 * and exits 0; 2 on a usage or setup error. The test judges the result. */
#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/tunnel.h"
#include "wv/quic.h"
#include "wv/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct probe {
    uv_loop_t *loop;
    wv_quic_endpoint *ep;
    wv_quic_conn *conn;
    uv_timer_t timer;
    const char *mode, *app;
    uint64_t t_dial, t_hs, t_closed;
    bool handshake, closed, by_server;
    int close_err;
    unsigned opened, resets;
    uint64_t reply_bytes;
} probe;

static void send_header(probe *p, int64_t sid) {
    struct wv_app_header h;
    memset(&h, 0, sizeof h);
    snprintf(h.app, sizeof h.app, "%s", p->app);
    json_t *j = wv_app_header_to_json(&h);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (j && wv_frame_encode(j, &buf, &len) == 0)
        wv_quic_stream_write(p->conn, sid, buf, len, false);
    free(buf);
    json_decref(j);
}

static void on_hs(wv_quic_conn *c, void *user) {
    probe *p = user;
    p->handshake = true;
    p->t_hs = uv_now(p->loop);
    int64_t ctl;
    /* Stream 0 is where the server expects the proof. */
    if (wv_quic_stream_open(c, &ctl) != 0)
        return;
    p->opened++;
    if (strcmp(p->mode, "garbage") == 0) {
        uint8_t fake[WV_PROOF_MAX];
        const char *name = "intruder";
        size_t n = strlen(name);
        memcpy(fake, "WVP1", 4);
        fake[4] = WV_ROLE_CLIENT;
        fake[5] = (uint8_t)n;
        memcpy(fake + 6, name, n);
        memset(fake + 6 + n, 0x42, 32); /* not the HMAC under the network key */
        wv_quic_stream_write(c, ctl, fake, 6 + n + 32, false);
    }
    /* App streams, each with a header naming an app, as a member would. */
    for (int i = 0; i < 3; i++) {
        int64_t sid;
        if (wv_quic_stream_open(c, &sid) != 0)
            break;
        p->opened++;
        send_header(p, sid);
    }
}

static void on_data(wv_quic_conn *c, int64_t sid, const uint8_t *d, size_t len, bool fin,
                    void *user) {
    probe *p = user;
    p->reply_bytes += len;
    wv_quic_stream_consumed(c, sid, len);
}

static void on_reset(wv_quic_conn *c, int64_t sid, uint64_t code, void *user) {
    probe *p = user;
    p->resets++;
}

static void on_closed(wv_quic_conn *c, const wv_quic_close_info *info, void *user) {
    probe *p = user;
    p->closed = true;
    p->by_server = info->remote;
    p->close_err = info->err;
    p->t_closed = uv_now(p->loop);
    p->conn = NULL;
    uv_timer_stop(&p->timer);
    wv_quic_endpoint_close(p->ep, NULL, NULL);
    uv_close((uv_handle_t *)&p->timer, NULL);
}

static void on_timeout(uv_timer_t *t) {
    probe *p = t->data;
    /* Not closed by the server in time: end it ourselves (on_closed then
     * records it as our close). */
    if (p->conn)
        wv_quic_conn_close(p->conn, 0);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: quic_probe HOST PORT PIN_HEX none|garbage|wrong-pin [APP] "
                        "[WAIT_MS]\n");
        return 2;
    }
    probe p = {.mode = argv[4], .app = argc > 5 ? argv[5] : "app"};
    unsigned wait_ms = argc > 6 ? (unsigned)atoi(argv[6]) : 8000;
    uint8_t pin[WV_FINGERPRINT_LEN];
    struct sockaddr_storage remote, local;
    if (wv_fingerprint_from_hex(argv[3], pin) != 0 ||
        wv_parse_ip(argv[1], (uint16_t)atoi(argv[2]), &remote) != 0) {
        fprintf(stderr, "quic_probe: bad pin or address\n");
        return 2;
    }
    if (strcmp(p.mode, "wrong-pin") == 0)
        pin[0] ^= 0x01;
    else if (strcmp(p.mode, "none") != 0 && strcmp(p.mode, "garbage") != 0) {
        fprintf(stderr, "quic_probe: unknown mode %s\n", p.mode);
        return 2;
    }
    wv_identity *id = NULL;
    if (wv_identity_generate("intruder", &id) != 0)
        return 2;
    uv_loop_t loop;
    uv_loop_init(&loop);
    p.loop = &loop;
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    wv_quic_callbacks cbs = {.on_handshake_done = on_hs,
                             .on_stream_data = on_data,
                             .on_stream_reset = on_reset,
                             .on_conn_closed = on_closed};
    memset(&local, 0, sizeof local);
    local.ss_family = remote.ss_family;
    if (wv_quic_endpoint_new(&loop, &cfg, id, NULL, &cbs, &p, &p.ep) != 0 ||
        wv_quic_endpoint_bind(p.ep, (struct sockaddr *)&local) != 0 ||
        wv_quic_dial(p.ep, (struct sockaddr *)&remote, pin, &p.conn) != 0) {
        fprintf(stderr, "quic_probe: cannot dial\n");
        return 2;
    }
    p.t_dial = uv_now(&loop);
    uv_timer_init(&loop, &p.timer);
    p.timer.data = &p;
    uv_timer_start(&p.timer, on_timeout, wait_ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&loop);
    wv_identity_free(id);
    uint64_t since = p.handshake ? p.t_hs : p.t_dial;
    printf("{\"handshake\":%s,\"closed\":%s,\"closedByServer\":%s,\"closeErr\":%d,"
           "\"closedAfterMs\":%llu,\"streamsOpened\":%u,\"streamsReset\":%u,\"replyBytes\":%llu,"
           "\"loopClose\":%d}\n",
           p.handshake ? "true" : "false", p.closed ? "true" : "false",
           p.closed && p.by_server ? "true" : "false", p.close_err,
           (unsigned long long)(p.closed ? p.t_closed - since : 0), p.opened, p.resets,
           (unsigned long long)p.reply_bytes, lc);
    return 0;
}
