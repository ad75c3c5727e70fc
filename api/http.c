/* The HTTP server core: MHD on the libuv loop, routing, bodies, dispatch (a
 * request's accessors and answers are in http_req.c). */
#include "http_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wv/base.h"

/* --- libuv glue ------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

static void rearm(wv_http *h) {
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (!h->d)
        return;
    if (h->kick) {
        uv_timer_start(&h->timer, on_timer, 0, 0);
    } else if (MHD_get_timeout(h->d, &ms) == MHD_YES) {
        /* Cap the wait so a missed wake-up can never stall us for long. */
        uv_timer_start(&h->timer, on_timer, ms > 1000 ? 1000 : ms, 0);
    } else {
        uv_timer_start(&h->timer, on_timer, 1000, 0);
    }
}

static void run(wv_http *h) {
    if (!h->d)
        return;
    h->kick = false;
    MHD_run(h->d);
    rearm(h);
}

static void on_timer(uv_timer_t *t) {
    run(WV_CONTAINER_OF(t, wv_http, timer));
}

static void on_poll(uv_poll_t *p, int status, int events) {
    run(WV_CONTAINER_OF(p, wv_http, poll));
}

/* MHD_run must follow a resume, but never from inside an MHD callback:
 * defer it to the next loop turn. */
static void kick(wv_http *h) {
    h->kick = true;
    if (h->d)
        uv_timer_start(&h->timer, on_timer, 0, 0);
}

void wv_http_suspend_conn(wv_http *h, struct wv_http_susp *s, struct MHD_Connection *conn) {
    if (s->active || h->closing)
        return;
    MHD_suspend_connection(conn);
    s->conn = conn;
    s->active = true;
    WV_LIST_PUSH(h->suspended, s);
}

static void unlink_susp(wv_http *h, struct wv_http_susp *s) {
    WV_LIST_UNLINK(h->suspended, s);
    s->active = false;
}

void wv_http_resume_conn(wv_http *h, struct wv_http_susp *s) {
    if (!s->active)
        return;
    unlink_susp(h, s);
    MHD_resume_connection(s->conn);
    kick(h);
}

/* --- URL decoding ------------------------------------------------------------------ */

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX except %00 and %2F: a NUL would silently cut a name short and
 * a slash would move a name into another path segment. Left encoded, both
 * fail the name rule and the request is refused. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    char *w = s;
    for (const char *p = s; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = hexval((unsigned char)p[1])) >= 0 &&
            (lo = hexval((unsigned char)p[2])) >= 0 && (hi || lo) && !(hi == 2 && lo == 15)) {
            *w++ = (char)(hi * 16 + lo);
            p += 2;
        } else if (*p == '+') {
            *w++ = ' ';
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* --- Routing --------------------------------------------------------------------- */

/* Matches pattern against path segment by segment; {x} takes one non-empty
 * segment. On success params receive copies (caller frees). */
static bool match(const char *pat, const char *path, bool prefix, char **params) {
    unsigned n = 0;
    const char *p = pat, *q = path;
    while (*p && *q) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *qe = strchr(q, '/');
            size_t len = qe ? (size_t)(qe - q) : strlen(q);
            if (!pe || len == 0 || n >= MAX_PARAMS)
                goto no;
            params[n++] = wv_strndup(q, len);
            p = pe + 1;
            q += len;
        } else if (*p == *q) {
            p++;
            q++;
        } else {
            goto no;
        }
    }
    if (*p == '\0' && (*q == '\0' || (prefix && (q[-1] == '/' || *q == '/'))))
        return true;
no:
    for (unsigned i = 0; i < n; i++) {
        free(params[i]);
        params[i] = NULL;
    }
    return false;
}

static bool method_is(const char *m, const char *want) {
    return strcmp(m, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(m, "HEAD") == 0);
}

static void resolve(wv_http_req *r) {
    wv_http *h = r->h;
    r->resolved = true;
    for (unsigned i = 0; i < h->nroutes; i++) {
        const struct route *rt = &h->routes[i];
        char *params[MAX_PARAMS] = {0};
        if (!match(rt->pattern, r->path, rt->flags & WV_ROUTE_PREFIX, params))
            continue;
        if (method_is(r->method, rt->method) && !r->route) {
            r->route = rt;
            memcpy(r->params, params, sizeof params);
            continue;
        }
        for (unsigned k = 0; k < MAX_PARAMS; k++)
            free(params[k]);
        if (!strstr(r->allow, rt->method) &&
            strlen(r->allow) + strlen(rt->method) + 3 < sizeof r->allow) {
            if (r->allow[0])
                strcat(r->allow, ", ");
            strcat(r->allow, rt->method);
        }
    }
}

int wv_http_route(wv_http *h, const char *method, const char *pattern, unsigned flags,
                  wv_http_handler fn, void *user) {
    if (h->nroutes >= MAX_ROUTES)
        return WV_ERR_LIMIT;
    h->routes[h->nroutes++] = (struct route){method, pattern, flags, fn, user};
    return 0;
}

void wv_http_set_gate(wv_http *h, wv_http_gate gate, void *user) {
    h->gate = gate;
    h->gate_user = user;
}

static wv_http_req *req_new(wv_http *h, struct MHD_Connection *c, const char *url,
                            const char *method) {
    wv_http_req *r = wv_calloc(1, sizeof *r);
    r->h = h;
    r->conn = c;
    r->method = method;
    r->path = wv_strdup(url);
    strcpy(r->ip, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr &&
        (ci->client_addr->sa_family == AF_INET || ci->client_addr->sa_family == AF_INET6))
        wv_addr_ip(ci->client_addr, r->ip, sizeof r->ip);
    snprintf(r->ckey, sizeof r->ckey, "%s", r->ip);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
        /* One host or subscriber holds a whole /64: key the limits by it,
         * or a client walks around them by changing its address. A
         * v4-mapped address stays the IPv4 one. */
        struct in6_addr a = ((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr;
        if (!IN6_IS_ADDR_V4MAPPED(&a)) {
            memset(a.s6_addr + 8, 0, 8);
            char buf[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, &a, buf, sizeof buf);
            snprintf(r->ckey, sizeof r->ckey, "%s/64", buf);
        }
    }
    return r;
}

static void req_free(wv_http_req *r) {
    if (r->susp.active)
        unlink_susp(r->h, &r->susp);
    if (r->gate_free && r->gate_state)
        r->gate_free(r->gate_state);
    for (unsigned i = 0; i < MAX_PARAMS; i++)
        free(r->params[i]);
    for (unsigned i = 0; i < r->nhdrs; i++) {
        free(r->hdrs[i].name);
        free(r->hdrs[i].value);
    }
    json_decref(r->json);
    wv_buf_dispose(&r->body);
    free(r->path);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    if (*con_cls)
        req_free(*con_cls);
    *con_cls = NULL;
}

/* --- Connections per /64 ----------------------------------------------------------- */

/* The /64 of an IPv6 client that is not a v4-mapped IPv4 one; false otherwise. */
static bool net64_of(const struct sockaddr *sa, uint8_t out[8]) {
    if (!sa || sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a))
        return false;
    memcpy(out, a->s6_addr, 8);
    return true;
}

static struct wv_http_net64 *net64_find(wv_http *h, const uint8_t prefix[8], bool add) {
    struct wv_http_net64 *free_slot = NULL;
    for (unsigned i = 0; i < h->opts.max_connections; i++) {
        struct wv_http_net64 *e = &h->net64[i];
        if (e->n && !memcmp(e->prefix, prefix, 8))
            return e;
        if (!e->n && !free_slot)
            free_slot = e;
    }
    if (add && free_slot)
        memcpy(free_slot->prefix, prefix, 8);
    return add ? free_slot : NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *sa, socklen_t len) {
    wv_http *h = cls;
    uint8_t pfx[8];
    if (!net64_of(sa, pfx))
        return MHD_YES;
    struct wv_http_net64 *e = net64_find(h, pfx, false);
    if (e && e->n >= h->opts.per_ip_limit) {
        h->net64_refused++;
        return MHD_NO;
    }
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
    wv_http *h = cls;
    uint8_t pfx[8];
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        struct wv_http_net64 *e =
            ci && net64_of(ci->client_addr, pfx) ? net64_find(h, pfx, true) : NULL;
        if (e)
            e->n++;
        *socket_ctx = e; /* the table never moves; an entry lives while n > 0 */
    } else if (*socket_ctx) {
        struct wv_http_net64 *e = *socket_ctx;
        e->n--;
        *socket_ctx = NULL;
    }
}

uint64_t wv_http_net64_refused(wv_http *h) {
    return h->net64_refused;
}

/* --- Dispatch -------------------------------------------------------------------- */

static bool has_body_method(const char *m) {
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

/* "application/json" or, for PATCH, "application/merge-patch+json", with
 * optional parameters ("; charset=utf-8"). */
static bool is_json_ct(const char *ct, bool patch) {
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t len = strcspn(ct, "; ");
    if (len == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return patch && len == 28 && strncasecmp(ct, "application/merge-patch+json", 28) == 0;
}

static bool ip_is_loopback(const char *ip) {
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strncmp(ip, "::ffff:127.", 11) == 0;
}

/* The per-client request rate: answers 429 and returns false when over. */
static bool rate_ok(wv_http_req *r) {
    wv_http *h = r->h;
    uint64_t retry_ms = 0;
    if (r->rate_checked)
        return true;
    r->rate_checked = true;
    if (!h->rl || (!h->opts.rate_loopback && ip_is_loopback(r->ip)) ||
        wv_ratelimit_take(h->rl, r->ckey, uv_now(h->loop), &retry_ms))
        return true;
    h->rate_limited++;
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)((retry_ms + 999) / 1000));
    wv_http_add_header(r, "Retry-After", s);
    wv_http_reply_error(r, 429, "too_many_requests", NULL,
                        "more than %u requests per second from this client", h->opts.rate_per_s);
    return false;
}

/* The Host header names this server: an IP literal (a rebinding page
 * cannot make a browser send one for its own origin), localhost, or a name
 * the operator allowed. A DNS-rebinding page sends its own name, whatever
 * address that name resolves to. */
static bool host_allowed(wv_http *h, const char *host) {
    if (!host)
        return true; /* HTTP/1.0 without Host: not a browser */
    char name[256];
    size_t n;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end || (end[1] != '\0' && end[1] != ':'))
            return false;
        n = (size_t)(end - host - 1);
        if (n == 0 || n >= sizeof name)
            return false;
        memcpy(name, host + 1, n);
        name[n] = '\0';
        struct in6_addr a6;
        return inet_pton(AF_INET6, name, &a6) == 1;
    }
    n = strcspn(host, ":");
    if (n == 0 || n >= sizeof name)
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (host[n] == ':') {
        const char *port = host + n + 1;
        if (!*port || strspn(port, "0123456789") != strlen(port))
            return false;
    }
    if (n > 1 && name[n - 1] == '.')
        name[--n] = '\0'; /* "localhost." is localhost */
    struct in_addr a4;
    if (inet_pton(AF_INET, name, &a4) == 1 || strcasecmp(name, "localhost") == 0)
        return true;
    for (size_t i = 0; i < h->nallowed; i++)
        if (strcasecmp(name, h->allowed_hosts[i]) == 0)
            return true;
    return false;
}

void wv_http_set_allowed_hosts(wv_http *h, const char *const *names, size_t n) {
    for (size_t i = 0; i < h->nallowed; i++)
        free(h->allowed_hosts[i]);
    free(h->allowed_hosts);
    h->allowed_hosts = n ? wv_calloc(n, sizeof *h->allowed_hosts) : NULL;
    for (size_t i = 0; i < n; i++)
        h->allowed_hosts[i] = wv_strdup(names[i]);
    h->nallowed = n;
}

uint64_t wv_http_host_refused(wv_http *h) {
    return h->host_refused;
}

/* A browser on another origin sends an Origin header: refuse it for writes
 * unless it names this very host (the dashboard is same-origin). */
static bool foreign_origin(wv_http_req *r) {
    const char *origin = wv_http_req_header(r, "Origin");
    const char *host = wv_http_req_header(r, "Host");
    if (!origin || strcmp(origin, "null") == 0)
        return origin != NULL;
    const char *p = strstr(origin, "://");
    return !host || !p || strcmp(p + 3, host) != 0;
}

static void dispatch(wv_http_req *r) {
    wv_http *h = r->h;
    if (!r->resolved)
        resolve(r);
    const struct route *rt = r->route;
    bool public = rt && (rt->flags & WV_ROUTE_PUBLIC);
    if (h->closing) {
        wv_http_reply_error(r, 503, "unavailable", NULL, "the server is shutting down");
        return;
    }
    const char *host = wv_http_req_header(r, "Host");
    if (!host_allowed(h, host)) {
        h->host_refused++;
        wv_http_reply_error(r, 403, "host_not_allowed", NULL,
                            "the Host header \"%.100s\" is not allowed: use an IP address or "
                            "localhost, or add the name to restfulApi.allowedHosts",
                            host);
        return;
    }
    if (!rate_ok(r))
        return;
    if (!public && h->gate && !h->gate(r, h->gate_user))
        return;
    if (!rt) {
        if (r->allow[0]) {
            wv_http_add_header(r, "Allow", r->allow);
            wv_http_reply_error(r, 405, "method_not_allowed", NULL, "method %s not allowed here",
                                r->method);
        } else {
            wv_http_reply_error(r, 404, "not_found", NULL, "no such path");
        }
        return;
    }
    bool writes = strcmp(r->method, "GET") && strcmp(r->method, "HEAD");
    if (writes && foreign_origin(r)) {
        wv_http_reply_error(r, 403, "forbidden", NULL, "cross-origin requests are refused");
        return;
    }
    const char *ct = wv_http_req_header(r, "Content-Type");
    if (has_body_method(r->method) && !(rt->flags & WV_ROUTE_RAWBODY)) {
        if (!is_json_ct(ct, strcmp(r->method, "PATCH") == 0)) {
            wv_http_reply_error(r, 415, "unsupported_media_type", NULL,
                                "the body must be application/json");
            return;
        }
        json_error_t jerr;
        r->json =
            json_loadb(r->body.p ? r->body.p : "", r->body.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!r->json) {
            wv_http_reply_error(r, 400, "bad_json", NULL, "malformed JSON at line %d column %d",
                                jerr.line, jerr.column);
            return;
        }
    } else if (writes && ct && !is_json_ct(ct, true) && !(rt->flags & WV_ROUTE_RAWBODY)) {
        /* A body-less write still must not look like a form post. */
        wv_http_reply_error(r, 415, "unsupported_media_type", NULL,
                            "the body must be application/json");
        return;
    }
    rt->fn(r, rt->user);
    if (!r->replied && !r->suspended)
        wv_http_reply_error(r, 500, "internal", NULL, "the handler gave no answer");
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls) {
    wv_http *h = cls;
    wv_http_req *r = *con_cls;
    if (!r) {
        r = req_new(h, c, url, method);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > h->opts.max_body) {
                r->too_big = true;
                wv_http_reply_error(r, 413, "too_large", NULL, "the body is over %zu bytes",
                                    h->opts.max_body);
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->replied || r->too_big || r->body.len + n > h->opts.max_body) {
            r->too_big = true;
            r->discarded += n;
            return r->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
        }
        wv_buf_add(&r->body, upload, n);
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    if (r->too_big) {
        wv_http_reply_error(r, 413, "too_large", NULL, "the body is over %zu bytes",
                            h->opts.max_body);
        return MHD_YES;
    }
    dispatch(r);
    return MHD_YES;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    wv_http *h = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    WV_DEBUG(h->log, SUB, "mhd: %s", line);
}

/* --- Life cycle ---------------------------------------------------------------------- */

int wv_http_new(uv_loop_t *loop, wv_log *log, const struct wv_http_opts *opts, wv_http **out) {
    if (!opts->listen ||
        (opts->listen->sa_family != AF_INET && opts->listen->sa_family != AF_INET6) ||
        (!opts->tls_cert_pem != !opts->tls_key_pem))
        return WV_ERR_INVAL;
    wv_http *h = wv_calloc(1, sizeof *h);
    h->loop = loop;
    h->log = log;
    h->opts = *opts;
    memcpy(&h->addr, opts->listen,
           opts->listen->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                              : sizeof(struct sockaddr_in6));
    h->opts.listen = (struct sockaddr *)&h->addr;
    if (opts->tls_cert_pem) {
        h->cert = wv_strdup(opts->tls_cert_pem);
        h->key = wv_strdup(opts->tls_key_pem);
    }
    h->opts.tls_cert_pem = h->cert;
    h->opts.tls_key_pem = h->key;
    if (!h->opts.max_connections)
        h->opts.max_connections = 256;
    if (!h->opts.per_ip_limit)
        h->opts.per_ip_limit = 128;
    h->net64 = wv_calloc(h->opts.max_connections, sizeof *h->net64);
    if (!h->opts.timeout_s)
        h->opts.timeout_s = 30;
    if (!h->opts.max_body)
        h->opts.max_body = 1u << 20;
    if (!h->opts.max_header)
        h->opts.max_header = 16u << 10;
    if (!h->opts.rate_per_s)
        h->opts.rate_per_s = 100;
    if (!h->opts.rate_burst)
        h->opts.rate_burst = 4 * h->opts.rate_per_s;
    h->rl = wv_ratelimit_new(h->opts.rate_per_s, h->opts.rate_burst, RATE_SLOTS);
    uv_timer_init(loop, &h->timer);
    h->open_handles = 1;
    *out = h;
    return 0;
}

/* Says why MHD could not start: a TLS key or certificate that does not
 * load, else what bind(2) of the same address answers now. Only TLS
 * errors are blamed on TLS, and only when TLS is on. */
static int start_failure(wv_http *h, char *why, size_t n) {
    char addr[WV_ADDR_STRLEN];
    wv_addr_format((const struct sockaddr *)&h->addr, addr);
    if (h->cert) {
        gnutls_certificate_credentials_t cred;
        gnutls_datum_t c = {(unsigned char *)h->cert, (unsigned)strlen(h->cert)};
        gnutls_datum_t k = {(unsigned char *)h->key, (unsigned)strlen(h->key)};
        int g = gnutls_certificate_allocate_credentials(&cred);
        if (g >= 0) {
            g = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
            gnutls_certificate_free_credentials(cred);
        }
        if (g < 0) {
            snprintf(why, n, "the TLS certificate or key (restfulApi.tls) is invalid: %s",
                     gnutls_strerror(g));
            return WV_ERR_INVAL;
        }
    }
    int fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, err = 0;
    if (fd < 0) {
        err = errno;
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (h->addr.ss_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        socklen_t len = h->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in);
        if (bind(fd, (struct sockaddr *)&h->addr, len) != 0 || listen(fd, 1) != 0)
            err = errno;
        close(fd);
    }
    if (err == EADDRINUSE)
        snprintf(why, n,
                 "cannot listen on %s: address already in use (another process listens "
                 "there: stop it, or choose another restfulApi.listenAddr or --api)",
                 addr);
    else if (err == EADDRNOTAVAIL)
        snprintf(why, n, "cannot listen on %s: the address is not on this host", addr);
    else if (err == EACCES)
        snprintf(why, n,
                 "cannot listen on %s: permission denied (a port below 1024 needs "
                 "CAP_NET_BIND_SERVICE)",
                 addr);
    else if (err)
        snprintf(why, n, "cannot listen on %s: %s", addr, strerror(err));
    else
        snprintf(why, n,
                 "cannot start the HTTP server on %s (libmicrohttpd refused; the debug "
                 "log has its message)",
                 addr);
    return WV_ERR_IO;
}

int wv_http_start(wv_http *h) {
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (h->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (h->cert)
        flags |= MHD_USE_TLS;
    uint16_t port =
        ntohs(h->addr.ss_family == AF_INET ? ((struct sockaddr_in *)&h->addr)->sin_port
                                           : ((struct sockaddr_in6 *)&h->addr)->sin6_port);
    /* The header memory pool also holds the answer's headers: double it. */
    size_t pool = h->opts.max_header * 2;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert},
        {MHD_OPTION_END, 0, NULL},
    };
    h->d = MHD_start_daemon(
        flags, port, on_accept, h, on_access, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&h->addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
        MHD_OPTION_CONNECTION_LIMIT, h->opts.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        h->opts.per_ip_limit, MHD_OPTION_CONNECTION_TIMEOUT, h->opts.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_UNESCAPE_CALLBACK, unescape, h,
        MHD_OPTION_ARRAY, h->cert ? tls : &tls[2], MHD_OPTION_END);
    if (!h->d) {
        char why[WV_HTTP_WHY_LEN];
        int rc = start_failure(h, why, sizeof why);
        WV_ERROR(h->log, SUB, "%s", why);
        if (h->opts.why)
            snprintf(h->opts.why, WV_HTTP_WHY_LEN, "%s", why);
        return rc;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || uv_poll_init(h->loop, &h->poll, info->epoll_fd) != 0) {
        MHD_stop_daemon(h->d);
        h->d = NULL;
        return WV_ERR_IO;
    }
    h->poll_init = true;
    h->open_handles++;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    rearm(h);
    WV_INFO(h->log, SUB, "listening on port %u (%s)", wv_http_port(h), h->cert ? "https" : "http");
    return 0;
}

uint16_t wv_http_port(wv_http *h) {
    if (!h->d)
        return 0;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

bool wv_http_closing(wv_http *h) {
    return h->closing;
}

uint64_t wv_http_rate_limited(wv_http *h) {
    return h->rate_limited;
}

uint64_t wv_http_count(wv_http *h, unsigned status) {
    return status < WV_COUNTOF(h->counts) ? h->counts[status] : 0;
}

static void on_closed(uv_handle_t *hd) {
    wv_http *h = hd->data;
    if (--h->open_handles > 0)
        return;
    void (*cb)(void *) = h->close_cb;
    void *arg = h->close_arg;
    wv_ratelimit_free(h->rl);
    free(h->net64);
    wv_http_set_allowed_hosts(h, NULL, 0);
    free(h->cert);
    if (h->key)
        wv_memwipe(h->key, strlen(h->key));
    free(h->key);
    free(h);
    if (cb)
        cb(arg);
}

static void resume_all(wv_http *h) {
    while (h->suspended)
        wv_http_resume_conn(h, h->suspended);
}

void wv_http_close(wv_http *h, void (*cb)(void *), void *arg) {
    h->closing = true;
    h->close_cb = cb;
    h->close_arg = arg;
    if (h->d) {
        /* MHD refuses to stop with suspended connections: wake them so their
         * handlers see `closing` and finish, then stop. */
        resume_all(h);
        MHD_run(h->d);
        resume_all(h);
        uv_poll_stop(&h->poll);
        h->poll.data = h;
        uv_close((uv_handle_t *)&h->poll, on_closed);
        MHD_stop_daemon(h->d);
        h->d = NULL;
    }
    uv_timer_stop(&h->timer);
    h->timer.data = h;
    uv_close((uv_handle_t *)&h->timer, on_closed);
}
