/* A request's accessors and its answers (status, JSON, headers, ETags). */
#include "http_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- Answers ------------------------------------------------------------------- */

static void finish(wv_http_req *r, unsigned status, struct MHD_Response *resp, bool json) {
    if (r->replied) {
        MHD_destroy_response(resp);
        return;
    }
    r->replied = true;
    for (unsigned i = 0; i < r->nhdrs; i++)
        MHD_add_response_header(resp, r->hdrs[i].name, r->hdrs[i].value);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (json)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (MHD_queue_response(r->conn, status, resp) != MHD_YES)
        WV_WARN(r->h->log, SUB, "%s %.200s: cannot queue answer %u", r->method, r->path, status);
    MHD_destroy_response(resp);
    if (status < WV_COUNTOF(r->h->counts))
        r->h->counts[status]++;
    WV_DEBUG(r->h->log, SUB, "%s %.200s %u (%s)", r->method, r->path, status, r->ip);
}

void wv_http_reply_response(wv_http_req *r, unsigned status, struct MHD_Response *resp) {
    finish(r, status, resp, false);
}

void wv_http_reply_bytes(wv_http_req *r, unsigned status, const char *content_type,
                         const void *data, size_t len, bool static_data) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)data, static_data ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    finish(r, status, resp, false);
}

void wv_http_reply_json(wv_http_req *r, unsigned status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    struct MHD_Response *resp;
    if (text) {
        size_t len = strlen(text);
        text[len] = '\0';
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Type", "application/json");
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    finish(r, status, resp, true);
}

void wv_http_reply_json_text(wv_http_req *r, unsigned status, const char *text, size_t len) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    finish(r, status, resp, true);
}

void wv_http_reply_error(wv_http_req *r, unsigned status, const char *code, const char *field,
                         const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (!e) /* msg was not UTF-8 (it quotes input): say less rather than fail */
        e = json_pack("{s:s, s:s}", "code", code, "message", "invalid input");
    if (field && field[0]) {
        json_t *f = json_string(field);
        json_object_set_new(e, "field", f ? f : json_string("(invalid)"));
    }
    wv_http_reply_json(r, status, json_pack("{s:o}", "error", e));
}

bool wv_http_replied(wv_http_req *r) {
    return r->replied;
}

void wv_http_add_header(wv_http_req *r, const char *name, const char *value) {
    if (r->nhdrs >= MAX_HDRS)
        return;
    r->hdrs[r->nhdrs].name = wv_strdup(name);
    r->hdrs[r->nhdrs].value = wv_strdup(value);
    r->nhdrs++;
}

int wv_http_if_match(wv_http_req *r, int64_t *rev) {
    const char *v = wv_http_req_header(r, "If-Match");
    *rev = -1;
    if (!v || strcmp(v, "*") == 0)
        return 0;
    char *end;
    if (v[0] != '"' || !isdigit((unsigned char)v[1]))
        return WV_ERR_INVAL;
    errno = 0;
    long long n = strtoll(v + 1, &end, 10);
    if (errno || strcmp(end, "\"") != 0 || n < 0)
        return WV_ERR_INVAL;
    *rev = n;
    return 0;
}

bool wv_http_if_none_match(wv_http_req *r, int64_t rev) {
    const char *v = wv_http_req_header(r, "If-None-Match");
    if (!v)
        return false;
    /* A list of entity tags, weak or strong ("W/" is the same here: the
     * comparison for If-None-Match is weak), or "*". */
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return false;
        char *end;
        errno = 0;
        long long n = strtoll(p + 1, &end, 10);
        if (errno || end == p + 1 || *end != '"')
            return false;
        if (n == rev)
            return true;
        p = end + 1;
    }
    return false;
}

void wv_http_set_etag(wv_http_req *r, int64_t rev) {
    char tag[32];
    snprintf(tag, sizeof tag, "\"%" PRId64 "\"", rev);
    wv_http_add_header(r, "ETag", tag);
}

/* --- Requests ---------------------------------------------------------------------- */

const char *wv_http_req_method(wv_http_req *r) {
    return r->method;
}
const char *wv_http_req_path(wv_http_req *r) {
    return r->path;
}
const char *wv_http_req_param(wv_http_req *r, unsigned i) {
    return i < MAX_PARAMS ? r->params[i] : NULL;
}
const char *wv_http_req_header(wv_http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}
const char *wv_http_req_query(wv_http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}
json_t *wv_http_req_json(wv_http_req *r) {
    return r->json;
}
const char *wv_http_req_body(wv_http_req *r, size_t *len) {
    *len = r->body.len;
    return r->body.p ? r->body.p : "";
}
const char *wv_http_req_client_key(wv_http_req *r) {
    return r->ckey;
}

const char *wv_http_req_ip(wv_http_req *r) {
    return r->ip;
}
struct MHD_Connection *wv_http_req_conn(wv_http_req *r) {
    return r->conn;
}
wv_http *wv_http_req_server(wv_http_req *r) {
    return r->h;
}

void wv_http_req_set_gate_state(wv_http_req *r, void *state, void (*free_fn)(void *)) {
    if (r->gate_free && r->gate_state && r->gate_state != state)
        r->gate_free(r->gate_state);
    r->gate_state = state;
    r->gate_free = free_fn;
}
void *wv_http_req_gate_state(wv_http_req *r) {
    return r->gate_state;
}

void wv_http_req_suspend(wv_http_req *r) {
    if (r->h->closing)
        return;
    r->suspended = true;
    wv_http_suspend_conn(r->h, &r->susp, r->conn);
}

void wv_http_req_resume(wv_http_req *r) {
    r->suspended = false;
    wv_http_resume_conn(r->h, &r->susp);
}
