/* The mesh: keys, discovery, tunnels and the proxy, kept in line with the
 * store. Peer-facing views (peers JSON, metrics, known sites) are in
 * mesh_view.c. */
#include "wv/mesh.h"
#include "mesh_int.h"
#include "wv/base.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#define SUB "mesh"

/* --- The identity signature: what, when changed, means leave and re-join -------- */

/* A hash over the settings that define our membership, so the network key
 * never needs to be kept around for comparison. NULL without a site. */
static int identity_sig(wv_mesh *m, json_t *site, uint8_t sig[32]) {
    char *key = NULL, *pw = NULL;
    if (wv_store_get_network_key(m->store, &key) != 0)
        return WV_ERR_NOTFOUND;
    wv_store_get_mqtt_password(m->store, &pw);
    json_t *mc = json_object_get(site, "messageChannel");
    json_t *v = json_pack("{s:O, s:O?, s:O?, s:O?, s:O?, s:O?}", "site",
                          json_object_get(site, "siteName"), "topic", json_object_get(mc, "topic"),
                          "brokers", json_object_get(mc, "brokers"), "username",
                          json_object_get(mc, "username"), "caFile", json_object_get(mc, "caFile"),
                          "membership", json_object_get(site, "membership"));
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    gnutls_hash_hd_t h;
    gnutls_hash_init(&h, GNUTLS_DIG_SHA256);
    gnutls_hash(h, text, strlen(text) + 1);
    gnutls_hash(h, key, strlen(key) + 1);
    gnutls_hash(h, pw ? pw : "", pw ? strlen(pw) + 1 : 1);
    gnutls_hash_deinit(h, sig);
    free(text);
    wv_memwipe(key, strlen(key));
    free(key);
    if (pw) {
        wv_memwipe(pw, strlen(pw));
        free(pw);
    }
    return 0;
}

/* --- Starting: keys off the loop, then the runtime ---------------------------------- */

struct derive_job {
    uv_work_t work;
    wv_mesh *m;
    char *key;
    char *topic;
    wv_keys keys;
    int rc;
};

static void derive_work(uv_work_t *w) {
    struct derive_job *j = WV_CONTAINER_OF(w, struct derive_job, work);
    j->rc = wv_keys_derive(j->key, strlen(j->key), j->topic, wv_mesh__kdf_iterations(), &j->keys);
}

static void derive_done(uv_work_t *w, int status) {
    struct derive_job *j = WV_CONTAINER_OF(w, struct derive_job, work);
    wv_mesh *m = j->m;
    m->job = NULL;
    if (m->closing || status != 0 || j->rc != 0) {
        if (!m->closing)
            WV_ERROR(m->log, SUB, "cannot derive keys: %s", wv_strerror(j->rc));
        m->state = M_IDLE;
    } else {
        m->keys = j->keys;
        wv_mesh__start_runtime(m);
    }
    wv_keys_wipe(&j->keys);
    wv_memwipe(j->key, strlen(j->key));
    free(j->key);
    free(j->topic);
    free(j);
    if (m->closing)
        wv_mesh__maybe_finish(m);
    else
        wv_mesh_sync(m); /* anything that changed meanwhile */
}

static void begin(wv_mesh *m, json_t *site, const uint8_t sig[32]) {
    struct derive_job *j = wv_calloc(1, sizeof(*j));
    j->m = m;
    if (wv_store_get_network_key(m->store, &j->key) != 0) {
        free(j);
        return;
    }
    json_t *mc = json_object_get(site, "messageChannel");
    j->topic = wv_strdup(json_string_value(json_object_get(mc, "topic")));
    snprintf(m->site, sizeof(m->site), "%s", json_string_value(json_object_get(site, "siteName")));
    memcpy(m->sig, sig, 32);
    m->state = M_DERIVING;
    m->job = j;
    WV_INFO(m->log, SUB, "site %s: deriving keys for topic %s", m->site, j->topic);
    uv_queue_work(m->loop, &j->work, derive_work, derive_done);
}

/* --- Stopping the runtime (leave, or re-join with new settings) ------------------- */

static void part_closed(void *arg) {
    wv_mesh *m = arg;
    if (--m->parts_open > 0)
        return;
    m->state = M_IDLE;
    WV_INFO(m->log, SUB, "left the mesh");
    if (m->closing)
        wv_mesh__maybe_finish(m);
    else
        wv_mesh_sync(m);
}

static void disco_closed(wv_discovery *d, void *user) {
    part_closed(user);
}

static void stop_runtime(wv_mesh *m) {
    m->state = M_STOPPING;
    m->parts_open = 4;
    wv_apphealth *h = m->health;
    m->health = NULL;
    if (h)
        wv_apphealth_close(h, part_closed, m);
    else
        part_closed(m);
    /* First, while the tunnels can still take back its STUN hook. */
    wv_detect_free(m->detect);
    m->detect = NULL;
    wv_discovery *d = m->disco;
    m->disco = NULL;
    wv_tunnels *t = m->tunnels;
    m->tunnels = NULL;
    wv_proxy *p = m->proxy;
    m->proxy = NULL;
    wv_keys_wipe(&m->keys);
    if (d)
        wv_discovery_close(d, disco_closed);
    else
        part_closed(m);
    if (p)
        wv_proxy_close(p, part_closed, m);
    else
        part_closed(m);
    if (t)
        wv_tunnels_close(t, part_closed, m);
    else
        part_closed(m);
}

/* --- Sync ---------------------------------------------------------------------- */

void wv_mesh_sync(wv_mesh *m) {
    if (m->closing || m->state == M_DERIVING || m->state == M_STOPPING)
        return; /* re-run when that finishes */
    json_t *site = NULL;
    uint8_t sig[32];
    bool have = wv_store_get_site(m->store, &site) == 0 && identity_sig(m, site, sig) == 0;
    if (m->state == M_RUNNING && (!have || memcmp(sig, m->sig, 32) != 0)) {
        WV_INFO(m->log, SUB, "site settings changed: leaving the mesh to re-join");
        json_decref(site);
        /* Another network (name, key or topic): its peers are not ours. */
        if (wv_store_known_sites_clear(m->store) != 0)
            WV_WARN(m->log, SUB, "cannot clear the known sites");
        stop_runtime(m);
        return;
    }
    if (have && m->state == M_IDLE)
        begin(m, site, sig);
    else if (m->state == M_RUNNING)
        wv_mesh__apply_desired(m);
    json_decref(site);
}

/* --- Lifetime ------------------------------------------------------------------------ */

wv_mesh *wv_mesh_new(uv_loop_t *loop, wv_log *log, wv_store *store, const wv_identity *id,
                     const struct wv_mesh_callbacks *cbs, void *user) {
    wv_mesh *m = wv_malloc(sizeof(*m));
    *m = (wv_mesh){.loop = loop, .log = log, .store = store, .id = id, .user = user,
                   .cbs = cbs ? *cbs : (struct wv_mesh_callbacks){0}, .state = M_IDLE};
    return m;
}

void wv_mesh__maybe_finish(wv_mesh *m) {
    if (m->job || m->state == M_STOPPING || m->state == M_RUNNING)
        return;
    void (*cb)(void *) = m->close_cb;
    void *arg = m->close_arg;
    wv_mesh__free_views(m);
    free(m);
    if (cb)
        cb(arg);
}

void wv_mesh_close(wv_mesh *m, void (*cb)(void *arg), void *arg) {
    m->closing = true;
    m->close_cb = cb;
    m->close_arg = arg;
    if (m->state == M_RUNNING)
        stop_runtime(m);
    else
        wv_mesh__maybe_finish(m); /* a derive in flight finishes first */
}

void wv_mesh_set_identity(wv_mesh *m, const wv_identity *id) {
    m->id = id;
    if (m->state == M_RUNNING && !m->closing) {
        WV_INFO(m->log, SUB, "identity rotated: leaving the mesh to re-join with it");
        stop_runtime(m);
    }
}

bool wv_mesh_site_up(wv_mesh *m, const char *site) {
    return m->tunnels && wv_tunnels_site_up(m->tunnels, site);
}

int wv_mesh_site_offers(wv_mesh *m, const char *site, const char *app) {
    const wv_peer *p = m->disco ? wv_discovery_peer_find(m->disco, site) : NULL;
    if (!p)
        return -1;
    for (size_t i = 0; i < p->ann.napps; i++)
        if (strcmp(p->ann.apps[i], app) == 0)
            return 1;
    return 0;
}

bool wv_mesh_broker_connected(wv_mesh *m) {
    return m->disco && wv_discovery_is_connected(m->disco);
}
