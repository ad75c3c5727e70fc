#ifndef WV_RECONCILE_H
#define WV_RECONCILE_H
/* The reconciler: brings running state in line with the desired state in
 * the store. Writers call wv_reconcile_kick() after each committed change;
 * passes are coalesced (many kicks, one pass on the next loop iteration).
 *
 * Remote apps: each stored remote app has a local listener. A new or changed
 * app binds at once; a deleted one closes. A bind failure leaves the app
 * stored with state "error" and the reason, and is retried every second so
 * it recovers by itself when the port frees.
 *
 * Each remote app may have its spec's "maxConnections" connections open at
 * once (WV_REMOTE_MAX_CONNS_DEFAULT when absent); one accepted over that is
 * closed at once, counted and logged. A change of maxConnections alone keeps
 * the listener and the open connections and applies to the next accept.
 *
 * All calls and callbacks on the loop thread. */
#include "log.h"
#include "metrics.h"
#include "store.h"

#include <jansson.h>
#include <uv.h>

typedef struct wv_reconciler wv_reconciler;

struct wv_reconcile_callbacks {
    /* Runtime status of an object changed (state, error). May be NULL. */
    void (*on_status)(wv_reconciler *r, enum wv_kind kind, const char *name, void *user);
    /* Is a live tunnel to site up? NULL means never (state waiting-for-site). */
    bool (*site_up)(wv_reconciler *r, const char *site, void *user);
    /* A connection accepted on remote app `name` while its site is up: the
     * callee takes client (see applisten.h for ownership) and returns 0, or
     * returns an error and the reconciler closes client at once. NULL: every
     * connection is refused. */
    int (*on_remote_conn)(wv_reconciler *r, const char *name, const json_t *spec,
                          uv_stream_t *client, void *user);
};

/* cbs is copied. The store must outlive the reconciler. */
wv_reconciler *wv_reconcile_new(uv_loop_t *loop, wv_log *log, wv_store *store,
                                const struct wv_reconcile_callbacks *cbs, void *user);
/* Closes every listener; frees asynchronously. No callbacks after this. */
void wv_reconcile_free(wv_reconciler *r);

/* Schedules a pass. Cheap; call after every store write. */
void wv_reconcile_kick(wv_reconciler *r);
/* Runs a pass now (start-up, tests). */
void wv_reconcile_run(wv_reconciler *r);
/* A site's reachability changed: re-evaluates remote app states. */
void wv_reconcile_site_changed(wv_reconciler *r, const char *site);

/* The runtime status object of kind/name ({} when unknown), new reference. */
json_t *wv_reconcile_status(wv_reconciler *r, enum wv_kind kind, const char *name);

/* Counters of a remote app, updated by the proxy as bytes move. */
struct wv_app_counters {
    uint64_t connections; /* accepted, total */
    uint64_t active;      /* open now */
    uint64_t bytes_in;    /* from the tunnel to the local client */
    uint64_t bytes_out;   /* from the local client into the tunnel */
    uint64_t refused_limit; /* refused: maxConnections open already */
};
/* NULL if no such running app. The pointer stays valid until the next pass. */
struct wv_app_counters *wv_reconcile_remote_counters(wv_reconciler *r, const char *name);

/* Per remote app gauges and counters for /metrics (including
 * wovenet_remote_app_connections_refused_total). */
void wv_reconcile_metrics(wv_reconciler *r, struct wv_metrics *m);

/* Calls fn for each remote app whose counters changed since the previous
 * call (for live events); returns how many. */
size_t wv_reconcile_each_changed(wv_reconciler *r, void (*fn)(const char *name, void *arg),
                                 void *arg);

#endif
