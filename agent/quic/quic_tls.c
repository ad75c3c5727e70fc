/* TLS for QUIC: credentials, per-connection GnuTLS sessions, pinning,
 * ALPN, exporter. */
#include "quic_int.h"

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <string.h>

/* TLS 1.3 only, and only the AEADs QUIC defines for it (AES-CCM-8 and
 * AES-256-CCM are not QUIC suites). Compat mode is a TCP middlebox hack
 * that QUIC forbids. */
static const char priority[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
                               "+AES-256-GCM:+CHACHA20-POLY1305:%DISABLE_TLS13_COMPAT_MODE";

/* The endpoint's ALPN: WV_QUIC_ALPN except in the interop tests. */
static gnutls_datum_t alpn_of(const wv_quic_endpoint *ep) {
    return (gnutls_datum_t){(unsigned char *)ep->alpn, (unsigned)strlen(ep->alpn)};
}

static bool is_alpn(gnutls_session_t s, const wv_quic_endpoint *ep) {
    gnutls_datum_t sel, want = alpn_of(ep);
    return gnutls_alpn_get_selected_protocol(s, &sel) >= 0 && sel.size == want.size &&
           memcmp(sel.data, want.data, want.size) == 0;
}

bool wv_quic__tls_alpn_ok(const wv_quic_conn *c) {
    return is_alpn(c->tls, c->ep);
}

int wv_quic__tls_endpoint_init(wv_quic_endpoint *ep, const wv_identity *id) {
    gnutls_x509_crt_t crt = wv_identity_gnutls_crt(id);
    if (gnutls_certificate_allocate_credentials(&ep->cred) < 0)
        return WV_ERR_CRYPTO;
    if (gnutls_certificate_set_x509_key(ep->cred, &crt, 1, wv_identity_gnutls_key(id)) < 0)
        goto fail;
    if (gnutls_priority_init2(&ep->prio, priority, NULL, 0) < 0)
        goto fail;
    return 0;
fail:
    gnutls_certificate_free_credentials(ep->cred);
    ep->cred = NULL;
    return WV_ERR_CRYPTO;
}

void wv_quic__tls_endpoint_dispose(wv_quic_endpoint *ep) {
    if (ep->prio)
        gnutls_priority_deinit(ep->prio);
    if (ep->cred)
        gnutls_certificate_free_credentials(ep->cred);
    ep->prio = NULL;
    ep->cred = NULL;
}

static wv_quic_conn *session_conn(gnutls_session_t s) {
    /* The crypto helper owns the session pointer: it is our conn_ref. */
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
    return ref->user_data;
}

/* Runs inside the handshake on both sides. Records the peer's fingerprint
 * and, when dialing, refuses anything but the pinned certificate. The
 * server accepts any certificate: membership is proven later over the
 * exporter, and the fingerprint is what the upper layer binds it to. */
static int verify_peer(gnutls_session_t s) {
    wv_quic_conn *c = session_conn(s);
    unsigned n = 0;
    if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509)
        return GNUTLS_E_CERTIFICATE_ERROR;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    if (!certs || n < 1) {
        WV_WARN(c->ep->log, WV_QUIC__SUB, "peer sent no certificate");
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, certs[0].data, certs[0].size, c->peer_fp) < 0)
        return GNUTLS_E_CERTIFICATE_ERROR;
    c->has_peer_fp = true;
    if (c->has_pin && wv_ct_memcmp(c->pin, c->peer_fp, WV_FINGERPRINT_LEN) != 0) {
        char want[WV_FINGERPRINT_HEX_LEN + 1], got[WV_FINGERPRINT_HEX_LEN + 1];
        wv_fingerprint_to_hex(c->pin, want);
        wv_fingerprint_to_hex(c->peer_fp, got);
        WV_WARN(c->ep->log, WV_QUIC__SUB, "peer certificate %s does not match pin %s", got, want);
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

/* Server: refuse a ClientHello that does not offer our ALPN, rather than
 * let GnuTLS continue without one. */
static int client_hello_hook(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                             const gnutls_datum_t *msg) {
    if (!is_alpn(s, session_conn(s)->ep))
        return GNUTLS_E_NO_APPLICATION_PROTOCOL;
    return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) {
    wv_quic_conn *c = ref->user_data;
    return c->nc;
}

int wv_quic__tls_session_new(wv_quic_conn *c) {
    unsigned flags = (c->server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_TICKETS;
    if (gnutls_init(&c->tls, flags) < 0)
        return WV_ERR_CRYPTO;
    int rv = c->server ? ngtcp2_crypto_gnutls_configure_server_session(c->tls)
                       : ngtcp2_crypto_gnutls_configure_client_session(c->tls);
    if (rv != 0)
        goto fail;
    if (gnutls_priority_set(c->tls, c->ep->prio) < 0)
        goto fail;
    if (gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->ep->cred) < 0)
        goto fail;
    gnutls_datum_t alpn = alpn_of(c->ep);
    if (gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) < 0)
        goto fail;
    c->conn_ref.get_conn = get_conn;
    c->conn_ref.user_data = c;
    gnutls_session_set_ptr(c->tls, &c->conn_ref);
    gnutls_session_set_verify_function(c->tls, verify_peer);
    if (c->server) {
        gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_REQUIRE);
        gnutls_handshake_set_hook_function(c->tls, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                           client_hello_hook);
    } else {
        /* No names to check (we pin), but some stacks want SNI present. */
        gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, "wovenet", 7);
    }
    return 0;
fail:
    gnutls_deinit(c->tls);
    c->tls = NULL;
    return WV_ERR_CRYPTO;
}

int wv_quic_conn_exporter(wv_quic_conn *c, const char *label, const uint8_t *ctx, size_t ctxlen,
                          uint8_t *out, size_t outlen) {
    if (!c->hs_done || !c->tls)
        return WV_ERR_AGAIN;
    if (gnutls_prf_rfc5705(c->tls, strlen(label), label, ctxlen, (const char *)ctx, outlen,
                           (char *)out) < 0)
        return WV_ERR_CRYPTO;
    return 0;
}

const uint8_t *wv_quic_conn_peer_fingerprint(const wv_quic_conn *c) {
    return c->has_peer_fp ? c->peer_fp : NULL;
}
