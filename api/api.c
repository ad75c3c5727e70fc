/* The REST API module: wiring of server, auth, events and handlers. */
#include "api_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wv/base.h"

#define TICK_MS 500

json_t *wv_api_status(wv_api *api, enum wv_kind kind, const char *name) {
    json_t *s = api->cb.status_of ? api->cb.status_of(api, kind, name, api->user) : NULL;
    return s ? s : json_object();
}

/* restfulApi.allowedHosts from the store into the server's Host check. */
void wv_api_load_allowed_hosts(wv_api *api) {
    json_t *site = NULL;
    const char *names[WV_MAX_ALLOWED_HOSTS];
    size_t n = 0;
    if (wv_store_get_site(api->st, &site) == 0) {
        json_t *arr = json_object_get(json_object_get(site, "restfulApi"), "allowedHosts");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
            if (json_is_string(v) && n < WV_COUNTOF(names))
                names[n++] = json_string_value(v);
        }
    }
    wv_http_set_allowed_hosts(api->http, names, n);
    json_decref(site);
}

/* Keeps what is notable of a published event in the recent-events log, and
 * sends the entries made as "log" events. */
static void log_event(wv_api *api, const char *type, const json_t *ev) {
    uint64_t before = wv_evlog_last_id(api->evlog);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    if (!wv_evlog_offer(api->evlog, type, ev, (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000))
        return;
    json_t *fresh = wv_evlog_json(api->evlog, before, 0), *e;
    size_t i;
    json_array_foreach(fresh, i, e) wv_sse_publish(api->sse, "log", e);
    json_decref(fresh);
}

void wv_api_notify(wv_api *api, enum wv_kind kind, const char *name, const char *action) {
    api->status_epoch++;
    if (kind == WV_KIND_SITE)
        wv_api_load_allowed_hosts(api);
    if (api->cb.changed)
        api->cb.changed(api, kind, name, api->user);
    json_t *status = (kind == WV_KIND_SITE || strcmp(action, "deleted") == 0)
                         ? json_object()
                         : wv_api_status(api, kind, name);
    json_t *ev = json_pack("{s:s, s:s?, s:s, s:o}", "kind", wv_kind_key(kind), "name", name,
                           "action", action, "status", status);
    if (ev) {
        wv_sse_publish(api->sse, "change", ev);
        log_event(api, "change", ev);
    }
    json_decref(ev);
}

void wv_api_publish(wv_api *api, enum wv_kind kind, const char *name, const char *action,
                    json_t *status) {
    api->status_epoch++;
    json_t *s = status ? json_incref(status) : wv_api_status(api, kind, name);
    json_t *ev = json_pack("{s:s, s:s?, s:s, s:o}", "kind", wv_kind_key(kind), "name", name,
                           "action", action ? action : "status", "status", s);
    if (ev) {
        wv_sse_publish(api->sse, "status", ev);
        log_event(api, "status", ev);
    }
    json_decref(ev);
}

void wv_api_publish_event(wv_api *api, const char *kind, const char *name, const char *action,
                          json_t *data) {
    json_t *ev = json_pack("{s:s, s:s?, s:s, s:O?}", "kind", kind, "name", name, "action",
                           action ? action : "status", "status", data);
    if (ev) {
        wv_sse_publish(api->sse, "status", ev);
        log_event(api, "status", ev);
    }
    json_decref(ev);
}

bool wv_api_if_match(wv_http_req *r, int64_t *rev) {
    if (wv_http_if_match(r, rev) == 0)
        return true;
    wv_http_reply_error(r, 412, "precondition_failed", NULL,
                        "If-Match must be a revision ETag such as \"\\\"7\\\"\"");
    return false;
}

void wv_api_store_error(wv_api *api, wv_http_req *r, int err, const wv_verr *verr) {
    switch (err) {
    case WV_ERR_INVAL:
    case WV_ERR_TOOBIG:
        wv_http_reply_error(r, 422, "invalid", verr ? verr->field : NULL, "%s",
                            verr && verr->message[0] ? verr->message : "invalid value");
        break;
    case WV_ERR_EXISTS:
        wv_http_reply_error(r, 409, "exists", "name", "an object of that name exists");
        break;
    case WV_ERR_MANAGED:
        wv_http_reply_error(r, 409, "managed_by_config", "origin", "%s",
                            verr && verr->message[0] ? verr->message
                                                     : "managed by the config file");
        break;
    case WV_ERR_NOTFOUND:
        wv_http_reply_error(r, 404, "not_found", NULL, "no such object");
        break;
    case WV_ERR_CONFLICT:
        wv_http_reply_error(r, 412, "precondition_failed", NULL,
                            "the revision changed (If-Match does not match the ETag)");
        break;
    default:
        WV_ERROR(api->log, WV_API_SUB, "%s %.200s: store: %s", wv_http_req_method(r),
                 wv_http_req_path(r), wv_strerror(err));
        wv_http_reply_error(r, 500, "internal", NULL, "the store failed: %s", wv_strerror(err));
        break;
    }
}

json_t *wv_api_body_object(wv_http_req *r) {
    json_t *b = wv_http_req_json(r);
    if (json_is_object(b))
        return b;
    wv_http_reply_error(r, 422, "invalid", NULL, "the body must be a JSON object");
    return NULL;
}

json_t *wv_api_write_body(wv_http_req *r, int64_t *rev) {
    json_t *body = wv_api_body_object(r);
    return body && wv_api_if_match(r, rev) ? body : NULL;
}

json_t *wv_json_merge_patch(json_t *target, json_t *patch) {
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *res = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v) {
        if (json_is_null(v))
            json_object_del(res, k);
        else
            json_object_set_new(res, k, wv_json_merge_patch(json_object_get(res, k), v));
    }
    return res;
}

/* The loop-lag probe behind /readyz: a timer that notes how late it fires. */
static void on_tick(uv_timer_t *t) {
    wv_api *api = t->data;
    uint64_t now = uv_now(api->loop);
    api->lag_ms = now > api->tick_due ? now - api->tick_due : 0;
    api->tick_due = now + TICK_MS;
}

static void part_closed(void *arg) {
    wv_api *api = arg;
    if (--api->pending_close > 0)
        return;
    void (*cb)(void *) = api->close_cb;
    void *carg = api->close_arg;
    for (unsigned i = 0; i < WV_COUNTOF(api->colls); i++)
        free(api->colls[i].cache);
    wv_evlog_free(api->evlog);
    free(api);
    if (cb)
        cb(carg);
}

static void tick_closed(uv_handle_t *h) {
    part_closed(h->data);
}

static void http_closed(void *arg) {
    wv_api *api = arg;
    /* The auth module may still wait for password checks in the pool. */
    wv_auth_close(api->auth, part_closed, api);
}

void wv_api_close(wv_api *api, void (*cb)(void *), void *arg) {
    api->close_cb = cb;
    api->close_arg = arg;
    api->pending_close = 2;
    uv_close((uv_handle_t *)&api->tick, tick_closed);
    wv_sse_close(api->sse);
    wv_http_close(api->http, http_closed, api);
}

uint16_t wv_api_port(wv_api *api) {
    return wv_http_port(api->http);
}

static bool is_loopback(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

bool wv_api_refuse_open_api(wv_api *api, wv_http_req *r, json_t *site_after) {
    json_t *ra = json_object_get(site_after, "restfulApi");
    if (json_array_size(json_object_get(json_object_get(ra, "auth"), "basicAuth")) > 0)
        return false;
    json_t *tokens = NULL;
    bool have_tokens = wv_store_token_list(api->st, &tokens) == 0 && json_array_size(tokens) > 0;
    json_decref(tokens);
    if (have_tokens)
        return false;
    const char *next = json_string_value(json_object_get(ra, "listenAddr"));
    struct sockaddr_storage ss;
    bool next_off = next && wv_parse_hostport(next, &ss) == 0 && !is_loopback(&ss);
    if (api->listen_loopback && !next_off)
        return false;
    wv_http_reply_error(r, 409, "would_remove_auth", "restfulApi.auth.basicAuth",
                        "refused: the API %s a non-loopback address and this write would leave "
                        "it without any credential; create a token (wovenet token create) or "
                        "keep a basic-auth user",
                        api->listen_loopback ? "would listen on" : "listens on");
    return true;
}

const char *wv_api_check_listen_safety(const char *listen, wv_store *store) {
    struct sockaddr_storage ss;
    if (!listen || wv_parse_hostport(listen, &ss) != 0)
        return "the API listen address is not ADDR:PORT or [v6]:PORT";
    if (is_loopback(&ss) || wv_auth_configured(store))
        return NULL;
    return "refusing to serve the API on a non-loopback address without authentication: "
           "create a token (wovenet token create) or configure restfulApi.auth.basicAuth";
}

int wv_api_new(uv_loop_t *loop, wv_log *log, wv_store *store, const struct wv_api_opts *opts,
               const struct wv_api_callbacks *cbs, void *user, wv_api **out) {
    struct sockaddr_storage ss;
    const char *listen = opts && opts->listen ? opts->listen : "127.0.0.1:18080";
    if (wv_parse_hostport(listen, &ss) != 0) {
        WV_ERROR(log, WV_API_SUB, "bad listen address %s", listen);
        if (opts && opts->why)
            snprintf(opts->why, 256, "bad listen address %s (ADDR:PORT or [v6]:PORT)", listen);
        return WV_ERR_INVAL;
    }
    struct wv_http_opts ho = {
        .listen = (struct sockaddr *)&ss,
        .tls_cert_pem = opts ? opts->tls_cert_pem : NULL,
        .tls_key_pem = opts ? opts->tls_key_pem : NULL,
        .max_connections = opts ? opts->max_connections : 0,
        .timeout_s = opts ? opts->timeout_s : 0,
        .rate_per_s = opts ? opts->rate_per_s : 0,
        .rate_burst = opts ? opts->rate_burst : 0,
        .rate_loopback = opts ? opts->rate_loopback : false,
        .why = opts ? opts->why : NULL,
    };
    wv_http *http;
    int err = wv_http_new(loop, log, &ho, &http);
    if (err)
        return err;
    wv_api *api = wv_malloc(sizeof *api);
    *api = (wv_api){.loop = loop, .log = log, .st = store, .user = user, .http = http,
                    .cb = cbs ? *cbs : (struct wv_api_callbacks){0}};
    api->listen_loopback = is_loopback(&ss);
    api->colls[0] =
        (struct wv_api_coll){.api = api, .kind = WV_KIND_SOCKET, .path = "/api/v1/tunnel-sockets"};
    api->colls[1] = (struct wv_api_coll){
        .api = api, .kind = WV_KIND_EXPOSED_APP, .path = "/api/v1/exposed-apps"};
    api->colls[2] =
        (struct wv_api_coll){.api = api, .kind = WV_KIND_REMOTE_APP, .path = "/api/v1/remote-apps"};
    api->auth = wv_auth_new(loop, log, store, opts ? opts->auth_fail_limit : 0);
    wv_http_set_gate(http, wv_auth_gate, api->auth);
    wv_api_routes_site(api);
    wv_api_routes_collections(api);
    wv_api_routes_config(api);
    wv_api_routes_misc(api);
    wv_api_routes_tokens(api);
    wv_api_routes_runtime(api);
    wv_api_routes_static(api);
    wv_api_load_allowed_hosts(api);
    err = wv_http_start(http);
    if (err) {
        /* Nothing runs yet, but the handles must still close on the loop. */
        wv_auth_close(api->auth, NULL, NULL);
        wv_http_close(http, NULL, NULL);
        free(api);
        return err;
    }
    api->sse = wv_sse_new(loop, http, opts ? opts->sse_heartbeat_ms : 0, 0);
    api->evlog = wv_evlog_new(0);
    uv_timer_init(loop, &api->tick);
    api->tick.data = api;
    api->tick_due = uv_now(loop) + TICK_MS;
    uv_timer_start(&api->tick, on_tick, TICK_MS, TICK_MS);
    *out = api;
    return 0;
}
