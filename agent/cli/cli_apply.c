/* `wovenet apply -f FILE [--dry-run]`: the declarative PUT /api/v1/config of
 * a running site, printed as a plan. Exit codes let scripts be idempotent:
 * 0 nothing to change, 2 changed (or would change), 1 error. */
#include "cli_http.h"
#include "wv/base.h"
#include "wv/cli.h"
#include "wv/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON when the name says so or the text starts with '{'; YAML otherwise. */
static bool is_json(const char *path, const char *text) {
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0)
        return true;
    while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
        text++;
    return *text == '{';
}

/* Is this JSON text an object without a "site" member, i.e. upstream's
 * keys rather than the canonical document? (false when it does not parse:
 * the canonical path reports the syntax error.) */
static bool json_canonical(const char *text, size_t len) {
    json_t *j = json_loadb(text, len, 0, NULL);
    bool canon = !json_is_object(j) || json_is_object(json_object_get(j, "site"));
    wv_config_doc_free(j);
    return canon;
}

/* The desired document from the file, or NULL after printing why. */
static json_t *load_doc(const char *path) {
    char *text;
    size_t len;
    if (wv_config_read_file(path, &text, &len) != 0) {
        fprintf(stderr, "wovenet: apply: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    json_t *doc = NULL;
    if (len > WV_CONFIG_MAX_BYTES) {
        fprintf(stderr, "wovenet: apply: %s: larger than %u bytes\n", path,
                (unsigned)WV_CONFIG_MAX_BYTES);
    } else if (is_json(path, text) && !json_canonical(text, len)) {
        json_error_t je;
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
            fprintf(stderr, "wovenet: apply: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
        } else {
            /* JSON with the upstream's keys: mapped as the YAML is. */
            wv_config_doc_free(doc);
            doc = NULL;
            wv_verr err;
            enum wv_config_format fmt;
            if (wv_config_from_text(".json", text, len, &doc, &fmt, &err) != 0) {
                char field[256];
                wv_config_field(fmt, text, len, err.field, field, sizeof field);
                fprintf(stderr, "wovenet: apply: config: %s%s%s\n", field, field[0] ? ": " : "",
                        err.message[0] ? err.message : "invalid config");
                doc = NULL;
            }
        }
    } else if (is_json(path, text)) {
        json_error_t je;
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
            fprintf(stderr, "wovenet: apply: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
        } else if (!json_is_object(doc)) {
            fprintf(stderr, "wovenet: apply: %s: expected a JSON object\n", path);
            wv_config_doc_free(doc);
            doc = NULL;
        }
    } else {
        wv_verr err;
        memset(&err, 0, sizeof err);
        if (wv_config_from_yaml(text, len, &doc, &err) != 0) {
            char field[256];
            wv_config_yaml_field(text, len, err.field, field, sizeof field);
            fprintf(stderr, "wovenet: apply: config: %s%s%s\n", field, field[0] ? ": " : "",
                    err.message[0] ? err.message : "invalid config");
            doc = NULL;
        }
    }
    wv_memwipe(text, len);
    free(text);
    return doc;
}

/* A plan value as a person reads it: strings bare, the rest as JSON. */
static char *shown(json_t *v) {
    if (!v)
        return wv_strdup("(none)");
    if (json_is_string(v))
        return wv_strdup(json_string_value(v));
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : wv_strdup("?");
}

/* One line per object, or per changed field of a changed object:
 *   ~ exposedApps ssh: appSocket tcp:127.0.0.1:22 → tcp:127.0.0.1:2222 */
static size_t print_list(json_t *plan, const char *key, char mark) {
    json_t *arr = json_object_get(plan, key), *e;
    size_t i;
    json_array_foreach(arr, i, e) {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *note = "";
        if (json_is_string(json_object_get(e, "origin")))
            note = mark == '-' ? " (managed by the config file)"
                               : " (taken over from the config file)";
        json_t *fields = json_object_get(e, "fields"), *f;
        size_t j;
        if (!json_array_size(fields))
            printf("  %c %s %s%s\n", mark, kind ? kind : "?", name ? name : "", note);
        json_array_foreach(fields, j, f) {
            char *from = shown(json_object_get(f, "from")), *to = shown(json_object_get(f, "to"));
            printf("  %c %s %s: %s %s \u2192 %s%s\n", mark, kind ? kind : "?", name ? name : "",
                   json_string_value(json_object_get(f, "field")), from, to, j ? "" : note);
            free(from);
            free(to);
        }
    }
    return json_array_size(arr);
}

int wv_cli_apply(const struct wv_cli *cli) {
    json_t *doc = load_doc(cli->file);
    if (!doc)
        return WV_EXIT_FAIL;
    json_object_del(doc, "revision"); /* an export's revision is no precondition */
    struct wv_cli_resp r;
    int rc = wv_cli_http(cli->url, cli->token, "PUT",
                         cli->dry_run ? "/api/v1/config?dryRun=true" : "/api/v1/config", doc, &r);
    wv_config_doc_free(doc);
    int code = WV_EXIT_FAIL;
    if (rc < 0 || r.status != 200 || !json_is_object(r.body)) {
        if (rc == 0 && r.status == 200)
            snprintf(r.error, sizeof r.error, "the answer is not a plan");
        wv_cli_http_report("apply", &r);
    } else {
        size_t wi;
        json_t *w;
        json_array_foreach(json_object_get(r.body, "warnings"), wi, w)
            fprintf(stderr, "wovenet: apply: warning: %s\n", json_string_value(w));
        long long rev = (long long)json_integer_value(json_object_get(r.body, "revision"));
        size_t n = json_array_size(json_object_get(r.body, "created")) +
                   json_array_size(json_object_get(r.body, "changed")) +
                   json_array_size(json_object_get(r.body, "deleted"));
        if (!n) {
            printf("No changes. The site already matches %s (revision %lld).\n", cli->file, rev);
            code = WV_EXIT_OK;
        } else {
            printf("Plan for %s:\n", cli->file);
            size_t c = print_list(r.body, "created", '+');
            size_t u = print_list(r.body, "changed", '~');
            size_t d = print_list(r.body, "deleted", '-');
            if (cli->dry_run)
                printf("Plan: %zu to create, %zu to change, %zu to delete (dry run: nothing "
                       "applied).\n",
                       c, u, d);
            else
                printf("Applied: %zu created, %zu changed, %zu deleted; revision %lld.\n", c, u, d,
                       rev);
            code = WV_EXIT_CHANGED;
        }
        if (fflush(stdout) != 0)
            code = WV_EXIT_FAIL;
    }
    json_decref(r.body);
    return code;
}
