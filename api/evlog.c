/* The recent-events log (see evlog.h). */
#include "evlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wv/base.h"

/* Objects whose last state is remembered; beyond it the memory starts over
 * (a few transitions are then taken for first sightings). */
#define MAX_TRACKED 4096
#define MSG_MAX 400

struct wv_evlog {
    json_t **ring; /* entries, ring[(first + i) % max] for i < count */
    unsigned max, first, count;
    uint64_t next_id;
    json_t *seen; /* "kind/name" -> {state, error, lastError, publicAddress} */
};

wv_evlog *wv_evlog_new(unsigned max) {
    wv_evlog *l = wv_calloc(1, sizeof(*l));
    l->max = max ? max : 256;
    l->ring = wv_calloc(l->max, sizeof(*l->ring));
    l->next_id = 1;
    l->seen = json_object();
    return l;
}

void wv_evlog_free(wv_evlog *l) {
    if (!l)
        return;
    for (unsigned i = 0; i < l->count; i++)
        json_decref(l->ring[(l->first + i) % l->max]);
    free(l->ring);
    json_decref(l->seen);
    free(l);
}

static const char *noun(const char *kind) {
    static const char *const names[][2] = {
        {"site", "the site settings"},     {"tunnelSockets", "tunnel socket"},
        {"exposedApps", "exposed app"},    {"remoteApps", "remote app"},
        {"peers", "site"},                 {"channels", "channel"},
        {"broker", "broker"},
    };
    for (unsigned i = 0; i < WV_COUNTOF(names); i++)
        if (strcmp(kind, names[i][0]) == 0)
            return names[i][1];
    return kind;
}

static const char *str(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void iso_time(int64_t ms, char out[32]) {
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* The length of msg without a UTF-8 sequence that snprintf cut short. */
static size_t utf8_len(const char *msg) {
    size_t n = strnlen(msg, MSG_MAX), i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)msg[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i > 0 && ((unsigned char)msg[i - 1] & 0x80)) {
        unsigned char lead = (unsigned char)msg[i - 1];
        size_t want = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
        if (want != back)
            return i - 1;
    }
    return n;
}

static const json_t *keep(wv_evlog *l, int64_t now_ms, const char *level, const char *kind,
                          const char *name, const char *action, const char *msg) {
    char when[32];
    iso_time(now_ms, when);
    json_t *e = json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s, s:s%}", "id", (json_int_t)l->next_id,
                          "time", when, "level", level, "kind", kind, "name", name, "action",
                          action, "message", msg, utf8_len(msg));
    if (!e)
        return NULL; /* not UTF-8 (names and errors are ours, so not expected) */
    l->next_id++;
    if (l->count == l->max) {
        json_decref(l->ring[l->first]);
        l->ring[l->first] = e;
        l->first = (l->first + 1) % l->max;
    } else {
        l->ring[(l->first + l->count++) % l->max] = e;
    }
    return e;
}

/* "created remote app web1", "changed the site settings". */
static const json_t *on_change(wv_evlog *l, const json_t *ev, int64_t now_ms) {
    const char *kind = str(ev, "kind"), *name = json_string_value(json_object_get(ev, "name"));
    const char *action = str(ev, "action");
    char msg[MSG_MAX];
    if (name)
        snprintf(msg, sizeof(msg), "%s %s %s", action, noun(kind), name);
    else
        snprintf(msg, sizeof(msg), "%s %s", action, noun(kind));
    return keep(l, now_ms, "info", kind, name, action, msg);
}

static bool differs(const json_t *a, const json_t *b, const char *key) {
    return strcmp(str(a, key), str(b, key)) != 0;
}

/* An object's status: kept when its state, error or target failure
 * changed since the last one seen. */
static const json_t *on_object(wv_evlog *l, const json_t *ev, int64_t now_ms, bool deleted) {
    const char *kind = str(ev, "kind"), *name = str(ev, "name");
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", kind, name);
    if (deleted) {
        json_object_del(l->seen, key);
        return NULL;
    }
    const json_t *st = json_object_get(ev, "status");
    if (!json_is_object(st) || !json_object_get(st, "state"))
        return NULL;
    json_t *before = json_object_get(l->seen, key);
    json_t *now = json_pack("{s:s, s:s, s:s, s:s}", "state", str(st, "state"), "error",
                            str(st, "error"), "lastError", str(st, "lastError"), "publicAddress",
                            str(st, "publicAddress"));
    bool first = before == NULL;
    bool state_moved = first || differs(before, now, "state") || differs(before, now, "error");
    bool target_failed = !first && differs(before, now, "lastError") && str(st, "lastError")[0];
    bool address_moved = !first && differs(before, now, "publicAddress") &&
                         str(st, "publicAddress")[0];
    char prev_state[64];
    snprintf(prev_state, sizeof(prev_state), "%s", first ? "" : str(before, "state"));
    if (json_object_size(l->seen) >= MAX_TRACKED && first)
        json_object_clear(l->seen);
    json_object_set_new(l->seen, key, now);

    const char *state = str(st, "state"), *err = str(st, "error");
    bool is_error = strcmp(state, "error") == 0;
    char msg[MSG_MAX];
    if (state_moved && (!first || is_error)) {
        int n = snprintf(msg, sizeof(msg), "%s %s: %s%s%s", noun(kind), name, prev_state,
                         prev_state[0] ? " → " : "", state);
        if (err[0] && n > 0 && (size_t)n < sizeof(msg))
            snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", err);
        const char *level = is_error                                   ? "error"
                            : strcmp(state, "waiting-for-site") == 0 ? "warn"
                                                                       : "info";
        return keep(l, now_ms, level, kind, name, "state", msg);
    }
    if (target_failed) {
        snprintf(msg, sizeof(msg), "%s %s: %s", noun(kind), name, str(st, "lastError"));
        return keep(l, now_ms, "warn", kind, name, "target-failed", msg);
    }
    if (address_moved) {
        snprintf(msg, sizeof(msg), "%s %s: public address now %s", noun(kind), name,
                 str(st, "publicAddress"));
        return keep(l, now_ms, "info", kind, name, "address", msg);
    }
    return NULL;
}

/* Channels, peers and the broker: their action says what happened. */
static const json_t *on_runtime(wv_evlog *l, const json_t *ev, int64_t now_ms) {
    const char *kind = str(ev, "kind"), *name = str(ev, "name"), *action = str(ev, "action");
    const json_t *st = json_object_get(ev, "status");
    char msg[MSG_MAX];
    if (strcmp(kind, "broker") == 0) {
        /* The broker's state is its name: kept when it changes. */
        json_t *before = json_object_get(l->seen, "broker");
        if (before && strcmp(json_string_value(before), name) == 0)
            return NULL;
        json_object_set_new(l->seen, "broker", json_string(name));
        snprintf(msg, sizeof(msg), "broker %s", name);
        return keep(l, now_ms, strcmp(name, "connected") == 0 ? "info" : "warn", kind, NULL,
                    name, msg);
    }
    if (strcmp(action, "status") == 0)
        return NULL; /* counters moved */
    if (strcmp(kind, "channels") == 0) {
        const char *family = strcmp(str(st, "family"), "ipv6") == 0 ? "IPv6" : "IPv4";
        const char *path = str(st, "path");
        snprintf(msg, sizeof(msg), "channel %lld to %s %s (%s%s%s%s%s)",
                 (long long)json_integer_value(json_object_get(st, "id")), name, action, family,
                 path[0] ? ", " : "", path, str(st, "remoteAddress")[0] ? ", " : "",
                 str(st, "remoteAddress"));
        return keep(l, now_ms, strcmp(action, "up") == 0 ? "info" : "warn", kind, name, action,
                    msg);
    }
    if (strcmp(kind, "peers") == 0) {
        const char *level = strcmp(action, "joined") == 0 ? "info" : "warn";
        if (strcmp(action, "joined") == 0)
            snprintf(msg, sizeof(msg), "site %s joined the mesh", name);
        else if (strcmp(action, "left") == 0)
            snprintf(msg, sizeof(msg), "site %s left the message channel", name);
        else if (strcmp(action, "deleted") == 0)
            snprintf(msg, sizeof(msg), "forgot site %s", name);
        else
            snprintf(msg, sizeof(msg), "site %s: %s", name, action);
        if (strcmp(action, "deleted") == 0)
            level = "info";
        return keep(l, now_ms, level, kind, name, action, msg);
    }
    snprintf(msg, sizeof(msg), "%s %s: %s", noun(kind), name, action);
    return keep(l, now_ms, "info", kind, name, action, msg);
}

unsigned wv_evlog_offer(wv_evlog *l, const char *type, const json_t *ev, int64_t now_ms) {
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    if (!kind || !type)
        return 0;
    bool object = strcmp(kind, "tunnelSockets") == 0 || strcmp(kind, "exposedApps") == 0 ||
                  strcmp(kind, "remoteApps") == 0;
    if (strcmp(type, "change") == 0) {
        unsigned n = on_change(l, ev, now_ms) != NULL;
        /* The status it has right after the write (an error at once). */
        if (object)
            n += on_object(l, ev, now_ms, strcmp(str(ev, "action"), "deleted") == 0) != NULL;
        return n;
    }
    return (object ? on_object(l, ev, now_ms, false) : on_runtime(l, ev, now_ms)) != NULL;
}

uint64_t wv_evlog_last_id(const wv_evlog *l) {
    return l->next_id - 1;
}

json_t *wv_evlog_json(const wv_evlog *l, uint64_t after, unsigned limit) {
    json_t *out = json_array();
    unsigned start = 0;
    /* Only the newest `limit` of those after `after`. */
    unsigned newer = 0;
    for (unsigned i = 0; i < l->count; i++) {
        const json_t *e = l->ring[(l->first + i) % l->max];
        if ((uint64_t)json_integer_value(json_object_get(e, "id")) > after)
            newer++;
    }
    if (limit && newer > limit)
        start = newer - limit;
    unsigned k = 0;
    for (unsigned i = 0; i < l->count; i++) {
        json_t *e = l->ring[(l->first + i) % l->max];
        if ((uint64_t)json_integer_value(json_object_get(e, "id")) <= after)
            continue;
        if (k++ >= start)
            json_array_append(out, e);
    }
    return out;
}
