#ifndef WV_ENVELOPE_H
#define WV_ENVELOPE_H
/* The sealed form of every MQTT payload (docs/message-channel.md):
 *
 *   version (1 byte, 0x01) || nonce (12 random bytes) || AES-256-GCM(ciphertext || 16-byte tag)
 *
 * The associated data is the version byte followed by the full MQTT topic
 * the message is published on, so a payload moved to another topic (another
 * site's announcement slot, another inbox) fails to open. Pure functions,
 * safe on any thread. */
#include <stddef.h>
#include <stdint.h>

#include "wv/crypto.h"

#define WV_ENVELOPE_VERSION 0x01
#define WV_ENVELOPE_NONCE_LEN 12
#define WV_ENVELOPE_TAG_LEN 16
#define WV_ENVELOPE_OVERHEAD (1 + WV_ENVELOPE_NONCE_LEN + WV_ENVELOPE_TAG_LEN)
/* Largest plaintext; the largest sealed message is this plus the overhead. */
#define WV_ENVELOPE_MAX_PLAINTEXT (64 * 1024)
#define WV_ENVELOPE_MAX_SEALED (WV_ENVELOPE_MAX_PLAINTEXT + WV_ENVELOPE_OVERHEAD)

/* Seals ptlen bytes for `topic` under key. On success *out is a wv_malloc'd
 * buffer of *outlen bytes owned by the caller. Returns 0, WV_ERR_INVAL (no
 * topic), WV_ERR_TOOBIG (ptlen > max) or WV_ERR_CRYPTO; *out is NULL then. */
int wv_envelope_seal(const uint8_t key[WV_KEY_LEN], const char *topic, const void *pt, size_t ptlen,
                     uint8_t **out, size_t *outlen);

/* Opens a sealed message received on `topic`. On success *pt is a
 * wv_malloc'd buffer of *ptlen bytes plus a NUL terminator (so JSON text can
 * be parsed in place), owned by the caller. Returns WV_ERR_TOOBIG (input over
 * the bound), WV_ERR_PROTO (truncated or unknown version) or WV_ERR_CRYPTO
 * (wrong key, wrong topic, tampered); *pt is NULL then. */
int wv_envelope_open(const uint8_t key[WV_KEY_LEN], const char *topic, const void *in, size_t inlen,
                     uint8_t **pt, size_t *ptlen);

#endif
