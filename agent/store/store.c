/* The store: opening, migrations, transactions and the three collections.
 * The site lives in store_site.c, apply in store_apply.c, tokens, identity
 * and password hashing in store_auth.c. */
#include "store_impl.h"
#include "wv/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SUB "store"

/* --- Helpers ------------------------------------------------------------------ */

wv_verr *wv_store__verr(wv_verr *err, wv_verr *scratch) {
    if (!err)
        err = scratch;
    memset(err, 0, sizeof(*err));
    return err;
}

int wv_store__dberr(wv_store *st, const char *what) {
    WV_ERROR(st->log, SUB, "%s: %s", what, sqlite3_errmsg(st->db));
    return WV_ERR_DB;
}

int wv_store__one_row(wv_store *st, sqlite3_stmt *s, int rc, const char *what) {
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return WV_ERR_NOTFOUND;
    return rc == SQLITE_ROW ? 0 : wv_store__dberr(st, what);
}

int wv_store__exec(wv_store *st, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        WV_ERROR(st->log, SUB, "exec failed: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return WV_ERR_DB;
    }
    return 0;
}

int wv_store__prepare(wv_store *st, const char *sql, sqlite3_stmt **out) {
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK)
        return wv_store__dberr(st, "prepare");
    return 0;
}

int wv_store__begin(wv_store *st) {
    return wv_store__exec(st, "BEGIN IMMEDIATE");
}

int wv_store__commit(wv_store *st) {
    return wv_store__exec(st, "COMMIT");
}

void wv_store__rollback(wv_store *st) {
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The integer a query without parameters returns in its one row; what
 * names it in the error. */
static int one_int64(wv_store *st, const char *sql, const char *what, int64_t *out) {
    sqlite3_stmt *s;
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : wv_store__dberr(st, what);
    if (rc == 0)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc;
}

int wv_store__revision(wv_store *st, int64_t *rev) {
    return one_int64(st, "SELECT revision FROM meta WHERE id = 1", "read revision", rev);
}

int wv_store__check_match(wv_store *st, int64_t if_match, int64_t *rev) {
    if (wv_store__revision(st, rev) < 0)
        return WV_ERR_DB;
    return if_match >= 0 && if_match != *rev ? WV_ERR_CONFLICT : 0;
}

int wv_store__obj_rev(wv_store *st, enum wv_kind kind, const char *name, int64_t *rev) {
    char sql[128];
    sqlite3_stmt *s;
    if (kind == WV_KIND_SITE)
        snprintf(sql, sizeof(sql), "SELECT updated_rev FROM site WHERE id = 1");
    else if (wv_store__table(kind))
        snprintf(sql, sizeof(sql), "SELECT updated_rev FROM %s WHERE name = ?1",
                 wv_store__table(kind));
    else
        return WV_ERR_INVAL;
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    if (kind != WV_KIND_SITE)
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *rev = sqlite3_column_int64(s, 0);
    return wv_store__one_row(st, s, rc, "read object revision");
}

int wv_store__check_obj_match(wv_store *st, enum wv_kind kind, const char *name,
                              int64_t if_match, int64_t *rev) {
    int64_t obj;
    if (wv_store__revision(st, rev) < 0)
        return WV_ERR_DB;
    if (if_match < 0)
        return 0;
    if (if_match > *rev)
        return WV_ERR_CONFLICT;
    int rc = wv_store__obj_rev(st, kind, name, &obj);
    if (rc == WV_ERR_NOTFOUND) /* to create: nothing may have changed since */
        return if_match == *rev ? 0 : WV_ERR_CONFLICT;
    if (rc < 0)
        return rc;
    /* Unchanged since the revision the client read it at. */
    return obj <= if_match ? 0 : WV_ERR_CONFLICT;
}

int wv_store_object_rev(wv_store *st, enum wv_kind kind, const char *name, int64_t *rev) {
    return wv_store__obj_rev(st, kind, name, rev);
}

int wv_store__bump(wv_store *st) {
    return wv_store__exec(st, "UPDATE meta SET revision = revision + 1 WHERE id = 1");
}

const char *wv_store__table(enum wv_kind kind) {
    switch (kind) {
    case WV_KIND_SOCKET:
        return "tunnel_sockets";
    case WV_KIND_EXPOSED_APP:
        return "exposed_apps";
    case WV_KIND_REMOTE_APP:
        return "remote_apps";
    default:
        return NULL;
    }
}

char *wv_store__canon(const json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s) {
        fprintf(stderr, "wovenet: out of memory encoding JSON\n");
        abort();
    }
    return s;
}

/* --- Opening and migrations ------------------------------------------------------ */

/* Creates the file 0600 before SQLite sees it: SQLite would honour the
 * umask, and its -wal and -shm files copy the main file's mode. An existing
 * file readable by others is tightened, since it holds secrets. */
static int prepare_file(const char *path, wv_log *log) {
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        /* The umask cannot widen 0600, but fchmod makes the mode exact. */
        fchmod(fd, 0600);
        close(fd);
        return 0;
    }
    if (errno != EEXIST) {
        WV_ERROR(log, SUB, "cannot create %s: %s", path, strerror(errno));
        return WV_ERR_IO;
    }
    struct stat sb;
    if (stat(path, &sb) < 0) {
        WV_ERROR(log, SUB, "cannot stat %s: %s", path, strerror(errno));
        return WV_ERR_IO;
    }
    if ((sb.st_mode & 077) && chmod(path, sb.st_mode & 0700) == 0)
        WV_WARN(log, SUB, "%s was accessible to other users; mode tightened to owner only", path);
    return 0;
}

static long migration_version(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *end;
    long v = strtol(base, &end, 10);
    return end == base + 3 && *end == '_' ? v : -1;
}

/* The highest recorded migration. */
static int schema_version(wv_store *st, int64_t *have) {
    return one_int64(st, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                     "read schema version", have);
}

static int migrate(wv_store *st) {
    if (wv_store__exec(
            st, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)") < 0)
        return WV_ERR_DB;
    sqlite3_stmt *s;
    int64_t have = 0;
    if (schema_version(st, &have) < 0)
        return WV_ERR_DB;

    /* Versions strictly increase: two migrations of one number (two
     * branches each adding "003_") would otherwise apply one silently. */
    long known = 0;
    for (const struct wv_embedded *m = wv_migrations; m->path; m++) {
        long v = migration_version(m->path);
        if (v <= known) {
            WV_ERROR(st->log, SUB, "migration %s does not follow the previous one's number",
                     m->path);
            return WV_ERR_DB;
        }
        known = v;
    }
    if (have > known) {
        WV_ERROR(st->log, SUB, "database schema version %lld is newer than this agent knows (%ld)",
                 (long long)have, known);
        return WV_ERR_DB;
    }
    for (const struct wv_embedded *m = wv_migrations; m->path; m++) {
        long v = migration_version(m->path);
        if (v < 0) {
            WV_ERROR(st->log, SUB, "bad migration name %s", m->path);
            return WV_ERR_DB;
        }
        if (v <= have)
            continue;
        /* One transaction per migration: a crash leaves it wholly applied or not. */
        if (wv_store__begin(st) < 0)
            return WV_ERR_DB;
        /* Another process may have migrated while we waited for the lock. */
        if (schema_version(st, &have) < 0) {
            wv_store__rollback(st);
            return WV_ERR_DB;
        }
        if (v <= have) {
            wv_store__rollback(st);
            continue;
        }
        if (wv_store__exec(st, (const char *)m->data) < 0 ||
            wv_store__prepare(st,
                              "INSERT INTO schema_migrations (version, name, applied_at) "
                              "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                              &s) < 0) {
            wv_store__rollback(st);
            return WV_ERR_DB;
        }
        sqlite3_bind_int64(s, 1, v);
        sqlite3_bind_text(s, 2, m->path, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, "record migration");
        sqlite3_finalize(s);
        if (rc < 0 || wv_store__commit(st) < 0) {
            wv_store__rollback(st);
            return WV_ERR_DB;
        }
        WV_INFO(st->log, SUB, "applied migration %s", m->path);
    }
    return 0;
}

int wv_store_open(const char *path, wv_log *log, wv_store **out) {
    *out = NULL;
    if (!path || !*path)
        return WV_ERR_INVAL;
    int rc = prepare_file(path, log);
    if (rc < 0)
        return rc;
    wv_store *st = wv_calloc(1, sizeof(*st));
    st->log = log;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        WV_ERROR(log, SUB, "cannot open %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "no memory");
        rc = WV_ERR_IO;
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 0);
    sqlite3_busy_timeout(st->db, 5000);
    /* secure_delete: an overwritten secret does not linger in free pages. */
    if (wv_store__exec(st, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; "
                           "PRAGMA secure_delete = ON") < 0) {
        rc = WV_ERR_DB;
        goto fail;
    }
    sqlite3_stmt *s;
    if (wv_store__prepare(st, "PRAGMA journal_mode = WAL", &s) < 0) {
        rc = WV_ERR_DB;
        goto fail;
    }
    bool wal = sqlite3_step(s) == SQLITE_ROW &&
               strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!wal) {
        WV_ERROR(log, SUB, "%s: cannot enable WAL (not a database?): %s", path,
                 sqlite3_errmsg(st->db));
        rc = WV_ERR_DB;
        goto fail;
    }
    if ((rc = migrate(st)) < 0)
        goto fail;
    *out = st;
    return 0;
fail:
    sqlite3_close(st->db);
    free(st);
    return rc;
}

void wv_store_close(wv_store *st) {
    if (!st)
        return;
    sqlite3_finalize(st->data_version);
    if (sqlite3_close(st->db) != SQLITE_OK)
        WV_ERROR(st->log, SUB, "close: statements still open");
    free(st);
}

sqlite3 *wv_store__db(wv_store *st) {
    return st->db;
}

int64_t wv_store_revision(wv_store *st) {
    int64_t rev;
    return wv_store__revision(st, &rev) < 0 ? -1 : rev;
}

/* --- Collections ---------------------------------------------------------------- */

int wv_store__run(wv_store *st, const char *sql, const char *what, int flags, int n, ...) {
    sqlite3_stmt *s;
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    va_list ap;
    va_start(ap, n);
    for (int i = 1; i <= n; i++)
        sqlite3_bind_text(s, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    va_end(ap);
    if (flags & WV_STORE__STAMP)
        sqlite3_bind_int64(s, n + 1, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, what);
    if (rc == 0 && (flags & WV_STORE__MUST_CHANGE) && sqlite3_changes(st->db) == 0)
        rc = WV_ERR_NOTFOUND;
    sqlite3_finalize(s);
    return rc;
}

int wv_store__rows(wv_store *st, const char *sql, const char *what, int ncols,
                   void (*fn)(const char *const *col, void *arg), void *arg) {
    sqlite3_stmt *s;
    const char *col[8];
    if (ncols < 1 || ncols > 8 || wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    int rc, n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        bool whole = true;
        for (int i = 0; i < ncols; i++)
            whole &= (col[i] = (const char *)sqlite3_column_text(s, i)) != NULL;
        if (whole) {
            fn(col, arg);
            n++;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : wv_store__dberr(st, what);
}

struct pairs {
    const char *k1, *k2;
    json_t *arr;
};

static void add_pair(const char *const *col, void *arg) {
    struct pairs *p = arg;
    json_array_append_new(p->arr, json_pack("{s:s,s:s}", p->k1, col[0], p->k2, col[1]));
}

int wv_store__text_pairs(wv_store *st, const char *sql, const char *k1, const char *k2,
                         json_t **out) {
    struct pairs p = {k1, k2, json_array()};
    if (wv_store__rows(st, sql, sql, 2, add_pair, &p) < 0) {
        json_decref(p.arr);
        *out = NULL;
        return WV_ERR_DB;
    }
    *out = p.arr;
    return 0;
}

int wv_store__coll_get(wv_store *st, enum wv_kind kind, const char *name, char **spec,
                       char origin[8]) {
    char sql[128];
    sqlite3_stmt *s;
    *spec = NULL;
    if (origin)
        origin[0] = '\0';
    snprintf(sql, sizeof(sql), "SELECT spec, coalesce(origin, '') FROM %s WHERE name = ?1",
             wv_store__table(kind));
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *spec = wv_strdup((const char *)sqlite3_column_text(s, 0));
        if (origin)
            snprintf(origin, 8, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : wv_store__dberr(st, "read object");
}

int wv_store__coll_get_spec(wv_store *st, enum wv_kind kind, const char *name, char **spec) {
    return wv_store__coll_get(st, kind, name, spec, NULL);
}

int wv_store__coll_write(wv_store *st, enum wv_kind kind, const char *name, const char *spec,
                         int64_t rev, const char *origin) {
    char sql[160];
    sqlite3_stmt *s;
    snprintf(sql, sizeof(sql),
             "INSERT OR REPLACE INTO %s (name, spec, updated_rev, origin) VALUES (?1, ?2, ?3, ?4)",
             wv_store__table(kind));
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, rev);
    sqlite3_bind_text(s, 4, origin, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, "write object");
    sqlite3_finalize(s);
    return rc;
}

int wv_store__set_origin(wv_store *st, enum wv_kind kind, const char *name, const char *origin) {
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE %s SET origin = ?1 WHERE name = ?2", wv_store__table(kind));
    return wv_store__run(st, sql, "set origin", 0, 2, origin, name);
}

int wv_store__take_origin(json_t *obj, const char *p, bool *take_over, wv_verr *err) {
    json_t *o = json_object_get(obj, "origin");
    *take_over = false;
    if (!o)
        return 0;
    const char *v = json_string_value(o);
    if (!v || (strcmp(v, "api") != 0 && strcmp(v, "config") != 0)) {
        snprintf(err->field, sizeof(err->field), "%s%sorigin", p, *p ? "." : "");
        snprintf(err->message, sizeof(err->message),
                 "unsupported value (\"api\" takes a config-managed object over; \"config\" "
                 "changes nothing)");
        return WV_ERR_INVAL;
    }
    *take_over = strcmp(v, "api") == 0;
    json_object_del(obj, "origin");
    return 0;
}

int wv_store__managed(wv_store *st, enum wv_kind kind, const char *name, wv_verr *err) {
    char *file = wv_store_config_file(st);
    snprintf(err->field, sizeof(err->field), "origin");
    if (kind == WV_KIND_SITE)
        snprintf(err->message, sizeof(err->message),
                 "the site settings are managed by the config file %s: change them there (every "
                 "start applies the file again), or take them over with \"origin\": \"api\" in "
                 "the request (the file's site settings are then ignored)",
                 file[0] ? file : "(unknown)");
    else
        snprintf(err->message, sizeof(err->message),
                 "%s \"%s\" is managed by the config file %s: change it there (every start "
                 "applies the file again), or take it over with \"origin\": \"api\" in the "
                 "request (the file's entry is then ignored)",
                 wv_kind_noun(kind), name, file[0] ? file : "(unknown)");
    free(file);
    return WV_ERR_MANAGED;
}

char *wv_store_config_file(wv_store *st) {
    sqlite3_stmt *s;
    char *out = NULL;
    if (wv_store__prepare(st, "SELECT config_file FROM meta WHERE id = 1", &s) == 0) {
        if (sqlite3_step(s) == SQLITE_ROW)
            out = wv_strdup((const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    return out ? out : wv_strdup("");
}

int wv_store_origins(wv_store *st, enum wv_kind kind, json_t **out) {
    char sql[128];
    *out = NULL;
    if (kind == WV_KIND_SITE) {
        char o[8];
        int rc = wv_store__site_origin(st, o);
        if (rc == 0)
            *out = json_pack("{s:s}", "site", strcmp(o, "config") == 0 ? "config" : "api");
        return rc;
    }
    if (!wv_store__table(kind))
        return WV_ERR_INVAL;
    snprintf(sql, sizeof(sql),
             "SELECT name, CASE origin WHEN 'config' THEN 'config' ELSE 'api' END FROM %s",
             wv_store__table(kind));
    json_t *arr = NULL;
    int rc = wv_store__text_pairs(st, sql, "name", "origin", &arr);
    if (rc < 0)
        return rc;
    json_t *m = json_object(), *e;
    size_t i;
    json_array_foreach(arr, i, e) json_object_set(m, json_string_value(json_object_get(e, "name")),
                                                  json_object_get(e, "origin"));
    json_decref(arr);
    *out = m;
    return 0;
}

int wv_store__coll_delete(wv_store *st, enum wv_kind kind, const char *name) {
    char sql[96];
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE name = ?1", wv_store__table(kind));
    return wv_store__run(st, sql, "delete object", WV_STORE__MUST_CHANGE, 1, name);
}

static json_t *parse_spec(wv_store *st, const char *spec) {
    json_t *v = json_loads(spec, 0, NULL);
    if (!v)
        WV_ERROR(st->log, SUB, "stored object is not valid JSON");
    return v;
}

int wv_store_list(wv_store *st, enum wv_kind kind, json_t **out) {
    char sql[96];
    sqlite3_stmt *s;
    *out = NULL;
    if (!wv_store__table(kind))
        return WV_ERR_INVAL;
    snprintf(sql, sizeof(sql), "SELECT spec FROM %s ORDER BY name", wv_store__table(kind));
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *v = parse_spec(st, (const char *)sqlite3_column_text(s, 0));
        if (!v)
            break;
        json_array_append_new(arr, v);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return rc == SQLITE_ROW ? WV_ERR_DB : wv_store__dberr(st, "list");
    }
    *out = arr;
    return 0;
}

int wv_store_get(wv_store *st, enum wv_kind kind, const char *name, json_t **out) {
    char *spec;
    *out = NULL;
    if (!wv_store__table(kind) || !name)
        return WV_ERR_INVAL;
    int rc = wv_store__coll_get_spec(st, kind, name, &spec);
    if (rc < 0)
        return rc;
    if (!spec)
        return WV_ERR_NOTFOUND;
    *out = parse_spec(st, spec);
    free(spec);
    return *out ? 0 : WV_ERR_DB;
}

/* Create (exclusive) or create-or-replace, one transaction. An existing
 * config-managed object is refused unless obj takes it over ("origin":
 * "api"); what the API writes is API-managed. */
static int put(wv_store *st, enum wv_kind kind, json_t *obj, int64_t if_match, bool exclusive,
               bool *created, bool *changed, wv_verr *err) {
    wv_verr scratch;
    err = wv_store__verr(err, &scratch);
    if (created)
        *created = false;
    if (changed)
        *changed = false;
    if (!wv_store__table(kind) || !obj)
        return WV_ERR_INVAL;
    /* Validate a copy: the caller's object is not ours to normalize. */
    json_t *copy = json_deep_copy(obj);
    char *spec = NULL, *old = NULL, origin[8] = "";
    int64_t rev;
    bool take_over;
    int rc = wv_store__take_origin(copy, "", &take_over, err);
    if (rc == 0)
        rc = wv_validate_object(kind, copy, err);
    if (rc < 0)
        goto out;
    const char *name = json_string_value(json_object_get(copy, "name"));
    spec = wv_store__canon(copy);
    if ((rc = wv_store__begin(st)) < 0)
        goto out;
    if ((rc = wv_store__check_obj_match(st, kind, name, if_match, &rev)) < 0 ||
        (rc = wv_store__coll_get(st, kind, name, &old, origin)) < 0)
        goto out;
    if (old && exclusive) {
        snprintf(err->field, sizeof(err->field), "name");
        snprintf(err->message, sizeof(err->message), "a %s named \"%s\" exists", wv_kind_noun(kind),
                 name);
        rc = WV_ERR_EXISTS;
        goto out;
    }
    bool managed = old && strcmp(origin, "config") == 0;
    if (managed && !take_over) {
        rc = wv_store__managed(st, kind, name, err);
        goto out;
    }
    if (old && strcmp(old, spec) == 0 && !managed) {
        rc = wv_store__commit(st); /* nothing changes, so the revision stays */
        goto out;
    }
    if ((rc = wv_store__coll_write(st, kind, name, spec, rev + 1, "api")) < 0 ||
        (rc = wv_store__bump(st)) < 0 || (rc = wv_store__commit(st)) < 0)
        goto out;
    if (created)
        *created = !old;
    if (changed)
        *changed = true;
out:
    wv_store__rollback(st);
    json_decref(copy);
    free(spec);
    free(old);
    return rc;
}

int wv_store_create(wv_store *st, enum wv_kind kind, json_t *obj, int64_t if_match, wv_verr *err) {
    return put(st, kind, obj, if_match, true, NULL, NULL, err);
}

int wv_store_put(wv_store *st, enum wv_kind kind, json_t *obj, int64_t if_match, bool *created,
                 bool *changed, wv_verr *err) {
    return put(st, kind, obj, if_match, false, created, changed, err);
}

int wv_store_delete(wv_store *st, enum wv_kind kind, const char *name, int64_t if_match) {
    return wv_store_delete_ex(st, kind, name, if_match, NULL);
}

int wv_store_delete_ex(wv_store *st, enum wv_kind kind, const char *name, int64_t if_match,
                       wv_verr *err) {
    int64_t rev;
    wv_verr scratch;
    char *old = NULL, origin[8] = "";
    err = wv_store__verr(err, &scratch);
    if (!wv_store__table(kind) || !name)
        return WV_ERR_INVAL;
    int rc = wv_store__begin(st);
    if (rc < 0)
        return rc;
    if ((rc = wv_store__check_obj_match(st, kind, name, if_match, &rev)) == 0 &&
        (rc = wv_store__coll_get(st, kind, name, &old, origin)) == 0) {
        /* The file would bring it back at the next start: say where to
         * delete it instead. */
        if (old && strcmp(origin, "config") == 0) {
            char *file = wv_store_config_file(st);
            snprintf(err->field, sizeof(err->field), "origin");
            snprintf(err->message, sizeof(err->message),
                     "%s \"%s\" is managed by the config file %s: remove it there (the next "
                     "start or `wovenet import` deletes it); deleted here it would come back",
                     wv_kind_noun(kind), name, file[0] ? file : "(unknown)");
            free(file);
            rc = WV_ERR_MANAGED;
        }
        else if ((rc = wv_store__coll_delete(st, kind, name)) == 0 &&
                 (rc = wv_store__bump(st)) == 0)
            rc = wv_store__commit(st);
    }
    free(old);
    wv_store__rollback(st);
    return rc;
}

/* --- Export ------------------------------------------------------------------ */

int wv_store_export(wv_store *st, json_t **out) {
    static const enum wv_kind kinds[] = {WV_KIND_SOCKET, WV_KIND_EXPOSED_APP, WV_KIND_REMOTE_APP};
    *out = NULL;
    /* A read transaction: the revision and every object from one snapshot. */
    int rc = wv_store__exec(st, "BEGIN");
    if (rc < 0)
        return rc;
    json_t *doc = json_object(), *site = NULL, *arr;
    int64_t rev;
    if ((rc = wv_store__revision(st, &rev)) < 0)
        goto fail;
    json_object_set_new(doc, "revision", json_integer(rev));
    rc = wv_store__site_read(st, &site);
    if (rc == 0)
        json_object_set_new(doc, "site", site);
    else if (rc != WV_ERR_NOTFOUND)
        goto fail;
    for (size_t i = 0; i < WV_COUNTOF(kinds); i++) {
        if ((rc = wv_store_list(st, kinds[i], &arr)) < 0)
            goto fail;
        json_object_set_new(doc, wv_kind_key(kinds[i]), arr);
    }
    wv_store__exec(st, "COMMIT");
    *out = doc;
    return 0;
fail:
    wv_store__rollback(st);
    json_decref(doc);
    return rc;
}
