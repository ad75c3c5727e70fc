/* The HTTP server's own types, shared by http.c (the server: libuv glue,
 * routing, dispatch, life cycle) and http_req.c (a request's accessors and
 * answers). Private to api/. */
#pragma once

#include "http.h"
#include "ratelimit.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "wv/base.h"

#define SUB "api"
#define MAX_ROUTES 64
#define MAX_PARAMS 2
#define MAX_HDRS 8
/* A chunked body over the limit is read and dropped (MHD cannot answer
 * mid-upload); past this much we stop being polite and close. */
#define DISCARD_LIMIT (8u << 20)
#define RATE_SLOTS 256 /* clients tracked by the rate limit at once */

struct route {
    const char *method;
    const char *pattern;
    unsigned flags;
    wv_http_handler fn;
    void *user;
};

struct wv_http {
    uv_loop_t *loop;
    wv_log *log;
    struct wv_http_opts opts;
    struct sockaddr_storage addr;
    char *cert, *key;
    struct MHD_Daemon *d;
    uv_poll_t poll;
    uv_timer_t timer;
    bool poll_init, kick, closing;
    int open_handles;
    void (*close_cb)(void *);
    void *close_arg;
    struct route routes[MAX_ROUTES];
    unsigned nroutes;
    wv_http_gate gate;
    void *gate_user;
    struct wv_http_susp *suspended; /* list head */
    uint64_t counts[600];
    wv_ratelimit *rl;
    uint64_t rate_limited;
    char **allowed_hosts; /* extra Host names (restfulApi.allowedHosts) */
    size_t nallowed;
    uint64_t host_refused;
    /* Open connections per IPv6 /64 (MHD's own per-client limit counts
     * exact addresses, and a subscriber holds a whole /64). */
    struct wv_http_net64 {
        uint8_t prefix[8];
        unsigned n; /* 0: a free entry */
    } * net64;
    uint64_t net64_refused;
};

struct wv_http_req {
    wv_http *h;
    struct MHD_Connection *conn;
    const char *method; /* MHD's, valid for the request */
    char *path;
    char *params[MAX_PARAMS];
    const struct route *route;
    bool resolved, replied, suspended, too_big;
    bool rate_checked; /* a resumed request is not counted twice */
    char allow[64];
    struct wv_buf body;
    size_t discarded;
    json_t *json;
    struct {
        char *name, *value;
    } hdrs[MAX_HDRS];
    unsigned nhdrs;
    void *gate_state;
    void (*gate_free)(void *);
    struct wv_http_susp susp;
    char ip[INET6_ADDRSTRLEN];
    char ckey[INET6_ADDRSTRLEN + 4]; /* the limits' key: the IPv4 address, or the IPv6 /64 */
};
