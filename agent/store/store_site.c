/* The site row: settings as canonical JSON, secrets in their own columns,
 * basic-auth users as PBKDF2 hashes. Secrets absent from input keep their
 * stored values, so an exported document can be applied back unchanged. */
#include "store_impl.h"
#include "wv/base.h"
#include "wv/crypto.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "store"

static void free_secret(char *s) {
    if (s) {
        wv_memwipe(s, strlen(s));
        free(s);
    }
}

/* wv_keys_default_topic(): the same derivation as wv_config_derive_topic()
 * (docs/CANONICAL.md), so a topic left empty is the same whether import or
 * the API filled it; store_test pins the value. It is slow (PBKDF2) and
 * runs only when a write leaves the topic empty with a key set. */
static char *derive_topic(const char *key) {
    char *out = wv_malloc(WV_DEFAULT_TOPIC_LEN + 1);
    if (wv_keys_default_topic(key, strlen(key), out) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The default topic before issue 17: "wovenet/" + 32 hex of
 * SHA-256("wovenet-topic\0" + key). Only recognised, never derived anew. */
static void legacy_topic(const char *key, char out[WV_DEFAULT_TOPIC_LEN + 1]) {
    static const char label[] = "wovenet-topic"; /* sizeof includes the NUL */
    size_t kl = strlen(key), n = sizeof(label) + kl;
    unsigned char *buf = wv_malloc(n), md[32];
    memcpy(buf, label, sizeof(label));
    memcpy(buf + sizeof(label), key, kl);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, n, md);
    wv_memwipe(buf, n);
    free(buf);
    memcpy(out, "wovenet/", 8);
    wv_hex(md, 16, out + 8);
}

/* A site upgraded from before issue 17 keeps the topic it had derived with
 * the old rule while its key stays the same, also when its config is
 * imported again at every start (run --config): it keeps meeting the
 * sites still on that topic. True when *topic (empty or the new default)
 * must stay old_spec's topic. */
static bool keeps_legacy_topic(const char *old_spec, const char *old_key, const char *key,
                               const char *topic, char keep[WV_DEFAULT_TOPIC_LEN + 1]) {
    if (!old_spec || !old_key || strcmp(old_key, key) != 0)
        return false;
    json_t *o = json_loads(old_spec, 0, NULL);
    const char *ot = json_string_value(json_object_get(json_object_get(o, "messageChannel"), "topic"));
    char legacy[WV_DEFAULT_TOPIC_LEN + 1];
    legacy_topic(key, legacy);
    bool yes = ot && strcmp(ot, legacy) == 0;
    json_decref(o);
    if (!yes)
        return false;
    if (*topic) {
        char fresh[WV_DEFAULT_TOPIC_LEN + 1];
        if (wv_keys_default_topic(key, strlen(key), fresh) != 0 || strcmp(fresh, topic) != 0)
            return false; /* an explicit topic wins */
    }
    snprintf(keep, WV_DEFAULT_TOPIC_LEN + 1, "%s", legacy);
    return true;
}

struct site_row {
    bool exists;
    char *key, *mqtt_password, *spec;
    json_t *users; /* {user: hash} */
};

static void row_dispose(struct site_row *r) {
    free_secret(r->key);
    free_secret(r->mqtt_password);
    free(r->spec);
    json_decref(r->users);
}

static int row_read(wv_store *st, struct site_row *r) {
    sqlite3_stmt *s;
    memset(r, 0, sizeof(*r));
    r->users = json_object();
    if (wv_store__prepare(st, "SELECT network_key, mqtt_password, spec FROM site WHERE id = 1",
                          &s) < 0)
        return WV_ERR_DB;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r->exists = true;
        r->key = wv_strdup((const char *)sqlite3_column_text(s, 0));
        r->mqtt_password = wv_strdup((const char *)sqlite3_column_text(s, 1));
        r->spec = wv_strdup((const char *)sqlite3_column_text(s, 2));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return wv_store__dberr(st, "read site");
    if (wv_store__prepare(st, "SELECT user, hash FROM basic_auth_users", &s) < 0)
        return WV_ERR_DB;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_object_set_new(r->users, (const char *)sqlite3_column_text(s, 0),
                            json_string((const char *)sqlite3_column_text(s, 1)));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : wv_store__dberr(st, "read users");
}

/* Takes member k out of o as a heap copy (NULL if absent). jansson cannot
 * wipe its own copy, so at least it is dropped at once. */
static char *take(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    char *s = json_is_string(v) ? wv_strdup(json_string_value(v)) : NULL;
    json_object_del(o, k);
    return s;
}

/* Resolves every basic-auth user's hash into users: kept when the password
 * is absent or matches the stored hash, new otherwise. */
static int resolve_users(json_t *site, const char *p, const struct site_row *old, bool dry_run,
                         json_t *users, bool *changed, wv_verr *err) {
    json_t *list =
        json_object_get(json_object_get(json_object_get(site, "restfulApi"), "auth"), "basicAuth");
    json_t *u;
    size_t i;
    json_array_foreach(list, i, u) {
        const char *user = json_string_value(json_object_get(u, "user"));
        const char *stored = json_string_value(json_object_get(old->users, user));
        char *pw = take(u, "password");
        if (!pw && !stored) {
            snprintf(err->field, sizeof(err->field), "%s%srestfulApi.auth.basicAuth[%zu].password",
                     p, *p ? "." : "", i);
            snprintf(err->message, sizeof(err->message), "required");
            return WV_ERR_INVAL;
        }
        if (!pw || wv_password_verify(pw, stored) == 0) {
            json_object_set_new(users, user, json_string(stored));
        } else {
            *changed = true;
            char *h = dry_run ? wv_strdup("") : wv_password_hash(pw);
            json_object_set_new(users, user, json_string(h));
            free(h);
        }
        free_secret(pw);
    }
    if (json_object_size(users) != json_object_size(old->users))
        *changed = true;
    const char *user;
    json_t *h;
    json_object_foreach(users, user, h) if (!json_object_get(old->users, user)) *changed = true;
    return 0;
}

static int row_write(wv_store *st, const char *name, const char *key, const char *pw,
                     const char *spec, int64_t rev, const char *origin, json_t *users) {
    sqlite3_stmt *s;
    if (wv_store__prepare(
            st,
            "INSERT OR REPLACE INTO site (id, site_name, network_key, mqtt_password, spec, "
            "updated_rev, origin) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            &s) < 0)
        return WV_ERR_DB;
    sqlite3_bind_text(s, 6, origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, pw, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, rev);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, "write site");
    sqlite3_finalize(s);
    if (rc < 0 || (rc = wv_store__exec(st, "DELETE FROM basic_auth_users")) < 0)
        return rc;
    if (wv_store__prepare(st, "INSERT INTO basic_auth_users (user, hash) VALUES (?1, ?2)", &s) < 0)
        return WV_ERR_DB;
    const char *user;
    json_t *h;
    json_object_foreach(users, user, h) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, json_string_value(h), -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            rc = wv_store__dberr(st, "write user");
            break;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

int wv_store__site_origin(wv_store *st, char origin[8]) {
    sqlite3_stmt *s;
    origin[0] = '\0';
    if (wv_store__prepare(st, "SELECT coalesce(origin, '') FROM site WHERE id = 1", &s) < 0)
        return WV_ERR_DB;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        snprintf(origin, 8, "%s", (const char *)sqlite3_column_text(s, 0));
    return wv_store__one_row(st, s, rc, "read site origin");
}

int wv_store__site_write(wv_store *st, json_t *site, const char *p, bool dry_run, int64_t rev,
                         const char *origin, bool *existed, bool *changed, wv_verr *err) {
    struct site_row old;
    json_t *users = json_object();
    json_t *mc = json_object_get(site, "messageChannel");
    char *key = take(site, "networkKey"), *pw = take(mc, "password"), *spec = NULL;
    bool diff = false;
    int rc = row_read(st, &old);
    if (rc < 0)
        goto out;
    *existed = old.exists;
    if (!key && !old.key) {
        snprintf(err->field, sizeof(err->field), "%s%snetworkKey", p, *p ? "." : "");
        snprintf(err->message, sizeof(err->message), "required");
        rc = WV_ERR_INVAL;
        goto out;
    }
    if (!key)
        key = wv_strdup(old.key);
    if (!pw)
        pw = wv_strdup(old.mqtt_password ? old.mqtt_password : "");
    char keep[WV_DEFAULT_TOPIC_LEN + 1];
    const char *given = json_string_value(json_object_get(mc, "topic"));
    if (old.exists && keeps_legacy_topic(old.spec, old.key, key, given ? given : "", keep)) {
        json_object_set_new(mc, "topic", json_string(keep));
    } else if (json_string_length(json_object_get(mc, "topic")) == 0) {
        char *topic = derive_topic(key);
        if (!topic) {
            rc = WV_ERR_CRYPTO;
            goto out;
        }
        json_object_set_new(mc, "topic", json_string(topic));
        free(topic);
    }
    if ((rc = resolve_users(site, p, &old, dry_run, users, &diff, err)) < 0)
        goto out;
    spec = wv_store__canon(site);
    diff = diff || !old.exists || strcmp(spec, old.spec) != 0 || strcmp(key, old.key) != 0 ||
           strcmp(pw, old.mqtt_password) != 0;
    *changed = diff;
    if (diff && !dry_run)
        rc = row_write(st, json_string_value(json_object_get(site, "siteName")), key, pw, spec, rev,
                       origin, users);
out:
    row_dispose(&old);
    json_decref(users);
    free_secret(key);
    free_secret(pw);
    free(spec);
    return rc;
}

int wv_store__site_read(wv_store *st, json_t **out) {
    sqlite3_stmt *s;
    *out = NULL;
    if (wv_store__prepare(st, "SELECT spec, mqtt_password != '' FROM site WHERE id = 1", &s) < 0)
        return WV_ERR_DB;
    int rc = sqlite3_step(s);
    json_t *site = NULL;
    bool pw_set = false;
    if (rc == SQLITE_ROW) {
        site = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
        pw_set = sqlite3_column_int(s, 1) != 0;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return WV_ERR_NOTFOUND;
    if (rc != SQLITE_ROW)
        return wv_store__dberr(st, "read site");
    if (!site) {
        WV_ERROR(st->log, SUB, "stored site is not valid JSON");
        return WV_ERR_DB;
    }
    json_object_set_new(site, "networkKeySet", json_true());
    json_object_set_new(json_object_get(site, "messageChannel"), "passwordSet",
                        json_boolean(pw_set));
    json_t *u, *list = json_object_get(json_object_get(json_object_get(site, "restfulApi"), "auth"),
                                       "basicAuth");
    size_t i;
    json_array_foreach(list, i, u) json_object_set_new(u, "passwordSet", json_true());
    *out = site;
    return 0;
}

bool wv_store_has_site(wv_store *st) {
    json_t *site;
    if (wv_store__site_read(st, &site) < 0)
        return false;
    json_decref(site);
    return true;
}

int wv_store_get_site(wv_store *st, json_t **out) {
    return wv_store__site_read(st, out);
}

int wv_store_put_site(wv_store *st, json_t *site, int64_t if_match, bool *changed, wv_verr *err) {
    wv_verr scratch;
    bool existed, diff = false, take_over = false;
    int64_t rev;
    char origin[8] = "";
    err = wv_store__verr(err, &scratch);
    if (changed)
        *changed = false;
    if (!site)
        return WV_ERR_INVAL;
    json_t *copy = json_deep_copy(site);
    int rc = wv_store__take_origin(copy, "", &take_over, err);
    if (rc == 0)
        rc = wv_validate_site(copy, false, err);
    if (rc < 0)
        goto out;
    if ((rc = wv_store__begin(st)) < 0)
        goto out;
    if ((rc = wv_store__check_obj_match(st, WV_KIND_SITE, NULL, if_match, &rev)) < 0)
        goto out;
    rc = wv_store__site_origin(st, origin);
    if (rc < 0 && rc != WV_ERR_NOTFOUND)
        goto out;
    bool managed = strcmp(origin, "config") == 0;
    if (managed && !take_over) {
        rc = wv_store__managed(st, WV_KIND_SITE, NULL, err);
        goto out;
    }
    if ((rc = wv_store__site_write(st, copy, "", false, rev + 1, "api", &existed, &diff, err)) < 0)
        goto out;
    /* A take-over alone is a change: the file no longer manages the site. */
    if (!diff && managed) {
        if ((rc = wv_store__exec(st, "UPDATE site SET origin = 'api' WHERE id = 1")) < 0)
            goto out;
        diff = true;
    }
    if ((diff && (rc = wv_store__bump(st)) < 0) || (rc = wv_store__commit(st)) < 0)
        goto out;
    if (changed)
        *changed = diff;
out:
    wv_store__rollback(st);
    json_decref(copy);
    return rc;
}

static int read_secret(wv_store *st, const char *sql, char **out) {
    sqlite3_stmt *s;
    *out = NULL;
    if (wv_store__prepare(st, sql, &s) < 0)
        return WV_ERR_DB;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = wv_strdup((const char *)sqlite3_column_text(s, 0));
    return wv_store__one_row(st, s, rc, "read secret");
}

int wv_store_get_network_key(wv_store *st, char **key) {
    return read_secret(st, "SELECT network_key FROM site WHERE id = 1", key);
}

int wv_store_get_mqtt_password(wv_store *st, char **password) {
    return read_secret(st, "SELECT mqtt_password FROM site WHERE id = 1", password);
}

int wv_store_get_basic_auth_hashes(wv_store *st, json_t **users) {
    return wv_store__text_pairs(st, "SELECT user, hash FROM basic_auth_users ORDER BY user", "user",
                                "hash", users);
}
