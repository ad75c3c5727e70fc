#ifndef WV_SSE_H
#define WV_SSE_H
/* Server-sent events: a hub of streaming clients on one HTTP server.
 *
 * Each client is an MHD response whose content reader drains a bounded
 * per-client queue; with nothing to send the connection is suspended and
 * a publish resumes it. A client whose queue overflows (it reads slower
 * than events come) is dropped; it reconnects and re-reads the state. A
 * comment line every heartbeat keeps proxies and dead-peer detection
 * working (suspended connections never time out by themselves).
 * Everything runs on the loop thread. */
#include <jansson.h>
#include <uv.h>

#include "http.h"

typedef struct wv_sse_hub wv_sse_hub;

/* heartbeat_ms 0: 15000. max_queue 0: 256 KiB per client. */
wv_sse_hub *wv_sse_new(uv_loop_t *loop, wv_http *http, unsigned heartbeat_ms, size_t max_queue);
/* Answers req with a text/event-stream and adds the client to the hub. */
void wv_sse_serve(wv_sse_hub *hub, wv_http_req *req);
/* Queues "event: <event>\ndata: <json>\n\n" to every client. data is
 * borrowed. Callable from any loop callback. */
void wv_sse_publish(wv_sse_hub *hub, const char *event, json_t *data);
unsigned wv_sse_clients(wv_sse_hub *hub);
/* Event streams at once; more are answered 503 too_many_event_clients
 * (a quarter of the server's 256 connections). */
#define WV_SSE_MAX_CLIENTS 64
/* Streams refused by that bound, total. */
uint64_t wv_sse_refused(wv_sse_hub *hub);
/* Ends every stream (call before wv_http_close); the hub is freed once its
 * timer is closed and the last client has gone (which wv_http_close
 * ensures). */
void wv_sse_close(wv_sse_hub *hub);

#endif
