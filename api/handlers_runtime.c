/* What the agent remembers and holds open: /api/v1/history (time series),
 * /api/v1/connections (open app connections) and /api/v1/events/recent
 * (the recent-events log). Read-only; the data comes from the agent's
 * callbacks and the API's own event log. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "wv/base.h"

/* The most connections one answer lists (the newest); `total` counts all. */
#define MAX_CONNECTIONS 1000

/* A query argument that must be a whole number 0..max when present.
 * false when it answered 400 (naming the argument). */
static bool query_uint(wv_http_req *r, const char *name, unsigned long long max,
                       unsigned long long *out) {
    const char *v = wv_http_req_query(r, name);
    if (!v)
        return true;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-' || n > max) {
        wv_http_reply_error(r, 400, "bad_request", name, "%s must be a whole number 0..%llu", name,
                            max);
        return false;
    }
    *out = n;
    return true;
}

static bool one_of(const char *v, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0)
            return true;
    return false;
}

static void history(wv_http_req *r, void *user) {
    wv_api *api = user;
    static const char *const kinds[] = {"site", "peer", "channel", "remoteApp", "exposedApp"};
    const char *kind = wv_http_req_query(r, "kind");
    const char *name = wv_http_req_query(r, "name");
    const char *step = wv_http_req_query(r, "step");
    if (kind && !one_of(kind, kinds, WV_COUNTOF(kinds))) {
        wv_http_reply_error(r, 400, "bad_request", "kind",
                            "kind must be site, peer, channel, remoteApp or exposedApp");
        return;
    }
    unsigned secs = 1;
    if (step && strcmp(step, "1m") == 0)
        secs = 60;
    else if (step && strcmp(step, "1s") != 0) {
        wv_http_reply_error(r, 400, "bad_request", "step",
                            "step must be 1s (the last 15 minutes) or 1m (the last 24 hours)");
        return;
    }
    if (name && strlen(name) > 300) {
        wv_http_reply_error(r, 400, "bad_request", "name", "name is at most 300 bytes");
        return;
    }
    unsigned long long since = 0;
    if (!query_uint(r, "since", 1ull << 40, &since))
        return;
    json_t *h = api->cb.history
                    ? api->cb.history(api, kind, name, secs, (int64_t)since, api->user)
                    : NULL;
    if (!h) {
        uv_timeval64_t tv;
        uv_gettimeofday(&tv);
        h = json_pack("{s:i, s:I, s:[]}", "step", (int)secs, "now", (json_int_t)tv.tv_sec,
                      "series");
    }
    wv_http_add_header(r, "Cache-Control", "no-store");
    wv_http_reply_json(r, 200, h);
}

static int newest_first(const void *a, const void *b) {
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "started"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "started"));
    return -strcmp(x ? x : "", y ? y : ""); /* ISO times sort as text */
}

static void connections(wv_http_req *r, void *user) {
    wv_api *api = user;
    static const char *const kinds[] = {"remoteApp", "exposedApp"};
    const char *kind = wv_http_req_query(r, "kind");
    const char *app = wv_http_req_query(r, "app");
    if (kind && !one_of(kind, kinds, WV_COUNTOF(kinds))) {
        wv_http_reply_error(r, 400, "bad_request", "kind", "kind must be remoteApp or exposedApp");
        return;
    }
    json_t *all = api->cb.connections ? api->cb.connections(api, api->user) : NULL;
    size_t n = json_array_size(all), k = 0;
    json_t **pick = wv_calloc(n ? n : 1, sizeof(*pick));
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(all, i);
        if (kind && strcmp(json_string_value(json_object_get(c, "kind")), kind) != 0)
            continue;
        if (app && strcmp(json_string_value(json_object_get(c, "app")), app) != 0)
            continue;
        pick[k++] = c;
    }
    qsort(pick, k, sizeof(*pick), newest_first);
    json_t *list = json_array();
    for (size_t i = 0; i < k && i < MAX_CONNECTIONS; i++)
        json_array_append(list, pick[i]);
    free(pick);
    json_decref(all);
    wv_http_add_header(r, "Cache-Control", "no-store");
    wv_http_reply_json(r, 200,
                       json_pack("{s:o, s:I, s:b}", "connections", list, "total", (json_int_t)k,
                                 "truncated", k > MAX_CONNECTIONS));
}

static void recent_events(wv_http_req *r, void *user) {
    wv_api *api = user;
    unsigned long long after = 0, limit = 100;
    if (!query_uint(r, "after", UINT64_MAX >> 1, &after) || !query_uint(r, "limit", 1000, &limit))
        return;
    json_t *list = wv_evlog_json(api->evlog, after, (unsigned)(limit ? limit : 1000));
    wv_http_add_header(r, "Cache-Control", "no-store");
    wv_http_reply_json(r, 200,
                       json_pack("{s:o, s:I}", "events", list, "lastId",
                                 (json_int_t)wv_evlog_last_id(api->evlog)));
}

void wv_api_routes_runtime(wv_api *api) {
    wv_http_route(api->http, "GET", "/api/v1/history", 0, history, api);
    wv_http_route(api->http, "GET", "/api/v1/connections", 0, connections, api);
    wv_http_route(api->http, "GET", "/api/v1/events/recent", 0, recent_events, api);
}
