/* Credentials: API tokens (kept as SHA-256) and the site's TLS identity
 * (basic-auth passwords are hashed by wv/crypto.h). None of these are part of the
 * desired-state document, so they do not move the revision. */
#include "store_impl.h"
#include "wv/base.h"
#include "wv/crypto.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_PREFIX "wvt_"
#define TOKEN_BYTES 32

static void sha256_hex(const char *s, char hex[65]) {
    unsigned char md[32];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), md);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* --- Tokens ---------------------------------------------------------------- */

static bool valid_scope(const char *s) {
    return s && (strcmp(s, "write") == 0 || strcmp(s, "read") == 0 || strcmp(s, "metrics") == 0);
}

int wv_store_token_create_ex(wv_store *st, const char *name, const char *scope, int64_t expires,
                             char **token) {
    unsigned char raw[TOKEN_BYTES];
    char hex[65];
    sqlite3_stmt *s;
    *token = NULL;
    if (!scope)
        scope = "write";
    if (!wv_valid_name(name) || !valid_scope(scope) || expires < 0)
        return WV_ERR_INVAL;
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0)
        return WV_ERR_CRYPTO;
    /* base64url without padding: safe in headers, shells and URLs. */
    char *enc = wv_base64(raw, sizeof(raw));
    wv_memwipe(raw, sizeof(raw));
    size_t n = strcspn(enc, "=");
    for (size_t i = 0; i < n; i++)
        enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
    enc[n] = '\0';
    char *tok = wv_asprintf(TOKEN_PREFIX "%s", enc);
    wv_memwipe(enc, n);
    free(enc);
    sha256_hex(tok, hex);
    int rc = wv_store__prepare(st,
                               "INSERT INTO api_tokens (name, hash, created, scope, expires) "
                               "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?3, ?4)",
                               &s);
    if (rc < 0)
        goto fail;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, scope, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, expires);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT) {
        rc = WV_ERR_EXISTS;
        goto fail;
    }
    if (rc != SQLITE_DONE) {
        rc = wv_store__dberr(st, "create token");
        goto fail;
    }
    *token = tok;
    return 0;
fail:
    wv_memwipe(tok, strlen(tok));
    free(tok);
    return rc;
}

int wv_store_token_create(wv_store *st, const char *name, char **token) {
    return wv_store_token_create_ex(st, name, "write", 0, token);
}

/* Records a use at most once a minute: a write per request would cost a
 * transaction each and defeat the API's cache of "is auth configured". */
#define LAST_USED_STEP_S 60

int wv_store_token_auth(wv_store *st, const char *token, struct wv_token_info *info) {
    char hex[65];
    sqlite3_stmt *s;
    if (info)
        memset(info, 0, sizeof(*info));
    if (!token || strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 || strlen(token) > 256)
        return WV_ERR_AUTH;
    sha256_hex(token, hex);
    if (wv_store__prepare(st, "SELECT hash, name, scope, expires, last_used FROM api_tokens",
                          &s) < 0)
        return WV_ERR_DB;
    /* Compare against every row without stopping early, in constant time. */
    bool ok = false;
    struct wv_token_info hit = {0};
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(s, 0);
        bool eq = h && strlen(h) == 64 && wv_ct_memcmp(h, hex, 64) == 0;
        if (eq) {
            ok = true;
            snprintf(hit.name, sizeof(hit.name), "%s", (const char *)sqlite3_column_text(s, 1));
            snprintf(hit.scope, sizeof(hit.scope), "%s", (const char *)sqlite3_column_text(s, 2));
            hit.expires = sqlite3_column_int64(s, 3);
            hit.last_used = sqlite3_column_int64(s, 4);
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return wv_store__dberr(st, "check token");
    if (!ok)
        return WV_ERR_AUTH;
    int64_t now = (int64_t)time(NULL);
    if (hit.expires && now >= hit.expires) {
        hit.expired = true;
        if (info)
            *info = hit;
        return WV_ERR_AUTH;
    }
    if (now - hit.last_used >= LAST_USED_STEP_S &&
        wv_store__prepare(st, "UPDATE api_tokens SET last_used = ?1 WHERE name = ?2", &s) == 0) {
        sqlite3_bind_int64(s, 1, now);
        sqlite3_bind_text(s, 2, hit.name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            wv_store__dberr(st, "record token use"); /* logged; the request goes on */
        sqlite3_finalize(s);
        hit.last_used = now;
    }
    if (info)
        *info = hit;
    return 0;
}

int wv_store_token_check(wv_store *st, const char *token) {
    return wv_store_token_auth(st, token, NULL);
}

static json_t *iso_or_null(int64_t t) {
    if (t <= 0)
        return json_null();
    time_t sec = (time_t)t;
    struct tm tm;
    char buf[32];
    gmtime_r(&sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

int wv_store_token_list(wv_store *st, json_t **out) {
    sqlite3_stmt *s;
    *out = NULL;
    if (wv_store__prepare(st,
                          "SELECT name, created, scope, expires, last_used FROM api_tokens "
                          "ORDER BY name",
                          &s) < 0)
        return WV_ERR_DB;
    json_t *arr = json_array();
    int64_t now = (int64_t)time(NULL);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t exp = sqlite3_column_int64(s, 3);
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "name",
                           (const char *)sqlite3_column_text(s, 0), "created",
                           (const char *)sqlite3_column_text(s, 1), "scope",
                           (const char *)sqlite3_column_text(s, 2), "expires", iso_or_null(exp),
                           "lastUsed", iso_or_null(sqlite3_column_int64(s, 4)), "expired",
                           exp > 0 && now >= exp));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return wv_store__dberr(st, "list tokens");
    }
    *out = arr;
    return 0;
}

int wv_store_token_count(wv_store *st) {
    sqlite3_stmt *s;
    if (wv_store__prepare(st, "SELECT count(*) FROM api_tokens", &s) < 0)
        return WV_ERR_DB;
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0)
                                          : wv_store__dberr(st, "count tokens");
    sqlite3_finalize(s);
    return n;
}

int wv_store_token_delete(wv_store *st, const char *name) {
    if (!name)
        return WV_ERR_INVAL;
    return wv_store__run(st, "DELETE FROM api_tokens WHERE name = ?1", "delete token",
                         WV_STORE__MUST_CHANGE, 1, name);
}

/* --- Identity --------------------------------------------------------------- */

int wv_store_get_identity(wv_store *st, char **key_pem, char **cert_pem) {
    sqlite3_stmt *s;
    *key_pem = *cert_pem = NULL;
    if (wv_store__prepare(st, "SELECT key_pem, cert_pem FROM identity WHERE id = 1", &s) < 0)
        return WV_ERR_DB;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *key_pem = wv_strdup((const char *)sqlite3_column_text(s, 0));
        *cert_pem = wv_strdup((const char *)sqlite3_column_text(s, 1));
    }
    return wv_store__one_row(st, s, rc, "read identity");
}

int wv_store_set_identity(wv_store *st, const char *key_pem, const char *cert_pem) {
    if (!key_pem || !cert_pem || !*key_pem || !*cert_pem)
        return WV_ERR_INVAL;
    return wv_store__run(
        st, "INSERT OR REPLACE INTO identity (id, key_pem, cert_pem) VALUES (1, ?1, ?2)",
        "write identity", 0, 2, key_pem, cert_pem);
}

int wv_store_rotate_identity(wv_store *st, const char *key_pem, const char *cert_pem,
                             const char *prev_key, const char *prev_sig) {
    if (!prev_key || !prev_sig || !*prev_key || !*prev_sig)
        return WV_ERR_INVAL;
    int rc = wv_store__begin(st);
    if (rc < 0)
        return rc;
    rc = wv_store_set_identity(st, key_pem, cert_pem);
    sqlite3_stmt *s;
    if (rc == 0 && (rc = wv_store__prepare(st,
                                           "INSERT OR REPLACE INTO identity_rotation (id, prev_key, "
                                           "prev_sig, rotated_at) VALUES (1, ?1, ?2, ?3)",
                                           &s)) == 0) {
        sqlite3_bind_text(s, 1, prev_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, prev_sig, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : wv_store__dberr(st, "write identity rotation");
        sqlite3_finalize(s);
    }
    if (rc == 0)
        rc = wv_store__commit(st);
    if (rc != 0)
        wv_store__rollback(st);
    return rc;
}

int wv_store_get_rotation(wv_store *st, char **prev_key, char **prev_sig) {
    sqlite3_stmt *s;
    *prev_key = *prev_sig = NULL;
    if (wv_store__prepare(st, "SELECT prev_key, prev_sig FROM identity_rotation WHERE id = 1",
                          &s) < 0)
        return WV_ERR_DB;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *prev_key = wv_strdup((const char *)sqlite3_column_text(s, 0));
        *prev_sig = wv_strdup((const char *)sqlite3_column_text(s, 1));
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? WV_ERR_NOTFOUND : wv_store__dberr(st, "read identity rotation");
    }
    sqlite3_finalize(s);
    return rc;
}
