#ifndef WV_APPLISTEN_H
#define WV_APPLISTEN_H
/* A local listening socket for a remote app: TCP ("tcp:IP:PORT") or unix
 * ("unix:PATH"). For unix sockets the parent directory is created and a
 * stale socket file (nobody accepting on it) is replaced; a non-socket file
 * at the path is an error. The socket file is removed on close.
 *
 * All calls and callbacks on the loop thread. */
#include "validate.h"

#include <uv.h>

typedef struct wv_applisten wv_applisten;

/* Called for each accepted connection. The callee owns client (a uv_tcp_t
 * or uv_pipe_t allocated with wv_malloc, already initialized and accepted)
 * and must uv_close() it; its close callback must free it. */
typedef void (*wv_applisten_cb)(wv_applisten *l, uv_stream_t *client, void *user);

/* Binds and listens. On failure returns WV_ERR_IO/WV_ERR_INVAL, writes a
 * reason ("address already in use") into why (at least 128 bytes), and
 * frees everything: the callback is never called. */
int wv_applisten_new(uv_loop_t *loop, const struct wv_app_socket *sock, wv_applisten_cb cb,
                     void *user, wv_applisten **out, char *why);

/* Stops accepting and frees l asynchronously; cb is never called after. */
void wv_applisten_close(wv_applisten *l);

/* Closes a stream allocated by the listener (or any wv_malloc'ed handle)
 * and frees it in the close callback. */
void wv_close_free(uv_handle_t *h);

#endif
