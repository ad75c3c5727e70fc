/* /api/v1/site and /api/v1/config: the site settings and the whole
 * desired-state document. Bodies here may hold secrets: never log them. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wv/config.h"

#include "api_int.h"
#include "wv/base.h"

static void reply_site(wv_api *api, wv_http_req *r) {
    json_t *site = NULL;
    int64_t etag = -1;
    if (strcmp(wv_http_req_method(r), "GET") == 0 &&
        wv_store_object_rev(api->st, WV_KIND_SITE, NULL, &etag) == 0 &&
        wv_http_if_none_match(r, etag)) {
        wv_http_set_etag(r, etag);
        wv_http_reply_json(r, 304, NULL);
        return;
    }
    int err = wv_store_get_site(api->st, &site);
    if (err == WV_ERR_NOTFOUND) {
        wv_http_reply_error(r, 404, "not_found", NULL, "no site configured yet (PUT one)");
        return;
    }
    if (err) {
        wv_api_store_error(api, r, err, NULL);
        return;
    }
    json_t *status = api->cb.site_status ? api->cb.site_status(api, api->user) : NULL;
    if (status)
        json_object_set_new(site, "status", status);
    json_t *origins = NULL;
    wv_store_origins(api->st, WV_KIND_SITE, &origins);
    const char *origin = json_string_value(json_object_get(origins, "site"));
    json_object_set_new(site, "origin", json_string(origin ? origin : "api"));
    if (origin && strcmp(origin, "config") == 0) {
        char *file = wv_store_config_file(api->st);
        json_object_set_new(site, "managedBy", json_string(file));
        free(file);
    }
    json_decref(origins);
    wv_store_object_rev(api->st, WV_KIND_SITE, NULL, &etag);
    wv_http_set_etag(r, etag);
    wv_http_reply_json(r, 200, site);
}

static void site_get(wv_http_req *r, void *user) {
    reply_site(user, r);
}

static void site_write(wv_api *api, wv_http_req *r, json_t *site, int64_t rev) {
    wv_verr verr = {{0}, {0}};
    bool changed = false;
    if (wv_api_refuse_open_api(api, r, site))
        return;
    int err = wv_store_put_site(api->st, site, rev, &changed, &verr);
    if (err) {
        wv_api_store_error(api, r, err, &verr);
        return;
    }
    reply_site(api, r);
    if (changed)
        wv_api_notify(api, WV_KIND_SITE, NULL, "changed");
}

static void site_put(wv_http_req *r, void *user) {
    int64_t rev;
    json_t *body = wv_api_write_body(r, &rev);
    if (body)
        site_write(user, r, body, rev);
}

static void site_patch(wv_http_req *r, void *user) {
    wv_api *api = user;
    int64_t rev;
    json_t *body = wv_api_write_body(r, &rev);
    if (!body)
        return;
    json_t *cur = NULL;
    int err = wv_store_get_site(api->st, &cur);
    if (err && err != WV_ERR_NOTFOUND) {
        wv_api_store_error(api, r, err, NULL);
        return;
    }
    json_t *merged = wv_json_merge_patch(cur, body);
    json_decref(cur);
    site_write(api, r, merged, rev);
    json_decref(merged);
}

static void config_get(wv_http_req *r, void *user) {
    wv_api *api = user;
    json_t *doc = NULL;
    int err = wv_store_export(api->st, &doc);
    if (err) {
        wv_api_store_error(api, r, err, NULL);
        return;
    }
    int64_t rev = json_integer_value(json_object_get(doc, "revision"));
    /* The whole document's ETag is the global revision. */
    wv_http_set_etag(r, rev);
    if (wv_http_if_none_match(r, rev)) {
        json_decref(doc);
        wv_http_reply_json(r, 304, NULL);
        return;
    }
    wv_http_reply_json(r, 200, doc);
}

static enum wv_kind kind_of(const char *key) {
    if (key && strcmp(key, wv_kind_key(WV_KIND_SOCKET)) == 0)
        return WV_KIND_SOCKET;
    if (key && strcmp(key, wv_kind_key(WV_KIND_EXPOSED_APP)) == 0)
        return WV_KIND_EXPOSED_APP;
    if (key && strcmp(key, wv_kind_key(WV_KIND_REMOTE_APP)) == 0)
        return WV_KIND_REMOTE_APP;
    return WV_KIND_SITE;
}

/* Tells the agent and the event stream about every entry of the plan. */
static void notify_plan(wv_api *api, json_t *plan) {
    static const char *const lists[][2] = {
        {"created", "created"}, {"changed", "changed"}, {"deleted", "deleted"}};
    for (unsigned l = 0; l < WV_COUNTOF(lists); l++) {
        json_t *arr = json_object_get(plan, lists[l][0]), *e;
        size_t i;
        json_array_foreach(arr, i, e) {
            enum wv_kind kind = kind_of(json_string_value(json_object_get(e, "kind")));
            const char *name = json_string_value(json_object_get(e, "name"));
            wv_api_notify(api, kind, kind == WV_KIND_SITE ? NULL : name, lists[l][1]);
        }
    }
}

static bool media_is(const char *ct, const char *type) {
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; ");
    return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

static bool is_yaml_ct(const char *ct) {
    return media_is(ct, "application/yaml") || media_is(ct, "application/x-yaml") ||
           media_is(ct, "text/yaml") || media_is(ct, "text/x-yaml");
}

static bool is_json_type(const char *ct) {
    return media_is(ct, "application/json");
}

static void config_put(wv_http_req *r, void *user) {
    wv_api *api = user;
    const char *dry = wv_http_req_query(r, "dryRun");
    bool dry_run = false;
    if (dry && (strcmp(dry, "true") == 0 || strcmp(dry, "1") == 0))
        dry_run = true;
    else if (dry && strcmp(dry, "false") != 0 && strcmp(dry, "0") != 0) {
        wv_http_reply_error(r, 400, "bad_request", "dryRun", "dryRun must be true or false");
        return;
    }
    int64_t rev;
    if (!wv_api_if_match(r, &rev))
        return;
    /* JSON (the canonical document) or YAML (the config file's format, as
     * `wovenet apply` and `import` take it), by Content-Type. */
    const char *ct = wv_http_req_header(r, "Content-Type");
    size_t len;
    const char *text = wv_http_req_body(r, &len);
    wv_verr verr = {{0}, {0}};
    json_t *body = NULL;
    bool yaml = ct && is_yaml_ct(ct);
    if (yaml) {
        if (wv_config_from_yaml(text, len, &body, &verr) != 0) {
            char field[256];
            wv_config_yaml_field(text, len, verr.field, field, sizeof field);
            wv_http_reply_error(r, 422, "invalid", field[0] ? field : NULL, "%s",
                                verr.message[0] ? verr.message : "invalid YAML config");
            return;
        }
    } else if (ct && is_json_type(ct)) {
        json_error_t jerr;
        body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!body) {
            wv_http_reply_error(r, 400, "bad_json", NULL, "malformed JSON at line %d column %d",
                                jerr.line, jerr.column);
            return;
        }
        if (!json_is_object(body)) {
            json_decref(body);
            wv_http_reply_error(r, 422, "invalid", NULL, "the body must be a JSON object");
            return;
        }
    } else {
        wv_http_reply_error(r, 415, "unsupported_media_type", NULL,
                            "the body must be application/json (the document) or "
                            "application/yaml (the config file's format)");
        return;
    }
    json_t *plan = NULL;
    if (json_is_object(json_object_get(body, "site")) &&
        wv_api_refuse_open_api(api, r, json_object_get(body, "site"))) {
        wv_config_doc_free(body); /* it may hold the network key: wiped too */
        return;
    }
    int err = wv_store_apply(api->st, body, rev, dry_run, &plan, &verr);
    if (err && yaml) {
        /* Name the field as the YAML wrote it. */
        char field[256];
        wv_config_yaml_field(text, len, verr.field, field, sizeof field);
        snprintf(verr.field, sizeof verr.field, "%s", field);
    }
    wv_config_doc_free(body);
    if (err) {
        json_decref(plan);
        wv_api_store_error(api, r, err, &verr);
        return;
    }
    if (!plan)
        plan = json_object();
    json_object_set_new(plan, "dryRun", json_boolean(dry_run));
    if (!json_object_get(plan, "revision"))
        json_object_set_new(plan, "revision", json_integer(wv_store_revision(api->st)));
    wv_http_set_etag(r, wv_store_revision(api->st));
    if (!dry_run)
        notify_plan(api, plan);
    wv_http_reply_json(r, 200, plan);
}

static void identity_rotate(wv_http_req *r, void *user) {
    wv_api *api = user;
    json_t *out = NULL;
    int err = api->cb.rotate_identity ? api->cb.rotate_identity(api, &out, api->user)
                                      : WV_ERR_NOTFOUND;
    if (err) {
        wv_http_reply_error(r, err == WV_ERR_NOTFOUND ? 409 : 500, "rotation_failed", NULL,
                            "cannot rotate the identity: %s",
                            err == WV_ERR_NOTFOUND ? "no site is configured yet"
                                                   : wv_strerror(err));
        return;
    }
    wv_http_reply_json(r, 200, out);
    wv_api_publish_event(api, "site", NULL, "identity-rotated", NULL);
}

void wv_api_routes_site(wv_api *api) {
    wv_http_route(api->http, "POST", "/api/v1/site/identity/rotate", WV_ROUTE_RAWBODY,
                  identity_rotate, api);
    wv_http_route(api->http, "GET", "/api/v1/site", 0, site_get, api);
    wv_http_route(api->http, "PUT", "/api/v1/site", 0, site_put, api);
    wv_http_route(api->http, "PATCH", "/api/v1/site", 0, site_patch, api);
}

void wv_api_routes_config(wv_api *api) {
    wv_http_route(api->http, "GET", "/api/v1/config", 0, config_get, api);
    wv_http_route(api->http, "PUT", "/api/v1/config", WV_ROUTE_RAWBODY, config_put, api);
}
