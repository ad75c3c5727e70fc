/* /api/v1/tokens[/{name}]: the API's bearer tokens, the same as `wovenet
 * token create|list|revoke`. A new token is in the answer to its POST and
 * nowhere else, ever; the store keeps its hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "wv/base.h"

static json_t *find(json_t *list, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
            return t;
    }
    return NULL;
}

static void tokens_list(wv_http_req *r, void *user) {
    wv_api *api = user;
    json_t *list = NULL;
    int err = wv_store_token_list(api->st, &list);
    if (err) {
        wv_api_store_error(api, r, err, NULL);
        return;
    }
    wv_http_reply_json(r, 200, list);
}

static void tokens_create(wv_http_req *r, void *user) {
    static const char *const keys[] = {"name", "scope", "expiresIn", NULL};
    wv_api *api = user;
    json_t *body = wv_api_body_object(r);
    if (!body)
        return;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (!keys[i]) {
            char f[80];
            snprintf(f, sizeof f, "%.64s", k);
            wv_http_reply_error(r, 422, "invalid", f, "unknown field (name, scope, expiresIn)");
            return;
        }
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *sc = json_object_get(body, "scope"), *ex = json_object_get(body, "expiresIn");
    const char *scope = sc ? json_string_value(sc) : "write";
    if (!name || !wv_valid_name(name)) {
        wv_http_reply_error(r, 422, "invalid", "name",
                            "required: 1..255 of [A-Za-z0-9._-], starting with a letter or digit");
        return;
    }
    if (!scope || (strcmp(scope, "write") && strcmp(scope, "read") && strcmp(scope, "metrics"))) {
        wv_http_reply_error(r, 422, "invalid", "scope", "unsupported value (write, read, metrics)");
        return;
    }
    long long life = 0;
    if (ex && (!json_is_string(ex) || (life = wv_parse_duration(json_string_value(ex))) < 0)) {
        wv_http_reply_error(r, 422, "invalid", "expiresIn",
                            "a duration such as \"30d\", \"12h\", \"90m\", \"3600s\" or \"never\"");
        return;
    }
    bool first = !wv_auth_configured(api->st);
    char *token = NULL;
    int err = wv_store_token_create_ex(api->st, name, scope,
                                       life > 0 ? (int64_t)time(NULL) + life : 0, &token);
    if (err == WV_ERR_EXISTS) {
        wv_http_reply_error(r, 409, "exists", "name", "a token named \"%s\" exists", name);
        return;
    }
    if (err) {
        wv_api_store_error(api, r, err, NULL);
        return;
    }
    json_t *list = NULL, *obj = NULL;
    if (wv_store_token_list(api->st, &list) == 0 && (obj = find(list, name)))
        obj = json_deep_copy(obj);
    json_decref(list);
    if (!obj)
        obj = json_pack("{s:s}", "name", name);
    json_object_set_new(obj, "token", json_string(token));
    if (first)
        json_object_set_new(obj, "note",
                            json_string("this is the first API credential: from now on every "
                                        "request needs one, also from loopback"));
    wv_memwipe(token, strlen(token));
    free(token);
    char *loc = wv_asprintf("/api/v1/tokens/%s", name);
    wv_http_add_header(r, "Location", loc);
    wv_http_add_header(r, "Cache-Control", "no-store");
    free(loc);
    WV_INFO(api->log, WV_API_SUB, "API token %s created (scope %s) from %s", name, scope,
            wv_http_req_ip(r));
    wv_http_reply_json(r, 201, obj);
    wv_api_publish_event(api, "tokens", name, "created", NULL);
}

static void tokens_delete(wv_http_req *r, void *user) {
    wv_api *api = user;
    const char *name = wv_http_req_param(r, 0);
    int err = wv_valid_name(name) ? wv_store_token_delete(api->st, name) : WV_ERR_NOTFOUND;
    if (err == WV_ERR_NOTFOUND) {
        wv_http_reply_error(r, 404, "not_found", NULL, "no token named \"%.64s\"", name);
        return;
    }
    if (err) {
        wv_api_store_error(api, r, err, NULL);
        return;
    }
    WV_INFO(api->log, WV_API_SUB, "API token %s revoked from %s", name, wv_http_req_ip(r));
    wv_http_reply_json(r, 204, NULL);
    wv_api_publish_event(api, "tokens", name, "deleted", NULL);
}

void wv_api_routes_tokens(wv_api *api) {
    wv_http_route(api->http, "GET", "/api/v1/tokens", 0, tokens_list, api);
    wv_http_route(api->http, "POST", "/api/v1/tokens", 0, tokens_create, api);
    wv_http_route(api->http, "DELETE", "/api/v1/tokens/{name}", 0, tokens_delete, api);
}
