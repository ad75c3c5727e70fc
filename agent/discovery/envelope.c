#include "envelope.h"

#include "wv/base.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

/* AD = version || topic; built on the stack for ordinary topics. */
static uint8_t *make_ad(const char *topic, uint8_t *stackbuf, size_t cap, size_t *adlen) {
    size_t n = strlen(topic);
    uint8_t *ad = n + 1 <= cap ? stackbuf : wv_malloc(n + 1);
    ad[0] = WV_ENVELOPE_VERSION;
    memcpy(ad + 1, topic, n);
    *adlen = n + 1;
    return ad;
}

static int aead(const uint8_t key[WV_KEY_LEN], gnutls_aead_cipher_hd_t *h) {
    gnutls_datum_t k = {(unsigned char *)(uintptr_t)key, WV_KEY_LEN};
    return gnutls_aead_cipher_init(h, GNUTLS_CIPHER_AES_256_GCM, &k) < 0 ? WV_ERR_CRYPTO : 0;
}

int wv_envelope_seal(const uint8_t key[WV_KEY_LEN], const char *topic, const void *pt, size_t ptlen,
                     uint8_t **out, size_t *outlen) {
    *out = NULL;
    *outlen = 0;
    if (!topic || !*topic)
        return WV_ERR_INVAL;
    if (ptlen > WV_ENVELOPE_MAX_PLAINTEXT)
        return WV_ERR_TOOBIG;
    gnutls_aead_cipher_hd_t h;
    if (aead(key, &h))
        return WV_ERR_CRYPTO;
    size_t total = WV_ENVELOPE_OVERHEAD + ptlen;
    uint8_t *buf = wv_malloc(total);
    buf[0] = WV_ENVELOPE_VERSION;
    uint8_t *nonce = buf + 1;
    int rc = WV_ERR_CRYPTO;
    /* A random nonce per message: GCM's 96-bit nonce space makes collisions
     * negligible at announcement rates, and no counter state must survive
     * restarts. */
    if (gnutls_rnd(GNUTLS_RND_NONCE, nonce, WV_ENVELOPE_NONCE_LEN) < 0)
        goto done;
    uint8_t adbuf[256];
    size_t adlen;
    uint8_t *ad = make_ad(topic, adbuf, sizeof adbuf, &adlen);
    size_t ctlen = total - 1 - WV_ENVELOPE_NONCE_LEN;
    int g =
        gnutls_aead_cipher_encrypt(h, nonce, WV_ENVELOPE_NONCE_LEN, ad, adlen, WV_ENVELOPE_TAG_LEN,
                                   pt, ptlen, buf + 1 + WV_ENVELOPE_NONCE_LEN, &ctlen);
    if (ad != adbuf)
        free(ad);
    if (g < 0 || ctlen != ptlen + WV_ENVELOPE_TAG_LEN)
        goto done;
    *out = buf;
    *outlen = total;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    gnutls_aead_cipher_deinit(h);
    return rc;
}

int wv_envelope_open(const uint8_t key[WV_KEY_LEN], const char *topic, const void *in, size_t inlen,
                     uint8_t **pt, size_t *ptlen) {
    *pt = NULL;
    *ptlen = 0;
    if (!topic || !*topic)
        return WV_ERR_INVAL;
    if (inlen > WV_ENVELOPE_MAX_SEALED)
        return WV_ERR_TOOBIG;
    const uint8_t *p = in;
    if (inlen < WV_ENVELOPE_OVERHEAD || p[0] != WV_ENVELOPE_VERSION)
        return WV_ERR_PROTO;
    gnutls_aead_cipher_hd_t h;
    if (aead(key, &h))
        return WV_ERR_CRYPTO;
    size_t ctlen = inlen - 1 - WV_ENVELOPE_NONCE_LEN;
    size_t outlen = ctlen - WV_ENVELOPE_TAG_LEN;
    /* +1: room for the NUL the contract promises; the cipher may also want
     * the full ciphertext length as output space. */
    uint8_t *buf = wv_malloc(ctlen + 1);
    uint8_t adbuf[256];
    size_t adlen;
    uint8_t *ad = make_ad(topic, adbuf, sizeof adbuf, &adlen);
    size_t got = ctlen;
    int g =
        gnutls_aead_cipher_decrypt(h, p + 1, WV_ENVELOPE_NONCE_LEN, ad, adlen, WV_ENVELOPE_TAG_LEN,
                                   p + 1 + WV_ENVELOPE_NONCE_LEN, ctlen, buf, &got);
    if (ad != adbuf)
        free(ad);
    gnutls_aead_cipher_deinit(h);
    if (g < 0 || got != outlen) {
        wv_memwipe(buf, ctlen);
        free(buf);
        return WV_ERR_CRYPTO;
    }
    buf[outlen] = '\0';
    *pt = buf;
    *ptlen = outlen;
    return 0;
}
