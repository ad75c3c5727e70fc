#include "wv/apps.h"
#include "wv/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rapp_state { RAPP_WAITING, RAPP_LISTENING, RAPP_ERROR, RAPP_DISABLED };
static const char *const rapp_state_names[] = {"waiting-for-site", "listening", "error",
                                               "disabled"};

/* A running remote app: its listener and what it was built from. */
struct rapp {
    struct rapp *next;
    wv_reconciler *r;
    char *name;
    json_t *spec;       /* the stored object the listener was made from */
    unsigned max_conns; /* the spec's maxConnections, or the default */
    wv_applisten *listener;
    enum rapp_state state;
    char error[256];
    /* Shared with the proxy's connections of this app (apps.h). */
    struct wv_app_counters *counters;
    bool seen;                       /* mark for the sweep of deleted apps */
    struct wv_app_counters reported; /* counters at the last change event */
};

struct wv_reconciler {
    uv_loop_t *loop;
    wv_log *log;
    wv_store *store;
    struct wv_reconcile_callbacks cbs;
    void *user;
    uv_timer_t kick;  /* zero-delay timer: coalesces kicks into one pass */
    uv_timer_t retry; /* re-tries failed binds every second */
    struct rapp *rapps;
    int closing;
};

static void notify(wv_reconciler *r, enum wv_kind kind, const char *name) {
    if (r->cbs.on_status)
        r->cbs.on_status(r, kind, name, r->user);
}

static bool site_up(wv_reconciler *r, const char *site) {
    return r->cbs.site_up && r->cbs.site_up(r, site, r->user);
}

static void on_client(wv_applisten *l, uv_stream_t *client, void *user) {
    struct rapp *a = user;
    wv_reconciler *r = a->r;
    a->counters->connections++;
    if (a->counters->active >= a->max_conns) {
        /* Log the first refusal and every 100th, not each of a flood. */
        if (a->counters->refused_limit++ % 100 == 0)
            WV_WARN(r->log, "reconcile",
                    "remote app %s: connection refused: %u open, maxConnections %u; "
                    "%llu refused so far",
                    a->name, (unsigned)a->counters->active, a->max_conns,
                    (unsigned long long)a->counters->refused_limit);
        wv_close_free((uv_handle_t *)client);
        return;
    }
    const char *site = json_string_value(json_object_get(a->spec, "siteName"));
    /* With no tunnel to the site, refuse at once rather than leave the
     * client hanging: it learns immediately and can retry. */
    if (a->state != RAPP_LISTENING || !r->cbs.on_remote_conn ||
        r->cbs.on_remote_conn(r, a->name, a->spec, client, a->counters, r->user) != 0) {
        WV_DEBUG(r->log, "reconcile", "remote app %s: connection refused (site %s not reachable)",
                 a->name, site ? site : "?");
        wv_close_free((uv_handle_t *)client);
    }
}

static void set_state(struct rapp *a, enum rapp_state st, const char *err) {
    bool changed = a->state != st || strcmp(a->error, err ? err : "") != 0;
    a->state = st;
    snprintf(a->error, sizeof(a->error), "%s", err ? err : "");
    if (changed)
        notify(a->r, WV_KIND_REMOTE_APP, a->name);
}

static enum rapp_state up_state(wv_reconciler *r, struct rapp *a) {
    return site_up(r, json_string_value(json_object_get(a->spec, "siteName"))) ? RAPP_LISTENING
                                                                               : RAPP_WAITING;
}

/* The state of a bound listener, with the error that explains it: its site
 * may have said it has no such app. */
static void set_up_state(wv_reconciler *r, struct rapp *a) {
    const char *site = json_string_value(json_object_get(a->spec, "siteName"));
    const char *app = json_string_value(json_object_get(a->spec, "appName"));
    if (r->cbs.site_offers && site && app && r->cbs.site_offers(r, site, app, r->user) == 0) {
        char why[sizeof(a->error)];
        snprintf(why, sizeof(why), "site %s does not expose \"%s\"", site, app);
        if (a->state != RAPP_ERROR || strcmp(a->error, why) != 0)
            WV_WARN(r->log, "reconcile", "remote app %s: %s (it announces no such app)", a->name,
                    why);
        set_state(a, RAPP_ERROR, why);
        return;
    }
    set_state(a, up_state(r, a), NULL);
}

static void bind_app(wv_reconciler *r, struct rapp *a) {
    struct wv_app_socket sock;
    char why[160] = "";
    const char *ls = json_string_value(json_object_get(a->spec, "localSocket"));
    if (!ls || wv_parse_app_socket(ls, &sock, why) != 0) {
        set_state(a, RAPP_ERROR, why[0] ? why : "invalid localSocket");
        return;
    }
    if (wv_applisten_new(r->loop, &sock, on_client, a, &a->listener, why) != 0) {
        char err0[sizeof(a->error)];
        snprintf(err0, sizeof(err0), "cannot listen on %.80s: %.120s", ls, why);
        if (a->state != RAPP_ERROR || strcmp(a->error, err0) != 0)
            WV_WARN(r->log, "reconcile", "remote app %s: cannot listen on %s: %s", a->name, ls,
                    why);
        a->listener = NULL;
        char err[sizeof(a->error)];
        snprintf(err, sizeof(err), "cannot listen on %.80s: %.120s", ls, why);
        set_state(a, RAPP_ERROR, err);
        return;
    }
    WV_INFO(r->log, "reconcile", "remote app %s: listening on %s", a->name, ls);
    set_up_state(r, a);
}

/* Takes a reference to spec and the cap it sets (validated 1..65536). */
static void set_spec(struct rapp *a, json_t *spec) {
    json_decref(a->spec);
    a->spec = json_incref(spec);
    json_int_t n = json_integer_value(json_object_get(spec, "maxConnections"));
    a->max_conns = n > 0 ? (unsigned)n : WV_REMOTE_MAX_CONNS_DEFAULT;
}

/* Do a and b differ only in maxConnections? Then the listener stays: the
 * cap is read per accepted connection, and open ones are never cut. */
static bool only_cap_changed(const json_t *a, const json_t *b) {
    json_t *x = json_copy((json_t *)a), *y = json_copy((json_t *)b);
    json_object_del(x, "maxConnections");
    json_object_del(y, "maxConnections");
    bool same = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

static void rapp_free(struct rapp *a) {
    wv_applisten_close(a->listener);
    wv_app_counters_unref(a->counters);
    json_decref(a->spec);
    free(a->name);
    free(a);
}

static struct rapp *find_rapp(wv_reconciler *r, const char *name) {
    for (struct rapp *a = r->rapps; a; a = a->next)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

static bool disabled(const json_t *spec) {
    return json_is_false(json_object_get(spec, "enabled"));
}

/* "enabled": false: the app is kept, its listener closed. */
static void pause_app(wv_reconciler *r, struct rapp *a) {
    if (a->listener) {
        wv_applisten_close(a->listener);
        a->listener = NULL;
        WV_INFO(r->log, "reconcile", "remote app %s: disabled, listener closed", a->name);
    }
    set_state(a, RAPP_DISABLED, NULL);
}

static void reconcile_remote_apps(wv_reconciler *r) {
    json_t *list = NULL;
    if (wv_store_list(r->store, WV_KIND_REMOTE_APP, &list) != 0) {
        WV_ERROR(r->log, "reconcile", "cannot read remote apps from the store");
        return;
    }
    for (struct rapp *a = r->rapps; a; a = a->next)
        a->seen = false;
    size_t i;
    json_t *obj;
    json_array_foreach(list, i, obj) {
        const char *name = json_string_value(json_object_get(obj, "name"));
        if (!name)
            continue;
        json_object_del(obj, "status");
        struct rapp *a = find_rapp(r, name);
        if (disabled(obj)) {
            if (!a) {
                a = wv_calloc(1, sizeof(*a));
                a->r = r;
                a->name = wv_strdup(name);
                a->counters = wv_app_counters_new();
                a->state = RAPP_DISABLED;
                a->next = r->rapps;
                r->rapps = a;
            }
            set_spec(a, obj);
            pause_app(r, a);
        } else if (a && a->state == RAPP_DISABLED) {
            set_spec(a, obj);
            a->state = RAPP_WAITING;
            bind_app(r, a);
        } else if (a && !json_equal(a->spec, obj) && only_cap_changed(a->spec, obj)) {
            unsigned was = a->max_conns;
            set_spec(a, obj);
            WV_INFO(r->log, "reconcile", "remote app %s: maxConnections %u (was %u)", a->name,
                    a->max_conns, was);
            if (!a->listener)
                bind_app(r, a);
            else
                set_up_state(r, a);
        } else if (a && !json_equal(a->spec, obj)) {
            /* Changed: a new listener; the counters carry on (they are
             * Prometheus counters of the app, which keeps its name). */
            wv_applisten_close(a->listener);
            a->listener = NULL;
            set_spec(a, obj);
            a->state = RAPP_WAITING;
            bind_app(r, a);
        } else if (!a) {
            a = wv_calloc(1, sizeof(*a));
            a->r = r;
            a->name = wv_strdup(name);
            a->counters = wv_app_counters_new();
            set_spec(a, obj);
            a->state = RAPP_WAITING;
            a->next = r->rapps;
            r->rapps = a;
            bind_app(r, a);
        } else if (!a->listener) {
            bind_app(r, a); /* retry a failed bind (not a paused app: above) */
        } else {
            set_up_state(r, a);
        }
        a->seen = true;
    }
    json_decref(list);
    for (struct rapp **pp = &r->rapps; *pp;) {
        struct rapp *a = *pp;
        if (a->seen) {
            pp = &a->next;
            continue;
        }
        *pp = a->next;
        WV_INFO(r->log, "reconcile", "remote app %s: deleted, listener closed", a->name);
        char *name = wv_strdup(a->name);
        rapp_free(a);
        notify(r, WV_KIND_REMOTE_APP, name);
        free(name);
    }
}

static bool any_failed(wv_reconciler *r) {
    for (struct rapp *a = r->rapps; a; a = a->next)
        if (!a->listener && a->state != RAPP_DISABLED)
            return true;
    return false;
}

static void on_retry(uv_timer_t *t);

void wv_reconcile_run(wv_reconciler *r) {
    if (r->closing)
        return;
    reconcile_remote_apps(r);
    if (any_failed(r))
        uv_timer_start(&r->retry, on_retry, 1000, 0);
    else
        uv_timer_stop(&r->retry);
}

static void on_kick(uv_timer_t *t) {
    wv_reconcile_run(WV_CONTAINER_OF(t, wv_reconciler, kick));
}

static void on_retry(uv_timer_t *t) {
    wv_reconcile_run(WV_CONTAINER_OF(t, wv_reconciler, retry));
}

wv_reconciler *wv_reconcile_new(uv_loop_t *loop, wv_log *log, wv_store *store,
                                const struct wv_reconcile_callbacks *cbs, void *user) {
    wv_reconciler *r = wv_malloc(sizeof(*r));
    *r = (wv_reconciler){.loop = loop,
                         .log = log,
                         .store = store,
                         .user = user,
                         .cbs = cbs ? *cbs : (struct wv_reconcile_callbacks){0}};
    uv_timer_init(loop, &r->kick);
    uv_timer_init(loop, &r->retry);
    return r;
}

void wv_reconcile_kick(wv_reconciler *r) {
    if (!r->closing && !uv_is_active((uv_handle_t *)&r->kick))
        uv_timer_start(&r->kick, on_kick, 0, 0);
}

void wv_reconcile_site_changed(wv_reconciler *r, const char *site) {
    for (struct rapp *a = r->rapps; a; a = a->next) {
        const char *s = json_string_value(json_object_get(a->spec, "siteName"));
        if (a->listener && s && strcmp(s, site) == 0)
            set_up_state(r, a);
    }
}

static void on_timer_closed(uv_handle_t *h) {
    wv_reconciler *r = h->data;
    if (--r->closing == 1)
        free(r);
}

void wv_reconcile_free(wv_reconciler *r) {
    if (!r)
        return;
    while (r->rapps) {
        struct rapp *a = r->rapps;
        r->rapps = a->next;
        rapp_free(a);
    }
    /* closing counts the two timers still to close, plus one. */
    r->closing = 3;
    r->kick.data = r->retry.data = r;
    uv_close((uv_handle_t *)&r->kick, on_timer_closed);
    uv_close((uv_handle_t *)&r->retry, on_timer_closed);
}

json_t *wv_reconcile_status(wv_reconciler *r, enum wv_kind kind, const char *name) {
    if (kind != WV_KIND_REMOTE_APP)
        return json_object();
    struct rapp *a = find_rapp(r, name);
    if (!a)
        return json_object();
    return json_pack("{s:s, s:s*, s:I, s:I, s:I, s:I}", "state", rapp_state_names[a->state],
                     "error", a->error[0] ? a->error : NULL, "connections",
                     (json_int_t)a->counters->connections, "activeConnections",
                     (json_int_t)a->counters->active, "bytesIn", (json_int_t)a->counters->bytes_in,
                     "bytesOut", (json_int_t)a->counters->bytes_out);
}

void wv_reconcile_metrics(wv_reconciler *r, wv_metrics *m) {
    for (struct rapp *a = r->rapps; a; a = a->next) {
        char l[300] = "";
        wv_metrics_label(l, sizeof(l), "app", a->name);
        const struct wv_metric_row rows[] = {
            {"wovenet_remote_app_up", WV_GAUGE,
             "1 while the remote app's site is reachable and it listens.",
             a->state == RAPP_LISTENING},
            {"wovenet_remote_app_connections_total", WV_COUNTER,
             "Connections accepted on the remote app's local socket.",
             (double)a->counters->connections},
            {"wovenet_remote_app_active_connections", WV_GAUGE,
             "Connections open now through the remote app.", (double)a->counters->active},
            {"wovenet_remote_app_bytes_in_total", WV_COUNTER,
             "Bytes from the tunnel to local clients.", (double)a->counters->bytes_in},
            {"wovenet_remote_app_bytes_out_total", WV_COUNTER,
             "Bytes from local clients into the tunnel.", (double)a->counters->bytes_out},
            {"wovenet_remote_app_connections_refused_total", WV_COUNTER,
             "Connections refused per remote app: max open reached.",
             (double)a->counters->refused_limit},
        };
        wv_metrics_add_rows(m, l, rows, WV_COUNTOF(rows));
    }
}

size_t wv_reconcile_each_changed(wv_reconciler *r, void (*fn)(const char *name, void *arg),
                                 void *arg) {
    size_t n = 0;
    for (struct rapp *a = r->rapps; a; a = a->next) {
        struct wv_app_counters now = *a->counters;
        now.refs = a->reported.refs; /* who holds them is no change */
        if (memcmp(&now, &a->reported, sizeof(now)) == 0)
            continue;
        a->reported = now;
        fn(a->name, arg);
        n++;
    }
    return n;
}

void wv_reconcile_each_app(wv_reconciler *r,
                           void (*fn)(const char *name, const struct wv_app_counters *k, void *arg),
                           void *arg) {
    for (struct rapp *a = r->rapps; a; a = a->next)
        fn(a->name, a->counters, arg);
}
