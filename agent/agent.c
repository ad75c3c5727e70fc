/* The running site: the store's desired state made real. It owns the site
 * identity, the REST API, the reconciler (local remote-app listeners) and
 * the mesh (discovery, tunnels, proxy), and connects their callbacks. */
#include "wv/agent.h"
#include "wv/api.h"
#include "wv/apps.h"
#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/history.h"
#include "wv/mesh.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define SUB "agent"

struct wv_agent {
    uv_loop_t *loop;
    wv_store *store;
    wv_log *log;
    char *api_override;
    char *site_name;
    char *api_listen;
    wv_identity *id;
    wv_identity *retired[8]; /* identities rotated away, kept while their mesh may run */
    size_t nretired;
    wv_api *api;
    wv_reconciler *rec;
    wv_mesh *mesh;
    bool started;
    char error[320]; /* why start failed, for the command line */
    int closing; /* parts still closing */
    wv_agent_stop_cb stop_cb;
    void *stop_user;
    uv_timer_t stop_timer; /* defers the stop callback when nothing else closes */
    uv_timer_t activity;   /* publishes moving counters as events, once a second */
    uint64_t cpu_us;       /* the process's CPU time at the last tick (return_free_memory) */
    uv_timer_t sampler;    /* feeds the history, just after each wall-clock second */
    wv_history *hist;
    /* What the event log last knew of each peer: site -> {"online": bool,
     * "channels": {id: {id, family, path, remoteAddress}}} (the up ones). */
    json_t *watch;
    int64_t started_ms;
};

#define ACTIVITY_MS 1000
/* Free heap beyond this is given back to the kernel once the agent is
 * quiet: less than QUIET_CPU_US of CPU in the last tick (return_free_memory). */
#define TRIM_FREE_BYTES (16u << 20)
#define QUIET_CPU_US 20000
/* At most this many series (~48 KiB each, docs/OPERATIONS.md "History"). */
#define HISTORY_SERIES 256

static int64_t wall_ms(void) {
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* --- Identity: one key pair per site, kept in the store ------------------------- */

static int load_identity(wv_agent *a) {
    char *key = NULL, *cert = NULL;
    if (wv_store_get_identity(a->store, &key, &cert) == 0) {
        int rc = wv_identity_import_pem(key, cert, &a->id);
        wv_memwipe(key, strlen(key));
        free(key);
        free(cert);
        if (rc == 0)
            return 0;
        WV_ERROR(a->log, SUB, "the stored TLS identity is unreadable: %s", wv_strerror(rc));
        return rc;
    }
    int rc = wv_identity_generate("wovenet", &a->id);
    if (rc == 0)
        rc = wv_identity_export_pem(a->id, &key, &cert);
    if (rc == 0)
        rc = wv_store_set_identity(a->store, key, cert);
    if (key) {
        wv_memwipe(key, strlen(key));
        free(key);
    }
    free(cert);
    if (rc == 0) {
        char hex[2 * WV_FINGERPRINT_LEN + 1];
        wv_fingerprint_to_hex(wv_identity_fingerprint(a->id), hex);
        WV_INFO(a->log, SUB, "created the site's TLS identity (fingerprint %s)", hex);
    }
    return rc;
}

/* --- Callbacks ----------------------------------------------------------------- */

static json_t *status_of(wv_api *api, enum wv_kind kind, const char *name, void *user) {
    wv_agent *a = user;
    if (kind == WV_KIND_REMOTE_APP)
        return wv_reconcile_status(a->rec, kind, name);
    return wv_mesh_status(a->mesh, kind, name);
}

/* The stored logger settings take effect at once, like every other edit
 * (main.c set them up from the store at start). */
static void apply_logger(wv_agent *a, json_t *l) {
    const char *lv = json_string_value(json_object_get(l, "level"));
    const char *fm = json_string_value(json_object_get(l, "format"));
    const char *file = json_string_value(json_object_get(l, "file"));
    int level = lv ? wv_log_level_parse(lv) : -1;
    int format = fm ? wv_log_format_parse(fm) : -1;
    if (wv_log_configure(a->log, level < 0 ? WV_LOG_INFO : level,
                         format < 0 ? WV_LOG_TEXT : format, file) != 0)
        WV_WARN(a->log, SUB, "logger.file: cannot open %s: %s (logging where it did)", file,
                strerror(errno));
}

static void changed(wv_api *api, enum wv_kind kind, const char *name, void *user) {
    wv_agent *a = user;
    /* Run at once: the answer then shows the new listener's state, and the
     * socket accepts before the client has read the answer. */
    if (kind == WV_KIND_REMOTE_APP)
        wv_reconcile_run(a->rec);
    else
        wv_mesh_sync(a->mesh);
    if (kind == WV_KIND_SITE) {
        json_t *site = NULL;
        if (wv_store_get_site(a->store, &site) == 0) {
            const char *n = json_string_value(json_object_get(site, "siteName"));
            free(a->site_name);
            a->site_name = wv_strdup(n ? n : "");
            apply_logger(a, json_object_get(site, "logger"));
            json_decref(site);
        }
    }
}

static json_t *peers(wv_api *api, void *user) {
    wv_agent *a = user;
    return wv_mesh_peers_json(a->mesh);
}

static int forget_peer(wv_api *api, const char *site, bool block, void *user) {
    wv_agent *a = user;
    int rc = wv_mesh_forget(a->mesh, site, block);
    if (rc == 0) {
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s/", site);
        wv_history_drop(a->hist, WV_HIST_PEER, site, false);
        wv_history_drop(a->hist, WV_HIST_CHANNEL, prefix, true);
    }
    return rc;
}

static int approve_peer(wv_api *api, const char *site, void *user) {
    wv_agent *a = user;
    return wv_mesh_approve(a->mesh, site);
}

/* A new identity signed over by the current one; the mesh re-joins with it. */
static int rotate_identity(wv_api *api, json_t **out, void *user) {
    wv_agent *a = user;
    if (!a->mesh || !a->site_name[0])
        return WV_ERR_NOTFOUND;
    if (a->nretired >= WV_COUNTOF(a->retired)) {
        /* Free the oldest: the mesh left it two rotations ago at least. */
        wv_identity_free(a->retired[0]);
        memmove(a->retired, a->retired + 1, (a->nretired - 1) * sizeof(a->retired[0]));
        a->nretired--;
    }
    wv_identity *id = NULL;
    uint8_t oldpub[WV_PUBKEY_LEN], newpub[WV_PUBKEY_LEN];
    char oldhex[WV_PUBKEY_HEX_LEN + 1], newhex[WV_PUBKEY_HEX_LEN + 1], sig[WV_SIG_HEX_LEN + 1];
    char *key = NULL, *cert = NULL;
    int rc = wv_identity_generate("wovenet", &id);
    if (rc == 0)
        rc = wv_identity_public_key(a->id, oldpub) || wv_identity_public_key(id, newpub)
                 ? WV_ERR_CRYPTO
                 : 0;
    if (rc == 0) {
        wv_hex(oldpub, sizeof oldpub, oldhex);
        wv_hex(newpub, sizeof newpub, newhex);
        rc = wv_rotation_sign(a->id, a->site_name, newhex, sig);
    }
    if (rc == 0)
        rc = wv_identity_export_pem(id, &key, &cert);
    if (rc == 0)
        rc = wv_store_rotate_identity(a->store, key, cert, oldhex, sig);
    if (key) {
        wv_memwipe(key, strlen(key));
        free(key);
    }
    free(cert);
    if (rc != 0) {
        wv_identity_free(id);
        WV_ERROR(a->log, SUB, "cannot rotate the identity: %s", wv_strerror(rc));
        return rc;
    }
    a->retired[a->nretired++] = a->id;
    a->id = id;
    char fp[WV_FINGERPRINT_HEX_LEN + 1];
    wv_fingerprint_to_hex(wv_identity_fingerprint(id), fp);
    WV_INFO(a->log, SUB, "rotated the site's identity key %.16s... -> %.16s... (fingerprint %s)",
            oldhex, newhex, fp);
    wv_mesh_set_identity(a->mesh, id);
    *out = json_pack("{s:s, s:s, s:s}", "identityKey", newhex, "previousKey", oldhex,
                     "fingerprint", fp);
    return 0;
}

static json_t *history(wv_api *api, const char *kind, const char *name, unsigned step,
                       int64_t since, void *user) {
    wv_agent *a = user;
    return wv_history_json(a->hist, kind ? wv_hist_kind_parse(kind) : -1, name, step, since,
                           wall_ms() / 1000);
}

static json_t *connections(wv_api *api, void *user) {
    wv_agent *a = user;
    return a->mesh ? wv_mesh_connections_json(a->mesh) : json_array();
}

static json_t *site_status(wv_api *api, void *user) {
    wv_agent *a = user;
    const char *state = !a->mesh ? "stopped"
                        : wv_mesh_broker_connected(a->mesh) ? "connected"
                                                            : "disconnected";
    uint8_t pub[WV_PUBKEY_LEN];
    char key[WV_PUBKEY_HEX_LEN + 1] = "", fp[WV_FINGERPRINT_HEX_LEN + 1] = "";
    if (a->id && wv_identity_public_key(a->id, pub) == 0)
        wv_hex(pub, sizeof pub, key);
    if (a->id)
        wv_fingerprint_to_hex(wv_identity_fingerprint(a->id), fp);
    char started[40] = "";
    time_t sec = (time_t)(a->started_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* identity: what peers pin (compare it with their view before
     * approving); agent: what runs; history: what the charts cost. */
    return json_pack("{s:{s:s}, s:{s:s, s:s}, s:{s:s, s:s, s:I, s:s}, s:{s:I, s:I}}", "broker",
                     "state", state, "identity", "identityKey", key, "fingerprint", fp, "agent",
                     "version", WOVENET_VERSION, "startedAt", started, "uptimeSeconds",
                     (json_int_t)((wall_ms() - a->started_ms) / 1000), "fingerprint", fp,
                     "history", "series", (json_int_t)wv_history_count(a->hist), "bytes",
                     (json_int_t)wv_history_bytes(a->hist));
}

static char *metrics(wv_api *api, void *user) {
    wv_agent *a = user;
    wv_metrics *m = wv_metrics_new();
    wv_metrics_add(m, "wovenet_build_info", WV_GAUGE,
                   "Always 1; the labels say which wovenet this is.",
                   "version=\"" WOVENET_VERSION "\"", 1);
    wv_metrics_process(m);
    wv_metrics_add(m, "wovenet_history_series", WV_GAUGE,
                   "Time series the agent keeps in memory (site, peers, channels, apps).", NULL,
                   (double)wv_history_count(a->hist));
    wv_metrics_add(m, "wovenet_history_bytes", WV_GAUGE,
                   "Memory those time series take, in bytes.", NULL,
                   (double)wv_history_bytes(a->hist));
    wv_mesh_metrics(a->mesh, m);
    wv_reconcile_metrics(a->rec, m);
    char *text = wv_metrics_render(m);
    wv_metrics_free(m);
    return text;
}

static void rec_status(wv_reconciler *r, enum wv_kind kind, const char *name, void *user) {
    wv_agent *a = user;
    if (a->api)
        wv_api_publish(a->api, kind, name, "status", NULL);
}

static bool rec_site_up(wv_reconciler *r, const char *site, void *user) {
    wv_agent *a = user;
    return a->mesh && wv_mesh_site_up(a->mesh, site);
}

static int rec_site_offers(wv_reconciler *r, const char *site, const char *app, void *user) {
    wv_agent *a = user;
    return a->mesh ? wv_mesh_site_offers(a->mesh, site, app) : -1;
}

static int rec_conn(wv_reconciler *r, const char *name, const json_t *spec, uv_stream_t *client,
                    struct wv_app_counters *counters, void *user) {
    wv_agent *a = user;
    return a->mesh ? wv_mesh_connect(a->mesh, name, spec, client, counters) : WV_ERR_NOTFOUND;
}

static void mesh_site_state(wv_mesh *m, const char *site, bool up, void *user) {
    wv_agent *a = user;
    wv_reconcile_site_changed(a->rec, site);
}

/* --- Peers and channels in the event log ------------------------------------------ */

/* Compares what a peer is now (its GET /peers object, or NULL once it is
 * gone) with what the log last knew, and publishes what happened: the
 * peer joined or left, a channel came up or went down. */
static void watch_peer(wv_agent *a, const char *site, const json_t *peer) {
    json_t *prev = json_object_get(a->watch, site);
    bool was_online = json_is_true(json_object_get(prev, "online"));
    bool online = json_is_true(json_object_get(peer, "online"));
    json_t *was_up = json_object_get(prev, "channels");
    json_t *up = json_object();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(peer, "channels"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "state")), "up") != 0)
            continue;
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(c, "id")));
        json_object_set_new(up, id,
                            json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(c, "id"),
                                      "family", json_object_get(c, "family"), "path",
                                      json_object_get(c, "path"), "remoteAddress",
                                      json_object_get(c, "remoteAddress")));
    }
    if (a->api) {
        if (online && !was_online)
            wv_api_publish_event(a->api, "peers", site, "joined", NULL);
        else if (peer && !online && was_online)
            wv_api_publish_event(a->api, "peers", site, "left", NULL);
        const char *id;
        json_object_foreach(up, id, c) {
            if (!json_object_get(was_up, id))
                wv_api_publish_event(a->api, "channels", site, "up", c);
        }
        json_object_foreach(was_up, id, c) {
            if (!json_object_get(up, id))
                wv_api_publish_event(a->api, "channels", site, "down", c);
        }
    }
    if (peer)
        json_object_set_new(a->watch, site, json_pack("{s:b, s:o}", "online", online, "channels", up));
    else {
        json_decref(up);
        json_object_del(a->watch, site);
    }
}

/* --- History: one sample of everything, each second ------------------------------ */

struct app_sample {
    wv_agent *a;
    int64_t sec;
    enum wv_hist_kind kind;
    uint32_t open; /* connections open over all apps */
};

static void sample_app(const char *name, const struct wv_app_counters *k, void *arg) {
    struct app_sample *as = arg;
    wv_history_add_totals(as->a->hist, as->kind, name, as->sec, k->bytes_in, k->bytes_out, -1,
                          (uint32_t)k->active);
    as->open += (uint32_t)k->active;
}

/* The peers' channels into the channel, peer and site series (rx: received
 * from the peer), the apps into theirs (rx: from the tunnel to the local
 * socket). A peer's RTT is its best up channel's. Also brings the event
 * log's view of the peers up to date. */
static void sample(wv_agent *a, int64_t sec) {
    struct wv_hist_sample site = {.rtt_ms = -1};
    json_t *peers = wv_mesh_peers_json(a->mesh), *p, *c;
    size_t i, j;
    json_array_foreach(peers, i, p) {
        const char *name = json_string_value(json_object_get(p, "siteName"));
        struct wv_hist_sample ps = {.rtt_ms = -1};
        json_array_foreach(json_object_get(p, "channels"), j, c) {
            char key[300];
            snprintf(key, sizeof(key), "%s/%lld", name,
                     (long long)json_integer_value(json_object_get(c, "id")));
            bool up = strcmp(json_string_value(json_object_get(c, "state")), "up") == 0;
            double rtt = up ? json_number_value(json_object_get(c, "rttMs")) : -1;
            struct wv_hist_sample d = wv_history_add_totals(
                a->hist, WV_HIST_CHANNEL, key, sec,
                (uint64_t)json_integer_value(json_object_get(c, "bytesReceived")),
                (uint64_t)json_integer_value(json_object_get(c, "bytesSent")), rtt,
                (uint32_t)json_integer_value(json_object_get(c, "streams")));
            ps.rx += d.rx;
            ps.tx += d.tx;
            if (up) {
                ps.active++;
                if (ps.rtt_ms < 0 || rtt < ps.rtt_ms)
                    ps.rtt_ms = rtt;
            }
        }
        wv_history_add(a->hist, WV_HIST_PEER, name, sec, &ps);
        site.rx += ps.rx;
        site.tx += ps.tx;
        watch_peer(a, name, p);
    }
    /* Peers no longer listed (forgotten, or the mesh left). */
    const char *name;
    json_t *w, *tmp;
    json_object_foreach_safe(a->watch, tmp, name, w) {
        bool listed = false;
        json_array_foreach(peers, i, p) {
            if (strcmp(json_string_value(json_object_get(p, "siteName")), name) == 0)
                listed = true;
        }
        if (!listed)
            watch_peer(a, name, NULL);
    }
    json_decref(peers);
    struct app_sample as = {.a = a, .sec = sec, .kind = WV_HIST_REMOTE_APP};
    wv_reconcile_each_app(a->rec, sample_app, &as);
    as.kind = WV_HIST_EXPOSED_APP;
    wv_mesh_each_exposed(a->mesh, sample_app, &as);
    site.active = as.open;
    wv_history_add(a->hist, WV_HIST_SITE, "", sec, &site);
    if (sec % 60 == 0)
        wv_history_expire(a->hist, sec);
}

static void on_sample(uv_timer_t *t);

/* Just after the next wall-clock second begins, so that each sample lands
 * in a second of its own. */
static void arm_sampler(wv_agent *a) {
    int64_t ms = wall_ms();
    uv_timer_start(&a->sampler, on_sample, (uint64_t)(1000 - ms % 1000 + 10), 0);
}

static void on_sample(uv_timer_t *t) {
    wv_agent *a = t->data;
    if (a->mesh && a->rec)
        sample(a, wall_ms() / 1000);
    arm_sampler(a);
}

static void mesh_event(wv_mesh *m, const char *kind, const char *name, void *user) {
    wv_agent *a = user;
    /* A peer's announcement may add or drop an app our remote apps use. */
    if (strcmp(kind, "peers") == 0 && name && a->rec)
        wv_reconcile_site_changed(a->rec, name);
    if (!a->api)
        return;
    if (strcmp(kind, "tunnelSockets") == 0)
        wv_api_publish(a->api, WV_KIND_SOCKET, name, "status", NULL);
    else if (strcmp(kind, "exposedApps") == 0)
        wv_api_publish(a->api, WV_KIND_EXPOSED_APP, name, "status", NULL);
    else
        wv_api_publish_event(a->api, kind, name, "status", NULL);
    /* Channels up and down and peers joining go to the log at once, not
     * only at the next sample. */
    if ((strcmp(kind, "peers") == 0 || strcmp(kind, "channels") == 0) && name && name[0]) {
        json_t *p = wv_mesh_peer_json(m, name);
        if (p || json_object_get(a->watch, name))
            watch_peer(a, name, p);
        json_decref(p);
    }
}

/* Counters grow as bytes move; the dashboard learns of it from events
 * rather than by polling every object. */
static void publish_remote(const char *name, void *arg) {
    wv_agent *a = arg;
    wv_api_publish(a->api, WV_KIND_REMOTE_APP, name, "status", NULL);
}

/* What a fast transfer freed (send chunks, receive buffers of windows grown
 * to tens of MiB) stays resident in glibc's heap, which returns only its
 * top: after a 32 MiB-window transfer on loopback an agent kept 18 MiB it
 * no longer used (docs/PERFORMANCE.md, "Memory"). Once a second, when the
 * agent was quiet (trimming during a transfer costs it page faults: -8..20%
 * on loopback) and more than TRIM_FREE_BYTES are free, malloc_trim gives
 * the free pages back. */
static void return_free_memory(wv_agent *a) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return;
    uint64_t cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                   (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    bool quiet = cpu - a->cpu_us < QUIET_CPU_US;
    a->cpu_us = cpu;
#ifdef __GLIBC__
    if (quiet && mallinfo2().fordblks > TRIM_FREE_BYTES)
        malloc_trim(0);
#else
    (void)quiet;
#endif
}

static void on_activity(uv_timer_t *t) {
    wv_agent *a = t->data;
    return_free_memory(a);
    if (!a->api)
        return;
    wv_reconcile_each_changed(a->rec, publish_remote, a);
    wv_mesh_report_activity(a->mesh);
}

/* --- Lifetime ------------------------------------------------------------------ */

int wv_agent_new(uv_loop_t *loop, wv_store *store, wv_log *log, const struct wv_agent_opts *opts,
                 wv_agent **out) {
    *out = NULL;
    if (!loop || !store)
        return WV_ERR_INVAL;
    wv_agent *a = wv_calloc(1, sizeof(*a));
    a->loop = loop;
    a->store = store;
    a->log = log;
    if (opts && opts->api_listen)
        a->api_override = wv_strdup(opts->api_listen);
    a->site_name = wv_strdup("");
    a->hist = wv_history_new(HISTORY_SERIES);
    a->watch = json_object();
    a->started_ms = wall_ms();
    *out = a;
    return 0;
}

/* The API settings: listen address, enabled, TLS files. */
static int start_api(wv_agent *a, json_t *site) {
    json_t *ra = json_object_get(site, "restfulApi");
    const char *listen = json_string_value(json_object_get(ra, "listenAddr"));
    free(a->api_listen);
    a->api_listen = wv_strdup(a->api_override ? a->api_override
                                              : listen ? listen : "127.0.0.1:18080");
    json_t *en = json_object_get(ra, "enabled");
    if (en && json_is_false(en) && !a->api_override) {
        WV_INFO(a->log, SUB, "REST API disabled (restfulApi.enabled: false)");
        return 0;
    }
    const char *unsafe = wv_api_check_listen_safety(a->api_listen, a->store);
    if (unsafe) {
        WV_ERROR(a->log, SUB, "refusing to serve the API on %s: %s", a->api_listen, unsafe);
        snprintf(a->error, sizeof(a->error), "refusing to serve the API on %s: %s", a->api_listen,
                 unsafe);
        return WV_ERR_AUTH;
    }
    char why[256] = "";
    struct wv_api_opts o = {.listen = a->api_listen, .why = why};
    char *cert = NULL, *key = NULL;
    json_t *tls = json_object_get(ra, "tls");
    if (json_is_true(json_object_get(tls, "enabled"))) {
        int rc = wv_read_file(json_string_value(json_object_get(tls, "cert")), 1 << 20, &cert);
        if (rc == 0)
            rc = wv_read_file(json_string_value(json_object_get(tls, "key")), 1 << 20, &key);
        if (rc != 0) {
            const char *which = cert ? "key" : "cert";
            WV_ERROR(a->log, SUB, "cannot read the API's TLS %s file (restfulApi.tls.%s)", which,
                     which);
            snprintf(a->error, sizeof(a->error),
                     "the API's TLS %s file (restfulApi.tls.%s) cannot be read: %s", which, which,
                     rc == WV_ERR_TOOBIG ? "larger than 1 MiB" : "no such file or no access");
            free(cert);
            free(key);
            return rc;
        }
        o.tls_cert_pem = cert;
        o.tls_key_pem = key;
    }
    struct wv_api_callbacks cbs = {.status_of = status_of,
                                   .changed = changed,
                                   .peers = peers,
                                   .metrics = metrics,
                                   .forget_peer = forget_peer,
                                   .site_status = site_status,
                                   .approve_peer = approve_peer,
                                   .rotate_identity = rotate_identity,
                                   .history = history,
                                   .connections = connections};
    int rc = wv_api_new(a->loop, a->log, a->store, &o, &cbs, a, &a->api);
    if (key) {
        wv_memwipe(key, strlen(key));
        free(key);
    }
    free(cert);
    if (rc != 0) {
        a->api = NULL;
        snprintf(a->error, sizeof(a->error), "the API: %s",
                 why[0] ? why : wv_strerror(rc));
        return rc;
    }
    WV_INFO(a->log, SUB, "REST API and dashboard on %s://%s/", o.tls_cert_pem ? "https" : "http",
            a->api_listen);
    return 0;
}

int wv_agent_start(wv_agent *a) {
    json_t *site = NULL;
    int rc = wv_store_get_site(a->store, &site);
    if (rc != 0 && rc != WV_ERR_NOTFOUND)
        return rc;
    if (site) {
        const char *name = json_string_value(json_object_get(site, "siteName"));
        free(a->site_name);
        a->site_name = wv_strdup(name ? name : "");
    } else {
        WV_WARN(a->log, SUB, "no site configured yet: configure it with PUT /api/v1/site or "
                             "`wovenet import`");
    }
    rc = load_identity(a);
    if (rc == 0)
        rc = start_api(a, site);
    json_decref(site);
    if (rc != 0)
        return rc;
    struct wv_reconcile_callbacks rc_cbs = {
        .on_status = rec_status,
        .site_up = rec_site_up,
        .site_offers = rec_site_offers,
        .on_remote_conn = rec_conn};
    a->rec = wv_reconcile_new(a->loop, a->log, a->store, &rc_cbs, a);
    struct wv_mesh_callbacks m_cbs = {.site_state = mesh_site_state, .event = mesh_event};
    a->mesh = wv_mesh_new(a->loop, a->log, a->store, a->id, &m_cbs, a);
    wv_reconcile_run(a->rec);
    wv_mesh_sync(a->mesh);
    uv_timer_init(a->loop, &a->activity);
    a->activity.data = a;
    uv_timer_start(&a->activity, on_activity, ACTIVITY_MS, ACTIVITY_MS);
    uv_timer_init(a->loop, &a->sampler);
    a->sampler.data = a;
    arm_sampler(a);
    a->started = true;
    WV_INFO(a->log, SUB, "site %s running (config revision %lld)",
            a->site_name[0] ? a->site_name : "(unconfigured)",
            (long long)wv_store_revision(a->store));
    return 0;
}

const char *wv_agent_error(const wv_agent *a) {
    return a->error;
}

const char *wv_agent_site_name(const wv_agent *a) {
    return a->site_name;
}

const char *wv_agent_api_listen(const wv_agent *a) {
    return a->api_listen ? a->api_listen : (a->api_override ? a->api_override : "");
}

static void part_closed(void *arg) {
    wv_agent *a = arg;
    if (--a->closing > 0)
        return;
    WV_INFO(a->log, SUB, "site %s stopped", a->site_name);
    if (a->stop_cb)
        a->stop_cb(a, a->stop_user);
}

static void timer_closed(uv_handle_t *h) {
    part_closed(h->data);
}

static void mesh_closed(void *arg) {
    wv_agent *a = arg;
    a->mesh = NULL;
    /* Listeners go after the mesh: no connection is accepted into a
     * half-closed proxy. */
    wv_reconcile_free(a->rec);
    a->rec = NULL;
    part_closed(a);
}

void wv_agent_stop(wv_agent *a, wv_agent_stop_cb cb, void *user) {
    a->stop_cb = cb;
    a->stop_user = user;
    WV_INFO(a->log, SUB, "site %s stopping", a->site_name);
    /* The timer guarantees the callback never fires inside this call. */
    a->closing = 1;
    uv_timer_init(a->loop, &a->stop_timer);
    a->stop_timer.data = a;
    uv_close((uv_handle_t *)&a->stop_timer, timer_closed);
    if (a->started) {
        a->closing += 2;
        uv_close((uv_handle_t *)&a->activity, timer_closed);
        uv_close((uv_handle_t *)&a->sampler, timer_closed);
    }
    if (a->api) {
        a->closing++;
        wv_api_close(a->api, part_closed, a);
        a->api = NULL;
    }
    if (a->mesh) {
        a->closing++;
        wv_mesh_close(a->mesh, mesh_closed, a);
    } else if (a->rec) {
        wv_reconcile_free(a->rec);
        a->rec = NULL;
    }
    a->started = false;
}

void wv_agent_free(wv_agent *a) {
    if (!a)
        return;
    wv_identity_free(a->id);
    for (size_t i = 0; i < a->nretired; i++)
        wv_identity_free(a->retired[i]);
    wv_history_free(a->hist);
    json_decref(a->watch);
    free(a->api_override);
    free(a->site_name);
    free(a->api_listen);
    free(a);
}
