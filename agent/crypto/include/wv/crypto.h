#ifndef WV_CRYPTO_H
#define WV_CRYPTO_H
/* crypto: the site's TLS identity, the keys derived from the network key,
 * and password hashing. GnuTLS only; no I/O, no loop. */

/* A site's TLS identity: an Ed25519 key and a self-signed X.509 certificate.
 *
 * Peers do not trust a CA: they pin the SHA-256 fingerprint of the
 * certificate's DER encoding, which travels in the (encrypted, authenticated)
 * MQTT announcement. The store persists the identity as two PEM strings.
 *
 * Objects are immutable after creation and may be shared read-only; all
 * functions are safe on any thread. */
#include "wv/base.h"

#include <stddef.h>
#include <stdint.h>

#define WV_FINGERPRINT_LEN 32
#define WV_FINGERPRINT_HEX_LEN 64 /* without the terminating NUL */

typedef struct wv_identity wv_identity;

/* Generates a fresh key and certificate with subject CN=common_name (NULL:
 * "wovenet"), valid from a day ago for 50 years: pinning makes expiry
 * meaningless, and a clock skewed by hours must not break tunnels.
 * Returns 0 and *out (free with wv_identity_free), or WV_ERR_CRYPTO. */
int wv_identity_generate(const char *common_name, wv_identity **out);

/* Imports PEM strings as produced by wv_identity_export_pem (the key may be
 * PKCS#8 or the legacy form). Key first, as in wv_store_{get,set}_identity.
 * Refuses a key that does not belong to the certificate. Returns 0 and
 * *out, WV_ERR_INVAL for unparsable or mismatched input, WV_ERR_CRYPTO for
 * a library failure. */
int wv_identity_import_pem(const char *key_pem, const char *cert_pem, wv_identity **out);

/* Exports as NUL-terminated PEM strings, key first as in the store; the
 * caller frees both with free(). The key PEM is a secret: never log it.
 * 0 or WV_ERR_CRYPTO. */
int wv_identity_export_pem(const wv_identity *id, char **key_pem, char **cert_pem);

/* The SHA-256 fingerprint of the certificate DER; valid while id lives. */
const uint8_t *wv_identity_fingerprint(const wv_identity *id);

void wv_identity_free(wv_identity *id);
/* A 32-byte secret derived from the private key for one purpose (label):
 * stable across restarts and reloads, unguessable without the key. The
 * agent uses it for QUIC stateless-reset tokens. 0 or WV_ERR_CRYPTO. */
int wv_identity_derive_secret(const wv_identity *id, const char *label, uint8_t out[32]);

/* Signing with the identity key (Ed25519): what a site says about itself
 * on the message channel is signed with it, and peers pin its public key
 * (docs/message-channel.md). */
#define WV_PUBKEY_LEN 32
#define WV_PUBKEY_HEX_LEN 64
#define WV_SIG_LEN 64
#define WV_SIG_HEX_LEN 128
/* The raw 32-byte Ed25519 public key. 0 or WV_ERR_CRYPTO. */
int wv_identity_public_key(const wv_identity *id, uint8_t out[WV_PUBKEY_LEN]);
/* Signs len bytes. 0 or WV_ERR_CRYPTO. */
int wv_identity_sign(const wv_identity *id, const void *data, size_t len, uint8_t sig[WV_SIG_LEN]);
/* Verifies an Ed25519 signature by pub over data. 0, or WV_ERR_AUTH for a
 * wrong signature or an invalid key. */
int wv_ed25519_verify(const uint8_t pub[WV_PUBKEY_LEN], const void *data, size_t len,
                      const uint8_t sig[WV_SIG_LEN]);
/* Identity rotation: the old key signs WV_ROTATE_CONTEXT | site | 0 | the
 * new key's hex, so peers that pinned the old key may move to the new one.
 * sig_hex gets 129 bytes. 0 or WV_ERR_CRYPTO. */
#define WV_ROTATE_CONTEXT "wovenet/1 identity rotation\n"
int wv_rotation_sign(const wv_identity *old, const char *site, const char *new_key_hex,
                     char sig_hex[WV_SIG_HEX_LEN + 1]);
/* 0 when sig_hex is old_key_hex's signature of (site, new_key_hex), else
 * WV_ERR_AUTH. */
int wv_rotation_verify(const char *old_key_hex, const char *site, const char *new_key_hex,
                       const char *sig_hex);
/* Hex (either case) of exactly n bytes into out. 0 or WV_ERR_INVAL. */
int wv_unhex(const char *hex, uint8_t *out, size_t n);

/* Lower-case hex form of a fingerprint; out gets 65 bytes including NUL. */
void wv_fingerprint_to_hex(const uint8_t fp[WV_FINGERPRINT_LEN],
                           char out[WV_FINGERPRINT_HEX_LEN + 1]);
/* Parses 64 hex digits (either case, optional ':' separators between
 * bytes). 0 or WV_ERR_INVAL. */
int wv_fingerprint_from_hex(const char *hex, uint8_t out[WV_FINGERPRINT_LEN]);

/* For the QUIC TLS layer: the GnuTLS objects (gnutls_x509_crt_t and
 * gnutls_x509_privkey_t), borrowed, valid while id lives. Typed void * so
 * this header does not drag GnuTLS into every includer. */
void *wv_identity_gnutls_crt(const wv_identity *id);
void *wv_identity_gnutls_key(const wv_identity *id);

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

/* The default topic of a network key, for a site configured without one:
 *
 *   "wovenet/" + hex(HMAC-SHA256(PBKDF2-HMAC-SHA256(key, SHA-256("wovenet-topic-salt"),
 *                                                   WV_KDF_ITERATIONS, 32),
 *                                "wovenet/1 default topic"))[0..32)
 *
 * The topic is seen by the broker, so it comes from the slow KDF: testing a
 * guessed key against it costs a full PBKDF2 (unlike a plain hash). Slow
 * (about as slow as wv_keys_derive); deterministic. out gets 41 bytes.
 * 0, WV_ERR_INVAL (empty key) or WV_ERR_CRYPTO. */
#define WV_DEFAULT_TOPIC_LEN (8 + 32)
int wv_keys_default_topic(const void *network_key, size_t keylen,
                          char out[WV_DEFAULT_TOPIC_LEN + 1]);

/* Zeroes all subkeys (call when done with them). */
void wv_keys_wipe(wv_keys *k);

/* Topic segment for a site name: the first 32 hex chars (lower case) of
 * HMAC-SHA256(topic key, site). out gets 33 bytes incl. NUL. 0 or
 * WV_ERR_INVAL / WV_ERR_CRYPTO. */
int wv_keys_site_hash(const wv_keys *k, const char *site, char out[WV_SITE_HASH_HEX_LEN + 1]);

/* Lower-case hex of n bytes into out (2n+1 bytes incl. NUL). */
void wv_hex(const uint8_t *in, size_t n, char *out);
/* Standard base64 (with padding) of n bytes, NUL-terminated; caller frees. */
char *wv_base64(const unsigned char *p, size_t n);

/* --- Passwords ------------------------------------------------------------ */

/* PBKDF2-HMAC-SHA256 password hashing: "pbkdf2-sha256$ITER$SALT$HASH"
 * (base64). Slow by design. */
char *wv_password_hash(const char *password);
/* The same with a chosen iteration count: for tests only (production uses
 * wv_password_hash, 100000 iterations). NULL if the RNG fails. */
char *wv_password_hash_iter(const char *password, unsigned iterations);
int wv_password_verify(const char *password, const char *encoded); /* 0 or WV_ERR_AUTH */

#endif
