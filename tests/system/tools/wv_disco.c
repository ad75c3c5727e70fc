/* A discovery instance in a process, for system tests: connects to real
 * brokers, prints events as "EV ..." lines on stdout, takes commands on
 * stdin ("stats", "peers", "announce", "addapp NAME", "request NAME",
 * "quit"), stops cleanly on SIGTERM/SIGINT.
 *
 *   wv_disco run  --site S --key K --topic T --broker URL [--broker URL2]
 *                 [--iterations N] [--keepalive S] [--grace-ms MS]
 *                 [--ca FILE] [--user U --password P] [--app NAME]... [--socket
 * ADDR:PORT]... wv_disco seal --key K --topic T --iterations N --to FULL_TOPIC   (stdin -> stdout)
 *   wv_disco hash --key K --topic T --iterations N --site S
 *   wv_disco open --key K --topic T --iterations N --to FULL_TOPIC   (stdin -> stdout)
 *   wv_disco sign [--pem FILE]     (message JSON on stdin -> signed JSON on stdout)
 *   wv_disco forge --key K --topic T --iterations N --site PREFIX --count C --sockets S
 *       C announcements of sites PREFIX0.., each signed by its own fresh identity,
 *       with S sockets 127.0.0.1:40000.. each; prints "FULL_TOPIC HEXPAYLOAD" lines
 *       (--unsigned 1: no signatures, as an agent before signed announcements sends)
 *
 * Every message is signed with an Ed25519 identity: --pem FILE loads it
 * (creating the file on first use), else a fresh one per process. The
 * forging commands reuse the project's own codec and envelope.
 * The key derivation runs in uv_queue_work, as in the agent. */
#include "wv/discovery.h"
#include "wv/base.h"
#include "envelope.h"
#include "wv/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

struct app {
    uv_loop_t *loop;
    wv_log *log;
    const char *site, *key, *topic, *brokers[4];
    size_t nbrokers;
    unsigned iterations;
    int keepalive;
    int64_t grace_ms;
    const char *ca, *user, *password;
    char *apps[64];
    size_t napps;
    char *socks[16];
    size_t nsocks;
    wv_keys keys;
    const char *pem;
    int count, nforge_socks;
    bool unsigned_; /* forge: leave the messages unsigned (what older agents accept) */
    wv_identity *id;
    wv_discovery *d;
    uv_work_t work;
    uv_signal_t sigterm, sigint;
    uv_pipe_t in;
    char line[1024];
    char rbuf[4096];
    size_t linelen;
    bool stopping;
};

static void ev(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ev(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("EV ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

static int local(wv_discovery *d, wv_msg *body, void *user) {
    struct app *a = user;
    for (size_t i = 0; i < a->napps; i++)
        wv_msg_add_app(body, a->apps[i]);
    for (size_t i = 0; i < a->nsocks; i++) {
        char addr[256];
        snprintf(addr, sizeof addr, "%s", a->socks[i]);
        char *colon = strrchr(addr, ':');
        if (!colon)
            continue;
        *colon = 0;
        wv_msg_add_socket(body, addr, (uint16_t)atoi(colon + 1), false);
    }
    memset(body->fingerprint, 'a', WV_FINGERPRINT_HEX_LEN);
    return 0;
}

static void on_peer(wv_discovery *d, const wv_peer *p, enum wv_peer_event e, void *user) {
    static const char *const names[] = {"added", "changed", "offline"};
    char apps[512] = "";
    for (size_t i = 0; i < p->ann.napps && strlen(apps) < 400; i++)
        snprintf(apps + strlen(apps), sizeof apps - strlen(apps), "%s%s", i ? "," : "",
                 p->ann.apps[i]);
    ev("PEER %s %s online=%d seq=%llu apps=%s", names[e], p->name, p->online,
       (unsigned long long)p->ann.seq, apps);
}

static void on_state(wv_discovery *d, bool up, void *user) {
    ev("STATE %s", up ? "up" : "down");
}

static void on_closed(wv_discovery *d, void *user) {
    struct app *a = user;
    a->d = NULL;
    ev("CLOSED");
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    if (!uv_is_closing((uv_handle_t *)&a->in))
        uv_close((uv_handle_t *)&a->in, NULL);
}

static void stop(struct app *a) {
    if (a->stopping)
        return;
    a->stopping = true;
    uv_read_stop((uv_stream_t *)&a->in);
    if (a->d)
        wv_discovery_close(a->d, on_closed);
}

static void command(struct app *a, char *cmd) {
    if (!a->d)
        return;
    if (strcmp(cmd, "stats") == 0) {
        wv_discovery_stats s;
        wv_discovery_get_stats(a->d, &s);
        ev("STATS decrypt=%llu parse=%llu replay=%llu oversize=%llu announce=%llu answered=%llu",
           (unsigned long long)s.decrypt_failures, (unsigned long long)s.parse_failures,
           (unsigned long long)s.replays, (unsigned long long)s.oversize,
           (unsigned long long)s.announcements, (unsigned long long)s.requests_answered);
    } else if (strcmp(cmd, "peers") == 0) {
        char buf[4096] = "";
        for (size_t i = 0; i < wv_discovery_peer_count(a->d); i++) {
            const wv_peer *p = wv_discovery_peer_at(a->d, i);
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " %s:%d", p->name, p->online);
        }
        ev("PEERS%s", buf);
    } else if (strcmp(cmd, "announce") == 0) {
        ev("ANNOUNCE %d", wv_discovery_announce(a->d));
    } else if (strncmp(cmd, "addapp ", 7) == 0 && a->napps < 64) {
        a->apps[a->napps++] = wv_strdup(cmd + 7);
        ev("ANNOUNCE %d", wv_discovery_announce(a->d));
    } else if (strncmp(cmd, "request ", 8) == 0) {
        ev("REQUEST %d", wv_discovery_request_sockinfo(a->d, cmd + 8));
    } else if (strcmp(cmd, "quit") == 0) {
        stop(a);
    }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    struct app *a = h->data;
    *buf = uv_buf_init(a->rbuf, sizeof a->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    struct app *a = s->data;
    if (n < 0) {
        uv_read_stop(s);
        return; /* stdin closed: keep running until a signal */
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];
        if (c == '\n') {
            a->line[a->linelen] = 0;
            command(a, a->line);
            a->linelen = 0;
        } else if (a->linelen + 1 < sizeof a->line) {
            a->line[a->linelen++] = c;
        }
    }
}

static void on_signal(uv_signal_t *s, int sig) {
    stop(s->data);
}

static void derive(uv_work_t *w) {
    struct app *a = w->data;
    if (wv_keys_derive(a->key, strlen(a->key), a->topic, a->iterations, &a->keys) != 0)
        abort();
}

static void derived(uv_work_t *w, int status) {
    struct app *a = w->data;
    wv_discovery_options o = {.site = a->site, .topic = a->topic, .keys = &a->keys, .id = a->id};
    o.mqtt.brokers = a->brokers;
    o.mqtt.nbrokers = a->nbrokers;
    o.mqtt.keepalive_s = a->keepalive;
    o.reconnect_grace_ms = a->grace_ms;
    o.mqtt.ca_file = a->ca;
    o.mqtt.username = a->user;
    o.mqtt.password = a->password;
    wv_discovery_callbacks cb = {.local = local, .peer = on_peer, .state = on_state};
    int rc = wv_discovery_new(a->loop, a->log, &o, &cb, a, &a->d);
    wv_keys_wipe(&a->keys);
    if (rc != 0 || (rc = wv_discovery_start(a->d)) != 0) {
        fprintf(stderr, "discovery: %s\n", wv_strerror(rc));
        exit(1);
    }
    ev("READY hash=%s instance=%s", wv_discovery_site_hash(a->d), wv_discovery_instance(a->d));
    if (a->stopping) {
        a->stopping = false;
        stop(a);
    }
}

/* The identity of --pem FILE (key PEM then certificate PEM), created when
 * the file does not exist yet; a fresh one without --pem. */
static wv_identity *load_identity(const char *pem) {
    wv_identity *id = NULL;
    if (pem) {
        FILE *f = fopen(pem, "r");
        if (f) {
            static char buf[16384];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            char *cert = strstr(buf, "-----BEGIN CERTIFICATE");
            if (!cert)
                return NULL;
            char *key = wv_strndup(buf, (size_t)(cert - buf));
            wv_identity_import_pem(key, cert, &id);
            free(key);
            return id;
        }
    }
    if (wv_identity_generate("wv_disco", &id) != 0)
        return NULL;
    if (pem) {
        char *k, *c;
        FILE *f = fopen(pem, "w");
        if (f && wv_identity_export_pem(id, &k, &c) == 0) {
            fprintf(f, "%s%s", k, c);
            free(k);
            free(c);
        }
        if (f)
            fclose(f);
    }
    return id;
}

static int run(struct app *a) {
    a->loop = uv_default_loop();
    a->log = wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, NULL);
    uv_signal_init(a->loop, &a->sigterm);
    uv_signal_init(a->loop, &a->sigint);
    a->sigterm.data = a->sigint.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_pipe_init(a->loop, &a->in, 0);
    a->in.data = a;
    if (uv_pipe_open(&a->in, 0) == 0)
        uv_read_start((uv_stream_t *)&a->in, alloc_cb, on_read);
    a->work.data = a;
    uv_queue_work(a->loop, &a->work, derive, derived);
    uv_run(a->loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < a->napps; i++)
        free(a->apps[i]);
    int rc = uv_loop_close(a->loop);
    wv_log_free(a->log);
    return rc == 0 ? 0 : 2;
}

/* open and seal: up to max bytes of stdin through fn (wv_envelope_open or
 * wv_envelope_seal) under key and topic, the result to stdout; 1 when fn
 * refuses them. */
static int envelope_filter(int (*fn)(const uint8_t *, const char *, const void *, size_t,
                                     uint8_t **, size_t *),
                           const uint8_t *key, const char *topic, size_t max) {
    static char buf[WV_ENVELOPE_MAX_SEALED + 1];
    size_t n = fread(buf, 1, max < sizeof buf ? max : sizeof buf, stdin);
    uint8_t *out;
    size_t len;
    if (fn(key, topic, buf, n, &out, &len) != 0)
        return 1;
    fwrite(out, 1, len, stdout);
    free(out);
    return 0;
}

int main(int argc, char **argv) {
    struct app a = {.iterations = WV_KDF_ITERATIONS, .keepalive = 5};
    const char *to = NULL;
    if (argc < 2)
        return 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--site"))
            a.site = v;
        else if (!strcmp(k, "--key"))
            a.key = v;
        else if (!strcmp(k, "--topic"))
            a.topic = v;
        else if (!strcmp(k, "--broker") && a.nbrokers < 4)
            a.brokers[a.nbrokers++] = v;
        else if (!strcmp(k, "--iterations"))
            a.iterations = (unsigned)atoi(v);
        else if (!strcmp(k, "--ca"))
            a.ca = v;
        else if (!strcmp(k, "--user"))
            a.user = v;
        else if (!strcmp(k, "--password"))
            a.password = v;
        else if (!strcmp(k, "--grace-ms"))
            a.grace_ms = atoi(v);
        else if (!strcmp(k, "--keepalive"))
            a.keepalive = atoi(v);
        else if (!strcmp(k, "--app") && a.napps < 64)
            a.apps[a.napps++] = wv_strdup(v);
        else if (!strcmp(k, "--socket") && a.nsocks < 16)
            a.socks[a.nsocks++] = (char *)v;
        else if (!strcmp(k, "--to"))
            to = v;
        else if (!strcmp(k, "--pem"))
            a.pem = v;
        else if (!strcmp(k, "--unsigned"))
            a.unsigned_ = atoi(v) != 0;
        else if (!strcmp(k, "--count"))
            a.count = atoi(v);
        else if (!strcmp(k, "--sockets"))
            a.nforge_socks = atoi(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    static char buf[WV_ENVELOPE_MAX_SEALED + 1];
    if (!strcmp(argv[1], "sign")) {
        wv_identity *id = load_identity(a.pem);
        size_t n = fread(buf, 1, sizeof buf - 1, stdin);
        wv_msg m;
        if (!id || wv_msg_parse(buf, n, &m) != 0 || wv_msg_sign(&m, id) != 0)
            return 1;
        char *json = wv_msg_encode(&m);
        printf("%s", json);
        free(json);
        wv_msg_dispose(&m);
        wv_identity_free(id);
        return 0;
    }
    if (!a.key || !a.topic)
        return 2;
    if (!strcmp(argv[1], "run")) {
        if (!(a.id = load_identity(a.pem)))
            return 1;
        int rc = run(&a);
        wv_identity_free(a.id);
        return rc;
    }
    if (wv_keys_derive(a.key, strlen(a.key), a.topic, a.iterations, &a.keys) != 0)
        return 1;
    if (!strcmp(argv[1], "hash") && a.site) {
        char h[WV_SITE_HASH_HEX_LEN + 1];
        wv_keys_site_hash(&a.keys, a.site, h);
        printf("%s\n", h);
        return 0;
    }
    if (!strcmp(argv[1], "open") && to)
        return envelope_filter(wv_envelope_open, a.keys.message, to, WV_ENVELOPE_MAX_SEALED + 1);
    if (!strcmp(argv[1], "forge") && a.site && a.count > 0) {
        for (int i = 0; i < a.count; i++) {
            wv_msg m = {.type = WV_MSG_ANNOUNCE, .seq = 1};
            snprintf(m.site, sizeof m.site, "%s%d", a.site, i);
            wv_msg_new_instance(m.instance);
            m.ts = (int64_t)time(NULL) * 1000;
            for (int k = 0; k < a.nforge_socks && k < WV_ANNOUNCE_MAX_SOCKETS; k++)
                wv_msg_add_socket(&m, "127.0.0.1", (uint16_t)(40000 + k), false);
            memset(m.fingerprint, 'e', WV_FINGERPRINT_HEX_LEN);
            wv_identity *id = NULL;
            char seg[WV_SITE_HASH_HEX_LEN + 1];
            if (wv_identity_generate("forged", &id) != 0 || (!a.unsigned_ && wv_msg_sign(&m, id) != 0) ||
                wv_keys_site_hash(&a.keys, m.site, seg) != 0)
                return 1;
            char *topic = wv_asprintf("%s/a/%s", a.topic, seg);
            char *json = wv_msg_encode(&m);
            uint8_t *out;
            size_t len;
            if (!json || wv_envelope_seal(a.keys.message, topic, json, strlen(json), &out, &len))
                return 1;
            char *hex = wv_malloc(2 * len + 1);
            wv_hex(out, len, hex);
            printf("%s %s\n", topic, hex);
            free(hex);
            free(out);
            free(json);
            free(topic);
            wv_identity_free(id);
            wv_msg_dispose(&m);
        }
        return 0;
    }
    if (!strcmp(argv[1], "seal") && to)
        return envelope_filter(wv_envelope_seal, a.keys.message, to, WV_ENVELOPE_MAX_PLAINTEXT);
    return 2;
}
