/* API authentication: bearer tokens, basic-auth users, failure rate limit. */
#include "auth.h"
#include "wv/crypto.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wv/base.h"

#define SUB "api"
#define CACHE_N 64
#define CACHE_TTL_MS (5 * 60 * 1000)
#define RATE_N 256
#define WINDOW_MS 60000
#define CHALLENGE "Basic realm=\"wovenet\", Bearer realm=\"wovenet\""
/* Every 401 says how to pass a token: a user locked out by the first
 * `token create` learns what to do from the answer itself. */
#define HOW_TO                                                                              \
    "pass a token as the header \"Authorization: Bearer TOKEN\" (curl -H), or --token "     \
    "TOKEN / WOVENET_TOKEN=TOKEN to the wovenet CLI; create one on the agent's host with "  \
    "`wovenet token create --name NAME` (see `wovenet token list`)"

struct cache_ent {
    uint8_t key[32];
    uint64_t expires;
};

struct rate_ent {
    char ip[46];
    uint64_t start;
    unsigned fails;
};

struct wv_auth {
    uv_loop_t *loop;
    wv_log *log;
    wv_store *st;
    unsigned fail_limit;
    struct cache_ent cache[CACHE_N];
    unsigned cache_next;
    struct rate_ent rate[RATE_N];
    int running; /* password checks in the thread pool */
    /* Whether auth is configured, remembered until the DB changes: our own
     * writes move total_changes, other processes' (the token CLI) move
     * PRAGMA data_version (wv_store_stamp). Saves two queries per request. */
    struct wv_store_stamp seen;
    bool seen_valid, seen_configured;
    bool closing;
    void (*close_cb)(void *);
    void *close_arg;
};

/* One password check; it is the request's gate state while it exists. */
struct job {
    uv_work_t w;
    wv_auth *a;
    wv_http_req *req; /* NULL once the request has gone away */
    char *pass, *encoded;
    uint8_t key[32];
    int result;
    bool running;
    bool unknown_user; /* the check only burns time: it must fail */
};

static void job_free(struct job *j) {
    if (j->pass) {
        wv_memwipe(j->pass, strlen(j->pass));
        free(j->pass);
    }
    free(j->encoded);
    wv_memwipe(j->key, sizeof j->key);
    free(j);
}

/* The request ended: a running check cannot be cancelled, so it is left to
 * free itself when it finishes. */
static void job_release(void *p) {
    struct job *j = p;
    if (j->running)
        j->req = NULL;
    else
        job_free(j);
}

static void finish_close(wv_auth *a) {
    void (*cb)(void *) = a->close_cb;
    void *arg = a->close_arg;
    free(a);
    if (cb)
        cb(arg);
}

static void work(uv_work_t *w) {
    struct job *j = WV_CONTAINER_OF(w, struct job, w);
    j->result = wv_password_verify(j->pass, j->encoded);
    if (j->unknown_user)
        j->result = WV_ERR_AUTH;
}

static void after_work(uv_work_t *w, int status) {
    struct job *j = WV_CONTAINER_OF(w, struct job, w);
    wv_auth *a = j->a;
    j->running = false;
    if (status != 0)
        j->result = WV_ERR_AUTH;
    a->running--;
    if (j->req)
        wv_http_req_resume(j->req);
    else
        job_free(j);
    if (a->closing && a->running == 0)
        finish_close(a);
}

static struct rate_ent *rate_find(wv_auth *a, const char *ip, bool create) {
    struct rate_ent *oldest = &a->rate[0];
    for (unsigned i = 0; i < RATE_N; i++) {
        if (strcmp(a->rate[i].ip, ip) == 0)
            return &a->rate[i];
        if (a->rate[i].start < oldest->start)
            oldest = &a->rate[i];
    }
    if (!create)
        return NULL;
    /* The table is bounded: the oldest window makes room. */
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->ip, sizeof oldest->ip, "%s", ip);
    return oldest;
}

static bool rate_blocked(wv_auth *a, const char *ip, uint64_t *retry_s) {
    struct rate_ent *e = rate_find(a, ip, false);
    uint64_t now = uv_now(a->loop);
    if (!e || now - e->start >= WINDOW_MS || e->fails < a->fail_limit)
        return false;
    *retry_s = (WINDOW_MS - (now - e->start) + 999) / 1000;
    return true;
}

static void deny(wv_auth *a, wv_http_req *r, bool count, const char *why) {
    if (count) {
        struct rate_ent *e = rate_find(a, wv_http_req_client_key(r), true);
        uint64_t now = uv_now(a->loop);
        if (e->start == 0 || now - e->start >= WINDOW_MS) {
            e->start = now ? now : 1;
            e->fails = 0;
        }
        e->fails++;
        WV_INFO(a->log, SUB, "authentication failed from %s (%s)", wv_http_req_ip(r), why);
    }
    wv_http_add_header(r, "WWW-Authenticate", CHALLENGE);
    wv_http_reply_error(r, 401, "unauthorized", NULL, "%s: %s", why, HOW_TO);
}

/* What a token's scope lets through: "write" everything, "read" only
 * GET/HEAD, "metrics" only GET /metrics. */
static bool scope_allows(const char *scope, wv_http_req *r) {
    const char *m = wv_http_req_method(r);
    bool reads = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    if (strcmp(scope, "write") == 0)
        return true;
    if (strcmp(scope, "read") == 0)
        return reads;
    return reads && strcmp(wv_http_req_path(r), "/metrics") == 0;
}

static void cache_key(const char *user, const char *pass, const char *encoded, uint8_t out[32]) {
    size_t lu = strlen(user) + 1, lp = strlen(pass) + 1, le = strlen(encoded);
    char *buf = wv_malloc(lu + lp + le);
    memcpy(buf, user, lu);
    memcpy(buf + lu, pass, lp);
    memcpy(buf + lu + lp, encoded, le);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, lu + lp + le, out);
    wv_memwipe(buf, lu + lp + le);
    free(buf);
}

static bool cache_hit(wv_auth *a, const uint8_t key[32]) {
    uint64_t now = uv_now(a->loop);
    for (unsigned i = 0; i < CACHE_N; i++)
        if (a->cache[i].expires > now && wv_ct_memcmp(a->cache[i].key, key, 32) == 0)
            return true;
    return false;
}

static void cache_add(wv_auth *a, const uint8_t key[32]) {
    struct cache_ent *e = &a->cache[a->cache_next++ % CACHE_N];
    memcpy(e->key, key, 32);
    e->expires = uv_now(a->loop) + CACHE_TTL_MS;
}

bool wv_auth_ip_is_loopback(const char *ip) {
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strncmp(ip, "::ffff:127.", 11) == 0;
}

bool wv_auth_configured(wv_store *st) {
    json_t *tokens = NULL, *users = NULL;
    bool yes = (wv_store_token_list(st, &tokens) == 0 && json_array_size(tokens) > 0) ||
               (wv_store_get_basic_auth_hashes(st, &users) == 0 && json_array_size(users) > 0);
    json_decref(tokens);
    json_decref(users);
    return yes;
}

static bool configured(wv_auth *a) {
    struct wv_store_stamp now;
    bool valid = wv_store_stamp(a->st, &now) == 0;
    if (valid && a->seen_valid && now.version == a->seen.version && now.changes == a->seen.changes)
        return a->seen_configured;
    a->seen_configured = wv_auth_configured(a->st);
    a->seen = now;
    a->seen_valid = valid;
    return a->seen_configured;
}

/* The stored hash of user; for an unknown user, *known = false and some
 * other user's hash (to spend the same time failing); NULL when there are
 * no basic users at all. Caller frees. */
static char *user_hash(wv_auth *a, const char *user, bool *known) {
    json_t *users = NULL, *u;
    size_t i;
    char *out = NULL;
    *known = false;
    if (wv_store_get_basic_auth_hashes(a->st, &users) != 0)
        return NULL;
    json_array_foreach(users, i, u) {
        const char *name = json_string_value(json_object_get(u, "user"));
        const char *hash = json_string_value(json_object_get(u, "hash"));
        if (!name || !hash)
            continue;
        if (strcmp(name, user) == 0) {
            free(out);
            out = wv_strdup(hash);
            *known = true;
            break;
        }
        if (!out)
            out = wv_strdup(hash);
    }
    json_decref(users);
    return out;
}

/* Basic credentials: true if known good now; otherwise it answered 401 or
 * suspended the request on a password check. */
static bool basic(wv_auth *a, wv_http_req *r, const char *b64) {
    gnutls_datum_t in = {(unsigned char *)b64, (unsigned)strlen(b64)}, out = {NULL, 0};
    if (strlen(b64) > 2048 || gnutls_base64_decode2(&in, &out) < 0) {
        deny(a, r, true, "malformed basic credentials");
        return false;
    }
    char *cred = wv_strndup((const char *)out.data, out.size);
    wv_memwipe(out.data, out.size);
    gnutls_free(out.data);
    char *colon = strchr(cred, ':');
    char *hash = NULL;
    bool ok = false;
    if (!colon || strlen(cred) != out.size) {
        deny(a, r, true, "malformed basic credentials");
        goto done;
    }
    *colon = '\0';
    bool known;
    hash = user_hash(a, cred, &known);
    if (!hash) {
        deny(a, r, true, "wrong credentials");
        goto done;
    }
    struct job *j = wv_calloc(1, sizeof *j);
    cache_key(cred, colon + 1, hash, j->key);
    j->unknown_user = !known;
    if (known && cache_hit(a, j->key)) {
        job_free(j);
        ok = true;
        goto done;
    }
    j->a = a;
    j->req = r;
    j->pass = wv_strdup(colon + 1);
    j->encoded = hash;
    hash = NULL;
    j->running = true;
    if (uv_queue_work(a->loop, &j->w, work, after_work) != 0) {
        j->running = false;
        job_free(j);
        wv_http_reply_error(r, 503, "unavailable", NULL, "cannot check the password now");
        goto done;
    }
    a->running++;
    wv_http_req_set_gate_state(r, j, job_release);
    wv_http_req_suspend(r);
done:
    free(hash);
    wv_memwipe(cred, strlen(cred) + (colon ? strlen(colon + 1) + 1 : 0));
    free(cred);
    return ok;
}

bool wv_auth_gate(wv_http_req *r, void *user) {
    wv_auth *a = user;
    struct job *j = wv_http_req_gate_state(r);
    if (j) {
        if (j->running) { /* woken early: keep waiting */
            wv_http_req_suspend(r);
            return false;
        }
        int res = j->unknown_user ? WV_ERR_AUTH : j->result;
        if (res == 0)
            cache_add(a, j->key);
        wv_http_req_set_gate_state(r, NULL, NULL); /* frees j */
        if (res == 0)
            return true;
        deny(a, r, true, "wrong credentials");
        return false;
    }
    uint64_t retry;
    if (rate_blocked(a, wv_http_req_client_key(r), &retry)) {
        char s[24];
        snprintf(s, sizeof s, "%llu", (unsigned long long)retry);
        wv_http_add_header(r, "Retry-After", s);
        wv_http_reply_error(r, 429, "too_many_requests", NULL,
                            "too many failed authentications; retry in %s s", s);
        return false;
    }
    if (!configured(a)) {
        /* No credential at all: only this host may use the API, whatever
         * address it listens on (the start-up check is not the only way
         * to get here: a store edited behind the agent's back, a token
         * deleted with the CLI). */
        if (wv_auth_ip_is_loopback(wv_http_req_ip(r)))
            return true;
        wv_http_reply_error(r, 403, "auth_not_configured", NULL,
                            "no API token or basic-auth user is configured, so only clients on "
                            "this host are served: create a token (wovenet token create)");
        return false;
    }
    const char *h = wv_http_req_header(r, "Authorization");
    if (!h) {
        deny(a, r, false, "authentication required");
        return false;
    }
    if (strncasecmp(h, "Bearer ", 7) == 0) {
        const char *t = h + 7;
        while (*t == ' ')
            t++;
        struct wv_token_info ti;
        if (wv_store_token_auth(a->st, t, &ti) == 0) {
            if (scope_allows(ti.scope, r))
                return true;
            wv_http_reply_error(r, 403, "forbidden", NULL,
                                "token \"%s\" has scope %s: %s", ti.name, ti.scope,
                                strcmp(ti.scope, "read") == 0
                                    ? "it may only read (GET); use a token of scope write"
                                    : "it may only read /metrics");
            return false;
        }
        deny(a, r, true, ti.expired ? "the token expired" : "wrong credentials");
        return false;
    }
    if (strncasecmp(h, "Basic ", 6) == 0) {
        const char *b = h + 6;
        while (*b == ' ')
            b++;
        return basic(a, r, b);
    }
    deny(a, r, true, "unsupported authorization scheme");
    return false;
}

wv_auth *wv_auth_new(uv_loop_t *loop, wv_log *log, wv_store *st, unsigned fail_limit) {
    wv_auth *a = wv_calloc(1, sizeof *a);
    a->loop = loop;
    a->log = log;
    a->st = st;
    a->fail_limit = fail_limit ? fail_limit : 10;
    return a;
}

void wv_auth_close(wv_auth *a, void (*cb)(void *), void *arg) {
    a->closing = true;
    a->close_cb = cb;
    a->close_arg = arg;
    if (a->running == 0)
        finish_close(a);
}
