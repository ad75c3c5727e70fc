/* Tunnel manager, in process: two or three sites on one loop over loopback. */
#include "wvunit.h"

#include "wv/base.h"
#include "wv/crypto.h"
#include "wv/tunnel.h"
#include "wv/model.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct site {
    const char *name;
    wv_identity *id;
    wv_tunnels *t;
    uint16_t port;
    int ups, downs;
    bool up_to[4];
    uint8_t key[32];
};

static uv_loop_t loop;
static wv_log *logger;
static int closed;

static void on_site_state(wv_tunnels *t, const char *site, bool up, void *user) {
    struct site *s = user;
    if (up)
        s->ups++;
    else
        s->downs++;
}

static void on_closed(void *arg) {
    closed++;
}

/* Limits for the next site_init (0: defaults), and a second socket. */
static unsigned next_max_unproven, next_max_per_peer;
static uint16_t next_second_port;

static void site_init(struct site *s, const char *name, uint8_t keybyte) {
    memset(s, 0, sizeof(*s));
    s->name = name;
    assert_int_equal(wv_identity_generate(name, &s->id), 0);
    memset(s->key, keybyte, sizeof(s->key));
    struct wv_tunnels_options o = {.site = name,
                                   .auth_key = s->key,
                                   .id = s->id,
                                   .max_unproven = next_max_unproven,
                                   .max_channels_per_peer = next_max_per_peer};
    wv_quic_config_default(&o.quic);
    o.quic.idle_timeout_ms = 2000;
    o.quic.keepalive_ms = 500;
    struct wv_tunnels_callbacks cbs = {.site_state = on_site_state};
    assert_int_equal(wv_tunnels_new(&loop, logger, &o, &cbs, s, &s->t), 0);
    s->port = wvu_free_port(SOCK_DGRAM);
    struct wv_tunnel_socket sock[2] = {{.name = "s1"}, {.name = "s2"}};
    assert_int_equal(wv_parse_ip("127.0.0.1", s->port, &sock[0].listen), 0);
    size_t n = 1;
    if (next_second_port) {
        assert_int_equal(wv_parse_ip("127.0.0.1", next_second_port, &sock[1].listen), 0);
        n = 2;
    }
    char errs[2][128];
    wv_tunnels_set_sockets(s->t, sock, n, errs);
    assert_string_equal(errs[0], "");
    next_max_unproven = next_max_per_peer = 0;
    next_second_port = 0;
}

static void introduce(struct site *to, struct site *about) {
    struct wv_peer_socket ps = {.port = about->port};
    snprintf(ps.address, sizeof(ps.address), "127.0.0.1");
    wv_tunnels_set_peer(to->t, about->name, wv_identity_fingerprint(about->id), &ps, 1);
}

/* siteA and siteB (network keys of bytes ka, kb), each told the other's
 * socket. */
static void two_sites(struct site s[2], uint8_t ka, uint8_t kb) {
    site_init(&s[0], "siteA", ka);
    site_init(&s[1], "siteB", kb);
    introduce(&s[0], &s[1]);
    introduce(&s[1], &s[0]);
}

static void run_ms(uint64_t ms) {
    uint64_t end = uv_now(&loop) + ms;
    while (uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static struct wv_tunnels_stats stats_of(const struct site *s) {
    struct wv_tunnels_stats st;
    wv_tunnels_get_stats(s->t, &st);
    return st;
}

static bool wait_until(bool (*cond)(void *), void *arg, uint64_t ms) {
    uint64_t end = uv_now(&loop) + ms;
    while (uv_now(&loop) < end) {
        if (cond(arg))
            return true;
        uv_run(&loop, UV_RUN_ONCE);
    }
    return cond(arg);
}

static size_t up_channels(struct site *s, const char *peer) {
    json_t *arr = wv_tunnels_channels_json(s->t, peer);
    size_t n = 0, i;
    json_t *c;
    json_array_foreach(arr, i, c) {
        if (strcmp(json_string_value(json_object_get(c, "state")), "up") == 0)
            n++;
    }
    json_decref(arr);
    return n;
}

struct pair {
    struct site *a, *b;
};

static bool both_have_two(void *arg) {
    struct pair *p = arg;
    return up_channels(p->a, p->b->name) == 2 && up_channels(p->b, p->a->name) == 2;
}

static void teardown(struct site *s, int n) {
    closed = 0;
    for (int i = 0; i < n; i++)
        wv_tunnels_close(s[i].t, on_closed, NULL);
    while (closed < n)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < n; i++)
        wv_identity_free(s[i].id);
}

static int setup(void **state) {
    uv_loop_init(&loop);
    logger = getenv("WV_TEST_LOG") ? wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, NULL) : NULL;
    return 0;
}

static int teardown_loop(void **state) {
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    wv_log_free(logger);
    return 0;
}

static void two_sites_get_two_up_channels_each(void **state) {
    struct site s[2];
    two_sites(s, 7, 7);
    struct pair p = {&s[0], &s[1]};
    assert_true(wait_until(both_have_two, &p, 3000));
    assert_true(wv_tunnels_site_up(s[0].t, "siteB"));
    assert_true(wv_tunnels_site_up(s[1].t, "siteA"));
    assert_int_equal(s[0].ups, 1);
    /* One outbound and one inbound on each side. */
    json_t *arr = wv_tunnels_channels_json(s[0].t, "siteB");
    int out = 0;
    for (size_t i = 0; i < json_array_size(arr); i++)
        out += strcmp(json_string_value(json_object_get(json_array_get(arr, i), "direction")),
                      "outbound") == 0;
    assert_int_equal(out, 1);
    json_decref(arr);
    teardown(s, 2);
}

static void wrong_key_never_comes_up(void **state) {
    struct site s[2];
    two_sites(s, 7, 8);
    run_ms(1500);
    assert_false(wv_tunnels_site_up(s[0].t, "siteB"));
    assert_false(wv_tunnels_site_up(s[1].t, "siteA"));
    assert_true(stats_of(&s[0]).proofs_failed > 0);
    teardown(s, 2);
}

static void wrong_pin_is_refused(void **state) {
    struct site s[3];
    site_init(&s[0], "siteA", 7);
    site_init(&s[1], "siteB", 7);
    site_init(&s[2], "siteC", 7);
    /* A is told B's sockets with C's certificate: the dial must fail. */
    struct wv_peer_socket ps = {.port = s[1].port};
    snprintf(ps.address, sizeof(ps.address), "127.0.0.1");
    wv_tunnels_set_peer(s[0].t, "siteB", wv_identity_fingerprint(s[2].id), &ps, 1);
    run_ms(1500);
    assert_false(wv_tunnels_site_up(s[0].t, "siteB"));
    struct wv_tunnels_stats st = stats_of(&s[0]);
    assert_true(st.dial_failures > 0);
    assert_int_equal(st.channels_up, 0);
    teardown(s, 3);
}

static bool a_up(void *arg) {
    struct pair *p = arg;
    return up_channels(p->a, p->b->name) >= 1;
}

static void channel_redialed_after_peer_restart(void **state) {
    struct site s[2];
    site_init(&s[0], "siteA", 7);
    site_init(&s[1], "siteB", 7);
    introduce(&s[0], &s[1]);
    /* B knows A's certificate (from its announcement) but does not dial. */
    wv_tunnels_set_peer(s[1].t, "siteA", wv_identity_fingerprint(s[0].id), NULL, 0);
    struct pair p = {&s[0], &s[1]};
    assert_true(wait_until(a_up, &p, 3000));
    /* B vanishes without a word (its endpoint closes), then comes back on
     * the same port with the same identity. */
    uint16_t port = s[1].port;
    wv_identity *id = s[1].id;
    closed = 0;
    wv_tunnels_close(s[1].t, on_closed, NULL);
    while (closed < 1)
        uv_run(&loop, UV_RUN_ONCE);
    struct wv_tunnels_options o = {.site = "siteB", .auth_key = s[1].key, .id = id};
    wv_quic_config_default(&o.quic);
    assert_int_equal(wv_tunnels_new(&loop, logger, &o, NULL, NULL, &s[1].t), 0);
    struct wv_tunnel_socket sock = {.name = "s1"};
    wv_parse_ip("127.0.0.1", port, &sock.listen);
    wv_tunnels_set_sockets(s[1].t, &sock, 1, NULL);
    wv_tunnels_set_peer(s[1].t, "siteA", wv_identity_fingerprint(s[0].id), NULL, 0);
    /* The dead channel goes (idle timeout 2 s), then the re-dial succeeds. */
    assert_true(wait_until(a_up, &p, 12000));
    teardown(s, 2);
}

/* Limits ---------------------------------------------------------------- */

static bool b_refused_one(void *arg) {
    return stats_of(arg).refused_peer_limit >= 1;
}

static int inbound_up(struct site *b) {
    json_t *arr = wv_tunnels_channels_json(b->t, "siteA");
    int n = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *c = json_array_get(arr, i);
        n += strcmp(json_string_value(json_object_get(c, "direction")), "inbound") == 0 &&
             strcmp(json_string_value(json_object_get(c, "state")), "up") == 0;
    }
    json_decref(arr);
    return n;
}

static bool b_inbound_up(void *arg) {
    return inbound_up(arg) >= 1;
}

static void channels_per_peer_are_bounded(void **state) {
    struct site s[2];
    site_init(&s[0], "siteA", 7);
    uint16_t second = wvu_free_port(SOCK_DGRAM);
    next_max_per_peer = 1;
    next_second_port = second;
    site_init(&s[1], "siteB", 7);
    /* A dials both of B's sockets: two inbound channels from A at B, one
     * over B's limit of one per peer. */
    struct wv_peer_socket ps[2] = {{.port = s[1].port}, {.port = second}};
    snprintf(ps[0].address, sizeof(ps[0].address), "127.0.0.1");
    snprintf(ps[1].address, sizeof(ps[1].address), "127.0.0.1");
    wv_tunnels_set_peer(s[1].t, "siteA", wv_identity_fingerprint(s[0].id), NULL, 0);
    wv_tunnels_set_peer(s[0].t, "siteB", wv_identity_fingerprint(s[1].id), ps, 2);
    assert_true(wait_until(b_refused_one, &s[1], 3000));
    assert_true(wait_until(b_inbound_up, &s[1], 3000));
    run_ms(500);
    /* B never holds more than one inbound channel from A. */
    int inbound = inbound_up(&s[1]);
    assert_int_equal(inbound, 1);
    teardown(s, 2);
}

static bool b_quarantined(void *arg) {
    return stats_of(arg).quarantined >= 1;
}

/* A dials B under its name before B has heard A's announcement: the
 * channel is held (neither side up, no stream possible) until B learns the
 * certificate A's name pins; a wrong certificate closes it. */
static void unannounced_inbound_is_quarantined(void **state) {
    struct site s[3];
    site_init(&s[0], "siteA", 7);
    site_init(&s[1], "siteB", 7);
    site_init(&s[2], "siteC", 7);
    introduce(&s[0], &s[1]);
    assert_true(wait_until(b_quarantined, &s[1], 3000));
    run_ms(300);
    assert_false(wv_tunnels_site_up(s[0].t, "siteB"));
    assert_false(wv_tunnels_site_up(s[1].t, "siteA"));
    /* The name's announcement pins C's certificate, not A's: closed. */
    wv_tunnels_set_peer(s[1].t, "siteA", wv_identity_fingerprint(s[2].id), NULL, 0);
    run_ms(300);
    assert_false(wv_tunnels_site_up(s[1].t, "siteA"));
    assert_true(stats_of(&s[1]).proofs_failed >= 1);
    teardown(s, 3);

    site_init(&s[0], "siteA", 7);
    site_init(&s[1], "siteB", 7);
    introduce(&s[0], &s[1]);
    assert_true(wait_until(b_quarantined, &s[1], 3000));
    /* The right certificate releases the held channel at once. */
    wv_tunnels_set_peer(s[1].t, "siteA", wv_identity_fingerprint(s[0].id), NULL, 0);
    struct pair p = {&s[0], &s[1]};
    assert_true(wait_until(a_up, &p, 1000));
    assert_true(wait_until(b_inbound_up, &s[1], 1000));
    teardown(s, 2);
}

struct raw {
    int hs, closed_remote;
};

static void raw_hs(wv_quic_conn *c, void *user) {
    ((struct raw *)user)->hs++;
}

static void raw_closed(wv_quic_conn *c, const wv_quic_close_info *info, void *user) {
    if (info->remote)
        ((struct raw *)user)->closed_remote++;
}

static bool raw_settled(void *arg) {
    struct raw *r = arg;
    return r->hs >= 1 && r->closed_remote >= 1;
}

static void ep_closed(void *arg) {
    closed++;
}

static void unproven_channels_are_bounded(void **state) {
    struct site b;
    next_max_unproven = 1;
    site_init(&b, "siteB", 7);
    /* An outsider opens two connections and proves nothing. */
    wv_identity *id;
    assert_int_equal(wv_identity_generate("outsider", &id), 0);
    struct raw r = {0};
    wv_quic_callbacks cbs = {.on_handshake_done = raw_hs, .on_conn_closed = raw_closed};
    wv_quic_endpoint *ep;
    assert_int_equal(wv_quic_endpoint_new(&loop, NULL, id, NULL, &cbs, &r, &ep), 0);
    struct sockaddr_storage any, to;
    assert_int_equal(wv_parse_ip("127.0.0.1", 0, &any), 0);
    assert_int_equal(wv_parse_ip("127.0.0.1", b.port, &to), 0);
    assert_int_equal(wv_quic_endpoint_bind(ep, (struct sockaddr *)&any), 0);
    wv_quic_conn *c1, *c2;
    assert_int_equal(wv_quic_dial(ep, (struct sockaddr *)&to, wv_identity_fingerprint(b.id), &c1), 0);
    assert_int_equal(wv_quic_dial(ep, (struct sockaddr *)&to, wv_identity_fingerprint(b.id), &c2), 0);
    /* One is served (and later dropped at the proof timeout), the other is
     * refused at once: well before the 5 s proof timeout. */
    assert_true(wait_until(raw_settled, &r, 3000));
    assert_int_equal(stats_of(&b).refused_unproven, 1);
    closed = 0;
    wv_quic_endpoint_close(ep, ep_closed, NULL);
    while (closed < 1)
        uv_run(&loop, UV_RUN_ONCE);
    wv_identity_free(id);
    teardown(&b, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_sites_get_two_up_channels_each),
        cmocka_unit_test(wrong_key_never_comes_up),
        cmocka_unit_test(wrong_pin_is_refused),
        cmocka_unit_test(channel_redialed_after_peer_restart),
        cmocka_unit_test(channels_per_peer_are_bounded),
        cmocka_unit_test(unannounced_inbound_is_quarantined),
        cmocka_unit_test(unproven_channels_are_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown_loop);
}
