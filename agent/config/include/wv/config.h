#ifndef WV_CONFIG_H
#define WV_CONFIG_H
/* Conversion between the upstream YAML config (both the seed's older keys
 * and the newer format; docs/CONFIG.md) and the canonical JSON document.
 * Pure: no store, no I/O beyond reading the given buffer. */
#include "wv/model.h"

#include <jansson.h>
#include <stddef.h>

/* The bound of a configuration file or body. */
#define WV_CONFIG_MAX_BYTES (1024 * 1024)

/* Reads a configuration file for wv_config_from_yaml() or a JSON parser:
 * at most WV_CONFIG_MAX_BYTES + 1 bytes (the rest is left unread), so that
 * an oversize file is reported as such without being read whole. The
 * caller frees *text (NUL-terminated, *len bytes). 0, or WV_ERR_IO with
 * errno set. */
int wv_config_read_file(const char *path, char **text, size_t *len);

/* Parses YAML text into a canonical document (not yet validated, but with
 * derived names for unnamed items and upstream aliases mapped). Unknown
 * keys are errors naming the key ("tunnel.localSockets[0].bogusKey: unknown
 * key"). Bounded: at most 1 MiB of text, 64 levels of nesting, 100000
 * nodes; aliases are refused (no billion laughs). Type errors name the path
 * ("tunnel.localSockets[0].publicPort: expected an integer, got ..."). An
 * empty topic with a key set is filled with wv_config_derive_topic().
 * Keys are matched case-insensitively, as upstream's viper does
 * ("appsocket" is appSocket); the same key twice in one mapping, in any
 * case, is refused. A top-level "stun" list (upstream) fills the
 * stunServers of every autoStunDetect socket that has none. Returns 0 or
 * WV_ERR_INVAL with err filled. The document holds secrets in clear
 * (networkKey, passwords): wipe and free it promptly. */
int wv_config_from_yaml(const char *text, size_t len, json_t **doc, wv_verr *err);

/* How a config file was read (wv_config_from_text). */
enum wv_config_format {
    WV_CONFIG_YAML = 0,        /* the upstream YAML format */
    WV_CONFIG_JSON_UPSTREAM,   /* *.json with the upstream's keys (as viper reads it) */
    WV_CONFIG_JSON_CANONICAL,  /* *.json holding the canonical document ("site": {...}) */
};

/* Parses a config file's text by its name, as the upstream does: a name
 * ending in ".json" is JSON, anything else YAML. JSON with a "site" object
 * is the canonical document of `wovenet export` (returned as is: the
 * store validates it); other JSON has the upstream's keys and goes through
 * the same mapping as YAML (case-insensitive keys, derived names,
 * aliases). Syntax errors name the line and column. Same bounds, errors
 * and ownership as wv_config_from_yaml(); *fmt (may be NULL) says which
 * format it was. */
int wv_config_from_text(const char *path, const char *text, size_t len, json_t **doc,
                        enum wv_config_format *fmt, wv_verr *err);

/* Maps a canonical field path to where it was written in a file of format
 * fmt: the YAML/JSON path of the upstream keys (wv_config_yaml_field), or
 * the canonical path itself for a canonical JSON document. */
void wv_config_field(enum wv_config_format fmt, const char *text, size_t len, const char *canon,
                     char *out, size_t size);

/* Frees a document that may hold secrets, wiping "networkKey" and
 * "password" strings first when this is the last reference. NULL is fine. */
void wv_config_doc_free(json_t *doc);

/* Maps a canonical field path from validation or the store
 * ("tunnelSockets[0].mode", "site.networkKey", "exposedApps[1].name") to the
 * path in the YAML text it came from ("tunnel.localSockets[0].mode",
 * "messageChannel.cryptoKey" or "crypto.key", "localExposedApps[1].id"),
 * following the spelling the text used. Writes at most size bytes to out. */
void wv_config_yaml_field(const char *text, size_t len, const char *canon, char *out, size_t size);

/* Writes a canonical document (as exported: no secrets) as YAML in the
 * upstream's newer format, every item with its name, secrets replaced by
 * "crypto.keySet: true" / "passwordSet: true" markers that
 * wv_config_from_yaml() maps back to "networkKeySet"/"passwordSet" (so the
 * stored secret is kept on re-import). Header comments give the revision.
 * Caller frees *out. 0 or WV_ERR_INVAL (no "site" object). */
int wv_config_to_yaml(const json_t *doc, char **out);

/* The topic derived from a key when the config leaves it empty:
 * "wovenet/" + the first 32 hex digits of SHA-256("wovenet-topic\0" + key);
 * never contains the key in clear. Caller frees; NULL if hashing fails. */
char *wv_config_derive_topic(const char *network_key);

#endif
