/* Site identity: Ed25519 key, self-signed certificate, SHA-256 pin. */
#include "wv/crypto.h"

#include "wv/base.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wv_identity {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
    uint8_t fp[WV_FINGERPRINT_LEN];
};

static void identity_free_parts(wv_identity *id) {
    if (id->crt)
        gnutls_x509_crt_deinit(id->crt);
    if (id->key)
        gnutls_x509_privkey_deinit(id->key);
    free(id);
}

static int compute_fingerprint(wv_identity *id) {
    gnutls_datum_t der = {0};
    if (gnutls_x509_crt_export2(id->crt, GNUTLS_X509_FMT_DER, &der) < 0)
        return WV_ERR_CRYPTO;
    int rv = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, id->fp);
    gnutls_free(der.data);
    return rv < 0 ? WV_ERR_CRYPTO : 0;
}

int wv_identity_generate(const char *common_name, wv_identity **out) {
    const char *cn = common_name && *common_name ? common_name : "wovenet";
    wv_identity *id = wv_calloc(1, sizeof(*id));
    uint8_t serial[16];
    time_t now = time(NULL);

    if (gnutls_x509_privkey_init(&id->key) < 0 || gnutls_x509_crt_init(&id->crt) < 0)
        goto fail;
    if (gnutls_x509_privkey_generate(id->key, GNUTLS_PK_EDDSA_ED25519, 0, 0) < 0)
        goto fail;
    if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
        goto fail;
    serial[0] &= 0x7f; /* a positive INTEGER in DER */
    if (gnutls_x509_crt_set_version(id->crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(id->crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(id->crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_activation_time(id->crt, now - 24 * 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(id->crt, now + (time_t)50 * 365 * 24 * 3600) < 0 ||
        gnutls_x509_crt_set_key(id->crt, id->key) < 0 ||
        gnutls_x509_crt_set_basic_constraints(id->crt, 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(id->crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0)
        goto fail;
    /* Ed25519 signs the message itself; the digest argument is ignored. */
    if (gnutls_x509_crt_sign2(id->crt, id->crt, id->key, GNUTLS_DIG_SHA512, 0) < 0)
        goto fail;
    if (compute_fingerprint(id) < 0)
        goto fail;
    *out = id;
    return 0;
fail:
    identity_free_parts(id);
    return WV_ERR_CRYPTO;
}

int wv_identity_import_pem(const char *key_pem, const char *cert_pem, wv_identity **out) {
    if (!cert_pem || !key_pem)
        return WV_ERR_INVAL;
    wv_identity *id = wv_calloc(1, sizeof(*id));
    int err = WV_ERR_CRYPTO;
    gnutls_datum_t c = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t k = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    uint8_t kid1[64], kid2[64];
    size_t kid1len = sizeof(kid1), kid2len = sizeof(kid2);

    if (gnutls_x509_privkey_init(&id->key) < 0 || gnutls_x509_crt_init(&id->crt) < 0)
        goto fail;
    err = WV_ERR_INVAL;
    if (gnutls_x509_crt_import(id->crt, &c, GNUTLS_X509_FMT_PEM) < 0)
        goto fail;
    if (gnutls_x509_privkey_import2(id->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0) < 0)
        goto fail;
    /* A key from another row or a botched restore would make every
     * handshake fail far from the cause; catch it here. */
    if (gnutls_x509_crt_get_key_id(id->crt, GNUTLS_KEYID_USE_SHA256, kid1, &kid1len) < 0 ||
        gnutls_x509_privkey_get_key_id(id->key, GNUTLS_KEYID_USE_SHA256, kid2, &kid2len) < 0 ||
        kid1len != kid2len || memcmp(kid1, kid2, kid1len) != 0)
        goto fail;
    err = compute_fingerprint(id);
    if (err < 0)
        goto fail;
    *out = id;
    return 0;
fail:
    identity_free_parts(id);
    return err;
}

int wv_identity_export_pem(const wv_identity *id, char **key_pem, char **cert_pem) {
    gnutls_datum_t c = {0}, k = {0};
    if (gnutls_x509_crt_export2(id->crt, GNUTLS_X509_FMT_PEM, &c) < 0)
        return WV_ERR_CRYPTO;
    if (gnutls_x509_privkey_export2_pkcs8(id->key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                          &k) < 0) {
        gnutls_free(c.data);
        return WV_ERR_CRYPTO;
    }
    *cert_pem = wv_strndup((const char *)c.data, c.size);
    *key_pem = wv_strndup((const char *)k.data, k.size);
    gnutls_free(c.data);
    wv_memwipe(k.data, k.size);
    gnutls_free(k.data);
    return 0;
}

const uint8_t *wv_identity_fingerprint(const wv_identity *id) {
    return id->fp;
}

void wv_identity_free(wv_identity *id) {
    if (id)
        identity_free_parts(id);
}

void wv_fingerprint_to_hex(const uint8_t fp[WV_FINGERPRINT_LEN],
                           char out[WV_FINGERPRINT_HEX_LEN + 1]) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < WV_FINGERPRINT_LEN; i++) {
        out[2 * i] = digits[fp[i] >> 4];
        out[2 * i + 1] = digits[fp[i] & 15];
    }
    out[WV_FINGERPRINT_HEX_LEN] = '\0';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int wv_fingerprint_from_hex(const char *hex, uint8_t out[WV_FINGERPRINT_LEN]) {
    if (!hex)
        return WV_ERR_INVAL;
    size_t n = 0;
    const char *p = hex;
    while (n < WV_FINGERPRINT_LEN) {
        int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
        if (hi < 0 || lo < 0)
            return WV_ERR_INVAL;
        out[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
        if (*p == ':' && n < WV_FINGERPRINT_LEN)
            p++;
    }
    return *p == '\0' ? 0 : WV_ERR_INVAL;
}

void *wv_identity_gnutls_crt(const wv_identity *id) {
    return id->crt;
}
void *wv_identity_gnutls_key(const wv_identity *id) {
    return id->key;
}

int wv_identity_derive_secret(const wv_identity *id, const char *label, uint8_t out[32]) {
    /* The raw private scalar: unlike a DER export, it is the same however
     * the key was created or loaded. */
    gnutls_ecc_curve_t curve;
    gnutls_datum_t x = {0}, y = {0}, k = {0};
    if (gnutls_x509_privkey_export_ecc_raw(id->key, &curve, &x, &y, &k) < 0)
        return WV_ERR_CRYPTO;
    int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, k.data, k.size, label, strlen(label), out) < 0
                 ? WV_ERR_CRYPTO
                 : 0;
    wv_memwipe(k.data, k.size);
    gnutls_free(x.data);
    gnutls_free(y.data);
    gnutls_free(k.data);
    return rc;
}

/* --- Signing ----------------------------------------------------------------- */

int wv_identity_public_key(const wv_identity *id, uint8_t out[WV_PUBKEY_LEN]) {
    gnutls_ecc_curve_t curve;
    gnutls_datum_t x = {0}, y = {0}, k = {0};
    if (gnutls_x509_privkey_export_ecc_raw(id->key, &curve, &x, &y, &k) < 0)
        return WV_ERR_CRYPTO;
    int rc = curve == GNUTLS_ECC_CURVE_ED25519 && x.size == WV_PUBKEY_LEN ? 0 : WV_ERR_CRYPTO;
    if (rc == 0)
        memcpy(out, x.data, WV_PUBKEY_LEN);
    wv_memwipe(k.data, k.size);
    gnutls_free(x.data);
    gnutls_free(y.data);
    gnutls_free(k.data);
    return rc;
}

int wv_identity_sign(const wv_identity *id, const void *data, size_t len, uint8_t sig[WV_SIG_LEN]) {
    gnutls_privkey_t pk;
    if (gnutls_privkey_init(&pk) < 0)
        return WV_ERR_CRYPTO;
    int rc = WV_ERR_CRYPTO;
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)data, (unsigned)len}, out = {0};
    if (gnutls_privkey_import_x509(pk, id->key, 0) >= 0 &&
        gnutls_privkey_sign_data2(pk, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &out) >= 0 &&
        out.size == WV_SIG_LEN) {
        memcpy(sig, out.data, WV_SIG_LEN);
        rc = 0;
    }
    gnutls_free(out.data);
    gnutls_privkey_deinit(pk);
    return rc;
}

int wv_ed25519_verify(const uint8_t pub[WV_PUBKEY_LEN], const void *data, size_t len,
                      const uint8_t sig[WV_SIG_LEN]) {
    gnutls_pubkey_t pk;
    if (gnutls_pubkey_init(&pk) < 0)
        return WV_ERR_AUTH;
    gnutls_datum_t x = {(unsigned char *)(uintptr_t)pub, WV_PUBKEY_LEN};
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)data, (unsigned)len};
    gnutls_datum_t s = {(unsigned char *)(uintptr_t)sig, WV_SIG_LEN};
    int rc = WV_ERR_AUTH;
    if (gnutls_pubkey_import_ecc_raw(pk, GNUTLS_ECC_CURVE_ED25519, &x, NULL) >= 0 &&
        gnutls_pubkey_verify_data2(pk, GNUTLS_SIGN_EDDSA_ED25519, 0, &d, &s) >= 0)
        rc = 0;
    gnutls_pubkey_deinit(pk);
    return rc;
}

int wv_unhex(const char *hex, uint8_t *out, size_t n) {
    if (!hex || strlen(hex) != 2 * n)
        return WV_ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return WV_ERR_INVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int wv_rotation_sign(const wv_identity *old, const char *site, const char *new_key_hex,
                     char sig_hex[WV_SIG_HEX_LEN + 1]) {
    /* The NUL between the two parts is part of the text: build it by hand. */
    size_t a = strlen(WV_ROTATE_CONTEXT) + strlen(site), n = a + 1 + strlen(new_key_hex);
    char *text = wv_malloc(n + 1);
    snprintf(text, n + 1, "%s%s", WV_ROTATE_CONTEXT, site);
    text[a] = '\0';
    memcpy(text + a + 1, new_key_hex, strlen(new_key_hex) + 1);
    uint8_t sig[WV_SIG_LEN];
    int rc = wv_identity_sign(old, text, n, sig);
    free(text);
    if (rc == 0)
        wv_hex(sig, sizeof sig, sig_hex);
    return rc;
}

int wv_rotation_verify(const char *old_key_hex, const char *site, const char *new_key_hex,
                       const char *sig_hex) {
    uint8_t pub[WV_PUBKEY_LEN], sig[WV_SIG_LEN];
    if (wv_unhex(old_key_hex, pub, sizeof pub) != 0 || wv_unhex(sig_hex, sig, sizeof sig) != 0)
        return WV_ERR_AUTH;
    size_t a = strlen(WV_ROTATE_CONTEXT) + strlen(site), n = a + 1 + strlen(new_key_hex);
    char *text = wv_malloc(n + 1);
    snprintf(text, n + 1, "%s%s", WV_ROTATE_CONTEXT, site);
    text[a] = '\0';
    memcpy(text + a + 1, new_key_hex, strlen(new_key_hex) + 1);
    int rc = wv_ed25519_verify(pub, text, n, sig);
    free(text);
    return rc;
}
