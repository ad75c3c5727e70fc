#ifndef WV_TUNNEL_H
#define WV_TUNNEL_H
/* tunnel: the data channels to peer sites (the tunnel manager, below) and
 * the sans-I/O codecs of the tunnel wire protocol they speak (frames, the
 * app-stream header and status, the membership proof; further down). Built
 * on wv/quic.h; knows nothing of apps, discovery or the store. */

/* Tunnels: the data channels (QUIC connections) to every peer site.
 *
 * Each local tunnel socket is a QUIC endpoint that accepts connections; the
 * manager also dials every socket each known peer announces, from a local
 * tunnel socket of the same address family when there is one (sharing its
 * NAT binding), else from an ephemeral socket of that family. After the TLS
 * handshake (the dialer pins the peer's announced certificate) both sides
 * prove knowledge of the network key on the control stream (proto.h,
 * docs/PROTOCOL.md):
 *
 *   client -> server   proof(client)
 *   server -> client   proof(server)      sent only once the client's is verified
 *   client -> server   1 byte 0x01        "your proof is verified"
 *
 * A side accepts the peer's streams once it has verified the peer's proof,
 * and opens streams itself (the channel is "up") once it knows the peer has
 * verified its own: the client after verifying the server's proof, the
 * server on the 0x01 byte. So no app stream ever reaches a side that has not
 * authenticated its opener. A channel still unproven 5 s after its handshake
 * is closed; streams an unproven peer opens are reset.
 *
 * A channel that dies is removed and, while the peer still announces that
 * socket, re-dialed with exponential backoff and jitter (1 s .. 60 s).
 * After 3 failed dials of a detected address the manager asks for fresh
 * socket info (need_sockinfo).
 *
 * All calls and callbacks on the loop thread. */
#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/quic.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define WV_APPERR_UNPROVEN 0x101 /* connection or stream refused: no valid proof */
#define WV_APPERR_ABORTED 0x102  /* app connection aborted (TCP reset) */
#define WV_APPERR_GONE 0x103     /* peer no longer announces this socket / site removed */
#define WV_APPERR_LIMIT 0x104    /* connection refused: a configured limit is reached */
/* Deadlines are checked on a 200 ms tick: 4.5 s keeps the promise that an
 * unproven channel is closed within 5 s of its handshake. */
#define WV_PROOF_TIMEOUT_MS 4500

typedef struct wv_tunnels wv_tunnels;

/* Stream handlers. The user pointer of every app stream (wv_quic_stream
 * user data) points at a struct whose first member is a
 * `const struct wv_stream_ops *`; the manager forwards the QUIC stream
 * events to it. Same meaning as the wv_quic_callbacks of the same names. */
struct wv_stream_ops {
    void (*data)(void *s, const uint8_t *data, size_t len, bool fin);
    void (*reset)(void *s, uint64_t app_error);
    void (*close)(void *s, uint64_t app_error); /* last event: s may be freed */
    void (*writable)(void *s);
};

/* The forwarding of an app stream's QUIC events to its handler, as the
 * manager's QUIC callbacks do it for every stream but the control stream:
 * each looks up the stream's user data and, when it is set, calls the
 * handler's op of the same name; close first clears the user data (close is
 * a stream's last event), writable is skipped for a handler without one.
 * The signatures are those of wv_quic_callbacks (user is not used), so code
 * that drives wv_quic without a manager (the proxy's tests) forwards the same
 * way by plugging them in. Loop thread. */
void wv_tunnel_forward_data(wv_quic_conn *conn, int64_t sid, const uint8_t *data, size_t len,
                            bool fin, void *user);
void wv_tunnel_forward_reset(wv_quic_conn *conn, int64_t sid, uint64_t app_error, void *user);
void wv_tunnel_forward_close(wv_quic_conn *conn, int64_t sid, uint64_t app_error, void *user);
void wv_tunnel_forward_writable(wv_quic_conn *conn, int64_t sid, void *user);

/* What the app layer needs of the tunnels: a way to open an app stream to a
 * site. open() opens the stream, sets its user data to handler (see
 * wv_stream_ops) and returns 0 with *conn and *sid, or a negative WV_ERR_*
 * (no up channel, no stream credit). Synchronous; fires no callback. */
struct wv_stream_opener {
    int (*open)(void *self, const char *site, void *handler, wv_quic_conn **conn, int64_t *sid);
    void *self;
};

/* One local tunnel socket to serve. */
struct wv_tunnel_socket {
    const char *name;               /* the store object's name */
    struct sockaddr_storage listen; /* address (maybe :: / 0.0.0.0) and port */
    size_t max_udp_payload;         /* 0 = default */
    /* A nat-traversal socket: behind a NAT, no public address. Its inbound
     * channels are "punched" (or "mapped" while the router maps a port to
     * it, see wv_tunnels_set_mapped), except from a peer's host address. */
    bool nat;
    uint32_t keepalive_ms; /* 0 = the manager's quic.keepalive_ms */
};

/* How a channel was made (the API's channels[].path): to or from an
 * announced public socket or a host address (direct), through holes both
 * sides punched into their NATs, through a port the router maps, or
 * through a relay site (wv_tunnels_channels_json says which). */
enum wv_path { WV_PATH_DIRECT = 0, WV_PATH_PUNCHED, WV_PATH_MAPPED, WV_PATH_RELAYED };
/* "direct", "punched", "mapped", "relayed" (static). */
const char *wv_path_name(enum wv_path p);

/* The kind of a peer socket: an ordinary one, or a candidate of the
 * peer's nat-traversal socket number group (discovery's wv_cand_kind). */
enum wv_peer_cand { WV_PEER_PLAIN = 0, WV_PEER_HOST, WV_PEER_STUN, WV_PEER_MAPPED };

/* A socket a peer announces. */
struct wv_peer_socket {
    char address[254]; /* IP literal */
    uint16_t port;
    bool detected;
    enum wv_peer_cand kind;
    uint8_t group; /* candidates of one group: the first to come up is kept */
};

struct wv_tunnels_callbacks {
    /* The site's reachability changed: up = it has at least one up channel. */
    void (*site_state)(wv_tunnels *t, const char *site, bool up, void *user);
    /* A channel changed state (for events); site may be "" while unproven. */
    void (*channel_event)(wv_tunnels *t, const char *site, uint64_t chan_id, const char *state,
                          void *user);
    /* A proven peer opened an app stream. The callee must set the stream's
     * user data (wv_quic_stream_set_user) to its handler before returning,
     * or reset the stream. */
    void (*app_stream)(wv_tunnels *t, const char *site, wv_quic_conn *conn, int64_t sid,
                       void *user);
    /* Dialing a detected address of site keeps failing: ask it for fresh
     * socket info. */
    void (*need_sockinfo)(wv_tunnels *t, const char *site, void *user);
    /* We are dialing a STUN candidate of site: its NAT only lets our
     * packets in once it has sent to us, so ask it to punch (at most once a
     * second per site; its answer comes back as wv_tunnels_punch). */
    void (*need_punch)(wv_tunnels *t, const char *site, void *user);
};

struct wv_tunnels_options {
    const char *site;        /* our name (copied) */
    const uint8_t *auth_key; /* 32-byte tunnel-authentication subkey (copied, wiped on free) */
    const wv_identity *id;   /* our certificate; must outlive the manager */
    /* Base transport settings ("accept" is set per endpoint). quic.budget
     * is ignored: the manager makes one for its endpoints, of
     * buffer_budget bytes (0 = no limit; see wv_quic_budget_new). */
    wv_quic_config quic;
    uint64_t buffer_budget;
    /* Bounds against abuse (0 = default). Streams per channel are bounded by
     * quic.max_streams_bidi (QUIC flow control: a peer cannot exceed it). */
    unsigned max_unproven;          /* inbound channels not yet proven, at once; 64 */
    unsigned max_channels_per_peer; /* inbound channels of one proven peer, at once; 16 */
    /* inbound channels not yet proven from one source (IPv4 address, IPv6
     * /64), at once; 8. With QUIC address validation (Retry, see
     * wv_quic_config.retry_threshold) a flood cannot spoof its source. */
    unsigned max_unproven_per_source;
    /* Dial fan-out (0 = the WV_LIMIT_* defaults of wv/model.h): peer sites
     * dialed at once, announced sockets dialed per peer, new dials per
     * second (burst twice that). */
    unsigned max_dial_peers, max_dial_sockets_per_peer, dials_per_second;
};

int wv_tunnels_new(uv_loop_t *loop, wv_log *log, const struct wv_tunnels_options *opts,
                   const struct wv_tunnels_callbacks *cbs, void *user, wv_tunnels **out);
/* Closes every channel (CONNECTION_CLOSE to peers) and endpoint; cb fires
 * once everything is released, then t is freed. No other callback after. */
void wv_tunnels_close(wv_tunnels *t, void (*cb)(void *arg), void *arg);

/* Makes the served sockets equal to socks[0..n): new ones are bound, gone
 * or changed ones closed (their channels with them). A socket that fails to
 * bind is reported in errs[i] (at least 128 bytes each, "" when fine). */
void wv_tunnels_set_sockets(wv_tunnels *t, const struct wv_tunnel_socket *socks, size_t n,
                            char (*errs)[128]);

/* Sets what a peer announces: its certificate fingerprint and sockets.
 * New sockets are dialed, gone ones have their outbound channel closed; a
 * new fingerprint closes every channel of the peer. */
void wv_tunnels_set_peer(wv_tunnels *t, const char *site, const uint8_t fp[WV_FINGERPRINT_LEN],
                         const struct wv_peer_socket *socks, size_t n);
/* Changes the dial fan-out bounds (0 = default); applies to later dials and
 * to sockets set after the call. */
void wv_tunnels_set_dial_limits(wv_tunnels *t, unsigned peers, unsigned sockets_per_peer,
                                unsigned per_second);
/* Changes the receive-window caps of auto-tuning (wv_quic_config's
 * stream_window_max and conn_window_max; 0 = keep) and the buffer budget
 * (0 = keep), for open channels too: later growths follow them. */
void wv_tunnels_set_windows(wv_tunnels *t, uint64_t stream_window_max, uint64_t conn_window_max,
                            uint64_t buffer_budget);
/* Our relay service (docs/NAT.md): forward other sites' end-to-end QUIC
 * packets between our channels to them (DATAGRAM frames; the endpoints
 * need quic.datagrams). max_peers: sites relayed for at once (0: 32);
 * bytes_per_s: all of them together (0: 12500000); beyond either, packets
 * are dropped and counted. */
void wv_tunnels_set_relay(wv_tunnels *t, bool on, unsigned max_peers, uint64_t bytes_per_s);
/* Whether site announces relay: true. A peer we cannot reach directly (it
 * or we behind a NAT, nothing up 2 s after it was announced or lost its
 * last channel) is dialed through such a site; its relayed channels
 * ("relayed via <site>") take no new streams once a direct one is up and
 * close when their streams have ended. */
void wv_tunnels_set_relay_offer(wv_tunnels *t, const char *site, bool offers);
/* Forgets a peer: closes its channels, stops dialing it. */
void wv_tunnels_remove_peer(wv_tunnels *t, const char *site);
/* Hole punching with site (its punch request, or its answer to ours): dials
 * every candidate of site that has no channel up in its group now, with a
 * fresh handshake (a handshake under way may be waiting out a long
 * retransmission timeout), whatever their backoff. */
void wv_tunnels_punch(wv_tunnels *t, const char *site);

/* Does the site have an up channel? */
bool wv_tunnels_site_up(wv_tunnels *t, const char *site);

/* Opens an app stream to site on its least-loaded up channel and sets its
 * handler (see wv_stream_ops). 0, WV_ERR_NOTFOUND (no up channel),
 * WV_ERR_AGAIN (every channel is out of stream credit). */
/* wv_tunnels_open_stream as a wv_stream_opener (valid while t lives). */
struct wv_stream_opener wv_tunnels_opener(wv_tunnels *t);
int wv_tunnels_open_stream(wv_tunnels *t, const char *site, void *handler, wv_quic_conn **conn,
                           int64_t *sid);

/* The channels of site as the API shows them (array; [] if none). */
json_t *wv_tunnels_channels_json(wv_tunnels *t, const char *site);
/* The id of the channel that is QUIC connection conn (as in the channels'
 * JSON), or -1 when none is. */
int64_t wv_tunnels_channel_id(const wv_tunnels *t, const wv_quic_conn *conn);
/* Calls fn once for each site whose channels moved bytes since the
 * previous call (for live throughput events). */
void wv_tunnels_each_busy_site(wv_tunnels *t, void (*fn)(const char *site, void *arg), void *arg);

/* Totals for /metrics. */
struct wv_tunnels_stats {
    uint64_t channels_up, channels_total;
    uint64_t dials, dial_failures, proofs_failed;
    uint64_t refused_unproven;        /* inbound connections over max_unproven */
    uint64_t refused_peer_limit;      /* proven channels over max_channels_per_peer */
    uint64_t streams_refused;         /* streams a peer opened before its proof */
    uint64_t quarantined;             /* inbound channels held for want of an announcement */
    uint64_t refused_unproven_source; /* inbound connections over max_unproven_per_source */
    uint64_t dials_deferred;          /* dials postponed by the dials-per-second bound */
    uint64_t dial_sockets_skipped;    /* announced sockets not dialed (per-peer or peer bound) */
    uint64_t retries_sent, bad_tokens, handshakes_refused_source; /* QUIC guard, all sockets */
    wv_quic_budget_stats budget; /* receive windows of all channels against the budget */
    uint64_t stream_window_max, conn_window_max; /* the auto-tuning caps in force */
    uint64_t punches;                            /* wv_tunnels_punch calls that dialed something */
    uint64_t chans_up_by_path[WV_PATH_RELAYED + 1]; /* channels that came up, by enum wv_path */
    /* As a relay: packets and payload bytes forwarded, and dropped: relay
     * off, no such site or no channel to it, limits.relayPeers,
     * limits.relayBytesPerSecond, the outgoing channel's frame queue full. */
    uint64_t relay_packets, relay_bytes;
    uint64_t relay_dropped_off, relay_dropped_noroute, relay_dropped_peers, relay_dropped_rate,
        relay_dropped_queue;
    uint64_t relay_peers;     /* sites relayed for in the last 30 s (a gauge) */
    uint64_t relayed_dropped; /* our relayed packets no relay channel took */
};
void wv_tunnels_get_stats(wv_tunnels *t, struct wv_tunnels_stats *out);
/* Status of a local socket for the API: {state, error}. */
json_t *wv_tunnels_socket_status(wv_tunnels *t, const char *name);

/* Whether the router maps a port to local nat-traversal socket name now
 * (its inbound channels from elsewhere than a peer's host address are then
 * "mapped" rather than "punched"). */
void wv_tunnels_set_mapped(wv_tunnels *t, const char *name, bool mapped);

/* The QUIC endpoint of local tunnel socket name while it is bound, else
 * NULL. Valid until the next wv_tunnels_set_sockets() or close; do not
 * keep it (the public-address detector sends STUN from it). */
wv_quic_endpoint *wv_tunnels_socket_endpoint(wv_tunnels *t, const char *name);

/* Sans-I/O codecs of the tunnel wire protocol (docs/PROTOCOL.md):
 *
 *  - frames: a 2-byte big-endian length, then that many bytes of a JSON
 *    object (at most WV_FRAME_MAX). The app-stream header {app, target?}
 *    and the status reply {status, code?, message?} are frames.
 *  - the membership proof sent on the control stream after the handshake.
 *
 * Pure functions over buffers; nothing here touches a socket. */

#define WV_FRAME_MAX 4096

/* Parses one frame from the start of buf. Returns 0 and sets *consumed and
 * *out (a new JSON object) when complete; WV_ERR_AGAIN when more bytes are
 * needed; WV_ERR_PROTO when the length is 0 or over WV_FRAME_MAX, or the
 * body is not a JSON object. */
int wv_frame_parse(const uint8_t *buf, size_t len, size_t *consumed, json_t **out);
/* Encodes obj as a frame into a new buffer (caller frees). WV_ERR_TOOBIG if
 * the JSON is over WV_FRAME_MAX. */
int wv_frame_encode(const json_t *obj, uint8_t **out, size_t *outlen);

/* App-stream header. app is a name (validate.h rule); target, when present,
 * is "IP:PORT" / "[v6]:PORT" for range apps. 0 or WV_ERR_PROTO with *why. */
struct wv_app_header {
    char app[256];
    char target[64]; /* "" when absent */
};
int wv_app_header_from_json(const json_t *obj, struct wv_app_header *h, const char **why);
json_t *wv_app_header_to_json(const struct wv_app_header *h);

/* Status reply codes. */
#define WV_STATUS_OK "ok"
#define WV_ERRC_UNKNOWN_APP "unknown-app"
#define WV_ERRC_TARGET_DENIED "target-denied"
#define WV_ERRC_CONNECT_REFUSED "connect-refused"
#define WV_ERRC_CONNECT_TIMEOUT "connect-timeout"
#define WV_ERRC_BAD_HEADER "bad-header"
#define WV_ERRC_LIMIT "limit"
#define WV_ERRC_FORBIDDEN "forbidden"
/* {"status":"ok"} or {"status":"error","code":code,"message":message}. */
json_t *wv_status_json(const char *code, const char *message);
/* 0 for ok; WV_ERR_PROTO if malformed; otherwise WV_ERR_INVAL with *code
 * and *message pointing into obj (valid while obj lives). */
int wv_status_parse(const json_t *obj, const char **code, const char **message);

/* --- Membership proof (control stream) ------------------------------------
 * proof = "WVP1" | role (1: 0 client, 1 server) | name length (1) | name |
 *         mac (32)
 * mac   = HMAC-SHA256(auth_key, "wovenet/1 proof" | exporter (32) | role |
 *         name length | name)
 * exporter = TLS exporter of this connection, label WV_PROOF_LABEL, empty
 * context, 32 bytes: the proof cannot be replayed on another connection. */
#define WV_PROOF_LABEL "EXPORTER-wovenet-proof"
#define WV_PROOF_MAX (4 + 1 + 1 + 255 + 32)
enum wv_role { WV_ROLE_CLIENT = 0, WV_ROLE_SERVER = 1 };

/* Writes the proof into out (at least WV_PROOF_MAX bytes); returns its
 * length, or WV_ERR_INVAL for a name over 255 bytes. */
int wv_proof_build(const uint8_t auth_key[32], const uint8_t exporter[32], enum wv_role role,
                   const char *site, uint8_t *out);
/* Parses and verifies a proof (constant-time MAC check). Returns the number
 * of bytes consumed, WV_ERR_AGAIN if incomplete, WV_ERR_PROTO if malformed,
 * WV_ERR_AUTH if the MAC is wrong or the role is not want_role. On success
 * site (at least 256 bytes) receives the claimed, now proven, site name. */
int wv_proof_verify(const uint8_t auth_key[32], const uint8_t exporter[32], enum wv_role want_role,
                    const uint8_t *buf, size_t len, char *site);

#endif
