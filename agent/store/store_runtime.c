/* Runtime state the store keeps beside the desired state: the known peer
 * sites (schema/002_sites.sql). Writes here never move the revision. Also
 * the cheap probes the API's caches and readiness check use. */
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB "store"

int wv_store_known_site_put(wv_store *st, const char *name, const char *announcement) {
    sqlite3_stmt *s;
    int rc = wv_store__prepare(st,
                               "INSERT OR REPLACE INTO sites (name, announcement, updated_at) "
                               "VALUES (?1, ?2, ?3)",
                               &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, announcement, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL));
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, "save known site");
    sqlite3_finalize(s);
    return rc;
}

int wv_store_known_sites(wv_store *st,
                         void (*fn)(const char *name, const char *announcement, void *arg),
                         void *arg) {
    sqlite3_stmt *s;
    int rc = wv_store__prepare(st, "SELECT name, announcement FROM sites ORDER BY name", &s);
    if (rc < 0)
        return rc;
    int n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        const char *json = (const char *)sqlite3_column_text(s, 1);
        if (name && json) {
            fn(name, json, arg);
            n++;
        }
    }
    int err = rc == SQLITE_DONE ? 0 : wv_store__dberr(st, "read known sites");
    sqlite3_finalize(s);
    return err < 0 ? err : n;
}

int wv_store_known_site_delete(wv_store *st, const char *name) {
    sqlite3_stmt *s;
    int rc = wv_store__prepare(st, "DELETE FROM sites WHERE name = ?1", &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(s) == SQLITE_DONE ? (sqlite3_changes(st->db) > 0 ? 0 : WV_ERR_NOTFOUND)
                                        : wv_store__dberr(st, "forget known site");
    sqlite3_finalize(s);
    return rc;
}

int wv_store_known_sites_clear(wv_store *st) {
    return wv_store__exec(st, "DELETE FROM sites");
}

int wv_store_pin_put(wv_store *st, const char *name, const char *key, bool pending) {
    sqlite3_stmt *s;
    int rc = wv_store__prepare(st,
                               "INSERT OR REPLACE INTO site_pins (name, key, state, updated_at) "
                               "VALUES (?1, ?2, ?3, ?4)",
                               &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, pending ? "pending" : "trusted", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL));
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, "save site pin");
    sqlite3_finalize(s);
    return rc;
}

int wv_store_pins(wv_store *st,
                  void (*fn)(const char *name, const char *key, bool pending, void *arg),
                  void *arg) {
    sqlite3_stmt *s;
    int rc = wv_store__prepare(st, "SELECT name, key, state FROM site_pins ORDER BY name", &s);
    if (rc < 0)
        return rc;
    int n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        const char *key = (const char *)sqlite3_column_text(s, 1);
        const char *state = (const char *)sqlite3_column_text(s, 2);
        if (name && key && state) {
            fn(name, key, strcmp(state, "pending") == 0, arg);
            n++;
        }
    }
    int err = rc == SQLITE_DONE ? 0 : wv_store__dberr(st, "read site pins");
    sqlite3_finalize(s);
    return err < 0 ? err : n;
}

int wv_store_pin_delete(wv_store *st, const char *name) {
    sqlite3_stmt *s;
    int rc = wv_store__prepare(st, "DELETE FROM site_pins WHERE name = ?1", &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(s) == SQLITE_DONE ? (sqlite3_changes(st->db) > 0 ? 0 : WV_ERR_NOTFOUND)
                                        : wv_store__dberr(st, "delete site pin");
    sqlite3_finalize(s);
    return rc;
}

int wv_store_key_block(wv_store *st, const char *key, const char *site) {
    sqlite3_stmt *s;
    int rc = wv_store__prepare(st,
                               "INSERT OR REPLACE INTO blocked_keys (key, site, blocked_at) "
                               "VALUES (?1, ?2, ?3)",
                               &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, site, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL));
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, "block key");
    sqlite3_finalize(s);
    return rc;
}

int wv_store_blocked_keys(wv_store *st, void (*fn)(const char *key, const char *site, void *arg),
                          void *arg) {
    sqlite3_stmt *s;
    int rc = wv_store__prepare(st, "SELECT key, site FROM blocked_keys ORDER BY key", &s);
    if (rc < 0)
        return rc;
    int n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(s, 0);
        const char *site = (const char *)sqlite3_column_text(s, 1);
        if (key && site) {
            fn(key, site, arg);
            n++;
        }
    }
    int err = rc == SQLITE_DONE ? 0 : wv_store__dberr(st, "read blocked keys");
    sqlite3_finalize(s);
    return err < 0 ? err : n;
}

int wv_store_ping(wv_store *st) {
    return sqlite3_exec(st->db, "SELECT 1", NULL, NULL, NULL) == SQLITE_OK ? 0 : WV_ERR_DB;
}

int wv_store_stamp(wv_store *st, struct wv_store_stamp *out) {
    /* data_version moves when another connection (another process, e.g.
     * `wovenet token create`) commits; total_changes when this one does. */
    if (!st->data_version &&
        sqlite3_prepare_v2(st->db, "PRAGMA data_version", -1, &st->data_version, NULL) != SQLITE_OK)
        return WV_ERR_DB;
    int rc = sqlite3_step(st->data_version) == SQLITE_ROW ? 0 : WV_ERR_DB;
    out->version = rc == 0 ? sqlite3_column_int64(st->data_version, 0) : -1;
    sqlite3_reset(st->data_version);
    out->changes = sqlite3_total_changes64(st->db);
    return rc;
}
