#ifndef WV_CONFIG_H
#define WV_CONFIG_H
/* Conversion between the upstream YAML config (both the seed's older keys
 * and the newer format; docs/CONFIG.md) and the canonical JSON document.
 * Pure: no store, no I/O beyond reading the given buffer. */
#include "validate.h"

#include <jansson.h>
#include <stddef.h>

/* Parses YAML text into a canonical document (not yet validated, but with
 * derived names for unnamed items and upstream aliases mapped). Unknown
 * keys are errors naming the key ("tunnel.localSockets[0].bogusKey: unknown
 * key"). Bounded: at most 1 MiB of text, 64 levels of nesting. Returns 0 or
 * WV_ERR_INVAL with err filled. The document holds secrets in clear
 * (networkKey, passwords): wipe and free it promptly. */
int wv_config_from_yaml(const char *text, size_t len, json_t **doc, wv_verr *err);

/* Writes a canonical document (as exported: no secrets) as YAML in the
 * upstream's newer format. Caller frees *out. */
int wv_config_to_yaml(const json_t *doc, char **out);

/* The topic derived from a key when the config leaves it empty: never
 * contains the key in clear. Caller frees. */
char *wv_config_derive_topic(const char *network_key);

#endif
