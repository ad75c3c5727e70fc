#ifndef WV_HISTORY_H
#define WV_HISTORY_H
/* history: what the agent remembers of its recent past, in memory only.
 *
 * A time series per object (the site, each peer, each data channel, each
 * remote and exposed app), each held in two rings of fixed size:
 *
 *   fine    WV_HIST_FINE_STEPS steps of 1 s   (15 min)
 *   coarse  WV_HIST_COARSE_STEPS steps of 60 s (24 h)
 *
 * A step holds the bytes moved in it each way (rx: received from the
 * tunnel, or for an app from the tunnel into its local socket; tx: the
 * other way), an RTT and a gauge ("active": open connections, up channels
 * or open streams, by kind). A coarse step sums the bytes of its minute,
 * averages its RTTs and keeps the largest gauge; the minute in progress is
 * shown as it stands.
 *
 * Memory: every series costs WV_HIST_SERIES_BYTES (about 48 KiB, both rings
 * allocated and written when the series is created) plus its name; at most
 * max_series are kept: a new series beyond that replaces the one fed least
 * recently if that one was not fed for WV_HIST_STALE_S (a channel gone, an
 * app deleted), else it is not kept at all (the objects beyond the bound
 * have no history; the ones that have keep it whole). A series not fed for
 * 24 h is dropped by wv_history_expire().
 *
 * Sans-I/O: no loop and no clock; callers pass wall-clock seconds. Samples
 * are meant to come once a second: a gap of up to WV_HIST_FINE_STEPS
 * seconds is filled by spreading the sample's bytes evenly over it (the
 * bytes moved then, only their timing is guessed); a longer gap (a clock
 * jump) leaves zero steps. A sample dated before the newest step (the
 * clock went back) is added to the newest step. One thread. */
#include "wv/base.h"

#include <jansson.h>
#include <stdint.h>

#define WV_HIST_FINE_STEPS 900
#define WV_HIST_COARSE_STEPS 1440
#define WV_HIST_MAX_AGE_S (24 * 3600)
#define WV_HIST_STALE_S 10

enum wv_hist_kind {
    WV_HIST_SITE,        /* name "": the site's total over all channels */
    WV_HIST_PEER,        /* name: the peer site; its channels summed */
    WV_HIST_CHANNEL,     /* name: "SITE/ID" */
    WV_HIST_REMOTE_APP,  /* name: the remote app */
    WV_HIST_EXPOSED_APP, /* name: the exposed app */
    WV_HIST_NKINDS
};

/* "site", "peer", "channel", "remoteApp", "exposedApp"; the API's names. */
const char *wv_hist_kind_name(enum wv_hist_kind kind);
/* The kind of such a name, or -1. */
int wv_hist_kind_parse(const char *name);

/* One observation: bytes moved since the previous one, and the state now. */
struct wv_hist_sample {
    uint64_t rx, tx;
    double rtt_ms;   /* < 0: none */
    uint32_t active; /* the gauge */
};

typedef struct wv_history wv_history;

/* max_series 0: 256. Never NULL (the one OOM policy). */
wv_history *wv_history_new(unsigned max_series);
void wv_history_free(wv_history *h);

/* The bytes one series costs (both rings and its bookkeeping, not its name). */
#define WV_HIST_SERIES_BYTES wv_history_series_bytes()
size_t wv_history_series_bytes(void);
/* Series held now, and the bytes they take (names included). */
size_t wv_history_count(const wv_history *h);
size_t wv_history_bytes(const wv_history *h);

/* Adds sample s, taken at second sec, to series (kind, name), creating the
 * series (name copied; at most 255 bytes are kept). */
void wv_history_add(wv_history *h, enum wv_hist_kind kind, const char *name, int64_t sec,
                    const struct wv_hist_sample *s);
/* The same from cumulative counters (bytes since the object began, its
 * counters starting at zero with it): the series remembers the last totals
 * and records the difference. The first totals of a series count whole
 * (the object is new: what it moved before the first sample moved in that
 * second); totals lower than the last (the object restarted its counters)
 * count as the bytes since that restart. Returns the sample recorded (all
 * zero when the series is not kept), so that a caller can add it to a
 * parent series (channels into their peer, peers into the site). */
struct wv_hist_sample wv_history_add_totals(wv_history *h, enum wv_hist_kind kind,
                                            const char *name, int64_t sec, uint64_t rx_total,
                                            uint64_t tx_total, double rtt_ms, uint32_t active);

/* Drops series (kind, name); with prefix set, every series of kind whose
 * name starts with name (the channels "SITE/" of a forgotten peer). */
void wv_history_drop(wv_history *h, enum wv_hist_kind kind, const char *name, bool prefix);
/* Drops every series last fed more than WV_HIST_MAX_AGE_S before now. */
void wv_history_expire(wv_history *h, int64_t now);

/* The series of kind (or every kind: kind < 0) and name (or all: NULL), at
 * step 1 or 60 seconds, from second since on (0: all held), as
 *   {"step": S, "now": NOW, "series": [{"kind", "name", "start", "rx": [..],
 *    "tx": [..], "rttMs": [.. or null], "active": [..]}]}
 * where point i is the step starting at start + i * S and the last point
 * is the newest step (at step 60 the minute in progress). A series holds
 * points from its first sample, at most the ring's length back from its
 * newest, and none older than since; one with no point left is omitted.
 * New reference; NULL for a step other than 1 or 60. */
json_t *wv_history_json(const wv_history *h, int kind, const char *name, unsigned step,
                        int64_t since, int64_t now);

#endif
