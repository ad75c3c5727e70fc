/* The tunnel manager's public verbs: adding and removing peers and sockets,
 * the channels' view (stats, JSON), punching, the stream opener. The state
 * they act on is run by tunnel.c. */
#include "balance.h"
#include "tunnel_int.h"
#include "wv/base.h"
#include "wv/tunnel.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "tunnel"

/* --- Public verbs --------------------------------------------------------------------- */

int wv_tunnels_new(uv_loop_t *loop, wv_log *log, const struct wv_tunnels_options *opts,
                   const struct wv_tunnels_callbacks *cbs, void *user, wv_tunnels **out) {
    if (!opts || !opts->site || !opts->auth_key || !opts->id)
        return WV_ERR_INVAL;
    wv_tunnels *t = wv_calloc(1, sizeof(*t));
    t->loop = loop;
    t->log = log;
    snprintf(t->site, sizeof(t->site), "%s", opts->site);
    memcpy(t->auth_key, opts->auth_key, sizeof(t->auth_key));
    t->id = opts->id;
    t->quic = opts->quic;
    t->budget = wv_quic_budget_new(opts->buffer_budget);
    t->quic.budget = t->budget;
    t->max_unproven = opts->max_unproven ? opts->max_unproven : 64;
    t->max_unproven_per_source = opts->max_unproven_per_source ? opts->max_unproven_per_source : 8;
    wv_tunnels_set_dial_limits(t, opts->max_dial_peers, opts->max_dial_sockets_per_peer,
                               opts->dials_per_second);
    t->dial_tokens = 2.0 * t->dials_per_second;
    t->dial_refill_ms = uv_now(loop);
    t->max_channels_per_peer = opts->max_channels_per_peer ? opts->max_channels_per_peer : 16;
    if (cbs)
        t->cbs = *cbs;
    t->user = user;
    uv_timer_init(loop, &t->tick);
    *out = t;
    return 0;
}

bool wv_tunnels_site_up(wv_tunnels *t, const char *site) {
    struct tpeer *p = wv_tunnel__peer_find(t, site);
    return p && p->up;
}

int wv_tunnels_open_stream(wv_tunnels *t, const char *site, void *handler, wv_quic_conn **conn,
                           int64_t *sid) {
    struct tpeer *p = wv_tunnel__peer_find(t, site);
    if (!p || !p->up)
        return WV_ERR_NOTFOUND;
    struct chan *cand[64];
    struct wv_chan_load load[64];
    bool quiet[64];
    size_t n = 0, nquiet = 0;
    /* A relayed path only while there is no other: new connections take
     * the direct one as soon as it is up. */
    bool direct = wv_tunnel__has_direct(t, p);
    for (struct chan *c = t->chans; c && n < WV_COUNTOF(cand); c = c->next) {
        if (c->peer != p || c->state != CH_UP || (direct && wv_tunnel__chan_relayed(c)))
            continue;
        wv_quic_conn_stats st;
        wv_quic_conn_stats_get(c->conn, &st);
        cand[n] = c;
        quiet[n] = wv_tunnel__chan_quiet(t, c, &st);
        nquiet += quiet[n];
        load[n] = (struct wv_chan_load){.up = true,
                                        .bytes_in_flight = st.bytes_in_flight,
                                        .cwnd = st.cwnd,
                                        .streams = c->streams};
        n++;
    }
    /* Quiet channels only when nothing else is left. */
    if (nquiet < n)
        for (size_t i = 0; i < n; i++)
            if (quiet[i])
                load[i].up = false;
    /* Try the best channel first; one out of stream credit is skipped. */
    for (size_t tries = 0; tries < n; tries++) {
        int k = wv_balance_pick(load, n);
        if (k < 0)
            break;
        struct chan *c = cand[k];
        if (wv_quic_stream_open(c->conn, sid) == 0) {
            wv_quic_stream_set_user(c->conn, *sid, handler);
            c->streams++;
            *conn = c->conn;
            return 0;
        }
        load[k].up = false;
    }
    return WV_ERR_AGAIN;
}

static int open_for_opener(void *self, const char *site, void *handler, wv_quic_conn **conn,
                           int64_t *sid) {
    return wv_tunnels_open_stream(self, site, handler, conn, sid);
}

struct wv_stream_opener wv_tunnels_opener(wv_tunnels *t) {
    return (struct wv_stream_opener){.open = open_for_opener, .self = t};
}

void wv_tunnels_get_stats(wv_tunnels *t, struct wv_tunnels_stats *out) {
    *out = t->stats;
    out->channels_up = 0;
    for (struct tep *ep = t->eps; ep; ep = ep->next) {
        if (!ep->qep || !ep->name)
            continue;
        wv_quic_guard_stats g;
        wv_quic_endpoint_guard_stats(ep->qep, &g);
        out->retries_sent += g.retries_sent;
        out->bad_tokens += g.bad_tokens;
        out->handshakes_refused_source += g.source_refused;
    }
    for (struct chan *c = t->chans; c; c = c->next)
        if (c->state == CH_UP)
            out->channels_up++;
    wv_quic_budget_get_stats(t->budget, &out->budget);
    out->stream_window_max = t->quic.stream_window_max;
    out->conn_window_max = t->quic.conn_window_max;
    uint64_t now = uv_now(t->loop);
    for (struct tpeer *p = t->peers; p; p = p->next)
        out->relay_peers += p->relay_seen_ms && now - p->relay_seen_ms < 30000;
}

void wv_tunnels_set_windows(wv_tunnels *t, uint64_t stream_window_max, uint64_t conn_window_max,
                            uint64_t buffer_budget) {
    if (stream_window_max)
        t->quic.stream_window_max = WV_MAX(stream_window_max, t->quic.stream_window);
    if (conn_window_max)
        t->quic.conn_window_max = WV_MAX(conn_window_max, t->quic.conn_window);
    if (buffer_budget)
        wv_quic_budget_set_limit(t->budget, buffer_budget);
    for (struct tep *ep = t->eps; ep; ep = ep->next)
        if (ep->qep)
            wv_quic_endpoint_set_window_max(ep->qep, t->quic.stream_window_max,
                                            t->quic.conn_window_max);
}

json_t *wv_tunnels_channels_json(wv_tunnels *t, const char *site) {
    json_t *arr = json_array();
    struct tpeer *p = wv_tunnel__peer_find(t, site);
    if (!p)
        return arr;
    for (struct chan *c = t->chans; c; c = c->next) {
        if (c->peer != p)
            continue;
        wv_quic_conn_stats st;
        wv_quic_conn_stats_get(c->conn, &st);
        char la[WV_ADDR_STRLEN], ra[WV_ADDR_STRLEN], label[300];
        wv_addr_format((const struct sockaddr *)&st.local, la);
        wv_addr_format((const struct sockaddr *)&st.remote, ra);
        bool relayed = wv_tunnel__chan_relayed(c);
        if (relayed) {
            /* The relay's name, and no fake addresses: "relay <site>". */
            snprintf(label, sizeof(label), "relayed via %s", c->ep->relay);
            snprintf(la, sizeof(la), "relay %.56s", c->ep->relay);
            snprintf(ra, sizeof(ra), "relay %.56s", c->ep->relay);
        } else {
            snprintf(label, sizeof(label), "%s", wv_path_name(c->path));
        }
        json_t *fec = json_pack(
            "{s:I, s:I, s:f, s:I, s:I, s:I}", "group", (json_int_t)st.fec.group, "repairsSent",
            (json_int_t)st.fec.repairs_sent, "peerLossPercent", st.fec.peer_loss * 100,
            "packetsCovered", (json_int_t)st.fec.packets, "lost", (json_int_t)st.fec.lost,
            "rebuilt", (json_int_t)st.fec.rebuilt);
        json_array_append_new(
            arr,
            json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
                      "id", (json_int_t)c->id, "path", label, "direction",
                      c->outbound ? "outbound" : "inbound", "family",
                      relayed                           ? "relay"
                      : st.remote.ss_family == AF_INET6 ? "ipv6"
                                                        : "ipv4",
                      "localAddress", la, "remoteAddress", ra, "state",
                      wv_tunnel__state_name(c->state), "rttMs", (double)st.smoothed_rtt_ns / 1e6,
                      "cwnd", (json_int_t)st.cwnd, "bytesSent", (json_int_t)st.bytes_sent,
                      "bytesReceived", (json_int_t)st.bytes_recv, "streams", (json_int_t)c->streams,
                      "maxUdpPayload", (json_int_t)st.max_udp_payload, "receiveWindow",
                      (json_int_t)st.rx_window, "lossRepair", fec));
    }
    return arr;
}

void wv_tunnels_punch(wv_tunnels *t, const char *site) {
    struct tpeer *p = wv_tunnel__peer_find(t, site);
    if (!p || t->closing)
        return;
    bool any = false;
    for (size_t i = 0; i < p->nsocks; i++) {
        struct psock *s = p->socks[i];
        if (s->s.kind == WV_PEER_PLAIN || !s->present || !s->resolved || wv_tunnel__group_up(s))
            continue;
        if (s->chan && s->chan->state != CH_HANDSHAKING)
            continue; /* handshake done: proving, up or closing */
        if (s->chan) {
            /* Its Initials may be waiting out a retransmission timeout of
             * seconds: a fresh handshake sends at once. */
            struct chan *old = s->chan;
            s->chan = NULL;
            old->dial = NULL;
            wv_tunnel__chan_close(t, old, 0, "punching again");
        }
        s->attempt = 0;
        s->next_dial = 0;
        /* This is the answer to (or the cause of) a punch request. */
        p->punch_asked_ms = uv_now(t->loop);
        wv_tunnel__dial(t, p, s);
        any = true;
    }
    if (any) {
        t->stats.punches++;
        WV_INFO(t->log, SUB, "site %s: punching (dialing its candidates now)", site);
    }
}

void wv_tunnels_each_busy_site(wv_tunnels *t, void (*fn)(const char *site, void *arg), void *arg) {
    for (struct tpeer *p = t->peers; p; p = p->next) {
        bool busy = false;
        for (struct chan *c = t->chans; c; c = c->next) {
            if (c->peer != p)
                continue;
            wv_quic_conn_stats st;
            wv_quic_conn_stats_get(c->conn, &st);
            wv_tunnel__chan_quiet(t, c, &st); /* keeps the receive tracking fresh */
            uint64_t total = st.bytes_sent + st.bytes_recv;
            if (total != c->reported_bytes) {
                c->reported_bytes = total;
                busy = true;
            }
        }
        if (busy)
            fn(p->name, arg);
    }
}

int64_t wv_tunnels_channel_id(const wv_tunnels *t, const wv_quic_conn *conn) {
    for (const struct chan *c = t->chans; c; c = c->next)
        if (c->conn == conn)
            return (int64_t)c->id;
    return -1;
}
