#ifndef WV_APPS_H
#define WV_APPS_H
/* apps: everything between a local socket and an app stream. The app
 * counters, the proxy (client and exposed side), the local listeners of
 * remote apps, and the reconciler that keeps those listeners in line with
 * the stored remote apps (in this order below). Streams are opened through
 * the tunnels' wv_stream_opener; nothing here calls up into the mesh. */

/* The proxy: splices local TCP/unix connections to QUIC app streams
 * (docs/PROTOCOL.md, "App streams") with end-to-end flow control.
 *
 * Client side: a remote app's listener accepted a local connection; the
 * proxy opens a stream, sends the header {app, target?}, pipelines the
 * client's bytes at once and waits for the status frame.
 * Exposed side: a proven peer opened a stream; the proxy reads the header,
 * checks the app (and, for range apps, the target), connects and answers the
 * status frame, then splices.
 *
 * Flow control, both directions:
 *  - local -> tunnel: the local socket is read (into one 64 KiB buffer per
 *    connection) only while the stream accepts bytes; a short
 *    wv_quic_stream_write() keeps the remainder, stops reading and resumes
 *    on the stream's writable event.
 *  - tunnel -> local: received bytes are copied into a write request and
 *    credit is returned (wv_quic_stream_consumed) only when that write has
 *    completed. The peer can therefore have at most the stream's receive
 *    window outstanding, which bounds the buffered bytes of a connection to
 *    that window + 64 KiB whatever the speeds of the two ends (the QUIC
 *    layer adds at most the peer's window of sent but not yet acknowledged
 *    bytes). The window is wv_quic_config.stream_window, grown by
 *    auto-tuning only while these writes complete within about a round
 *    trip (so never for a stalled reader), up to stream_window_max; the
 *    channel's window bounds the total held for all its streams, and the
 *    budget (wv_quic_budget) the sum over all channels. max_buffer is the
 *    initial stream window the agent configures, for reference.
 * Header and status frames are consumed immediately. The exposed side holds
 * payload pipelined behind the header (unconsumed, so under the same bound)
 * until it has connected to the app.
 *
 * Half-close: local EOF -> stream FIN after the pending bytes; stream FIN ->
 * shutdown(SHUT_WR) of the local socket after the pending writes. Aborts: a
 * local read/write error resets the stream with WV_APPERR_ABORTED; a peer
 * reset closes a local TCP connection with RST (a unix one plainly).
 *
 * Stream handlers follow tunnel.h: the user data of each proxy stream points
 * at a struct whose first member is `const struct wv_stream_ops *`; whoever
 * owns the QUIC callbacks forwards data/reset/close/writable to it. A
 * connection is freed once its stream closed (close event) and its local
 * handles are closed.
 *
 * The process must ignore SIGPIPE: a local peer that reset its connection
 * would otherwise kill it on the next write (libuv writes with write(2)).
 *
 * All calls and callbacks on the loop thread. Callbacks must not call
 * wv_proxy_close(). */
#include "wv/base.h"
#include "wv/model.h"
#include "wv/quic.h"
#include "wv/store.h"
#include "wv/tunnel.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Counters of one app (a remote app, or an exposed app), kept by whoever
 * owns the app (the reconciler, the mesh) and added to by the proxy's
 * connections of it as bytes move. Reference-counted: a connection that
 * outlives its app's deletion still counts somewhere. Loop thread only. */
struct wv_app_counters {
    uint64_t connections;   /* started, total */
    uint64_t active;        /* open now */
    uint64_t bytes_in;      /* from the tunnel to the local socket */
    uint64_t bytes_out;     /* from the local socket into the tunnel */
    uint64_t refused_limit; /* remote app: refused, maxConnections open already */
    uint64_t target_failures; /* exposed app: connects to its target that failed */
    char target_error[96];    /* exposed app: why the last one failed; "" after a success */
    unsigned refs;
};
/* A zeroed set with one reference. */
struct wv_app_counters *wv_app_counters_new(void);
struct wv_app_counters *wv_app_counters_ref(struct wv_app_counters *c);
/* Drops a reference (NULL is ignored); frees at the last one. */
void wv_app_counters_unref(struct wv_app_counters *c);

typedef struct wv_proxy wv_proxy;

struct wv_proxy_callbacks {
    /* Exposed side: the canonical JSON of exposed app `app` ({name,
     * mode:"single", appSocket} or {name, mode:"range", portRange:[..],
     * addressRange:[..]}), or NULL if none. Borrowed for the call only.
     * *counters (may be left NULL) receives the app's counters: the proxy
     * takes its own reference and counts the connection there (connections
     * and active when the status ok is sent, bytes as they move). */
    const json_t *(*find_exposed)(wv_proxy *p, const char *app, struct wv_app_counters **counters,
                                  void *user);
};

struct wv_proxy_options {
    size_t max_buffer;           /* the initial stream window (informative); 0 = 256 KiB */
    uint32_t connect_timeout_ms; /* header wait and target connect; 0 = 10000 */
    /* Client side: where streams to a site are opened (the tunnels,
     * wv_tunnels_opener()). Without one every connection is refused. */
    struct wv_stream_opener opener;
    /* Exposed side: app streams one peer site may have open at once; more
     * get the status "limit" at once. 0 = WV_LIMIT_STREAMS_PER_PEER. */
    uint32_t max_streams_per_peer;
    /* Connections (both sides) open at once, each one descriptor: kept
     * under the process's descriptor limit so the API and the tunnels
     * always find one (EMFILE). 0 = no bound. */
    uint32_t max_open;
};
/* Changes the two bounds above for new connections (0 = default / none). */
void wv_proxy_set_limits(wv_proxy *p, uint32_t max_streams_per_peer, uint32_t max_open);

/* Creates a proxy. o (may be NULL) and cbs are copied; log may be NULL and
 * must outlive the proxy. Returns 0 and *out, or WV_ERR_INVAL. */
int wv_proxy_new(uv_loop_t *loop, wv_log *log, const struct wv_proxy_options *o,
                 const struct wv_proxy_callbacks *cbs, void *user, wv_proxy **out);

/* Client side. client is an accepted uv_tcp_t or uv_pipe_t allocated with
 * wv_malloc (applisten.h); the proxy owns it from now on in every case.
 * The stream goes to site through the options' opener. remote_app names
 * the remote app (for logs), app is the peer's exposed app, target is
 * "IP:PORT" for range apps or NULL/"" (all copied). counters (may be NULL)
 * gets a reference: the connection's bytes and its active count go there
 * (not connections: the listener counts what it accepts). Returns 0, or
 * the opener's error / WV_ERR_INVAL (bad names) / WV_ERR_CLOSED (proxy
 * closing), in which case the client is already being closed. A status
 * error from the peer is logged (WARN, "proxy") and closes the client at
 * once. */
int wv_proxy_connect(wv_proxy *p, uv_stream_t *client, const char *site, const char *remote_app,
                     const char *app, const char *target, struct wv_app_counters *counters);

/* Exposed side: the proven peer site (for logs) opened stream sid on conn.
 * Sets the stream's user data to a new handler before returning (or resets
 * the stream when the proxy is closing). Refusals answer an error status
 * then FIN: bad-header (malformed or no header within connect_timeout_ms),
 * unknown-app, target-denied (range app: target outside addressRange or
 * portRange, or missing), connect-refused, connect-timeout. */
void wv_proxy_accept(wv_proxy *p, const char *site, wv_quic_conn *conn, int64_t sid);

/* Aborts every connection: streams are reset (WV_APPERR_ABORTED) and their
 * user data set to NULL at once (the forwarder must ignore events of
 * streams with NULL user data), local sockets closed (TCP with RST). cb (may
 * be NULL) fires once every handle is closed; p is freed right after.
 * Nothing else is called after wv_proxy_close() returns but count(-1)s. */
void wv_proxy_close(wv_proxy *p, void (*cb)(void *arg), void *arg);

/* Counters for /metrics and tests. */
struct wv_proxy_stats {
    uint64_t active; /* connections alive (either side) */
    uint64_t total;  /* connections ever started (either side) */
    uint64_t refused_unknown_app, refused_target_denied, refused_connect, refused_timeout,
        refused_bad_header;      /* exposed side, by reason */
    uint64_t refused_peer_limit; /* exposed: over max_streams_per_peer */
    uint64_t refused_app_limit;  /* exposed: over the app's maxConnections */
    uint64_t refused_forbidden;  /* exposed: the site is not in the app's allowedSites */
    uint64_t refused_open_limit; /* either side: over max_open (descriptors) */
    uint64_t remote_errors;      /* client side: error status, no stream, bad status */
    uint64_t aborted;            /* resets either way */
    uint64_t buffered;           /* bytes held now: pending local writes + unsent remainders */
    uint64_t buffered_peak;      /* high-water mark of buffered */
    uint64_t conn_buffered_peak; /* high-water mark of one connection's buffered bytes */
};
void wv_proxy_get_stats(const wv_proxy *p, struct wv_proxy_stats *out);

/* One open connection, as wv_proxy_each_conn shows it. Strings and conn
 * are borrowed for the call only. */
struct wv_proxy_conn_info {
    uint64_t id;         /* unique in this proxy, grows */
    bool exposed;        /* a peer's connection to an exposed app; else a remote app's */
    const char *app;     /* the exposed app, or the remote app */
    const char *site;    /* the peer site */
    const char *address; /* remote app: the local client ("IP:PORT", "unix"); exposed
                            app: the target connected to; NULL while unknown */
    bool open;           /* bytes flow; false while it connects or waits for the status */
    int64_t started_ms;  /* wall clock, when the proxy got it */
    uint64_t bytes_in;   /* from the tunnel to the local socket */
    uint64_t bytes_out;  /* from the local socket into the tunnel */
    wv_quic_conn *conn;  /* the data channel carrying it */
};
/* Calls fn for each connection that carries or is setting up an app
 * stream (not those refused, ended, or whose header has not come yet).
 * fn must not call into the proxy. */
void wv_proxy_each_conn(const wv_proxy *p, void (*fn)(const struct wv_proxy_conn_info *ci, void *arg),
                        void *arg);

/* A local listening socket for a remote app: TCP ("tcp:IP:PORT") or unix
 * ("unix:PATH"). For unix sockets the parent directory is created and a
 * stale socket file (nobody accepting on it) is replaced; a non-socket file
 * at the path is an error. The socket file is removed on close.
 *
 * All calls and callbacks on the loop thread. */

typedef struct wv_applisten wv_applisten;

/* Called for each accepted connection. The callee owns client (a uv_tcp_t
 * or uv_pipe_t allocated with wv_malloc, already initialized and accepted)
 * and must uv_close() it; its close callback must free it. */
typedef void (*wv_applisten_cb)(wv_applisten *l, uv_stream_t *client, void *user);

/* Binds and listens. On failure returns WV_ERR_IO/WV_ERR_INVAL, writes a
 * reason ("address already in use") into why (at least 128 bytes), and
 * frees everything: the callback is never called. */
int wv_applisten_new(uv_loop_t *loop, const struct wv_app_socket *sock, wv_applisten_cb cb,
                     void *user, wv_applisten **out, char *why);

/* Stops accepting and frees l asynchronously; cb is never called after. */
void wv_applisten_close(wv_applisten *l);

/* Closes a stream allocated by the listener (or any wv_malloc'ed handle)
 * and frees it in the close callback. */
void wv_close_free(uv_handle_t *h);

/* Health checks of exposed apps: an exposed app with "healthCheck":
 * {"interval": N} (single mode) has its appSocket connected to at once and
 * then every N seconds, the connection closed straight away. A refused,
 * failing or (after 3 s) unanswered connect makes the app "failing" with
 * the reason until a check succeeds. A change of health is logged once
 * (WARN when it fails, naming the app and the target) and reported through
 * changed (loop thread, never from inside a call of this module's API).
 *
 * All calls and callbacks on the loop thread. */

typedef struct wv_apphealth wv_apphealth;
typedef void (*wv_apphealth_cb)(wv_apphealth *h, const char *name, void *user);

wv_apphealth *wv_apphealth_new(uv_loop_t *loop, wv_log *log, wv_apphealth_cb changed, void *user);
/* Makes the checked apps those of the array of exposed apps (borrowed) that
 * ask for a check (and are not disabled); a changed target or interval
 * starts over. */
void wv_apphealth_set(wv_apphealth *h, const json_t *exposed_apps);
/* {state: "checking"|"ok"|"failing", error?, checkedAt?} (a new reference)
 * for a checked app, NULL for one that is not. */
json_t *wv_apphealth_status(wv_apphealth *h, const char *name);
/* Stops checking; cb fires once every handle is closed, then h is freed. */
void wv_apphealth_close(wv_apphealth *h, void (*cb)(void *arg), void *arg);

/* The reconciler: brings running state in line with the desired state in
 * the store. Writers call wv_reconcile_kick() after each committed change;
 * passes are coalesced (many kicks, one pass on the next loop iteration).
 *
 * Remote apps: each stored remote app has a local listener. A new or changed
 * app binds at once; a deleted one closes. A bind failure leaves the app
 * stored with state "error" and the reason, and is retried every second so
 * it recovers by itself when the port frees. An app whose site announces
 * that it does not expose the app is in state "error" too (`site aws does
 * not expose "nope"`; connections are refused at once) until the site
 * announces it: call wv_reconcile_site_changed() when a peer's
 * announcement changes.
 *
 * Each remote app may have its spec's "maxConnections" connections open at
 * once (WV_REMOTE_MAX_CONNS_DEFAULT when absent); one accepted over that is
 * closed at once, counted and logged. A change of maxConnections alone keeps
 * the listener and the open connections and applies to the next accept.
 *
 * All calls and callbacks on the loop thread. */

typedef struct wv_reconciler wv_reconciler;

struct wv_reconcile_callbacks {
    /* Runtime status of an object changed (state, error). May be NULL. */
    void (*on_status)(wv_reconciler *r, enum wv_kind kind, const char *name, void *user);
    /* Is a live tunnel to site up? NULL means never (state waiting-for-site). */
    bool (*site_up)(wv_reconciler *r, const char *site, void *user);
    /* Does site's announcement offer app? 1 yes, 0 no (then the app's state
     * is error: `site S does not expose "A"`), -1 unknown. NULL: unknown. */
    int (*site_offers)(wv_reconciler *r, const char *site, const char *app, void *user);
    /* A connection accepted on remote app `name` while its site is up: the
     * callee takes client (see applisten.h for ownership) and returns 0, or
     * returns an error and the reconciler closes client at once. NULL: every
     * connection is refused. */
    int (*on_remote_conn)(wv_reconciler *r, const char *name, const json_t *spec,
                          uv_stream_t *client, struct wv_app_counters *counters, void *user);
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

/* Per remote app gauges and counters for /metrics (including
 * wovenet_remote_app_connections_refused_total). */
void wv_reconcile_metrics(wv_reconciler *r, struct wv_metrics *m);

/* Calls fn for each remote app (running or not) with its counters
 * (borrowed for the call), for the agent's history. */
void wv_reconcile_each_app(wv_reconciler *r,
                           void (*fn)(const char *name, const struct wv_app_counters *k, void *arg),
                           void *arg);
/* Calls fn for each remote app whose counters changed since the previous
 * call (for live events); returns how many. */
size_t wv_reconcile_each_changed(wv_reconciler *r, void (*fn)(const char *name, void *arg),
                                 void *arg);

#endif
