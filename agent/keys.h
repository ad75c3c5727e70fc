#ifndef WV_KEYS_H
#define WV_KEYS_H
/* The key schedule of the message channel.
 *
 *   master = PBKDF2-HMAC-SHA256(network key, salt, iterations, 32 bytes)
 *   salt   = SHA-256("wovenet-salt" || topic)
 *   subkey = HMAC-SHA256(master, label || 0x01)      (one HKDF-Expand block)
 *
 * with one label per purpose, so a key leaked or misused in one role says
 * nothing about the others. Binding the salt to the topic makes one network
 * key used on two topics yield unrelated keys.
 *
 * Everything here is a pure function: no I/O, no globals, safe on any
 * thread. wv_keys_derive() is deliberately slow (PBKDF2); the agent calls it
 * from uv_queue_work, never on the loop. */
#include <stddef.h>
#include <stdint.h>

#define WV_KEY_LEN 32
/* Default PBKDF2 work factor. Tests pass a low count explicitly. */
#define WV_KDF_ITERATIONS 200000u
#define WV_KDF_MIN_ITERATIONS 1u
/* The topic segment that stands for a site name: hex, truncated. */
#define WV_SITE_HASH_HEX_LEN 32

/* Subkey labels; part of the protocol (docs/message-channel.md). */
#define WV_LABEL_MESSAGE "wovenet/1 message encryption"
#define WV_LABEL_TOPIC "wovenet/1 topic hashing"
#define WV_LABEL_TUNNEL "wovenet/1 tunnel authentication"

typedef struct wv_keys {
    uint8_t message[WV_KEY_LEN]; /* AES-256-GCM key of every MQTT payload */
    uint8_t topic[WV_KEY_LEN];   /* HMAC key turning site names into topic segments */
    uint8_t tunnel[WV_KEY_LEN];  /* HMAC key proving the network key on a QUIC channel */
} wv_keys;

/* PBKDF2 step: network key (any bytes, keylen > 0) and topic (non-empty) to
 * the 32-byte master. iterations >= 1 (use WV_KDF_ITERATIONS in production).
 * Returns 0, WV_ERR_INVAL or WV_ERR_CRYPTO. */
int wv_keys_master(const void *network_key, size_t keylen, const char *topic, unsigned iterations,
                   uint8_t master[WV_KEY_LEN]);

/* Expand step: master to the three subkeys. 0 or WV_ERR_CRYPTO. */
int wv_keys_expand(const uint8_t master[WV_KEY_LEN], wv_keys *out);

/* Both steps; the intermediate master is wiped. On error *out is zeroed. */
int wv_keys_derive(const void *network_key, size_t keylen, const char *topic, unsigned iterations,
                   wv_keys *out);

/* Zeroes all subkeys (call when done with them). */
void wv_keys_wipe(wv_keys *k);

/* Topic segment for a site name: the first 32 hex chars (lower case) of
 * HMAC-SHA256(topic key, site). out gets 33 bytes incl. NUL. 0 or
 * WV_ERR_INVAL / WV_ERR_CRYPTO. */
int wv_keys_site_hash(const wv_keys *k, const char *site, char out[WV_SITE_HASH_HEX_LEN + 1]);

/* Lower-case hex of n bytes into out (2n+1 bytes incl. NUL). */
void wv_hex(const uint8_t *in, size_t n, char *out);

#endif
