#include <jansson.h>

#include "wvunit.h"

#include "store_impl.h"
#include "wv/base.h"
#include "wv/crypto.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY "aA6wBHTYd%#dOPr8-secret"
#define MQTT_PW "mqtt-pass-s3cr3t"
#define USER_PW "basic-pass-s3cr3t"

struct fx {
    char dir[64];
    char path[128];
    wv_store *st;
};

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/wvstoreXXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/wovenet.db", f->dir);
    if (wv_store_open(f->path, NULL, &f->st) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    wv_store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static json_t *site_json(const char *name, bool secrets) {
    json_t *s = json_pack("{s:s,s:{s:[s]}}", "siteName", name, "messageChannel", "brokers",
                          "mqtt://127.0.0.1:1883");
    if (secrets) {
        json_object_set_new(s, "networkKey", json_string(KEY));
        json_object_set_new(json_object_get(s, "messageChannel"), "password", json_string(MQTT_PW));
    }
    return s;
}

static json_t *remote(const char *name, int port) {
    char sock[64];
    snprintf(sock, sizeof(sock), "127.0.0.1:%d", port);
    return json_pack("{s:s,s:s,s:s,s:s}", "name", name, "siteName", "aws", "appName", "iperf",
                     "localSocket", sock);
}

/* A store whose topic was derived by the rule before issue 17 keeps it
 * while the key stays the same, even when a config without a topic (or with
 * the new default) is written again; a new key moves to the new rule. */
static void legacy_default_topic_is_kept(void **state) {
    struct fx *f = *state;
    wv_verr err;
    bool changed;
    /* "wovenet/" + 32 hex of SHA-256("wovenet-topic\0" KEY) */
    const char *legacy = "wovenet/40344293cc275a83d73c02ef71b5c537";
    json_t *s = site_json("local", true);
    json_object_set_new(json_object_get(s, "messageChannel"), "topic", json_string(legacy));
    assert_int_equal(wv_store_put_site(f->st, s, -1, &changed, &err), 0);
    json_decref(s);
    s = site_json("local", true); /* no topic: would derive the new default */
    assert_int_equal(wv_store_put_site(f->st, s, -1, &changed, &err), 0);
    json_decref(s);
    json_t *out;
    assert_int_equal(wv_store_get_site(f->st, &out), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "messageChannel"), "topic")),
        legacy);
    json_decref(out);
    s = site_json("local", false);
    json_object_set_new(s, "networkKey", json_string("Another-Key-12345"));
    assert_int_equal(wv_store_put_site(f->st, s, -1, &changed, &err), 0);
    json_decref(s);
    assert_int_equal(wv_store_get_site(f->st, &out), 0);
    const char *t =
        json_string_value(json_object_get(json_object_get(out, "messageChannel"), "topic"));
    assert_string_not_equal(t, legacy);
    assert_int_equal(strncmp(t, "wovenet/", 8), 0);
    json_decref(out);
}

static void migrations_from_empty(void **state) {
    struct fx *f = *state;
    assert_int_equal(wv_store_revision(f->st), 0);
    assert_false(wv_store_has_site(f->st));
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(wv_store__db(f->st),
                           "SELECT version, name FROM schema_migrations ORDER BY version", -1, &s,
                           NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    assert_string_equal((const char *)sqlite3_column_text(s, 1), "001_init.sql");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(wv_store__db(f->st), "PRAGMA journal_mode", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(wv_store__db(f->st), "PRAGMA foreign_keys", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);

    /* Reopening applies nothing twice. */
    wv_store_close(f->st);
    assert_int_equal(wv_store_open(f->path, NULL, &f->st), 0);
    assert_int_equal(wv_store_revision(f->st), 0);

    /* A schema newer than this agent is refused. */
    assert_int_equal(
        sqlite3_exec(wv_store__db(f->st),
                     "INSERT INTO schema_migrations VALUES (999, '999_future.sql', 'x')", NULL,
                     NULL, NULL),
        SQLITE_OK);
    wv_store_close(f->st);
    wv_store *st2;
    assert_int_equal(wv_store_open(f->path, NULL, &st2), WV_ERR_DB);
    assert_int_equal(sqlite3_open(f->path, (sqlite3 **)&st2), SQLITE_OK);
    sqlite3_exec((sqlite3 *)st2, "DELETE FROM schema_migrations WHERE version = 999", NULL, NULL,
                 NULL);
    sqlite3_close((sqlite3 *)st2);
    assert_int_equal(wv_store_open(f->path, NULL, &f->st), 0);
}

/* Two connections on one file (e.g. `wovenet token create` while the agent
 * runs): each sees the other's commits, migrations are not re-applied. */
static void two_handles_share_the_file(void **state) {
    struct fx *f = *state;
    wv_store *other;
    assert_int_equal(wv_store_open(f->path, NULL, &other), 0);
    json_t *r = remote("x", 9);
    assert_int_equal(wv_store_create(other, WV_KIND_REMOTE_APP, r, 0, NULL), 0);
    json_decref(r);
    assert_int_equal(wv_store_revision(f->st), 1);
    char *tok;
    assert_int_equal(wv_store_token_create(f->st, "t", &tok), 0);
    assert_int_equal(wv_store_token_check(other, tok), 0);
    free(tok);
    wv_store_close(other);
}

static void not_a_database_and_bad_path(void **state) {
    struct fx *f = *state;
    char p[160];
    snprintf(p, sizeof(p), "%s/junk.db", f->dir);
    FILE *fp = fopen(p, "w");
    fputs("this is not an SQLite file, not at all, no header here................................",
          fp);
    fclose(fp);
    wv_store *st;
    assert_int_equal(wv_store_open(p, NULL, &st), WV_ERR_DB);
    assert_null(st);
    assert_int_equal(wv_store_open("/nonexistent-dir/x.db", NULL, &st), WV_ERR_IO);
}

static void file_mode_0600(void **state) {
    struct fx *f = *state;
    mode_t old = umask(0);
    char p[160];
    snprintf(p, sizeof(p), "%s/open.db", f->dir);
    wv_store *st;
    assert_int_equal(wv_store_open(p, NULL, &st), 0);
    umask(old);
    json_t *r = remote("r", 1);
    assert_int_equal(wv_store_create(st, WV_KIND_REMOTE_APP, r, -1, NULL), 0);
    json_decref(r);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char wal[170];
    snprintf(wal, sizeof(wal), "%s-wal", p);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    wv_store_close(st);

    /* An existing world-readable file is tightened. */
    chmod(p, 0644);
    assert_int_equal(wv_store_open(p, NULL, &st), 0);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    wv_store_close(st);
}

static void crud_and_revision(void **state) {
    struct fx *f = *state;
    wv_verr err;
    bool created, changed;
    json_t *r = remote("b-app", 5201), *out;

    assert_int_equal(wv_store_create(f->st, WV_KIND_REMOTE_APP, r, -1, &err), 0);
    assert_int_equal(wv_store_revision(f->st), 1);
    /* The caller's object is not normalized by the store. */
    assert_string_equal(json_string_value(json_object_get(r, "localSocket")), "127.0.0.1:5201");
    assert_int_equal(wv_store_create(f->st, WV_KIND_REMOTE_APP, r, -1, &err), WV_ERR_EXISTS);
    assert_string_equal(err.field, "name");
    assert_int_equal(wv_store_revision(f->st), 1);

    assert_int_equal(wv_store_get(f->st, WV_KIND_REMOTE_APP, "b-app", &out), 0);
    assert_string_equal(json_string_value(json_object_get(out, "localSocket")),
                        "tcp:127.0.0.1:5201");
    /* Putting back what was read is a no-op. */
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, out, 1, &created, &changed, &err), 0);
    assert_false(created);
    assert_false(changed);
    assert_int_equal(wv_store_revision(f->st), 1);
    json_decref(out);
    /* Same content in a non-canonical spelling is a no-op too. */
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, r, -1, &created, &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(wv_store_revision(f->st), 1);

    /* A change bumps by exactly one; a stale If-Match conflicts. */
    json_object_set_new(r, "localSocket", json_string("127.0.0.1:5202"));
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, r, 0, &created, &changed, &err),
                     WV_ERR_CONFLICT);
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, r, 1, &created, &changed, &err), 0);
    assert_false(created);
    assert_true(changed);
    assert_int_equal(wv_store_revision(f->st), 2);
    json_decref(r);

    r = remote("a-app", 1);
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, r, 2, &created, &changed, &err), 0);
    assert_true(created);
    assert_int_equal(wv_store_revision(f->st), 3);
    json_decref(r);

    /* Invalid input is refused with the field, nothing stored. */
    r = remote("c", 1);
    json_object_set_new(r, "localSocket", json_string("unix:relative"));
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, r, -1, &created, &changed, &err),
                     WV_ERR_INVAL);
    assert_string_equal(err.field, "localSocket");
    json_decref(r);
    assert_int_equal(wv_store_get(f->st, WV_KIND_REMOTE_APP, "c", &out), WV_ERR_NOTFOUND);

    assert_int_equal(wv_store_list(f->st, WV_KIND_REMOTE_APP, &out), 0);
    assert_int_equal(json_array_size(out), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "name")),
                        "a-app");
    json_decref(out);
    assert_int_equal(wv_store_list(f->st, WV_KIND_SOCKET, &out), 0);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);

    assert_int_equal(wv_store_delete(f->st, WV_KIND_REMOTE_APP, "a-app", 2), WV_ERR_CONFLICT);
    assert_int_equal(wv_store_delete(f->st, WV_KIND_REMOTE_APP, "a-app", 3), 0);
    assert_int_equal(wv_store_revision(f->st), 4);
    assert_int_equal(wv_store_delete(f->st, WV_KIND_REMOTE_APP, "a-app", -1), WV_ERR_NOTFOUND);
    assert_int_equal(wv_store_revision(f->st), 4);

    /* Other kinds go to their own tables: the same name can exist in each. */
    json_t *e = J("{\"name\":\"b-app\",\"appSocket\":\"unix:/run/x\"}");
    assert_int_equal(wv_store_create(f->st, WV_KIND_EXPOSED_APP, e, -1, &err), 0);
    json_decref(e);
    json_t *s = J("{\"name\":\"b-app\",\"mode\":\"dedicated-address\",\"listenAddress\":\"::1\","
                  "\"listenPort\":4}");
    assert_int_equal(wv_store_create(f->st, WV_KIND_SOCKET, s, -1, &err), 0);
    json_decref(s);
    assert_int_equal(wv_store_revision(f->st), 6);
    assert_int_equal(wv_store_get(f->st, WV_KIND_SOCKET, "b-app", &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "publicPort")), 4);
    json_decref(out);
    assert_int_equal(wv_store_get(f->st, WV_KIND_SITE, "x", &out), WV_ERR_INVAL);
}

static void site_secrets(void **state) {
    struct fx *f = *state;
    wv_verr err;
    bool changed;
    json_t *out;
    char *secret;

    json_t *s = site_json("local", false);
    assert_int_equal(wv_store_put_site(f->st, s, -1, &changed, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "networkKey");
    assert_string_equal(err.message, "required");
    json_decref(s);
    assert_int_equal(wv_store_get_site(f->st, &out), WV_ERR_NOTFOUND);
    assert_int_equal(wv_store_get_network_key(f->st, &secret), WV_ERR_NOTFOUND);

    s = site_json("local", true);
    json_object_set_new(s, "restfulApi",
                        json_pack("{s:{s:[{s:s,s:s}]}}", "auth", "basicAuth", "user", "admin",
                                  "password", USER_PW));
    assert_int_equal(wv_store_put_site(f->st, s, 0, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(wv_store_revision(f->st), 1);
    assert_true(wv_store_has_site(f->st));

    assert_int_equal(wv_store_get_site(f->st, &out), 0);
    char *dump = json_dumps(out, 0);
    wvu_lacks(dump, KEY, MQTT_PW, USER_PW, "pbkdf2");
    free(dump);
    assert_true(json_is_true(json_object_get(out, "networkKeySet")));
    json_t *mc = json_object_get(out, "messageChannel");
    assert_true(json_is_true(json_object_get(mc, "passwordSet")));
    /* The empty topic was derived from the key, without the key. */
    const char *topic = json_string_value(json_object_get(mc, "topic"));
    /* Pinned: must match wv_config_derive_topic() (PBKDF2-based since
     * issue 17, see wv_keys_default_topic). */
    assert_string_equal(topic, "wovenet/500f805a92f041a587d72c467217794b");
    json_t *u = json_array_get(
        json_object_get(json_object_get(json_object_get(out, "restfulApi"), "auth"), "basicAuth"),
        0);
    assert_string_equal(json_string_value(json_object_get(u, "user")), "admin");
    assert_true(json_is_true(json_object_get(u, "passwordSet")));
    assert_null(json_object_get(u, "password"));

    /* Putting back what was read (no secrets) keeps them and changes nothing. */
    assert_int_equal(wv_store_put_site(f->st, out, 1, &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(wv_store_revision(f->st), 1);
    json_decref(out);
    /* The same secrets again: no change either (password verified, not re-hashed). */
    assert_int_equal(wv_store_put_site(f->st, s, -1, &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(wv_store_revision(f->st), 1);

    assert_int_equal(wv_store_get_network_key(f->st, &secret), 0);
    assert_string_equal(secret, KEY);
    free(secret);
    assert_int_equal(wv_store_get_mqtt_password(f->st, &secret), 0);
    assert_string_equal(secret, MQTT_PW);
    free(secret);
    json_t *hashes;
    assert_int_equal(wv_store_get_basic_auth_hashes(f->st, &hashes), 0);
    assert_int_equal(json_array_size(hashes), 1);
    const char *h = json_string_value(json_object_get(json_array_get(hashes, 0), "hash"));
    assert_int_equal(strncmp(h, "pbkdf2-sha256$100000$", 21), 0);
    assert_int_equal(wv_password_verify(USER_PW, h), 0);
    assert_int_equal(wv_password_verify("wrong-password", h), WV_ERR_AUTH);
    json_decref(hashes);

    /* A new key changes the site; the secret alone counts as a change. */
    json_object_set_new(s, "networkKey", json_string("Another-Key-12345"));
    assert_int_equal(wv_store_put_site(f->st, s, 1, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(wv_store_revision(f->st), 2);
    /* A user without a password and no stored hash is refused. */
    json_object_set_new(s, "restfulApi",
                        json_pack("{s:{s:[{s:s}]}}", "auth", "basicAuth", "user", "newuser"));
    assert_int_equal(wv_store_put_site(f->st, s, -1, &changed, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "restfulApi.auth.basicAuth[0].password");
    assert_int_equal(wv_store_revision(f->st), 2);
    json_decref(s);
}

static json_t *doc_with(int nremote, int port) {
    json_t *d = json_object(), *arr = json_array();
    json_object_set_new(d, "site", site_json("local", true));
    for (int i = 0; i < nremote; i++) {
        char name[16];
        snprintf(name, sizeof(name), "r%d", i);
        json_array_append_new(arr, remote(name, port + i));
    }
    json_object_set_new(d, "remoteApps", arr);
    json_object_set_new(d, "exposedApps", J("[{\"name\":\"web\",\"appSocket\":\"127.0.0.1:80\"}]"));
    return d;
}

static size_t plan_count(json_t *plan, const char *what) {
    return json_array_size(json_object_get(plan, what));
}

static void apply_plan_dry_run_and_noop(void **state) {
    struct fx *f = *state;
    wv_verr err;
    json_t *plan, *out;
    json_t *d = doc_with(3, 1000);

    assert_int_equal(wv_store_apply(f->st, d, -1, true, &plan, &err), 0);
    assert_int_equal(plan_count(plan, "created"), 5); /* site, 3 remote, 1 exposed */
    assert_int_equal(json_integer_value(json_object_get(plan, "revision")), 1);
    json_decref(plan);
    assert_int_equal(wv_store_revision(f->st), 0);
    assert_false(wv_store_has_site(f->st));

    assert_int_equal(wv_store_apply(f->st, d, 0, false, &plan, &err), 0);
    assert_int_equal(plan_count(plan, "created"), 5);
    assert_int_equal(wv_store_revision(f->st), 1);
    json_decref(plan);

    /* A second identical apply is a no-op, as is applying the export. */
    assert_int_equal(wv_store_apply(f->st, d, 1, false, &plan, &err), 0);
    assert_int_equal(
        plan_count(plan, "created") + plan_count(plan, "changed") + plan_count(plan, "deleted"), 0);
    assert_int_equal(json_integer_value(json_object_get(plan, "revision")), 1);
    json_decref(plan);
    assert_int_equal(wv_store_export(f->st, &out), 0);
    assert_int_equal(wv_store_apply(f->st, out, 1, false, &plan, &err), 0);
    assert_int_equal(
        plan_count(plan, "created") + plan_count(plan, "changed") + plan_count(plan, "deleted"), 0);
    json_decref(plan);
    assert_int_equal(wv_store_revision(f->st), 1);

    /* Secrets are absent from the export. */
    char *dump = json_dumps(out, 0);
    wvu_lacks(dump, KEY, MQTT_PW);
    wvu_has(dump, "\"networkKeySet\": true");
    free(dump);
    assert_int_equal(json_integer_value(json_object_get(out, "revision")), 1);
    json_decref(out);

    /* Change one, delete one, create one: one revision. */
    json_t *d2 = doc_with(2, 1000);
    json_object_set_new(json_array_get(json_object_get(d2, "remoteApps"), 1), "localSocket",
                        json_string("tcp:127.0.0.1:2000"));
    json_array_append_new(json_object_get(d2, "remoteApps"), remote("new", 3000));
    assert_int_equal(wv_store_apply(f->st, d2, -1, false, &plan, &err), 0);
    assert_int_equal(plan_count(plan, "created"), 1);
    assert_int_equal(plan_count(plan, "changed"), 1);
    assert_int_equal(plan_count(plan, "deleted"), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(plan, "deleted"), 0), "name")),
                        "r2");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(plan, "changed"), 0), "kind")),
                        "remoteApps");
    json_decref(plan);
    assert_int_equal(wv_store_revision(f->st), 2);
    assert_int_equal(wv_store_get(f->st, WV_KIND_REMOTE_APP, "r2", &out), WV_ERR_NOTFOUND);

    /* All or nothing: an invalid document changes nothing. */
    json_array_append_new(json_object_get(d2, "remoteApps"), remote("zz", 4000));
    json_object_set_new(json_array_get(json_object_get(d2, "remoteApps"), 3), "localSocket",
                        json_string("bogus"));
    json_array_remove(json_object_get(d2, "remoteApps"), 0);
    assert_int_equal(wv_store_apply(f->st, d2, -1, false, &plan, &err), WV_ERR_INVAL);
    assert_null(plan);
    assert_string_equal(err.field, "remoteApps[2].localSocket");
    assert_int_equal(wv_store_revision(f->st), 2);
    assert_int_equal(wv_store_get(f->st, WV_KIND_REMOTE_APP, "r0", &out), 0);
    json_decref(out);
    assert_int_equal(wv_store_apply(f->st, d, 1, false, &plan, &err), WV_ERR_CONFLICT);
    json_decref(d2);
    json_decref(d);
}

static void apply_requires_key_when_none_stored(void **state) {
    struct fx *f = *state;
    wv_verr err;
    json_t *plan;
    json_t *d = J("{\"site\":{\"siteName\":\"s\",\"messageChannel\":{\"brokers\":[\"mqtt://h\"]}},"
                  "\"remoteApps\":[{\"name\":\"a\",\"siteName\":\"x\",\"appName\":\"y\","
                  "\"localSocket\":\"unix:/a\"}]}");
    assert_int_equal(wv_store_apply(f->st, d, -1, false, &plan, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "site.networkKey");
    assert_string_equal(err.message, "required");
    assert_int_equal(wv_store_revision(f->st), 0);
    json_t *out;
    assert_int_equal(wv_store_list(f->st, WV_KIND_REMOTE_APP, &out), 0);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    json_decref(d);
}

static void tokens(void **state) {
    struct fx *f = *state;
    char *tok, *tok2;
    assert_int_equal(wv_store_token_create(f->st, "cli", &tok), 0);
    assert_int_equal(strncmp(tok, "wvt_", 4), 0);
    assert_int_equal(strlen(tok), 4 + 43);
    assert_null(strpbrk(tok, "+/="));
    assert_int_equal(wv_store_token_create(f->st, "cli", &tok2), WV_ERR_EXISTS);
    assert_int_equal(wv_store_token_create(f->st, "bad name", &tok2), WV_ERR_INVAL);
    assert_int_equal(wv_store_token_create(f->st, "ci", &tok2), 0);
    assert_string_not_equal(tok, tok2);
    assert_int_equal(wv_store_token_check(f->st, tok), 0);
    assert_int_equal(wv_store_token_check(f->st, tok2), 0);
    char wrong[64];
    snprintf(wrong, sizeof(wrong), "%s", tok);
    wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
    assert_int_equal(wv_store_token_check(f->st, wrong), WV_ERR_AUTH);
    assert_int_equal(wv_store_token_check(f->st, ""), WV_ERR_AUTH);
    assert_int_equal(wv_store_token_check(f->st, tok + 4), WV_ERR_AUTH);

    /* Stored as a hash only. */
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(wv_store__db(f->st), "SELECT hash FROM api_tokens", -1, &s, NULL),
        SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(s, 0);
        assert_int_equal(strlen(h), 64);
        assert_null(strstr(tok, h));
    }
    sqlite3_finalize(s);

    json_t *list;
    assert_int_equal(wv_store_token_list(f->st, &list), 0);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "ci");
    assert_non_null(json_object_get(json_array_get(list, 0), "created"));
    char *dump = json_dumps(list, 0);
    assert_null(strstr(dump, tok + 4));
    free(dump);
    json_decref(list);
    assert_int_equal(wv_store_token_delete(f->st, "cli"), 0);
    assert_int_equal(wv_store_token_delete(f->st, "cli"), WV_ERR_NOTFOUND);
    assert_int_equal(wv_store_token_check(f->st, tok), WV_ERR_AUTH);
    assert_int_equal(wv_store_token_check(f->st, tok2), 0);
    assert_int_equal(wv_store_revision(f->st), 0);
    free(tok);
    free(tok2);
}

static const char *origin_of(wv_store *st, enum wv_kind kind, const char *name) {
    static char buf[16];
    json_t *m = NULL;
    buf[0] = '\0';
    if (wv_store_origins(st, kind, &m) == 0)
        snprintf(buf, sizeof(buf), "%s",
                 json_string_value(json_object_get(m, kind == WV_KIND_SITE ? "site" : name)) ?: "");
    json_decref(m);
    return buf;
}

/* Origins (schema/004_origin.sql): the config file manages its objects,
 * the API its own; neither overwrites the other by accident. */
static void origins_keep_api_objects(void **state) {
    struct fx *f = *state;
    json_t *doc = json_pack("{s:o, s:[o, o]}", "site", site_json("s", true), "remoteApps",
                            remote("file-a", 5001), remote("file-b", 5002));
    json_t *plan = NULL;
    wv_verr err;
    assert_int_equal(wv_store_import(f->st, doc, "/etc/w/config.yaml", false, &plan, &err), 0);
    json_decref(plan);
    assert_string_equal(origin_of(f->st, WV_KIND_REMOTE_APP, "file-a"), "config");
    assert_string_equal(origin_of(f->st, WV_KIND_SITE, NULL), "config");
    char *file = wv_store_config_file(f->st);
    assert_string_equal(file, "/etc/w/config.yaml");
    free(file);

    /* An API write to a file object: refused, naming the file. */
    json_t *ch = remote("file-a", 6001);
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, ch, -1, NULL, NULL, &err),
                     WV_ERR_MANAGED);
    assert_string_equal(err.field, "origin");
    assert_non_null(strstr(err.message, "/etc/w/config.yaml"));
    assert_int_equal(wv_store_delete_ex(f->st, WV_KIND_REMOTE_APP, "file-a", -1, &err),
                     WV_ERR_MANAGED);
    json_t *s2 = site_json("s2", false);
    assert_int_equal(wv_store_put_site(f->st, s2, -1, NULL, &err), WV_ERR_MANAGED);
    json_decref(s2);
    /* ... unless it takes it over. */
    json_object_set_new(ch, "origin", json_string("api"));
    bool changed;
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, ch, -1, NULL, &changed, &err), 0);
    assert_true(changed);
    assert_string_equal(origin_of(f->st, WV_KIND_REMOTE_APP, "file-a"), "api");
    json_object_set_new(ch, "origin", json_string("mine"));
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, ch, -1, NULL, NULL, &err),
                     WV_ERR_INVAL);
    assert_string_equal(err.field, "origin");
    json_decref(ch);
    json_t *api = remote("api-c", 5003);
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, api, -1, NULL, NULL, &err), 0);
    json_decref(api);
    assert_string_equal(origin_of(f->st, WV_KIND_REMOTE_APP, "api-c"), "api");

    /* Re-import of the same file: the API's objects stay as the API left them. */
    int64_t rev = wv_store_revision(f->st);
    assert_int_equal(wv_store_import(f->st, doc, "/etc/w/config.yaml", false, &plan, &err), 0);
    assert_int_equal(wv_store_revision(f->st), rev);
    assert_int_equal(json_array_size(json_object_get(plan, "warnings")), 1); /* file-a skipped */
    assert_int_equal(json_array_size(json_object_get(plan, "kept")), 1);     /* api-c */
    json_decref(plan);
    json_t *got = NULL;
    assert_int_equal(wv_store_get(f->st, WV_KIND_REMOTE_APP, "file-a", &got), 0);
    assert_string_equal(json_string_value(json_object_get(got, "localSocket")),
                        "tcp:127.0.0.1:6001");
    json_decref(got);
    /* A file without file-b deletes it, and only it. */
    json_array_remove(json_object_get(doc, "remoteApps"), 1);
    assert_int_equal(wv_store_import(f->st, doc, "/etc/w/config.yaml", false, &plan, &err), 0);
    assert_int_equal(json_array_size(json_object_get(plan, "deleted")), 1);
    json_decref(plan);
    assert_int_equal(wv_store_get(f->st, WV_KIND_REMOTE_APP, "file-b", &got), WV_ERR_NOTFOUND);
    assert_int_equal(wv_store_get(f->st, WV_KIND_REMOTE_APP, "api-c", &got), 0);
    json_decref(got);

    /* apply is declarative over everything, and what it writes is the API's. */
    json_t *all = json_pack("{s:o, s:[o]}", "site", site_json("s", false), "remoteApps",
                            remote("new-d", 5004));
    assert_int_equal(wv_store_apply(f->st, all, -1, false, &plan, &err), 0);
    assert_int_equal(json_array_size(json_object_get(plan, "deleted")), 2);
    json_decref(plan);
    assert_string_equal(origin_of(f->st, WV_KIND_REMOTE_APP, "new-d"), "api");
    json_decref(all);
    json_decref(doc);
}

/* Scope, expiry and last use (schema/003_tokens.sql). */
static void token_lifecycle(void **state) {
    struct fx *f = *state;
    char *w, *r, *old, *none;
    struct wv_token_info ti;
    assert_int_equal(wv_store_token_create_ex(f->st, "w", NULL, 0, &w), 0);
    assert_int_equal(wv_store_token_create_ex(f->st, "r", "read", time(NULL) + 3600, &r), 0);
    assert_int_equal(wv_store_token_create_ex(f->st, "old", "metrics", time(NULL) - 1, &old), 0);
    assert_int_equal(wv_store_token_create_ex(f->st, "x", "admin", 0, &none), WV_ERR_INVAL);
    assert_null(none);
    assert_int_equal(wv_store_token_count(f->st), 3);
    assert_int_equal(wv_store_token_auth(f->st, w, &ti), 0);
    assert_string_equal(ti.name, "w");
    assert_string_equal(ti.scope, "write");
    assert_true(ti.last_used > 0);
    assert_int_equal(wv_store_token_auth(f->st, r, &ti), 0);
    assert_string_equal(ti.scope, "read");
    /* Expired: refused, but named so the API can say why. */
    assert_int_equal(wv_store_token_auth(f->st, old, &ti), WV_ERR_AUTH);
    assert_true(ti.expired);
    assert_string_equal(ti.name, "old");
    assert_int_equal(wv_store_token_check(f->st, old), WV_ERR_AUTH);
    json_t *list;
    assert_int_equal(wv_store_token_list(f->st, &list), 0);
    json_t *o = json_array_get(list, 0), *rr = json_array_get(list, 1),
           *ww = json_array_get(list, 2);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "old");
    assert_true(json_is_true(json_object_get(o, "expired")));
    assert_true(json_is_null(json_object_get(o, "lastUsed")));
    assert_true(json_is_string(json_object_get(rr, "expires")));
    assert_true(json_is_null(json_object_get(ww, "expires")));
    assert_true(json_is_string(json_object_get(ww, "lastUsed")));
    json_decref(list);
    assert_int_equal(wv_store_revision(f->st), 0);
    free(w);
    free(r);
    free(old);
}

static void collect_site(const char *name, const char *announcement, void *arg) {
    json_array_append_new(arg, json_pack("[s, s]", name, announcement));
}

static void known_sites_are_runtime_state(void **state) {
    struct fx *f = *state;
    int64_t rev = wv_store_revision(f->st);
    struct wv_store_stamp a, b;
    assert_int_equal(wv_store_stamp(f->st, &a), 0);
    assert_int_equal(wv_store_known_site_put(f->st, "bravo", "{\"v\":1}"), 0);
    assert_int_equal(wv_store_known_site_put(f->st, "alpha", "{\"v\":2}"), 0);
    assert_int_equal(wv_store_known_site_put(f->st, "bravo", "{\"v\":3}"), 0);
    json_t *got = json_array();
    assert_int_equal(wv_store_known_sites(f->st, collect_site, got), 2);
    char *text = json_dumps(got, JSON_COMPACT);
    assert_string_equal(text, "[[\"alpha\",\"{\\\"v\\\":2}\"],[\"bravo\",\"{\\\"v\\\":3}\"]]");
    free(text);
    json_decref(got);
    assert_int_equal(wv_store_revision(f->st), rev); /* not desired state */
    assert_int_equal(wv_store_stamp(f->st, &b), 0);
    assert_true(b.changes != a.changes); /* caches notice */
    assert_int_equal(wv_store_known_site_delete(f->st, "alpha"), 0);
    assert_int_equal(wv_store_known_site_delete(f->st, "alpha"), WV_ERR_NOTFOUND);
    assert_int_equal(wv_store_known_sites_clear(f->st), 0);
    got = json_array();
    assert_int_equal(wv_store_known_sites(f->st, collect_site, got), 0);
    json_decref(got);
    assert_int_equal(wv_store_ping(f->st), 0);
}

static void identity(void **state) {
    struct fx *f = *state;
    char *k, *c;
    assert_int_equal(wv_store_get_identity(f->st, &k, &c), WV_ERR_NOTFOUND);
    assert_int_equal(wv_store_set_identity(f->st, "KEY PEM", "CERT PEM"), 0);
    assert_int_equal(wv_store_get_identity(f->st, &k, &c), 0);
    assert_string_equal(k, "KEY PEM");
    assert_string_equal(c, "CERT PEM");
    free(k);
    free(c);
    assert_int_equal(wv_store_set_identity(f->st, "", "x"), WV_ERR_INVAL);
    json_t *out;
    assert_int_equal(wv_store_export(f->st, &out), 0);
    char *dump = json_dumps(out, 0);
    assert_null(strstr(dump, "KEY PEM"));
    free(dump);
    assert_null(json_object_get(out, "site"));
    json_decref(out);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(migrations_from_empty, setup, teardown),
    cmocka_unit_test_setup_teardown(two_handles_share_the_file, setup, teardown),
    cmocka_unit_test_setup_teardown(not_a_database_and_bad_path, setup, teardown),
    cmocka_unit_test_setup_teardown(file_mode_0600, setup, teardown),
    cmocka_unit_test_setup_teardown(crud_and_revision, setup, teardown),
    cmocka_unit_test_setup_teardown(site_secrets, setup, teardown),
    cmocka_unit_test_setup_teardown(legacy_default_topic_is_kept, setup, teardown),
    cmocka_unit_test_setup_teardown(apply_plan_dry_run_and_noop, setup, teardown),
    cmocka_unit_test_setup_teardown(apply_requires_key_when_none_stored, setup, teardown),
    cmocka_unit_test_setup_teardown(tokens, setup, teardown),
    cmocka_unit_test_setup_teardown(token_lifecycle, setup, teardown),
    cmocka_unit_test_setup_teardown(origins_keep_api_objects, setup, teardown),
    cmocka_unit_test_setup_teardown(known_sites_are_runtime_state, setup, teardown),
    cmocka_unit_test_setup_teardown(identity, setup, teardown),
};
WVU_MAIN(tests)
