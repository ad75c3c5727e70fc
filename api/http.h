#ifndef WV_HTTP_H
#define WV_HTTP_H
/* The HTTP server core: libmicrohttpd driven from our libuv loop.
 *
 * MHD runs in epoll mode with no thread of its own; its epoll fd is watched
 * by a uv_poll and a uv_timer re-armed from MHD_get_timeout() after every
 * MHD_run(), so every callback below fires on the loop thread.
 *
 * The core owns routing (method + path pattern with {name} segments),
 * body accumulation under a size bound (413), the JSON content-type rule
 * (415), JSON parsing (400), 404 and 405 with Allow, and the error body
 * {"error": {"code", "message", "field"}}. Handlers receive a request that
 * is complete and parsed, and must answer it exactly once with one of the
 * wv_http_reply_* functions (or suspend it, see wv_http_req_suspend). */
#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "wv/base.h"

typedef struct wv_http wv_http;
typedef struct wv_http_req wv_http_req;

struct wv_http_opts {
    const struct sockaddr *listen; /* copied; port 0 picks one (see wv_http_port) */
    const char *tls_cert_pem;      /* both NULL: plain HTTP; copied */
    const char *tls_key_pem;
    unsigned max_connections; /* 0: 256 */
    unsigned per_ip_limit; /* concurrent connections per client IP (an IPv6 one: per /64); 0: 128 */
    unsigned timeout_s;    /* idle connection timeout (slowloris); 0: 30 */
    size_t max_body;       /* 0: 1 MiB */
    size_t max_header;     /* per-connection header memory; 0: 16 KiB */
    /* Requests per second per client IP (token bucket of rate_burst); over
     * it a request answers 429 with Retry-After. 0: 100/s, burst 0: 4 x
     * rate. Loopback clients are exempt unless rate_loopback is set (a
     * local user can already reach the store; benchmarks run there). */
    unsigned rate_per_s, rate_burst;
    bool rate_loopback;
    /* Optional, at least WV_HTTP_WHY_LEN bytes: receives why wv_http_start
     * failed, naming the cause ("127.0.0.1:18080: address already in use",
     * "the TLS certificate or key is invalid: ..."). Not copied: must
     * outlive wv_http_start. */
    char *why;
};
#define WV_HTTP_WHY_LEN 256

/* A handler answers req (or suspends it). user is the route's user. */
typedef void (*wv_http_handler)(wv_http_req *req, void *user);

/* The gate runs before every handler whose route is not WV_ROUTE_PUBLIC,
 * and for unknown paths (so they answer 401, not 404, to strangers).
 * It returns true to let the request through; false when it has answered
 * or suspended the request. A suspended request comes back to the gate
 * after wv_http_req_resume(). */
typedef bool (*wv_http_gate)(wv_http_req *req, void *user);

enum {
    WV_ROUTE_PUBLIC = 1,  /* no gate (health probes, static assets) */
    WV_ROUTE_PREFIX = 2,  /* pattern matches itself and anything below it */
    WV_ROUTE_RAWBODY = 4, /* do not require/parse a JSON body */
};

/* Creates the server (not yet listening). Copies opts. 0 or WV_ERR_INVAL. */
int wv_http_new(uv_loop_t *loop, wv_log *log, const struct wv_http_opts *opts, wv_http **out);
/* Routes are tried in the order added. pattern: "/api/v1/remote-apps/{name}".
 * method: "GET", "PUT"...; GET routes also answer HEAD. Strings are not
 * copied (use literals). 0, WV_ERR_LIMIT (too many routes). */
int wv_http_route(wv_http *h, const char *method, const char *pattern, unsigned flags,
                  wv_http_handler fn, void *user);
void wv_http_set_gate(wv_http *h, wv_http_gate gate, void *user);
/* Binds and starts serving. 0, WV_ERR_INVAL (the TLS key or certificate
 * does not load) or WV_ERR_IO (cannot bind); the cause is logged and
 * written to opts->why. */
int wv_http_start(wv_http *h);
/* The bound port (after start). */
uint16_t wv_http_port(wv_http *h);
/* True once wv_http_close() was called: gates and handlers should answer
 * suspended work quickly with 503. */
bool wv_http_closing(wv_http *h);
/* Resumes every suspended connection, stops MHD and closes the libuv
 * handles; cb fires once on the loop when they are closed, then h is freed.
 * Must not be called from inside an HTTP callback. */
void wv_http_close(wv_http *h, void (*cb)(void *arg), void *arg);

/* Every request's Host header must be an IP literal, "localhost", or one
 * of these names (case-insensitive, any port), else it is answered 403
 * host_not_allowed: a DNS-rebinding page can only send its own name.
 * Replaces the list (copied). */
void wv_http_set_allowed_hosts(wv_http *h, const char *const *names, size_t n);
/* Requests refused for their Host header, total. */
uint64_t wv_http_host_refused(wv_http *h);
/* Connections refused: their IPv6 /64 already held per_ip_limit. */
uint64_t wv_http_net64_refused(wv_http *h);

/* Counts of answered requests by status code, for /metrics. */
uint64_t wv_http_count(wv_http *h, unsigned status);
/* Requests refused by the per-client rate limit (429), total. */
uint64_t wv_http_rate_limited(wv_http *h);

/* --- Requests --------------------------------------------------------------------- */
const char *wv_http_req_method(wv_http_req *r);
const char *wv_http_req_path(wv_http_req *r);
/* The i-th {param} of the matched pattern, URL-decoded; NULL if none. */
const char *wv_http_req_param(wv_http_req *r, unsigned i);
/* A request header or query argument; NULL if absent. */
const char *wv_http_req_header(wv_http_req *r, const char *name);
const char *wv_http_req_query(wv_http_req *r, const char *name);
/* The parsed JSON body (borrowed), NULL for requests without one. */
json_t *wv_http_req_json(wv_http_req *r);
/* The raw body (borrowed, NUL-terminated, *len bytes; "" when none), for
 * WV_ROUTE_RAWBODY routes that read other types than JSON. */
const char *wv_http_req_body(wv_http_req *r, size_t *len);
/* The client's address as text ("127.0.0.1"); never NULL. */
const char *wv_http_req_ip(wv_http_req *r);
/* The key of per-client limits (request rate, failed authentications):
 * the IPv4 address, or the IPv6 /64 ("2001:db8:1:2::/64"). */
const char *wv_http_req_client_key(wv_http_req *r);
struct MHD_Connection *wv_http_req_conn(wv_http_req *r);
wv_http *wv_http_req_server(wv_http_req *r);

/* Per-request slot for the gate's state; free_fn runs when the request
 * ends (also when the client goes away). */
void wv_http_req_set_gate_state(wv_http_req *r, void *state, void (*free_fn)(void *));
void *wv_http_req_gate_state(wv_http_req *r);

/* Suspends the request (the gate waits for slow work); resume re-runs the
 * gate and handler from the loop. Resume is safe to call from any loop
 * callback (MHD_run is deferred to the next loop turn). */
void wv_http_req_suspend(wv_http_req *r);
void wv_http_req_resume(wv_http_req *r);

/* --- Answers ------------------------------------------------------------------- */
/* Adds a header to the coming answer (copied; up to 8 per request). */
void wv_http_add_header(wv_http_req *r, const char *name, const char *value);
/* Answers with body as JSON (reference stolen; NULL: no body). */
void wv_http_reply_json(wv_http_req *r, unsigned status, json_t *body);
/* Answers with JSON text already serialized (copied). */
void wv_http_reply_json_text(wv_http_req *r, unsigned status, const char *text, size_t len);
/* Answers {"error": {"code", "message"[, "field"]}}. field may be NULL. */
void wv_http_reply_error(wv_http_req *r, unsigned status, const char *code, const char *field,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Answers with bytes: copied unless static_data (then they must outlive
 * the server). */
void wv_http_reply_bytes(wv_http_req *r, unsigned status, const char *content_type,
                         const void *data, size_t len, bool static_data);
/* Answers with a prepared response (reference taken over). */
void wv_http_reply_response(wv_http_req *r, unsigned status, struct MHD_Response *resp);
bool wv_http_replied(wv_http_req *r);

/* If-Match: 0 with *rev = -1 (absent or "*") or the revision in "\"N\"";
 * WV_ERR_INVAL if the header cannot match any revision (answer 412). */
int wv_http_if_match(wv_http_req *r, int64_t *rev);
/* Does If-None-Match name this ETag (or "*")? Then answer 304. */
bool wv_http_if_none_match(wv_http_req *r, int64_t rev);
/* Adds ETag: "\"<rev>\"". */
void wv_http_set_etag(wv_http_req *r, int64_t rev);

/* --- Suspension of raw connections (server-sent events) ------------------------ */
/* A node for a connection suspended outside the request flow (e.g. an SSE
 * content reader with nothing to send). Embedded by the user; zeroed. */
struct wv_http_susp {
    struct MHD_Connection *conn;
    struct wv_http_susp *prev, *next;
    bool active;
};
void wv_http_suspend_conn(wv_http *h, struct wv_http_susp *s, struct MHD_Connection *conn);
/* No-op when s is not suspended. Schedules MHD_run on the next loop turn. */
void wv_http_resume_conn(wv_http *h, struct wv_http_susp *s);

#endif
