/* The one-shot commands: import, export, token create. */
#include "wv/cli.h"
#include "wv/base.h"
#include "wv/config.h"

#include "wv/crypto.h"
#include "wv/model.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_verr(const char *text, size_t len, const wv_verr *err, int rc) {
    char field[256];
    wv_config_yaml_field(text, len, err->field, field, sizeof(field));
    if (field[0])
        fprintf(stderr, "config: %s: %s\n", field,
                err->message[0] ? err->message : wv_strerror(rc));
    else
        fprintf(stderr, "config: %s\n", err->message[0] ? err->message : wv_strerror(rc));
}

static size_t plan_count(json_t *plan, const char *key) {
    return json_array_size(json_object_get(plan, key));
}

int wv_cli_apply_file(wv_store *st, const char *path, bool summary) {
    char *text;
    size_t len;
    if (wv_config_read_file(path, &text, &len)) {
        fprintf(stderr, "wovenet: cannot read %s: %s\n", path, strerror(errno));
        return WV_EXIT_FAIL;
    }
    json_t *doc = NULL, *plan = NULL;
    wv_verr err;
    memset(&err, 0, sizeof(err));
    int rc = wv_config_from_yaml(text, len, &doc, &err);
    if (!rc)
        rc = wv_store_apply(st, doc, -1, false, &plan, &err);
    if (rc)
        print_verr(text, len, &err, rc);
    else if (summary)
        printf("imported %s: revision %lld (%zu created, %zu changed, %zu deleted)\n", path,
               (long long)json_integer_value(json_object_get(plan, "revision")),
               plan_count(plan, "created"), plan_count(plan, "changed"),
               plan_count(plan, "deleted"));
    wv_config_doc_free(doc);
    json_decref(plan);
    wv_memwipe(text, len);
    free(text);
    return rc ? WV_EXIT_FAIL : WV_EXIT_OK;
}

/* Opens the store with a quiet logger (warnings and errors on stderr).
 * must_exist: refuse to create a new, empty DB (export, token create). */
static int open_store(const char *db, bool must_exist, wv_log **log, wv_store **st) {
    *st = NULL;
    *log = wv_log_new(WV_LOG_WARN, WV_LOG_TEXT, "/dev/stderr");
    if (must_exist && access(db, F_OK) != 0) {
        fprintf(stderr, "wovenet: %s: %s (import a config first)\n", db, strerror(errno));
        return WV_EXIT_FAIL;
    }
    int rc = wv_store_open(db, *log, st);
    if (rc) {
        fprintf(stderr, "wovenet: cannot open store %s: %s\n", db, wv_strerror(rc));
        return WV_EXIT_FAIL;
    }
    return WV_EXIT_OK;
}

static void close_store(wv_log *log, wv_store *st) {
    wv_store_close(st);
    wv_log_free(log);
}

int wv_cli_import(const struct wv_cli *cli) {
    wv_log *log;
    wv_store *st;
    int code = open_store(cli->db, false, &log, &st);
    if (code == WV_EXIT_OK)
        code = wv_cli_apply_file(st, cli->config, true);
    close_store(log, st);
    return code;
}

int wv_cli_export(const struct wv_cli *cli) {
    wv_log *log;
    wv_store *st;
    int code = open_store(cli->db, true, &log, &st);
    json_t *doc = NULL;
    char *out = NULL;
    if (code == WV_EXIT_OK) {
        int rc = wv_store_export(st, &doc);
        if (!rc && strcmp(cli->format, "yaml") == 0) {
            if (!json_is_object(json_object_get(doc, "site"))) {
                fprintf(stderr, "wovenet: %s: no site configured (import a config first)\n",
                        cli->db);
                code = WV_EXIT_FAIL;
            } else {
                rc = wv_config_to_yaml(doc, &out);
            }
        } else if (!rc) {
            out = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
            if (!out)
                rc = WV_ERR_NOMEM;
        }
        if (rc) {
            fprintf(stderr, "wovenet: export: %s\n", wv_strerror(rc));
            code = WV_EXIT_FAIL;
        } else if (out) {
            fputs(out, stdout);
            if (out[0] && out[strlen(out) - 1] != '\n')
                fputc('\n', stdout);
        }
    }
    free(out);
    json_decref(doc);
    close_store(log, st);
    if (code == WV_EXIT_OK && fflush(stdout) != 0)
        code = WV_EXIT_FAIL;
    return code;
}

int wv_cli_key_generate(const struct wv_cli *cli) {
    unsigned char raw[33];
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof raw) < 0) {
        fprintf(stderr, "key: no randomness available\n");
        return WV_EXIT_FAIL;
    }
    char *b = wv_base64(raw, sizeof raw);
    wv_memwipe(raw, sizeof raw);
    for (char *c = b; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    /* 44 random base64 characters fail the rule once in billions (too few
     * classes); draw again rather than print a key import would refuse. */
    int rc = wv_network_key_weak(b) ? wv_cli_key_generate(cli) : (printf("%s\n", b), 0);
    wv_memwipe(b, strlen(b));
    free(b);
    return rc;
}

int wv_cli_token_create(const struct wv_cli *cli) {
    if (!wv_valid_name(cli->name)) {
        fprintf(stderr,
                "token: name: invalid name \"%.64s\" (1..255 of A-Z a-z 0-9 . _ -, "
                "starting with a letter or digit)\n",
                cli->name);
        return WV_EXIT_FAIL;
    }
    wv_log *log;
    wv_store *st;
    int code = open_store(cli->db, true, &log, &st);
    if (code == WV_EXIT_OK) {
        char *token = NULL;
        int rc = wv_store_token_create(st, cli->name, &token);
        if (rc == WV_ERR_EXISTS) {
            fprintf(stderr, "token: name: a token named \"%s\" already exists\n", cli->name);
            code = WV_EXIT_FAIL;
        } else if (rc) {
            fprintf(stderr, "token: %s\n", wv_strerror(rc));
            code = WV_EXIT_FAIL;
        } else {
            printf("%s\n", token);
            wv_memwipe(token, strlen(token));
            free(token);
        }
    }
    close_store(log, st);
    return code;
}
