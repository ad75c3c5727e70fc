#ifndef WV_API_H
#define WV_API_H
/* The REST API (/api/v1, /healthz, /readyz, /metrics, the dashboard), run
 * on the agent's loop over the agent's store.
 *
 * Handlers write the store in one transaction each (the store validates,
 * and a refusal is answered 422 naming the field), then call `changed` (the agent wakes its
 * reconciler) and publish an SSE event {kind, name, action, status}. Objects returned carry a
 * read-only "status" from `status_of`. All callbacks fire on the loop
 * thread, from inside HTTP handling: they must not block and must not call
 * wv_api_close(). */
#include <jansson.h>
#include <uv.h>

#include "wv/base.h"
#include "wv/model.h"
#include "wv/store.h"

typedef struct wv_api wv_api;

struct wv_api_opts {
    const char *listen;       /* "ADDR:PORT" / "[v6]:PORT"; NULL: "127.0.0.1:18080" */
    const char *tls_cert_pem; /* both NULL: plain HTTP; copied */
    const char *tls_key_pem;
    unsigned max_connections;  /* 0: 256 */
    unsigned timeout_s;        /* idle connection timeout; 0: 30 */
    unsigned sse_heartbeat_ms; /* 0: 15000 */
    unsigned auth_fail_limit;  /* failed auths per IP per minute before 429; 0: 10 */
    unsigned rate_per_s;       /* requests/s per client IP before 429; 0: 100 (http.h) */
    unsigned rate_burst;       /* 0: 4 x rate_per_s */
    bool rate_loopback;        /* also limit loopback clients (exempt by default) */
    /* Optional, at least 256 bytes: receives why wv_api_new failed, naming
     * the cause (address in use, address not on this host, invalid TLS key
     * or certificate). */
    char *why;
};

struct wv_api_callbacks {
    /* The runtime status of one object, a new reference (NULL: {}). kind is
     * never WV_KIND_SITE. */
    json_t *(*status_of)(wv_api *api, enum wv_kind kind, const char *name, void *user);
    /* Desired state changed: an object was created, replaced or deleted
     * (name NULL for the site). Called after the store committed. */
    void (*changed)(wv_api *api, enum wv_kind kind, const char *name, void *user);
    /* The discovered peers, a new reference to an array in the shape of
     * schema/openapi.yaml (Peer); NULL: []. */
    json_t *(*peers)(wv_api *api, void *user);
    /* Forgets a known peer site (DELETE /api/v1/peers/{siteName}), its pin
     * too; with block, its identity key is blocked for good (?block=true).
     * 0 or WV_ERR_NOTFOUND. NULL: always not found. */
    int (*forget_peer)(wv_api *api, const char *site, bool block, void *user);
    /* Approves a pending site or the key a pinned site offered in a
     * conflict (POST /api/v1/peers/{siteName}/approve): 0 or
     * WV_ERR_NOTFOUND. NULL: always not found. */
    int (*approve_peer)(wv_api *api, const char *site, void *user);
    /* Rotates the site's identity key (POST /api/v1/site/identity/rotate):
     * 0 and *out (a new reference: {identityKey, previousKey, fingerprint}),
     * or an error. NULL: not supported (501). */
    int (*rotate_identity)(wv_api *api, json_t **out, void *user);
    /* Runtime status of the site itself (e.g. {"broker": {"state": ...}}),
     * a new reference shown as the site's "status"; NULL: none. */
    json_t *(*site_status)(wv_api *api, void *user);
    /* Extra Prometheus text (complete lines with # HELP/# TYPE, each
     * ending in '\n'), malloc'd, freed by the API; NULL: none. */
    char *(*metrics)(wv_api *api, void *user);
    /* GET /api/v1/history: the kept time series of kind ("site", "peer",
     * "channel", "remoteApp" or "exposedApp"; NULL: every kind) and name
     * (NULL: all), at step 1 or 60 seconds, from second since on (0: all
     * kept), in the shape of schema/openapi.yaml (History). The API has
     * checked the arguments. New reference; NULL: nothing kept. */
    json_t *(*history)(wv_api *api, const char *kind, const char *name, unsigned step,
                       int64_t since, void *user);
    /* GET /api/v1/connections: the open app connections, an array of
     * Connection (schema/openapi.yaml) in any order. New reference; NULL: []. */
    json_t *(*connections)(wv_api *api, void *user);
};

/* Creates and starts the API: binds opts->listen. cbs is copied; any
 * callback may be NULL. The store and log are borrowed and must outlive
 * the API. 0, WV_ERR_INVAL (bad listen address or TLS options, or a TLS
 * key or certificate that does not load), WV_ERR_IO (cannot bind); the
 * cause is logged and written to opts->why. On error nothing serves and no callback
 * fires; a timer handle is still closing, so run the loop once before
 * uv_loop_close(). Call wv_api_check_listen_safety() first: this function
 * does not refuse an unsafe address by itself. */
int wv_api_new(uv_loop_t *loop, wv_log *log, wv_store *store, const struct wv_api_opts *opts,
               const struct wv_api_callbacks *cbs, void *user, wv_api **out);
/* The bound port (useful with port 0). */
uint16_t wv_api_port(wv_api *api);
/* Publishes a runtime change (e.g. a remote app started listening) to SSE
 * clients: {"kind", "name", "action", "status"}. status borrowed, may be
 * NULL (then status_of is asked). Collection lists are reused for up to
 * 250 ms while the revision stays the same; a publish ends that at once, so
 * call it on state changes (counters may lag by those 250 ms). */
void wv_api_publish(wv_api *api, enum wv_kind kind, const char *name, const char *action,
                    json_t *status);
/* Publishes a runtime change that is not a stored object ("peers",
 * "channels", "broker"): {"kind", "name", "action", "status": data}. data
 * borrowed, may be NULL. */
void wv_api_publish_event(wv_api *api, const char *kind, const char *name, const char *action,
                          json_t *data);
/* Stops serving: open streams end, pending password checks finish; cb
 * fires on the loop when everything is released, then api is freed. */
void wv_api_close(wv_api *api, void (*cb)(void *arg), void *arg);

/* NULL when listening on listen is safe; otherwise why not (a static
 * message): a non-loopback address needs auth (a token or a basic-auth
 * user) configured in the store. */
const char *wv_api_check_listen_safety(const char *listen, wv_store *store);

#endif
