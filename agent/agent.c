/* The running site. Kept small on purpose: each runtime module (API server,
 * message channel, QUIC endpoint, reconciler) gets a field here, is started
 * in wv_agent_start() and closed in wv_agent_stop(). */
#include "agent.h"
#include "common.h"

#include <stdlib.h>
#include <string.h>

struct wv_agent {
    uv_loop_t *loop;
    wv_store *store;
    wv_log *log;
    char *api_override;
    char *site_name;
    char *api_listen;
    bool started;
    /* Closed on stop; its close callback is the stop callback (deferred). */
    uv_timer_t stop_timer;
    bool stop_timer_open;
    wv_agent_stop_cb stop_cb;
    void *stop_user;
};

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
    *out = a;
    return 0;
}

int wv_agent_start(wv_agent *a) {
    json_t *site = NULL;
    int rc = wv_store_get_site(a->store, &site);
    if (rc) {
        WV_ERROR(a->log, "agent", "cannot start: %s",
                 rc == WV_ERR_NOTFOUND ? "no site configured (import a config first)"
                                       : wv_strerror(rc));
        return rc;
    }
    const char *name = json_string_value(json_object_get(site, "siteName"));
    free(a->site_name);
    a->site_name = wv_strdup(name ? name : "");
    const char *listen =
        json_string_value(json_object_get(json_object_get(site, "restfulApi"), "listenAddr"));
    free(a->api_listen);
    a->api_listen = wv_strdup(a->api_override ? a->api_override : listen ? listen : "");
    json_decref(site);

    uv_timer_init(a->loop, &a->stop_timer);
    a->stop_timer.data = a;
    a->stop_timer_open = true;
    a->started = true;
    WV_DEBUG(a->log, "agent", "API listen address %s%s", a->api_listen,
             a->api_override ? " (from --api)" : "");
    WV_INFO(a->log, "agent", "site %s running (config revision %lld)", a->site_name,
            (long long)wv_store_revision(a->store));
    return 0;
}

const char *wv_agent_site_name(const wv_agent *a) {
    return a->site_name;
}

const char *wv_agent_api_listen(const wv_agent *a) {
    return a->api_listen ? a->api_listen : (a->api_override ? a->api_override : "");
}

static void on_timer_closed(uv_handle_t *h) {
    wv_agent *a = h->data;
    a->stop_timer_open = false;
    WV_INFO(a->log, "agent", "site %s stopped", a->site_name);
    if (a->stop_cb)
        a->stop_cb(a, a->stop_user);
}

void wv_agent_stop(wv_agent *a, wv_agent_stop_cb cb, void *user) {
    a->stop_cb = cb;
    a->stop_user = user;
    if (!a->stop_timer_open) {
        /* never started: still call back from the loop, never inline */
        uv_timer_init(a->loop, &a->stop_timer);
        a->stop_timer.data = a;
        a->stop_timer_open = true;
    }
    a->started = false;
    WV_INFO(a->log, "agent", "site %s stopping", a->site_name);
    /* close callbacks always run on a later loop iteration */
    uv_close((uv_handle_t *)&a->stop_timer, on_timer_closed);
}

void wv_agent_free(wv_agent *a) {
    if (!a)
        return;
    free(a->api_override);
    free(a->site_name);
    free(a->api_listen);
    free(a);
}
