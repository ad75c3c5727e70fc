#ifndef WV_IDENTITY_H
#define WV_IDENTITY_H
/* A site's TLS identity: an Ed25519 key and a self-signed X.509 certificate.
 *
 * Peers do not trust a CA: they pin the SHA-256 fingerprint of the
 * certificate's DER encoding, which travels in the (encrypted, authenticated)
 * MQTT announcement. The store persists the identity as two PEM strings.
 *
 * Objects are immutable after creation and may be shared read-only; all
 * functions are safe on any thread. */
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

#endif
