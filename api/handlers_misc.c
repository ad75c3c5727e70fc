/* Probes, metrics, peers, events and the dashboard's static files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "wv/base.h"

static void healthz(wv_http_req *r, void *user) {
    wv_http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready when the store answers a query, the loop is not lagging (a
 * handler runs on the loop, so the lag is what the tick timer saw), the
 * broker is connected (when the agent runs a mesh: without it no peer can
 * find this site) and no tunnel socket that should listen is in error. */
static void readyz(wv_http_req *r, void *user) {
    wv_api *api = user;
    bool store_ok = wv_store_ping(api->st) == 0;
    bool loop_ok = api->lag_ms < 1000;
    bool ready = store_ok && loop_ok;
    json_t *checks = json_pack("{s:s, s:s}", "store", store_ok ? "ok" : "failing", "loop",
                               loop_ok ? "ok" : "lagging");
    json_t *site = api->cb.site_status ? api->cb.site_status(api, api->user) : NULL;
    const char *broker = json_string_value(json_object_get(json_object_get(site, "broker"), "state"));
    if (broker) {
        json_object_set_new(checks, "broker", json_string(broker));
        ready = ready && strcmp(broker, "connected") == 0;
    }
    json_decref(site);
    json_t *socks = NULL, *o, *states = json_object();
    size_t i;
    if (store_ok && wv_store_list(api->st, WV_KIND_SOCKET, &socks) == 0) {
        json_array_foreach(socks, i, o) {
            const char *name = json_string_value(json_object_get(o, "name"));
            json_t *st = wv_api_status(api, WV_KIND_SOCKET, name);
            const char *state = json_string_value(json_object_get(st, "state"));
            json_object_set_new(states, name, json_string(state ? state : "unknown"));
            if (state && strcmp(state, "error") == 0)
                ready = false;
            json_decref(st);
        }
    }
    json_decref(socks);
    json_object_set_new(checks, "sockets", states);
    json_t *body = json_pack("{s:s, s:o, s:I}", "status", ready ? "ready" : "not-ready", "checks",
                             checks, "loopLagMs", (json_int_t)api->lag_ms);
    wv_http_reply_json(r, ready ? 200 : 503, body);
}

static void metrics(wv_http_req *r, void *user) {
    wv_api *api = user;
    struct wv_buf b = {0};
    wv_buf_printf(
        &b,
        "# HELP wovenet_http_requests_total HTTP requests answered by the API, by status code.\n"
        "# TYPE wovenet_http_requests_total counter\n");
    for (unsigned code = 100; code < 600; code++) {
        uint64_t n = wv_http_count(api->http, code);
        if (n)
            wv_buf_printf(&b, "wovenet_http_requests_total{code=\"%u\"} %llu\n", code,
                          (unsigned long long)n);
    }
    wv_buf_printf(
        &b,
        "# HELP wovenet_api_rate_limited_total API requests refused (429) by the per-client "
        "rate limit.\n"
        "# TYPE wovenet_api_rate_limited_total counter\n"
        "wovenet_api_rate_limited_total %llu\n",
        (unsigned long long)wv_http_rate_limited(api->http));
    wv_buf_printf(&b, "# HELP wovenet_api_host_refused_total API requests refused (403) for a Host "
        "header that is not allowed (DNS rebinding).\n"
        "# TYPE wovenet_api_host_refused_total counter\n"
        "wovenet_api_host_refused_total %llu\n",
        (unsigned long long)wv_http_host_refused(api->http));
    wv_buf_printf(&b, "# HELP wovenet_api_net64_refused_total API connections refused because "
        "their IPv6 /64 already held the per-client connection limit.\n"
        "# TYPE wovenet_api_net64_refused_total counter\n"
        "wovenet_api_net64_refused_total %llu\n",
        (unsigned long long)wv_http_net64_refused(api->http));
    wv_buf_printf(&b, "# HELP wovenet_api_event_clients Connected server-sent-event clients.\n"
        "# TYPE wovenet_api_event_clients gauge\n"
        "wovenet_api_event_clients %u\n",
        wv_sse_clients(api->sse));
    wv_buf_printf(&b, "# HELP wovenet_api_event_clients_refused_total Event streams refused (503): "
        "the cap of %u was reached.\n"
        "# TYPE wovenet_api_event_clients_refused_total counter\n"
        "wovenet_api_event_clients_refused_total %llu\n",
        WV_SSE_MAX_CLIENTS, (unsigned long long)wv_sse_refused(api->sse));
    wv_buf_printf(&b, "# HELP wovenet_store_revision Revision of the desired state.\n"
        "# TYPE wovenet_store_revision gauge\n"
        "wovenet_store_revision %lld\n",
        (long long)wv_store_revision(api->st));
    wv_buf_printf(&b, "# HELP wovenet_loop_lag_seconds How late the event loop ran its last 500 ms timer.\n"
        "# TYPE wovenet_loop_lag_seconds gauge\n"
        "wovenet_loop_lag_seconds %.3f\n",
        (double)api->lag_ms / 1000.0);
    char *extra = api->cb.metrics ? api->cb.metrics(api, api->user) : NULL;
    if (extra) {
        wv_buf_add(&b, extra, strlen(extra));
        free(extra);
    }
    size_t len = b.len;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, wv_buf_take(&b), MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    wv_http_reply_response(r, 200, resp);
}

static json_t *peers_of(wv_api *api) {
    json_t *p = api->cb.peers ? api->cb.peers(api, api->user) : NULL;
    if (json_is_array(p))
        return p;
    json_decref(p);
    return json_array();
}

static void peers_list(wv_http_req *r, void *user) {
    wv_http_reply_json(r, 200, peers_of(user));
}

static void peers_one(wv_http_req *r, void *user) {
    json_t *all = peers_of(user), *p, *found = NULL;
    size_t i;
    const char *site = wv_http_req_param(r, 0);
    json_array_foreach(all, i, p) {
        const char *s = json_string_value(json_object_get(p, "siteName"));
        if (s && strcmp(s, site) == 0) {
            found = json_incref(p);
            break;
        }
    }
    json_decref(all);
    if (found)
        wv_http_reply_json(r, 200, found);
    else
        wv_http_reply_error(r, 404, "not_found", NULL, "no such peer site");
}

static void peers_delete(wv_http_req *r, void *user) {
    wv_api *api = user;
    const char *site = wv_http_req_param(r, 0);
    const char *b = wv_http_req_query(r, "block");
    bool block = b && (strcmp(b, "true") == 0 || strcmp(b, "1") == 0);
    if (b && !block && strcmp(b, "false") != 0 && strcmp(b, "0") != 0) {
        wv_http_reply_error(r, 400, "bad_request", "block", "block must be true or false");
        return;
    }
    int err = api->cb.forget_peer ? api->cb.forget_peer(api, site, block, api->user)
                                  : WV_ERR_NOTFOUND;
    if (err) {
        wv_http_reply_error(r, 404, "not_found", NULL, "no such peer site");
        return;
    }
    wv_http_reply_json(r, 204, NULL);
    wv_api_publish_event(api, "peers", site, "deleted", NULL);
}

/* The REST contract this server implements (schema/openapi.yaml, embedded
 * as JSON at build time); behind the same authentication as the API. */
static void openapi(wv_http_req *r, void *user) {
    wv_http_add_header(r, "Cache-Control", "no-cache");
    wv_http_reply_bytes(r, 200, "application/json", wv_openapi[0].data, wv_openapi[0].len, true);
}

static void peers_approve(wv_http_req *r, void *user) {
    wv_api *api = user;
    const char *site = wv_http_req_param(r, 0);
    int err = api->cb.approve_peer ? api->cb.approve_peer(api, site, api->user) : WV_ERR_NOTFOUND;
    if (err) {
        wv_http_reply_error(r, 404, "not_found", NULL,
                            "no site %s waits for approval or offers another key", site);
        return;
    }
    json_t *all = peers_of(api), *p, *found = NULL;
    size_t i;
    json_array_foreach(all, i, p) {
        if (strcmp(json_string_value(json_object_get(p, "siteName")), site) == 0)
            found = json_incref(p);
    }
    json_decref(all);
    wv_http_reply_json(r, 200, found ? found : json_pack("{s:s}", "siteName", site));
    wv_api_publish_event(api, "peers", site, "approved", NULL);
}

static void events(wv_http_req *r, void *user) {
    wv_api *api = user;
    wv_sse_serve(api->sse, r);
}

void wv_api_routes_misc(wv_api *api) {
    wv_http_route(api->http, "GET", "/healthz", WV_ROUTE_PUBLIC, healthz, api);
    wv_http_route(api->http, "GET", "/readyz", WV_ROUTE_PUBLIC, readyz, api);
    wv_http_route(api->http, "GET", "/metrics", 0, metrics, api);
    wv_http_route(api->http, "GET", "/api/v1/peers", 0, peers_list, api);
    wv_http_route(api->http, "GET", "/api/v1/peers/{siteName}", 0, peers_one, api);
    wv_http_route(api->http, "DELETE", "/api/v1/peers/{siteName}", 0, peers_delete, api);
    wv_http_route(api->http, "POST", "/api/v1/peers/{siteName}/approve", WV_ROUTE_RAWBODY,
                  peers_approve, api);
    wv_http_route(api->http, "GET", "/api/v1/events", 0, events, api);
    wv_http_route(api->http, "GET", "/api/v1/openapi.json", 0, openapi, api);
}

/* --- Static files ------------------------------------------------------------------ */

/* Served when the build embedded no dashboard. No inline script: the CSP
 * would block it anyway. */
static const char fallback_page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>wovenet</title></head>\n<body><h1>wovenet</h1>"
    "<p>The dashboard is not built into this binary. The REST API is at "
    "<a href=\"/api/v1/config\">/api/v1/config</a>.</p></body></html>\n";

static const char *content_type(const char *path) {
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"},
    };
    const char *dot = strrchr(path, '.');
    for (unsigned i = 0; dot && i < WV_COUNTOF(types); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

static void static_file(wv_http_req *r, void *user) {
    const char *path = wv_http_req_path(r);
    while (*path == '/')
        path++;
    if (!*path)
        path = "index.html";
    const struct wv_embedded *hit = NULL;
    for (const struct wv_embedded *e = wv_webassets; e->path; e++)
        if (strcmp(e->path, path) == 0)
            hit = e;
    wv_http_add_header(r, "Content-Security-Policy",
                       "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                       "form-action 'self'");
    wv_http_add_header(r, "X-Frame-Options", "DENY");
    wv_http_add_header(r, "Referrer-Policy", "no-referrer");
    wv_http_add_header(r, "Cache-Control", "no-cache");
    if (hit)
        wv_http_reply_bytes(r, 200, content_type(hit->path), hit->data, hit->len, true);
    else if (strcmp(path, "index.html") == 0)
        wv_http_reply_bytes(r, 200, "text/html; charset=utf-8", fallback_page,
                            sizeof fallback_page - 1, true);
    else
        wv_http_reply_error(r, 404, "not_found", NULL, "no such file");
}

void wv_api_routes_static(wv_api *api) {
    wv_http_route(api->http, "GET", "/", WV_ROUTE_PUBLIC, static_file, api);
    wv_http_route(api->http, "GET", "/assets", WV_ROUTE_PUBLIC | WV_ROUTE_PREFIX, static_file, api);
    wv_http_route(api->http, "GET", "/{file}", WV_ROUTE_PUBLIC, static_file, api);
}
