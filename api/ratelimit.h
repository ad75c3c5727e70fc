#ifndef WV_RATELIMIT_H
#define WV_RATELIMIT_H
/* A per-client request rate limit: one token bucket per key (the client
 * IP), refilled at `rate` tokens per second up to `burst`. The table of
 * buckets is bounded: when it is full the bucket untouched for longest is
 * reused, so memory stays fixed whatever the number of clients (a client
 * evicted that way starts again with a full bucket).
 *
 * Pure: the caller passes the time. Not thread-safe (one owner). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wv_ratelimit wv_ratelimit;

/* rate: tokens per second (> 0); burst: bucket size (>= 1); slots: how many
 * clients are tracked at once (>= 1). */
wv_ratelimit *wv_ratelimit_new(unsigned rate, unsigned burst, size_t slots);
void wv_ratelimit_free(wv_ratelimit *rl);

/* Takes one token for key (at most 63 bytes are significant) at now_ms.
 * true: allowed. false: over the limit; *retry_ms (may be NULL) says when
 * the next token is due. */
bool wv_ratelimit_take(wv_ratelimit *rl, const char *key, uint64_t now_ms, uint64_t *retry_ms);

#endif
