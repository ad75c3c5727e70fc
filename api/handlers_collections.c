/* /api/v1/{tunnel-sockets,exposed-apps,remote-apps}[/{name}]. */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "wv/base.h"

/* Adds the read-only members to a stored object (owned by the caller):
 * its runtime status, and where it comes from (origins: {name: origin},
 * file: the config file managing the "config" ones). */
static json_t *with_status(wv_api *api, enum wv_kind kind, json_t *obj, json_t *origins,
                           const char *file) {
    const char *name = json_string_value(json_object_get(obj, "name"));
    const char *origin = json_string_value(json_object_get(origins, name ? name : ""));
    json_object_set_new(obj, "status", wv_api_status(api, kind, name ? name : ""));
    json_object_set_new(obj, "origin", json_string(origin ? origin : "api"));
    if (origin && strcmp(origin, "config") == 0)
        json_object_set_new(obj, "managedBy", json_string(file));
    return obj;
}

/* with_status for every object of arr. */
static void with_status_all(wv_api *api, enum wv_kind kind, json_t *arr) {
    json_t *origins = NULL, *obj;
    size_t i;
    char *file = wv_store_config_file(api->st);
    wv_store_origins(api->st, kind, &origins);
    json_array_foreach(arr, i, obj) with_status(api, kind, obj, origins, file);
    json_decref(origins);
    free(file);
}

/* Answers with the object. After a write (saved) whose runtime went wrong at
 * once (a port in use, a site without that app), the answer says so in
 * "warning": the write was stored, but it does not work as it is. */
static void reply_saved(struct wv_api_coll *c, wv_http_req *r, unsigned code, const char *name,
                        bool saved) {
    json_t *obj = NULL;
    int err = wv_store_get(c->api->st, c->kind, name, &obj);
    if (err) {
        wv_api_store_error(c->api, r, err, NULL);
        return;
    }
    int64_t etag = -1;
    wv_store_object_rev(c->api->st, c->kind, name, &etag);
    json_t *one = json_pack("[o]", obj);
    with_status_all(c->api, c->kind, one);
    json_t *st = json_object_get(obj, "status");
    const char *state = json_string_value(json_object_get(st, "state"));
    const char *why = json_string_value(json_object_get(st, "error"));
    if (saved && state && strcmp(state, "error") == 0) {
        char *w = wv_asprintf("saved, but %s", why && *why ? why : "its state is error");
        json_object_set_new(obj, "warning", json_string(w));
        free(w);
    }
    /* The object's own ETag: the revision at which it last changed, so a
     * change of another object does not make a client's copy stale. */
    wv_http_set_etag(r, etag);
    wv_http_reply_json(r, code, json_incref(obj));
    json_decref(one);
}

static void reply_object(struct wv_api_coll *c, wv_http_req *r, unsigned code, const char *name) {
    reply_saved(c, r, code, name, false);
}

/* Lists are what dashboards poll; serializing a hundred objects per request
 * dominates, so an answer is reused while nothing it shows has changed. */
static void list(wv_http_req *r, void *user) {
    struct wv_api_coll *c = user;
    json_t *arr = NULL;
    int64_t rev = wv_store_revision(c->api->st);
    uint64_t now = uv_now(c->api->loop);
    if (rev >= 0 && wv_http_if_none_match(r, rev)) {
        wv_http_set_etag(r, rev);
        wv_http_reply_json(r, 304, NULL);
        return;
    }
    if (c->cache && rev >= 0 && rev == c->cache_rev && c->cache_epoch == c->api->status_epoch &&
        now - c->cache_at < WV_API_LIST_CACHE_MS) {
        wv_http_set_etag(r, rev);
        wv_http_reply_json_text(r, 200, c->cache, c->cache_len);
        return;
    }
    int err = wv_store_list(c->api->st, c->kind, &arr);
    if (err) {
        wv_api_store_error(c->api, r, err, NULL);
        return;
    }
    with_status_all(c->api, c->kind, arr);
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text) {
        wv_http_reply_error(r, 500, "internal", NULL, "cannot serialize the list");
        return;
    }
    free(c->cache);
    c->cache = text;
    c->cache_len = strlen(text);
    c->cache_rev = rev;
    c->cache_epoch = c->api->status_epoch;
    c->cache_at = now;
    wv_http_set_etag(r, rev);
    wv_http_reply_json_text(r, 200, c->cache, c->cache_len);
}

static void get_one(wv_http_req *r, void *user) {
    struct wv_api_coll *c = user;
    const char *name = wv_http_req_param(r, 0);
    int64_t etag;
    if (!wv_valid_name(name) || wv_store_object_rev(c->api->st, c->kind, name, &etag) != 0) {
        wv_http_reply_error(r, 404, "not_found", NULL, "no such %s", wv_kind_noun(c->kind));
        return;
    }
    if (wv_http_if_none_match(r, etag)) {
        wv_http_set_etag(r, etag);
        wv_http_reply_json(r, 304, NULL);
        return;
    }
    reply_object(c, r, 200, name);
}

/* Validation happens once, in the store's write (422 naming the field). */

static void create(wv_http_req *r, void *user) {
    struct wv_api_coll *c = user;
    int64_t rev;
    json_t *body = wv_api_write_body(r, &rev);
    if (!body)
        return;
    wv_verr verr = {{0}, {0}};
    int err = wv_store_create(c->api->st, c->kind, body, rev, &verr);
    /* Stored, so validated: the name is there and valid. */
    const char *name = json_string_value(json_object_get(body, "name"));
    if (err || !name) {
        wv_api_store_error(c->api, r, err ? err : WV_ERR_INVAL, &verr);
        return;
    }
    char *n = wv_strdup(name);
    char *loc = wv_asprintf("%s/%s", c->path, n);
    wv_http_add_header(r, "Location", loc);
    free(loc);
    /* Tell the agent first: the answer then shows the new object running
     * (or why it does not). */
    wv_api_notify(c->api, c->kind, n, "created");
    reply_saved(c, r, 201, n, true);
    free(n);
}

/* Makes body's name agree with the URL's: absent takes the URL's, a
 * different one is refused. */
static bool name_matches(wv_http_req *r, json_t *body, const char *url_name) {
    json_t *n = json_object_get(body, "name");
    if (!n) {
        json_object_set_new(body, "name", json_string(url_name));
        return true;
    }
    if (json_is_string(n) && strcmp(json_string_value(n), url_name) == 0)
        return true;
    wv_http_reply_error(r, 422, "invalid", "name", "the name in the body must match the URL");
    return false;
}

static void store_put(struct wv_api_coll *c, wv_http_req *r, json_t *obj, int64_t rev,
                      const char *name) {
    bool created = false, changed = false;
    wv_verr verr = {{0}, {0}};
    int err = wv_store_put(c->api->st, c->kind, obj, rev, &created, &changed, &verr);
    if (err) {
        wv_api_store_error(c->api, r, err, &verr);
        return;
    }
    if (created || changed)
        wv_api_notify(c->api, c->kind, name, created ? "created" : "changed");
    reply_saved(c, r, created ? 201 : 200, name, created || changed);
}

/* PUT and PATCH of one object: a PATCH is merged (RFC 7396) into what is
 * stored and the result written as a PUT of the whole would be. */
static void write_one(wv_http_req *r, struct wv_api_coll *c, bool merge) {
    const char *name = wv_http_req_param(r, 0);
    int64_t rev;
    json_t *body = wv_api_write_body(r, &rev);
    if (!body)
        return;
    if (!merge) {
        if (!wv_valid_name(name))
            wv_http_reply_error(r, 422, "invalid", "name",
                                "names are 1..255 of [A-Za-z0-9._-], starting with a letter or "
                                "digit");
        else if (name_matches(r, body, name))
            store_put(c, r, body, rev, name);
        return;
    }
    json_t *cur = NULL;
    int err = wv_valid_name(name) ? wv_store_get(c->api->st, c->kind, name, &cur) : WV_ERR_NOTFOUND;
    if (err) {
        wv_api_store_error(c->api, r, err, NULL);
        return;
    }
    json_object_del(cur, "status");
    if (!name_matches(r, body, name)) {
        json_decref(cur);
        return;
    }
    json_t *merged = wv_json_merge_patch(cur, body);
    json_decref(cur);
    store_put(c, r, merged, rev, name);
    json_decref(merged);
}

static void put(wv_http_req *r, void *user) {
    write_one(r, user, false);
}

static void patch(wv_http_req *r, void *user) {
    write_one(r, user, true);
}

static void del(wv_http_req *r, void *user) {
    struct wv_api_coll *c = user;
    const char *name = wv_http_req_param(r, 0);
    int64_t rev;
    if (!wv_api_if_match(r, &rev))
        return;
    wv_verr verr = {{0}, {0}};
    int err = wv_valid_name(name) ? wv_store_delete_ex(c->api->st, c->kind, name, rev, &verr)
                                  : WV_ERR_NOTFOUND;
    if (err) {
        wv_api_store_error(c->api, r, err, &verr);
        return;
    }
    wv_http_set_etag(r, wv_store_revision(c->api->st));
    wv_http_reply_json(r, 204, NULL);
    wv_api_notify(c->api, c->kind, name, "deleted");
}

void wv_api_routes_collections(wv_api *api) {
    static const char *const one[] = {"/api/v1/tunnel-sockets/{name}",
                                      "/api/v1/exposed-apps/{name}", "/api/v1/remote-apps/{name}"};
    for (unsigned i = 0; i < WV_COUNTOF(api->colls); i++) {
        struct wv_api_coll *c = &api->colls[i];
        wv_http_route(api->http, "GET", c->path, 0, list, c);
        wv_http_route(api->http, "POST", c->path, 0, create, c);
        wv_http_route(api->http, "GET", one[i], 0, get_one, c);
        wv_http_route(api->http, "PUT", one[i], 0, put, c);
        wv_http_route(api->http, "PATCH", one[i], 0, patch, c);
        wv_http_route(api->http, "DELETE", one[i], 0, del, c);
    }
}
