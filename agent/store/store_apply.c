/* Declarative writes of a whole document: compute the plan against the
 * stored state and carry it out in one transaction, so a failure at any
 * step (or a crash) leaves the previous state entirely.
 *
 * Two flavours (store.h, "Origins"): wv_store_apply (PUT /api/v1/config,
 * `wovenet apply`) is declarative over every object and makes what it
 * writes API-managed; wv_store_import (the config file) is declarative
 * over the config-managed objects only and never touches API-managed ones. */
#include "store_impl.h"
#include "wv/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mode { APPLY, IMPORT };

static json_t *plan_add(json_t *plan, const char *what, const char *kind, const char *name) {
    json_t *e = json_pack("{s:s,s:s}", "kind", kind, "name", name);
    json_array_append_new(json_object_get(plan, what), e);
    return e;
}

static void warn(json_t *plan, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(json_t *plan, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(json_object_get(plan, "warnings"), json_string(buf));
}

/* --- Field-level differences ------------------------------------------------- */

/* Appends {field, from, to} for every member that differs between a and b
 * (objects), nested objects as dotted paths; arrays compare whole. */
static void diff_into(json_t *out, const char *prefix, json_t *a, json_t *b) {
    const char *k;
    json_t *v;
    json_t *keys = json_object();
    json_object_foreach(a, k, v) json_object_set(keys, k, json_true());
    json_object_foreach(b, k, v) json_object_set(keys, k, json_true());
    /* Sorted, so a plan reads the same every time. */
    json_t *names = json_array();
    json_object_foreach(keys, k, v) json_array_append_new(names, json_string(k));
    json_decref(keys);
    size_t n = json_array_size(names);
    const char **sorted = wv_calloc(n ? n : 1, sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_string_value(json_array_get(names, i));
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
            const char *t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        k = sorted[i];
        json_t *x = json_object_get(a, k), *y = json_object_get(b, k);
        if (json_equal(x, y))
            continue;
        char path[300];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k);
        if (json_is_object(x) && json_is_object(y)) {
            diff_into(out, path, x, y);
            continue;
        }
        json_array_append_new(out, json_pack("{s:s, s:O?, s:O?}", "field", path, "from", x, "to",
                                             y));
    }
    free(sorted);
    json_decref(names);
}

static json_t *diff(json_t *a, json_t *b) {
    json_t *out = json_array();
    diff_into(out, "", a, b);
    return out;
}

/* --- Collections --------------------------------------------------------------- */

/* Reads {name: [spec, origin]} of a collection. */
static int load_rows(wv_store *st, enum wv_kind kind, json_t **out) {
    char sql[128];
    sqlite3_stmt *s;
    *out = NULL;
    snprintf(sql, sizeof(sql), "SELECT name, spec, coalesce(origin, '') FROM %s",
             wv_store__table(kind));
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    json_t *m = json_object();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_object_set_new(m, (const char *)sqlite3_column_text(s, 0),
                            json_pack("[s,s]", (const char *)sqlite3_column_text(s, 1),
                                      (const char *)sqlite3_column_text(s, 2)));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(m);
        return wv_store__dberr(st, "read collection");
    }
    *out = m;
    return 0;
}

static int apply_collection(wv_store *st, enum mode mode, enum wv_kind kind, json_t *items,
                            bool dry_run, int64_t rev, json_t *plan, const char *source) {
    const char *key = wv_kind_key(kind);
    const char *noun = wv_kind_noun(kind);
    const char *mine = mode == IMPORT ? "config" : "api";
    json_t *stored, *o;
    size_t i;
    int rc = load_rows(st, kind, &stored);
    if (rc < 0)
        return rc;
    json_array_foreach(items, i, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        json_t *row = json_object_get(stored, name);
        const char *old = json_string_value(json_array_get(row, 0));
        const char *origin = row ? json_string_value(json_array_get(row, 1)) : "";
        if (mode == IMPORT && strcmp(origin, "api") == 0) {
            /* Made or taken over through the API: the file does not own it. */
            warn(plan, "%s \"%s\" is API-managed (made or taken over through the API): the "
                       "file's entry for it is ignored; delete it through the API to let the "
                       "file manage it again", noun, name);
            json_object_del(stored, name);
            continue;
        }
        char *spec = wv_store__canon(o);
        bool same = old && strcmp(old, spec) == 0;
        if (!same) {
            json_t *e = plan_add(plan, old ? "changed" : "created", key, name);
            if (old) {
                json_t *was = json_loads(old, 0, NULL);
                json_object_set_new(e, "fields", diff(was, o));
                json_decref(was);
                if (mode == APPLY && strcmp(origin, "config") == 0)
                    json_object_set_new(e, "origin", json_string("config"));
            }
            if (!dry_run)
                rc = wv_store__coll_write(st, kind, name, spec, rev, mine);
        } else if (strcmp(origin, mine) != 0 && mode == IMPORT && !dry_run) {
            /* Stored before origins were recorded, and the file lists it. */
            rc = wv_store__set_origin(st, kind, name, "config");
        }
        free(spec);
        json_object_del(stored, name);
        if (rc < 0)
            goto out;
    }
    /* What is left was not in the document. */
    const char *name;
    json_t *v;
    json_object_foreach(stored, name, v) {
        const char *origin = json_string_value(json_array_get(v, 1));
        if (mode == IMPORT && strcmp(origin, "config") != 0) {
            json_array_append_new(json_object_get(plan, "kept"),
                                  json_pack("{s:s,s:s}", "kind", key, "name", name));
            /* Made through the API before origins were recorded: kept. */
            if (!*origin && !dry_run && (rc = wv_store__set_origin(st, kind, name, "api")) < 0)
                goto out;
            continue;
        }
        json_t *e = plan_add(plan, "deleted", key, name);
        if (mode == APPLY && strcmp(origin, "config") == 0) {
            json_object_set_new(e, "origin", json_string("config"));
            warn(plan, "%s \"%s\" is managed by the config file %s, which still lists it: the "
                       "next start brings it back unless it is removed there",
                 noun, name, source && *source ? source : "(unknown)");
        }
        if (!dry_run && (rc = wv_store__coll_delete(st, kind, name)) < 0)
            goto out;
    }
out:
    json_decref(stored);
    return rc;
}

/* --- The site -------------------------------------------------------------------- */

/* Does the document's clear secret differ from the stored one? */
static bool secret_differs(wv_store *st, json_t *site) {
    const char *given = json_string_value(json_object_get(site, "networkKey"));
    char *key = NULL;
    if (!given)
        return false;
    bool d = wv_store_get_network_key(st, &key) != 0 || strcmp(key, given) != 0;
    if (key) {
        wv_memwipe(key, strlen(key));
        free(key);
    }
    return d;
}

static int apply_site(wv_store *st, enum mode mode, json_t *site, bool dry_run, int64_t rev,
                      json_t *plan, wv_verr *err) {
    char origin[8] = "";
    bool existed, changed;
    int rc = wv_store__site_origin(st, origin);
    if (rc < 0 && rc != WV_ERR_NOTFOUND)
        return rc;
    if (mode == IMPORT && strcmp(origin, "api") == 0) {
        warn(plan, "the site settings are API-managed (taken over through the API): the file's "
                   "site settings are ignored");
        return 0;
    }
    json_t *old = NULL;
    wv_store__site_read(st, &old);
    const char *was_name = json_string_value(json_object_get(old, "siteName"));
    char *site_name = wv_strdup(json_string_value(json_object_get(site, "siteName")));
    bool key_changed = secret_differs(st, site);
    rc = wv_store__site_write(st, site, "site", dry_run, rev, mode == IMPORT ? "config" : "api",
                              &existed, &changed, err);
    if (rc == 0 && changed) {
        json_t *e = plan_add(plan, existed ? "changed" : "created", "site", site_name);
        if (existed) {
            /* site now holds the stored form (secrets out): compare like with like. */
            json_t *a = json_deep_copy(old), *b = json_deep_copy(site);
            json_object_del(a, "networkKeySet");
            json_object_del(json_object_get(a, "messageChannel"), "passwordSet");
            json_t *u;
            size_t i;
            json_array_foreach(json_object_get(json_object_get(json_object_get(a, "restfulApi"),
                                                               "auth"), "basicAuth"), i, u)
                json_object_del(u, "passwordSet");
            json_t *f = diff(a, b);
            if (key_changed)
                json_array_append_new(f, json_pack("{s:s,s:s,s:s}", "field", "networkKey", "from",
                                                   "(set)", "to", "(changed)"));
            json_object_set_new(e, "fields", f);
            json_decref(a);
            json_decref(b);
            if (mode == APPLY && strcmp(origin, "config") == 0)
                json_object_set_new(e, "origin", json_string("config"));
        }
        if (existed && was_name && strcmp(was_name, site_name) != 0)
            warn(plan, "the document renames the site \"%s\" to \"%s\": is it meant for another "
                       "site? Peers know this site by its name", was_name, site_name);
    } else if (rc == 0 && mode == IMPORT && !*origin && existed && !dry_run) {
        rc = wv_store__exec(st, "UPDATE site SET origin = 'config' WHERE id = 1");
    }
    free(site_name);
    json_decref(old);
    return rc;
}

/* --- Both flavours --------------------------------------------------------------- */

static int write_doc(wv_store *st, enum mode mode, json_t *doc, int64_t if_match, bool dry_run,
                     const char *source, json_t **plan_out, wv_verr *err) {
    static const enum wv_kind kinds[] = {WV_KIND_SOCKET, WV_KIND_EXPOSED_APP, WV_KIND_REMOTE_APP};
    wv_verr scratch;
    int64_t rev;
    err = wv_store__verr(err, &scratch);
    if (plan_out)
        *plan_out = NULL;
    if (!doc)
        return WV_ERR_INVAL;
    json_t *copy = json_deep_copy(doc);
    json_t *plan = json_pack("{s:[],s:[],s:[],s:[]}", "created", "changed", "deleted", "warnings");
    if (mode == IMPORT)
        json_object_set_new(plan, "kept", json_array());
    char *file = NULL;
    int rc = 0;
    /* The API's views of objects carry a read-only "origin": ignore it. */
    for (size_t k = 0; k < WV_COUNTOF(kinds); k++) {
        json_t *o;
        size_t i;
        json_array_foreach(json_object_get(copy, wv_kind_key(kinds[k])), i, o)
            if (json_is_object(o))
                json_object_del(o, "origin");
    }
    json_object_del(json_object_get(copy, "site"), "origin");
    if ((rc = wv_validate_document(copy, false, err)) < 0)
        goto out;
    if ((rc = wv_store__begin(st)) < 0 || (rc = wv_store__check_match(st, if_match, &rev)) < 0)
        goto out;
    file = wv_store_config_file(st);
    rc = apply_site(st, mode, json_object_get(copy, "site"), dry_run, rev + 1, plan, err);
    for (size_t i = 0; rc == 0 && i < WV_COUNTOF(kinds); i++)
        rc = apply_collection(st, mode, kinds[i], json_object_get(copy, wv_kind_key(kinds[i])),
                              dry_run, rev + 1, plan, mode == IMPORT ? source : file);
    if (rc == 0 && mode == IMPORT && source && !dry_run) {
        sqlite3_stmt *s;
        if ((rc = wv_store__prepare(st, "UPDATE meta SET config_file = ?1 WHERE id = 1", &s)) ==
            0) {
            sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, "record config file");
            sqlite3_finalize(s);
        }
    }
    if (rc < 0)
        goto out;
    bool any = json_array_size(json_object_get(plan, "created")) ||
               json_array_size(json_object_get(plan, "changed")) ||
               json_array_size(json_object_get(plan, "deleted"));
    /* A dry run reports the revision the apply would produce. */
    json_object_set_new(plan, "revision", json_integer(rev + (any ? 1 : 0)));
    if (dry_run)
        wv_store__rollback(st);
    else if ((any && (rc = wv_store__bump(st)) < 0) || (rc = wv_store__commit(st)) < 0)
        goto out;
    if (plan_out) {
        *plan_out = plan;
        plan = NULL;
    }
out:
    wv_store__rollback(st);
    free(file);
    json_decref(plan);
    json_decref(copy);
    return rc;
}

int wv_store_apply(wv_store *st, json_t *doc, int64_t if_match, bool dry_run, json_t **plan_out,
                   wv_verr *err) {
    return write_doc(st, APPLY, doc, if_match, dry_run, NULL, plan_out, err);
}

int wv_store_import(wv_store *st, json_t *doc, const char *source, bool dry_run, json_t **plan,
                    wv_verr *err) {
    return write_doc(st, IMPORT, doc, -1, dry_run, source, plan, err);
}
