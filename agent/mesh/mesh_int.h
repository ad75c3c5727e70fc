#ifndef WV_MESH_INT_H
#define WV_MESH_INT_H
/* Internals shared by mesh.c (lifetime, sync), mesh_run.c (the running
 * modules and their callbacks) and mesh_view.c (API views, known sites). */
#include "wv/apps.h"
#include "wv/crypto.h"
#include "wv/detect.h"
#include "wv/discovery.h"
#include "wv/mesh.h"
#include "wv/tunnel.h"

enum mesh_state { M_IDLE, M_DERIVING, M_RUNNING, M_STOPPING };

/* Counters of one exposed app, kept across re-announcements. */
struct xcount {
    struct xcount *next;
    char *name;
    struct wv_app_counters *k; /* shared with the proxy's connections */
    uint64_t reported;         /* bytes_in + bytes_out + connections + active at the last event */
};

struct wv_mesh {
    uv_loop_t *loop;
    wv_log *log;
    wv_store *store;
    const wv_identity *id;
    struct wv_mesh_callbacks cbs;
    void *user;

    enum mesh_state state;
    char site[256];
    uint8_t sig[32]; /* identity_sig() of the running incarnation */
    wv_keys keys;
    struct derive_job *job;
    int parts_open;

    wv_discovery *disco;
    wv_tunnels *tunnels;
    wv_proxy *proxy;
    wv_detect *detect; /* public-address detectors of auto sockets */
    wv_apphealth *health; /* target checks of exposed apps with a healthCheck */
    json_t *sockets; /* the stored tunnel sockets the tunnels run with */
    json_t *exposed; /* the stored exposed apps, for the proxy */
    char *announced; /* the last announcement body, to skip no-op re-announces */
    struct xcount *xcounts;
    uint64_t pin_conflict_sites; /* conflict events (a new other key for a pinned name) */
    json_t *conns_out; /* the array wv_mesh_connections_json fills */
    bool relay;                  /* site.relay: we relay for others */

    bool closing;
    void (*close_cb)(void *);
    void *close_arg;
};

unsigned wv_mesh__kdf_iterations(void);
void wv_mesh__start_runtime(wv_mesh *m);
void wv_mesh__apply_desired(wv_mesh *m);
void wv_mesh__maybe_finish(wv_mesh *m);
void wv_mesh__free_views(wv_mesh *m);
/* Known sites: persisted announcements (mesh_view.c). */
void wv_mesh__seed_known_sites(wv_mesh *m);
void wv_mesh__save_known_site(wv_mesh *m, const wv_peer *p);
void wv_mesh__peer_to_tunnels(wv_mesh *m, const wv_peer *p);
struct xcount *wv_mesh__xcount(wv_mesh *m, const char *name);

#endif
