/* Serves the REST API over a store on a temp DB, for system tests:
 *
 *   api_harness --db PATH --listen ADDR:PORT [--heartbeat-ms N]
 *               [--fail-limit N] [--fake-peers] [--timeout-s N]
 *               [--tls-cert PEMFILE --tls-key PEMFILE]
 *   api_harness --db PATH --create-token NAME      (prints the token, exits)
 *   api_harness --db PATH --check-listen ADDR:PORT (prints the verdict, exits)
 *
 * Status callbacks answer {}; `changed` is logged so tests can see it was
 * called. SIGTERM/SIGINT close everything; the exit code is 3 if the loop
 * still had handles afterwards. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "wv/api.h"
#include "wv/base.h"
#include "wv/store.h"

struct harness {
    uv_loop_t *loop;
    wv_log *log;
    wv_api *api;
    uv_signal_t sigs[2];
    bool fake_peers;
    unsigned changes;
};

static void changed(wv_api *api, enum wv_kind kind, const char *name, void *user) {
    struct harness *h = user;
    h->changes++;
    WV_INFO(h->log, "harness", "changed %s %s", wv_kind_key(kind), name ? name : "-");
}

static json_t *peers(wv_api *api, void *user) {
    struct harness *h = user;
    if (!h->fake_peers)
        return NULL;
    return json_pack("[{s:s, s:b, s:b, s:s, s:s, s:[{s:s, s:i, s:s, s:b}], s:[s], s:[{s:i, s:s, "
                     "s:s, s:s, s:s, s:s, s:s, s:f, s:i, s:i, s:i, s:i}]}]",
                     "siteName", "b", "online", 1, "reachable", 1, "lastSeen",
                     "2026-01-01T00:00:00.000Z", "fingerprint", "00", "sockets", "address",
                     "198.51.100.7", "port", 25890, "protocol", "quic", "detected", 0, "apps",
                     "web", "channels", "id", 1, "path", "direct", "direction", "outbound", "family", "ipv4",
                     "localAddress", "127.0.0.1:5000", "remoteAddress", "198.51.100.7:25890",
                     "state", "up", "rttMs", 1.5, "cwnd", 14720, "bytesSent", 10,
                     "bytesReceived", 20, "streams", 0);
}

static char *metrics(wv_api *api, void *user) {
    struct harness *h = user;
    return wv_asprintf("# HELP wovenet_harness_changes_total Changes seen by the harness.\n"
                       "# TYPE wovenet_harness_changes_total counter\n"
                       "wovenet_harness_changes_total %u\n",
                       h->changes);
}

/* The whole file, NUL-terminated; NULL if unreadable. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = wv_calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void on_closed(void *arg) {
    struct harness *h = arg;
    uv_close((uv_handle_t *)&h->sigs[0], NULL);
    uv_close((uv_handle_t *)&h->sigs[1], NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
    struct harness *h = s->data;
    uv_signal_stop(&h->sigs[0]);
    uv_signal_stop(&h->sigs[1]);
    if (h->api)
        wv_api_close(h->api, on_closed, h);
    h->api = NULL;
}

int main(int argc, char **argv) {
    const char *db = NULL, *listen = "127.0.0.1:0", *token = NULL, *check = NULL;
    struct wv_api_opts opts = {0};
    struct harness h = {0};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--db") && v)
            db = argv[++i];
        else if (!strcmp(argv[i], "--listen") && v)
            listen = argv[++i];
        else if (!strcmp(argv[i], "--heartbeat-ms") && v)
            opts.sse_heartbeat_ms = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fail-limit") && v)
            opts.auth_fail_limit = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--create-token") && v)
            token = argv[++i];
        else if (!strcmp(argv[i], "--check-listen") && v)
            check = argv[++i];
        else if (!strcmp(argv[i], "--timeout-s") && v)
            opts.timeout_s = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tls-cert") && v)
            opts.tls_cert_pem = slurp(argv[++i]);
        else if (!strcmp(argv[i], "--tls-key") && v)
            opts.tls_key_pem = slurp(argv[++i]);
        else if (!strcmp(argv[i], "--fake-peers"))
            h.fake_peers = true;
        else {
            fprintf(stderr, "usage: %s --db PATH [--listen ADDR:PORT] ...\n", argv[0]);
            return 2;
        }
    }
    if (!db)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    h.log = wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, NULL);
    wv_store *st;
    if (wv_store_open(db, h.log, &st) != 0)
        return 1;
    if (token || check) {
        int rc = 0;
        if (token) {
            char *t = NULL;
            rc = wv_store_token_create(st, token, &t) == 0 ? 0 : 1;
            if (t)
                printf("%s\n", t);
            free(t);
        } else {
            const char *why = wv_api_check_listen_safety(check, st);
            printf("%s\n", why ? why : "ok");
            rc = why ? 1 : 0;
        }
        wv_store_close(st);
        wv_log_free(h.log);
        return rc;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    h.loop = &loop;
    opts.listen = listen;
    struct wv_api_callbacks cbs = {.changed = changed, .peers = peers, .metrics = metrics};
    int err = wv_api_new(&loop, h.log, st, &opts, &cbs, &h, &h.api);
    if (err) {
        fprintf(stderr, "api: %s\n", wv_strerror(err));
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    printf("listening on %u\n", wv_api_port(h.api));
    fflush(stdout);
    for (int i = 0; i < 2; i++) {
        uv_signal_init(&loop, &h.sigs[i]);
        h.sigs[i].data = &h;
        uv_signal_start(&h.sigs[i], on_signal, i ? SIGINT : SIGTERM);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop) == 0 ? 0 : 3;
    free((char *)opts.tls_cert_pem);
    free((char *)opts.tls_key_pem);
    wv_store_close(st);
    wv_log_free(h.log);
    return rc;
}
