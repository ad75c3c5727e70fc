#ifndef WV_QUIC_INT_H
#define WV_QUIC_INT_H
/* Internals shared by quic_*.c; not for other modules. */
#include "wv/quic.h"

#include "wv/base.h"

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#define WV_QUIC__SUB "quic"
/* Every SCID we issue has this length: short headers do not carry the DCID
 * length, so one socket serving both roles needs a single fixed length. */
#define WV_QUIC__CID_LEN 16
/* Packets written per connection per pass before yielding to the loop. */
#define WV_QUIC__BATCH 64
/* A GSO batch: at most this many bytes and segments (kernel limits). */
#define WV_QUIC__GSO_BYTES 65000
#define WV_QUIC__GSO_SEGS 64
/* Bytes queued in libuv (kernel said EAGAIN) before writers pause. */
#define WV_QUIC__SENDQ_MAX (4u << 20)
/* The PMTUD probe list of a connection: the configured sizes plus the
 * ceiling (see wv_quic__pmtud_probes). */
#define WV_QUIC__MAX_PROBES (WV_QUIC_PMTUD_MAX_PROBES + 1)

/* Intrusive circular doubly-linked list; a node points to itself when
 * unlinked, so wv_quic__linked() works on any initialised node. */
typedef struct wv_quic__link {
    struct wv_quic__link *prev, *next;
} wv_quic__link;
static inline void wv_quic__link_init(wv_quic__link *n) {
    n->prev = n->next = n;
}
static inline bool wv_quic__linked(const wv_quic__link *n) {
    return n->next != n;
}
static inline void wv_quic__link_push(wv_quic__link *head, wv_quic__link *n) {
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}
static inline void wv_quic__link_del(wv_quic__link *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    wv_quic__link_init(n);
}
/* Moves every node of from (left empty) to the empty list to. */
static inline void wv_quic__link_take(wv_quic__link *to, wv_quic__link *from) {
    wv_quic__link_init(to);
    if (!wv_quic__linked(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    wv_quic__link_init(from);
}

/* Hash map from a short byte key (CID or stream ID) to a pointer. Seeded,
 * so peers cannot aim for collisions with chosen DCIDs. */
typedef struct wv_quic__map_ent wv_quic__map_ent;
typedef struct wv_quic__map {
    wv_quic__map_ent **b;
    size_t nb, n;
    uint64_t seed;
} wv_quic__map;
void wv_quic__map_init(wv_quic__map *m);
void wv_quic__map_dispose(wv_quic__map *m);
void wv_quic__map_put(wv_quic__map *m, const uint8_t *key, size_t klen, void *val);
void *wv_quic__map_get(const wv_quic__map *m, const uint8_t *key, size_t klen);
/* Removes the key if it maps to val (or any value when val is NULL). */
void wv_quic__map_del(wv_quic__map *m, const uint8_t *key, size_t klen, const void *val);

/* Send data of one stream: chunks in offset order, freed once acked. */
typedef struct wv_quic__chunk {
    struct wv_quic__chunk *next;
    uint64_t off;
    size_t len;
    uint8_t data[];
} wv_quic__chunk;

/* A receive window under auto-tuning (wv_quic_config): its size and the
 * epoch in which the app's consumption is measured. */
typedef struct wv_quic__rxwin {
    uint64_t window;   /* credit outstanding beyond the consumed bytes */
    uint64_t epoch_at; /* consumed-byte count when the epoch began */
    uint64_t epoch_ts; /* wv_quic__now() when it began */
    uint64_t rate_at;  /* consumed-byte count when the rate interval began */
    uint64_t rate_ts;  /* and when (0: not yet) */
} wv_quic__rxwin;

/* quic_budget.c: the auto-tuning rule, without I/O. A whole window was
 * consumed `elapsed` ns after its epoch began: the window's next size,
 * doubled if that took less than 4 x srtt + 1 ms, at most cap (and never
 * less than window). */
uint64_t wv_quic__window_next(uint64_t window, uint64_t cap, uint64_t elapsed, uint64_t srtt);
/* The other rule: the app consumed `bytes` in the `elapsed` ns (at least
 * one srtt) since the last such interval: the window's next size, at
 * least 4 times what that is per srtt (never less than window, at most
 * cap). */
uint64_t wv_quic__window_rate(uint64_t window, uint64_t cap, uint64_t bytes, uint64_t elapsed,
                              uint64_t srtt);
/* Takes up to want bytes of growth from b (NULL: all of it); returns what
 * it granted (counted as used; a shortfall is counted as refused). */
uint64_t wv_quic__budget_take(wv_quic_budget *b, uint64_t want);
/* Counts a new connection's initial window / releases a connection's
 * whole window when it ends. NULL b: nothing. */
void wv_quic__budget_add(wv_quic_budget *b, uint64_t window);
void wv_quic__budget_release(wv_quic_budget *b, uint64_t window);

typedef struct wv_quic__stream {
    int64_t id;
    void *user;
    wv_quic__chunk *head, *tail;
    wv_quic__chunk *cur;          /* the chunk holding byte `sent`, NULL when all is sent */
    uint64_t acked;               /* every byte below is acknowledged and freed */
    uint64_t sent;                /* bytes handed to ngtcp2 */
    uint64_t end;                 /* bytes queued by the app */
    uint64_t delivered, consumed; /* received bytes given to / released by the app */
    wv_quic__rxwin rx;            /* receive window (auto-tuning) */
    uint64_t reset_code;
    bool fin_wanted, fin_sent;
    bool blocked;       /* ngtcp2 said STREAM_DATA_BLOCKED */
    bool want_writable; /* a short write happened; tell the app when credit opens */
    bool reset_pending; /* app asked for a reset; done in the next pass */
    bool app_reset;     /* app reset it: drop incoming data */
    bool remote;        /* opened by the peer */
    bool peer_aborted;  /* on_stream_reset fired */
    wv_quic__link all, sendq, wantq;
} wv_quic__stream;

enum wv_quic__state {
    WV_QUIC__HANDSHAKE,
    WV_QUIC__OPEN,
    WV_QUIC__CLOSING,
    WV_QUIC__DRAINING,
    WV_QUIC__DEAD
};

struct wv_quic_conn {
    wv_quic_endpoint *ep;
    ngtcp2_conn *nc;
    ngtcp2_crypto_conn_ref conn_ref;
    gnutls_session_t tls;
    uv_timer_t timer;
    void *user;
    enum wv_quic__state state;
    bool server;
    bool hs_done;         /* ngtcp2 reported handshake completion */
    bool hs_notified;     /* on_handshake_done fired */
    bool closed_notified; /* on_conn_closed fired */
    bool close_requested; /* wv_quic_conn_close() called */
    bool streams_wanted;  /* stream_open said AGAIN */
    bool streams_avail;   /* ...and the peer has since raised the limit */
    bool resets_pending;  /* some stream has reset_pending set */
    /* Client: packets went out since the handshake completed (so did our
     * Finished). Resets wait for it; see wv_quic__stream_do_pending. */
    bool hs_flushed;
    bool has_pin, has_peer_fp;
    uint64_t close_code;
    uint8_t pin[WV_FINGERPRINT_LEN], peer_fp[WV_FINGERPRINT_LEN];
    struct sockaddr_storage remote;
    ngtcp2_cid odcid;     /* server: the client's first DCID, also routed */
    wv_quic__map streams; /* stream ID -> wv_quic__stream */
    wv_quic__link all_streams, sendq, wantq;
    uint64_t unsent; /* queued but not yet handed to ngtcp2, all streams */
    /* Connection receive window (auto-tuning): rx.window is also this
     * connection's share of the budget. rx_consumed counts the stream bytes
     * the app consumed, plus those credited back for it (closed streams,
     * reset ones). */
    wv_quic__rxwin rx;
    uint64_t rx_consumed;
    uint8_t *close_pkt;
    size_t close_pktlen;
    uint64_t closing_rx;
    wv_quic_close_info info;
    uint64_t bytes_sent, bytes_recv, pkts_sent, pkts_recv, nstreams;
    /* The largest datagram we let ngtcp2 write: the endpoint's ceiling,
     * lowered when the kernel refuses a datagram as too large. Below it,
     * ngtcp2's PMTUD decides (wv_quic__conn_payload). */
    size_t cap;
    /* Stateless-reset tokens the peer gave us, registered in ep->tokens
     * so a reset (which carries no CID of ours) finds its connection. */
    uint8_t tokens[8][NGTCP2_STATELESS_RESET_TOKENLEN];
    size_t ntokens;
    wv_quic__link ep_link, dirty_link;
    /* DATAGRAM frames waiting for the write loop (quic_dgram.c). */
    struct wv_quic__dgram *dg_head, *dg_tail;
    size_t dg_n;
    uint64_t dgrams_sent, dgrams_recv, dgrams_dropped;
    /* Loss repair (quic_fec.c); NULL until offered or asked for. */
    struct wv_quic__fec *fec;
};

/* quic_fec.c: repairs of lost packets between two wovenet agents. The
 * largest packet a group covers; a path with larger ones is not repaired. */
#define WV_QUIC__FEC_MAXPKT 1500
typedef struct wv_quic__fec wv_quic__fec;
/* A packet of ours went out (the bytes as sent): true when it closed a
 * group, whose repairs wv_quic__fec_flush sends once the group is out. */
bool wv_quic__fec_sent(wv_quic_conn *c, const uint8_t *pkt, size_t n);
void wv_quic__fec_flush(wv_quic_conn *c, const struct sockaddr *to);
/* A packet of the peer's came (before ngtcp2 reads it). */
void wv_quic__fec_received(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt,
                           size_t n);
/* A datagram for c that is not QUIC (fixed bit clear): a repair or a
 * report, handled; false when it is QUIC after all. */
bool wv_quic__fec_input(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt, size_t n);
void wv_quic__fec_free(wv_quic_conn *c);
void wv_quic__fec_stats(const wv_quic_conn *c, struct wv_quic_fec_stats *out);

/* quic_dgram.c: DATAGRAM frames, and the input queue of virtual endpoints. */
typedef struct wv_quic__dgram {
    struct wv_quic__dgram *next;
    size_t len;
    struct sockaddr_storage from; /* virtual input only */
    uint8_t data[];
} wv_quic__dgram;
#define WV_QUIC__DGRAM_QUEUE 256
#define WV_QUIC__VIRT_QUEUE 1024
/* Bytes a DATAGRAM frame costs in a short-header packet besides its data:
 * first byte, our 16-byte CID, a 4-byte packet number, the frame's type
 * and length, the AEAD tag; and a margin for ACK frames sharing it. */
#define WV_QUIC__DGRAM_OVERHEAD (1 + WV_QUIC__CID_LEN + 4 + 1 + 4 + 16 + 8)
void wv_quic__dgram_set_callbacks(ngtcp2_callbacks *cb);
/* Writes queued DATAGRAM frames into the packet at dest (room bytes) as
 * writev_stream would: returns its result (> 0 a packet, 0 nothing, < 0 an
 * error; NGTCP2_ERR_WRITE_MORE: room left for more frames in the packet). */
ngtcp2_ssize wv_quic__dgram_write(wv_quic_conn *c, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                  uint8_t *dest, size_t room, ngtcp2_tstamp ts);
void wv_quic__dgram_free_all(wv_quic_conn *c);
/* Virtual endpoints: the queued input, processed in the idle pass. */
void wv_quic__virt_drain(wv_quic_endpoint *ep);
void wv_quic__virt_dispose(wv_quic_endpoint *ep);

struct wv_quic_endpoint {
    uv_loop_t *loop;
    wv_log *log;
    wv_quic_config cfg;
    wv_quic_callbacks cbs;
    void *user;
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    uv_udp_t udp;
    uv_idle_t idle;
    bool bound, closing, idle_on;
    int handles;            /* open uv handles (udp, idle, GRO poll, conn timers) */
    struct wv_quic__rx *rx; /* GRO receive path (quic_rx.c), NULL: libuv's recv */
    void (*close_cb)(void *arg);
    void *close_arg;
    struct sockaddr_storage local;
    wv_quic__map cids;   /* every live SCID (and servers' original DCIDs) -> conn */
    wv_quic__map tokens; /* peers' stateless-reset tokens -> conn */
    wv_quic__link conns, dirty;
    uint8_t reset_secret[32];
    uint8_t *rxbuf, *txbuf;
    size_t rxbuflen, txbuflen;
    size_t sendq_bytes;
    uint64_t nqueued; /* packets that met EAGAIN and went through libuv's queue */
    uint32_t ninbound;
    bool gso;    /* UDP_SEGMENT works on this socket */
    int gso_cur; /* the socket's current segment size, 0 = off */
    uint64_t reset_window_ms;
    unsigned resets_in_window;
    wv_quic_raw_cb raw_cb; /* non-QUIC datagrams (STUN); see quic.h */
    void *raw_user;
    /* Datagram sizes (see wv_quic__pmtud_probes): the largest any
     * connection sends, and the probe list every connection's PMTUD walks
     * (npmtud 0: PMTUD off, the ceiling is used from the start). */
    size_t ceiling;
    uint16_t pmtud[WV_QUIC__MAX_PROBES];
    size_t npmtud;
    /* ALPN and unidirectional streams: "wovenet/1" and 0, except for the
     * interop tests (wv_quic__endpoint_set_interop). */
    char alpn[32];
    uint64_t max_streams_uni;
    uint8_t retry_secret[32]; /* Retry tokens (quic_guard.c); random per endpoint */
    wv_quic_guard_stats guard;
    /* A virtual endpoint (wv_quic_endpoint_bind_virtual): no socket. */
    bool virt;
    wv_quic_virt_send_cb virt_send;
    void *virt_user;
    struct wv_quic__dgram *vin_head, *vin_tail;
    size_t vin_n;
};

/* quic_guard.c: Retry tokens and per-source bounds on inbound handshakes. */
enum wv_quic__admit { WV_QUIC__DROP, WV_QUIC__ADMIT, WV_QUIC__ADMIT_VALIDATED };
int wv_quic__guard_init(wv_quic_endpoint *ep);
/* For an Initial that would create a connection: DROP (a Retry may have
 * been sent), ADMIT, or ADMIT_VALIDATED with *odcid the original DCID the
 * token carried (set it as original_dcid, and hd->dcid as retry_scid). */
enum wv_quic__admit wv_quic__guard_admit(wv_quic_endpoint *ep, const ngtcp2_pkt_hd *hd,
                                         const struct sockaddr *from, ngtcp2_cid *odcid);

/* quic_tls.c */
int wv_quic__tls_endpoint_init(wv_quic_endpoint *ep, const wv_identity *id);
void wv_quic__tls_endpoint_dispose(wv_quic_endpoint *ep);
int wv_quic__tls_session_new(wv_quic_conn *c);
/* Whether the handshake settled on the endpoint's ALPN. */
bool wv_quic__tls_alpn_ok(const wv_quic_conn *c);

/* The peer's address as text for logs, "ip:port" / "[ip6]:port"
 * (wv_addr_format). */
void wv_quic__addr_str(const wv_quic_conn *c, char out[WV_ADDR_STRLEN]);

/* quic_endpoint.c */
/* Both return 0, or UV_EMSGSIZE when the kernel refused a datagram as
 * larger than the path takes (the packets are lost; QUIC resends them).
 * Other failures are logged and treated as loss. */
int wv_quic__ep_send(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *pkt,
                     size_t len);
/* Sends len bytes holding packets of seglen bytes each (the last may be
 * shorter) in one GSO send when possible, else one by one. */
int wv_quic__ep_send_batch(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *buf,
                           size_t len, size_t seglen);
bool wv_quic__ep_send_paused(const wv_quic_endpoint *ep);
void wv_quic__ep_mark_dirty(wv_quic_conn *c);
/* Runs the idle pass soon (deferred work is waiting). */
void wv_quic__ep_wake(wv_quic_endpoint *ep);
void wv_quic__ep_handle_closed(wv_quic_endpoint *ep);
void wv_quic__ep_datagram(wv_quic_endpoint *ep, const uint8_t *pkt, size_t len,
                          const struct sockaddr *from);
socklen_t wv_quic__addr_len(const struct sockaddr *sa);
/* The datagram sizes of cfg: returns the ceiling (the largest datagram a
 * connection may send) and fills probes (WV_QUIC__MAX_PROBES room) with
 * the sizes PMTUD tries, in order, *nprobes of them; 0 probes means the
 * ceiling is exact and used from the first packet (no PMTUD). */
size_t wv_quic__pmtud_probes(const wv_quic_config *cfg, uint16_t *probes, size_t *nprobes);
/* Tests only (tests/system/tools/quic_interop.c): speak another ALPN and
 * let the peer open max_streams_uni unidirectional streams (whose data is
 * dropped), as an HTTP/3 peer needs for its control streams. Before the
 * first connection. */
void wv_quic__endpoint_set_interop(wv_quic_endpoint *ep, const char *alpn,
                                   uint64_t max_streams_uni);

/* quic_rx.c: GRO receive through a dup of the socket; false = not available */
#define WV_QUIC__RX_SLOTS 16
bool wv_quic__rx_start(wv_quic_endpoint *ep, int fd);
void wv_quic__rx_stop(wv_quic_endpoint *ep);
void wv_quic__rx_close(wv_quic_endpoint *ep, uv_close_cb cb);
void wv_quic__rx_dispose(wv_quic_endpoint *ep);

/* quic_conn.c */
uint64_t wv_quic__now(void);
/* retry_odcid: server only, after a validated Retry token (else NULL). */
int wv_quic__conn_new(wv_quic_endpoint *ep, bool server, const struct sockaddr *remote,
                      const ngtcp2_pkt_hd *hd, const ngtcp2_cid *retry_odcid, wv_quic_conn **out);
void wv_quic__conn_read(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt,
                        size_t len);
void wv_quic__conn_process(wv_quic_conn *c);

/* quic_close.c */
/* Ends at once, telling the peer nothing (unless a close the app asked
 * for has not gone out yet). */
void wv_quic__conn_abort(wv_quic_conn *c, const char *what);
/* The library failed the connection: CONNECTION_CLOSE or silence, as
 * ngtcp2_ccerr says for liberr. */
void wv_quic__conn_fail(wv_quic_conn *c, int liberr);
/* wv_quic_conn_close(): the app's CONNECTION_CLOSE, then the closing
 * period. */
void wv_quic__conn_close_local(wv_quic_conn *c);
/* read_pkt said DRAINING: the peer closed. */
void wv_quic__conn_drain(wv_quic_conn *c);
/* The largest datagram the connection sends now: what PMTUD has
 * confirmed, capped by c->cap. */
size_t wv_quic__conn_payload(const wv_quic_conn *c);

/* quic_stream.c */
wv_quic__stream *wv_quic__stream_new(wv_quic_conn *c, int64_t id, bool remote);
void wv_quic__stream_free(wv_quic_conn *c, wv_quic__stream *s);
void wv_quic__stream_fire_writable(wv_quic_conn *c);
void wv_quic__stream_do_pending(wv_quic_conn *c);
/* The peer aborted s (RESET_STREAM, or its STOP_SENDING noticed while
 * writing): on_stream_reset, at most once per stream. */
void wv_quic__stream_peer_aborted(wv_quic_conn *c, wv_quic__stream *s, uint64_t code);
/* The ngtcp2 callbacks about streams. */
void wv_quic__stream_set_callbacks(ngtcp2_callbacks *cb);
/* The write loop's view of the send queue (quic_conn.c writes packets). */
bool wv_quic__stream_has_pending(const wv_quic__stream *s);
void wv_quic__stream_advance(wv_quic_conn *c, wv_quic__stream *s, ngtcp2_ssize ndata, bool fin);

#endif
