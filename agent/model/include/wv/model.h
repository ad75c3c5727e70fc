#ifndef WV_MODEL_H
#define WV_MODEL_H
/* The one validator of desired state, used by import, the store and the
 * REST API so their rules never diverge. Pure functions over jansson values
 * in the canonical shape (docs/CONFIG.md, "Canonical document").
 *
 * Validation normalizes in place: defaults are filled in, bare "IP:PORT"
 * app sockets become "tcp:IP:PORT", numeric portRange entries become
 * strings, dedicated-address ports are completed. Normalizing an already
 * normalized object changes nothing, so stored objects compare with
 * json_equal(). */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

enum wv_kind {
    WV_KIND_SITE = 0,
    WV_KIND_SOCKET,      /* "tunnelSockets" / tunnel-sockets */
    WV_KIND_EXPOSED_APP, /* "exposedApps" / exposed-apps */
    WV_KIND_REMOTE_APP,  /* "remoteApps" / remote-apps */
};

/* The document key ("tunnelSockets"...), and the singular noun for messages. */
const char *wv_kind_key(enum wv_kind kind);
const char *wv_kind_noun(enum wv_kind kind);

/* A validation failure: the JSON path of the field and why, e.g.
 * field "tunnelSockets[0].mode",
 * message "unsupported value \"bogus\" (dedicated-address, port-forwarding)". */
typedef struct wv_verr {
    char field[256];
    char message[512];
} wv_verr;

/* Validates and normalizes one object of kind (not WV_KIND_SITE). Field
 * paths in err are relative to the object ("localSocket"). 0 or
 * WV_ERR_INVAL. Unknown fields and read-only fields other than "status"
 * are refused; "status" is removed. */
int wv_validate_object(enum wv_kind kind, json_t *obj, wv_verr *err);

/* Validates and normalizes the site object. A "networkKey" or a password may
 * be absent when want_secrets is false (the stored value is then kept);
 * "networkKeySet"/"passwordSet" markers are accepted and removed. */
int wv_validate_site(json_t *site, bool want_secrets, wv_verr *err);

/* Validates a whole document {site, tunnelSockets, exposedApps, remoteApps}:
 * every object, and names unique within each collection. Missing collections
 * become empty arrays. Paths are absolute ("remoteApps[2].localSocket"). */
int wv_validate_document(json_t *doc, bool want_secrets, wv_verr *err);

/* A remote app's "maxConnections": connections it may have open at once.
 * Optional; absent means the default. */
/* The network-key rule (issue 17): at least 16 characters, at least 8 of
 * them different, from at least 3 of the classes lower-case, upper-case,
 * digit, other; or a passphrase of at least 24 characters with at least 10
 * different ones. At most 255 bytes. NULL when key passes, else the rule
 * as a sentence (static). The upstream's 16-character sample keys pass. */
const char *wv_network_key_weak(const char *key);
#define WV_NETWORK_KEY_RULE                                                                     \
    "the network key must have at least 16 characters, at least 8 of them different, "         \
    "with at least 3 of: lower-case letters, upper-case letters, digits, other characters "    \
    "(or be a passphrase of at least 24 characters, 10 of them different); "                   \
    "`wovenet key generate` prints a strong one"

/* Exposed apps: concurrent connections when maxConnections is absent, and
 * the bound of allowedSites. */
#define WV_EXPOSED_MAX_CONNS_DEFAULT 512
#define WV_MAX_ALLOWED_SITES 256
/* Site limits (site.limits, all optional; docs/CONFIG.md): defaults. */
#define WV_LIMIT_STREAMS_PER_PEER 1024    /* app streams one peer site may have open here */
#define WV_LIMIT_DIAL_PEERS 256           /* peer sites dialed at once */
#define WV_LIMIT_DIAL_SOCKETS_PER_PEER 8  /* announced sockets dialed per peer */
#define WV_LIMIT_DIALS_PER_SECOND 20      /* new outbound dials per second (burst 2x) */
#define WV_LIMIT_RELAY_PEERS 32           /* sites a relay forwards for at once */
#define WV_LIMIT_RELAY_BYTES_PER_SECOND 12500000 /* bytes a relay forwards per second, all sites */

/* nat-traversal sockets: "keepAlive", seconds between QUIC PINGs on a quiet
 * channel, which keep the NAT's UDP mapping open (optional; absent: the
 * agent's channel keep-alive, 2.5 s; always below a NAT's UDP timeout,
 * commonly 30 s for a flow that never answered and 120 s or more after). */
#define WV_NAT_KEEPALIVE_MAX_S 25

/* Receive windows grow toward the path's bandwidth-delay product up to
 * these caps (MiB): ~1.3 Gbit/s x 200 ms per stream, twice that per
 * channel (16 MiB held one stream to 450 Mbit/s at 200 ms, 32 to 620:
 * docs/PERFORMANCE.md); every channel's window together stays within the
 * budget. */
#define WV_LIMIT_STREAM_WINDOW_MIB 32
#define WV_LIMIT_CHANNEL_WINDOW_MIB 64
#define WV_LIMIT_BUFFER_BUDGET_MIB 256

/* restfulApi.allowedHosts: extra Host names the API answers to. */
#define WV_MAX_ALLOWED_HOSTS 32
#define WV_REMOTE_MAX_CONNS_DEFAULT 512
#define WV_REMOTE_MAX_CONNS_LIMIT 65536

/* Names of collection objects, sites and apps: 1..WV_NAME_MAX bytes of
 * [A-Za-z0-9._-], starting with a letter or digit. NULL is not a name. */
#define WV_NAME_MAX 255
bool wv_valid_name(const char *s);

/* --- Parsers shared with the runtime -------------------------------------- */

/* An app or local socket: "tcp:IP:PORT" ("tcp:[v6]:PORT") or "unix:PATH". */
struct wv_app_socket {
    bool is_unix;
    char path[108];               /* unix */
    struct sockaddr_storage addr; /* tcp: address and port */
};
/* Parses a normalized or bare socket string. 0 or WV_ERR_INVAL with a reason
 * in why (may be NULL, at least 128 bytes). */
int wv_parse_app_socket(const char *s, struct wv_app_socket *out, char *why);

/* "N" or "N-M", 1 <= N <= M <= 65535. */
int wv_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);

/* An IP or CIDR ("10.0.2.0/24", "::1", "2001:db8::/32"). family is AF_INET
 * or AF_INET6; addr holds 4 or 16 bytes, host bits cleared. */
struct wv_cidr {
    int family;
    uint8_t addr[16];
    uint8_t prefix;
};
int wv_parse_cidr(const char *s, struct wv_cidr *out);
/* Does the address (sockaddr_in or sockaddr_in6) fall inside the CIDR? */
bool wv_cidr_contains(const struct wv_cidr *c, const struct sockaddr *sa);

/* An IP literal (no brackets) into sockaddr with port. 0 or WV_ERR_INVAL. */
int wv_parse_ip(const char *s, uint16_t port, struct sockaddr_storage *out);
/* "ADDR:PORT" / "[v6]:PORT" (API listen addresses). */
int wv_parse_hostport(const char *s, struct sockaddr_storage *out);

/* A lifetime ("30d", "12h", "90m", "3600s", "2w", or a bare number of
 * seconds) in seconds; 0 for "never". -1 when unparsable, zero-length or
 * over ten years. Token expiries (CLI and API) use it. */
long long wv_parse_duration(const char *s);

#endif
