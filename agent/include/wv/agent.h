#ifndef WV_AGENT_H
#define WV_AGENT_H
/* The running site: everything `wovenet run` keeps alive on one libuv loop.
 * The composition root: it loads the site identity, builds the REST API
 * (wv/api.h), the reconciler of remote apps (wv/apps.h) and the mesh
 * (wv/mesh.h), and wires their callbacks to each other.
 *
 * All functions run on the loop's thread. Process-level concerns (signals,
 * the choice of log sink) stay in main.c, so one process may hold two
 * agents (tests do). */
#include "wv/base.h"
#include "wv/store.h"

#include <uv.h>

/* Options that come from the command line, not from the store. Copied. */
struct wv_agent_opts {
    const char *api_listen; /* "ADDR:PORT" overriding restfulApi.listenAddr; NULL: the store's */
};

typedef struct wv_agent wv_agent;
typedef void (*wv_agent_stop_cb)(wv_agent *agent, void *user);

/* Creates an agent over loop, store and log (borrowed: they must outlive
 * the agent). Nothing runs until wv_agent_start(). 0 or WV_ERR_INVAL. */
int wv_agent_new(uv_loop_t *loop, wv_store *store, wv_log *log, const struct wv_agent_opts *opts,
                 wv_agent **out);

/* Starts the site from the stored desired state. WV_ERR_NOTFOUND when no
 * site has been imported yet (nothing is started then). */
int wv_agent_start(wv_agent *agent);

/* Why wv_agent_start() failed, naming the cause ("the API: cannot listen
 * on 127.0.0.1:18080: address already in use ..."); "" when it did not
 * fail or the error code says it all. */
const char *wv_agent_error(const wv_agent *agent);

/* The site name once started ("" before). */
const char *wv_agent_site_name(const wv_agent *agent);
/* The effective API listen address (the override or the store's). */
const char *wv_agent_api_listen(const wv_agent *agent);

/* Stops everything and closes the agent's handles; cb fires on the loop once
 * all are closed, never from inside this call. Call once. */
void wv_agent_stop(wv_agent *agent, wv_agent_stop_cb cb, void *user);

/* Frees the agent: call before start, or after the stop callback fired. */
void wv_agent_free(wv_agent *agent);

#endif
