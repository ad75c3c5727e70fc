#ifndef WV_API_INT_H
#define WV_API_INT_H
/* Internals shared by api.c and the handlers_*.c files. */
#include "auth.h"
#include "evlog.h"
#include "http.h"
#include "sse.h"
#include "wv/api.h"

/* Every file under web/, sorted by path (generated, see cmake/embed.cmake). */
extern const struct wv_embedded wv_webassets[];
/* schema/openapi.yaml as JSON (generated at build time, api/CMakeLists.txt). */
extern const struct wv_embedded wv_openapi[];

#define WV_API_SUB "api"

/* What a collection route's user pointer points at. */
struct wv_api_coll {
    struct wv_api *api;
    enum wv_kind kind;
    const char *path; /* "/api/v1/remote-apps" */
    /* The last list answer, reused while nothing changed (see api.h). */
    char *cache;
    size_t cache_len;
    int64_t cache_rev;
    uint64_t cache_epoch, cache_at;
};

/* How long a list answer may be reused when neither the revision nor a
 * published status changed: counters in it may be this stale. */
#define WV_API_LIST_CACHE_MS 250

struct wv_api {
    uv_loop_t *loop;
    wv_log *log;
    wv_store *st;
    struct wv_api_callbacks cb;
    void *user;
    wv_http *http;
    wv_sse_hub *sse;
    wv_evlog *evlog; /* the recent events, fed by everything published */
    wv_auth *auth;
    struct wv_api_coll colls[3];
    bool listen_loopback; /* the address served is on loopback */
    uv_timer_t tick;       /* measures loop lag for /readyz */
    uint64_t tick_due;     /* uv_now() when the tick should fire */
    uint64_t lag_ms;       /* how late the last tick fired */
    uint64_t status_epoch; /* bumped by every notify/publish: invalidates list caches */
    int pending_close;     /* parts still closing */
    void (*close_cb)(void *);
    void *close_arg;
};

/* The object's status (new reference, {} when the agent has none). */
json_t *wv_api_status(wv_api *api, enum wv_kind kind, const char *name);
/* After a committed write: tells the agent and publishes an SSE event.
 * action: "created", "changed", "deleted". name NULL for the site. */
void wv_api_notify(wv_api *api, enum wv_kind kind, const char *name, const char *action);
/* Reads If-Match; false when it answered 412 (malformed header). */
bool wv_api_if_match(wv_http_req *r, int64_t *rev);
/* Answers a store or validation failure with the matching status. */
void wv_api_store_error(wv_api *api, wv_http_req *r, int err, const wv_verr *verr);
/* The body as an object, or answers 422 and returns NULL. */
json_t *wv_api_body_object(wv_http_req *r);
/* A write's (POST, PUT, PATCH) body object and its If-Match revision; NULL
 * when either is wrong (answered 422 or 412). The body is the request's. */
json_t *wv_api_write_body(wv_http_req *r, int64_t *rev);
/* RFC 7386 JSON merge patch of patch onto target (both borrowed); a new
 * reference. */
json_t *wv_json_merge_patch(json_t *target, json_t *patch);

/* True (and answers 409) when storing site_after would leave an API that
 * is, or on its next start would be, off loopback without any credential. */
bool wv_api_refuse_open_api(wv_api *api, wv_http_req *r, json_t *site_after);
/* Reads restfulApi.allowedHosts from the store into the Host check. */
void wv_api_load_allowed_hosts(wv_api *api);

void wv_api_routes_site(wv_api *api);
void wv_api_routes_collections(wv_api *api);
void wv_api_routes_config(wv_api *api);
void wv_api_routes_misc(wv_api *api);
void wv_api_routes_tokens(wv_api *api);
void wv_api_routes_static(wv_api *api);
void wv_api_routes_runtime(wv_api *api);

#endif
