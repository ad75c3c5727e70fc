#ifndef WV_PROXY_INT_H
#define WV_PROXY_INT_H
/* Internals shared by proxy.c (splice, client side, lifetimes) and
 * proxy_exposed.c (header, app lookup, range check, connect). Not an API. */
#include "wv/apps.h"
#include "wv/base.h"
#include "wv/tunnel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUB "proxy"
#define RBUF_SIZE 65536
/* Stream data for the local socket is gathered into chunks of this size and
 * written once per loop pass: one write per received packet (~1.4 KB) made
 * tcp_sendmsg the agent's largest cost. */
#define WCHUNK_SIZE 65536
#define WCHUNK_FIRST 2048 /* the first chunk of a pass starts at this size */
#define HBUF_SIZE (WV_FRAME_MAX + 2)

enum pstate {
    P_HEADER,     /* exposed: waiting for the header frame */
    P_CONNECTING, /* exposed: connecting to the app */
    P_STATUS,     /* client: header sent, waiting for the status frame */
    P_SPLICE,     /* bytes flow both ways */
    P_REFUSED,    /* exposed: error status queued, FIN follows */
    P_DEAD,       /* aborted or closed; waiting for the handles and the stream */
};

typedef struct pconn pconn;

/* One chunk of stream data on its way to the local socket. */
typedef struct wreq {
    uv_write_t req;
    pconn *c;
    struct wreq *next; /* while queued, not yet handed to libuv */
    size_t len, cap;
    uint8_t data[];
} wreq;

struct pconn {
    const struct wv_stream_ops *ops; /* first member: tunnel.h convention */
    wv_proxy *p;
    pconn *prev, *next;
    enum pstate st;
    bool exposed;
    char name[256]; /* exposed: app; client: remote app */
    char peer[256]; /* exposed: peer site; client: the peer's app (for logs) */
    wv_quic_conn *qc;
    int64_t sid;
    bool stream_live; /* the stream is ours until its close event */

    uv_stream_t *sock; /* wv_malloc'ed uv_tcp_t / uv_pipe_t, NULL before connect */
    bool sock_unix, sock_open, sock_connected;
    uv_connect_t creq;
    uv_shutdown_t sreq;
    uv_timer_t timer;
    bool timer_open;
    int handles; /* open libuv handles */

    uint8_t *hbuf; /* header/status frame being assembled */
    size_t hlen;

    /* tunnel -> local */
    wreq *qhead, *qtail;  /* not yet issued: local side connecting, or until the flush pass */
    pconn *fprev, *fnext; /* in p->flushq while data waits for the flush pass */
    bool flush_listed;
    size_t in_pending; /* received, not yet written and consumed */
    bool peer_fin, shut_started, shut_done;

    /* local -> tunnel */
    uint8_t *rbuf;     /* RBUF_SIZE, allocated at the first read or short write */
    size_t roff, rlen; /* rbuf[roff..rlen) is not yet accepted by the stream */
    size_t ctrl_left;  /* leading bytes of that remainder that are a frame, not payload */
    bool reading, local_eof, fin_sent;

    struct wv_app_counters *counters; /* the app's, one reference; NULL: not counted */
    bool counted;                     /* counted as active (decremented when the connection ends) */
    size_t buffered;

    /* What wv_proxy_each_conn shows of it. */
    uint64_t id;
    int64_t started_ms;              /* wall clock */
    uint64_t bytes_in, bytes_out;    /* this connection's share of the counters */
    char site[256];                  /* client side: the peer site (exposed: see peer) */
    char addr[WV_ADDR_STRLEN + 80];  /* client: the local client; exposed: the target */
};

struct wv_proxy {
    uv_loop_t *loop;
    wv_log *log;
    struct wv_proxy_options o;
    struct wv_proxy_callbacks cbs;
    void *user;
    pconn *conns;
    struct wv_proxy_stats stats;
    uint64_t next_id;
    /* Owned only so that wv_proxy_close() can finish asynchronously even
     * with no connection left. Never started. */
    uv_timer_t closer;
    bool closing, closer_closed, flusher_closed;
    /* Issues the gathered local writes once per loop pass (check phase,
     * after the packets of this pass were read). */
    uv_check_t flusher;
    pconn *flushq;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* proxy.c */
pconn *wv_apps__new(wv_proxy *p, bool exposed);
void wv_apps__adj_buffered(pconn *c, long delta);
/* Adds bytes to the app's counters; delta +1 (connection started: active,
 * and connections on the exposed side) or -1 (it ended). */
void wv_apps__count(pconn *c, uint64_t in, uint64_t out, int delta);
void wv_apps__drop_queue(pconn *c);
void wv_apps__close_timer(pconn *c);
void wv_apps__close_sock(pconn *c, bool rst);
void wv_apps__end(pconn *c, bool rst);   /* reset the stream, close the handles */
void wv_apps__abort(pconn *c, bool rst); /* wv_apps__end, counted as an abort */
bool wv_apps__push_out(pconn *c, const uint8_t *data, size_t len, bool frame);
void wv_apps__send_fin(pconn *c);
void wv_apps__start_reading(pconn *c);
void wv_apps__maybe_shutdown(pconn *c);
/* Writes the queued chunks (st must be P_SPLICE); drops them otherwise. */
void wv_apps__issue_queued(pconn *c);
void wv_apps__flush_unlist(pconn *c);
void wv_apps__clean(char *dst, size_t cap, const char *src);

/* proxy_exposed.c */
void wv_apps__refuse(pconn *c, const char *code, const char *message);
void wv_apps__on_header(pconn *c, json_t *obj);

#endif
