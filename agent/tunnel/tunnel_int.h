#ifndef WV_TUNNEL_INT_H
#define WV_TUNNEL_INT_H
/* Internals shared by tunnel.c (channels, proofs, dialing) and
 * tunnel_peers.c (endpoints, peers, teardown). */
#include "wv/tunnel.h"

enum chan_state { CH_HANDSHAKING, CH_PROVING, CH_UP, CH_CLOSING };

struct tpeer;
struct chan;

/* One local endpoint: a served tunnel socket, or a dial-only ephemeral one. */
struct tep {
    struct tep *next;
    wv_tunnels *t;
    wv_quic_endpoint *qep;
    char *name;                   /* store name of the tunnel socket; NULL for dial-only */
    struct sockaddr_storage addr; /* as configured (port 0 for dial-only) */
    size_t max_udp_payload;
    bool nat;    /* a nat-traversal socket */
    bool mapped; /* ..whose port the router maps now (UPnP-IGD, NAT-PMP) */
    /* A virtual endpoint (relay.c): its connections' packets travel in
     * DATAGRAM frames of our channels to the relay site named here ("" for
     * a real socket). Peers reached through it have fake addresses,
     * [100::(index+2)]:443, index into vpeers. */
    char relay[256];
    char (*vpeers)[256];
    size_t nvpeers;
    uint32_t keepalive_ms; /* 0: the manager's */
    bool bound;
    char error[128];
    bool present; /* mark for set_sockets */
};

/* A socket a peer announces, and our dialing state for it. */
struct psock {
    struct tpeer *peer;
    struct wv_peer_socket s;
    struct sockaddr_storage addr;
    bool resolved;      /* addr holds an IP we can dial */
    bool present;       /* mark for set_peer */
    struct chan *chan;  /* our outbound channel to it, if any */
    unsigned attempt;   /* backoff step */
    unsigned failures;  /* consecutive failed dials */
    uint64_t next_dial; /* uv_now() ms */
    struct tep *vtep;   /* not announced: the peer through this relay endpoint */
};

/* A candidate whose group already has an up outbound channel waits. */
bool wv_tunnel__group_up(const struct psock *s);

struct tpeer {
    struct tpeer *next;
    char name[256];
    uint8_t fp[WV_FINGERPRINT_LEN];
    bool has_fp;
    struct psock **socks; /* pointers: channels point at their psock */
    size_t nsocks;
    bool up;
    bool warned_socks, warned_peers; /* logged once: sockets / peers beyond the dial limits */
    uint64_t punch_asked_ms;         /* uv_now() of our last need_punch for it */
    uint8_t rid[8];                  /* its id in relay datagrams (relay.c) */
    bool relay_offer;                /* it announces relay: true */
    uint64_t unreach_since_ms;       /* uv_now() since it has had no up channel */
    uint64_t relay_seen_ms;          /* we relayed for it (as a relay), uv_now() */
};

struct chan {
    struct chan *next;
    wv_tunnels *t;
    uint64_t id;
    struct tep *ep;
    wv_quic_conn *conn;
    struct tpeer *peer; /* inbound: NULL until its proof is verified */
    struct psock *dial; /* outbound: the peer socket dialed */
    bool outbound;
    enum wv_path path; /* decided when the channel comes up */
    enum chan_state state;
    bool peer_proven;
    /* Inbound, proof verified, but no verified announcement of that name
     * pins a certificate yet: held without our proof (so the peer opens
     * nothing) until wv_tunnels_set_peer says which certificate the name
     * has, or the deadline closes it. */
    bool quarantined;
    char claimed[256];
    int64_t ctl_sid;
    uint8_t rx[WV_PROOF_MAX + 8];
    size_t rxlen;
    uint64_t deadline; /* uv_now() ms by which the channel must be up */
    uint32_t streams;
    uint64_t reported_bytes; /* bytes sent+received at the last busy report */
    uint64_t rx_pkts;        /* packets received when last looked at */
    uint64_t rx_change_ms;   /* uv_now() when rx_pkts last moved */
};

struct wv_tunnels {
    uv_loop_t *loop;
    wv_log *log;
    char site[256];
    uint8_t auth_key[32];
    const wv_identity *id;
    wv_quic_config quic; /* quic.budget is budget */
    wv_quic_budget *budget;
    unsigned max_unproven, max_channels_per_peer, max_unproven_per_source;
    unsigned max_dial_peers, max_dial_sockets_per_peer, dials_per_second;
    double dial_tokens;      /* dial token bucket */
    uint64_t dial_refill_ms; /* uv_now() of its last refill */
    struct wv_tunnels_callbacks cbs;
    void *user;
    uv_timer_t tick;
    struct tep *eps;
    struct chan *chans;
    struct tpeer *peers;
    uint64_t next_chan_id;
    struct wv_tunnels_stats stats;
    /* Our relay service (relay.c). */
    bool relay_on;
    unsigned relay_max_peers;
    uint64_t relay_rate; /* bytes per second */
    double relay_tokens;
    uint64_t relay_refill_ms;
    bool closing;
    int inflight;     /* endpoint closes not yet finished */
    bool tick_closed; /* the tick timer's close finished (teardown only) */
    void (*close_cb)(void *);
    void *close_arg;
};

extern const wv_quic_callbacks wv_tunnel__quic_callbacks;

const char *wv_tunnel__state_name(enum chan_state s);
struct tpeer *wv_tunnel__peer_find(wv_tunnels *t, const char *site);
struct tpeer *wv_tunnel__peer_get(wv_tunnels *t, const char *site); /* find or add */
void wv_tunnel__peer_update(wv_tunnels *t, struct tpeer *p);
void wv_tunnel__chan_event(wv_tunnels *t, struct chan *c);
void wv_tunnel__chan_close(wv_tunnels *t, struct chan *c, uint64_t app_error, const char *why);
void wv_tunnel__dial(wv_tunnels *t, struct tpeer *p, struct psock *s);
void wv_tunnel__dial_failed(wv_tunnels *t, struct psock *s, bool was_up);
void wv_tunnel__tick_arm(wv_tunnels *t);
uint32_t wv_tunnel__random(void);
/* A quarantined channel's name now has a pinned certificate: attach it if
 * its certificate matches, else close it. */
void wv_tunnel__release_quarantined(wv_tunnels *t, struct tpeer *p);
/* The endpoint to dial addr from (created on demand); NULL if none. */
struct tep *wv_tunnel__endpoint_for(wv_tunnels *t, const struct sockaddr_storage *addr);
/* Retries binds that failed; true while some still fail. */
bool wv_tunnel__endpoints_retry(wv_tunnels *t);
/* Ends every channel on ep, then the endpoint (tunnel_peers.c). */
void wv_tunnel__tep_close(wv_tunnels *t, struct tep *ep);

/* relay.c */
void wv_tunnel__on_datagram(wv_quic_conn *conn, const uint8_t *data, size_t len, void *user);
/* Falls back to relays for peers punching cannot reach, and retires
 * relayed paths once a direct one is up. true while it has work pending. */
bool wv_tunnel__relay_tick(wv_tunnels *t, uint64_t now);
bool wv_tunnel__chan_relayed(const struct chan *c);
void wv_tunnel__relay_id(const char *site, uint8_t out[8]);
/* The peer's relayed channels are not used for new streams while it has
 * an up channel that is not relayed. */
bool wv_tunnel__has_direct(wv_tunnels *t, const struct tpeer *p);
/* The relay endpoints of relay site name close (it is gone). */
void wv_tunnel__relay_gone(wv_tunnels *t, const char *name);

/* A channel that has heard nothing for longer than a keep-alive (plus
 * slack): most likely its path is gone (tunnel.c). */
bool wv_tunnel__chan_quiet(wv_tunnels *t, struct chan *c, const wv_quic_conn_stats *st);

#endif
