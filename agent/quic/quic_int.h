#ifndef WV_QUIC_INT_H
#define WV_QUIC_INT_H
/* Internals shared by quic_*.c; not for other modules. */
#include "wv/quic.h"

#include "wv/base.h"

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#define QSUB "quic"
/* Every SCID we issue has this length: short headers do not carry the DCID
 * length, so one socket serving both roles needs a single fixed length. */
#define QCID_LEN 16
/* Packets written per connection per pass before yielding to the loop. */
#define QBATCH 64
/* A GSO batch: at most this many bytes and segments (kernel limits). */
#define QGSO_BYTES 65000
#define QGSO_SEGS 64
/* Bytes queued in libuv (kernel said EAGAIN) before writers pause. */
#define QSENDQ_MAX (4u << 20)

/* Intrusive circular doubly-linked list; a node points to itself when
 * unlinked, so ql_linked() works on any initialised node. */
typedef struct qlink {
    struct qlink *prev, *next;
} qlink;
static inline void ql_init(qlink *n) {
    n->prev = n->next = n;
}
static inline bool ql_linked(const qlink *n) {
    return n->next != n;
}
static inline void ql_push(qlink *head, qlink *n) {
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}
static inline void ql_del(qlink *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    ql_init(n);
}

/* Hash map from a short byte key (CID or stream ID) to a pointer. Seeded,
 * so peers cannot aim for collisions with chosen DCIDs. */
typedef struct qmap_ent qmap_ent;
typedef struct qmap {
    qmap_ent **b;
    size_t nb, n;
    uint64_t seed;
} qmap;
void qmap_init(qmap *m);
void qmap_dispose(qmap *m);
void qmap_put(qmap *m, const uint8_t *key, size_t klen, void *val);
void *qmap_get(const qmap *m, const uint8_t *key, size_t klen);
/* Removes the key if it maps to val (or any value when val is NULL). */
void qmap_del(qmap *m, const uint8_t *key, size_t klen, const void *val);

/* Send data of one stream: chunks in offset order, freed once acked. */
typedef struct qchunk {
    struct qchunk *next;
    uint64_t off;
    size_t len;
    uint8_t data[];
} qchunk;

typedef struct qstream {
    int64_t id;
    void *user;
    qchunk *head, *tail;
    qchunk *cur;                  /* the chunk holding byte `sent`, NULL when all is sent */
    uint64_t acked;               /* every byte below is acknowledged and freed */
    uint64_t sent;                /* bytes handed to ngtcp2 */
    uint64_t end;                 /* bytes queued by the app */
    uint64_t delivered, consumed; /* received bytes given to / released by the app */
    uint64_t reset_code;
    bool fin_wanted, fin_sent;
    bool blocked;       /* ngtcp2 said STREAM_DATA_BLOCKED */
    bool want_writable; /* a short write happened; tell the app when credit opens */
    bool reset_pending; /* app asked for a reset; done in the next pass */
    bool app_reset;     /* app reset it: drop incoming data */
    bool remote;        /* opened by the peer */
    bool peer_aborted;  /* on_stream_reset fired */
    qlink all, sendq, wantq;
} qstream;

enum qstate { QS_HANDSHAKE, QS_OPEN, QS_CLOSING, QS_DRAINING, QS_DEAD };

struct wv_quic_conn {
    wv_quic_endpoint *ep;
    ngtcp2_conn *nc;
    ngtcp2_crypto_conn_ref conn_ref;
    gnutls_session_t tls;
    uv_timer_t timer;
    void *user;
    enum qstate state;
    bool server;
    bool hs_done;         /* ngtcp2 reported handshake completion */
    bool hs_notified;     /* on_handshake_done fired */
    bool closed_notified; /* on_conn_closed fired */
    bool close_requested; /* wv_quic_conn_close() called */
    bool streams_wanted;  /* stream_open said AGAIN */
    bool streams_avail;   /* ...and the peer has since raised the limit */
    bool resets_pending;  /* some stream has reset_pending set */
    bool has_pin, has_peer_fp;
    uint64_t close_code;
    uint8_t pin[WV_FINGERPRINT_LEN], peer_fp[WV_FINGERPRINT_LEN];
    struct sockaddr_storage remote;
    ngtcp2_cid odcid; /* server: the client's first DCID, also routed */
    qmap streams;     /* stream ID -> qstream */
    qlink all_streams, sendq, wantq;
    uint64_t unsent; /* queued but not yet handed to ngtcp2, all streams */
    uint8_t *close_pkt;
    size_t close_pktlen;
    uint64_t closing_rx;
    wv_quic_close_info info;
    uint64_t bytes_sent, bytes_recv, pkts_sent, pkts_recv, nstreams;
    size_t max_payload; /* largest datagram we send (qpath_payload) */
    /* Stateless-reset tokens the peer gave us, registered in ep->tokens
     * so a reset (which carries no CID of ours) finds its connection. */
    uint8_t tokens[8][NGTCP2_STATELESS_RESET_TOKENLEN];
    size_t ntokens;
    qlink ep_link, dirty_link;
};

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
    int handles;    /* open uv handles (udp, idle, GRO poll, conn timers) */
    struct qrx *rx; /* GRO receive path (quic_rx.c), NULL: libuv's recv */
    void (*close_cb)(void *arg);
    void *close_arg;
    struct sockaddr_storage local;
    qmap cids;   /* every live SCID (and servers' original DCIDs) -> conn */
    qmap tokens; /* peers' stateless-reset tokens -> conn */
    qlink conns, dirty;
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
    uint8_t retry_secret[32]; /* Retry tokens (quic_guard.c); random per endpoint */
    wv_quic_guard_stats guard;
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
int qtls_endpoint_init(wv_quic_endpoint *ep, const wv_identity *id);
void qtls_endpoint_dispose(wv_quic_endpoint *ep);
int qtls_session_new(wv_quic_conn *c);

/* "ip:port" / "[ip6]:port" of the peer, for logs. */
void qconn_addr_str(const wv_quic_conn *c, char out[64]);

/* quic_endpoint.c */
/* Both return 0, or UV_EMSGSIZE when the kernel refused a datagram as
 * larger than the path takes (the packets are lost; QUIC resends them).
 * Other failures are logged and treated as loss. */
int qep_send(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *pkt, size_t len);
/* Sends len bytes holding packets of seglen bytes each (the last may be
 * shorter) in one GSO send when possible, else one by one. */
int qep_send_batch(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *buf, size_t len,
                   size_t seglen);
bool qep_send_paused(const wv_quic_endpoint *ep);
void qep_mark_dirty(wv_quic_conn *c);
void qep_handle_closed(wv_quic_endpoint *ep);
socklen_t qaddr_len(const struct sockaddr *sa);
/* The largest datagram to send to remote: cfg->local_udp_payload when
 * remote is one of this host's addresses (capped by the loopback route's
 * MTU), else cfg->max_udp_payload. One route lookup, no packet sent. */
size_t qpath_payload(const wv_quic_config *cfg, const struct sockaddr *remote, wv_log *log);

/* quic_rx.c: GRO receive through a dup of the socket; false = not available */
#define QRX_SLOTS 16
bool qrx_start(wv_quic_endpoint *ep, int fd);
void qrx_stop(wv_quic_endpoint *ep);
void qrx_close(wv_quic_endpoint *ep, uv_close_cb cb);
void qrx_dispose(wv_quic_endpoint *ep);
void qep_handle_datagram(wv_quic_endpoint *ep, const uint8_t *pkt, size_t len,
                         const struct sockaddr *from);

/* quic_conn.c */
/* retry_odcid: server only, after a validated Retry token (else NULL). */
int qconn_new(wv_quic_endpoint *ep, bool server, const struct sockaddr *remote,
              const ngtcp2_pkt_hd *hd, const ngtcp2_cid *retry_odcid, wv_quic_conn **out);
void qconn_read(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt, size_t len);
void qconn_process(wv_quic_conn *c);
void qconn_abort(wv_quic_conn *c, const char *what);
void qconn_fail(wv_quic_conn *c, int liberr);
uint64_t qnow(void);
void qconn_set_callbacks(ngtcp2_callbacks *cb);

/* quic_stream.c */
qstream *qstream_new(wv_quic_conn *c, int64_t id, bool remote);
void qstream_free(wv_quic_conn *c, qstream *s);
void qstream_acked(wv_quic_conn *c, qstream *s, uint64_t off, uint64_t len);
void qstream_fire_writable(wv_quic_conn *c);
void qstream_do_pending(wv_quic_conn *c);
/* Writes packets; returns false when the connection hit a fatal error. */
bool qconn_write(wv_quic_conn *c);

#endif
