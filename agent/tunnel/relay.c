/* Relays (docs/NAT.md): a site with relay on forwards other sites'
 * end-to-end QUIC packets between its channels to them, as DATAGRAM
 * frames, without terminating them; a site whose peer cannot be reached
 * directly dials it through a relay from a virtual endpoint whose packets
 * travel in those frames. The handshake, the pin and the membership proof
 * stay end to end: the relay sees only sealed QUIC packets.
 *
 * Relay datagrams on a channel between a site and its relay:
 *   0x01 | id(dst) (8) | packet    site -> relay: "to dst"
 *   0x02 | id(src) (8) | packet    relay -> site: "from src"
 * id(site) = the first 8 bytes of SHA-256("wovenet/1 relay id" | site). The
 * relay takes the source from the (proven) channel a packet came on, never
 * from the packet. */
#include "tunnel_int.h"
#include "wv/base.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "relay"
#define RELAY_TO 0x01
#define RELAY_FROM 0x02
#define HDR 9
/* A peer with candidates (or we, behind a NAT) that has no up channel this
 * long after it was announced or lost its last one is dialed through a
 * relay; punching goes on meanwhile. */
#define RELAY_AFTER_MS 2000
/* A relay counts a site as one of its relayPeers for this long after it
 * last relayed a packet of it. */
#define PEER_WINDOW_MS 30000
/* Peers reached through one relay endpoint. */
#define MAX_VPEERS 256
/* The relayed connection's datagrams: QUIC's minimum, so that they fit a
 * DATAGRAM frame of any path whose MTU takes 1280 + overhead. */
#define INNER_PAYLOAD 1200

void wv_tunnel__relay_id(const char *site, uint8_t out[8]) {
    uint8_t h[32];
    gnutls_hash_hd_t d;
    gnutls_hash_init(&d, GNUTLS_DIG_SHA256);
    gnutls_hash(d, "wovenet/1 relay id", 18);
    gnutls_hash(d, site, strlen(site));
    gnutls_hash_deinit(d, h);
    memcpy(out, h, 8);
}

bool wv_tunnel__chan_relayed(const struct chan *c) {
    return c->ep && c->ep->relay[0];
}

static struct tpeer *peer_by_id(wv_tunnels *t, const uint8_t id[8]) {
    for (struct tpeer *p = t->peers; p; p = p->next)
        if (memcmp(p->rid, id, 8) == 0)
            return p;
    return NULL;
}

/* An up channel to p that is not itself relayed and takes a frame of len
 * bytes; the one with the most room in its congestion window. */
static struct chan *carrier(wv_tunnels *t, const struct tpeer *p, size_t len) {
    struct chan *best = NULL;
    uint64_t best_room = 0;
    for (struct chan *c = t->chans; c; c = c->next) {
        if (c->peer != p || c->state != CH_UP || wv_tunnel__chan_relayed(c) ||
            wv_quic_conn_datagram_max(c->conn) < len)
            continue;
        wv_quic_conn_stats st;
        wv_quic_conn_stats_get(c->conn, &st);
        uint64_t room = st.cwnd > st.bytes_in_flight ? st.cwnd - st.bytes_in_flight : 0;
        if (!best || room > best_room) {
            best = c;
            best_room = room;
        }
    }
    return best;
}

bool wv_tunnel__has_direct(wv_tunnels *t, const struct tpeer *p) {
    for (struct chan *c = t->chans; c; c = c->next)
        if (c->peer == p && c->state == CH_UP && !wv_tunnel__chan_relayed(c))
            return true;
    return false;
}

/* --- The relay service -------------------------------------------------------- */

static bool admit_peer(wv_tunnels *t, struct tpeer *p, uint64_t now) {
    if (p->relay_seen_ms && now - p->relay_seen_ms < PEER_WINDOW_MS)
        return true;
    unsigned n = 0;
    for (struct tpeer *o = t->peers; o; o = o->next)
        n += o->relay_seen_ms && now - o->relay_seen_ms < PEER_WINDOW_MS;
    return n < t->relay_max_peers;
}

static bool take_tokens(wv_tunnels *t, size_t len, uint64_t now) {
    double rate = (double)t->relay_rate;
    t->relay_tokens += (double)(now - t->relay_refill_ms) * rate / 1000.0;
    t->relay_refill_ms = now;
    /* A burst of 100 ms at the rate, at least a few packets. */
    double burst = WV_MAX(rate / 10.0, 16.0 * 1500.0);
    if (t->relay_tokens > burst)
        t->relay_tokens = burst;
    if (t->relay_tokens < (double)len)
        return false;
    t->relay_tokens -= (double)len;
    return true;
}

static void forward(wv_tunnels *t, struct chan *from, const uint8_t *d, size_t len) {
    uint64_t now = uv_now(t->loop);
    struct tpeer *src = from->peer, *dst = peer_by_id(t, d + 1);
    if (!t->relay_on) {
        t->stats.relay_dropped_off++;
        return;
    }
    if (!dst || dst == src || !dst->has_fp) {
        t->stats.relay_dropped_noroute++;
        return;
    }
    if (!admit_peer(t, src, now) || !admit_peer(t, dst, now)) {
        if (t->stats.relay_dropped_peers++ % 1000 == 0)
            WV_WARN(t->log, SUB,
                    "not relaying between %s and %s: relaying for %u sites already "
                    "(limits.relayPeers)",
                    src->name, dst->name, t->relay_max_peers);
        return;
    }
    if (!take_tokens(t, len - HDR, now)) {
        t->stats.relay_dropped_rate++;
        return;
    }
    struct chan *out = carrier(t, dst, len);
    if (!out) {
        t->stats.relay_dropped_noroute++;
        return;
    }
    uint8_t hdr[HDR];
    hdr[0] = RELAY_FROM;
    memcpy(hdr + 1, src->rid, 8);
    if (wv_quic_conn_send_datagram(out->conn, hdr, HDR, d + HDR, len - HDR) != 0) {
        t->stats.relay_dropped_queue++;
        return;
    }
    if (!src->relay_seen_ms || now - src->relay_seen_ms >= PEER_WINDOW_MS)
        WV_INFO(t->log, SUB, "relaying between %s and %s", src->name, dst->name);
    src->relay_seen_ms = dst->relay_seen_ms = now;
    t->stats.relay_packets++;
    t->stats.relay_bytes += len - HDR;
}

/* --- Relay endpoints: our side of relayed channels ------------------------------ */

static void fake_addr(size_t index, struct sockaddr_storage *out) {
    memset(out, 0, sizeof(*out));
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(443);
    a->sin6_addr.s6_addr[0] = 0x01; /* 100::/64, the discard prefix (RFC 6666) */
    wv_put32(a->sin6_addr.s6_addr + 12, (uint32_t)index + 2);
}

/* The index of site among ep's peers (added when new); -1 when full. */
static long vpeer(struct tep *ep, const char *site) {
    for (size_t i = 0; i < ep->nvpeers; i++)
        if (strcmp(ep->vpeers[i], site) == 0)
            return (long)i;
    if (ep->nvpeers >= MAX_VPEERS)
        return -1;
    ep->vpeers = wv_realloc(ep->vpeers, (ep->nvpeers + 1) * sizeof(*ep->vpeers));
    snprintf(ep->vpeers[ep->nvpeers], sizeof(*ep->vpeers), "%s", site);
    return (long)ep->nvpeers++;
}

static const char *vpeer_of(const struct tep *ep, const struct sockaddr *sa) {
    if (sa->sa_family != AF_INET6)
        return NULL;
    uint32_t v = wv_get32(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr + 12);
    return v >= 2 && v - 2 < ep->nvpeers ? ep->vpeers[v - 2] : NULL;
}

/* A packet of a relayed connection leaves: to the relay, in a frame. */
static void vsend(wv_quic_endpoint *qep, const struct sockaddr *to, const uint8_t *data, size_t len,
                  void *user) {
    struct tep *ep = user;
    wv_tunnels *t = ep->t;
    const char *site = vpeer_of(ep, to);
    struct tpeer *dst = site ? wv_tunnel__peer_find(t, site) : NULL;
    struct tpeer *relay = wv_tunnel__peer_find(t, ep->relay);
    struct chan *c = dst && relay ? carrier(t, relay, len + HDR) : NULL;
    if (!c) {
        t->stats.relayed_dropped++;
        return;
    }
    uint8_t hdr[HDR];
    hdr[0] = RELAY_TO;
    memcpy(hdr + 1, dst->rid, 8);
    if (wv_quic_conn_send_datagram(c->conn, hdr, HDR, data, len) != 0)
        t->stats.relayed_dropped++;
}

static struct tep *vtep_find(wv_tunnels *t, const char *relay) {
    for (struct tep *ep = t->eps; ep; ep = ep->next)
        if (strcmp(ep->relay, relay) == 0)
            return ep;
    return NULL;
}

static struct tep *vtep_get(wv_tunnels *t, const char *relay) {
    struct tep *ep = vtep_find(t, relay);
    if (ep || t->closing)
        return ep;
    ep = wv_calloc(1, sizeof(*ep));
    ep->t = t;
    snprintf(ep->relay, sizeof(ep->relay), "%s", relay);
    struct sockaddr_storage local;
    fake_addr((size_t)-1, &local); /* 100::1 */
    ep->addr = local;
    wv_quic_config cfg = t->quic;
    cfg.accept = true;
    cfg.datagrams = false; /* no relay inside a relay */
    cfg.max_udp_payload = INNER_PAYLOAD;
    cfg.local_udp_payload = 0;
    cfg.sock_buf = 0;
    if (wv_quic_endpoint_new(t->loop, &cfg, t->id, t->log, &wv_tunnel__quic_callbacks, ep,
                             &ep->qep) != 0 ||
        wv_quic_endpoint_bind_virtual(ep->qep, (const struct sockaddr *)&local, vsend, ep) != 0) {
        WV_WARN(t->log, SUB, "cannot open a relay endpoint for %s", relay);
        if (ep->qep)
            wv_quic_endpoint_close(ep->qep, NULL, NULL);
        free(ep);
        return NULL;
    }
    ep->bound = true;
    ep->present = true;
    ep->next = t->eps;
    t->eps = ep;
    return ep;
}

void wv_tunnel__relay_gone(wv_tunnels *t, const char *name) {
    struct tep *ep = vtep_find(t, name);
    if (ep)
        wv_tunnel__tep_close(t, ep);
}

/* A relay hands us a packet of a relayed connection. */
static void deliver(wv_tunnels *t, struct chan *from, const uint8_t *d, size_t len) {
    struct tpeer *src = peer_by_id(t, d + 1);
    if (!from->peer->relay_offer || !src || !src->has_fp || src == from->peer) {
        t->stats.relayed_dropped++;
        return;
    }
    struct tep *ep = vtep_get(t, from->peer->name);
    long i = ep ? vpeer(ep, src->name) : -1;
    if (i < 0) {
        t->stats.relayed_dropped++;
        return;
    }
    struct sockaddr_storage fa;
    fake_addr((size_t)i, &fa);
    if (wv_quic_endpoint_input(ep->qep, (const struct sockaddr *)&fa, d + HDR, len - HDR) != 0)
        t->stats.relayed_dropped++;
}

void wv_tunnel__on_datagram(wv_quic_conn *conn, const uint8_t *d, size_t len, void *user) {
    struct chan *c = wv_quic_conn_get_user(conn);
    wv_tunnels *t = c ? c->t : NULL;
    /* Only proven peers' channels, never a relayed one. */
    if (!t || !c->peer || c->state != CH_UP || wv_tunnel__chan_relayed(c) || len <= HDR)
        return;
    if (d[0] == RELAY_TO)
        forward(t, c, d, len);
    else if (d[0] == RELAY_FROM)
        deliver(t, c, d, len);
}

/* --- Falling back, and back again ----------------------------------------------- */

static bool behind_nat(wv_tunnels *t) {
    for (struct tep *ep = t->eps; ep; ep = ep->next)
        if (ep->nat)
            return true;
    return false;
}

static bool has_candidates(const struct tpeer *p) {
    for (size_t i = 0; i < p->nsocks; i++)
        if (p->socks[i]->s.kind != WV_PEER_PLAIN)
            return true;
    return false;
}

/* A relay that can carry frames now. */
static struct tpeer *pick_relay(wv_tunnels *t, const struct tpeer *p) {
    for (struct tpeer *r = t->peers; r; r = r->next)
        if (r != p && r->relay_offer && r->up && carrier(t, r, INNER_PAYLOAD + HDR))
            return r;
    return NULL;
}

static void psock_drop(struct tpeer *p, size_t i) {
    struct psock *s = p->socks[i];
    if (s->chan) {
        s->chan->dial = NULL;
        s->chan = NULL;
    }
    free(s);
    memmove(&p->socks[i], &p->socks[i + 1], (p->nsocks - i - 1) * sizeof(*p->socks));
    p->nsocks--;
}

static void add_relay_path(wv_tunnels *t, struct tpeer *p, struct tpeer *r) {
    struct tep *ep = vtep_get(t, r->name);
    long i = ep ? vpeer(ep, p->name) : -1;
    if (i < 0)
        return;
    struct psock *s = wv_calloc(1, sizeof(*s));
    s->peer = p;
    s->vtep = ep;
    s->present = s->resolved = true;
    snprintf(s->s.address, sizeof(s->s.address), "relay %.240s", r->name);
    s->s.port = 443;
    fake_addr((size_t)i, &s->addr);
    p->socks = wv_realloc(p->socks, (p->nsocks + 1) * sizeof(*p->socks));
    p->socks[p->nsocks++] = s;
    WV_INFO(t->log, SUB, "site %s: no direct path after %u ms, dialing it through relay %s",
            p->name, RELAY_AFTER_MS, r->name);
    wv_tunnel__dial(t, p, s);
}

bool wv_tunnel__relay_tick(wv_tunnels *t, uint64_t now) {
    bool pending = false, nat = behind_nat(t);
    for (struct tpeer *p = t->peers; p; p = p->next) {
        bool direct = wv_tunnel__has_direct(t, p);
        size_t relayed = 0;
        for (size_t i = 0; i < p->nsocks;) {
            struct psock *s = p->socks[i];
            if (!s->vtep) {
                i++;
                continue;
            }
            /* A direct path is up: the relayed one goes once its streams
             * have ended (new ones take the direct path). */
            if (direct && (!s->chan || s->chan->streams == 0)) {
                if (s->chan)
                    wv_tunnel__chan_close(t, s->chan, WV_APPERR_GONE, "replaced by a direct path");
                psock_drop(p, i);
                continue;
            }
            relayed++;
            pending |= direct;
            i++;
        }
        /* Inbound relayed channels likewise. */
        for (struct chan *c = t->chans; direct && c; c = c->next)
            if (c->peer == p && !c->outbound && wv_tunnel__chan_relayed(c) && c->state == CH_UP) {
                if (c->streams == 0)
                    wv_tunnel__chan_close(t, c, WV_APPERR_GONE, "replaced by a direct path");
                else
                    pending = true;
            }
        if (p->up || relayed || !p->has_fp || p->relay_offer || !(nat || has_candidates(p)))
            continue;
        pending = true;
        if (now < p->unreach_since_ms + RELAY_AFTER_MS)
            continue;
        struct tpeer *r = pick_relay(t, p);
        if (r)
            add_relay_path(t, p, r);
    }
    return pending;
}

/* --- Settings ------------------------------------------------------------------------ */

void wv_tunnels_set_relay(wv_tunnels *t, bool on, unsigned max_peers, uint64_t bytes_per_s) {
    if (on != t->relay_on)
        WV_INFO(t->log, SUB, "relay for other sites: %s", on ? "on" : "off");
    t->relay_on = on;
    t->relay_max_peers = max_peers ? max_peers : 32;
    t->relay_rate = bytes_per_s ? bytes_per_s : 12500000;
    t->relay_refill_ms = uv_now(t->loop);
}

void wv_tunnels_set_relay_offer(wv_tunnels *t, const char *site, bool offers) {
    struct tpeer *p = wv_tunnel__peer_find(t, site);
    if (p)
        p->relay_offer = offers;
    wv_tunnel__tick_arm(t);
}
