/* Runtime state the store keeps beside the desired state: the known peer
 * sites (schema/002_sites.sql). Writes here never move the revision. Also
 * the cheap probes the API's caches and readiness check use. */
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB "store"

/* The typed callbacks of the readers below, over wv_store__rows. */
struct pair_fn {
    void (*fn)(const char *a, const char *b, void *arg);
    void *arg;
};
struct pin_fn {
    void (*fn)(const char *name, const char *key, bool pending, void *arg);
    void *arg;
};

static void pair_row(const char *const *col, void *arg) {
    struct pair_fn *r = arg;
    r->fn(col[0], col[1], r->arg);
}

static void pin_row(const char *const *col, void *arg) {
    struct pin_fn *r = arg;
    r->fn(col[0], col[1], strcmp(col[2], "pending") == 0, r->arg);
}

int wv_store_known_site_put(wv_store *st, const char *name, const char *announcement) {
    return wv_store__run(st,
                         "INSERT OR REPLACE INTO sites (name, announcement, updated_at) "
                         "VALUES (?1, ?2, ?3)",
                         "save known site", WV_STORE__STAMP, 2, name, announcement);
}

int wv_store_known_sites(wv_store *st,
                         void (*fn)(const char *name, const char *announcement, void *arg),
                         void *arg) {
    struct pair_fn r = {fn, arg};
    return wv_store__rows(st, "SELECT name, announcement FROM sites ORDER BY name",
                          "read known sites", 2, pair_row, &r);
}

int wv_store_known_site_delete(wv_store *st, const char *name) {
    return wv_store__run(st, "DELETE FROM sites WHERE name = ?1", "forget known site",
                         WV_STORE__MUST_CHANGE, 1, name);
}

int wv_store_known_sites_clear(wv_store *st) {
    return wv_store__exec(st, "DELETE FROM sites");
}

int wv_store_pin_put(wv_store *st, const char *name, const char *key, bool pending) {
    return wv_store__run(st,
                         "INSERT OR REPLACE INTO site_pins (name, key, state, updated_at) "
                         "VALUES (?1, ?2, ?3, ?4)",
                         "save site pin", WV_STORE__STAMP, 3, name, key,
                         pending ? "pending" : "trusted");
}

int wv_store_pins(wv_store *st,
                  void (*fn)(const char *name, const char *key, bool pending, void *arg),
                  void *arg) {
    struct pin_fn r = {fn, arg};
    return wv_store__rows(st, "SELECT name, key, state FROM site_pins ORDER BY name",
                          "read site pins", 3, pin_row, &r);
}

int wv_store_pin_delete(wv_store *st, const char *name) {
    return wv_store__run(st, "DELETE FROM site_pins WHERE name = ?1", "delete site pin",
                         WV_STORE__MUST_CHANGE, 1, name);
}

int wv_store_key_block(wv_store *st, const char *key, const char *site) {
    return wv_store__run(st,
                         "INSERT OR REPLACE INTO blocked_keys (key, site, blocked_at) "
                         "VALUES (?1, ?2, ?3)",
                         "block key", WV_STORE__STAMP, 2, key, site);
}

int wv_store_blocked_keys(wv_store *st, void (*fn)(const char *key, const char *site, void *arg),
                          void *arg) {
    struct pair_fn r = {fn, arg};
    return wv_store__rows(st, "SELECT key, site FROM blocked_keys ORDER BY key",
                          "read blocked keys", 2, pair_row, &r);
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
