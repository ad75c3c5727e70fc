/* The one-shot commands: import, export, token create/list/revoke. */
#include "wv/base.h"
#include "wv/cli.h"
#include "wv/config.h"

#include "wv/crypto.h"
#include "wv/model.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void print_verr(enum wv_config_format fmt, const char *text, size_t len, const wv_verr *err,
                       int rc) {
    char field[256];
    wv_config_field(fmt, text, len, err->field, field, sizeof(field));
    if (field[0])
        fprintf(stderr, "config: %s: %s\n", field,
                err->message[0] ? err->message : wv_strerror(rc));
    else
        fprintf(stderr, "config: %s\n", err->message[0] ? err->message : wv_strerror(rc));
}

static size_t plan_count(json_t *plan, const char *key) {
    return json_array_size(json_object_get(plan, key));
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
    if (log)
        wv_log_free(log);
}

/* Removes a DB this process created (and SQLite's files beside it). */
static void remove_new_db(const char *db) {
    static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < WV_COUNTOF(ext); i++) {
        char *p = wv_asprintf("%s%s", db, ext[i]);
        unlink(p);
        free(p);
    }
}

int wv_cli_import_file(const char *db, const char *path, bool summary, json_t **plan_out) {
    return wv_cli_import_file_as(db, path, summary, false, plan_out);
}

int wv_cli_import_file_as(const char *db, const char *path, bool summary, bool api_managed,
                          json_t **plan_out) {
    char *text;
    size_t len;
    if (plan_out)
        *plan_out = NULL;
    if (wv_config_read_file(path, &text, &len)) {
        fprintf(stderr, "wovenet: cannot read %s: %s\n", path, strerror(errno));
        return WV_EXIT_FAIL;
    }
    json_t *doc = NULL, *plan = NULL;
    wv_verr err;
    memset(&err, 0, sizeof(err));
    bool existed = access(db, F_OK) == 0;
    wv_log *log = NULL;
    wv_store *st = NULL;
    int code = WV_EXIT_FAIL;
    enum wv_config_format fmt = WV_CONFIG_YAML;
    int rc = wv_config_from_text(path, text, len, &doc, &fmt, &err);
    /* A new DB is created only for a file that is valid as a whole: with
     * no DB there is no stored secret to keep, so the file must hold them. */
    if (!rc && !existed) {
        json_t *copy = json_deep_copy(doc);
        rc = wv_validate_document(copy, true, &err);
        wv_config_doc_free(copy);
    }
    if (rc) {
        print_verr(fmt, text, len, &err, rc);
        goto out;
    }
    if (open_store(db, false, &log, &st) != WV_EXIT_OK)
        goto out;
    /* Recorded as given when absolute, else made absolute: the API names
     * this file in its refusals, whatever the API client's directory. */
    char *abs = path[0] == '/' ? NULL : realpath(path, NULL);
    rc = api_managed ? wv_store_apply(st, doc, -1, false, &plan, &err)
                     : wv_store_import(st, doc, abs ? abs : path, false, &plan, &err);
    free(abs);
    if (rc) {
        print_verr(fmt, text, len, &err, rc);
        goto out;
    }
    code = WV_EXIT_OK;
    if (summary) {
        printf("imported %s: revision %lld (%zu created, %zu changed, %zu deleted)\n", path,
               (long long)json_integer_value(json_object_get(plan, "revision")),
               plan_count(plan, "created"), plan_count(plan, "changed"),
               plan_count(plan, "deleted"));
        static const char *const lists[][2] = {{"created", "+"}, {"changed", "~"}, {"deleted", "-"}};
        for (size_t l = 0; l < WV_COUNTOF(lists); l++) {
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(plan, lists[l][0]), i, e)
                printf("  %s %s %s\n", lists[l][1], json_string_value(json_object_get(e, "kind")),
                       json_string_value(json_object_get(e, "name")));
        }
        size_t i;
        json_t *w;
        json_array_foreach(json_object_get(plan, "warnings"), i, w)
            fprintf(stderr, "wovenet: warning: %s\n", json_string_value(w));
    }
out:
    close_store(log, st);
    if (code != WV_EXIT_OK && !existed)
        remove_new_db(db);
    wv_config_doc_free(doc);
    if (plan_out && code == WV_EXIT_OK)
        *plan_out = plan;
    else
        json_decref(plan);
    wv_memwipe(text, len);
    free(text);
    return code;
}

int wv_cli_import(const struct wv_cli *cli) {
    return wv_cli_import_file_as(cli->db, cli->config, true,
                                 cli->origin && strcmp(cli->origin, "api") == 0, NULL);
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

static bool token_name_ok(const char *name) {
    if (wv_valid_name(name))
        return true;
    fprintf(stderr,
            "token: name: invalid name \"%.64s\" (1..255 of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit)\n",
            name);
    return false;
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
    if (!token_name_ok(cli->name))
        return WV_EXIT_FAIL;
    long long life = cli->expires ? wv_parse_duration(cli->expires) : 0;
    wv_log *log;
    wv_store *st;
    int code = open_store(cli->db, true, &log, &st);
    if (code == WV_EXIT_OK) {
        char *token = NULL;
        /* The first credential turns authentication on for every client,
         * loopback included: say so, on stderr (stdout is the token). */
        int before = wv_store_token_count(st);
        json_t *users = NULL;
        bool had_users = wv_store_get_basic_auth_hashes(st, &users) == 0 &&
                         json_array_size(users) > 0;
        json_decref(users);
        int64_t expires = life > 0 ? (int64_t)time(NULL) + life : 0;
        int rc = wv_store_token_create_ex(st, cli->name, cli->scope ? cli->scope : "write",
                                          expires, &token);
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
            if (before == 0 && !had_users)
                fprintf(stderr,
                        "wovenet: this is the site's first API credential: from now on every API "
                        "request needs one, also from loopback (wovenet status --token T or "
                        "WOVENET_TOKEN=T; curl -H \"Authorization: Bearer T\"). Revoke it with "
                        "`wovenet token revoke %s` to go back to open loopback access.\n",
                        cli->name);
        }
    }
    close_store(log, st);
    return code;
}

static const char *or_never(json_t *v) {
    return json_is_string(v) ? json_string_value(v) : "never";
}

int wv_cli_token_list(const struct wv_cli *cli) {
    wv_log *log;
    wv_store *st;
    int code = open_store(cli->db, true, &log, &st);
    json_t *list = NULL;
    if (code == WV_EXIT_OK && wv_store_token_list(st, &list) != 0) {
        fprintf(stderr, "wovenet: token list: cannot read the tokens\n");
        code = WV_EXIT_FAIL;
    }
    if (code == WV_EXIT_OK && cli->json) {
        char *text = json_dumps(list, JSON_INDENT(2));
        puts(text ? text : "[]");
        free(text);
    } else if (code == WV_EXIT_OK) {
        size_t i;
        json_t *t;
        printf("%-24s %-8s %-21s %-21s %-21s %s\n", "NAME", "SCOPE", "CREATED", "EXPIRES",
               "LAST USED", "STATE");
        json_array_foreach(list, i, t) {
            printf("%-24s %-8s %-21s %-21s %-21s %s\n",
                   json_string_value(json_object_get(t, "name")),
                   json_string_value(json_object_get(t, "scope")),
                   json_string_value(json_object_get(t, "created")),
                   or_never(json_object_get(t, "expires")),
                   or_never(json_object_get(t, "lastUsed")),
                   json_is_true(json_object_get(t, "expired")) ? "expired" : "valid");
        }
        if (!json_array_size(list))
            printf("(no tokens: the API needs none while it listens on loopback)\n");
    }
    json_decref(list);
    close_store(log, st);
    if (code == WV_EXIT_OK && fflush(stdout) != 0)
        code = WV_EXIT_FAIL;
    return code;
}

int wv_cli_token_revoke(const struct wv_cli *cli) {
    if (!token_name_ok(cli->name))
        return WV_EXIT_FAIL;
    wv_log *log;
    wv_store *st;
    int code = open_store(cli->db, true, &log, &st);
    if (code == WV_EXIT_OK) {
        int rc = wv_store_token_delete(st, cli->name);
        if (rc == WV_ERR_NOTFOUND) {
            fprintf(stderr, "token: name: no token named \"%s\" (see wovenet token list)\n",
                    cli->name);
            code = WV_EXIT_FAIL;
        } else if (rc) {
            fprintf(stderr, "token: %s\n", wv_strerror(rc));
            code = WV_EXIT_FAIL;
        } else {
            printf("revoked token %s\n", cli->name);
        }
    }
    close_store(log, st);
    return code;
}
