/* Credentials: API tokens (kept as SHA-256), basic-auth password hashing
 * (PBKDF2) and the site's TLS identity. None of these are part of the
 * desired-state document, so they do not move the revision. */
#include "wv/base.h"
#include "store_impl.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_PREFIX "wvt_"
#define TOKEN_BYTES 32
#define PBKDF2_DEFAULT_ITER 100000
#define PBKDF2_MAX_ITER 10000000 /* a stored hash cannot make a check take forever */
#define SALT_BYTES 16
#define HASH_BYTES 32

/* --- Encoding helpers ------------------------------------------------------------ */

static char *b64(const unsigned char *p, size_t n) {
    gnutls_datum_t in = {(unsigned char *)p, (unsigned)n}, out = {NULL, 0};
    if (gnutls_base64_encode2(&in, &out) < 0) {
        fprintf(stderr, "wovenet: base64 encoding failed\n");
        abort();
    }
    char *s = wv_strndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    return s;
}

/* Decodes exactly want bytes of base64 or fails. */
static int unb64(const char *s, size_t len, unsigned char *buf, size_t want) {
    gnutls_datum_t in = {(unsigned char *)s, (unsigned)len}, out = {NULL, 0};
    if (gnutls_base64_decode2(&in, &out) < 0)
        return WV_ERR_INVAL;
    int rc = out.size == want ? 0 : WV_ERR_INVAL;
    if (rc == 0)
        memcpy(buf, out.data, want);
    gnutls_free(out.data);
    return rc;
}

static void sha256_hex(const char *s, char hex[65]) {
    unsigned char md[32];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), md);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* --- Passwords ---------------------------------------------------------------- */

char *wv_password_hash_iter(const char *password, unsigned iterations) {
    unsigned char salt[SALT_BYTES], hash[HASH_BYTES];
    if (gnutls_rnd(GNUTLS_RND_NONCE, salt, sizeof(salt)) < 0)
        return NULL;
    gnutls_datum_t key = {(unsigned char *)password, (unsigned)strlen(password)};
    gnutls_datum_t sd = {salt, sizeof(salt)};
    if (gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &sd, iterations, hash, sizeof(hash)) < 0)
        return NULL;
    char *s64 = b64(salt, sizeof(salt)), *h64 = b64(hash, sizeof(hash));
    char *out = wv_asprintf("pbkdf2-sha256$%u$%s$%s", iterations, s64, h64);
    wv_memwipe(hash, sizeof(hash));
    free(s64);
    free(h64);
    return out;
}

char *wv_password_hash(const char *password) {
    return wv_password_hash_iter(password, PBKDF2_DEFAULT_ITER);
}

int wv_password_verify(const char *password, const char *encoded) {
    static const char tag[] = "pbkdf2-sha256$";
    unsigned char salt[SALT_BYTES], want[HASH_BYTES], got[HASH_BYTES];
    if (!password || !encoded || strncmp(encoded, tag, sizeof(tag) - 1) != 0)
        return WV_ERR_AUTH;
    const char *p = encoded + sizeof(tag) - 1;
    char *end;
    unsigned long iter = strtoul(p, &end, 10);
    if (end == p || *end != '$' || iter < 1 || iter > PBKDF2_MAX_ITER)
        return WV_ERR_AUTH;
    const char *s = end + 1, *sep = strchr(s, '$');
    if (!sep || unb64(s, (size_t)(sep - s), salt, sizeof(salt)) < 0 ||
        unb64(sep + 1, strlen(sep + 1), want, sizeof(want)) < 0)
        return WV_ERR_AUTH;
    gnutls_datum_t key = {(unsigned char *)password, (unsigned)strlen(password)};
    gnutls_datum_t sd = {salt, sizeof(salt)};
    if (gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &sd, (unsigned)iter, got, sizeof(got)) < 0)
        return WV_ERR_AUTH;
    int rc = wv_ct_memcmp(got, want, sizeof(got)) == 0 ? 0 : WV_ERR_AUTH;
    wv_memwipe(got, sizeof(got));
    return rc;
}

/* --- Tokens ---------------------------------------------------------------- */

int wv_store_token_create(wv_store *st, const char *name, char **token) {
    unsigned char raw[TOKEN_BYTES];
    char hex[65];
    sqlite3_stmt *s;
    *token = NULL;
    if (!wv_valid_name(name))
        return WV_ERR_INVAL;
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0)
        return WV_ERR_CRYPTO;
    /* base64url without padding: safe in headers, shells and URLs. */
    char *enc = b64(raw, sizeof(raw));
    wv_memwipe(raw, sizeof(raw));
    size_t n = strcspn(enc, "=");
    for (size_t i = 0; i < n; i++)
        enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
    enc[n] = '\0';
    char *tok = wv_asprintf(TOKEN_PREFIX "%s", enc);
    wv_memwipe(enc, n);
    free(enc);
    sha256_hex(tok, hex);
    int rc = wv_st_prepare(st,
                           "INSERT INTO api_tokens (name, hash, created) "
                           "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                           &s);
    if (rc < 0)
        goto fail;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, hex, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT) {
        rc = WV_ERR_EXISTS;
        goto fail;
    }
    if (rc != SQLITE_DONE) {
        rc = wv_st_dberr(st, "create token");
        goto fail;
    }
    *token = tok;
    return 0;
fail:
    wv_memwipe(tok, strlen(tok));
    free(tok);
    return rc;
}

int wv_store_token_check(wv_store *st, const char *token) {
    char hex[65];
    sqlite3_stmt *s;
    if (!token || strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 || strlen(token) > 256)
        return WV_ERR_AUTH;
    sha256_hex(token, hex);
    if (wv_st_prepare(st, "SELECT hash FROM api_tokens", &s) < 0)
        return WV_ERR_DB;
    /* Compare against every row without stopping early, in constant time. */
    bool ok = false;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(s, 0);
        if (h && strlen(h) == 64)
            ok |= wv_ct_memcmp(h, hex, 64) == 0;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return wv_st_dberr(st, "check token");
    return ok ? 0 : WV_ERR_AUTH;
}

int wv_store_token_list(wv_store *st, json_t **out) {
    sqlite3_stmt *s;
    *out = NULL;
    if (wv_st_prepare(st, "SELECT name, created FROM api_tokens ORDER BY name", &s) < 0)
        return WV_ERR_DB;
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("{s:s,s:s}", "name",
                                             (const char *)sqlite3_column_text(s, 0), "created",
                                             (const char *)sqlite3_column_text(s, 1)));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return wv_st_dberr(st, "list tokens");
    }
    *out = arr;
    return 0;
}

int wv_store_token_delete(wv_store *st, const char *name) {
    sqlite3_stmt *s;
    if (!name)
        return WV_ERR_INVAL;
    if (wv_st_prepare(st, "DELETE FROM api_tokens WHERE name = ?1", &s) < 0)
        return WV_ERR_DB;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_st_dberr(st, "delete token");
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = WV_ERR_NOTFOUND;
    return rc;
}

/* --- Identity --------------------------------------------------------------- */

int wv_store_get_identity(wv_store *st, char **key_pem, char **cert_pem) {
    sqlite3_stmt *s;
    *key_pem = *cert_pem = NULL;
    if (wv_st_prepare(st, "SELECT key_pem, cert_pem FROM identity WHERE id = 1", &s) < 0)
        return WV_ERR_DB;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *key_pem = wv_strdup((const char *)sqlite3_column_text(s, 0));
        *cert_pem = wv_strdup((const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return WV_ERR_NOTFOUND;
    return rc == SQLITE_ROW ? 0 : wv_st_dberr(st, "read identity");
}

int wv_store_set_identity(wv_store *st, const char *key_pem, const char *cert_pem) {
    sqlite3_stmt *s;
    if (!key_pem || !cert_pem || !*key_pem || !*cert_pem)
        return WV_ERR_INVAL;
    if (wv_st_prepare(st,
                      "INSERT OR REPLACE INTO identity (id, key_pem, cert_pem) VALUES (1, ?1, ?2)",
                      &s) < 0)
        return WV_ERR_DB;
    sqlite3_bind_text(s, 1, key_pem, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, cert_pem, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_st_dberr(st, "write identity");
    sqlite3_finalize(s);
    return rc;
}
