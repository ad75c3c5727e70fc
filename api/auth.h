#ifndef WV_AUTH_H
#define WV_AUTH_H
/* Who may use the API: bearer tokens (wv_store_token_check) and basic-auth
 * users (PBKDF2 hashes checked off the loop in uv_queue_work while the
 * connection is suspended; successes cached for a few minutes keyed by a
 * SHA-256 of user, password and stored hash, so a changed password misses
 * the cache). With no token and no basic user configured everything is
 * allowed: the agent only listens on loopback then
 * (wv_api_check_listen_safety). Failed attempts are counted per client IP;
 * past the limit the IP gets 429 for the rest of a one-minute window.
 * Credentials are never logged. Loop thread only. */
#include <stdbool.h>
#include <uv.h>

#include "http.h"
#include "wv/store.h"

typedef struct wv_auth wv_auth;

/* fail_limit 0: 10 failures per minute. */
wv_auth *wv_auth_new(uv_loop_t *loop, wv_log *log, wv_store *st, unsigned fail_limit);
/* A wv_http_gate; user is the wv_auth. */
bool wv_auth_gate(wv_http_req *r, void *user);
/* Is any token or basic-auth user configured? */
bool wv_auth_configured(wv_store *st);
/* A client address (wv_http_req_ip) on this host: 127/8, ::1, v4-mapped 127/8. */
bool wv_auth_ip_is_loopback(const char *ip);
/* Frees a once no password check is running any more (they cannot be
 * cancelled); cb fires on the loop then, possibly before this returns. */
void wv_auth_close(wv_auth *a, void (*cb)(void *), void *arg);

#endif
