#ifndef WV_QUIC_H
#define WV_QUIC_H
/* The QUIC transport: endpoints, connections and bidirectional streams over
 * ngtcp2 1.x + GnuTLS, driven by a libuv loop.
 *
 * An endpoint is one UDP socket. It serves inbound connections (when
 * cfg.accept is set) and dials outbound ones from the same socket, routing
 * datagrams by destination connection ID. TLS 1.3 only, ALPN "wovenet/1",
 * no resumption, certificates both ways: the dialer pins the server's
 * certificate fingerprint; the server accepts any client certificate and
 * exposes its fingerprint, leaving membership to the layer above (an HMAC
 * over wv_quic_conn_exporter()).
 *
 * Threads: everything here runs on the loop thread, and every callback
 * fires on it.
 *
 * Re-entrancy: any verb may be called from inside any callback. Verbs never
 * free objects or invoke callbacks synchronously; I/O and teardown they
 * cause happen later in the same loop iteration or the next one.
 *
 * Lifetimes: a connection handle is valid from wv_quic_dial() returning 0 or
 * from on_accept() until on_conn_closed() returns; on_conn_closed() fires
 * exactly once for each such connection (also when the endpoint closes). A
 * stream ID is the app's from stream_open()/on_stream_open() until
 * on_stream_close(), which fires exactly once for each such stream, also
 * for streams still open when the connection ends (before on_conn_closed). */
#include "wv/base.h"
#include "wv/crypto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define WV_QUIC_ALPN "wovenet/1"
/* app_error passed to on_stream_close for streams cut by the connection's
 * end rather than by a RESET_STREAM or a clean close. */
#define WV_QUIC_STREAM_CONN_GONE UINT64_MAX

typedef struct wv_quic_endpoint wv_quic_endpoint;
typedef struct wv_quic_conn wv_quic_conn;

/* ngtcp2's congestion controllers. Its BBR is BBR v2, so BBR and BBR2
 * name the same one (BBR2 is kept for configurations that name it). */
enum wv_quic_cc { WV_QUIC_CC_CUBIC = 0, WV_QUIC_CC_RENO, WV_QUIC_CC_BBR, WV_QUIC_CC_BBR2 };

/* Room for PMTUD probe sizes in wv_quic_config.pmtud_probes. */
#define WV_QUIC_PMTUD_MAX_PROBES 12

/* An agent-wide bound on what peers may make us hold (wv_quic_budget_new). */
typedef struct wv_quic_budget wv_quic_budget;

typedef struct wv_quic_config {
    /* Receive windows we grant, in bytes: what the peer may send on one
     * stream (stream_window), and on all streams of a connection together
     * (conn_window), beyond what the app has given back with
     * wv_quic_stream_consumed(). Each window starts at these values.
     *
     * Auto-tuning: when *_max is above the initial value, a window doubles
     * (up to *_max) each time the app has consumed a whole window within
     * four round trips (4 x smoothed RTT + 1 ms, as quic-go; loss recovery
     * delays in-order delivery by a round trip or more): the local side
     * keeps up and the window, not the reader, limits the rate. And once
     * per round trip it is raised to 4 times what the app consumed in the
     * last one (behind a sender in slow start the doubling alone lagged by
     * a second on a 200 ms path). The growth is granted together with
     * the credit of consumed bytes, so a stream whose app stops consuming
     * never grows and never has more than its current window outstanding.
     * Windows never shrink while the stream or connection lives. A stream
     * that grows also raises its connection's window to 1.5 times its own
     * (up to conn_window_max). ngtcp2's own auto-tuning is off (it could
     * not ask the budget). Default 16 MiB and 24 MiB (~1 Gbit/s x 100 ms),
     * max 0: fixed windows. */
    uint64_t stream_window, stream_window_max;
    uint64_t conn_window, conn_window_max;
    /* Shared by the endpoints of one agent; connection windows grow only
     * while it allows (see wv_quic_budget_new). NULL: no agent-wide bound.
     * Not owned; must outlive every endpoint configured with it. */
    wv_quic_budget *budget;
    uint64_t max_streams_bidi;     /* concurrent streams the peer may open; default 1024 */
    uint32_t idle_timeout_ms;      /* default 10000 */
    uint32_t keepalive_ms;         /* PING after this much quiet; default 2500, 0 = off */
    uint32_t handshake_timeout_ms; /* default 10000 */
    enum wv_quic_cc cc;            /* default CUBIC */
    /* Loss repair between two wovenet agents on paths of datagrams up to
     * 1500 bytes (docs/QUIC.md): offered with wv_quic_conn_fec_offer, used
     * once the peer offers too. Default true. */
    bool fec;
    /* Datagram sizes. ngtcp2 starts every connection at 1200 bytes and
     * its Path MTU Discovery probes the sizes of pmtud_probes (those up
     * to the ceiling, plus the ceiling itself): a probe the path carries
     * raises the connection's datagrams to its size, one it loses three
     * times ends the search above it. The ceiling is the larger of
     * max_udp_payload and local_udp_payload.
     *
     * max_udp_payload: default 1452 (the 1500-byte MTU of most paths).
     * Above 1452 it is exact for every peer: sent from the start, no
     * probing (a known path: loopback, jumbo frames). Max 65527. */
    size_t max_udp_payload;
    /* How far PMTUD may go above max_udp_payload, on paths that take it:
     * the loopback device towards a peer at one of this host's own
     * addresses (MTU 64 KiB: TCP uses 64 KiB segments there too), jumbo
     * frames (9000). The path decides, by probing, per connection.
     * 0 (default): max_udp_payload is the ceiling. 1200..65527. */
    size_t local_udp_payload;
    /* PMTUD probe sizes in UDP payload bytes, tried in this order; the
     * list ends at the first 0. Sizes above the ceiling are skipped and the
     * ceiling is always tried last. All 0 (default): 1452, 1444, 1406,
     * 1342, 1232 (the first that fits, for paths below 1500), then 8952
     * (jumbo frames), 32000, 65488 and 65507 (loopback). Each 1201..65527. */
    uint16_t pmtud_probes[WV_QUIC_PMTUD_MAX_PROBES];
    size_t sock_buf; /* SO_RCVBUF/SO_SNDBUF wish; default 8 MiB */
    /* Secret for stateless-reset tokens. Give a stable one (e.g. derived
     * from the site key) so that after a restart peers holding old
     * connections learn at once that they are gone, instead of after
     * their idle timeout. When has_reset_secret is false a random one is
     * used. Never logged. */
    bool has_reset_secret;
    uint8_t reset_secret[32];
    bool accept; /* serve inbound connections (else dial only) */
    /* Inbound connections (handshaking or not) beyond this are ignored:
     * Initials are cheap to send and each one costs a TLS handshake.
     * Default 256. */
    uint32_t max_inbound;
    /* Handshake floods (quic_guard.c). Once this many inbound handshakes
     * are unfinished, an Initial without a valid Retry token gets a
     * stateless Retry and creates nothing (address validation: spoofed
     * sources never come back). Default 8; 0: always require a token. */
    uint32_t retry_threshold;
    /* Unfinished inbound handshakes from one source (IPv4 address, IPv6
     * /64) at once; more Initials from it are dropped. Default 4; 0 = no
     * bound. */
    uint32_t max_handshakes_per_source;
    /* QUIC DATAGRAM frames (RFC 9221): offer to receive them (our
     * max_datagram_frame_size is 65535) and let wv_quic_conn_send_datagram
     * send them where the peer offers the same. Default false. */
    bool datagrams;
} wv_quic_config;

/* What the handshake guard did on an accepting endpoint (for /metrics). */
typedef struct wv_quic_guard_stats {
    uint64_t retries_sent;   /* Retry packets sent (address validation asked) */
    uint64_t bad_tokens;     /* Initials with a forged, stale or misplaced token */
    uint64_t source_refused; /* Initials over the per-source bound */
} wv_quic_guard_stats;

void wv_quic_config_default(wv_quic_config *cfg);

/* The budget: the sum, over every connection of the endpoints that share
 * it, of the connection's receive window - the most its streams can hold
 * received but not yet consumed, i.e. what peers can make the app buffer.
 * A connection's initial window (conn_window) is always granted and
 * counted; a window grows only while the sum stays within the limit, and a
 * connection's share is released when it ends. Loop thread only.
 * limit 0: none (still counted). */
typedef struct wv_quic_budget_stats {
    uint64_t limit;   /* bytes, 0 = none */
    uint64_t used;    /* the sum of the connections' receive windows now */
    uint64_t peak;    /* high-water mark of used */
    uint64_t refused; /* window growths the limit refused or cut short */
    uint64_t conns;   /* connections counted now */
} wv_quic_budget_stats;
wv_quic_budget *wv_quic_budget_new(uint64_t limit);
/* A new limit applies to later growths (windows already granted stay). */
void wv_quic_budget_set_limit(wv_quic_budget *b, uint64_t limit);
void wv_quic_budget_get_stats(const wv_quic_budget *b, wv_quic_budget_stats *out);
/* Frees b (NULL is ignored); the endpoints using it must be closed. */
void wv_quic_budget_free(wv_quic_budget *b);
/* Changes the auto-tuning caps (wv_quic_config.*_window_max, 0 = no
 * growth) of ep's connections, also those already open: later growths
 * stop at the new caps; nothing shrinks. */
void wv_quic_endpoint_set_window_max(wv_quic_endpoint *ep, uint64_t stream_window_max,
                                     uint64_t conn_window_max);
/* The guard's counters of one endpoint. */
void wv_quic_endpoint_guard_stats(wv_quic_endpoint *ep, wv_quic_guard_stats *out);

/* Why a connection ended. err summarises for the app: 0 = clean close (by
 * either side with application code 0), WV_ERR_CRYPTO = TLS failure (wrong
 * pin, bad certificate, ALPN mismatch; either side's view), WV_ERR_PROTO =
 * peer violated QUIC, WV_ERR_CLOSED = anything else (idle timeout, stateless
 * reset, handshake timeout, endpoint closed, non-zero application code). */
typedef struct wv_quic_close_info {
    int err;
    bool remote;   /* the peer ended it (CONNECTION_CLOSE or stateless reset) */
    bool app_code; /* code is an application error code, else a QUIC one */
    uint64_t code;
    const char *what; /* static, human-readable, for logs */
} wv_quic_close_info;

/* All optional (NULL = ignore). user is the pointer given to
 * wv_quic_endpoint_new(); per-connection data is wv_quic_conn_{get,set}_user. */
typedef struct wv_quic_callbacks {
    /* A peer started a connection. The handshake is not done yet. */
    void (*on_accept)(wv_quic_endpoint *ep, wv_quic_conn *conn, void *user);
    /* The handshake is done and the peer's certificate was checked (pinned
     * when dialing); wv_quic_conn_peer_fingerprint() and the exporter are
     * now valid, and streams may be opened. On the server this fires only
     * after it has received the client's Finished (so after the client's
     * certificate was checked); it always precedes the peer's first
     * on_stream_open. */
    void (*on_handshake_done)(wv_quic_conn *conn, void *user);
    /* The peer opened a stream (fires before its first on_stream_data). */
    void (*on_stream_open)(wv_quic_conn *conn, int64_t sid, void *user);
    /* In-order bytes of a stream. data (never NULL, also when len is 0) is
     * only valid during the call. The
     * peer's credit is not returned until wv_quic_stream_consumed() (bytes
     * still unconsumed when the stream closes go back to the connection
     * window by themselves). fin: this is the end of the peer's data (len
     * may be 0). */
    void (*on_stream_data)(wv_quic_conn *conn, int64_t sid, const uint8_t *data, size_t len,
                           bool fin, void *user);
    /* The peer aborted the stream: a RESET_STREAM arrived (app_error is
     * its code), or the peer's STOP_SENDING was noticed while writing
     * (app_error 0). At most once per stream. The app should abort its side
     * too (wv_quic_stream_reset); on_stream_close follows once both
     * directions are done. */
    void (*on_stream_reset)(wv_quic_conn *conn, int64_t sid, uint64_t app_error, void *user);
    /* The stream is gone; its ID is no longer the app's. app_error is the
     * code of a reset, 0 for a clean close, or WV_QUIC_STREAM_CONN_GONE. */
    void (*on_stream_close)(wv_quic_conn *conn, int64_t sid, uint64_t app_error, void *user);
    /* A stream on which wv_quic_stream_write() accepted less than offered
     * has send window again. */
    void (*on_stream_writable)(wv_quic_conn *conn, int64_t sid, void *user);
    /* The peer raised our stream limit after stream_open returned
     * WV_ERR_AGAIN. */
    void (*on_streams_available)(wv_quic_conn *conn, void *user);
    /* The connection ended; see wv_quic_close_info. The handle dies when
     * this returns. */
    void (*on_conn_closed)(wv_quic_conn *conn, const wv_quic_close_info *info, void *user);
    /* A DATAGRAM frame arrived (cfg.datagrams). data is only valid during
     * the call. Unreliable: it may have been lost, reordered or doubled. */
    void (*on_datagram)(wv_quic_conn *conn, const uint8_t *data, size_t len, void *user);
} wv_quic_callbacks;

/* ---- endpoint ---- */

/* Creates an endpoint on loop. cfg (NULL = defaults) and cbs are copied;
 * id is only read during the call (its key and certificate are loaded into
 * TLS credentials). log may be NULL and must outlive the endpoint. Returns 0
 * and *out, or WV_ERR_INVAL / WV_ERR_CRYPTO. No socket exists until bind. */
int wv_quic_endpoint_new(uv_loop_t *loop, const wv_quic_config *cfg, const wv_identity *id,
                         wv_log *log, const wv_quic_callbacks *cbs, void *user,
                         wv_quic_endpoint **out);

/* Creates the UDP socket and binds it to addr (port 0 = ephemeral; use
 * 0.0.0.0:0 or [::]:0 for a dial-only endpoint of that family). Once only;
 * after a failure only wv_quic_endpoint_close is useful. Returns 0,
 * WV_ERR_IO (address in use, ...; errno then says which, for the caller
 * to report: this layer only logs it at DEBUG), WV_ERR_INVAL. */
int wv_quic_endpoint_bind(wv_quic_endpoint *ep, const struct sockaddr *addr);

/* The bound address (after bind). 0 or WV_ERR_INVAL. */
int wv_quic_endpoint_local_addr(const wv_quic_endpoint *ep, struct sockaddr_storage *out);

/* Closes the endpoint: every connection ends (on_conn_closed with
 * err = WV_ERR_CLOSED) without a word to the peer, except those already
 * closed with wv_quic_conn_close(), whose CONNECTION_CLOSE is sent first.
 * For a graceful goodbye close the connections first. Teardown happens on
 * a later loop pass; cb (may be NULL) fires once every handle is released,
 * with ep already freed. Valid even if never bound; a second call is
 * ignored. */
void wv_quic_endpoint_close(wv_quic_endpoint *ep, void (*cb)(void *arg), void *arg);

/* Non-QUIC datagrams on the endpoint's socket (e.g. STUN, RFC 7983-style
 * demultiplexing). A datagram goes to on_raw_datagram instead of QUIC when
 * no connection of ours owns its destination connection ID, its first two
 * bits are 00 (a QUIC packet normally sets the fixed bit 0x40; ngtcp2 may
 * clear it when greasing, RFC 9287, hence the other tests), and it carries
 * the STUN magic cookie 0x2112A442 at offset 4 with a length field that
 * matches. data and from are only valid during the call, which runs on the
 * loop thread. Set or replace with cb = NULL to stop; no call after that.
 * Valid until the endpoint closes. */
typedef void (*wv_quic_raw_cb)(wv_quic_endpoint *ep, const uint8_t *data, size_t len,
                               const struct sockaddr *from, void *user);
void wv_quic_endpoint_set_raw_handler(wv_quic_endpoint *ep, wv_quic_raw_cb on_raw_datagram,
                                      void *user);

/* A virtual endpoint: no socket. Instead of sending, every datagram the
 * endpoint's connections write is handed to send (data valid during the
 * call; loop thread), and the datagrams addressed to it come in through
 * wv_quic_endpoint_input. local is the address its connections use as
 * theirs (an address that no packet ever goes to: e.g. from the discard
 * prefix 100::/64). Everything else works as on a bound endpoint: CID
 * routing, accepting, dialing (to remote addresses of local's family).
 * Used for connections relayed inside another connection's DATAGRAM frames
 * (docs/NAT.md). Instead of wv_quic_endpoint_bind, once. 0 or
 * WV_ERR_INVAL. */
typedef void (*wv_quic_virt_send_cb)(wv_quic_endpoint *ep, const struct sockaddr *to,
                                     const uint8_t *data, size_t len, void *user);
int wv_quic_endpoint_bind_virtual(wv_quic_endpoint *ep, const struct sockaddr *local,
                                  wv_quic_virt_send_cb send, void *user);
/* A datagram for a virtual endpoint, from from (copied; processed on a
 * later loop pass, never inside the caller's stack). Bounded: beyond 1024
 * waiting datagrams, more are dropped. 0, WV_ERR_INVAL (not virtual, len 0
 * or > 65527), WV_ERR_AGAIN (dropped), WV_ERR_CLOSED. */
int wv_quic_endpoint_input(wv_quic_endpoint *ep, const struct sockaddr *from, const uint8_t *data,
                           size_t len);

/* Sends one datagram (copied) from the endpoint's socket, outside QUIC.
 * 0, WV_ERR_INVAL (not bound, family mismatch, len 0 or > 65507),
 * WV_ERR_CLOSED (closing). Best effort like any UDP send. */
int wv_quic_endpoint_send_raw(wv_quic_endpoint *ep, const struct sockaddr *to, const uint8_t *data,
                              size_t len);

/* ---- connections ---- */

/* Starts a connection to remote (same family as the bound socket) and
 * requires its certificate's SHA-256 to equal pin (copied). Returns 0 and
 * *out; the outcome arrives as on_handshake_done or on_conn_closed (a pin
 * mismatch gives err WV_ERR_CRYPTO). Errors: WV_ERR_INVAL (not bound,
 * family mismatch), WV_ERR_CLOSED (endpoint closing), WV_ERR_CRYPTO. */
int wv_quic_dial(wv_quic_endpoint *ep, const struct sockaddr *remote,
                 const uint8_t pin[WV_FINGERPRINT_LEN], wv_quic_conn **out);

/* Queues one DATAGRAM frame of hdr then data (both copied; hdr may be
 * NULL). It goes out with the next packets, congestion-controlled; a
 * frame still queued when the queue holds 256 is dropped instead (the
 * sender of what it carries backs off: that is how a relayed connection
 * learns the relay path is full). 0, WV_ERR_INVAL (the peer takes no
 * DATAGRAM frames, or not yet: before the handshake), WV_ERR_TOOBIG (over
 * wv_quic_conn_datagram_max), WV_ERR_AGAIN (queue full, dropped),
 * WV_ERR_CLOSED. */
int wv_quic_conn_send_datagram(wv_quic_conn *conn, const uint8_t *hdr, size_t hdrlen,
                               const uint8_t *data, size_t len);
/* The largest DATAGRAM payload that fits one packet on the path now (what
 * PMTUD has confirmed less the packet's overhead), 0 when the peer takes
 * none. */
size_t wv_quic_conn_datagram_max(wv_quic_conn *conn);

/* Closes with an application error code (0 = normal). The CONNECTION_CLOSE
 * goes out shortly; on_stream_close/on_conn_closed follow (err 0 when
 * app_error is 0). Idempotent. */
void wv_quic_conn_close(wv_quic_conn *conn, uint64_t app_error);

void wv_quic_conn_set_user(wv_quic_conn *conn, void *user);
void *wv_quic_conn_get_user(const wv_quic_conn *conn);
wv_quic_endpoint *wv_quic_conn_endpoint(const wv_quic_conn *conn);
bool wv_quic_conn_is_server(const wv_quic_conn *conn);
bool wv_quic_conn_handshake_done(const wv_quic_conn *conn);

/* The peer's certificate fingerprint, or NULL before the TLS layer has
 * seen it. Valid while the connection lives. */
const uint8_t *wv_quic_conn_peer_fingerprint(const wv_quic_conn *conn);

/* RFC 5705 / TLS 1.3 exporter over this connection's TLS session: both
 * ends get the same outlen bytes for the same label and context. Only after
 * the handshake. 0, WV_ERR_AGAIN (handshake not done), WV_ERR_CRYPTO. */
int wv_quic_conn_exporter(wv_quic_conn *conn, const char *label, const uint8_t *ctx, size_t ctxlen,
                          uint8_t *out, size_t outlen);

typedef struct wv_quic_conn_stats {
    uint64_t smoothed_rtt_ns, min_rtt_ns, latest_rtt_ns;
    uint64_t cwnd, bytes_in_flight;
    uint64_t bytes_sent, bytes_recv; /* UDP payload bytes */
    uint64_t pkts_sent, pkts_recv;
    uint64_t streams_open;
    uint64_t rx_window;     /* the connection's receive window now (auto-tuning) */
    size_t max_udp_payload; /* the largest datagram this connection sends (PMTUD's state) */
    uint64_t dgrams_sent, dgrams_recv, dgrams_dropped; /* DATAGRAM frames */
    struct sockaddr_storage local, remote;
    struct wv_quic_fec_stats {
        bool sending;          /* repairs go to the peer */
        unsigned group;        /* packets per repaired group now (0: none) */
        uint64_t repairs_sent; /* groups repaired */
        double peer_loss;      /* the loss rate the peer's reports gave */
        /* What came from the peer: packets its repairs covered, how many
         * of them were lost on the way, how many of those were rebuilt. */
        uint64_t packets, lost, rebuilt;
    } fec;
} wv_quic_conn_stats;

void wv_quic_conn_stats_get(wv_quic_conn *conn, wv_quic_conn_stats *out);

/* Offers loss repair to the peer of conn: call once the peer is known to be
 * a wovenet agent (it proved membership). Repairs flow each way once both
 * offered. Nothing happens when the endpoint's cfg.fec is off, or on a
 * relayed (virtual) endpoint. */
void wv_quic_conn_fec_offer(wv_quic_conn *conn);

/* ---- streams (bidirectional only) ---- */

/* Opens a stream. Returns 0 and *sid; WV_ERR_AGAIN before on_handshake_done
 * or when the peer's stream limit is reached (then on_streams_available
 * tells when to retry); WV_ERR_CLOSED when the connection is ending. */
int wv_quic_stream_open(wv_quic_conn *conn, int64_t *sid);

/* Queues up to len bytes, copying them, and at most what the peer's stream
 * and connection flow-control credit allows minus what is already queued
 * unsent. Returns the number of bytes accepted (0..len); when that is less
 * than len, on_stream_writable fires once credit opens. fin is honoured only
 * when all len bytes are accepted (then no more writes). The copies are held
 * until the peer acknowledges them or the stream closes. Errors:
 * WV_ERR_NOTFOUND (unknown sid), WV_ERR_CLOSED (already finished, reset, or
 * the connection is ending). */
long wv_quic_stream_write(wv_quic_conn *conn, int64_t sid, const uint8_t *data, size_t len,
                          bool fin);

/* Sends FIN after the queued data. 0, WV_ERR_NOTFOUND, WV_ERR_CLOSED. */
int wv_quic_stream_shutdown_write(wv_quic_conn *conn, int64_t sid);

/* The app has disposed of n more received bytes of sid (e.g. written them
 * to TCP): grants the peer n more bytes of stream and connection credit,
 * plus any growth of the windows auto-tuning decides on now (see
 * wv_quic_config; sent once enough has accumulated, as ngtcp2 decides;
 * ngtcp2 1.11 sends MAX_STREAM_DATA / MAX_DATA once a quarter of the
 * initial window is ungranted). 0, WV_ERR_NOTFOUND
 * (unknown or closed stream), WV_ERR_INVAL (more than was delivered and not
 * yet consumed). */
int wv_quic_stream_consumed(wv_quic_conn *conn, int64_t sid, size_t n);

/* Aborts both directions with app_error (RESET_STREAM + STOP_SENDING). No
 * more on_stream_data for it; on_stream_close follows. 0 or WV_ERR_NOTFOUND. */
int wv_quic_stream_reset(wv_quic_conn *conn, int64_t sid, uint64_t app_error);

void wv_quic_stream_set_user(wv_quic_conn *conn, int64_t sid, void *user);
void *wv_quic_stream_get_user(wv_quic_conn *conn, int64_t sid);

#endif
