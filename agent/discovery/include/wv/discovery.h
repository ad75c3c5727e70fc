#ifndef WV_DISCOVERY_H
#define WV_DISCOVERY_H
/* discovery: the message channel. The codec of what sites publish (below),
 * the MQTT connection settings, and the discovery engine that announces this
 * site and tracks its peers (further down). The MQTT client and the
 * envelope are private to this folder. */

/* The message-channel codec: the JSON plaintext inside every envelope, and
 * the replay rules. Pure functions over buffers and structs (sans-I/O), safe
 * on any thread; the replay cache is not thread-safe (one owner).
 *
 *   announce          {type, site, instance, seq, ts, sockets:[{address, port,
 *                      protocol:"quic", detected}], apps:[name], fingerprint}
 *   offline           {type, site, instance, seq, ts}
 *   sockinfo-request  {type, from, to, instance, seq, ts}
 *   sockinfo-reply    the announce fields plus "to" and "re" (the request's id,
 *                     "<instance>.<seq>" of the request it answers)
 *   punch-request     the sockinfo-request fields; the receiver answers with a
 *                     sockinfo-reply and sends to the sender's candidates now
 *
 * A socket of an announcement or reply may carry "kind" (host, stun or
 * mapped) and "group" (0..63): the candidates of a nat-traversal socket.
 *
 * Every message also carries "key" (the sender's Ed25519 identity public
 * key, 64 hex) and "sig" (128 hex): the signature by that key over
 * WV_SIGN_CONTEXT followed by the message encoded without "sig"
 * (wv_msg_signing_text). An announcement or reply of a site that rotated
 * its identity may carry "prevKey" and "prevSig": the old key and its
 * signature over WV_ROTATE_CONTEXT | site | 0 | new key hex
 * (wv_rotation_text), which lets peers move their pin. The fields are
 * optional for the parser (an older agent sends none); the engine drops
 * unsigned messages.
 *
 * instance: 32 lower-case hex chars, random per start. seq: per-instance
 * counter, never reused. ts: unix time in ms. fingerprint: SHA-256 of the
 * site's certificate, 64 lower-case hex chars. Parsing is strict: unknown
 * types or fields, wrong JSON types and out-of-bound values are refused. */
#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define WV_ADDRESS_MAX 253
#define WV_ANNOUNCE_MAX_SOCKETS 64
#define WV_ANNOUNCE_MAX_APPS 4096
#define WV_INSTANCE_HEX_LEN 32
#define WV_FINGERPRINT_HEX_LEN 64
/* Inbox messages outside now ± this are dropped. */
#define WV_INBOX_WINDOW_MS 60000
#define WV_REQID_MAX (WV_INSTANCE_HEX_LEN + 1 + 20)
#define WV_SIGN_CONTEXT "wovenet/1 signed message\n"

enum wv_msg_type {
    WV_MSG_ANNOUNCE = 1,
    WV_MSG_OFFLINE,
    WV_MSG_SOCKINFO_REQUEST,
    WV_MSG_SOCKINFO_REPLY,
    /* "I am sending to your candidates now: send to mine" (hole punching,
     * docs/NAT.md); answered by a sockinfo-reply. */
    WV_MSG_PUNCH_REQUEST,
};

/* A candidate of a nat-traversal socket ("kind" in the announcement): one
 * of the host's own addresses, the mapping STUN learned from the socket, or
 * a port mapping the router made (UPnP-IGD, NAT-PMP). The candidates of one
 * socket share a "group" number: a peer keeps the first of them that comes
 * up (docs/NAT.md). WV_CAND_NONE: an ordinary socket (no kind, no group). */
enum wv_cand_kind { WV_CAND_NONE = 0, WV_CAND_HOST, WV_CAND_STUN, WV_CAND_MAPPED };
/* "host", "stun", "mapped" ("" for WV_CAND_NONE); static. */
const char *wv_cand_kind_name(enum wv_cand_kind k);

typedef struct wv_msg_socket {
    char address[WV_ADDRESS_MAX + 1]; /* IPv4/IPv6 literal or DNS host name */
    uint16_t port;                    /* 1..65535 */
    bool detected;                    /* address found by detection, may change */
    enum wv_cand_kind kind;           /* nat-traversal candidates only */
    uint8_t group;                    /* ..and the socket they belong to, 0..63 */
    /* protocol is always "quic" in version 1 */
} wv_msg_socket;

typedef struct wv_msg {
    enum wv_msg_type type;
    char site[WV_NAME_MAX + 1]; /* the sender ("site", or "from" in a request) */
    char to[WV_NAME_MAX + 1];   /* request and reply only, else "" */
    char instance[WV_INSTANCE_HEX_LEN + 1];
    uint64_t seq;
    int64_t ts;
    /* announce and reply only: */
    wv_msg_socket *sockets; /* wv_malloc'd array, owned by the message */
    size_t nsockets;
    char **apps; /* wv_malloc'd array of wv_malloc'd names */
    size_t napps;
    char fingerprint[WV_FINGERPRINT_HEX_LEN + 1];
    bool relay; /* announce/reply: the site relays for others ("relay": true; absent = false) */
    /* signature (all types; "" when absent) */
    char key[WV_PUBKEY_HEX_LEN + 1];
    char sig[WV_SIG_HEX_LEN + 1];
    char re[WV_REQID_MAX + 1];                /* reply only: the request answered */
    char prev_key[WV_PUBKEY_HEX_LEN + 1];     /* announce/reply: rotation proof */
    char prev_sig[WV_SIG_HEX_LEN + 1];
} wv_msg;

/* The bytes a signature covers: WV_SIGN_CONTEXT then the message encoded
 * without "sig". NULL if m is invalid; the caller free()s. */
char *wv_msg_signing_text(const wv_msg *m);
/* Sets m->key and m->sig (signed with id). 0, WV_ERR_INVAL, WV_ERR_CRYPTO. */
int wv_msg_sign(wv_msg *m, const wv_identity *id);
/* Verifies m->sig under m->key: 0, WV_ERR_NOTFOUND (unsigned), WV_ERR_AUTH. */
int wv_msg_verify(const wv_msg *m);

/* Parses len bytes of JSON into *out (zeroed first). Returns 0, or
 * WV_ERR_PROTO for anything malformed (out is then empty, nothing to free).
 * On success the caller owns *out: wv_msg_dispose(). */
int wv_msg_parse(const char *json, size_t len, wv_msg *out);

/* Validates m as wv_msg_parse would and encodes it as compact JSON.
 * Returns a NUL-terminated string the caller free()s, or NULL if m is
 * invalid. */
char *wv_msg_encode(const wv_msg *m);

/* Deep copy (dst is overwritten, not disposed). */
void wv_msg_copy(wv_msg *dst, const wv_msg *src);
/* Frees what m owns and zeroes it. */
void wv_msg_dispose(wv_msg *m);
/* Adds an app name / a socket to an announcement under construction
 * (copies). WV_ERR_INVAL for a bad name/address/port, WV_ERR_LIMIT past the
 * bounds. */
int wv_msg_add_app(wv_msg *m, const char *name);
int wv_msg_add_socket(wv_msg *m, const char *address, uint16_t port, bool detected);
/* Adds a candidate of nat-traversal socket number group (0..63); detected
 * is set for every kind but host. Errors as wv_msg_add_socket. */
int wv_msg_add_candidate(wv_msg *m, const char *address, uint16_t port, enum wv_cand_kind kind,
                         unsigned group);
/* Random instance id into out (33 bytes). 0 or WV_ERR_CRYPTO. */
int wv_msg_new_instance(char out[WV_INSTANCE_HEX_LEN + 1]);

/* Ordering of announcements and offline records of one site: true when
 * `cand` supersedes `held`, i.e. it comes from another instance and has a
 * newer ts, or from the same instance with a greater seq. */
bool wv_msg_newer(const wv_msg *held, const wv_msg *cand);

/* The replay cache of inbox messages: drops a message whose ts is outside
 * now ± window or whose (instance, seq) was already accepted. Bounded: the
 * oldest entry is evicted when full, so an entry can only be forgotten after
 * `capacity` newer messages (size it above the inbox rate × 2 windows). */
typedef struct wv_replay wv_replay;
wv_replay *wv_replay_new(size_t capacity, int64_t window_ms);
void wv_replay_free(wv_replay *r);
/* 0: fresh, now remembered. WV_ERR_PROTO: outside the window or seen. */
int wv_replay_check(wv_replay *r, const char *instance, uint64_t seq, int64_t ts, int64_t now_ms);

/* Discovery: the site's announcement on the message channel and the table
 * of peers heard there.
 *
 * Topics (all payloads are envelopes sealed under keys->message, the full
 * topic as associated data; <h(x)> is wv_keys_site_hash(x)):
 *   <topic>/a/<h(site)>   retained announcement of each site; its Last Will
 *                         and its clean stop replace it with an "offline" record
 *   <topic>/i/<h(site)>   inbox: sockinfo-request / sockinfo-reply
 *
 * Rules (see announce.h for the message formats):
 *   - an announcement replaces the one held only if wv_msg_newer(); an
 *     equal one (the broker re-sending retained messages) is ignored, an
 *     older one is counted as a replay;
 *   - an offline record marks the peer offline if it comes from the instance
 *     held (whatever its seq: the Last Will is fixed at connect time, before
 *     later announcements), or from a newer instance;
 *   - our own announcement slot is watched: if it holds an offline record or
 *     another instance's message while we run, we re-announce (at most every
 *     2 s), which undoes a replayed or stale Last Will;
 *   - after each (re)connect, a peer that is neither re-sent by the broker
 *     (retained) nor re-announced within reconnect_grace_ms is marked
 *     offline: a broker restarted without persistence has lost the Last
 *     Will of a peer that died meanwhile;
 *   - inbox messages must be addressed to us, within ±60 s and not seen
 *     before (wv_replay);
 *   - an announcement or offline record dated more than 10 min ahead of our
 *     clock is refused (it would shadow the site's later instances);
 *   - anything that fails to open, parse or validate is dropped and counted.
 *     The first message that fails authentication logs one WARN line naming
 *     the topic (never the key).
 *
 * Threads: everything, callbacks included, runs on the loop thread. The
 * keys are derived by the caller beforehand (PBKDF2 is slow: run
 * wv_keys_derive in uv_queue_work). */

#define WV_DISCOVERY_DEFAULT_MAX_PEERS 4096
#define WV_TOPIC_MAX 200
/* Announcements dated further ahead than this are refused. */
#define WV_MAX_CLOCK_SKEW_MS (10 * 60 * 1000)

/* The message channel's MQTT connection settings (see mqtt.h, private). */
#define WV_MQTT_DEFAULT_KEEPALIVE_S 5
#define WV_MQTT_DEFAULT_MAX_PAYLOAD (64 * 1024 + 64)
#define WV_MQTT_DEFAULT_MAX_QUEUE 4096
#define WV_MQTT_MAX_BROKERS 16

typedef struct wv_mqtt_options {
    /* 1..16 URIs: mqtt://host:port or tcp:// (plain), mqtts:// or ssl://
     * (TLS, server certificate and host name verified), ws://, wss://. */
    const char *const *brokers;
    size_t nbrokers;
    const char *username; /* optional */
    const char *password; /* optional, never logged */
    const char *ca_file;  /* optional PEM bundle for TLS brokers; NULL = system CAs */
    int keepalive_s;      /* 0 = default; the broker declares us dead after 1.5x */
    /* Optional Last Will, published retained with QoS 1 by the broker. */
    const char *will_topic;
    const void *will_payload;
    size_t will_len;
    size_t max_payload; /* larger incoming messages are dropped and counted; 0 = default */
    size_t max_queue;   /* messages waiting for the loop; beyond it new ones are dropped */
} wv_mqtt_options;

typedef struct wv_discovery wv_discovery;

/* A row of the peer table. Owned by the discovery; valid until the next
 * call into it or the next callback returns, whichever is first. */
typedef struct wv_peer {
    char name[WV_NAME_MAX + 1];
    wv_msg ann;           /* last valid announcement (type WV_MSG_ANNOUNCE) */
    bool online;          /* false after an offline record, or seeded and not yet heard */
    int64_t last_seen_ms; /* unix ms of the last valid message from it; 0: never heard */
} wv_peer;

enum wv_peer_event {
    WV_PEER_ADDED,   /* first announcement (or sockinfo reply) from a new site */
    WV_PEER_CHANGED, /* newer announcement or sockinfo reply; may flip online back on */
    WV_PEER_OFFLINE, /* Last Will, clean-stop record, or silent after our reconnect */
};

/* Pinned identities (trust on first use, then strict). The first verified
 * identity key of a site name is pinned (or, with approve, held pending
 * until wv_discovery_approve). A message signed by another key for a pinned
 * name is refused and recorded as a conflict on the pin, unless it carries
 * a rotation proof by the pinned key, or the operator approves the offered
 * key. Messages signed by a blocked key are dropped whatever the name. */
enum wv_pin_state { WV_PIN_TRUSTED = 1, WV_PIN_PENDING };
enum wv_pin_event {
    WV_PIN_NEW,      /* first key of a name pinned (trust on first use) */
    WV_PIN_ROTATED,  /* moved to a new key signed by the old one */
    WV_PIN_APPROVED, /* the operator approved the pending or offered key */
    WV_PIN_HELD,     /* approve mode: a new site waits for approval */
    WV_PIN_CONFLICT, /* a pinned name offered with another key (first time for that key) */
};
typedef struct wv_pin {
    char site[WV_NAME_MAX + 1];
    char key[WV_PUBKEY_HEX_LEN + 1]; /* trusted key, or the pending one */
    enum wv_pin_state state;
    char offered[WV_PUBKEY_HEX_LEN + 1]; /* conflict: last other key offered, else "" */
    uint64_t conflicts;                  /* messages refused for another key */
    wv_msg held;   /* the last announcement waiting for approval (pending/conflict) */
    bool has_held;
} wv_pin;
/* The bound on pins (and on blocked keys) is the peer-table bound. */

typedef struct wv_discovery_stats {
    uint64_t decrypt_failures; /* bad envelope: wrong key, tampered, truncated, garbage */
    uint64_t unsigned_msgs;    /* no signature (an older agent, or a forgery) */
    uint64_t bad_signatures;   /* signature does not verify */
    uint64_t pin_conflicts;    /* signed by another key than the pinned one */
    uint64_t unsolicited;      /* replies to no request of ours */
    uint64_t blocked;          /* signed by a blocked key */
    uint64_t parse_failures;   /* opened but not a valid message for that topic */
    uint64_t replays;          /* older than held, outside the window, or seen before */
    uint64_t oversize;         /* dropped by the MQTT layer for size */
    uint64_t announcements;    /* announcements we published */
    uint64_t requests_answered;
    uint64_t punch_requests;      /* punch requests of trusted peers we answered */
    uint64_t punch_requests_sent; /* punch requests we sent */
} wv_discovery_stats;

typedef struct wv_discovery_options {
    const char *site;    /* our site name (wv_valid_name) */
    const char *topic;   /* the network's topic prefix, e.g. "wovenet/home"; no + or # */
    const wv_keys *keys; /* copied; the copy is wiped on free */
    /* Brokers, credentials, CA file, keepalive. The will_* fields are
     * ignored: discovery sets the Last Will itself. */
    wv_mqtt_options mqtt;
    size_t max_peers;           /* 0 = default; announcements of further sites are dropped */
    /* Our identity: every message we publish is signed with it. Borrowed,
     * must outlive the discovery. Required. */
    const wv_identity *id;
    /* membership: approve. New sites are held pending until approved. */
    bool approve;
    /* Optional rotation proof sent with our announcements after an identity
     * rotation: the previous key (hex) and its signature (wv_rotation_sign). */
    const char *prev_key, *prev_sig;
    int64_t reconnect_grace_ms; /* 0 = default (35 s, above the reconnect backoff) */
} wv_discovery_options;

typedef struct wv_discovery_callbacks {
    /* Required. Fills the body of our announcement into `body` (already
     * typed and zeroed): sockets and apps with wv_msg_add_socket/_app, and
     * the certificate fingerprint. Discovery sets site, instance, seq and ts
     * and disposes of body afterwards. Return 0, or a negative error to skip
     * this announcement. */
    int (*local)(wv_discovery *d, wv_msg *body, void *user);
    /* Optional. A peer was added, changed or went offline. */
    void (*peer)(wv_discovery *d, const wv_peer *p, enum wv_peer_event ev, void *user);
    /* Optional. Broker connection state changed. */
    void (*state)(wv_discovery *d, bool connected, void *user);
    /* Optional. A pin was made, moved, approved, held or refused another
     * key (persist WV_PIN_NEW/ROTATED/APPROVED/HELD). */
    void (*pin)(wv_discovery *d, const wv_pin *p, enum wv_pin_event ev, void *user);
    /* Optional. Hole punching with site: send to its candidates now. Fires
     * for a trusted peer's punch-request (after our reply went out) and for
     * the reply to our own punch-request (after the peer table took the
     * candidates it carries). */
    void (*punch)(wv_discovery *d, const char *site, void *user);
} wv_discovery_callbacks;

/* Validates the options and creates the MQTT client (not yet connected).
 * Returns 0, WV_ERR_INVAL (bad site/topic/brokers, no local callback) or
 * WV_ERR_CRYPTO. */
int wv_discovery_new(uv_loop_t *loop, wv_log *log, const wv_discovery_options *opts,
                     const wv_discovery_callbacks *cb, void *user, wv_discovery **out);

/* Connects, subscribes and announces (again after every reconnect). */
int wv_discovery_start(wv_discovery *d);

/* Our state changed: publish a new announcement (seq + 1) now, or on the
 * next connect if the broker is away. 0, or the error of `local`. */
int wv_discovery_announce(wv_discovery *d);

/* Asks a known peer for fresh socket info (its answer arrives as
 * WV_PEER_CHANGED). 0, WV_ERR_NOTFOUND, WV_ERR_AGAIN (not connected). */
int wv_discovery_request_sockinfo(wv_discovery *d, const char *peer);
/* Asks a known peer to punch: it answers with its socket info (applied as
 * WV_PEER_CHANGED, then the punch callback fires) and starts sending to our
 * candidates at once. Signed; the peer drops it unless our key is pinned
 * there. 0, WV_ERR_NOTFOUND, WV_ERR_AGAIN (not connected). */
int wv_discovery_request_punch(wv_discovery *d, const char *peer);

/* Seeds the table with a persisted announcement (JSON from
 * wv_discovery_peer_json). The peer starts offline with last_seen_ms 0; an
 * identical announcement from the broker then marks it online. Fires no
 * callback. 0, WV_ERR_PROTO (invalid JSON or not an announcement), WV_ERR_INVAL
 * (our own name), WV_ERR_LIMIT. */
int wv_discovery_seed(wv_discovery *d, const char *json);

/* Removes a peer from the table (no callback). 0 or WV_ERR_NOTFOUND. */
int wv_discovery_forget(wv_discovery *d, const char *name);

/* Loads a persisted pin (before start; no callback). 0, WV_ERR_INVAL (bad
 * name or key), WV_ERR_LIMIT. */
int wv_discovery_pin_load(wv_discovery *d, const char *site, const char *key_hex, bool pending);
/* Blocks an identity key: its messages are dropped whatever name they
 * carry. 0, WV_ERR_INVAL, WV_ERR_LIMIT. */
int wv_discovery_block_key(wv_discovery *d, const char *key_hex);
/* The operator trusts site's pending key, or the key it offered in a
 * conflict: pins it (callback WV_PIN_APPROVED) and applies the held
 * announcement (peer callback). 0, WV_ERR_NOTFOUND (no pending key or
 * conflict for that name). */
int wv_discovery_approve(wv_discovery *d, const char *site);
/* Drops the pin of site (its next announcement is a first use again,
 * unless its key is blocked). 0 or WV_ERR_NOTFOUND. */
int wv_discovery_unpin(wv_discovery *d, const char *site);
size_t wv_discovery_pin_count(const wv_discovery *d);
const wv_pin *wv_discovery_pin_at(const wv_discovery *d, size_t i);
const wv_pin *wv_discovery_pin_find(const wv_discovery *d, const char *site);
/* Our own identity key, hex. */
const char *wv_discovery_own_key(const wv_discovery *d);

size_t wv_discovery_peer_count(const wv_discovery *d);
const wv_peer *wv_discovery_peer_at(const wv_discovery *d, size_t i);
const wv_peer *wv_discovery_peer_find(const wv_discovery *d, const char *name);
/* The peer's last valid announcement as JSON, to persist; free() it. */
char *wv_discovery_peer_json(const wv_peer *p);

bool wv_discovery_is_connected(const wv_discovery *d);
const char *wv_discovery_instance(const wv_discovery *d);
/* Our own announcement topic segment (the HMAC of our name), for tests and
 * diagnostics. */
const char *wv_discovery_site_hash(const wv_discovery *d);
void wv_discovery_get_stats(wv_discovery *d, wv_discovery_stats *out);

/* Clean stop: publishes our offline record retained, disconnects, frees.
 * close_cb (optional) fires once on the loop thread; d is freed right after
 * it returns. No peer/state callback fires after this call. */
typedef void (*wv_discovery_close_cb)(wv_discovery *d, void *user);
void wv_discovery_close(wv_discovery *d, wv_discovery_close_cb close_cb);

#endif
