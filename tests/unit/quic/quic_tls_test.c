/* TLS refusals that the public API cannot provoke: the test reaches into
 * the dialer's GnuTLS session (quic_int.h) between wv_quic_dial() and the
 * first packet, which is only written on the next loop pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/quic.h"
#include "quic_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct side {
    int accepts, hs, closed;
    wv_quic_close_info close;
} side;

typedef struct tfx {
    uv_loop_t loop;
    uv_timer_t tick;
    wv_identity *ida, *idb;
    wv_quic_endpoint *a, *b;
    side sa, sb;
    int ep_closed;
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

static void tick_cb(uv_timer_t *t) {}
static void ep_closed(void *arg) {
    ((tfx *)arg)->ep_closed++;
}

static tfx *tfx_new(void) {
    tfx *f = calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, tick_cb, 5, 5);
    assert_int_equal(wv_identity_generate("a", &f->ida), 0);
    assert_int_equal(wv_identity_generate("b", &f->idb), 0);
    wv_quic_config cfg;
    wv_quic_config_default(&cfg);
    assert_int_equal(wv_quic_endpoint_new(&f->loop, &cfg, f->ida, NULL, &cbs, &f->sa, &f->a), 0);
    cfg.accept = false;
    assert_int_equal(wv_quic_endpoint_new(&f->loop, &cfg, f->idb, NULL, &cbs, &f->sb, &f->b), 0);
    struct sockaddr_in sin;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    assert_int_equal(wv_quic_endpoint_bind(f->a, (struct sockaddr *)&sin), 0);
    assert_int_equal(wv_quic_endpoint_bind(f->b, (struct sockaddr *)&sin), 0);
    return f;
}

static wv_quic_conn *tfx_dial(tfx *f) {
    struct sockaddr_storage ss;
    wv_quic_conn *c;
    wv_quic_endpoint_local_addr(f->a, &ss);
    assert_int_equal(
        wv_quic_dial(f->b, (struct sockaddr *)&ss, wv_identity_fingerprint(f->ida), &c), 0);
    return c;
}

static void tfx_run_until_closed(tfx *f) {
    uint64_t deadline = uv_hrtime() + 3000 * 1000000ull;
    while (!(f->sa.closed && f->sb.closed) && uv_hrtime() < deadline)
        uv_run(&f->loop, UV_RUN_ONCE);
}

static void tfx_free(tfx *f) {
    wv_quic_endpoint_close(f->a, ep_closed, f);
    wv_quic_endpoint_close(f->b, ep_closed, f);
    uv_close((uv_handle_t *)&f->tick, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->ep_closed, 2);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    wv_identity_free(f->ida);
    wv_identity_free(f->idb);
    free(f);
}

static void server_refuses_other_alpn(void **state) {
    tfx *f = tfx_new();
    wv_quic_conn *c = tfx_dial(f);
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
    wv_quic_conn *c = tfx_dial(f);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(server_refuses_other_alpn),
        cmocka_unit_test(server_refuses_client_without_certificate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
