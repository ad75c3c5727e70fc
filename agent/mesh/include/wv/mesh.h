#ifndef WV_MESH_H
#define WV_MESH_H
/* The mesh: this site's membership of its network. It derives the keys from
 * the network key (PBKDF2, off the loop), runs discovery on the message
 * channel, the tunnel manager and the app proxy, keeps the known peer sites
 * in the store, and keeps all of them in line with the stored desired
 * state (tunnel sockets, exposed apps, message-channel settings) on
 * wv_mesh_sync().
 *
 * Broker loss never touches running tunnels. When the site's identity
 * settings change (name, network key, topic, brokers, credentials) the mesh
 * leaves cleanly (offline record, channels closed) and joins again.
 *
 * All calls and callbacks on the loop thread. */
#include "wv/apps.h"
#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/store.h"

#include <jansson.h>
#include <uv.h>

typedef struct wv_mesh wv_mesh;

struct wv_mesh_callbacks {
    /* A peer site became reachable (an up channel) or unreachable. */
    void (*site_state)(wv_mesh *m, const char *site, bool up, void *user);
    /* Something runtime changed, for the event stream: kind is "peers",
     * "channels", "broker", "tunnelSockets" or "exposedApps". */
    void (*event)(wv_mesh *m, const char *kind, const char *name, void *user);
};

/* id and store are borrowed and must outlive the mesh. Nothing runs until
 * wv_mesh_sync(). */
wv_mesh *wv_mesh_new(uv_loop_t *loop, wv_log *log, wv_store *store, const wv_identity *id,
                     const struct wv_mesh_callbacks *cbs, void *user);
/* Tears everything down (offline record published, channels closed); cb
 * fires once all is released, then m is freed. */
void wv_mesh_close(wv_mesh *m, void (*cb)(void *arg), void *arg);

/* The desired state changed (or at start): applies it. Cheap when nothing
 * relevant changed. */
void wv_mesh_sync(wv_mesh *m);

/* The site's identity was rotated (id borrowed, must outlive the mesh; the
 * previous one must stay alive until the mesh has left, i.e. keep it until
 * the mesh is freed): leaves and joins again with it, announcing the
 * stored rotation proof so peers move their pins. */
void wv_mesh_set_identity(wv_mesh *m, const wv_identity *id);

bool wv_mesh_site_up(wv_mesh *m, const char *site);
/* Does site's last announcement offer exposed app app? 1 yes, 0 no (the
 * site is known and does not), -1 unknown (no announcement of it yet). */
int wv_mesh_site_offers(wv_mesh *m, const char *site, const char *app);
bool wv_mesh_broker_connected(wv_mesh *m);

/* Carries a connection accepted on remote app `name` (spec: its stored
 * object) to the app on its site, counting it in counters (may be NULL; a
 * reference is taken, see wv_proxy_connect). Takes client (see
 * wv_applisten). 0, or an error and the caller closes client. */
int wv_mesh_connect(wv_mesh *m, const char *name, const json_t *spec, uv_stream_t *client,
                    struct wv_app_counters *counters);

/* GET /api/v1/peers and /peers/{site}: new references, NULL if unknown. */
json_t *wv_mesh_peers_json(wv_mesh *m);
json_t *wv_mesh_peer_json(wv_mesh *m, const char *site);
/* GET /api/v1/connections: the proxy's open connections, both sides, as
 * an array of Connection (schema/openapi.yaml); new reference. */
json_t *wv_mesh_connections_json(wv_mesh *m);
/* Calls fn for each stored exposed app with its counters (borrowed for
 * the call). */
void wv_mesh_each_exposed(wv_mesh *m,
                          void (*fn)(const char *name, const struct wv_app_counters *k, void *arg),
                          void *arg);
/* DELETE /api/v1/peers/{site}: forgets a known site and its pinned key;
 * with block, also blocks that key (persisted), so the site cannot come
 * back with the same identity even though it holds the network key.
 * 0 or WV_ERR_NOTFOUND. */
int wv_mesh_forget(wv_mesh *m, const char *site, bool block);
/* POST /api/v1/peers/{site}/approve: trusts the pending key of a new site
 * (membership: approve) or the key a pinned site offered in a conflict.
 * 0 or WV_ERR_NOTFOUND. */
int wv_mesh_approve(wv_mesh *m, const char *site);

/* Runtime status of a tunnel socket or exposed app ({} if unknown). */
json_t *wv_mesh_status(wv_mesh *m, enum wv_kind kind, const char *name);
void wv_mesh_metrics(wv_mesh *m, wv_metrics *out);
/* Emits an event (the `event` callback) for each exposed app whose counters
 * and each peer whose channels moved since the previous call: the live feed
 * of the dashboard's counters and throughput charts. */
void wv_mesh_report_activity(wv_mesh *m);

#endif
