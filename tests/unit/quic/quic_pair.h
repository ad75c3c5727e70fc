#ifndef WV_TEST_QUIC_PAIR_H
#define WV_TEST_QUIC_PAIR_H
/* The fixture the QUIC tests (and the proxy harness above them) stand on:
 * two endpoints on one loop over loopback, a accepting and b only dialing,
 * with identities "a" and "b", and a tick that keeps UV_RUN_ONCE from
 * blocking (RUN_UNTIL, wvunit.h). Only the public wv/quic.h is used. */
#include <uv.h>

#include "wvunit.h"

#include "wv/crypto.h"
#include "wv/quic.h"

typedef struct qpair {
    uv_loop_t *loop;
    uv_timer_t tick;
    wv_identity *ida, *idb;
    wv_quic_endpoint *a, *b; /* a test that closes one itself sets it NULL */
    int ep_closed;           /* endpoint close callbacks seen (qpair_ep_closed) */
} qpair;

static inline void qpair_bind(wv_quic_endpoint *ep, const char *ip) {
    struct sockaddr_storage ss;
    if (strchr(ip, ':'))
        assert_int_equal(uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss), 0);
    else
        assert_int_equal(uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss), 0);
    assert_int_equal(wv_quic_endpoint_bind(ep, (struct sockaddr *)&ss), 0);
}

/* Initializes loop and the pair on it: a bound to ip_a, b to ip_b (port 0
 * both), with cfg (NULL: the defaults; "accept" is set per endpoint), log
 * (may be NULL), cbs and the user data ua (a's callbacks) and ub (b's). */
static inline void qpair_init(qpair *p, uv_loop_t *loop, const wv_quic_config *cfg, wv_log *log,
                              const wv_quic_callbacks *cbs, void *ua, void *ub, const char *ip_a,
                              const char *ip_b) {
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    assert_int_equal(uv_loop_init(loop), 0);
    wvu_tick_start(loop, &p->tick);
    wv_quic_config c;
    if (cfg)
        c = *cfg;
    else
        wv_quic_config_default(&c);
    assert_int_equal(wv_identity_generate("a", &p->ida), 0);
    assert_int_equal(wv_identity_generate("b", &p->idb), 0);
    c.accept = true;
    assert_int_equal(wv_quic_endpoint_new(loop, &c, p->ida, log, cbs, ua, &p->a), 0);
    c.accept = false;
    assert_int_equal(wv_quic_endpoint_new(loop, &c, p->idb, log, cbs, ub, &p->b), 0);
    qpair_bind(p->a, ip_a);
    qpair_bind(p->b, ip_b);
}

/* Dials from b to `to` (NULL: a's address), pinning pin (NULL: a's
 * certificate). */
static inline wv_quic_conn *qpair_dial(qpair *p, const struct sockaddr_storage *to,
                                       const uint8_t *pin) {
    struct sockaddr_storage ss;
    if (!to) {
        assert_int_equal(wv_quic_endpoint_local_addr(p->a, &ss), 0);
        to = &ss;
    }
    wv_quic_conn *c = NULL;
    assert_int_equal(wv_quic_dial(p->b, (const struct sockaddr *)to,
                                  pin ? pin : wv_identity_fingerprint(p->ida), &c),
                     0);
    return c;
}

/* The close callback of an endpoint (arg: the pair). */
static inline void qpair_ep_closed(void *arg) {
    ((qpair *)arg)->ep_closed++;
}

/* Closes the endpoints still open (their connections with them) and waits
 * for both close callbacks. */
static inline void qpair_close(qpair *p) {
    int want = p->ep_closed + (p->a != NULL) + (p->b != NULL);
    if (p->a)
        wv_quic_endpoint_close(p->a, qpair_ep_closed, p);
    if (p->b)
        wv_quic_endpoint_close(p->b, qpair_ep_closed, p);
    p->a = p->b = NULL;
    RUN_LOOP_UNTIL(p->loop, p->ep_closed == want, 5000);
    assert_int_equal(p->ep_closed, want);
}

/* qpair_close, then closes the tick, runs the loop until nothing is left
 * (the test closes its own handles first) and closes it: uv_loop_close()
 * must return 0. */
static inline void qpair_dispose(qpair *p) {
    qpair_close(p);
    uv_close((uv_handle_t *)&p->tick, NULL);
    assert_int_equal(uv_run(p->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(p->loop), 0);
    wv_identity_free(p->ida);
    wv_identity_free(p->idb);
}

#endif
