#ifndef WV_STORE_H
#define WV_STORE_H
/* The desired state in SQLite (WAL, foreign keys, synchronous=NORMAL).
 *
 * Objects go in and come out in the canonical JSON shape of
 * docs/CANONICAL.md. Every write validates its input (wv/model.h) and
 * refuses invalid input with WV_ERR_INVAL and the field in err, so nothing
 * invalid is ever stored and callers need not validate first. Every write is one transaction; a
 * write that changes something bumps the revision counter by one (it is the API's ETag). A write
 * that changes nothing leaves the revision alone.
 *
 * Not thread-safe: one store per thread (the loop thread in the agent).
 * Returned json_t values are new references owned by the caller.
 * Secrets (network key, MQTT password, basic-auth passwords, the TLS private
 * key, tokens) never appear in values returned by get/list/export: they
 * show as "networkKeySet": true / "passwordSet": true. */
#include "wv/base.h"
#include "wv/model.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct wv_store wv_store;

/* Opens or creates the DB file (mode 0600 when created), applies pending
 * migrations from schema/ in one transaction each. 0, WV_ERR_IO (cannot
 * open; errno-derived text logged) or WV_ERR_DB (corrupt, newer schema). */
int wv_store_open(const char *path, wv_log *log, wv_store **out);
void wv_store_close(wv_store *st);

/* The revision: 0 for an empty store, +1 per changing write; -1 on a DB error. */
int64_t wv_store_revision(wv_store *st);
/* The revision at which one object (kind WV_KIND_SITE: the site, name
 * ignored) last changed: its ETag. 0, WV_ERR_NOTFOUND or WV_ERR_DB.
 * The if_match of the object writes below is such a revision: a write
 * passes when the object has not changed since (so a change of another
 * object does not make it stale), or, for an object to create, when
 * nothing changed since; WV_ERR_CONFLICT otherwise. */
int wv_store_object_rev(wv_store *st, enum wv_kind kind, const char *name, int64_t *rev);

/* Is there a site row yet (imported or PUT)? */
bool wv_store_has_site(wv_store *st);

/* --- Site ------------------------------------------------------------------ */
/* The site object without secrets. WV_ERR_NOTFOUND before any import. */
int wv_store_get_site(wv_store *st, json_t **out);
/* Replaces the site settings. Absent secrets keep their stored value
 * (WV_ERR_INVAL naming the field if there is none: field "networkKey",
 * message "required"; paths are relative to the site). An empty topic is
 * derived from the network key (same rule as wv_config_derive_topic).
 * Basic-auth passwords are hashed with PBKDF2 here, so this call is slow
 * when a password changes. if_match: -1 or the
 * revision the caller read (WV_ERR_CONFLICT otherwise). *changed may be NULL. */
int wv_store_put_site(wv_store *st, json_t *site, int64_t if_match, bool *changed, wv_verr *err);
/* The network key in clear, for the runtime's key schedule. Caller frees
 * with wv_memwipe + free. WV_ERR_NOTFOUND before any site (both getters). */
int wv_store_get_network_key(wv_store *st, char **key);
/* The MQTT password ("" if none). Caller frees. */
int wv_store_get_mqtt_password(wv_store *st, char **password);
/* The basic-auth users and their PBKDF2 hashes, [{user, hash}] sorted by
 * user. Checking a password is slow, so the API copies these (on the loop)
 * and runs wv_password_verify() off the loop. */
int wv_store_get_basic_auth_hashes(wv_store *st, json_t **users); /* [{user, hash}] */

/* --- Collections: tunnel sockets, exposed apps, remote apps ------------------ */
int wv_store_list(wv_store *st, enum wv_kind kind, json_t **out); /* array sorted by name */
int wv_store_get(wv_store *st, enum wv_kind kind, const char *name, json_t **out);
/* Creates obj (has "name"); WV_ERR_EXISTS if that name exists (err: field
 * "name"). The caller's obj is not modified (the store normalizes a copy). */
int wv_store_create(wv_store *st, enum wv_kind kind, json_t *obj, int64_t if_match, wv_verr *err);
/* Create-or-replace. *created / *changed report what happened (may be NULL). */
int wv_store_put(wv_store *st, enum wv_kind kind, json_t *obj, int64_t if_match, bool *created,
                 bool *changed, wv_verr *err);
/* WV_ERR_NOTFOUND if missing. */
int wv_store_delete(wv_store *st, enum wv_kind kind, const char *name, int64_t if_match);
/* The same, saying in err why a config-managed object is not deleted
 * (WV_ERR_MANAGED). err may be NULL. */
int wv_store_delete_ex(wv_store *st, enum wv_kind kind, const char *name, int64_t if_match,
                       wv_verr *err);

/* --- Origins: where each object comes from ------------------------------------- */
/* Every object is "config" (managed by the config file: `wovenet import` and
 * `run --config` create, change and delete it) or "api" (made through the
 * API, the dashboard or apply, or taken over: no import touches it).
 * wv_store_create/put/put_site/delete are the API's writes: they make
 * objects "api", and refuse (WV_ERR_MANAGED, err naming the file in
 * field "origin") to change or delete a "config" one unless the object
 * carries "origin": "api", which takes it over. wv_store_apply (PUT
 * /api/v1/config) is declarative over everything: what it creates or
 * changes becomes "api", what it deletes goes whatever its origin.
 * wv_store_import (the config file) changes only "config" objects. */
/* {name: "config"|"api"} of a collection; for WV_KIND_SITE {"site": ...}
 * (WV_ERR_NOTFOUND without a site). */
int wv_store_origins(wv_store *st, enum wv_kind kind, json_t **out);
/* The path of the config file the "config" objects come from ("" before
 * any import). Caller frees. */
char *wv_store_config_file(wv_store *st);

/* --- Whole document ------------------------------------------------------------ */
/* {"revision": N, "site": {...}, "tunnelSockets": [...], "exposedApps": [...],
 *  "remoteApps": [...]} without secrets; "site" is absent before any import. */
int wv_store_export(wv_store *st, json_t **out);
/* Makes the stored state equal to doc, declaratively: objects absent from
 * doc are deleted, identical ones untouched. *plan (may be NULL) receives
 * {"created": [{"kind": "remoteApps", "name": ...}], "changed": [...],
 *  "deleted": [...], "revision": N} (kind "site" for the site; revision is
 * the one after the apply, or that it would produce for a dry run). With
 * dry_run nothing is written. One transaction: all or nothing. Secrets
 * absent from doc keep their stored values; error paths are absolute
 * ("site.networkKey", "remoteApps[2].localSocket"). doc is not modified.
 * Fully declarative over every object, whatever its origin (see Origins
 * below): what it creates or changes becomes "api" (plan entries of
 * config-managed objects it changes or deletes carry "origin": "config"),
 * "origin" members of the objects are ignored. Changed entries carry
 * "fields": [{"field", "from", "to"}] (secrets as "(set)"). */
int wv_store_apply(wv_store *st, json_t *doc, int64_t if_match, bool dry_run, json_t **plan,
                   wv_verr *err);

/* Makes the config-managed part of the store equal to doc, the document of
 * the config file at source (recorded, named in refusals): "config"
 * objects missing from doc are deleted, changed ones replaced, new ones
 * created as "config"; "api" objects are never touched, and a doc entry
 * naming one is skipped with a warning. Objects stored before origins were
 * recorded become "config" when doc lists them and "api" otherwise. The
 * site is written unless it was taken over. *plan (may be NULL) as for
 * wv_store_apply, plus "warnings": [text] and "kept": [{kind, name}]
 * (API-managed objects doc does not list). One transaction; dry_run
 * writes nothing. Paths in err are absolute. */
int wv_store_import(wv_store *st, json_t *doc, const char *source, bool dry_run, json_t **plan,
                    wv_verr *err);

/* --- API tokens (stored as SHA-256 hashes) ------------------------------------ */
/* Tokens and the identity are not part of the desired-state document: these
 * calls do not move the revision. */
/* Creates a token named name (name rule) with full access and no expiry:
 * wv_store_token_create_ex(st, name, "write", 0, token). */
int wv_store_token_create(wv_store *st, const char *name, char **token);
/* Creates a token named name (name rule); *token receives the clear token
 * "wvt_" + 43 base64url chars, shown once; caller wipes and frees.
 * scope: "write" (everything; NULL means this), "read" (GET/HEAD only) or
 * "metrics" (GET /metrics only). expires: Unix seconds after which the
 * token is refused, 0 for never. WV_ERR_EXISTS if the name is taken,
 * WV_ERR_INVAL for a bad name, scope or expiry. */
int wv_store_token_create_ex(wv_store *st, const char *name, const char *scope, int64_t expires,
                             char **token);
/* What a valid token is. */
struct wv_token_info {
    char name[256];
    char scope[16];     /* "write", "read", "metrics" */
    int64_t expires;    /* Unix seconds, 0 never */
    int64_t last_used;  /* Unix seconds, 0 never */
    bool expired;       /* set (with WV_ERR_AUTH) for a known but expired token */
};
/* 0 and *info (may be NULL) if token matches a stored, unexpired one
 * (constant-time compare over every row); records the use (at most once a
 * minute). WV_ERR_AUTH otherwise; for an expired token info->expired and
 * info->name are set. */
int wv_store_token_auth(wv_store *st, const char *token, struct wv_token_info *info);
/* wv_store_token_auth without the details. */
int wv_store_token_check(wv_store *st, const char *token);
/* [{name, created, scope, expires, lastUsed, expired}] sorted by name;
 * times ISO 8601 UTC or null (never). */
int wv_store_token_list(wv_store *st, json_t **out);
/* How many tokens exist (expired ones included), or WV_ERR_DB. */
int wv_store_token_count(wv_store *st);
/* 0 or WV_ERR_NOTFOUND. */
int wv_store_token_delete(wv_store *st, const char *name);

/* --- The site's TLS identity (PEM), never exported ------------------------------- */
/* WV_ERR_NOTFOUND before the first set; caller frees both (wipe the key). */
int wv_store_get_identity(wv_store *st, char **key_pem, char **cert_pem);
int wv_store_set_identity(wv_store *st, const char *key_pem, const char *cert_pem);
/* Replaces the identity and records the rotation proof (the previous
 * identity key, hex, and its signature over the new one; see
 * wv_rotation_sign), in one transaction. 0, WV_ERR_INVAL, WV_ERR_DB. */
int wv_store_rotate_identity(wv_store *st, const char *key_pem, const char *cert_pem,
                             const char *prev_key, const char *prev_sig);
/* The last rotation proof (caller frees both). 0, WV_ERR_NOTFOUND, WV_ERR_DB. */
int wv_store_get_rotation(wv_store *st, char **prev_key, char **prev_sig);

/* --- Runtime state beside the desired state: known peer sites ------------------- */
/* Each peer's last valid announcement (the discovery codec's JSON text), so
 * a restarted site dials its peers before the broker answers. Never part of
 * the document, never moves the revision. 0 or WV_ERR_DB. */
int wv_store_known_site_put(wv_store *st, const char *name, const char *announcement);
/* Calls fn for each known site, by name; returns how many, or WV_ERR_DB.
 * The strings are valid during the call only. */
int wv_store_known_sites(wv_store *st,
                         void (*fn)(const char *name, const char *announcement, void *arg),
                         void *arg);
/* 0, WV_ERR_NOTFOUND or WV_ERR_DB. */
int wv_store_known_site_delete(wv_store *st, const char *name);
int wv_store_known_sites_clear(wv_store *st);

/* Pinned identity keys of peer sites (hex Ed25519 keys; schema/003_pins.sql)
 * and blocked keys. Runtime state: the revision does not move. Each call
 * is one statement; 0 or WV_ERR_DB (pins: the number listed). */
int wv_store_pin_put(wv_store *st, const char *name, const char *key, bool pending);
int wv_store_pins(wv_store *st,
                  void (*fn)(const char *name, const char *key, bool pending, void *arg),
                  void *arg);
int wv_store_pin_delete(wv_store *st, const char *name); /* 0 or WV_ERR_NOTFOUND */
int wv_store_key_block(wv_store *st, const char *key, const char *site);
int wv_store_blocked_keys(wv_store *st, void (*fn)(const char *key, const char *site, void *arg),
                          void *arg);

/* --- Probes -------------------------------------------------------------------- */
/* 0 when the database answers a query (readiness), else WV_ERR_DB. */
int wv_store_ping(wv_store *st);
/* A stamp that differs whenever the database changed since the last one,
 * by this process or another (a CLI writing the same file): for caches of
 * derived answers. 0 or WV_ERR_DB. */
struct wv_store_stamp {
    int64_t version; /* PRAGMA data_version */
    int64_t changes; /* this connection's total changes */
};
int wv_store_stamp(wv_store *st, struct wv_store_stamp *out);

#endif
