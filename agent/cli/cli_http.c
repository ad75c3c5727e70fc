/* The CLI's HTTP client: one libcurl easy handle per request (the CLI makes
 * a handful of requests, so no connection reuse is needed). */
#include "cli_http.h"
#include "wv/base.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WV_CLI_MAX_BODY (16u << 20) /* a larger answer is not the agent's */

/* The answer, bounded by WV_CLI_MAX_BODY. */
struct answer {
    struct wv_buf b;
    bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *user) {
    struct answer *a = user;
    size_t add = size * n;
    if (a->b.len + add > WV_CLI_MAX_BODY) {
        a->too_big = true;
        return 0;
    }
    wv_buf_add(&a->b, ptr, add);
    return add;
}

int wv_cli_http(const char *base, const char *token, const char *method, const char *path,
                const json_t *body, struct wv_cli_resp *resp) {
    memset(resp, 0, sizeof(*resp));
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(resp->error, sizeof(resp->error), "cannot initialize libcurl");
        return -1;
    }
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    char *url = wv_malloc(blen + strlen(path) + 1);
    memcpy(url, base, blen);
    strcpy(url + blen, path);

    struct curl_slist *hdrs = NULL;
    char *auth = NULL, *data = NULL;
    if (token && *token) {
        size_t n = strlen(token) + sizeof("Authorization: Bearer ");
        auth = wv_malloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (body) {
        data = json_dumps(body, JSON_COMPACT);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data ? data : "");
    }
    struct answer b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s: %s", url,
                 b.too_big   ? "answer too large"
                 : errbuf[0] ? errbuf
                             : curl_easy_strerror(rc));
        ret = -1;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        if (b.b.len)
            resp->body = json_loadb(b.b.p, b.b.len, 0, NULL);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    if (auth) {
        wv_memwipe(auth, strlen(auth));
        free(auth);
    }
    if (data) {
        wv_memwipe(data, strlen(data)); /* may hold the network key */
        free(data);
    }
    wv_buf_dispose(&b.b);
    free(url);
    return ret;
}

void wv_cli_http_report(const char *what, const struct wv_cli_resp *resp) {
    if (!resp->status) {
        fprintf(stderr, "wovenet: %s: %s\n", what, resp->error);
        return;
    }
    json_t *e = json_object_get(resp->body, "error");
    const char *field = json_string_value(json_object_get(e, "field"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (field && *field)
        fprintf(stderr, "wovenet: %s: %s: %s (HTTP %ld)\n", what, field, msg ? msg : "invalid",
                resp->status);
    else
        fprintf(stderr, "wovenet: %s: %s (HTTP %ld)\n", what, msg ? msg : "request failed",
                resp->status);
}
