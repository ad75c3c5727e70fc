#ifndef WV_CLI_HTTP_H
#define WV_CLI_HTTP_H
/* A small blocking JSON client of the agent's REST API for the CLI
 * (status, apply), built on libcurl. Never logs bodies or the token. */
#include <jansson.h>

struct wv_cli_resp {
    long status;     /* HTTP status, 0 when no answer came */
    json_t *body;    /* parsed JSON body, or NULL (empty or not JSON) */
    char error[256]; /* transport error text when status is 0 */
};

/* Sends method base+path with an optional JSON body (not consumed) and the
 * bearer token (if non-NULL and non-empty). Returns 0 when an HTTP answer
 * came (any status), -1 on a transport error (resp->error says why).
 * The caller frees resp->body with json_decref. */
int wv_cli_http(const char *base, const char *token, const char *method, const char *path,
                const json_t *body, struct wv_cli_resp *resp);

/* Prints "wovenet: <what>: <reason>" on stderr for a failed or non-2xx
 * answer, with the API's error field when it names one. */
void wv_cli_http_report(const char *what, const struct wv_cli_resp *resp);

#endif
