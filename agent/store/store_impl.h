#ifndef WV_STORE_IMPL_H
#define WV_STORE_IMPL_H
/* Internals shared by store*.c. Every helper returns 0 or a negative
 * WV_ERR_*; SQLite failures are logged (never with bound values, which may
 * be secrets) and mapped to WV_ERR_DB here, once. */
#include "wv/store.h"

/* schema/NNN_*.sql, sorted (generated, see cmake/embed.cmake) */
extern const struct wv_embedded wv_migrations[];

#include <sqlite3.h>

struct wv_store {
    sqlite3 *db;
    wv_log *log;
    sqlite3_stmt *data_version; /* PRAGMA data_version, prepared on first use */
};

/* The raw handle, for the store's own tests. Only on the store's thread. */
sqlite3 *wv_store__db(wv_store *st);

/* Where a write reports why it refused: err, or scratch when the caller
 * passed none; cleared either way. */
wv_verr *wv_store__verr(wv_verr *err, wv_verr *scratch);
/* The end of a read of at most one row: finalizes s after its step (rc)
 * and returns 0 for a row, WV_ERR_NOTFOUND for none, else logs what and
 * returns WV_ERR_DB. */
int wv_store__one_row(wv_store *st, sqlite3_stmt *s, int rc, const char *what);
/* Logs sqlite3_errmsg() with what, returns WV_ERR_DB. */
int wv_store__dberr(wv_store *st, const char *what);
int wv_store__exec(wv_store *st, const char *sql);
int wv_store__prepare(wv_store *st, const char *sql, sqlite3_stmt **out);

/* BEGIN IMMEDIATE: takes the write lock up front so a read-then-write
 * transaction can never fail half-way with SQLITE_BUSY. */
int wv_store__begin(wv_store *st);
int wv_store__commit(wv_store *st);
void wv_store__rollback(wv_store *st); /* safe to call with no open transaction */

/* Within a transaction: the current revision, and the If-Match check
 * (-1 = unconditional; WV_ERR_CONFLICT otherwise). */
int wv_store__revision(wv_store *st, int64_t *rev);
int wv_store__check_match(wv_store *st, int64_t if_match, int64_t *rev);
int wv_store__bump(wv_store *st);
/* The revision at which an object (kind SITE: the site) last changed. */
int wv_store__obj_rev(wv_store *st, enum wv_kind kind, const char *name, int64_t *rev);
/* If-Match on one object: -1 passes; a revision N passes when the object
 * has not changed since N (its updated_rev <= N <= the revision), or, for
 * an object still to create, when nothing changed since N. */
int wv_store__check_obj_match(wv_store *st, enum wv_kind kind, const char *name,
                              int64_t if_match, int64_t *rev);

/* Runs a write whose parameters ?1..?n are the n texts that follow and,
 * with WV_STORE__STAMP, ?n+1 the time now (unix seconds). With
 * WV_STORE__MUST_CHANGE a write that changes no row is WV_ERR_NOTFOUND.
 * 0, or WV_ERR_DB logged with what. */
enum { WV_STORE__STAMP = 1, WV_STORE__MUST_CHANGE = 2 };
int wv_store__run(wv_store *st, const char *sql, const char *what, int flags, int n, ...);
/* Calls fn with the ncols text columns (at most 8) of each row sql (a
 * SELECT) returns; a row with a NULL column is skipped. The number of rows
 * passed, or WV_ERR_DB logged with what. */
int wv_store__rows(wv_store *st, const char *sql, const char *what, int ncols,
                   void (*fn)(const char *const *col, void *arg), void *arg);
/* Runs sql (a SELECT of two text columns) into *out, a new array of
 * {k1: col0, k2: col1}. 0 or WV_ERR_DB (*out NULL). */
int wv_store__text_pairs(wv_store *st, const char *sql, const char *k1, const char *k2,
                         json_t **out);

/* The table of a collection kind, or NULL. */
const char *wv_store__table(enum wv_kind kind);
/* The canonical text of a JSON value (compact, sorted keys). Caller frees. */
char *wv_store__canon(const json_t *v);

/* Reads the spec of name in kind; *spec NULL (and 0) if absent. */
int wv_store__coll_get_spec(wv_store *st, enum wv_kind kind, const char *name, char **spec);
/* The same with the row's origin: "config", "api" or "" (stored before
 * origins were recorded; schema/004_origin.sql). origin may be NULL. */
int wv_store__coll_get(wv_store *st, enum wv_kind kind, const char *name, char **spec,
                       char origin[8]);
/* Inserts or replaces (name, spec, origin) with updated_rev = rev. origin:
 * "config" or "api". */
int wv_store__coll_write(wv_store *st, enum wv_kind kind, const char *name, const char *spec,
                         int64_t rev, const char *origin);
/* Sets the origin of a row (not a change of the desired state). */
int wv_store__set_origin(wv_store *st, enum wv_kind kind, const char *name, const char *origin);

/* Takes the read-only "origin" member out of an API object: "api" asks to
 * take a config-managed object over (*take_over), "config" or absence do
 * not; anything else is WV_ERR_INVAL naming the field (prefix p). */
int wv_store__take_origin(json_t *obj, const char *p, bool *take_over, wv_verr *err);
/* Fills err for a refused write to a config-managed object (kind
 * WV_KIND_SITE: the site) and returns WV_ERR_MANAGED. */
int wv_store__managed(wv_store *st, enum wv_kind kind, const char *name, wv_verr *err);
/* Deletes name; WV_ERR_NOTFOUND if absent. */
int wv_store__coll_delete(wv_store *st, enum wv_kind kind, const char *name);

/* Within a transaction: makes the site row equal to the validated site
 * (secrets absent => stored ones kept). p prefixes error paths ("" or
 * "site"). *existed reports whether a site row was there; *changed whether
 * anything differs. Nothing is written when dry_run. rev is the revision the
 * write will carry. */
int wv_store__site_write(wv_store *st, json_t *site, const char *p, bool dry_run, int64_t rev,
                         const char *origin, bool *existed, bool *changed, wv_verr *err);
/* The site row's origin ("config", "api", "" unknown); "" without a site. */
int wv_store__site_origin(wv_store *st, char origin[8]);
/* The stored site object without secrets, or WV_ERR_NOTFOUND. */
int wv_store__site_read(wv_store *st, json_t **out);

#endif
