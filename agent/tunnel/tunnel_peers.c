/* The tunnel manager's endpoints (served and dial-only sockets), the peer
 * table fed by discovery, and teardown. */
#include "tunnel_int.h"
#include "wv/base.h"
#include "wv/model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "tunnel"

/* --- Endpoints ------------------------------------------------------------------ */

/* Frees t once teardown has nothing left in flight. */
static void maybe_finish(wv_tunnels *t) {
    if (!t->closing || !t->tick_closed || t->inflight > 0)
        return;
    void (*cb)(void *) = t->close_cb;
    void *arg = t->close_arg;
    wv_memwipe(t->auth_key, sizeof(t->auth_key));
    wv_quic_budget_free(t->budget);
    free(t);
    if (cb)
        cb(arg);
}

static void tep_closed(void *arg) {
    struct tep *ep = arg;
    wv_tunnels *t = ep->t;
    free(ep->vpeers);
    free(ep->name);
    free(ep);
    t->inflight--;
    maybe_finish(t);
}

/* Creates and binds the QUIC endpoint of ep. On failure ep stays unbound
 * with the reason in ep->error, to be retried. */
static int tep_bind(wv_tunnels *t, struct tep *ep) {
    wv_quic_config cfg = t->quic;
    cfg.accept = ep->name != NULL;
    if (ep->max_udp_payload) {
        /* The socket's maxUdpPayload is exact: for every peer, local or not. */
        cfg.max_udp_payload = ep->max_udp_payload;
        cfg.local_udp_payload = 0;
    }
    if (ep->keepalive_ms) {
        /* The NAT's mapping must see a packet before its UDP timeout; the
         * idle timeout stays a few keep-alives (and PTOs) above that. */
        cfg.keepalive_ms = ep->keepalive_ms;
        if (cfg.idle_timeout_ms < 4 * ep->keepalive_ms)
            cfg.idle_timeout_ms = 4 * ep->keepalive_ms;
    }
    int r = wv_quic_endpoint_new(t->loop, &cfg, t->id, t->log, &wv_tunnel__quic_callbacks, ep,
                                 &ep->qep);
    errno = 0;
    if (r == 0)
        r = wv_quic_endpoint_bind(ep->qep, (const struct sockaddr *)&ep->addr);
    if (r != 0) {
        char addr[WV_ADDR_STRLEN];
        wv_addr_format((const struct sockaddr *)&ep->addr, addr);
        snprintf(ep->error, sizeof(ep->error), "cannot bind UDP %s: %s", addr,
                 r == WV_ERR_IO && errno ? strerror(errno) : wv_strerror(r));
        if (ep->qep)
            wv_quic_endpoint_close(ep->qep, NULL, NULL);
        ep->qep = NULL;
        ep->bound = false;
        wv_tunnel__tick_arm(t);
        return r;
    }
    ep->error[0] = '\0';
    ep->bound = true;
    return 0;
}

static struct tep *tep_new(wv_tunnels *t, const char *name, const struct sockaddr_storage *addr,
                           const struct wv_tunnel_socket *cfg) {
    struct tep *ep = wv_calloc(1, sizeof(*ep));
    ep->t = t;
    ep->name = name ? wv_strdup(name) : NULL;
    ep->addr = *addr;
    if (cfg) {
        ep->max_udp_payload = cfg->max_udp_payload;
        ep->nat = cfg->nat;
        ep->keepalive_ms = cfg->keepalive_ms;
    }
    ep->next = t->eps;
    t->eps = ep;
    return ep;
}

void wv_tunnel__tep_close(wv_tunnels *t, struct tep *ep) {
    for (struct tep **pp = &t->eps; *pp; pp = &(*pp)->next) {
        if (*pp == ep) {
            *pp = ep->next;
            break;
        }
    }
    for (struct chan *c = t->chans; c; c = c->next)
        if (c->ep == ep)
            wv_tunnel__chan_close(t, c, WV_APPERR_GONE, "local socket removed");
    t->inflight++;
    if (ep->qep)
        wv_quic_endpoint_close(ep->qep, tep_closed, ep);
    else
        tep_closed(ep);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family)
        return false;
    size_t len =
        a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    return memcmp(a, b, len) == 0;
}

static bool is_loopback(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static bool is_unspecified(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET)
        return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

struct tep *wv_tunnel__endpoint_for(wv_tunnels *t, const struct sockaddr_storage *addr) {
    bool lo = is_loopback(addr);
    struct tep *dial_only = NULL;
    /* Prefer a served socket of the family that can reach addr: it shares
     * the NAT binding peers already know. */
    for (struct tep *ep = t->eps; ep; ep = ep->next) {
        if (!ep->bound || ep->addr.ss_family != addr->ss_family || ep->relay[0])
            continue;
        if (!ep->name) {
            dial_only = ep;
            continue;
        }
        if (is_unspecified(&ep->addr) || is_loopback(&ep->addr) == lo)
            return ep;
    }
    if (dial_only)
        return dial_only;
    struct sockaddr_storage any = {.ss_family = addr->ss_family};
    struct tep *ep = tep_new(t, NULL, &any, NULL);
    if (tep_bind(t, ep) != 0) {
        WV_WARN(t->log, SUB, "cannot open a dial socket for %s: %s",
                addr->ss_family == AF_INET6 ? "IPv6" : "IPv4", ep->error);
        wv_tunnel__tep_close(t, ep);
        return NULL;
    }
    return ep;
}

bool wv_tunnel__endpoints_retry(wv_tunnels *t) {
    bool failing = false;
    for (struct tep *ep = t->eps; ep; ep = ep->next) {
        if (ep->bound || !ep->name)
            continue;
        char before[sizeof(ep->error)];
        snprintf(before, sizeof(before), "%s", ep->error);
        if (tep_bind(t, ep) == 0) {
            WV_INFO(t->log, SUB, "tunnel socket %s: listening (after retry)", ep->name);
        } else {
            failing = true;
            /* Once per change of state, not once per retry. */
            if (strcmp(before, ep->error) != 0)
                WV_WARN(t->log, SUB, "tunnel socket %s: %s", ep->name, ep->error);
        }
    }
    return failing;
}

void wv_tunnels_set_sockets(wv_tunnels *t, const struct wv_tunnel_socket *socks, size_t n,
                            char (*errs)[128]) {
    for (struct tep *ep = t->eps; ep; ep = ep->next)
        ep->present = ep->name == NULL; /* dial-only and relay endpoints stay */
    for (size_t i = 0; i < n; i++) {
        struct tep *ep = NULL;
        for (struct tep *e = t->eps; e; e = e->next)
            if (e->name && strcmp(e->name, socks[i].name) == 0)
                ep = e;
        if (ep && (!same_addr(&ep->addr, &socks[i].listen) ||
                   ep->max_udp_payload != socks[i].max_udp_payload || ep->nat != socks[i].nat ||
                   ep->keepalive_ms != socks[i].keepalive_ms)) {
            WV_INFO(t->log, SUB, "tunnel socket %s: changed, re-binding", ep->name);
            wv_tunnel__tep_close(t, ep);
            ep = NULL;
        }
        if (!ep) {
            ep = tep_new(t, socks[i].name, &socks[i].listen, &socks[i]);
            if (tep_bind(t, ep) == 0)
                WV_INFO(t->log, SUB, "tunnel socket %s: listening", ep->name);
            else
                WV_WARN(t->log, SUB, "tunnel socket %s: %s", ep->name, ep->error);
        }
        ep->present = true;
        if (errs)
            snprintf(errs[i], sizeof(errs[i]), "%s", ep->error);
    }
    for (struct tep *ep = t->eps, *next; ep; ep = next) {
        next = ep->next;
        if (!ep->present) {
            WV_INFO(t->log, SUB, "tunnel socket %s: removed", ep->name);
            wv_tunnel__tep_close(t, ep);
        }
    }
}

json_t *wv_tunnels_socket_status(wv_tunnels *t, const char *name) {
    for (struct tep *ep = t->eps; ep; ep = ep->next) {
        if (!ep->name || strcmp(ep->name, name) != 0)
            continue;
        if (!ep->bound)
            return json_pack("{s:s, s:s}", "state", "error", "error", ep->error);
        return json_pack("{s:s}", "state", "listening");
    }
    return json_object();
}

void wv_tunnels_set_mapped(wv_tunnels *t, const char *name, bool mapped) {
    for (struct tep *ep = t->eps; ep; ep = ep->next)
        if (ep->name && strcmp(ep->name, name) == 0)
            ep->mapped = mapped;
}

wv_quic_endpoint *wv_tunnels_socket_endpoint(wv_tunnels *t, const char *name) {
    for (struct tep *ep = t->eps; ep; ep = ep->next)
        if (ep->name && strcmp(ep->name, name) == 0)
            return ep->bound ? ep->qep : NULL;
    return NULL;
}

/* --- Peers --------------------------------------------------------------------- */

static void close_peer_chans(wv_tunnels *t, struct tpeer *p, const char *why) {
    for (struct chan *c = t->chans; c; c = c->next)
        if (c->peer == p)
            wv_tunnel__chan_close(t, c, WV_APPERR_GONE, why);
}

static void psock_free(wv_tunnels *t, struct psock *s) {
    if (s->chan) {
        wv_tunnel__chan_close(t, s->chan, WV_APPERR_GONE, "peer no longer announces the socket");
        s->chan->dial = NULL;
    }
    free(s);
}

struct tpeer *wv_tunnel__peer_get(wv_tunnels *t, const char *site) {
    struct tpeer *p = wv_tunnel__peer_find(t, site);
    if (!p) {
        p = wv_calloc(1, sizeof(*p));
        snprintf(p->name, sizeof(p->name), "%s", site);
        wv_tunnel__relay_id(site, p->rid);
        p->unreach_since_ms = uv_now(t->loop);
        p->next = t->peers;
        t->peers = p;
    }
    return p;
}

void wv_tunnels_set_peer(wv_tunnels *t, const char *site, const uint8_t fp[WV_FINGERPRINT_LEN],
                         const struct wv_peer_socket *socks, size_t n) {
    if (t->closing || strcmp(site, t->site) == 0)
        return;
    struct tpeer *p = wv_tunnel__peer_get(t, site);
    if (p->has_fp && memcmp(p->fp, fp, WV_FINGERPRINT_LEN) != 0) {
        WV_INFO(t->log, SUB, "site %s has a new certificate: re-dialing", site);
        close_peer_chans(t, p, "peer certificate changed");
    }
    bool first = !p->has_fp;
    memcpy(p->fp, fp, WV_FINGERPRINT_LEN);
    p->has_fp = true;
    if (first)
        wv_tunnel__release_quarantined(t, p);
    for (size_t i = 0; i < p->nsocks; i++)
        p->socks[i]->present = p->socks[i]->vtep != NULL; /* relay paths are ours */
    /* Dial fan-out: a member announcing 64 sockets, or thousands of sites,
     * gets a bounded number dialed. */
    size_t dialing = 0;
    for (struct tpeer *o = t->peers; o; o = o->next)
        dialing += o != p && o->nsocks > 0;
    size_t cap = t->max_dial_sockets_per_peer;
    if (p->nsocks == 0 && dialing >= t->max_dial_peers) {
        if (!p->warned_peers)
            WV_WARN(t->log, SUB,
                    "site %s not dialed: %zu peer sites are dialed already "
                    "(limits.dialPeers)",
                    site, dialing);
        p->warned_peers = true;
        cap = 0;
    }
    if (n > cap) {
        t->stats.dial_sockets_skipped += n - cap;
        if (cap && !p->warned_socks)
            WV_WARN(t->log, SUB,
                    "site %s announces %zu sockets: dialing the first %zu "
                    "(limits.dialSocketsPerPeer)",
                    site, n, cap);
        p->warned_socks = cap > 0;
        n = cap;
    }
    for (size_t i = 0; i < n; i++) {
        struct psock *s = NULL;
        for (size_t k = 0; k < p->nsocks; k++)
            if (!p->socks[k]->vtep && p->socks[k]->s.port == socks[i].port &&
                strcmp(p->socks[k]->s.address, socks[i].address) == 0)
                s = p->socks[k];
        if (!s) {
            s = wv_calloc(1, sizeof(*s));
            s->peer = p;
            s->s = socks[i];
            s->resolved = wv_parse_ip(socks[i].address, socks[i].port, &s->addr) == 0;
            if (!s->resolved)
                WV_WARN(t->log, SUB, "site %s announces %s, which is not an IP address: skipped",
                        site, socks[i].address);
            p->socks = wv_realloc(p->socks, (p->nsocks + 1) * sizeof(*p->socks));
            p->socks[p->nsocks++] = s;
        }
        s->s.detected = socks[i].detected;
        s->s.kind = socks[i].kind;
        s->s.group = socks[i].group;
        s->present = true;
    }
    size_t k = 0;
    for (size_t i = 0; i < p->nsocks; i++) {
        if (p->socks[i]->present)
            p->socks[k++] = p->socks[i];
        else
            psock_free(t, p->socks[i]);
    }
    p->nsocks = k;
    for (size_t i = 0; i < p->nsocks; i++) {
        struct psock *s = p->socks[i];
        /* A socket whose dial is waiting out a backoff keeps its schedule. */
        if (s->resolved && !s->chan && s->next_dial == 0)
            wv_tunnel__dial(t, p, s);
    }
    wv_tunnel__tick_arm(t);
}

void wv_tunnels_set_dial_limits(wv_tunnels *t, unsigned peers, unsigned sockets_per_peer,
                                unsigned per_second) {
    t->max_dial_peers = peers ? peers : WV_LIMIT_DIAL_PEERS;
    t->max_dial_sockets_per_peer =
        sockets_per_peer ? sockets_per_peer : WV_LIMIT_DIAL_SOCKETS_PER_PEER;
    t->dials_per_second = per_second ? per_second : WV_LIMIT_DIALS_PER_SECOND;
}

static void peer_free(wv_tunnels *t, struct tpeer *p) {
    close_peer_chans(t, p, "peer removed");
    for (struct chan *c = t->chans; c; c = c->next) {
        if (c->peer == p) {
            c->peer = NULL;
            c->dial = NULL;
        }
    }
    for (size_t i = 0; i < p->nsocks; i++) {
        p->socks[i]->chan = NULL; /* channels were detached above */
        psock_free(t, p->socks[i]);
    }
    free(p->socks);
    free(p);
}

void wv_tunnels_remove_peer(wv_tunnels *t, const char *site) {
    for (struct tpeer **pp = &t->peers; *pp; pp = &(*pp)->next) {
        struct tpeer *p = *pp;
        if (strcmp(p->name, site) != 0)
            continue;
        *pp = p->next;
        bool was_up = p->up;
        peer_free(t, p);
        wv_tunnel__relay_gone(t, site);
        if (was_up && t->cbs.site_state)
            t->cbs.site_state(t, site, false, t->user);
        return;
    }
}

/* --- Teardown ------------------------------------------------------------------ */

static void tick_closed(uv_handle_t *h) {
    wv_tunnels *t = h->data;
    t->tick_closed = true;
    maybe_finish(t);
}

void wv_tunnels_close(wv_tunnels *t, void (*cb)(void *arg), void *arg) {
    t->closing = true;
    t->close_cb = cb;
    t->close_arg = arg;
    for (struct chan *c = t->chans; c; c = c->next)
        if (c->state != CH_CLOSING) {
            c->state = CH_CLOSING;
            wv_quic_conn_close(c->conn, 0);
        }
    while (t->peers) {
        struct tpeer *p = t->peers;
        t->peers = p->next;
        peer_free(t, p);
    }
    while (t->eps)
        wv_tunnel__tep_close(t, t->eps);
    t->tick.data = t;
    uv_close((uv_handle_t *)&t->tick, tick_closed);
}
