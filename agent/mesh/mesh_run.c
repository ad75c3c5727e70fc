/* The running mesh: discovery, tunnels and proxy, their callbacks, and the
 * application of the stored tunnel sockets and exposed apps. */
#include "mesh_int.h"
#include "wv/base.h"
#include "wv/model.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define SUB "mesh"
/* Receive windows (docs/PERFORMANCE.md, "WAN paths"): each app stream's
 * starts at STREAM_WINDOW and each channel's at CHANNEL_WINDOW, and they
 * grow while the local side drains them within four round trips, up to
 * site.limits.streamWindowMiB / channelWindowMiB; the channels' windows
 * together stay within site.limits.bufferBudgetMiB. A stream's window is
 * what the proxy may hold for its connection, so a stalled reader holds at
 * most STREAM_WINDOW (its window never grows). */
#define STREAM_WINDOW (256u << 10)
#define CHANNEL_WINDOW (1u << 20)
#define MIB (1ull << 20)
/* How far PMTUD may raise a channel's datagrams (a peer on this host over
 * loopback, jumbo frames) unless the socket sets maxUdpPayload. */
#define LOCAL_UDP_PAYLOAD 32000

unsigned wv_mesh__kdf_iterations(void) {
    return WV_KDF_ITERATIONS;
}

static void event(wv_mesh *m, const char *kind, const char *name) {
    if (m->cbs.event && !m->closing)
        m->cbs.event(m, kind, name, m->user);
}

/* --- Announcement ---------------------------------------------------------------- */

/* "enabled": false pauses an object: kept in the store, not run. */
static bool paused(const json_t *o) {
    return json_is_false(json_object_get(o, "enabled"));
}

static bool is_ip(const char *s) {
    struct sockaddr_storage ss;
    return s && wv_parse_ip(s, 1, &ss) == 0;
}

static bool is_nat(const json_t *s) {
    const char *mode = json_string_value(json_object_get(s, "mode"));
    return mode && strcmp(mode, "nat-traversal") == 0;
}

/* The candidates of nat-traversal socket s (number group among them): its
 * host addresses with the bound port, then the mapping STUN learned from
 * it. 0, or an error of wv_msg_add_candidate (the announcement is full). */
static int nat_candidates(wv_mesh *m, const json_t *s, unsigned group, wv_msg *body) {
    const char *name = json_string_value(json_object_get(s, "name"));
    wv_quic_endpoint *ep = m->tunnels ? wv_tunnels_socket_endpoint(m->tunnels, name) : NULL;
    struct sockaddr_storage bound;
    if (!ep || wv_quic_endpoint_local_addr(ep, &bound) != 0)
        return 0; /* not listening: nothing to offer */
    uint16_t port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);
    char hosts[8][INET6_ADDRSTRLEN];
    size_t n = 0;
    const char *la = json_string_value(json_object_get(s, "listenAddress"));
    struct sockaddr_storage ss;
    if (la && *la && wv_parse_ip(la, 0, &ss) == 0 && strcmp(la, "0.0.0.0") != 0 &&
        strcmp(la, "::") != 0)
        snprintf(hosts[n++], sizeof(hosts[0]), "%s", la);
    else
        n = wv_detect_host_addresses(bound.ss_family, hosts, WV_COUNTOF(hosts));
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        rc = wv_msg_add_candidate(body, hosts[k], port, WV_CAND_HOST, group);
    char dip[INET6_ADDRSTRLEN], mip[INET6_ADDRSTRLEN] = "";
    uint16_t dport, mport = 0;
    if (rc == 0 && m->detect && wv_detect_mapping(m->detect, name, mip, sizeof(mip), &mport) == 0)
        rc = wv_msg_add_candidate(body, mip, mport, WV_CAND_MAPPED, group);
    /* A cone NAT that keeps the port gives STUN the mapped address itself:
     * one candidate, the mapping (it needs no punching). */
    if (rc == 0 && m->detect && wv_detect_get(m->detect, name, dip, sizeof(dip), &dport) == 0 &&
        !(dport == mport && strcmp(dip, mip) == 0))
        rc = wv_msg_add_candidate(body, dip, dport, WV_CAND_STUN, group);
    return rc;
}

/* Our announcement: every tunnel socket with a usable public address, every
 * exposed app, our certificate. A socket whose address is detected joins
 * (marked detected) once its detector knows the address. A nat-traversal
 * socket announces its candidates instead. */
static int local_body(wv_discovery *d, wv_msg *body, void *user) {
    wv_mesh *m = user;
    size_t i;
    json_t *s;
    unsigned groups = 0;
    json_array_foreach(m->sockets, i, s) {
        if (paused(s))
            continue;
        if (is_nat(s)) {
            if (groups >= WV_ANNOUNCE_MAX_SOCKETS || nat_candidates(m, s, groups++, body) != 0)
                break;
            continue;
        }
        const char *addr = json_string_value(json_object_get(s, "publicAddress"));
        json_int_t port = json_integer_value(json_object_get(s, "publicPort"));
        char dip[INET6_ADDRSTRLEN];
        uint16_t dport;
        bool detected = !is_ip(addr) && m->detect &&
                        wv_detect_get(m->detect, json_string_value(json_object_get(s, "name")), dip,
                                      sizeof(dip), &dport) == 0;
        if (detected) {
            addr = dip;
            port = dport;
        }
        if (!is_ip(addr) || port <= 0)
            continue;
        if (wv_msg_add_socket(body, addr, (uint16_t)port, detected) != 0)
            break;
    }
    json_t *a;
    json_array_foreach(m->exposed, i, a) {
        if (!paused(a) && wv_msg_add_app(body, json_string_value(json_object_get(a, "name"))) != 0)
            break;
    }
    wv_fingerprint_to_hex(wv_identity_fingerprint(m->id), body->fingerprint);
    body->relay = m->relay;
    return 0;
}

/* --- Callbacks from discovery, tunnels and proxy --------------------------------- */

void wv_mesh__peer_to_tunnels(wv_mesh *m, const wv_peer *p) {
    uint8_t fp[WV_FINGERPRINT_LEN];
    if (!m->tunnels || wv_fingerprint_from_hex(p->ann.fingerprint, fp) != 0)
        return;
    struct wv_peer_socket socks[WV_ANNOUNCE_MAX_SOCKETS];
    size_t n = WV_MIN(p->ann.nsockets, WV_COUNTOF(socks));
    for (size_t i = 0; i < n; i++) {
        memset(&socks[i], 0, sizeof(socks[i]));
        snprintf(socks[i].address, sizeof(socks[i].address), "%s", p->ann.sockets[i].address);
        socks[i].port = p->ann.sockets[i].port;
        socks[i].detected = p->ann.sockets[i].detected;
        /* The same numbering on both sides (wv_cand_kind, wv_peer_cand). */
        socks[i].kind = (enum wv_peer_cand)p->ann.sockets[i].kind;
        socks[i].group = p->ann.sockets[i].group;
    }
    wv_tunnels_set_peer(m->tunnels, p->name, fp, socks, n);
    wv_tunnels_set_relay_offer(m->tunnels, p->name, p->ann.relay);
}

static void on_peer(wv_discovery *d, const wv_peer *p, enum wv_peer_event ev, void *user) {
    wv_mesh *m = user;
    if (ev == WV_PEER_ADDED || ev == WV_PEER_CHANGED) {
        WV_INFO(m->log, SUB, "peer %s %s (%zu sockets, %zu apps)", p->name,
                ev == WV_PEER_ADDED ? "discovered" : "updated", p->ann.nsockets, p->ann.napps);
        wv_mesh__save_known_site(m, p);
        wv_mesh__peer_to_tunnels(m, p);
    } else {
        /* Only the broker lost it: its channels live on while they answer. */
        WV_INFO(m->log, SUB, "peer %s is offline on the message channel", p->name);
    }
    event(m, "peers", p->name);
}

/* Pins are persisted as they are made, so a restart stays strict. */
static void on_pin(wv_discovery *d, const wv_pin *p, enum wv_pin_event ev, void *user) {
    wv_mesh *m = user;
    if (ev != WV_PIN_CONFLICT &&
        wv_store_pin_put(m->store, p->site, p->key, p->state == WV_PIN_PENDING) != 0)
        WV_WARN(m->log, SUB, "cannot save the pinned identity of %s", p->site);
    if (ev == WV_PIN_CONFLICT)
        m->pin_conflict_sites++;
    event(m, "peers", p->site);
}

static void load_pin(const char *name, const char *key, bool pending, void *arg) {
    wv_mesh *m = arg;
    if (wv_discovery_pin_load(m->disco, name, key, pending) != 0)
        WV_WARN(m->log, SUB, "stored pin of %s not usable", name);
}

static void load_block(const char *key, const char *site, void *arg) {
    wv_mesh *m = arg;
    if (wv_discovery_block_key(m->disco, key) != 0)
        WV_WARN(m->log, SUB, "stored blocked key of %s not usable", site);
}

static void on_broker(wv_discovery *d, bool connected, void *user) {
    wv_mesh *m = user;
    event(m, "broker", connected ? "connected" : "disconnected");
}

static void on_site_state(wv_tunnels *t, const char *site, bool up, void *user) {
    wv_mesh *m = user;
    if (m->cbs.site_state && !m->closing)
        m->cbs.site_state(m, site, up, m->user);
    event(m, "peers", site);
}

static void on_channel_event(wv_tunnels *t, const char *site, uint64_t id, const char *state,
                             void *user) {
    wv_mesh *m = user;
    event(m, "channels", site);
}

static void on_app_stream(wv_tunnels *t, const char *site, wv_quic_conn *conn, int64_t sid,
                          void *user) {
    wv_mesh *m = user;
    if (m->proxy)
        wv_proxy_accept(m->proxy, site, conn, sid);
}

/* A detected address or a port mapping changed: peers must learn it now. */
static void on_detected(wv_detect *dt, const char *name, void *user) {
    wv_mesh *m = user;
    char ip[INET6_ADDRSTRLEN];
    uint16_t port;
    if (m->tunnels)
        wv_tunnels_set_mapped(m->tunnels, name,
                              wv_detect_mapping(dt, name, ip, sizeof(ip), &port) == 0);
    if (m->disco)
        wv_discovery_announce(m->disco);
    event(m, "tunnelSockets", name);
}

static wv_quic_endpoint *detect_endpoint(wv_detect *dt, const char *name, void *user) {
    wv_mesh *m = user;
    return m->tunnels ? wv_tunnels_socket_endpoint(m->tunnels, name) : NULL;
}

/* A punch is about to happen: our own mapping may be what changed, so
 * check it again (a changed one is re-announced, and peers dial the new
 * candidate). */
static void refresh_mappings(wv_mesh *m) {
    size_t i;
    json_t *s;
    json_array_foreach(m->sockets, i, s) {
        if (is_nat(s) && m->detect)
            wv_detect_refresh(m->detect, json_string_value(json_object_get(s, "name")));
    }
}

static void on_need_punch(wv_tunnels *t, const char *site, void *user) {
    wv_mesh *m = user;
    int rc = m->disco ? wv_discovery_request_punch(m->disco, site) : WV_ERR_CLOSED;
    refresh_mappings(m);
    if (rc == 0)
        WV_DEBUG(m->log, SUB, "asked %s to punch", site);
    else
        WV_DEBUG(m->log, SUB, "cannot ask %s to punch: %s", site, wv_strerror(rc));
}

static void on_punch(wv_discovery *d, const char *site, void *user) {
    wv_mesh *m = user;
    if (m->tunnels)
        wv_tunnels_punch(m->tunnels, site);
    refresh_mappings(m);
}

static void on_need_sockinfo(wv_tunnels *t, const char *site, void *user) {
    wv_mesh *m = user;
    if (m->disco && wv_discovery_request_sockinfo(m->disco, site) == 0)
        WV_INFO(m->log, SUB, "asked %s for fresh socket info", site);
}

struct xcount *wv_mesh__xcount(wv_mesh *m, const char *name) {
    for (struct xcount *x = m->xcounts; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            return x;
    struct xcount *x = wv_calloc(1, sizeof(*x));
    x->name = wv_strdup(name);
    x->k = wv_app_counters_new();
    x->next = m->xcounts;
    m->xcounts = x;
    return x;
}

static const json_t *find_exposed(wv_proxy *p, const char *app, struct wv_app_counters **counters,
                                  void *user) {
    wv_mesh *m = user;
    size_t i;
    json_t *a;
    json_array_foreach(m->exposed, i, a) {
        if (strcmp(json_string_value(json_object_get(a, "name")), app) == 0) {
            if (paused(a))
                return NULL; /* refused as unknown: it is not offered now */
            *counters = wv_mesh__xcount(m, app)->k;
            return a;
        }
    }
    return NULL;
}

/* --- Starting ------------------------------------------------------------------------- */

static void load_desired(wv_mesh *m) {
    json_t *socks = NULL, *apps = NULL;
    if (wv_store_list(m->store, WV_KIND_SOCKET, &socks) != 0)
        socks = json_array();
    if (wv_store_list(m->store, WV_KIND_EXPOSED_APP, &apps) != 0)
        apps = json_array();
    json_decref(m->sockets);
    json_decref(m->exposed);
    m->sockets = socks;
    m->exposed = apps;
}

/* The listen address of a stored tunnel socket: listenAddress, else the
 * unspecified address of the public address's family. */
static int listen_addr(const json_t *s, struct sockaddr_storage *out) {
    const char *la = json_string_value(json_object_get(s, "listenAddress"));
    const char *pa = json_string_value(json_object_get(s, "publicAddress"));
    json_int_t port = json_integer_value(json_object_get(s, "listenPort"));
    if (port < 0 || port > 65535)
        return WV_ERR_INVAL;
    if (la && *la)
        return wv_parse_ip(la, (uint16_t)port, out);
    bool v6 = pa && strchr(pa, ':') != NULL;
    return wv_parse_ip(v6 ? "::" : "0.0.0.0", (uint16_t)port, out);
}

static void apply_sockets(wv_mesh *m) {
    size_t n = json_array_size(m->sockets);
    struct wv_tunnel_socket *socks = wv_calloc(n ? n : 1, sizeof(*socks));
    char(*errs)[128] = wv_calloc(n ? n : 1, sizeof(*errs));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(m->sockets, i);
        if (paused(s) || listen_addr(s, &socks[k].listen) != 0)
            continue;
        socks[k].name = json_string_value(json_object_get(s, "name"));
        json_int_t mtu = json_integer_value(json_object_get(s, "maxUdpPayload"));
        socks[k].max_udp_payload = mtu > 0 ? (size_t)mtu : 0;
        socks[k].nat = is_nat(s);
        json_int_t ka = json_integer_value(json_object_get(s, "keepAlive"));
        socks[k].keepalive_ms = ka > 0 ? (uint32_t)ka * 1000 : 0;
        k++;
    }
    wv_tunnels_set_sockets(m->tunnels, socks, k, errs);
    /* After the binds: STUN sends from the (new) endpoints. */
    if (m->detect)
        wv_detect_set_sockets(m->detect, m->sockets);
    for (size_t i = 0; i < k; i++)
        event(m, "tunnelSockets", socks[i].name);
    free(socks);
    free(errs);
}

/* Re-announces only when the announcement's content changed. */
static void announce_if_changed(wv_mesh *m) {
    json_t *body =
        json_pack("{s:O, s:O, s:b}", "sockets", m->sockets, "apps", m->exposed, "relay", m->relay);
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(body);
    if (m->announced && strcmp(m->announced, text) == 0) {
        free(text);
        return;
    }
    free(m->announced);
    m->announced = text;
    if (m->disco)
        wv_discovery_announce(m->disco);
}

/* Descriptors the app connections may use: the process limit less a reserve
 * for the API, the store, the tunnels' sockets and the broker, so a flood
 * of connections meets a clean refusal instead of EMFILE everywhere. */
static uint32_t descriptor_budget(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    uint64_t n = rl.rlim_cur;
    uint64_t reserve = n > 1024 ? 256 : n / 4;
    return n > reserve ? (uint32_t)WV_MIN(n - reserve, (uint64_t)UINT32_MAX) : 1;
}

/* site.limits into the proxy and the tunnels (0: their defaults). */
static void apply_limits(wv_mesh *m) {
    json_t *site = NULL;
    if (wv_store_get_site(m->store, &site) != 0)
        return;
    json_t *l = json_object_get(site, "limits");
#define LIM(k) ((unsigned)json_integer_value(json_object_get(l, k)))
#define OR(v, d) ((v) ? (uint64_t)(v) : (uint64_t)(d))
    if (m->proxy)
        wv_proxy_set_limits(m->proxy, LIM("streamsPerPeer"), descriptor_budget());
    if (m->tunnels) {
        wv_tunnels_set_dial_limits(m->tunnels, LIM("dialPeers"), LIM("dialSocketsPerPeer"),
                                   LIM("dialsPerSecond"));
        wv_tunnels_set_windows(m->tunnels,
                               OR(LIM("streamWindowMiB"), WV_LIMIT_STREAM_WINDOW_MIB) * MIB,
                               OR(LIM("channelWindowMiB"), WV_LIMIT_CHANNEL_WINDOW_MIB) * MIB,
                               OR(LIM("bufferBudgetMiB"), WV_LIMIT_BUFFER_BUDGET_MIB) * MIB);
    }
#undef OR
    m->relay = json_is_true(json_object_get(site, "relay"));
    if (m->tunnels)
        wv_tunnels_set_relay(
            m->tunnels, m->relay, LIM("relayPeers"),
            (uint64_t)json_integer_value(json_object_get(l, "relayBytesPerSecond")));
#undef LIM
    json_decref(site);
}

void wv_mesh__apply_desired(wv_mesh *m) {
    load_desired(m);
    apply_limits(m);
    apply_sockets(m);
    if (m->health)
        wv_apphealth_set(m->health, m->exposed);
    announce_if_changed(m);
}

static void on_health(wv_apphealth *h, const char *name, void *user) {
    event(user, "exposedApps", name);
}

static int mqtt_options(wv_mesh *m, json_t *site, wv_mqtt_options *o, const char **brokers,
                        char **password) {
    json_t *mc = json_object_get(site, "messageChannel");
    json_t *bl = json_object_get(mc, "brokers");
    size_t n = WV_MIN(json_array_size(bl), (size_t)WV_MQTT_MAX_BROKERS);
    for (size_t i = 0; i < n; i++)
        brokers[i] = json_string_value(json_array_get(bl, i));
    memset(o, 0, sizeof(*o));
    o->brokers = brokers;
    o->nbrokers = n;
    const char *user = json_string_value(json_object_get(mc, "username"));
    o->username = user && *user ? user : NULL;
    if (wv_store_get_mqtt_password(m->store, password) == 0 && **password)
        o->password = *password;
    const char *ca = json_string_value(json_object_get(mc, "caFile"));
    o->ca_file = ca && *ca ? ca : NULL;
    return n ? 0 : WV_ERR_INVAL;
}

void wv_mesh__start_runtime(wv_mesh *m) {
    load_desired(m);
    struct wv_tunnels_options to = {.site = m->site, .auth_key = m->keys.tunnel, .id = m->id};
    wv_quic_config_default(&to.quic);
    /* The proxy holds at most a stream's window per connection. The caps
     * and the budget come from site.limits (apply_limits). */
    to.quic.stream_window = STREAM_WINDOW;
    to.quic.stream_window_max = WV_LIMIT_STREAM_WINDOW_MIB * MIB;
    to.quic.conn_window = CHANNEL_WINDOW;
    to.quic.conn_window_max = WV_LIMIT_CHANNEL_WINDOW_MIB * MIB;
    to.buffer_budget = WV_LIMIT_BUFFER_BUDGET_MIB * MIB;
    /* ngtcp2's BBR, not cubic: as fast on clean paths, and on lossy ones
     * (random loss is no congestion signal) 10-20x cubic in the WAN bench
     * (docs/PERFORMANCE.md, "WAN paths"). */
    to.quic.cc = WV_QUIC_CC_BBR;
    /* Loss repair between proven peers (docs/QUIC.md); WOVENET_FEC=off
     * turns it off, for a comparison on the same build. */
    const char *fec = getenv("WOVENET_FEC");
    to.quic.fec = !(fec && strcmp(fec, "off") == 0);
    /* A peer on this host: loopback-sized datagrams (docs/PERFORMANCE.md). */
    to.quic.local_udp_payload = LOCAL_UDP_PAYLOAD;
    /* Relayed channels ride in DATAGRAM frames of channels to the relay. */
    to.quic.datagrams = true;
    /* Stable across restarts: a restarted site resets the connections its
     * previous run left open, so peers re-dial at once. */
    to.quic.has_reset_secret =
        wv_identity_derive_secret(m->id, "wovenet/1 stateless reset", to.quic.reset_secret) == 0;
    struct wv_tunnels_callbacks tc = {.site_state = on_site_state,
                                      .channel_event = on_channel_event,
                                      .app_stream = on_app_stream,
                                      .need_sockinfo = on_need_sockinfo,
                                      .need_punch = on_need_punch};
    if (wv_tunnels_new(m->loop, m->log, &to, &tc, m, &m->tunnels) != 0) {
        WV_ERROR(m->log, SUB, "cannot start the tunnel manager");
        return;
    }
    struct wv_proxy_callbacks pc = {.find_exposed = find_exposed};
    struct wv_proxy_options po = {.max_buffer = STREAM_WINDOW,
                                  .opener = wv_tunnels_opener(m->tunnels)};
    if (wv_proxy_new(m->loop, m->log, &po, &pc, m, &m->proxy) != 0)
        WV_ERROR(m->log, SUB, "cannot start the app proxy");
    struct wv_detect_callbacks dtc = {.changed = on_detected, .endpoint = detect_endpoint};
    if (wv_detect_new(m->loop, m->log, &dtc, m, &m->detect) != 0)
        WV_ERROR(m->log, SUB, "cannot start public-address detection");
    m->health = wv_apphealth_new(m->loop, m->log, on_health, m);
    m->state = M_RUNNING;
    apply_limits(m);
    apply_sockets(m);
    wv_apphealth_set(m->health, m->exposed);

    json_t *site = NULL;
    if (wv_store_get_site(m->store, &site) != 0)
        return;
    const char *brokers[WV_MQTT_MAX_BROKERS];
    char *password = NULL;
    wv_discovery_options dopt = {.site = m->site, .keys = &m->keys, .id = m->id};
    const char *membership = json_string_value(json_object_get(site, "membership"));
    dopt.approve = membership && strcmp(membership, "approve") == 0;
    char *prev_key = NULL, *prev_sig = NULL;
    if (wv_store_get_rotation(m->store, &prev_key, &prev_sig) == 0) {
        dopt.prev_key = prev_key;
        dopt.prev_sig = prev_sig;
    }
    dopt.topic =
        json_string_value(json_object_get(json_object_get(site, "messageChannel"), "topic"));
    struct wv_discovery_callbacks dc = {
        .local = local_body, .peer = on_peer, .state = on_broker, .pin = on_pin, .punch = on_punch};
    if (mqtt_options(m, site, &dopt.mqtt, brokers, &password) != 0 ||
        wv_discovery_new(m->loop, m->log, &dopt, &dc, m, &m->disco) != 0) {
        WV_ERROR(m->log, SUB, "cannot set up the message channel (check the brokers and topic)");
        m->disco = NULL;
    }
    if (password) {
        wv_memwipe(password, strlen(password));
        free(password);
    }
    free(prev_key);
    free(prev_sig);
    json_decref(site);
    if (m->disco) {
        /* Pins and blocked keys first: a stored announcement under a key no
         * longer pinned is not seeded. */
        wv_store_pins(m->store, load_pin, m);
        wv_store_blocked_keys(m->store, load_block, m);
        wv_mesh__seed_known_sites(m);
        free(m->announced);
        m->announced = NULL;
        announce_if_changed(m); /* records what the first announcement holds */
        wv_discovery_start(m->disco);
    }
    WV_INFO(m->log, SUB, "site %s joined the mesh", m->site);
}

/* --- Remote-app connections --------------------------------------------------------- */

int wv_mesh_connect(wv_mesh *m, const char *name, const json_t *spec, uv_stream_t *client,
                    struct wv_app_counters *counters) {
    if (!m->tunnels || !m->proxy)
        return WV_ERR_NOTFOUND;
    const char *site = json_string_value(json_object_get(spec, "siteName"));
    const char *app = json_string_value(json_object_get(spec, "appName"));
    const char *target = json_string_value(json_object_get(spec, "appSocket"));
    char tbuf[80] = "";
    /* A range app's target travels as IP:PORT; the stored form is tcp:IP:PORT. */
    if (target && strncmp(target, "tcp:", 4) == 0)
        snprintf(tbuf, sizeof(tbuf), "%s", target + 4);
    if (!site || !wv_tunnels_site_up(m->tunnels, site))
        return WV_ERR_NOTFOUND;
    return wv_proxy_connect(m->proxy, client, site, name, app, tbuf[0] ? tbuf : NULL, counters);
}
