#include "wv/crypto.h"

#include "wv/base.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#define SALT_PREFIX "wovenet-salt"

void wv_hex(const uint8_t *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int wv_keys_master(const void *network_key, size_t keylen, const char *topic, unsigned iterations,
                   uint8_t master[WV_KEY_LEN]) {
    if (!network_key || keylen == 0 || !topic || !*topic || iterations < WV_KDF_MIN_ITERATIONS)
        return WV_ERR_INVAL;
    uint8_t salt[32];
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        return WV_ERR_CRYPTO;
    gnutls_hash(h, SALT_PREFIX, strlen(SALT_PREFIX));
    gnutls_hash(h, topic, strlen(topic));
    gnutls_hash_deinit(h, salt);

    /* gnutls_datum_t is not const-correct; the key is only read. */
    gnutls_datum_t key = {(unsigned char *)(uintptr_t)network_key, (unsigned)keylen};
    gnutls_datum_t s = {salt, sizeof salt};
    int rc = gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &s, iterations, master, WV_KEY_LEN);
    return rc < 0 ? WV_ERR_CRYPTO : 0;
}

static int expand_one(const uint8_t master[WV_KEY_LEN], const char *label,
                      uint8_t out[WV_KEY_LEN]) {
    /* One HKDF-Expand block: T(1) = HMAC(PRK, info || 0x01). The master is
     * already uniformly random (PBKDF2 output), so no extract step. */
    uint8_t info[64];
    size_t n = strlen(label);
    memcpy(info, label, n);
    info[n] = 0x01;
    int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, master, WV_KEY_LEN, info, n + 1, out);
    return rc < 0 ? WV_ERR_CRYPTO : 0;
}

int wv_keys_expand(const uint8_t master[WV_KEY_LEN], wv_keys *out) {
    if (expand_one(master, WV_LABEL_MESSAGE, out->message) ||
        expand_one(master, WV_LABEL_TOPIC, out->topic) ||
        expand_one(master, WV_LABEL_TUNNEL, out->tunnel)) {
        wv_keys_wipe(out);
        return WV_ERR_CRYPTO;
    }
    return 0;
}

int wv_keys_derive(const void *network_key, size_t keylen, const char *topic, unsigned iterations,
                   wv_keys *out) {
    uint8_t master[WV_KEY_LEN];
    int rc = wv_keys_master(network_key, keylen, topic, iterations, master);
    if (rc == 0)
        rc = wv_keys_expand(master, out);
    else
        wv_keys_wipe(out);
    wv_memwipe(master, sizeof master);
    return rc;
}

void wv_keys_wipe(wv_keys *k) {
    wv_memwipe(k, sizeof *k);
}

int wv_keys_site_hash(const wv_keys *k, const char *site, char out[WV_SITE_HASH_HEX_LEN + 1]) {
    if (!site || !*site)
        return WV_ERR_INVAL;
    uint8_t mac[32];
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, k->topic, WV_KEY_LEN, site, strlen(site), mac) < 0)
        return WV_ERR_CRYPTO;
    wv_hex(mac, WV_SITE_HASH_HEX_LEN / 2, out);
    return 0;
}

int wv_keys_default_topic(const void *network_key, size_t keylen,
                          char out[WV_DEFAULT_TOPIC_LEN + 1]) {
    static const char salt_label[] = "wovenet-topic-salt", info[] = "wovenet/1 default topic";
    if (!network_key || keylen == 0)
        return WV_ERR_INVAL;
    uint8_t salt[32], master[WV_KEY_LEN], mac[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, salt_label, strlen(salt_label), salt) < 0)
        return WV_ERR_CRYPTO;
    gnutls_datum_t key = {(unsigned char *)(uintptr_t)network_key, (unsigned)keylen};
    gnutls_datum_t s = {salt, sizeof salt};
    int rc = gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &s, WV_KDF_ITERATIONS, master, WV_KEY_LEN) < 0 ||
                     gnutls_hmac_fast(GNUTLS_MAC_SHA256, master, WV_KEY_LEN, info, strlen(info),
                                      mac) < 0
                 ? WV_ERR_CRYPTO
                 : 0;
    wv_memwipe(master, sizeof master);
    if (rc == 0) {
        memcpy(out, "wovenet/", 8);
        wv_hex(mac, 16, out + 8);
    }
    return rc;
}
