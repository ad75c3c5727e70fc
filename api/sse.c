/* Server-sent events hub (see sse.h). */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

#include "wv/base.h"

struct client {
    wv_sse_hub *hub;
    struct client *prev, *next;
    struct MHD_Connection *conn;
    struct wv_http_susp susp;
    struct wv_buf q; /* queued event text; q.p[off..] not yet read by MHD */
    size_t off;
    bool dropped;
};

struct wv_sse_hub {
    wv_http *http;
    uv_timer_t timer;
    size_t max_queue;
    struct client *clients;
    unsigned nclients, max_clients;
    uint64_t refused;
    bool closing, timer_closed;
};

static void maybe_free(wv_sse_hub *hub) {
    if (hub->closing && hub->timer_closed && hub->nclients == 0)
        free(hub);
}

/* Appends to the client's queue; a client that cannot keep up is dropped
 * rather than buffered without bound. */
static void push(struct client *c, const char *data, size_t n) {
    if (c->dropped)
        return;
    wv_buf_consume(&c->q, c->off);
    c->off = 0;
    if (c->q.len + n > c->hub->max_queue) {
        /* MHD only asks the reader for more once the socket drains, which a
         * stuck client never lets happen: shorten its idle timeout so MHD
         * closes it soon instead. */
        c->dropped = true;
        MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
    } else {
        wv_buf_add(&c->q, data, n);
    }
    wv_http_resume_conn(c->hub->http, &c->susp);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
    struct client *c = cls;
    if (c->dropped || c->hub->closing)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (c->q.len > c->off) {
        size_t n = WV_MIN(max, c->q.len - c->off);
        memcpy(buf, c->q.p + c->off, n);
        c->off += n;
        if (c->off == c->q.len)
            c->off = c->q.len = 0;
        return (ssize_t)n;
    }
    /* Returning 0 without suspending would make MHD spin. */
    wv_http_suspend_conn(c->hub->http, &c->susp, c->conn);
    return 0;
}

static void free_client(void *cls) {
    struct client *c = cls;
    wv_sse_hub *hub = c->hub;
    if (c->susp.active)
        wv_http_resume_conn(hub->http, &c->susp);
    WV_LIST_UNLINK(hub->clients, c);
    hub->nclients--;
    wv_buf_dispose(&c->q);
    free(c);
    maybe_free(hub);
}

static void on_heartbeat(uv_timer_t *t) {
    wv_sse_hub *hub = t->data;
    static const char hb[] = ": heartbeat\n\n";
    for (struct client *c = hub->clients; c; c = c->next)
        push(c, hb, sizeof hb - 1);
}

wv_sse_hub *wv_sse_new(uv_loop_t *loop, wv_http *http, unsigned heartbeat_ms, size_t max_queue) {
    wv_sse_hub *hub = wv_calloc(1, sizeof *hub);
    hub->http = http;
    hub->max_queue = max_queue ? max_queue : 256u << 10;
    hub->max_clients = WV_SSE_MAX_CLIENTS;
    uv_timer_init(loop, &hub->timer);
    hub->timer.data = hub;
    heartbeat_ms = heartbeat_ms ? heartbeat_ms : 15000;
    uv_timer_start(&hub->timer, on_heartbeat, heartbeat_ms, heartbeat_ms);
    return hub;
}

void wv_sse_serve(wv_sse_hub *hub, wv_http_req *req) {
    if (hub->closing) {
        wv_http_reply_error(req, 503, "unavailable", NULL, "the server is shutting down");
        return;
    }
    if (hub->nclients >= hub->max_clients) {
        /* Event streams are long-lived: unbounded, they would take every
         * connection slot of the server. */
        hub->refused++;
        wv_http_add_header(req, "Retry-After", "5");
        wv_http_reply_error(req, 503, "too_many_event_clients", NULL,
                            "%u event streams are open already; retry later", hub->max_clients);
        return;
    }
    struct client *c = wv_calloc(1, sizeof *c);
    c->hub = hub;
    c->conn = wv_http_req_conn(req);
    WV_LIST_PUSH(hub->clients, c);
    hub->nclients++;
    /* An immediate first chunk makes MHD send the headers now, so the
     * client knows it is subscribed before any event happens. */
    static const char hello[] = "retry: 2000\n: connected\n\n";
    push(c, hello, sizeof hello - 1);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, c, free_client);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    wv_http_reply_response(req, 200, resp);
}

void wv_sse_publish(wv_sse_hub *hub, const char *event, json_t *data) {
    if (hub->closing || !hub->clients)
        return;
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return;
    /* JSON_COMPACT escapes newlines inside strings, so the payload is one
     * line, as a data: field needs. */
    char *msg = wv_asprintf("event: %s\ndata: %s\n\n", event, text);
    free(text);
    size_t n = strlen(msg);
    for (struct client *c = hub->clients; c; c = c->next)
        push(c, msg, n);
    free(msg);
}

uint64_t wv_sse_refused(wv_sse_hub *hub) {
    return hub->refused;
}

unsigned wv_sse_clients(wv_sse_hub *hub) {
    return hub->nclients;
}

static void on_timer_closed(uv_handle_t *h) {
    wv_sse_hub *hub = h->data;
    hub->timer_closed = true;
    maybe_free(hub);
}

void wv_sse_close(wv_sse_hub *hub) {
    hub->closing = true;
    for (struct client *c = hub->clients; c; c = c->next)
        wv_http_resume_conn(hub->http, &c->susp);
    uv_close((uv_handle_t *)&hub->timer, on_timer_closed);
}
