#ifndef WV_ANNOUNCE_H
#define WV_ANNOUNCE_H
/* The message-channel codec: the JSON plaintext inside every envelope, and
 * the replay rules. Pure functions over buffers and structs (sans-I/O), safe
 * on any thread; the replay cache is not thread-safe (one owner).
 *
 *   announce          {type, site, instance, seq, ts, sockets:[{address, port,
 *                      protocol:"quic", detected}], apps:[name], fingerprint}
 *   offline           {type, site, instance, seq, ts}
 *   sockinfo-request  {type, from, to, instance, seq, ts}
 *   sockinfo-reply    the announce fields plus "to" (sent to the requester's inbox)
 *
 * instance: 32 lower-case hex chars, random per start. seq: per-instance
 * counter, never reused. ts: unix time in ms. fingerprint: SHA-256 of the
 * site's certificate, 64 lower-case hex chars. Parsing is strict: unknown
 * types or fields, wrong JSON types and out-of-bound values are refused. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WV_NAME_MAX 255
#define WV_ADDRESS_MAX 253
#define WV_ANNOUNCE_MAX_SOCKETS 64
#define WV_ANNOUNCE_MAX_APPS 4096
#define WV_INSTANCE_HEX_LEN 32
#define WV_FINGERPRINT_HEX_LEN 64
/* Inbox messages outside now ± this are dropped. */
#define WV_INBOX_WINDOW_MS 60000

enum wv_msg_type {
    WV_MSG_ANNOUNCE = 1,
    WV_MSG_OFFLINE,
    WV_MSG_SOCKINFO_REQUEST,
    WV_MSG_SOCKINFO_REPLY,
};

typedef struct wv_msg_socket {
    char address[WV_ADDRESS_MAX + 1]; /* IPv4/IPv6 literal or DNS host name */
    uint16_t port;                    /* 1..65535 */
    bool detected;                    /* address found by detection, may change */
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
} wv_msg;

/* The name rule for sites and apps: 1..255 chars of [A-Za-z0-9._-], the
 * first alphanumeric. */
bool wv_name_valid(const char *s);

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

#endif
