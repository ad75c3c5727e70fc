/* Public-address detection: HTTP (libcurl off the loop) and STUN (from the
 * tunnel socket itself). See detect.h. */
#include "wv/detect.h"

#include "detect_int.h"
#include "stun.h"
#include "wv/base.h"
#include "wv/model.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "detect"
#define MAX_SERVERS 8
static const unsigned stun_rto_ms[] = {500, 1000, 2000};

enum method { M_HTTP, M_STUN };

struct hjob;
struct resolve;

/* One tunnel socket's detector. Freed in its timer's close callback. */
struct dsock {
    struct dsock *next;
    wv_detect *d;
    char *name;
    char *key; /* the socket's stored JSON: a change restarts detection */
    enum method method;
    int family;                       /* of the tunnel socket */
    bool keep_port;                   /* port-forwarding: announce publicPort */
    char listen_ip[INET6_ADDRSTRLEN]; /* listenAddress unless unspecified */
    uint16_t config_port;             /* publicPort */
    unsigned interval_s;
    char *url;
    char *servers[MAX_SERVERS];
    size_t nservers;
    uv_timer_t timer;          /* next detection, or the STUN retransmission */
    struct hjob *job;          /* HTTP request in flight */
    struct resolve *resolving; /* STUN server name lookup in flight */
    /* STUN transaction */
    bool stun_active;
    size_t server;
    unsigned tries;
    uint8_t txid[WV_STUN_TXID_LEN];
    struct sockaddr_storage server_addr;
    /* Result */
    const char *state; /* "detecting", "detected", "failed" */
    char addr[INET6_ADDRSTRLEN];
    uint16_t port;
    char error[200];
};


/* --- The body parser -------------------------------------------------------------- */

static bool space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int wv_detect_parse_http_body(const char *buf, size_t len, char *out_ip, size_t outlen) {
    if (!buf && len)
        return WV_ERR_INVAL;
    if (len > WV_DETECT_MAX_BODY)
        return WV_ERR_TOOBIG;
    size_t a = 0, b = len;
    while (a < b && space(buf[a]))
        a++;
    while (b > a && space(buf[b - 1]))
        b--;
    char tmp[INET6_ADDRSTRLEN];
    if (b == a || b - a >= sizeof(tmp))
        return WV_ERR_INVAL;
    for (size_t i = a; i < b; i++)
        if (!(buf[i] >= '0' && buf[i] <= '9') && !(buf[i] >= 'a' && buf[i] <= 'f') &&
            !(buf[i] >= 'A' && buf[i] <= 'F') && buf[i] != '.' && buf[i] != ':')
            return WV_ERR_INVAL;
    memcpy(tmp, buf + a, b - a);
    tmp[b - a] = '\0';
    struct sockaddr_storage ss;
    if (wv_parse_ip(tmp, 0, &ss) != 0)
        return WV_ERR_INVAL;
    if (ss.ss_family == AF_INET) {
        uint32_t h = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
        if (h == 0 || (h >> 28) == 0xe)
            return WV_ERR_INVAL;
    } else {
        struct in6_addr *ia = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_UNSPECIFIED(ia) || IN6_IS_ADDR_MULTICAST(ia))
            return WV_ERR_INVAL;
    }
    char canon[INET6_ADDRSTRLEN];
    wv_addr_ip((const struct sockaddr *)&ss, canon, sizeof(canon));
    if (!out_ip || strlen(canon) >= outlen)
        return WV_ERR_INVAL;
    memcpy(out_ip, canon, strlen(canon) + 1);
    return 0;
}

/* --- Results ------------------------------------------------------------------------- */

static void schedule(struct dsock *s, unsigned seconds);

static void succeed(struct dsock *s, const struct sockaddr_storage *ss, uint16_t port) {
    wv_detect *d = s->d;
    char ip[INET6_ADDRSTRLEN];
    wv_addr_ip((const struct sockaddr *)ss, ip, sizeof(ip));
    d->stats.detections++;
    s->state = "detected";
    s->error[0] = '\0';
    bool changed = strcmp(ip, s->addr) != 0 || port != s->port;
    if (changed) {
        WV_INFO(d->log, SUB, "tunnel socket %s: public address %s port %u (%s, was %s)", s->name,
                ip, port, s->method == M_HTTP ? "http" : "stun", s->addr[0] ? s->addr : "unknown");
        snprintf(s->addr, sizeof(s->addr), "%s", ip);
        s->port = port;
        d->stats.changes++;
    }
    schedule(s, s->interval_s);
    if (changed && d->cbs.changed)
        d->cbs.changed(d, s->name, d->user);
}

static void fail(struct dsock *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct dsock *s, const char *fmt, ...) {
    char msg[sizeof(s->error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->d->stats.failures++;
    /* Say it once per new reason, not at every retry. */
    if (strcmp(msg, s->error) != 0)
        WV_WARN(s->d->log, SUB, "tunnel socket %s: address detection failed: %s%s", s->name, msg,
                s->addr[0] ? " (keeping the last detected address)" : "");
    snprintf(s->error, sizeof(s->error), "%s", msg);
    s->state = "failed";
    schedule(s, WV_MIN(s->interval_s, WV_DETECT_RETRY_S));
}

/* --- HTTP ------------------------------------------------------------------------------ */

struct hjob {
    uv_work_t work;
    struct dsock *owner; /* NULL once the detector is gone */
    atomic_bool cancel;  /* set by the loop then: the worker aborts soon */
    char *url;
    char *iface; /* "host!IP" when the socket listens on one address, else NULL */
    long ipresolve;
    char body[WV_DETECT_MAX_BODY];
    size_t len;
    bool oversize;
    CURLcode rc;
    long status;
    char err[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    struct hjob *j = arg;
    size_t bytes = size * n;
    if (bytes > sizeof(j->body) - j->len) {
        j->oversize = true;
        return 0; /* aborts the transfer */
    }
    memcpy(j->body + j->len, p, bytes);
    j->len += bytes;
    return bytes;
}

/* Called by libcurl about once a second at least: lets a shutdown or a
 * config change cut a hanging request short. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    struct hjob *j = arg;
    return atomic_load(&j->cancel) ? 1 : 0;
}

/* Worker thread: only touches the job. */
static void http_work(uv_work_t *w) {
    struct hjob *j = WV_CONTAINER_OF(w, struct hjob, work);
    CURL *c = curl_easy_init();
    if (!c) {
        j->rc = CURLE_FAILED_INIT;
        return;
    }
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WV_DETECT_HTTP_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)WV_DETECT_MAX_BODY);
    curl_easy_setopt(c, CURLOPT_IPRESOLVE, j->ipresolve);
    if (j->iface)
        curl_easy_setopt(c, CURLOPT_INTERFACE, j->iface);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wovenet");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, j);
    j->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->status);
    curl_easy_cleanup(c);
}

/* Every job holds a libcurl global reference (taken and dropped on the
 * loop thread) so a job that outlives its detector still has libcurl. */
static void job_free(struct hjob *j) {
    free(j->url);
    free(j->iface);
    free(j);
    curl_global_cleanup();
}

/* The start of a refused body, printable, for the log. */
static const char *excerpt(const struct hjob *j, char out[INET6_ADDRSTRLEN]) {
    size_t n = WV_MIN(j->len, (size_t)INET6_ADDRSTRLEN - 4);
    for (size_t i = 0; i < n; i++)
        out[i] = isprint((unsigned char)j->body[i]) ? j->body[i] : '?';
    snprintf(out + n, 4, "%s", j->len > n ? "..." : "");
    return out;
}

static void http_done(uv_work_t *w, int status) {
    struct hjob *j = WV_CONTAINER_OF(w, struct hjob, work);
    struct dsock *s = j->owner;
    if (!s) {
        job_free(j);
        return;
    }
    s->job = NULL;
    char ip[INET6_ADDRSTRLEN];
    int rv;
    /* Logs and the status show the URL without its query (it may hold a token). */
    char *q = strpbrk(j->url, "?#");
    if (q)
        *q = '\0';
    if (j->oversize || j->rc == CURLE_FILESIZE_EXCEEDED)
        fail(s, "the response from %s is over %d bytes (expected just an IP address)", j->url,
             WV_DETECT_MAX_BODY);
    else if (status != 0 || j->rc != CURLE_OK)
        fail(s, "GET %s: %s", j->url, j->err[0] ? j->err : curl_easy_strerror(j->rc));
    else if (j->status != 200)
        fail(s, "GET %s: HTTP status %ld", j->url, j->status);
    else if ((rv = wv_detect_parse_http_body(j->body, j->len, ip, sizeof(ip))) != 0)
        fail(s, "the response from %s is not an IP address: \"%s\"", j->url, excerpt(j, ip));
    else {
        struct sockaddr_storage ss;
        wv_parse_ip(ip, 0, &ss);
        if (ss.ss_family != s->family)
            fail(s, "%s answered %s, not an %s address like the socket", j->url, ip,
                 s->family == AF_INET6 ? "IPv6" : "IPv4");
        else
            succeed(s, &ss, s->config_port);
    }
    job_free(j);
}

static void http_start(struct dsock *s) {
    if (s->job)
        return; /* one at a time: its result counts */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fail(s, "libcurl failed to initialise");
        return;
    }
    struct hjob *j = wv_calloc(1, sizeof(*j));
    j->owner = s;
    j->url = wv_strdup(s->url);
    j->ipresolve = s->family == AF_INET6 ? CURL_IPRESOLVE_V6 : CURL_IPRESOLVE_V4;
    /* A socket on one address of a multi-homed host: ask from that
     * address, so the answer is the public address of its path. */
    if (s->listen_ip[0])
        j->iface = wv_asprintf("host!%s", s->listen_ip);
    if (uv_queue_work(s->d->loop, &j->work, http_work, http_done) != 0) {
        job_free(j);
        fail(s, "cannot queue the HTTP request");
        return;
    }
    s->job = j;
}

/* --- STUN -------------------------------------------------------------------------------- */

static void stun_next_server(struct dsock *s);

static void stun_stop(struct dsock *s) {
    if (!s->stun_active)
        return;
    s->stun_active = false;
    wv_quic_endpoint *ep =
        s->d->cbs.endpoint ? s->d->cbs.endpoint(s->d, s->name, s->d->user) : NULL;
    if (ep)
        wv_quic_endpoint_set_raw_handler(ep, NULL, NULL);
}

static void on_raw(wv_quic_endpoint *ep, const uint8_t *data, size_t len,
                   const struct sockaddr *from, void *user) {
    struct dsock *s = user;
    if (!s->stun_active || from->sa_family != s->server_addr.ss_family)
        return;
    /* Only the server we asked may answer (the transaction id is the other
     * half of that check). */
    if (from->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)from, *b = (const void *)&s->server_addr;
        if (a->sin_port != b->sin_port || a->sin_addr.s_addr != b->sin_addr.s_addr)
            return;
    } else {
        const struct sockaddr_in6 *a = (const void *)from, *b = (const void *)&s->server_addr;
        if (a->sin6_port != b->sin6_port || memcmp(&a->sin6_addr, &b->sin6_addr, 16) != 0)
            return;
    }
    struct sockaddr_storage mapped;
    int code = 0;
    int rv = wv_stun_parse_response(data, len, s->txid, &mapped, &code);
    const char *server = s->servers[s->server];
    if (rv == WV_ERR_NOTFOUND)
        return;
    if (rv == WV_ERR_PROTO) {
        /* Dropped like any bad datagram; a good answer may still come. */
        WV_DEBUG(s->d->log, SUB, "tunnel socket %s: malformed STUN response from %s", s->name,
                 server);
        return;
    }
    if (rv != 0) {
        WV_WARN(s->d->log, SUB, "tunnel socket %s: STUN server %s refused (error %d)", s->name,
                server, code);
        stun_next_server(s);
        return;
    }
    if (mapped.ss_family != s->family) {
        WV_WARN(s->d->log, SUB, "tunnel socket %s: STUN server %s mapped us to another family",
                s->name, server);
        stun_next_server(s);
        return;
    }
    uint16_t port =
        ntohs(mapped.ss_family == AF_INET ? ((struct sockaddr_in *)&mapped)->sin_port
                                          : ((struct sockaddr_in6 *)&mapped)->sin6_port);
    stun_stop(s);
    succeed(s, &mapped, s->keep_port ? s->config_port : port);
}

/* (Re)sends the request; false when the socket cannot send. */
static bool stun_send(struct dsock *s) {
    wv_quic_endpoint *ep =
        s->d->cbs.endpoint ? s->d->cbs.endpoint(s->d, s->name, s->d->user) : NULL;
    if (!ep)
        return false;
    uint8_t req[WV_STUN_HEADER_LEN];
    int n = wv_stun_build_request(req, sizeof(req), s->txid);
    wv_quic_endpoint_set_raw_handler(ep, on_raw, s);
    return n > 0 &&
           wv_quic_endpoint_send_raw(ep, (struct sockaddr *)&s->server_addr, req, (size_t)n) == 0;
}

/* Starts a transaction with s->server_addr; false if the socket cannot send. */
static bool stun_begin(struct dsock *s) {
    if (gnutls_rnd(GNUTLS_RND_NONCE, s->txid, sizeof(s->txid)) < 0)
        return false;
    s->stun_active = true;
    if (!stun_send(s)) {
        s->stun_active = false;
        return false;
    }
    s->tries = 1;
    schedule(s, 0);
    return true;
}

struct resolve {
    uv_getaddrinfo_t req;
    struct dsock *owner; /* NULL once the detector is gone */
    char port[8];
};

static void stun_try(struct dsock *s);

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct resolve *r = WV_CONTAINER_OF(req, struct resolve, req);
    struct dsock *s = r->owner;
    if (s) {
        s->resolving = NULL;
        if (status == 0 && res && res->ai_addrlen <= sizeof(s->server_addr)) {
            memcpy(&s->server_addr, res->ai_addr, res->ai_addrlen);
            if (!stun_begin(s))
                fail(s, "the tunnel socket is not listening");
        } else {
            WV_WARN(s->d->log, SUB, "tunnel socket %s: STUN server %s: cannot resolve (%s)",
                    s->name, s->servers[s->server], status ? uv_strerror(status) : "no address");
            s->server++;
            stun_try(s);
        }
    }
    uv_freeaddrinfo(res);
    free(r);
}

/* Resolves HOST:PORT to the socket's family off the loop (libuv's pool). */
static bool stun_resolve(struct dsock *s, const char *srv) {
    const char *colon = strrchr(srv, ':');
    if (!colon || colon == srv || strlen(colon + 1) >= 8)
        return false;
    struct resolve *r = wv_calloc(1, sizeof(*r));
    r->owner = s;
    snprintf(r->port, sizeof(r->port), "%s", colon + 1);
    char *host = wv_strndup(srv, (size_t)(colon - srv));
    struct addrinfo hints = {.ai_family = s->family, .ai_socktype = SOCK_DGRAM};
    int rv = uv_getaddrinfo(s->d->loop, &r->req, resolved, host, r->port, &hints);
    free(host);
    if (rv != 0) {
        free(r);
        return false;
    }
    s->resolving = r;
    return true;
}

/* Tries s->servers from s->server on: IP literals at once, host names
 * after resolving them. */
static void stun_try(struct dsock *s) {
    while (s->server < s->nservers) {
        const char *srv = s->servers[s->server];
        if (wv_parse_hostport(srv, &s->server_addr) != 0) {
            if (stun_resolve(s, srv))
                return;
            WV_WARN(s->d->log, SUB, "tunnel socket %s: STUN server %s: cannot resolve", s->name,
                    srv);
        } else if (s->server_addr.ss_family != s->family) {
            WV_DEBUG(s->d->log, SUB, "tunnel socket %s: STUN server %s skipped: other family",
                     s->name, srv);
        } else if (stun_begin(s)) {
            return;
        } else {
            fail(s, "the tunnel socket is not listening");
            return;
        }
        s->server++;
    }
    stun_stop(s);
    fail(s, "no STUN server answered (%zu tried)", s->nservers);
}

static void stun_next_server(struct dsock *s) {
    s->stun_active = false;
    s->server++;
    stun_try(s);
}

/* --- Scheduling -------------------------------------------------------------------------- */

static void detect_now(struct dsock *s) {
    if (s->method == M_HTTP) {
        http_start(s);
    } else if (!s->stun_active && !s->resolving) {
        s->server = 0;
        stun_try(s);
    }
}

static void on_timer(uv_timer_t *t) {
    struct dsock *s = t->data;
    if (s->method == M_STUN && s->stun_active) {
        if (s->tries < WV_COUNTOF(stun_rto_ms) && stun_send(s)) {
            s->tries++;
            schedule(s, 0);
            return;
        }
        WV_DEBUG(s->d->log, SUB, "tunnel socket %s: STUN server %s: no answer, trying the next",
                 s->name, s->servers[s->server]);
        stun_next_server(s);
        return;
    }
    detect_now(s);
}

/* seconds > 0: the next detection; 0 while a STUN transaction runs: its
 * retransmission timeout. */
static void schedule(struct dsock *s, unsigned seconds) {
    uint64_t ms = seconds * 1000ull;
    if (s->method == M_STUN && s->stun_active)
        ms = stun_rto_ms[WV_MIN(s->tries, WV_COUNTOF(stun_rto_ms)) - 1];
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

/* --- Sockets ------------------------------------------------------------------------------- */

static void dsock_closed(uv_handle_t *h) {
    struct dsock *s = h->data;
    free(s->name);
    free(s->key);
    free(s->url);
    for (size_t i = 0; i < s->nservers; i++)
        free(s->servers[i]);
    free(s);
}

static void dsock_free(struct dsock *s) {
    stun_stop(s);
    if (s->job) {
        s->job->owner = NULL;
        atomic_store(&s->job->cancel, true);
    }
    if (s->resolving) {
        s->resolving->owner = NULL;
        uv_cancel((uv_req_t *)&s->resolving->req);
    }
    uv_close((uv_handle_t *)&s->timer, dsock_closed);
}

static struct dsock *dsock_new(wv_detect *d, const json_t *o, const char *key) {
    const char *pa = json_string_value(json_object_get(o, "publicAddress"));
    const char *la = json_string_value(json_object_get(o, "listenAddress"));
    const char *mode = json_string_value(json_object_get(o, "mode"));
    struct dsock *s = wv_calloc(1, sizeof(*s));
    s->d = d;
    s->name = wv_strdup(json_string_value(json_object_get(o, "name")));
    s->key = wv_strdup(key);
    s->method = pa && strcmp(pa, "autoHttpDetect") == 0 ? M_HTTP : M_STUN;
    /* Same rule as the tunnel's listen address: an IPv6 listen address
     * makes an IPv6 socket. */
    s->family = la && strchr(la, ':') ? AF_INET6 : AF_INET;
    if (la && *la && strcmp(la, "0.0.0.0") != 0 && strcmp(la, "::") != 0)
        snprintf(s->listen_ip, sizeof(s->listen_ip), "%s", la);
    s->keep_port = mode && strcmp(mode, "port-forwarding") == 0;
    json_int_t pp = json_integer_value(json_object_get(o, "publicPort"));
    s->config_port = pp > 0 && pp < 65536 ? (uint16_t)pp : 0;
    s->interval_s = mode && strcmp(mode, "nat-traversal") == 0 ? WV_DETECT_NAT_INTERVAL_S
                                                               : WV_DETECT_STUN_INTERVAL_S;
    if (s->method == M_HTTP) {
        json_t *hd = json_object_get(o, "httpDetector");
        s->url = wv_strdup(json_string_value(json_object_get(hd, "url")));
        json_int_t iv = json_integer_value(json_object_get(hd, "interval"));
        s->interval_s = iv >= 1 ? (unsigned)iv : 60;
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(o, "stunServers"), i, v) {
            if (s->nservers < MAX_SERVERS && json_is_string(v))
                s->servers[s->nservers++] = wv_strdup(json_string_value(v));
        }
    }
    s->state = "detecting";
    uv_timer_init(d->loop, &s->timer);
    s->timer.data = s;
    return s;
}

static bool is_auto(const json_t *o) {
    const char *pa = json_string_value(json_object_get(o, "publicAddress"));
    const char *mode = json_string_value(json_object_get(o, "mode"));
    bool stun = (pa && strcmp(pa, "autoStunDetect") == 0) ||
                (mode && strcmp(mode, "nat-traversal") == 0);
    return (pa && strcmp(pa, "autoHttpDetect") == 0) ||
           (stun && json_array_size(json_object_get(o, "stunServers")));
}

static uint16_t bound_port(wv_detect *d, const char *name) {
    wv_quic_endpoint *ep = d->cbs.endpoint ? d->cbs.endpoint(d, name, d->user) : NULL;
    struct sockaddr_storage ss;
    if (!ep || wv_quic_endpoint_local_addr(ep, &ss) != 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

void wv_detect_set_sockets(wv_detect *d, const json_t *sockets) {
    wv_detect__portmap_set(d, &d->maps, sockets, bound_port);
    struct dsock *keep = NULL, *fresh = NULL;
    size_t i;
    json_t *o;
    json_array_foreach(sockets, i, o) {
        if (!is_auto(o) || !json_is_string(json_object_get(o, "name")))
            continue;
        /* The status is runtime output, not configuration. */
        json_t *cfg = json_deep_copy(o);
        json_object_del(cfg, "status");
        char *key = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(cfg);
        const char *name = json_string_value(json_object_get(o, "name"));
        struct dsock **pp = &d->socks, *s = NULL;
        for (; *pp; pp = &(*pp)->next)
            if (strcmp((*pp)->name, name) == 0 && strcmp((*pp)->key, key) == 0) {
                s = *pp;
                *pp = s->next;
                break;
            }
        if (!s) {
            s = dsock_new(d, o, key);
            s->next = fresh;
            fresh = s;
        } else {
            s->next = keep;
            keep = s;
        }
        free(key);
    }
    /* What is left is gone or changed. */
    for (struct dsock *s = d->socks, *next; s; s = next) {
        next = s->next;
        dsock_free(s);
    }
    d->socks = keep;
    while (fresh) {
        struct dsock *s = fresh;
        fresh = s->next;
        s->next = d->socks;
        d->socks = s;
        const char *how = s->method == M_HTTP ? s->url : "STUN";
        WV_INFO(d->log, SUB, "tunnel socket %s: detecting its public address (%.*s)", s->name,
                (int)strcspn(how, "?#"), how);
        detect_now(s);
    }
}

static struct dsock *find(wv_detect *d, const char *name) {
    for (struct dsock *s = d->socks; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

void wv_detect_refresh(wv_detect *d, const char *name) {
    struct dsock *s = find(d, name);
    if (s && s->method == M_STUN && !s->stun_active && !s->resolving) {
        WV_DEBUG(d->log, SUB, "tunnel socket %s: checking its NAT mapping again", name);
        detect_now(s);
    }
}

int wv_detect_get(wv_detect *d, const char *name, char *addr, size_t addrlen, uint16_t *port) {
    struct dsock *s = find(d, name);
    if (!s)
        return WV_ERR_NOTFOUND;
    if (!s->addr[0] || !s->port)
        return WV_ERR_AGAIN;
    snprintf(addr, addrlen, "%s", s->addr);
    *port = s->port;
    return 0;
}

int wv_detect_mapping(wv_detect *d, const char *name, char *addr, size_t addrlen,
                      uint16_t *port) {
    return wv_detect__portmap_get(d->maps, name, addr, addrlen, port);
}

json_t *wv_detect_mapping_status(wv_detect *d, const char *name) {
    return wv_detect__portmap_status(d->maps, name);
}

json_t *wv_detect_status(wv_detect *d, const char *name) {
    struct dsock *s = find(d, name);
    if (!s)
        return NULL;
    json_t *o =
        json_pack("{s:s, s:s}", "method", s->method == M_HTTP ? "http" : "stun", "state", s->state);
    if (s->addr[0]) {
        json_object_set_new(o, "publicAddress", json_string(s->addr));
        json_object_set_new(o, "publicPort", json_integer(s->port));
    }
    if (s->error[0])
        json_object_set_new(o, "error", json_string(s->error));
    return o;
}

void wv_detect_get_stats(wv_detect *d, struct wv_detect_stats *out) {
    *out = d->stats;
}

/* --- Lifetime ------------------------------------------------------------------------------ */

int wv_detect_new(uv_loop_t *loop, wv_log *log, const struct wv_detect_callbacks *cbs, void *user,
                  wv_detect **out) {
    /* Reference-counted by libcurl; paired with the cleanup in free. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return WV_ERR_IO;
    wv_detect *d = wv_calloc(1, sizeof(*d));
    d->loop = loop;
    d->log = log;
    if (cbs)
        d->cbs = *cbs;
    d->user = user;
    *out = d;
    return 0;
}

void wv_detect_free(wv_detect *d) {
    if (!d)
        return;
    wv_detect__portmap_free_all(d->maps);
    for (struct dsock *s = d->socks, *next; s; s = next) {
        next = s->next;
        dsock_free(s);
    }
    free(d);
    curl_global_cleanup();
}
