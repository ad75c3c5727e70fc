/* What the mesh shows: peers for the API, known sites in the store,
 * metrics, and runtime status of tunnel sockets and exposed apps. */
#include "mesh_int.h"
#include "wv/base.h"
#include "wv/model.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB "mesh"

/* --- Known sites ------------------------------------------------------------------ */

static void seed_one(const char *name, const char *announcement, void *arg) {
    wv_mesh *m = arg;
    if (wv_discovery_seed(m->disco, announcement) != 0)
        WV_DEBUG(m->log, SUB, "stored announcement of %s not usable", name);
}

void wv_mesh__seed_known_sites(wv_mesh *m) {
    int n = wv_store_known_sites(m->store, seed_one, m);
    for (size_t i = 0; i < wv_discovery_peer_count(m->disco); i++)
        wv_mesh__peer_to_tunnels(m, wv_discovery_peer_at(m->disco, i));
    if (n > 0)
        WV_INFO(m->log, SUB, "dialing %d known site(s) from the store", n);
}

void wv_mesh__save_known_site(wv_mesh *m, const wv_peer *p) {
    char *json = wv_discovery_peer_json(p);
    if (json && wv_store_known_site_put(m->store, p->name, json) != 0)
        WV_WARN(m->log, SUB, "cannot save known site %s", p->name);
    free(json);
}

int wv_mesh_forget(wv_mesh *m, const char *site, bool block) {
    const wv_pin *pin = m->disco ? wv_discovery_pin_find(m->disco, site) : NULL;
    const wv_peer *peer = m->disco ? wv_discovery_peer_find(m->disco, site) : NULL;
    char keys[2][WV_PUBKEY_HEX_LEN + 1] = {"", ""};
    if (pin) {
        snprintf(keys[0], sizeof keys[0], "%s", pin->key);
        snprintf(keys[1], sizeof keys[1], "%s", pin->offered);
    } else if (peer) {
        snprintf(keys[0], sizeof keys[0], "%s", peer->ann.key);
    }
    for (int i = 0; block && i < 2; i++) {
        if (!keys[i][0])
            continue;
        if (wv_store_key_block(m->store, keys[i], site) != 0 ||
            wv_discovery_block_key(m->disco, keys[i]) != 0)
            WV_WARN(m->log, SUB, "cannot block the identity key of %s", site);
        else
            WV_INFO(m->log, SUB, "blocked identity key %.16s... of %s", keys[i], site);
    }
    bool found = wv_store_known_site_delete(m->store, site) == 0;
    if (wv_store_pin_delete(m->store, site) == 0)
        found = true;
    if (m->disco && wv_discovery_unpin(m->disco, site) == 0)
        found = true;
    if (m->disco && wv_discovery_forget(m->disco, site) == 0)
        found = true;
    if (m->tunnels)
        wv_tunnels_remove_peer(m->tunnels, site);
    if (found)
        WV_INFO(m->log, SUB, "forgot site %s", site);
    return found ? 0 : WV_ERR_NOTFOUND;
}

int wv_mesh_approve(wv_mesh *m, const char *site) {
    return m->disco ? wv_discovery_approve(m->disco, site) : WV_ERR_NOTFOUND;
}

/* --- Peers ---------------------------------------------------------------------------- */

/* identityKey, membership (trusted | pending | conflict) and, on a
 * conflict, the key offered instead of the pinned one. */
static void add_membership(wv_mesh *m, json_t *o, const char *site, const char *ann_key) {
    const wv_pin *pin = m->disco ? wv_discovery_pin_find(m->disco, site) : NULL;
    const char *key = pin ? pin->key : ann_key;
    if (key && *key)
        json_object_set_new(o, "identityKey", json_string(key));
    const char *state = !pin                           ? "unpinned"
                        : pin->offered[0]              ? "conflict"
                        : pin->state == WV_PIN_PENDING ? "pending"
                                                       : "trusted";
    json_object_set_new(o, "membership", json_string(state));
    if (pin && pin->offered[0])
        json_object_set_new(o, "conflict",
                            json_pack("{s:s, s:I}", "offeredKey", pin->offered, "refused",
                                      (json_int_t)pin->conflicts));
}

/* "2024-05-01T10:00:00.123Z" of a wall-clock time in ms (out: 40 bytes). */
static void iso_ms(int64_t ms, char *out) {
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03dZ", (int)(ms % 1000));
}

static json_t *peer_json(wv_mesh *m, const wv_peer *p) {
    json_t *socks = json_array();
    for (size_t i = 0; i < p->ann.nsockets; i++) {
        const wv_msg_socket *ms = &p->ann.sockets[i];
        json_t *so = json_pack("{s:s, s:i, s:s, s:b}", "address", ms->address, "port",
                               (int)ms->port, "protocol", "quic", "detected", ms->detected);
        if (ms->kind != WV_CAND_NONE) {
            json_object_set_new(so, "candidate", json_string(wv_cand_kind_name(ms->kind)));
            json_object_set_new(so, "group", json_integer(ms->group));
        }
        json_array_append_new(socks, so);
    }
    json_t *apps = json_array();
    for (size_t i = 0; i < p->ann.napps; i++)
        json_array_append_new(apps, json_string(p->ann.apps[i]));
    json_t *chans = m->tunnels ? wv_tunnels_channels_json(m->tunnels, p->name) : json_array();
    size_t i;
    json_t *c;
    /* Every channel is dialed directly until NAT traversal brings the other
     * kinds (punched, mapped, relayed via SITE); clients can show it now. */
    json_array_foreach(chans, i, c) {
        if (!json_object_get(c, "path"))
            json_object_set_new(c, "path", json_string("direct"));
    }
    char seen[40] = "";
    if (p->last_seen_ms > 0)
        iso_ms(p->last_seen_ms, seen);
    json_t *o = json_pack("{s:s, s:b, s:b, s:s?, s:o, s:o, s:s, s:o}", "siteName", p->name,
                          "online", p->online, "reachable", wv_mesh_site_up(m, p->name), "lastSeen",
                          seen[0] ? seen : NULL, "sockets", socks, "apps", apps, "fingerprint",
                          p->ann.fingerprint, "channels", chans);
    add_membership(m, o, p->name, p->ann.key);
    return o;
}

/* A site waiting for approval is no peer yet: shown from the announcement
 * held for the operator, with its identity key to compare. */
static json_t *pending_json(const wv_pin *pin) {
    json_t *apps = json_array();
    const wv_msg *a = pin->has_held ? &pin->held : NULL;
    for (size_t i = 0; a && i < a->napps; i++)
        json_array_append_new(apps, json_string(a->apps[i]));
    return json_pack("{s:s, s:b, s:b, s:n, s:[], s:o, s:s, s:[], s:s, s:s}", "siteName", pin->site,
                     "online", false, "reachable", false, "lastSeen", "sockets", "apps", apps,
                     "fingerprint", a ? a->fingerprint : "", "channels", "identityKey", pin->key,
                     "membership", "pending");
}

json_t *wv_mesh_peers_json(wv_mesh *m) {
    json_t *arr = json_array();
    if (!m->disco)
        return arr;
    for (size_t i = 0; i < wv_discovery_peer_count(m->disco); i++)
        json_array_append_new(arr, peer_json(m, wv_discovery_peer_at(m->disco, i)));
    for (size_t i = 0; i < wv_discovery_pin_count(m->disco); i++) {
        const wv_pin *pin = wv_discovery_pin_at(m->disco, i);
        if (!wv_discovery_peer_find(m->disco, pin->site))
            json_array_append_new(arr, pending_json(pin));
    }
    return arr;
}

json_t *wv_mesh_peer_json(wv_mesh *m, const char *site) {
    const wv_peer *p = m->disco ? wv_discovery_peer_find(m->disco, site) : NULL;
    if (p)
        return peer_json(m, p);
    const wv_pin *pin = m->disco ? wv_discovery_pin_find(m->disco, site) : NULL;
    return pin ? pending_json(pin) : NULL;
}

/* --- Open connections and app counters -------------------------------------------- */

static void conn_json(const struct wv_proxy_conn_info *ci, void *arg) {
    wv_mesh *m = arg;
    char started[40];
    iso_ms(ci->started_ms, started);
    int64_t chan = m->tunnels ? wv_tunnels_channel_id(m->tunnels, ci->conn) : -1;
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", (json_int_t)ci->id, "kind",
                  ci->exposed ? "exposedApp" : "remoteApp", "app", ci->app, "site", ci->site,
                  "state", ci->open ? "open" : "connecting", "started", started, "bytesIn",
                  (json_int_t)ci->bytes_in, "bytesOut", (json_int_t)ci->bytes_out);
    json_object_set_new(o, "channel", chan >= 0 ? json_integer((json_int_t)chan) : json_null());
    if (ci->address)
        json_object_set_new(o, ci->exposed ? "target" : "client", json_string(ci->address));
    json_array_append_new(m->conns_out, o);
}

json_t *wv_mesh_connections_json(wv_mesh *m) {
    json_t *arr = json_array();
    if (!m->proxy)
        return arr;
    m->conns_out = arr;
    wv_proxy_each_conn(m->proxy, conn_json, m);
    m->conns_out = NULL;
    return arr;
}

void wv_mesh_each_exposed(wv_mesh *m,
                          void (*fn)(const char *name, const struct wv_app_counters *k, void *arg),
                          void *arg) {
    size_t i;
    json_t *a;
    json_array_foreach(m->exposed, i, a) {
        const char *name = json_string_value(json_object_get(a, "name"));
        if (name)
            fn(name, wv_mesh__xcount(m, name)->k, arg);
    }
}

/* --- Status and metrics ------------------------------------------------------------ */

/* Is the stored object paused ("enabled": false)? */
static bool paused(wv_mesh *m, enum wv_kind kind, const char *name) {
    json_t *list = kind == WV_KIND_SOCKET ? m->sockets : m->exposed, *o;
    size_t i;
    json_array_foreach(list, i, o) {
        if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
            return json_is_false(json_object_get(o, "enabled"));
    }
    return false;
}

json_t *wv_mesh_status(wv_mesh *m, enum wv_kind kind, const char *name) {
    if ((kind == WV_KIND_SOCKET || kind == WV_KIND_EXPOSED_APP) && paused(m, kind, name)) {
        json_t *st = json_pack("{s:s}", "state", "disabled");
        if (kind == WV_KIND_EXPOSED_APP) {
            struct xcount *x = wv_mesh__xcount(m, name);
            json_object_set_new(st, "connections", json_integer((json_int_t)x->k->connections));
            json_object_set_new(st, "bytesIn", json_integer((json_int_t)x->k->bytes_in));
            json_object_set_new(st, "bytesOut", json_integer((json_int_t)x->k->bytes_out));
        }
        return st;
    }
    if (kind == WV_KIND_SOCKET) {
        json_t *st = m->tunnels ? wv_tunnels_socket_status(m->tunnels, name)
                                : json_pack("{s:s}", "state", "stopped");
        json_t *det = m->detect ? wv_detect_status(m->detect, name) : NULL;
        if (det) {
            /* {state, error, publicAddress} plus how it was found. */
            json_t *pa = json_object_get(det, "publicAddress");
            if (pa)
                json_object_set(st, "publicAddress", pa);
            /* Say why nothing is announced yet where clients look first. */
            json_t *derr = json_object_get(det, "error");
            if (!pa && derr && !json_object_get(st, "error"))
                json_object_set(st, "error", derr);
            json_object_set_new(st, "detection", det);
        }
        json_t *pm = m->detect ? wv_detect_mapping_status(m->detect, name) : NULL;
        if (pm)
            json_object_set_new(st, "portMapping", pm);
        if (!det) {
            json_t *s = NULL;
            const char *pa = NULL;
            if (wv_store_get(m->store, WV_KIND_SOCKET, name, &s) == 0)
                pa = json_string_value(json_object_get(s, "publicAddress"));
            struct sockaddr_storage ss;
            if (pa && wv_parse_ip(pa, 0, &ss) == 0)
                json_object_set_new(st, "publicAddress", json_string(pa));
            json_decref(s);
        }
        return st;
    }
    if (kind == WV_KIND_EXPOSED_APP) {
        struct xcount *x = wv_mesh__xcount(m, name);
        json_t *st = json_pack("{s:s, s:I, s:I, s:I, s:I}", "state", "ready", "connections",
                               (json_int_t)x->k->connections, "activeConnections",
                               (json_int_t)x->k->active, "bytesIn", (json_int_t)x->k->bytes_in,
                               "bytesOut", (json_int_t)x->k->bytes_out);
        if (x->k->target_error[0]) {
            /* What the last peer's connection met at the target. */
            char *e =
                wv_asprintf("the last connection to the target failed: %s", x->k->target_error);
            json_object_set_new(st, "lastError", json_string(e));
            free(e);
        }
        json_object_set_new(st, "targetFailures", json_integer((json_int_t)x->k->target_failures));
        json_t *h = m->health ? wv_apphealth_status(m->health, name) : NULL;
        if (h) {
            /* A target that does not answer is where peers' connections fail. */
            if (strcmp(json_string_value(json_object_get(h, "state")), "failing") == 0) {
                json_object_set_new(st, "state", json_string("error"));
                json_object_set(st, "error", json_object_get(h, "error"));
            }
            json_object_set_new(st, "health", h);
        }
        return st;
    }
    return json_object();
}

/* Per-channel series, labelled by site, channel id and address family. */
static void channel_metrics(wv_mesh *m, const char *site, wv_metrics *out) {
    json_t *chans = wv_tunnels_channels_json(m->tunnels, site);
    size_t i;
    json_t *c;
    json_array_foreach(chans, i, c) {
        char l[400] = "", id[24];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(c, "id")));
        wv_metrics_label(l, sizeof(l), "site", site);
        wv_metrics_label(l, sizeof(l), "channel", id);
        wv_metrics_label(l, sizeof(l), "family", json_string_value(json_object_get(c, "family")));
        wv_metrics_label(l, sizeof(l), "direction",
                         json_string_value(json_object_get(c, "direction")));
        wv_metrics_label(l, sizeof(l), "path", json_string_value(json_object_get(c, "path")));
#define N(key) (double)json_integer_value(json_object_get(c, key))
        const struct wv_metric_row f[] = {
            {"wovenet_channel_up", WV_GAUGE, "1 while the data channel is up.",
             strcmp(json_string_value(json_object_get(c, "state")), "up") == 0},
            {"wovenet_channel_rtt_seconds", WV_GAUGE,
             "Smoothed round-trip time of the data channel.",
             json_real_value(json_object_get(c, "rttMs")) / 1000.0},
            {"wovenet_channel_cwnd_bytes", WV_GAUGE, "Congestion window of the data channel.",
             N("cwnd")},
            {"wovenet_channel_streams", WV_GAUGE, "App streams open on the channel.", N("streams")},
            {"wovenet_channel_sent_bytes_total", WV_COUNTER,
             "UDP payload bytes sent on the channel.", N("bytesSent")},
            {"wovenet_channel_received_bytes_total", WV_COUNTER,
             "UDP payload bytes received on the channel.", N("bytesReceived")},
            {"wovenet_channel_receive_window_bytes", WV_GAUGE,
             "Receive window of the data channel (auto-tuned).", N("receiveWindow")},
        };
#undef N
        wv_metrics_add_rows(out, l, f, WV_COUNTOF(f));
    }
    json_decref(chans);
}

/* One counter family split by one label: name{key="value"} n for each of
 * vals, the help with the first. */
struct by_label {
    const char *value;
    uint64_t n;
};

static void add_by_label(wv_metrics *out, const char *name, const char *help, const char *key,
                         const struct by_label *vals, size_t nvals) {
    for (size_t i = 0; i < nvals; i++) {
        char l[64];
        snprintf(l, sizeof(l), "%s=\"%s\"", key, vals[i].value);
        wv_metrics_add(out, name, WV_COUNTER, i ? NULL : help, l, (double)vals[i].n);
    }
}

void wv_mesh_metrics(wv_mesh *m, wv_metrics *out) {
    const struct wv_metric_row mesh[] = {
        {"wovenet_broker_connected", WV_GAUGE, "1 while connected to an MQTT broker.",
         wv_mesh_broker_connected(m)},
        {"wovenet_peers", WV_GAUGE, "Known peer sites.",
         m->disco ? (double)wv_discovery_peer_count(m->disco) : 0},
    };
    wv_metrics_add_rows(out, NULL, mesh, WV_COUNTOF(mesh));
    if (m->disco) {
        wv_discovery_stats ds;
        wv_discovery_get_stats(m->disco, &ds);
        const struct by_label dropped[] = {
            {"decrypt", ds.decrypt_failures}, {"parse", ds.parse_failures},
            {"replay", ds.replays},           {"oversize", ds.oversize},
            {"unsigned", ds.unsigned_msgs},   {"signature", ds.bad_signatures},
            {"pin", ds.pin_conflicts},        {"unsolicited", ds.unsolicited},
            {"blocked", ds.blocked},
        };
        add_by_label(out, "wovenet_messages_dropped_total",
                     "Message-channel messages dropped, by reason.", "reason", dropped,
                     WV_COUNTOF(dropped));
        size_t pending = 0, conflicts = 0;
        for (size_t i = 0; i < wv_discovery_pin_count(m->disco); i++) {
            const wv_pin *pin = wv_discovery_pin_at(m->disco, i);
            pending += pin->state == WV_PIN_PENDING;
            conflicts += pin->offered[0] != '\0';
        }
        const struct wv_metric_row f[] = {
            {"wovenet_sites_pending", WV_GAUGE, "Sites waiting for the operator's approval.",
             (double)pending},
            {"wovenet_pin_conflicts", WV_GAUGE,
             "Pinned sites offered under another identity key (approve or revoke).",
             (double)conflicts},
            {"wovenet_announcements_total", WV_COUNTER, "Announcements published.",
             (double)ds.announcements},
        };
        wv_metrics_add_rows(out, NULL, f, WV_COUNTOF(f));
        const struct by_label punch[] = {{"sent", ds.punch_requests_sent},
                                         {"answered", ds.punch_requests}};
        add_by_label(out, "wovenet_punch_requests_total",
                     "Hole-punching requests: sent to peers, and answered (trusted ones only).",
                     "dir", punch, WV_COUNTOF(punch));
    }
    if (m->tunnels) {
        struct wv_tunnels_stats ts;
        wv_tunnels_get_stats(m->tunnels, &ts);
        const struct wv_metric_row f[] = {
            {"wovenet_channels_up", WV_GAUGE, "Data channels up.", (double)ts.channels_up},
            {"wovenet_channels_total", WV_COUNTER, "Data channels ever created.",
             (double)ts.channels_total},
            {"wovenet_dials_total", WV_COUNTER, "Outbound dials.", (double)ts.dials},
            {"wovenet_dial_failures_total", WV_COUNTER, "Dials or channels that failed.",
             (double)ts.dial_failures},
            {"wovenet_proofs_failed_total", WV_COUNTER,
             "Channels closed for a missing or wrong membership proof.", (double)ts.proofs_failed},
            {"wovenet_quic_retries_sent_total", WV_COUNTER,
             "QUIC Retry packets sent to validate a client's address (handshake flood defence).",
             (double)ts.retries_sent},
            {"wovenet_dials_deferred_total", WV_COUNTER,
             "Dials postponed by limits.dialsPerSecond.", (double)ts.dials_deferred},
            {"wovenet_dial_sockets_skipped_total", WV_COUNTER,
             "Announced sockets not dialed (limits.dialSocketsPerPeer, dialPeers).",
             (double)ts.dial_sockets_skipped},
            {"wovenet_channels_quarantined_total", WV_COUNTER,
             "Inbound channels held until their name's signed announcement arrived.",
             (double)ts.quarantined},
            {"wovenet_streams_refused_total", WV_COUNTER,
             "Streams a peer opened before proving membership (reset).",
             (double)ts.streams_refused},
            {"wovenet_buffer_budget_bytes", WV_GAUGE,
             "What peers may make this site buffer, all channels together "
             "(limits.bufferBudgetMiB).",
             (double)ts.budget.limit},
            {"wovenet_buffer_budget_used_bytes", WV_GAUGE,
             "The channels' receive windows now, together: the most their streams can hold "
             "received and not yet written out.",
             (double)ts.budget.used},
            {"wovenet_buffer_budget_peak_bytes", WV_GAUGE,
             "High-water mark of wovenet_buffer_budget_used_bytes.", (double)ts.budget.peak},
            {"wovenet_buffer_budget_refused_total", WV_COUNTER,
             "Receive-window growths the buffer budget refused or cut short.",
             (double)ts.budget.refused},
            {"wovenet_stream_window_max_bytes", WV_GAUGE,
             "The most an app stream's receive window grows to (limits.streamWindowMiB).",
             (double)ts.stream_window_max},
            {"wovenet_channel_window_max_bytes", WV_GAUGE,
             "The most a channel's receive window grows to (limits.channelWindowMiB).",
             (double)ts.conn_window_max},
            {"wovenet_punches_total", WV_COUNTER,
             "Hole punches with a peer (dials of its candidates at once).", (double)ts.punches},
            {"wovenet_relay_forwarded_packets_total", WV_COUNTER,
             "Packets this site relayed between other sites.", (double)ts.relay_packets},
            {"wovenet_relay_forwarded_bytes_total", WV_COUNTER,
             "Payload bytes (sealed end-to-end QUIC packets) this site relayed.",
             (double)ts.relay_bytes},
            {"wovenet_relay_peers", WV_GAUGE,
             "Sites relayed for in the last 30 s (limits.relayPeers bounds it).",
             (double)ts.relay_peers},
        };
        wv_metrics_add_rows(out, NULL, f, WV_COUNTOF(f));
        const struct by_label refused[] = {{"unproven", ts.refused_unproven},
                                           {"per-peer", ts.refused_peer_limit},
                                           {"unproven-per-source", ts.refused_unproven_source}};
        add_by_label(out, "wovenet_channels_refused_total",
                     "Inbound channels refused by a limit, by limit.", "limit", refused,
                     WV_COUNTOF(refused));
        const struct by_label initials[] = {{"bad-token", ts.bad_tokens},
                                            {"per-source", ts.handshakes_refused_source}};
        add_by_label(out, "wovenet_quic_initials_dropped_total",
                     "QUIC Initials dropped by the handshake guard, by reason.", "reason", initials,
                     WV_COUNTOF(initials));
        struct by_label paths[WV_COUNTOF(ts.chans_up_by_path)];
        for (size_t p = 0; p < WV_COUNTOF(paths); p++)
            paths[p] = (struct by_label){wv_path_name((enum wv_path)p), ts.chans_up_by_path[p]};
        add_by_label(out, "wovenet_channels_up_total", "Data channels that came up, by path.",
                     "path", paths, WV_COUNTOF(paths));
        const struct by_label relay_drops[] = {
            {"off", ts.relay_dropped_off},     {"no-route", ts.relay_dropped_noroute},
            {"peers", ts.relay_dropped_peers}, {"rate", ts.relay_dropped_rate},
            {"queue", ts.relay_dropped_queue},
        };
        add_by_label(out, "wovenet_relay_dropped_total",
                     "Packets this site did not relay, by reason (relay off, no channel to the "
                     "site, limits.relayPeers, limits.relayBytesPerSecond, frame queue full).",
                     "reason", relay_drops, WV_COUNTOF(relay_drops));
    }
    if (m->tunnels && m->disco)
        for (size_t i = 0; i < wv_discovery_peer_count(m->disco); i++)
            channel_metrics(m, wv_discovery_peer_at(m->disco, i)->name, out);
    if (m->detect) {
        struct wv_detect_stats st;
        wv_detect_get_stats(m->detect, &st);
        const struct wv_metric_row f[] = {
            {"wovenet_address_detections_total", WV_COUNTER,
             "Public-address detections that succeeded.", (double)st.detections},
            {"wovenet_address_detection_failures_total", WV_COUNTER,
             "Public-address detections that failed.", (double)st.failures},
            {"wovenet_address_changes_total", WV_COUNTER,
             "Detected public addresses that changed (re-announced).", (double)st.changes},
            {"wovenet_port_mappings_total", WV_COUNTER,
             "Port mappings the router made (UPnP-IGD, NAT-PMP).", (double)st.mappings},
            {"wovenet_port_mapping_renewals_total", WV_COUNTER, "Port mappings renewed.",
             (double)st.mapping_renewals},
            {"wovenet_port_mapping_failures_total", WV_COUNTER,
             "Port mapping requests that failed.", (double)st.mapping_failures},
        };
        wv_metrics_add_rows(out, NULL, f, WV_COUNTOF(f));
    }
    for (struct xcount *x = m->xcounts; x; x = x->next) {
        char l[300] = "";
        wv_metrics_label(l, sizeof(l), "app", x->name);
        const struct wv_metric_row f[] = {
            {"wovenet_exposed_app_connections_total", WV_COUNTER,
             "Connections served per exposed app.", (double)x->k->connections},
            {"wovenet_exposed_app_bytes_in_total", WV_COUNTER,
             "Bytes from the tunnel to the exposed app.", (double)x->k->bytes_in},
            {"wovenet_exposed_app_bytes_out_total", WV_COUNTER,
             "Bytes from the exposed app into the tunnel.", (double)x->k->bytes_out},
            {"wovenet_exposed_app_connections_refused_total", WV_COUNTER,
             "Connections refused per exposed app: maxConnections open already.",
             (double)x->k->refused_limit},
        };
        wv_metrics_add_rows(out, l, f, WV_COUNTOF(f));
    }
    if (m->proxy) {
        struct wv_proxy_stats ps;
        wv_proxy_get_stats(m->proxy, &ps);
        const struct by_label streams[] = {{"peer-limit", ps.refused_peer_limit},
                                           {"app-limit", ps.refused_app_limit},
                                           {"forbidden", ps.refused_forbidden},
                                           {"descriptors", ps.refused_open_limit}};
        add_by_label(out, "wovenet_app_streams_refused_total",
                     "App streams refused by a bound or an access rule, by reason.", "reason",
                     streams, WV_COUNTOF(streams));
        const struct wv_metric_row f[] = {
            {"wovenet_app_buffered_bytes", WV_GAUGE,
             "Bytes the app connections hold now: received and not yet written out, read and "
             "not yet accepted by the tunnel.",
             (double)ps.buffered},
            {"wovenet_app_buffered_peak_bytes", WV_GAUGE,
             "High-water mark of wovenet_app_buffered_bytes.", (double)ps.buffered_peak},
        };
        wv_metrics_add_rows(out, NULL, f, WV_COUNTOF(f));
    }
}

static void busy_site(const char *site, void *arg) {
    wv_mesh *m = arg;
    if (m->cbs.event && !m->closing)
        m->cbs.event(m, "channels", site, m->user);
}

void wv_mesh_report_activity(wv_mesh *m) {
    for (struct xcount *x = m->xcounts; x; x = x->next) {
        uint64_t now = x->k->bytes_in + x->k->bytes_out + x->k->connections + x->k->active +
                       x->k->target_failures;
        if (now == x->reported)
            continue;
        x->reported = now;
        if (m->cbs.event && !m->closing)
            m->cbs.event(m, "exposedApps", x->name, m->user);
    }
    if (m->tunnels)
        wv_tunnels_each_busy_site(m->tunnels, busy_site, m);
}

void wv_mesh__free_views(wv_mesh *m) {
    while (m->xcounts) {
        struct xcount *x = m->xcounts;
        m->xcounts = x->next;
        wv_app_counters_unref(x->k);
        free(x->name);
        free(x);
    }
    json_decref(m->sockets);
    json_decref(m->exposed);
    free(m->announced);
}
