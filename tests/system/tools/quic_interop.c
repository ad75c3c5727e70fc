/* quic_interop: the project's QUIC endpoint (wv_quic) against an
 * implementation we did not write, ngtcp2's example HTTP/3 client and
 * server (Debian's ngtcp2-client / ngtcp2-server: gtlsclient, gtlsserver).
 * Those speak HTTP/3 (ALPN "h3", three unidirectional streams each way
 * for control and QPACK), so the endpoint runs with the test hook
 * wv_quic__endpoint_set_interop: ALPN h3, unidirectional streams granted
 * (their bytes are dropped). Everything else is the endpoint as shipped:
 * TLS 1.3, certificates both ways, the dialer pins the server's.
 *
 *   quic_interop cert DIR NAME
 *       writes DIR/NAME.key and DIR/NAME.crt (an identity as the agent
 *       makes them: Ed25519, self-signed) and prints its fingerprint (hex)
 *   quic_interop serve ADDR PORT KEY CRT BODY [WAIT_MS=15000]
 *       accepts connections; answers every request stream with an HTTP/3
 *       200 response whose body is BODY; exits once a connection that
 *       completed the handshake has closed (or after WAIT_MS)
 *   quic_interop dial ADDR PORT PIN_HEX PATH [WAIT_MS=15000]
 *       dials with a fresh identity, pinning PIN_HEX; sends GET PATH on one
 *       stream and collects the response's DATA
 *
 * serve and dial print one JSON line and exit 0 (2 on a usage or setup
 * error): {"handshake":bool, "alpn":"...", "peerCert":"fingerprint hex" (or ""),
 * "requestBytes":n, "responseBytes":n, "body":"..." (dial: the DATA of the
 * response, printable ASCII), "closeErr":n, "closeWhat":"..."}. The test
 * judges. */
#include "quic_int.h"
#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/quic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct interop {
    uv_loop_t *loop;
    wv_quic_endpoint *ep;
    wv_quic_conn *conn;
    uv_timer_t timer;
    bool serve, handshake, done, closed;
    char peer_fp[WV_FINGERPRINT_HEX_LEN + 1];
    char alpn[32];
    const char *body, *path;
    int64_t req_sid;
    uint64_t request_bytes, response_bytes;
    uint8_t resp[65536]; /* dial: the response stream's bytes */
    size_t resp_len;
    int close_err;
    const char *close_what;
} interop;

static int put_varint(uint8_t *p, uint64_t v) {
    if (v < 64) {
        p[0] = (uint8_t)v;
        return 1;
    }
    p[0] = (uint8_t)(0x40 | (v >> 8));
    p[1] = (uint8_t)v;
    return 2; /* enough for what is written here (< 16384) */
}

static size_t get_varint(const uint8_t *p, size_t len, uint64_t *v) {
    if (len == 0)
        return 0;
    size_t n = (size_t)1 << (p[0] >> 6);
    if (len < n)
        return 0;
    *v = p[0] & 0x3f;
    for (size_t i = 1; i < n; i++)
        *v = *v << 8 | p[i];
    return n;
}

/* One HTTP/3 frame: type, length, payload. */
static size_t frame(uint8_t *out, uint64_t type, const uint8_t *payload, size_t len) {
    size_t n = (size_t)put_varint(out, type);
    n += (size_t)put_varint(out + n, len);
    memcpy(out + n, payload, len);
    return n + len;
}

/* A QPACK literal field line with a static-table name reference (RFC 9204
 * 4.5.4: 01NT + 4-bit index), value not Huffman-coded, value < 127. */
static size_t qpack_literal(uint8_t *out, unsigned name_index, const char *value) {
    size_t vlen = strlen(value);
    out[0] = (uint8_t)(0x50 | name_index);
    out[1] = (uint8_t)vlen;
    memcpy(out + 2, value, vlen);
    return 2 + vlen;
}

static void note_alpn(interop *x, wv_quic_conn *c) {
    gnutls_datum_t sel;
    if (gnutls_alpn_get_selected_protocol(c->tls, &sel) == 0 && sel.size < sizeof(x->alpn)) {
        memcpy(x->alpn, sel.data, sel.size);
        x->alpn[sel.size] = 0;
    }
}

static void on_accept(wv_quic_endpoint *ep, wv_quic_conn *c, void *user) {
    interop *x = user;
    if (!x->conn)
        x->conn = c;
}

static void on_hs(wv_quic_conn *c, void *user) {
    interop *x = user;
    x->conn = c;
    x->handshake = true;
    const uint8_t *fp = wv_quic_conn_peer_fingerprint(c);
    if (fp)
        wv_fingerprint_to_hex(fp, x->peer_fp);
    note_alpn(x, c);
    if (x->serve)
        return;
    /* GET PATH: QPACK prefix (no dynamic table), :method GET (static 17),
     * :scheme https (23), :authority (0) and :path (1) as literals. */
    uint8_t fields[512], req[600];
    size_t n = 0;
    fields[n++] = 0;
    fields[n++] = 0;
    fields[n++] = 0xc0 | 17;
    fields[n++] = 0xc0 | 23;
    n += qpack_literal(fields + n, 0, "localhost");
    n += qpack_literal(fields + n, 1, x->path);
    size_t len = frame(req, 0x01, fields, n);
    if (wv_quic_stream_open(c, &x->req_sid) != 0 ||
        wv_quic_stream_write(c, x->req_sid, req, len, true) != (long)len) {
        x->close_what = "could not send the request";
        wv_quic_conn_close(c, 0);
        return;
    }
    x->request_bytes = len;
}

static void respond(interop *x, wv_quic_conn *c, int64_t sid) {
    /* :status 200 is static entry 25. */
    static const uint8_t fields[] = {0, 0, 0xc0 | 25};
    uint8_t out[8192];
    size_t blen = strlen(x->body);
    size_t n = frame(out, 0x01, fields, sizeof(fields));
    n += frame(out + n, 0x00, (const uint8_t *)x->body, blen);
    if (wv_quic_stream_write(c, sid, out, n, true) == (long)n)
        x->response_bytes += n;
}

static void on_data(wv_quic_conn *c, int64_t sid, const uint8_t *d, size_t len, bool fin,
                    void *user) {
    interop *x = user;
    wv_quic_stream_consumed(c, sid, len);
    if (x->serve) {
        x->request_bytes += len;
        if (fin)
            respond(x, c, sid);
        return;
    }
    if (sid != x->req_sid)
        return;
    size_t room = sizeof(x->resp) - x->resp_len;
    memcpy(x->resp + x->resp_len, d, WV_MIN(len, room));
    x->resp_len += WV_MIN(len, room);
    x->response_bytes += len;
    if (fin) {
        x->done = true;
        wv_quic_conn_close(c, 0x100); /* H3_NO_ERROR */
    }
}

static void on_closed(wv_quic_conn *c, const wv_quic_close_info *info, void *user) {
    interop *x = user;
    if (c != x->conn)
        return;
    x->closed = true;
    x->close_err = info->err;
    if (!x->close_what)
        x->close_what = info->what;
    if (!x->serve || x->handshake)
        uv_stop(x->loop);
}

static void on_timeout(uv_timer_t *t) {
    interop *x = t->data;
    if (!x->close_what)
        x->close_what = "timeout";
    uv_stop(x->loop);
}

/* The DATA frames of the response, as printable text. */
static void body_of(const interop *x, char *out, size_t outlen) {
    size_t o = 0, p = 0;
    while (p < x->resp_len) {
        uint64_t type, len;
        size_t a = get_varint(x->resp + p, x->resp_len - p, &type);
        size_t b = a ? get_varint(x->resp + p + a, x->resp_len - p - a, &len) : 0;
        if (!a || !b || len > x->resp_len - p - a - b)
            break;
        p += a + b;
        for (uint64_t i = 0; type == 0 && i < len && o + 1 < outlen; i++) {
            uint8_t ch = x->resp[p + i];
            out[o++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '.';
        }
        p += (size_t)len;
    }
    out[o] = 0;
}

static int read_file(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *buf = wv_malloc(65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = 0;
    *out = buf;
    return 0;
}

static int write_file(const char *dir, const char *name, const char *ext, const char *text) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int cert(const char *dir, const char *name) {
    wv_identity *id;
    char *key, *crt, hex[WV_FINGERPRINT_HEX_LEN + 1];
    if (wv_identity_generate(name, &id) != 0 || wv_identity_export_pem(id, &key, &crt) != 0)
        return 2;
    int rv = write_file(dir, name, "key", key) || write_file(dir, name, "crt", crt) ? 2 : 0;
    wv_fingerprint_to_hex(wv_identity_fingerprint(id), hex);
    printf("%s\n", hex);
    wv_memwipe(key, strlen(key));
    free(key);
    free(crt);
    wv_identity_free(id);
    return rv;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_pin(const char *hex, uint8_t pin[WV_FINGERPRINT_LEN]) {
    if (strlen(hex) != 2 * WV_FINGERPRINT_LEN)
        return -1;
    for (size_t i = 0; i < WV_FINGERPRINT_LEN; i++) {
        int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
        if (a < 0 || b < 0)
            return -1;
        pin[i] = (uint8_t)(a << 4 | b);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "cert") == 0)
        return cert(argv[2], argv[3]);
    bool serve = argc >= 7 && strcmp(argv[1], "serve") == 0;
    bool dial = argc >= 6 && strcmp(argv[1], "dial") == 0;
    if (!serve && !dial) {
        fprintf(stderr, "usage: quic_interop cert DIR NAME | serve ADDR PORT KEY CRT BODY [WAIT_MS]"
                        " | dial ADDR PORT PIN_HEX PATH [WAIT_MS]\n");
        return 2;
    }
    static interop x;
    x.loop = uv_default_loop();
    x.serve = serve;
    x.req_sid = -1;
    unsigned wait_ms = (unsigned)atoi(argc > (serve ? 7 : 6) ? argv[serve ? 7 : 6] : "15000");
    struct sockaddr_storage addr;
    int port = atoi(argv[3]);
    if (uv_ip4_addr(argv[2], port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(argv[2], port, (struct sockaddr_in6 *)&addr) != 0)
        return 2;
    wv_identity *id = NULL;
    uint8_t pin[WV_FINGERPRINT_LEN];
    if (serve) {
        char *key, *crt;
        if (read_file(argv[4], &key) || read_file(argv[5], &crt))
            return 2;
        if (wv_identity_import_pem(key, crt, &id) != 0)
            return 2;
        free(key);
        free(crt);
        x.body = argv[6];
    } else {
        if (parse_pin(argv[4], pin) != 0 || wv_identity_generate("interop-client", &id) != 0)
            return 2;
        x.path = argv[5];
    }
    /* The endpoint's log on stderr; stdout carries the JSON line. */
    wv_log *log = wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, "/dev/stderr");
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    cfg.accept = serve;
    wv_quic_callbacks cbs = {.on_accept = on_accept,
                             .on_handshake_done = on_hs,
                             .on_stream_data = on_data,
                             .on_conn_closed = on_closed};
    if (wv_quic_endpoint_new(x.loop, &cfg, id, log, &cbs, &x, &x.ep) != 0)
        return 2;
    /* HTTP/3 peers refuse to go on with fewer than 3 unidirectional
     * streams (control and the two QPACK streams). */
    wv_quic__endpoint_set_interop(x.ep, "h3", 8);
    struct sockaddr_storage any = addr;
    if (!serve) {
        memset(&any, 0, sizeof(any));
        any.ss_family = addr.ss_family;
    }
    if (wv_quic_endpoint_bind(x.ep, serve ? (struct sockaddr *)&addr : (struct sockaddr *)&any))
        return 2;
    if (!serve && wv_quic_dial(x.ep, (struct sockaddr *)&addr, pin, &x.conn) != 0)
        return 2;
    uv_timer_init(x.loop, &x.timer);
    x.timer.data = &x;
    uv_timer_start(&x.timer, on_timeout, wait_ms, 0);
    uv_run(x.loop, UV_RUN_DEFAULT);

    char body[4096];
    body_of(&x, body, sizeof(body));
    printf("{\"handshake\":%s,\"alpn\":\"%s\",\"peerCert\":\"%s\",\"requestBytes\":%llu,"
           "\"responseBytes\":%llu,\"body\":\"%s\",\"done\":%s,\"closeErr\":%d,"
           "\"closeWhat\":\"%s\"}\n",
           x.handshake ? "true" : "false", x.alpn, x.peer_fp, (unsigned long long)x.request_bytes,
           (unsigned long long)x.response_bytes, body, x.done ? "true" : "false", x.close_err,
           x.close_what ? x.close_what : "");
    fflush(stdout);
    uv_timer_stop(&x.timer);
    uv_close((uv_handle_t *)&x.timer, NULL);
    wv_quic_endpoint_close(x.ep, NULL, NULL);
    uv_run(x.loop, UV_RUN_DEFAULT);
    wv_identity_free(id);
    wv_log_free(log);
    return 0;
}
