/* TLS refusals that the public API cannot provoke: the test reaches into
 * the dialer's GnuTLS session (quic_int.h) between wv_quic_dial() and the
 * first packet, which is only written on the next loop pass. */
#include "quic_pair.h"

#include "quic_int.h"
#include "wv/base.h"

#include <stdlib.h>
#include <string.h>

typedef struct side {
    int accepts, hs, closed;
    wv_quic_close_info close;
} side;

typedef struct tfx {
    uv_loop_t loop;
    qpair q;
    side sa, sb; /* the user data of q.a's and q.b's callbacks */
} tfx;

static void on_accept(wv_quic_endpoint *ep, wv_quic_conn *c, void *user) {
    ((side *)user)->accepts++;
}
static void on_hs(wv_quic_conn *c, void *user) {
    ((side *)user)->hs++;
}
static void on_closed(wv_quic_conn *c, const wv_quic_close_info *info, void *user) {
    side *s = user;
    s->closed++;
    s->close = *info;
}

static const wv_quic_callbacks cbs = {
    .on_accept = on_accept, .on_handshake_done = on_hs, .on_conn_closed = on_closed};

static tfx *tfx_new(void) {
    tfx *f = calloc(1, sizeof(*f));
    qpair_init(&f->q, &f->loop, NULL, NULL, &cbs, &f->sa, &f->sb, "127.0.0.1", "127.0.0.1");
    return f;
}

static void tfx_run_until_closed(tfx *f) {
    RUN_UNTIL(f, f->sa.closed && f->sb.closed, 3000);
}

static void tfx_free(tfx *f) {
    qpair_dispose(&f->q);
    free(f);
}

static void server_refuses_other_alpn(void **state) {
    tfx *f = tfx_new();
    wv_quic_conn *c = qpair_dial(&f->q, NULL, NULL);
    static const gnutls_datum_t other = {(unsigned char *)"h3", 2};
    assert_int_equal(gnutls_alpn_set_protocols(c->tls, &other, 1, 0), 0);
    tfx_run_until_closed(f);
    assert_int_equal(f->sa.accepts, 1);
    assert_int_equal(f->sa.hs + f->sb.hs, 0);
    assert_int_equal(f->sb.closed, 1);
    assert_int_equal(f->sb.close.err, WV_ERR_CRYPTO);
    assert_true(f->sb.close.remote);
    assert_int_equal(f->sa.closed, 1);
    assert_int_equal(f->sa.close.err, WV_ERR_CRYPTO);
    tfx_free(f);
}

static void server_refuses_client_without_certificate(void **state) {
    tfx *f = tfx_new();
    wv_quic_conn *c = qpair_dial(&f->q, NULL, NULL);
    gnutls_certificate_credentials_t none;
    assert_int_equal(gnutls_certificate_allocate_credentials(&none), 0);
    assert_int_equal(gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, none), 0);
    tfx_run_until_closed(f);
    assert_int_equal(f->sa.hs, 0);
    assert_int_equal(f->sa.closed, 1);
    assert_int_equal(f->sa.close.err, WV_ERR_CRYPTO);
    assert_int_equal(f->sb.closed, 1);
    assert_int_equal(f->sb.close.err, WV_ERR_CRYPTO);
    tfx_free(f);
    gnutls_certificate_free_credentials(none);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(server_refuses_other_alpn),
    cmocka_unit_test(server_refuses_client_without_certificate),
};
WVU_MAIN(tests)
