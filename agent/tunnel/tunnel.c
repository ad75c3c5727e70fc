/* The tunnel manager: endpoints, channels, the proof exchange, dialing
 * (the public verbs are in tunnel_verbs.c). Contract and protocol summary in
 * tunnel.h; bytes in docs/PROTOCOL.md. */
#include "wv/tunnel.h"
#include "balance.h"
#include "tunnel_int.h"
#include "wv/base.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "tunnel"
#define TICK_MS 200
#define SOCKINFO_AFTER_FAILURES 3

static const char *const state_names[] = {"handshaking", "proving", "up", "closing"};
static const char *const path_names[] = {"direct", "punched", "mapped", "relayed"};

const char *wv_path_name(enum wv_path p) {
    return (size_t)p < WV_COUNTOF(path_names) ? path_names[p] : "direct";
}

const char *wv_tunnel__state_name(enum chan_state s) {
    return state_names[s];
}

/* --- Peers -------------------------------------------------------------------- */

struct tpeer *wv_tunnel__peer_find(wv_tunnels *t, const char *site) {
    for (struct tpeer *p = t->peers; p; p = p->next)
        if (strcmp(p->name, site) == 0)
            return p;
    return NULL;
}

/* Re-evaluates whether the peer has an up channel; reports a change. */
void wv_tunnel__peer_update(wv_tunnels *t, struct tpeer *p) {
    bool up = false;
    for (struct chan *c = t->chans; c; c = c->next)
        if (c->peer == p && c->state == CH_UP)
            up = true;
    if (up != p->up) {
        p->up = up;
        if (!up) {
            p->unreach_since_ms = uv_now(t->loop); /* the relay fallback counts from here */
            wv_tunnel__tick_arm(t);
        }
        WV_INFO(t->log, SUB, "site %s is %s", p->name, up ? "reachable" : "unreachable");
        if (t->cbs.site_state && !t->closing)
            t->cbs.site_state(t, p->name, up, t->user);
    }
}

/* --- Channels ------------------------------------------------------------------- */

void wv_tunnel__chan_event(wv_tunnels *t, struct chan *c) {
    if (t->cbs.channel_event && !t->closing)
        t->cbs.channel_event(t, c->peer ? c->peer->name : "", c->id, state_names[c->state],
                             t->user);
}

static void chan_set_state(wv_tunnels *t, struct chan *c, enum chan_state s) {
    if (c->state == s)
        return;
    c->state = s;
    wv_tunnel__chan_event(t, c);
    if (c->peer)
        wv_tunnel__peer_update(t, c->peer);
}

static struct chan *chan_new(wv_tunnels *t, struct tep *ep, wv_quic_conn *conn, bool outbound) {
    struct chan *c = wv_calloc(1, sizeof(*c));
    c->t = t;
    c->id = ++t->next_chan_id;
    c->ep = ep;
    c->conn = conn;
    c->outbound = outbound;
    c->ctl_sid = -1;
    c->deadline = uv_now(t->loop) + WV_PROOF_TIMEOUT_MS + 10000; /* handshake + proof */
    c->next = t->chans;
    t->chans = c;
    t->stats.channels_total++;
    wv_quic_conn_set_user(conn, c);
    wv_tunnel__tick_arm(t);
    return c;
}

/* Closes a channel's connection; the record goes when QUIC reports it gone. */
void wv_tunnel__chan_close(wv_tunnels *t, struct chan *c, uint64_t app_error, const char *why) {
    if (c->state == CH_CLOSING)
        return;
    WV_INFO(t->log, SUB, "channel %llu (%s): closing: %s", (unsigned long long)c->id,
            c->peer ? c->peer->name : "unproven", why);
    chan_set_state(t, c, CH_CLOSING);
    wv_quic_conn_close(c->conn, app_error);
}

static void chan_fail_proof(wv_tunnels *t, struct chan *c, const char *why) {
    t->stats.proofs_failed++;
    WV_WARN(t->log, SUB, "channel %llu: membership proof failed: %s", (unsigned long long)c->id,
            why);
    wv_tunnel__chan_close(t, c, WV_APPERR_UNPROVEN, "not proven");
}

static int exporter(struct chan *c, uint8_t out[32]) {
    return wv_quic_conn_exporter(c->conn, WV_PROOF_LABEL, NULL, 0, out, 32);
}

static int send_ctl(struct chan *c, const uint8_t *buf, size_t len, bool fin) {
    long n = wv_quic_stream_write(c->conn, c->ctl_sid, buf, len, fin);
    return n == (long)len ? 0 : WV_ERR_IO;
}

static int send_proof(wv_tunnels *t, struct chan *c) {
    uint8_t exp[32], proof[WV_PROOF_MAX];
    if (exporter(c, exp) != 0)
        return WV_ERR_CRYPTO;
    int n = wv_proof_build(t->auth_key, exp, c->outbound ? WV_ROLE_CLIENT : WV_ROLE_SERVER, t->site,
                           proof);
    wv_memwipe(exp, sizeof(exp));
    if (n < 0)
        return n;
    return send_ctl(c, proof, (size_t)n, false);
}

static bool same_remote(struct chan *a, struct chan *b) {
    wv_quic_conn_stats sa, sb;
    wv_quic_conn_stats_get(a->conn, &sa);
    wv_quic_conn_stats_get(b->conn, &sb);
    size_t len =
        sa.remote.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    return sa.remote.ss_family == sb.remote.ss_family && memcmp(&sa.remote, &sb.remote, len) == 0;
}

/* A peer keeps one outbound channel per socket it dials: a new one from the
 * same peer socket to the same local socket means the old one is dead (the
 * peer restarted or gave up on it). Close it now rather than after the idle
 * timeout; a client's first connection ID carries no reset token, so no
 * stateless reset can do it for us. */
static void close_replaced(wv_tunnels *t, struct chan *c) {
    for (struct chan *o = t->chans; o; o = o->next) {
        if (o != c && !o->outbound && o->peer == c->peer && o->ep == c->ep &&
            o->state != CH_CLOSING && same_remote(o, c))
            wv_tunnel__chan_close(t, o, WV_APPERR_GONE,
                                  "replaced by a new connection from the peer");
    }
}

/* A live path answers at least every keep-alive interval (the PING's ACK);
 * a channel that has heard nothing for longer has most likely lost its path
 * and is only chosen when no other is left, long before its idle timeout
 * would remove it. Also refreshes the channel's receive tracking. */
bool wv_tunnel__chan_quiet(wv_tunnels *t, struct chan *c, const wv_quic_conn_stats *st) {
    uint64_t now = uv_now(t->loop);
    if (st->pkts_recv != c->rx_pkts) {
        c->rx_pkts = st->pkts_recv;
        c->rx_change_ms = now;
        return false;
    }
    uint64_t keepalive = c->ep && c->ep->keepalive_ms ? c->ep->keepalive_ms : t->quic.keepalive_ms;
    if (!keepalive)
        keepalive = t->quic.idle_timeout_ms / 2;
    uint64_t grace = keepalive + 500 + 2 * st->smoothed_rtt_ns / 1000000;
    return now - c->rx_change_ms > grace;
}

static bool same_ip_port(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    size_t len =
        a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    return a->ss_family == b->ss_family && memcmp(a, b, len) == 0;
}

/* How the channel was made. Outbound: what the dialed socket is. Inbound:
 * from one of the peer's host addresses it is direct; otherwise, on a
 * nat-traversal socket, it came in through a hole (or the router's port
 * mapping), since nothing else gets through the NAT. */
static enum wv_path chan_path(wv_tunnels *t, struct chan *c) {
    if (wv_tunnel__chan_relayed(c))
        return WV_PATH_RELAYED;
    if (c->dial)
        return c->dial->s.kind == WV_PEER_STUN     ? WV_PATH_PUNCHED
               : c->dial->s.kind == WV_PEER_MAPPED ? WV_PATH_MAPPED
                                                   : WV_PATH_DIRECT;
    if (c->outbound || !c->ep || !c->ep->nat)
        return WV_PATH_DIRECT;
    wv_quic_conn_stats st;
    wv_quic_conn_stats_get(c->conn, &st);
    for (size_t i = 0; c->peer && i < c->peer->nsocks; i++) {
        struct psock *s = c->peer->socks[i];
        if (s->s.kind == WV_PEER_HOST && s->resolved && same_ip_port(&s->addr, &st.remote))
            return WV_PATH_DIRECT;
    }
    return c->ep->mapped ? WV_PATH_MAPPED : WV_PATH_PUNCHED;
}

/* Candidates in the order a path through them is preferred (as ICE does):
 * a host address (no NAT on the way: same LAN, not a hairpin), the
 * router's port mapping, a punched hole. */
static int cand_rank(enum wv_peer_cand k) {
    return k == WV_PEER_HOST ? 3 : k == WV_PEER_MAPPED ? 2 : k == WV_PEER_STUN ? 1 : 0;
}

static bool rivals(const struct psock *a, const struct psock *b) {
    return a != b && a->s.kind != WV_PEER_PLAIN && b->s.kind != WV_PEER_PLAIN &&
           a->s.group == b->s.group && a->addr.ss_family == b->addr.ss_family && !a->vtep &&
           !b->vtep;
}

bool wv_tunnel__group_up(const struct psock *s) {
    if (s->s.kind == WV_PEER_PLAIN)
        return false;
    const struct tpeer *p = s->peer;
    for (size_t i = 0; i < p->nsocks; i++) {
        const struct psock *o = p->socks[i];
        if (rivals(o, s) && o->chan && o->chan->state == CH_UP &&
            cand_rank(o->s.kind) >= cand_rank(s->s.kind))
            return true;
    }
    return false;
}

/* The first candidate of a group to come up is the channel: the other
 * dials of that group stop (and wait while it lives) - except those of a
 * preferred kind, which go on and, when they come up, replace it. */
static bool close_group_rivals(wv_tunnels *t, struct chan *c) {
    struct psock *s = c->dial;
    if (!s || s->s.kind == WV_PEER_PLAIN)
        return true;
    for (size_t i = 0; i < s->peer->nsocks; i++) {
        struct psock *o = s->peer->socks[i];
        if (!rivals(o, s) || !o->chan || o->chan->state == CH_CLOSING)
            continue;
        if (cand_rank(o->s.kind) > cand_rank(s->s.kind)) {
            if (o->chan->state != CH_UP)
                continue; /* still dialing a preferred path: let it finish */
            wv_tunnel__chan_close(t, c, WV_APPERR_GONE, "a preferred candidate is up");
            return false;
        }
        struct chan *rival = o->chan;
        bool was_up = rival->state == CH_UP;
        o->chan = NULL;
        rival->dial = NULL;
        wv_tunnel__chan_close(t, rival, WV_APPERR_GONE,
                              was_up ? "replaced by a preferred candidate"
                                     : "another candidate of the group won");
    }
    return true;
}

static void chan_up(wv_tunnels *t, struct chan *c) {
    c->rx_change_ms = uv_now(t->loop);
    c->path = chan_path(t, c);
    if (c->dial) {
        c->dial->attempt = 0;
        c->dial->failures = 0;
        if (!close_group_rivals(t, c))
            return;
    }
    t->stats.chans_up_by_path[c->path]++;
    char ra[WV_ADDR_STRLEN] = "?";
    wv_quic_conn_stats st;
    wv_quic_conn_stats_get(c->conn, &st);
    wv_addr_format((const struct sockaddr *)&st.remote, ra);
    WV_INFO(t->log, SUB, "channel %llu to %s is up (%s, %s, %s)", (unsigned long long)c->id,
            c->peer->name, c->outbound ? "outbound" : "inbound", path_names[c->path], ra);
    if (!c->outbound)
        close_replaced(t, c);
    /* A proven wovenet peer: loss repair may flow (quic.h). */
    wv_quic_conn_fec_offer(c->conn);
    chan_set_state(t, c, CH_UP);
}

/* The server has verified the client: attach the channel to its peer.
 * WV_ERR_AGAIN: no certificate is pinned for that name yet (quarantine). */
static int server_accept_proof(wv_tunnels *t, struct chan *c, const char *site) {
    if (strcmp(site, t->site) == 0)
        return WV_ERR_AUTH; /* our own name: a reflected or confused peer */
    struct tpeer *p = wv_tunnel__peer_find(t, site);
    if (!p || !p->has_fp)
        return WV_ERR_AGAIN;
    const uint8_t *fp = wv_quic_conn_peer_fingerprint(c->conn);
    /* A peer we know must present the certificate it announces. */
    if (p->has_fp && (!fp || memcmp(fp, p->fp, WV_FINGERPRINT_LEN) != 0))
        return WV_ERR_CRYPTO;
    unsigned n = 0;
    for (struct chan *o = t->chans; o; o = o->next)
        n += o != c && !o->outbound && o->peer == p && o->state != CH_CLOSING;
    if (n >= t->max_channels_per_peer)
        return WV_ERR_LIMIT;
    c->peer = p;
    return 0;
}

/* Feeds control-stream bytes through the exchange. */
static void accept_verified(wv_tunnels *t, struct chan *c, const char *site);

static void ctl_input(wv_tunnels *t, struct chan *c) {
    if (!wv_quic_conn_handshake_done(c->conn))
        return; /* verified once the handshake completes */
    if (c->state == CH_CLOSING || c->quarantined)
        return; /* a closing channel may have lost its peer (c->peer NULL) */
    if (!c->peer_proven) {
        uint8_t exp[32];
        char site[256];
        if (exporter(c, exp) != 0) {
            chan_fail_proof(t, c, "no TLS exporter");
            return;
        }
        int r = wv_proof_verify(t->auth_key, exp, c->outbound ? WV_ROLE_SERVER : WV_ROLE_CLIENT,
                                c->rx, c->rxlen, site);
        wv_memwipe(exp, sizeof(exp));
        if (r == WV_ERR_AGAIN)
            return;
        if (r < 0) {
            chan_fail_proof(t, c,
                            r == WV_ERR_AUTH ? "wrong MAC (is the network key the same?)"
                                             : "malformed proof");
            return;
        }
        memmove(c->rx, c->rx + r, c->rxlen - (size_t)r);
        c->rxlen -= (size_t)r;
        if (c->outbound) {
            if (strcmp(site, c->peer->name) != 0) {
                chan_fail_proof(t, c, "proven name differs from the site dialed");
                return;
            }
            c->peer_proven = true;
            static const uint8_t ack = 0x01;
            if (send_ctl(c, &ack, 1, true) != 0) {
                chan_fail_proof(t, c, "cannot send acknowledgement");
                return;
            }
            chan_up(t, c);
            return;
        }
        accept_verified(t, c, site);
        return;
    }
    if (!c->outbound && c->state == CH_PROVING && c->rxlen >= 1) {
        if (c->rx[0] != 0x01) {
            chan_fail_proof(t, c, "bad acknowledgement");
            return;
        }
        c->rxlen = 0;
        chan_up(t, c);
    }
}

/* The client's proof is verified: attach, quarantine or refuse. */
static void accept_verified(wv_tunnels *t, struct chan *c, const char *site) {
    int a = server_accept_proof(t, c, site);
    if (a == WV_ERR_AGAIN) {
        if (!c->quarantined) {
            t->stats.quarantined++;
            WV_INFO(t->log, SUB, "channel %llu: quarantined: no verified announcement of %s yet",
                    (unsigned long long)c->id, site);
        }
        c->quarantined = true;
        snprintf(c->claimed, sizeof c->claimed, "%s", site);
        return;
    }
    c->quarantined = false;
    if (a == WV_ERR_LIMIT) {
        t->stats.refused_peer_limit++;
        WV_WARN(t->log, SUB, "channel %llu: refused: %s already has %u inbound channels",
                (unsigned long long)c->id, site, t->max_channels_per_peer);
        wv_tunnel__chan_close(t, c, WV_APPERR_LIMIT, "channel limit of the peer");
        return;
    }
    if (a != 0) {
        chan_fail_proof(t, c,
                        a == WV_ERR_CRYPTO ? "certificate differs from the announced one"
                                           : "peer claims our own name");
        return;
    }
    c->peer_proven = true;
    if (send_proof(t, c) != 0) {
        chan_fail_proof(t, c, "cannot send our proof");
        return;
    }
    wv_tunnel__chan_event(t, c);
    if (c->state == CH_PROVING && c->rxlen >= 1)
        ctl_input(t, c); /* the acknowledgement may already be here */
}

void wv_tunnel__release_quarantined(wv_tunnels *t, struct tpeer *p) {
    for (struct chan *c = t->chans, *next; c; c = next) {
        next = c->next;
        if (c->quarantined && c->state != CH_CLOSING && strcmp(c->claimed, p->name) == 0) {
            WV_INFO(t->log, SUB, "channel %llu: %s is announced now: checking its certificate",
                    (unsigned long long)c->id, p->name);
            accept_verified(t, c, p->name);
        }
    }
}

/* --- QUIC callbacks ------------------------------------------------------------------- */

static struct chan *chan_of(wv_quic_conn *conn) {
    return wv_quic_conn_get_user(conn);
}

static void on_accept(wv_quic_endpoint *qep, wv_quic_conn *conn, void *user) {
    struct tep *ep = user;
    wv_tunnels *t = ep->t;
    unsigned unproven = 0, from_source = 0;
    wv_quic_conn_stats me;
    wv_quic_conn_stats_get(conn, &me);
    for (struct chan *o = t->chans; o; o = o->next) {
        if (o->outbound || o->peer_proven || o->state == CH_CLOSING)
            continue;
        unproven++;
        wv_quic_conn_stats st;
        wv_quic_conn_stats_get(o->conn, &st);
        from_source += wv_addr_same_source((const struct sockaddr *)&st.remote,
                                           (const struct sockaddr *)&me.remote);
    }
    struct chan *c = chan_new(t, ep, conn, false);
    WV_DEBUG(t->log, SUB, "channel %llu: inbound connection on socket %s",
             (unsigned long long)c->id, ep->name ? ep->name : "(dial)");
    wv_tunnel__chan_event(t, c);
    if (from_source >= t->max_unproven_per_source) {
        /* One source (a host, a /64) cannot fill the unproven slots. */
        if (t->stats.refused_unproven_source++ % 100 == 0)
            WV_WARN(t->log, SUB,
                    "refusing inbound connections from one source: %u not yet "
                    "proven from it (%llu refused)",
                    t->max_unproven_per_source,
                    (unsigned long long)t->stats.refused_unproven_source);
        wv_tunnel__chan_close(t, c, WV_APPERR_LIMIT, "too many unproven channels from its source");
    } else if (unproven >= t->max_unproven) {
        /* A flood of handshakes: log the first refusal and then every 100th. */
        if (t->stats.refused_unproven++ % 100 == 0)
            WV_WARN(t->log, SUB, "refusing inbound connections: %u not yet proven (%llu refused)",
                    t->max_unproven, (unsigned long long)t->stats.refused_unproven);
        wv_tunnel__chan_close(t, c, WV_APPERR_LIMIT, "too many unproven channels");
    }
}

static void on_handshake_done(wv_quic_conn *conn, void *user) {
    struct chan *c = chan_of(conn);
    wv_tunnels *t = c->t;
    c->deadline = uv_now(t->loop) + WV_PROOF_TIMEOUT_MS;
    chan_set_state(t, c, CH_PROVING);
    if (c->outbound) {
        if (wv_quic_stream_open(conn, &c->ctl_sid) != 0 || send_proof(t, c) != 0) {
            chan_fail_proof(t, c, "cannot open the control stream");
            return;
        }
    }
    ctl_input(t, c); /* bytes that arrived before the handshake finished */
}

static void *handler_of(wv_quic_conn *conn, int64_t sid) {
    return wv_quic_stream_get_user(conn, sid);
}

static const struct wv_stream_ops *ops_of(void *h) {
    return h ? *(const struct wv_stream_ops *const *)h : NULL;
}

static void on_stream_open(wv_quic_conn *conn, int64_t sid, void *user) {
    struct chan *c = chan_of(conn);
    wv_tunnels *t = c->t;
    if (!c->outbound && c->ctl_sid < 0 && sid == 0) {
        c->ctl_sid = sid;
        return;
    }
    /* Until the peer has proven itself it may open nothing but the control
     * stream. */
    if (!c->peer_proven || c->state == CH_CLOSING || !t->cbs.app_stream) {
        t->stats.streams_refused++;
        wv_quic_stream_reset(conn, sid, WV_APPERR_UNPROVEN);
        return;
    }
    c->streams++;
    t->cbs.app_stream(t, c->peer->name, conn, sid, t->user);
    if (!handler_of(conn, sid))
        wv_quic_stream_reset(conn, sid, WV_APPERR_ABORTED);
}

void wv_tunnel_forward_data(wv_quic_conn *conn, int64_t sid, const uint8_t *data, size_t len,
                            bool fin, void *user) {
    void *h = handler_of(conn, sid);
    if (h)
        ops_of(h)->data(h, data, len, fin);
}

void wv_tunnel_forward_reset(wv_quic_conn *conn, int64_t sid, uint64_t app_error, void *user) {
    void *h = handler_of(conn, sid);
    if (h)
        ops_of(h)->reset(h, app_error);
}

void wv_tunnel_forward_close(wv_quic_conn *conn, int64_t sid, uint64_t app_error, void *user) {
    void *h = handler_of(conn, sid);
    if (h) {
        wv_quic_stream_set_user(conn, sid, NULL);
        ops_of(h)->close(h, app_error);
    }
}

void wv_tunnel_forward_writable(wv_quic_conn *conn, int64_t sid, void *user) {
    void *h = handler_of(conn, sid);
    if (h && ops_of(h)->writable)
        ops_of(h)->writable(h);
}

static void on_stream_data(wv_quic_conn *conn, int64_t sid, const uint8_t *data, size_t len,
                           bool fin, void *user) {
    struct chan *c = chan_of(conn);
    if (sid == c->ctl_sid) {
        wv_quic_stream_consumed(conn, sid, len);
        if (c->rxlen + len > sizeof(c->rx)) {
            chan_fail_proof(c->t, c, "oversize control message");
            return;
        }
        memcpy(c->rx + c->rxlen, data, len);
        c->rxlen += len;
        ctl_input(c->t, c);
        return;
    }
    wv_tunnel_forward_data(conn, sid, data, len, fin, user);
}

static void on_stream_reset(wv_quic_conn *conn, int64_t sid, uint64_t app_error, void *user) {
    struct chan *c = chan_of(conn);
    if (sid == c->ctl_sid) {
        if (c->state != CH_UP)
            chan_fail_proof(c->t, c, "control stream reset");
        return;
    }
    wv_tunnel_forward_reset(conn, sid, app_error, user);
}

static void on_stream_close(wv_quic_conn *conn, int64_t sid, uint64_t app_error, void *user) {
    struct chan *c = chan_of(conn);
    if (sid == c->ctl_sid)
        return;
    if (handler_of(conn, sid) && c->streams)
        c->streams--;
    wv_tunnel_forward_close(conn, sid, app_error, user);
}

static void on_conn_closed(wv_quic_conn *conn, const wv_quic_close_info *info, void *user) {
    struct chan *c = chan_of(conn);
    wv_tunnels *t = c->t;
    if (info->err == WV_ERR_CRYPTO && c->outbound)
        WV_WARN(t->log, SUB,
                "channel %llu to %s: TLS failed (%s): certificate does not match the "
                "announced fingerprint, or not a wovenet peer",
                (unsigned long long)c->id, c->peer ? c->peer->name : "?", info->what);
    else
        WV_INFO(t->log, SUB, "channel %llu (%s) closed: %s%s", (unsigned long long)c->id,
                c->peer ? c->peer->name : "unproven", info->what, info->remote ? " (by peer)" : "");
    for (struct chan **pp = &t->chans; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    bool was_up = c->state == CH_UP;
    c->state = CH_CLOSING;
    wv_tunnel__chan_event(t, c);
    if (c->dial) {
        struct psock *s = c->dial;
        s->chan = NULL;
        wv_tunnel__dial_failed(t, s, was_up);
        /* A group's channel died: its other candidates may work now. */
        for (size_t i = 0; was_up && s->s.kind != WV_PEER_PLAIN && i < s->peer->nsocks; i++) {
            struct psock *o = s->peer->socks[i];
            if (o != s && o->s.kind != WV_PEER_PLAIN && o->s.group == s->s.group && !o->chan) {
                o->attempt = 0;
                o->next_dial = uv_now(t->loop);
            }
        }
    }
    if (c->peer)
        wv_tunnel__peer_update(t, c->peer);
    free(c);
}

const wv_quic_callbacks wv_tunnel__quic_callbacks = {
    .on_accept = on_accept,
    .on_handshake_done = on_handshake_done,
    .on_stream_open = on_stream_open,
    .on_stream_data = on_stream_data,
    .on_stream_reset = on_stream_reset,
    .on_stream_close = on_stream_close,
    .on_stream_writable = wv_tunnel_forward_writable,
    .on_conn_closed = on_conn_closed,
    .on_datagram = wv_tunnel__on_datagram,
};

/* --- Dialing ------------------------------------------------------------------------- */

void wv_tunnel__dial(wv_tunnels *t, struct tpeer *p, struct psock *s) {
    if (t->closing || s->chan || !p->has_fp || wv_tunnel__group_up(s))
        return;
    /* Dials per second: a token bucket (burst twice the rate), so a table
     * of thousands of announced sockets is worked through, not all at once. */
    uint64_t now = uv_now(t->loop);
    double rate = t->dials_per_second, burst = 2 * rate;
    t->dial_tokens += (double)(now - t->dial_refill_ms) * rate / 1000.0;
    if (t->dial_tokens > burst)
        t->dial_tokens = burst;
    t->dial_refill_ms = now;
    if (t->dial_tokens < 1.0) {
        t->stats.dials_deferred++;
        s->next_dial =
            now + 1 + (uint64_t)((1.0 - t->dial_tokens) * 1000.0 / rate) + wv_tunnel__random() % 50;
        wv_tunnel__tick_arm(t);
        return;
    }
    t->dial_tokens -= 1.0;
    struct tep *ep = s->vtep ? s->vtep : wv_tunnel__endpoint_for(t, &s->addr);
    if (!ep) {
        s->next_dial = uv_now(t->loop) + wv_backoff_ms(s->attempt++, wv_tunnel__random());
        wv_tunnel__tick_arm(t);
        return;
    }
    wv_quic_conn *conn;
    t->stats.dials++;
    int r = wv_quic_dial(ep->qep, (const struct sockaddr *)&s->addr, p->fp, &conn);
    if (r != 0) {
        WV_WARN(t->log, SUB, "site %s: cannot dial %s port %u: %s", p->name, s->s.address,
                s->s.port, wv_strerror(r));
        wv_tunnel__dial_failed(t, s, false);
        return;
    }
    struct chan *c = chan_new(t, ep, conn, true);
    c->peer = p;
    c->dial = s;
    s->chan = c;
    c->path = chan_path(t, c); /* what it will be: the API shows it while it dials */
    /* Its NAT drops our packets until it has sent to us: ask it to. */
    if (s->s.kind == WV_PEER_STUN && t->cbs.need_punch &&
        (p->punch_asked_ms == 0 || now >= p->punch_asked_ms + 1000)) {
        p->punch_asked_ms = now;
        t->cbs.need_punch(t, p->name, t->user);
    }
    WV_DEBUG(t->log, SUB, "channel %llu: dialing %s at %s port %u", (unsigned long long)c->id,
             p->name, s->s.address, s->s.port);
    wv_tunnel__chan_event(t, c);
}

/* A dial failed or an established channel died: schedule the next try. */
void wv_tunnel__dial_failed(wv_tunnels *t, struct psock *s, bool was_up) {
    if (!s->present || t->closing)
        return;
    if (was_up)
        s->attempt = 0;
    else
        t->stats.dial_failures++;
    s->failures = was_up ? 0 : s->failures + 1;
    /* A STUN candidate keeps being tried every few seconds: a NAT that
     * changed, or a peer that came back, turns a relayed path into a
     * punched one without waiting out a minute of backoff. */
    if (s->s.kind == WV_PEER_STUN && s->attempt > 3)
        s->attempt = 3;
    s->next_dial = uv_now(t->loop) + wv_backoff_ms(s->attempt++, wv_tunnel__random());
    if (s->s.detected && s->failures == SOCKINFO_AFTER_FAILURES && t->cbs.need_sockinfo)
        t->cbs.need_sockinfo(t, s->peer->name, t->user);
    wv_tunnel__tick_arm(t);
}

/* --- Periodic work: proof deadlines, due dials, failed binds ---------------------------- */

static void on_tick(uv_timer_t *h) {
    wv_tunnels *t = WV_CONTAINER_OF(h, wv_tunnels, tick);
    uint64_t now = uv_now(t->loop);
    bool pending = false;
    for (struct chan *c = t->chans, *next; c; c = next) {
        next = c->next;
        if (c->state == CH_UP || c->state == CH_CLOSING)
            continue;
        if (now >= c->deadline && c->quarantined)
            wv_tunnel__chan_close(t, c, WV_APPERR_UNPROVEN,
                                  "quarantined: no verified announcement of that name in time");
        else if (now >= c->deadline)
            chan_fail_proof(t, c, "no valid proof in time");
        else
            pending = true;
    }
    for (struct tpeer *p = t->peers; p; p = p->next) {
        for (size_t i = 0; i < p->nsocks; i++) {
            struct psock *s = p->socks[i];
            if (s->chan || !s->present || !s->resolved || wv_tunnel__group_up(s))
                continue;
            if (now >= s->next_dial)
                wv_tunnel__dial(t, p, s);
            pending = true;
        }
    }
    if (wv_tunnel__endpoints_retry(t))
        pending = true;
    if (wv_tunnel__relay_tick(t, now))
        pending = true;
    if (!pending)
        uv_timer_stop(&t->tick);
}

void wv_tunnel__tick_arm(wv_tunnels *t) {
    if (!t->closing && !uv_is_active((uv_handle_t *)&t->tick))
        uv_timer_start(&t->tick, on_tick, TICK_MS, TICK_MS);
}

uint32_t wv_tunnel__random(void) {
    uint32_t r = 0;
    gnutls_rnd(GNUTLS_RND_NONCE, &r, sizeof(r));
    return r;
}
