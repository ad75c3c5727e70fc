/* Target checks of exposed apps (apps.h, "Health checks"): a connect to
 * the app's socket every interval, closed at once. One timer for all apps;
 * each check owns its handle, freed in its close callback, so an app
 * removed (or the checker closed) mid-check never leaves a dangling one. */
#include "wv/apps.h"
#include "wv/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB "health"
#define CONNECT_TIMEOUT_MS 3000
#define TICK_MS 500

enum hstate { H_CHECKING, H_OK, H_FAILING };
static const char *const hstate_names[] = {"checking", "ok", "failing"};

struct target;

/* One connect in flight. */
struct probe {
    union {
        uv_handle_t h;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    uv_connect_t req;
    struct target *t; /* NULL once the target is gone */
    wv_apphealth *hc;
    uint64_t started;
};

struct target {
    struct target *next;
    char *name;
    char *socket; /* "tcp:IP:PORT" or "unix:PATH" */
    uint64_t interval_ms;
    uint64_t due;
    enum hstate state;
    char error[200];
    int64_t checked_at; /* Unix seconds of the last result; 0 none */
    struct probe *probe;
    bool seen;
};

struct wv_apphealth {
    uv_loop_t *loop;
    wv_log *log;
    wv_apphealth_cb changed;
    void *user;
    uv_timer_t tick;
    struct target *targets;
    int probes; /* in flight or closing */
    bool closing;
    void (*close_cb)(void *);
    void *close_arg;
};

static void maybe_freed(wv_apphealth *hc);

static void probe_closed(uv_handle_t *h) {
    struct probe *p = WV_CONTAINER_OF(h, struct probe, u.h);
    wv_apphealth *hc = p->hc;
    if (p->t)
        p->t->probe = NULL;
    free(p);
    hc->probes--;
    maybe_freed(hc);
}

static void finish(struct target *t, wv_apphealth *hc, int status) {
    enum hstate was = t->state;
    char before[sizeof(t->error)];
    snprintf(before, sizeof(before), "%s", t->error);
    if (status == 0) {
        t->state = H_OK;
        t->error[0] = '\0';
    } else {
        t->state = H_FAILING;
        snprintf(t->error, sizeof(t->error), "target %s does not answer: %s", t->socket,
                 status == UV_ETIMEDOUT ? "connection timed out" : uv_strerror(status));
    }
    t->checked_at = (int64_t)time(NULL);
    if (t->state == was && strcmp(before, t->error) == 0)
        return;
    /* Once per change, not once per check. */
    if (t->state == H_FAILING)
        WV_WARN(hc->log, SUB, "exposed app %s: %s", t->name, t->error);
    else if (was == H_FAILING)
        WV_INFO(hc->log, SUB, "exposed app %s: target %s answers again", t->name, t->socket);
    if (hc->changed && !hc->closing)
        hc->changed(hc, t->name, hc->user);
}

static void on_connect(uv_connect_t *req, int status) {
    struct probe *p = WV_CONTAINER_OF(req, struct probe, req);
    if (p->t && status != UV_ECANCELED)
        finish(p->t, p->hc, status);
    if (!uv_is_closing(&p->u.h))
        uv_close(&p->u.h, probe_closed);
}

static void start_probe(wv_apphealth *hc, struct target *t) {
    struct wv_app_socket as;
    char why[128];
    if (wv_parse_app_socket(t->socket, &as, why) != 0) {
        finish(t, hc, UV_EINVAL);
        return;
    }
    struct probe *p = wv_calloc(1, sizeof(*p));
    p->t = t;
    p->hc = hc;
    p->started = uv_now(hc->loop);
    int rc;
    if (as.is_unix) {
        uv_pipe_init(hc->loop, &p->u.pipe, 0);
        uv_pipe_connect(&p->req, &p->u.pipe, as.path, on_connect);
        rc = 0;
    } else {
        uv_tcp_init(hc->loop, &p->u.tcp);
        rc = uv_tcp_connect(&p->req, &p->u.tcp, (const struct sockaddr *)&as.addr, on_connect);
    }
    hc->probes++;
    t->probe = p;
    if (rc != 0) {
        finish(t, hc, rc);
        p->t = NULL;
        t->probe = NULL;
        uv_close(&p->u.h, probe_closed);
    }
}

static void on_tick(uv_timer_t *timer) {
    wv_apphealth *hc = timer->data;
    uint64_t now = uv_now(hc->loop);
    for (struct target *t = hc->targets; t; t = t->next) {
        if (t->probe) {
            /* A target that neither accepts nor refuses (dropped SYNs). */
            if (now - t->probe->started >= CONNECT_TIMEOUT_MS) {
                struct probe *p = t->probe;
                finish(t, hc, UV_ETIMEDOUT);
                p->t = NULL;
                t->probe = NULL;
                if (!uv_is_closing(&p->u.h))
                    uv_close(&p->u.h, probe_closed);
            }
            continue;
        }
        if (now >= t->due) {
            t->due = now + t->interval_ms;
            start_probe(hc, t);
        }
    }
}

wv_apphealth *wv_apphealth_new(uv_loop_t *loop, wv_log *log, wv_apphealth_cb changed, void *user) {
    wv_apphealth *hc = wv_calloc(1, sizeof(*hc));
    hc->loop = loop;
    hc->log = log;
    hc->changed = changed;
    hc->user = user;
    uv_timer_init(loop, &hc->tick);
    hc->tick.data = hc;
    return hc;
}

static void target_free(wv_apphealth *hc, struct target *t) {
    if (t->probe) {
        struct probe *p = t->probe;
        p->t = NULL;
        if (!uv_is_closing(&p->u.h))
            uv_close(&p->u.h, probe_closed);
    }
    free(t->name);
    free(t->socket);
    free(t);
}

void wv_apphealth_set(wv_apphealth *hc, const json_t *apps) {
    if (hc->closing)
        return;
    for (struct target *t = hc->targets; t; t = t->next)
        t->seen = false;
    size_t i;
    json_t *a;
    json_array_foreach((json_t *)apps, i, a) {
        json_t *chk = json_object_get(a, "healthCheck");
        const char *name = json_string_value(json_object_get(a, "name"));
        const char *sock = json_string_value(json_object_get(a, "appSocket"));
        json_int_t iv = json_integer_value(json_object_get(chk, "interval"));
        if (!json_is_object(chk) || !name || !sock || iv <= 0 ||
            json_is_false(json_object_get(a, "enabled")))
            continue;
        struct target *t = hc->targets;
        while (t && strcmp(t->name, name) != 0)
            t = t->next;
        if (t && (strcmp(t->socket, sock) != 0 || t->interval_ms != (uint64_t)iv * 1000)) {
            /* Another target or pace: a fresh start, checked at once. */
            free(t->socket);
            t->socket = wv_strdup(sock);
            t->interval_ms = (uint64_t)iv * 1000;
            t->due = 0;
            t->state = H_CHECKING;
            t->error[0] = '\0';
        } else if (!t) {
            t = wv_calloc(1, sizeof(*t));
            t->name = wv_strdup(name);
            t->socket = wv_strdup(sock);
            t->interval_ms = (uint64_t)iv * 1000;
            t->state = H_CHECKING;
            t->next = hc->targets;
            hc->targets = t;
        }
        t->seen = true;
    }
    for (struct target **pp = &hc->targets; *pp;) {
        struct target *t = *pp;
        if (t->seen) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        target_free(hc, t);
    }
    if (hc->targets) {
        if (!uv_is_active((uv_handle_t *)&hc->tick))
            uv_timer_start(&hc->tick, on_tick, 0, TICK_MS);
        else
            on_tick(&hc->tick); /* a new target is checked now, not in TICK_MS */
    } else {
        uv_timer_stop(&hc->tick);
    }
}

json_t *wv_apphealth_status(wv_apphealth *hc, const char *name) {
    for (struct target *t = hc->targets; t; t = t->next) {
        if (strcmp(t->name, name) != 0)
            continue;
        char at[32] = "";
        if (t->checked_at) {
            time_t sec = (time_t)t->checked_at;
            struct tm tm;
            gmtime_r(&sec, &tm);
            strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        return json_pack("{s:s, s:s?, s:s?}", "state", hstate_names[t->state], "error",
                         t->error[0] ? t->error : NULL, "checkedAt", at[0] ? at : NULL);
    }
    return NULL;
}

static void tick_closed(uv_handle_t *h) {
    wv_apphealth *hc = h->data;
    hc->probes--; /* the timer counted as one */
    maybe_freed(hc);
}

static void maybe_freed(wv_apphealth *hc) {
    if (!hc->closing || hc->probes > 0)
        return;
    void (*cb)(void *) = hc->close_cb;
    void *arg = hc->close_arg;
    free(hc);
    if (cb)
        cb(arg);
}

void wv_apphealth_close(wv_apphealth *hc, void (*cb)(void *arg), void *arg) {
    hc->closing = true;
    hc->close_cb = cb;
    hc->close_arg = arg;
    while (hc->targets) {
        struct target *t = hc->targets;
        hc->targets = t->next;
        target_free(hc, t);
    }
    hc->probes++; /* the timer */
    uv_close((uv_handle_t *)&hc->tick, tick_closed);
}
