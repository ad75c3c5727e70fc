#ifndef WV_EVLOG_H
#define WV_EVLOG_H
/* The recent-events log behind GET /api/v1/events/recent: the last notable
 * events of the event stream, in words, in a ring of fixed length.
 *
 * Every event the API publishes ({kind, name, action, status}, see api.h)
 * is offered here; what is notable is kept as an entry
 *   {id, time, level, kind, name, action, message}
 * whose id grows by one per entry:
 *  - every change of the desired state ("change" events): info;
 *  - a change of an object's runtime state or error (a remote app that
 *    goes from listening to error, an exposed app whose target stops
 *    answering, a socket whose detected address changes): error when the
 *    new state is error, warn for waiting-for-site and a failed target,
 *    info otherwise. The first status seen of an object is kept only when
 *    it is an error, so that a start does not fill the log;
 *  - peers joining, leaving and forgotten, channels up and down, the
 *    broker connecting and disconnecting (their action says which; the
 *    plain "status" of counters that move is never kept).
 * Loop thread only (no locking). */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct wv_evlog wv_evlog;

/* Keeps the last max entries (0: 256). */
wv_evlog *wv_evlog_new(unsigned max);
void wv_evlog_free(wv_evlog *l);

/* Offers one published event (borrowed) of type "change" or "status",
 * at wall-clock now_ms. Returns how many entries it made (0: not notable;
 * 2: a write whose object is in error at once). */
unsigned wv_evlog_offer(wv_evlog *l, const char *type, const json_t *ev, int64_t now_ms);
/* The id of the newest entry (0 before the first). */
uint64_t wv_evlog_last_id(const wv_evlog *l);

/* The entries with id > after, oldest first, at most limit (0: all): a
 * new reference to an array. */
json_t *wv_evlog_json(const wv_evlog *l, uint64_t after, unsigned limit);

#endif
