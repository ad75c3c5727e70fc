/* Discovery without a broker: options, the peer table seeded from persisted
 * announcements, and clean teardown. The broker-facing behaviour is covered
 * by tests/system/test_discovery_core.py against a real mosquitto. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "wv/base.h"
#include "wv/discovery.h"

#include <stdlib.h>
#include <string.h>

#define INST "0123456789abcdef0123456789abcdef"
#define FP "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
/* A port nothing listens on: the client is created but never connects. */
static const char *const BROKERS[] = {"mqtt://127.0.0.1:9"};
static wv_identity *ID, *ID2; /* made once in main */

static int local(wv_discovery *d, wv_msg *body, void *user) {
    memcpy(body->fingerprint, FP, WV_FINGERPRINT_HEX_LEN);
    return 0;
}

static void closed(wv_discovery *d, void *user) {
    (*(int *)user)++;
}

/* What a test of one discovery stands on: its loop, the keys of "key" for
 * topic, and the count of close callbacks. */
struct fx {
    uv_loop_t loop;
    wv_keys k;
    int closes;
};

static void fx_init(struct fx *f, const char *topic) {
    memset(f, 0, sizeof(*f));
    uv_loop_init(&f->loop);
    assert_int_equal(wv_keys_derive("key", 3, topic, 1, &f->k), 0);
}

/* A discovery on f's loop and the dead broker, or NULL if the options are
 * refused. max_peers 0: the default. */
static wv_discovery *make(struct fx *f, const char *site, const char *topic, unsigned max_peers) {
    wv_discovery_options o = {
        .site = site, .topic = topic, .keys = &f->k, .max_peers = max_peers, .id = ID};
    o.mqtt.brokers = BROKERS;
    o.mqtt.nbrokers = 1;
    wv_discovery_callbacks cb = {.local = local};
    wv_discovery *d = NULL;
    int rc = wv_discovery_new(&f->loop, NULL, &o, &cb, &f->closes, &d);
    return rc == 0 ? d : NULL;
}

/* Closes d, runs f's loop to its end and closes it: one close callback, no
 * handle left. */
static void close_and_drain(wv_discovery *d, struct fx *f) {
    wv_discovery_close(d, closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->closes, 1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static char *announcement(const char *site, unsigned seq, const char *app) {
    return wv_asprintf("{\"type\":\"announce\",\"site\":\"%s\",\"instance\":\"" INST "\","
                       "\"seq\":%u,\"ts\":1000,\"sockets\":[{\"address\":\"198.51.100.7\","
                       "\"port\":4433,\"protocol\":\"quic\",\"detected\":true}],"
                       "\"apps\":[\"%s\"],\"fingerprint\":\"" FP "\"}",
                       site, seq, app);
}

static void bad_options_refused(void **state) {
    struct fx f;
    fx_init(&f, "t");
    assert_null(make(&f, "bad name!", "wv/t", 0));
    assert_null(make(&f, "site1", "", 0));
    assert_null(make(&f, "site1", "wv/+", 0));
    assert_null(make(&f, "site1", "wv/#", 0));
    assert_null(make(&f, "site1", "wv/t/", 0));
    const char *const bad_broker[] = {"http://127.0.0.1:1"};
    wv_discovery_options o = {.site = "site1", .topic = "wv/t", .keys = &f.k, .id = ID};
    o.mqtt.brokers = bad_broker;
    o.mqtt.nbrokers = 1;
    wv_discovery_callbacks cb = {.local = local};
    wv_discovery *d;
    assert_int_equal(wv_discovery_new(&f.loop, NULL, &o, &cb, NULL, &d), WV_ERR_INVAL);
    o.mqtt.nbrokers = 0;
    assert_int_equal(wv_discovery_new(&f.loop, NULL, &o, &cb, NULL, &d), WV_ERR_INVAL);
    cb.local = NULL;
    o.mqtt.brokers = BROKERS;
    o.mqtt.nbrokers = 1;
    assert_int_equal(wv_discovery_new(&f.loop, NULL, &o, &cb, NULL, &d), WV_ERR_INVAL);
    assert_int_equal(uv_loop_close(&f.loop), 0);
}

static void seed_persist_forget(void **state) {
    struct fx f;
    fx_init(&f, "wv/t");
    wv_discovery *d = make(&f, "siteBravo9", "wv/t", 0);
    assert_non_null(d);
    assert_int_equal(strlen(wv_discovery_site_hash(d)), WV_SITE_HASH_HEX_LEN);
    assert_int_equal(strlen(wv_discovery_instance(d)), WV_INSTANCE_HEX_LEN);
    assert_false(wv_discovery_is_connected(d));

    char *a5 = announcement("siteAlpha7", 5, "webAppQx");
    char *a3 = announcement("siteAlpha7", 3, "oldApp");
    char *a9 = announcement("siteAlpha7", 9, "newApp");
    char *self = announcement("siteBravo9", 1, "x");
    assert_int_equal(wv_discovery_seed(d, a5), 0);
    assert_int_equal(wv_discovery_seed(d, a3), 0); /* older: kept the newer one */
    const wv_peer *p = wv_discovery_peer_find(d, "siteAlpha7");
    assert_non_null(p);
    assert_false(p->online);
    assert_int_equal(p->last_seen_ms, 0);
    assert_string_equal(p->ann.apps[0], "webAppQx");
    assert_int_equal(wv_discovery_seed(d, a9), 0); /* newer: replaces */
    assert_string_equal(wv_discovery_peer_find(d, "siteAlpha7")->ann.apps[0], "newApp");
    assert_int_equal(wv_discovery_peer_count(d), 1);

    /* What the lead persists is exactly what seeds the table again. */
    char *json = wv_discovery_peer_json(wv_discovery_peer_at(d, 0));
    assert_non_null(json);
    assert_string_equal(json, a9);

    assert_int_equal(wv_discovery_seed(d, self), WV_ERR_INVAL);
    assert_int_equal(wv_discovery_seed(d,
                                       "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"" INST
                                       "\",\"seq\":3,\"ts\":5}"),
                     WV_ERR_PROTO);
    assert_int_equal(wv_discovery_seed(d, "garbage"), WV_ERR_PROTO);
    assert_int_equal(wv_discovery_seed(d, NULL), WV_ERR_PROTO);

    assert_int_equal(wv_discovery_request_sockinfo(d, "nobody"), WV_ERR_NOTFOUND);
    assert_int_equal(wv_discovery_request_sockinfo(d, "siteAlpha7"), WV_ERR_AGAIN);
    assert_int_equal(wv_discovery_request_punch(d, "nobody"), WV_ERR_NOTFOUND);
    assert_int_equal(wv_discovery_request_punch(d, "siteAlpha7"), WV_ERR_AGAIN);
    assert_int_equal(wv_discovery_announce(d), 0); /* not connected: on the next connect */

    assert_int_equal(wv_discovery_forget(d, "siteAlpha7"), 0);
    assert_int_equal(wv_discovery_forget(d, "siteAlpha7"), WV_ERR_NOTFOUND);
    assert_int_equal(wv_discovery_peer_count(d), 0);
    assert_null(wv_discovery_peer_at(d, 0));

    close_and_drain(d, &f);
    free(json);
    free(a5);
    free(a3);
    free(a9);
    free(self);
}

static void peer_table_is_bounded(void **state) {
    struct fx f;
    fx_init(&f, "wv/t");
    wv_discovery *d = make(&f, "me", "wv/t", 2);
    assert_non_null(d);
    char *p1 = announcement("p1", 1, "a"), *p2 = announcement("p2", 1, "a"),
         *p3 = announcement("p3", 1, "a");
    assert_int_equal(wv_discovery_seed(d, p1), 0);
    assert_int_equal(wv_discovery_seed(d, p2), 0);
    assert_int_equal(wv_discovery_seed(d, p3), WV_ERR_LIMIT);
    /* Started and closed at once: the close must not wait for the broker. */
    assert_int_equal(wv_discovery_start(d), 0);
    assert_int_equal(wv_discovery_start(d), WV_ERR_INVAL);
    close_and_drain(d, &f);
    free(p1);
    free(p2);
    free(p3);
}

/* A signed message verifies; any change to it, or a signature moved to
 * another key, does not. The rotation proof binds site and new key. */
static void signatures_bind_every_field(void **state) {
    char *text = announcement("siteAlpha7", 5, "webAppQx");
    wv_msg m, c;
    assert_int_equal(wv_msg_parse(text, strlen(text), &m), 0);
    assert_int_equal(wv_msg_verify(&m), WV_ERR_NOTFOUND);
    assert_int_equal(wv_msg_sign(&m, ID), 0);
    assert_int_equal(wv_msg_verify(&m), 0);
    char *json = wv_msg_encode(&m);
    assert_int_equal(wv_msg_parse(json, strlen(json), &c), 0); /* survives the wire */
    assert_int_equal(wv_msg_verify(&c), 0);
    c.seq++;
    assert_int_equal(wv_msg_verify(&c), WV_ERR_AUTH);
    c.seq--;
    c.fingerprint[0] = c.fingerprint[0] == 'a' ? 'b' : 'a';
    assert_int_equal(wv_msg_verify(&c), WV_ERR_AUTH);
    wv_msg_dispose(&c);
    wv_msg_copy(&c, &m);
    uint8_t pub[WV_PUBKEY_LEN];
    assert_int_equal(wv_identity_public_key(ID2, pub), 0);
    wv_hex(pub, sizeof pub, c.key); /* another key claims the signature */
    assert_int_equal(wv_msg_verify(&c), WV_ERR_AUTH);
    wv_msg_dispose(&c);

    char newkey[WV_PUBKEY_HEX_LEN + 1], oldkey[WV_PUBKEY_HEX_LEN + 1], sig[WV_SIG_HEX_LEN + 1];
    wv_hex(pub, sizeof pub, newkey);
    assert_int_equal(wv_identity_public_key(ID, pub), 0);
    wv_hex(pub, sizeof pub, oldkey);
    assert_int_equal(wv_rotation_sign(ID, "siteAlpha7", newkey, sig), 0);
    assert_int_equal(wv_rotation_verify(oldkey, "siteAlpha7", newkey, sig), 0);
    assert_int_equal(wv_rotation_verify(oldkey, "siteAlpha8", newkey, sig), WV_ERR_AUTH);
    assert_int_equal(wv_rotation_verify(newkey, "siteAlpha7", newkey, sig), WV_ERR_AUTH);
    /* Malformed signature fields are refused by the parser. */
    char *bad = wv_asprintf("%.*s,\"sig\":\"xyz\"}", (int)strlen(json) - 1, json);
    assert_int_equal(wv_msg_parse(bad, strlen(bad), &c), WV_ERR_PROTO);
    free(bad);
    free(json);
    free(text);
    wv_msg_dispose(&m);
}

int main(void) {
    assert_int_equal(wv_identity_generate("t", &ID), 0);
    assert_int_equal(wv_identity_generate("t2", &ID2), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signatures_bind_every_field),
        cmocka_unit_test(bad_options_refused),
        cmocka_unit_test(seed_persist_forget),
        cmocka_unit_test(peer_table_is_bounded),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wv_identity_free(ID);
    wv_identity_free(ID2);
    return rc;
}
