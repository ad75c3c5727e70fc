#ifndef WV_DISCOVERY_H
#define WV_DISCOVERY_H
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
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "announce.h"
#include "keys.h"
#include "log.h"
#include "mqtt.h"

#define WV_DISCOVERY_DEFAULT_MAX_PEERS 4096
#define WV_TOPIC_MAX 200
/* Announcements dated further ahead than this are refused. */
#define WV_MAX_CLOCK_SKEW_MS (10 * 60 * 1000)

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

typedef struct wv_discovery_stats {
    uint64_t decrypt_failures; /* bad envelope: wrong key, tampered, truncated, garbage */
    uint64_t parse_failures;   /* opened but not a valid message for that topic */
    uint64_t replays;          /* older than held, outside the window, or seen before */
    uint64_t oversize;         /* dropped by the MQTT layer for size */
    uint64_t announcements;    /* announcements we published */
    uint64_t requests_answered;
} wv_discovery_stats;

typedef struct wv_discovery_options {
    const char *site;    /* our site name (wv_name_valid) */
    const char *topic;   /* the network's topic prefix, e.g. "wovenet/home"; no + or # */
    const wv_keys *keys; /* copied; the copy is wiped on free */
    /* Brokers, credentials, CA file, keepalive. The will_* fields are
     * ignored: discovery sets the Last Will itself. */
    wv_mqtt_options mqtt;
    size_t max_peers;           /* 0 = default; announcements of further sites are dropped */
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

/* Seeds the table with a persisted announcement (JSON from
 * wv_discovery_peer_json). The peer starts offline with last_seen_ms 0; an
 * identical announcement from the broker then marks it online. Fires no
 * callback. 0, WV_ERR_PROTO (invalid JSON or not an announcement), WV_ERR_INVAL
 * (our own name), WV_ERR_LIMIT. */
int wv_discovery_seed(wv_discovery *d, const char *json);

/* Removes a peer from the table (no callback). 0 or WV_ERR_NOTFOUND. */
int wv_discovery_forget(wv_discovery *d, const char *name);

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
