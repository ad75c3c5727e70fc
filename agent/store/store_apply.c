/* Declarative apply of a whole document: compute the plan against the
 * stored state and carry it out in one transaction, so a failure at any
 * step (or a crash) leaves the previous state entirely. */
#include "store_impl.h"
#include "wv/base.h"

#include <stdlib.h>
#include <string.h>

static void plan_add(json_t *plan, const char *what, const char *kind, const char *name) {
    json_array_append_new(json_object_get(plan, what),
                          json_pack("{s:s,s:s}", "kind", kind, "name", name));
}

/* Reads {name: spec} of a collection. */
static int load_specs(wv_store *st, enum wv_kind kind, json_t **out) {
    char sql[96];
    sqlite3_stmt *s;
    *out = NULL;
    snprintf(sql, sizeof(sql), "SELECT name, spec FROM %s", wv_store__table(kind));
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    json_t *m = json_object();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_object_set_new(m, (const char *)sqlite3_column_text(s, 0),
                            json_string((const char *)sqlite3_column_text(s, 1)));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(m);
        return wv_store__dberr(st, "read collection");
    }
    *out = m;
    return 0;
}

static int apply_collection(wv_store *st, enum wv_kind kind, json_t *items, bool dry_run,
                            int64_t rev, json_t *plan) {
    const char *key = wv_kind_key(kind);
    json_t *stored, *o;
    size_t i;
    int rc = load_specs(st, kind, &stored);
    if (rc < 0)
        return rc;
    json_array_foreach(items, i, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *old = json_string_value(json_object_get(stored, name));
        char *spec = wv_store__canon(o);
        bool same = old && strcmp(old, spec) == 0;
        if (!same) {
            plan_add(plan, old ? "changed" : "created", key, name);
            if (!dry_run)
                rc = wv_store__coll_write(st, kind, name, spec, rev);
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
        plan_add(plan, "deleted", key, name);
        if (!dry_run && (rc = wv_store__coll_delete(st, kind, name)) < 0)
            goto out;
    }
out:
    json_decref(stored);
    return rc;
}

int wv_store_apply(wv_store *st, json_t *doc, int64_t if_match, bool dry_run, json_t **plan_out,
                   wv_verr *err) {
    static const enum wv_kind kinds[] = {WV_KIND_SOCKET, WV_KIND_EXPOSED_APP, WV_KIND_REMOTE_APP};
    wv_verr scratch;
    int64_t rev;
    bool existed, site_changed;
    if (!err)
        err = &scratch;
    if (plan_out)
        *plan_out = NULL;
    if (!doc)
        return WV_ERR_INVAL;
    json_t *copy = json_deep_copy(doc);
    json_t *plan = json_pack("{s:[],s:[],s:[]}", "created", "changed", "deleted");
    int rc = wv_validate_document(copy, false, err);
    if (rc < 0)
        goto out;
    if ((rc = wv_store__begin(st)) < 0 || (rc = wv_store__check_match(st, if_match, &rev)) < 0)
        goto out;
    json_t *site = json_object_get(copy, "site");
    char *site_name = wv_strdup(json_string_value(json_object_get(site, "siteName")));
    rc = wv_store__site_write(st, site, "site", dry_run, rev + 1, &existed, &site_changed, err);
    if (rc == 0 && site_changed)
        plan_add(plan, existed ? "changed" : "created", "site", site_name);
    free(site_name);
    for (size_t i = 0; rc == 0 && i < WV_COUNTOF(kinds); i++)
        rc = apply_collection(st, kinds[i], json_object_get(copy, wv_kind_key(kinds[i])), dry_run,
                              rev + 1, plan);
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
    json_decref(plan);
    json_decref(copy);
    return rc;
}
