#ifndef WV_DETECT_H
#define WV_DETECT_H
/* Public-address detection for tunnel sockets whose publicAddress is
 * "autoHttpDetect" or "autoStunDetect", and the STUN mapping of
 * nat-traversal sockets that name stunServers (docs/CONFIG.md, NAT.md).
 *
 * HTTP: GET httpDetector.url with libcurl on a libuv worker thread (one
 * request at a time per socket, 5 s timeout, at most 256 body bytes, HTTP
 * 200 only); the body, trimmed, must be one IP literal of the socket's
 * family. The announced port is the socket's publicPort.
 *
 * STUN: a Binding request (stun.h) sent from the tunnel socket itself
 * through wv_quic_endpoint_send_raw(), so the mapped address and port are
 * that socket's NAT binding; retransmitted after 500 ms and 1 s, given up
 * 2 s after the third send, then the next server in order (host names are
 * resolved to the socket's family on libuv's pool). The announced
 * port is the mapped one, except in port-forwarding mode where the
 * configured publicPort (the forward) stays.
 *
 * Detection runs at once when a socket appears or its configuration
 * changes, then every interval (httpDetector.interval, default 60 s; 60 s
 * for STUN); after a failure it retries within 15 s. A failure keeps the
 * last detected address (the old one may still work).
 *
 * Threads: every call and callback on the loop thread. */
#include "wv/base.h"
#include "wv/quic.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define WV_DETECT_MAX_BODY 256
#define WV_DETECT_HTTP_TIMEOUT_MS 5000
#define WV_DETECT_STUN_INTERVAL_S 60
/* nat-traversal sockets: a changed mapping must be seen before peers give up. */
#define WV_DETECT_NAT_INTERVAL_S 20
#define WV_DETECT_RETRY_S 15

typedef struct wv_detect wv_detect;

struct wv_detect_callbacks {
    /* The detected address or port of tunnel socket name changed. */
    void (*changed)(wv_detect *d, const char *name, void *user);
    /* The bound QUIC endpoint of tunnel socket name, or NULL (STUN sends
     * from it). Called at every send; the pointer is not kept. */
    wv_quic_endpoint *(*endpoint)(wv_detect *d, const char *name, void *user);
};

/* cbs is copied. log may be NULL and must outlive d. 0 or WV_ERR_IO
 * (libcurl failed to initialise). */
int wv_detect_new(uv_loop_t *loop, wv_log *log, const struct wv_detect_callbacks *cbs, void *user,
                  wv_detect **out);
/* Stops every detector; no callback after. A request in flight finishes on
 * its worker and is discarded; timers are released by the loop. */
void wv_detect_free(wv_detect *d);

/* sockets: the stored tunnel sockets (array of validated objects, only
 * read). Detectors start for new auto sockets, restart for changed ones,
 * stop for the others. */
void wv_detect_set_sockets(wv_detect *d, const json_t *sockets);

/* The detected address (IP literal) and port to announce for name: 0;
 * WV_ERR_AGAIN while none is known yet; WV_ERR_NOTFOUND if name has no
 * detector. */
int wv_detect_get(wv_detect *d, const char *name, char *addr, size_t addrlen, uint16_t *port);

/* {method, state: detecting|detected|failed, publicAddress?, publicPort?,
 * error?} for the API, or NULL if name has no detector. Caller owns it. */
json_t *wv_detect_status(wv_detect *d, const char *name);

struct wv_detect_stats {
    uint64_t detections, failures, changes;
    uint64_t mappings, mapping_failures, mapping_renewals; /* router port mappings */
};
void wv_detect_get_stats(wv_detect *d, struct wv_detect_stats *out);

/* This host's addresses of family (AF_INET, AF_INET6) that a peer could
 * reach directly: up interfaces, no loopback, link-local or multicast.
 * Canonical literals into out[0..max); returns how many. The host
 * candidates of a nat-traversal socket bound to the unspecified address. */
size_t wv_detect_host_addresses(int family, char (*out)[INET6_ADDRSTRLEN], size_t max);

/* Port mappings (nat-traversal sockets with "portMapping": upnp, natpmp
 * or auto = UPnP-IGD, else NAT-PMP): a UDP port the router forwards to
 * the socket's bound port (asked for the same external port), with
 * libminiupnpc / libnatpmp on libuv's pool; renewed at half its lifetime
 * (portMappingLifetime, default 3600 s), retried 30 s after a failure,
 * removed at the router when the socket goes or wv_detect_free runs (the
 * removal finishes on the pool while the loop runs). A mapping made,
 * changed or lost fires `changed`. */
#define WV_DETECT_MAPPING_LIFETIME_S 3600
/* The router's public address and the mapped port: 0, WV_ERR_AGAIN (none
 * yet or lost), WV_ERR_NOTFOUND (the socket asks for none). */
int wv_detect_mapping(wv_detect *d, const char *name, char *addr, size_t addrlen,
                      uint16_t *port);
/* {method, state: mapping|mapped|failed, publicAddress?, publicPort?,
 * renewals, error?} or NULL. Caller owns it. */
json_t *wv_detect_mapping_status(wv_detect *d, const char *name);

/* Runs the STUN detection of socket name again now (its NAT mapping may
 * have changed: a punched channel died). No-op without a STUN detector or
 * while one runs. */
void wv_detect_refresh(wv_detect *d, const char *name);

/* Pure: an HTTP detector's response body (len bytes, not NUL-terminated)
 * to a canonical IP literal in out_ip. Leading and trailing whitespace is
 * ignored; anything else must be one IPv4 or IPv6 literal, not unspecified
 * and not multicast. 0; WV_ERR_TOOBIG (len > WV_DETECT_MAX_BODY);
 * WV_ERR_INVAL (anything else, or outlen too small). */
int wv_detect_parse_http_body(const char *buf, size_t len, char *out_ip, size_t outlen);

#endif
