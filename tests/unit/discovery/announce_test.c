
#include "wvunit.h"

#include "wv/base.h"
#include "wv/discovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INST "0123456789abcdef0123456789abcdef"
#define FP "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* An announcement by site (instance INST, fingerprint FP), nothing in it yet. */
static wv_msg announcement(const char *site, uint64_t seq, int64_t ts) {
    wv_msg m = {.type = WV_MSG_ANNOUNCE, .seq = seq, .ts = ts};
    strcpy(m.site, site);
    strcpy(m.instance, INST);
    strcpy(m.fingerprint, FP);
    return m;
}

static int parse(const char *s, wv_msg *m) {
    return wv_msg_parse(s, strlen(s), m);
}

static void announce_round_trip(void **state) {
    wv_msg m = announcement("siteAlpha7", 42, 1700000000123);
    assert_int_equal(wv_msg_add_socket(&m, "203.0.113.5", 4433, false), 0);
    assert_int_equal(wv_msg_add_socket(&m, "2001:db8::1", 443, true), 0);
    assert_int_equal(wv_msg_add_socket(&m, "vps.example.org", 1, false), 0);
    assert_int_equal(wv_msg_add_app(&m, "webAppQx"), 0);
    assert_int_equal(wv_msg_add_app(&m, "a.b_c-d"), 0);
    char *s = wv_msg_encode(&m);
    assert_non_null(s);
    wv_msg p;
    assert_int_equal(parse(s, &p), 0);
    assert_int_equal(p.type, WV_MSG_ANNOUNCE);
    assert_string_equal(p.site, "siteAlpha7");
    assert_int_equal(p.seq, 42);
    assert_int_equal(p.ts, 1700000000123);
    assert_int_equal(p.nsockets, 3);
    assert_string_equal(p.sockets[1].address, "2001:db8::1");
    assert_int_equal(p.sockets[1].port, 443);
    assert_true(p.sockets[1].detected);
    assert_int_equal(p.napps, 2);
    assert_string_equal(p.apps[0], "webAppQx");
    assert_string_equal(p.fingerprint, FP);
    wv_msg c;
    wv_msg_copy(&c, &p);
    char *s2 = wv_msg_encode(&c);
    assert_string_equal(s, s2);
    free(s);
    free(s2);
    wv_msg_dispose(&c);
    wv_msg_dispose(&p);
    wv_msg_dispose(&m);
}

static void other_types_round_trip(void **state) {
    const char *ok[] = {
        "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"" INST "\",\"seq\":3,\"ts\":5}",
        "{\"type\":\"sockinfo-request\",\"from\":\"s1\",\"to\":\"s2\",\"instance\":\"" INST
        "\",\"seq\":0,\"ts\":5}",
        "{\"type\":\"sockinfo-reply\",\"site\":\"s2\",\"to\":\"s1\",\"instance\":\"" INST
        "\",\"seq\":9,\"ts\":5,\"sockets\":[],\"apps\":[],\"fingerprint\":\"" FP "\"}",
        "{\"type\":\"punch-request\",\"from\":\"s1\",\"to\":\"s2\",\"instance\":\"" INST
        "\",\"seq\":4,\"ts\":5}",
    };
    enum wv_msg_type types[] = {WV_MSG_OFFLINE, WV_MSG_SOCKINFO_REQUEST, WV_MSG_SOCKINFO_REPLY,
                                WV_MSG_PUNCH_REQUEST};
    for (size_t i = 0; i < 4; i++) {
        wv_msg m;
        assert_int_equal(parse(ok[i], &m), 0);
        assert_int_equal(m.type, types[i]);
        assert_string_equal(m.site, i == 2 ? "s2" : "s1");
        char *s = wv_msg_encode(&m);
        assert_non_null(s);
        wv_msg m2;
        assert_int_equal(parse(s, &m2), 0);
        assert_string_equal(m2.to, m.to);
        wv_msg_dispose(&m2);
        wv_msg_dispose(&m);
        free(s);
    }
}

/* The candidates of a nat-traversal socket: kind and group travel together. */
static void candidates_round_trip(void **state) {
    wv_msg m = announcement("natSite", 1, 2);
    assert_int_equal(wv_msg_add_socket(&m, "198.51.100.7", 25890, false), 0);
    assert_int_equal(wv_msg_add_candidate(&m, "10.0.0.2", 26098, WV_CAND_HOST, 0), 0);
    assert_int_equal(wv_msg_add_candidate(&m, "203.0.113.9", 40001, WV_CAND_STUN, 0), 0);
    assert_int_equal(wv_msg_add_candidate(&m, "203.0.113.9", 26098, WV_CAND_MAPPED, 1), 0);
    assert_int_equal(wv_msg_add_candidate(&m, "203.0.113.9", 1, WV_CAND_NONE, 0), WV_ERR_INVAL);
    assert_int_equal(wv_msg_add_candidate(&m, "203.0.113.9", 1, WV_CAND_HOST, 64), WV_ERR_INVAL);
    char *s = wv_msg_encode(&m);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"kind\":\"stun\",\"group\":0"));
    wv_msg p;
    assert_int_equal(parse(s, &p), 0);
    assert_int_equal(p.nsockets, 4);
    assert_int_equal(p.sockets[0].kind, WV_CAND_NONE);
    assert_int_equal(p.sockets[1].kind, WV_CAND_HOST);
    assert_false(p.sockets[1].detected);
    assert_int_equal(p.sockets[2].kind, WV_CAND_STUN);
    assert_true(p.sockets[2].detected);
    assert_int_equal(p.sockets[3].kind, WV_CAND_MAPPED);
    assert_int_equal(p.sockets[3].group, 1);
    free(s);
    wv_msg_dispose(&p);
    wv_msg_dispose(&m);
}

/* Every one of these must be refused, without leaking (ASan runs). */
static void malformed_refused(void **state) {
#define A(body)                                                                                    \
    "{\"type\":\"announce\",\"site\":\"s1\",\"instance\":\"" INST "\",\"seq\":1,\"ts\":2," body "}"
#define SOCK(s) A("\"sockets\":[" s "],\"apps\":[],\"fingerprint\":\"" FP "\"")
#define APPS(a) A("\"sockets\":[],\"apps\":[" a "],\"fingerprint\":\"" FP "\"")
    static char longname[300];
    memset(longname, 0, sizeof longname);
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "\"announce\"",
        "{}",
        "{\"type\":\"hello\",\"site\":\"s1\"}",
        "{\"type\":7}",
        /* missing body fields */
        A("\"sockets\":[],\"apps\":[]"),
        A("\"sockets\":[],\"fingerprint\":\"" FP "\""),
        A("\"apps\":[],\"fingerprint\":\"" FP "\""),
        /* candidates: kind and group both, known kind, group 0..63 */
        SOCK("{\"address\":\"10.0.0.1\",\"port\":1,\"protocol\":\"quic\",\"detected\":false,"
             "\"kind\":\"host\"}"),
        SOCK("{\"address\":\"10.0.0.1\",\"port\":1,\"protocol\":\"quic\",\"detected\":false,"
             "\"group\":0}"),
        SOCK("{\"address\":\"10.0.0.1\",\"port\":1,\"protocol\":\"quic\",\"detected\":false,"
             "\"kind\":\"relay\",\"group\":0}"),
        SOCK("{\"address\":\"10.0.0.1\",\"port\":1,\"protocol\":\"quic\",\"detected\":false,"
             "\"kind\":\"host\",\"group\":64}"),
        SOCK("{\"address\":\"10.0.0.1\",\"port\":1,\"protocol\":\"quic\",\"detected\":false,"
             "\"kind\":\"host\",\"group\":\"0\"}"),
        /* unknown and duplicate fields */
        A("\"sockets\":[],\"apps\":[],\"fingerprint\":\"" FP "\",\"extra\":1"),
        A("\"sockets\":[],\"apps\":[],\"fingerprint\":\"" FP "\",\"seq\":2"),
        /* wrong types */
        "{\"type\":\"offline\",\"site\":1,\"instance\":\"" INST "\",\"seq\":3,\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"" INST "\",\"seq\":\"3\",\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"" INST "\",\"seq\":3.5,\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"" INST "\",\"seq\":-1,\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"" INST "\",\"seq\":3,\"ts\":null}",
        "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"" INST "\",\"seq\":3,\"ts\":5,"
        "\"apps\":[]}",
        /* bad instance / fingerprint / names */
        "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"XYZ\",\"seq\":3,\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"s1\",\"instance\":\"0123456789ABCDEF0123456789ABCDEF\","
        "\"seq\":3,\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"-s1\",\"instance\":\"" INST "\",\"seq\":3,\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"s 1\",\"instance\":\"" INST "\",\"seq\":3,\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"\",\"instance\":\"" INST "\",\"seq\":3,\"ts\":5}",
        "{\"type\":\"offline\",\"site\":\"s\\u00001\",\"instance\":\"" INST
        "\",\"seq\":3,\"ts\":5}",
        A("\"sockets\":[],\"apps\":[],\"fingerprint\":\"abc\""),
        APPS("\"ok\",\"bad/name\""),
        APPS("\"a\\u0000b\""),
        APPS("1"),
        APPS("\"\""),
        /* sockets */
        SOCK("{\"address\":\"1.2.3.4\",\"port\":0,\"protocol\":\"quic\",\"detected\":false}"),
        SOCK("{\"address\":\"1.2.3.4\",\"port\":65536,\"protocol\":\"quic\",\"detected\":false}"),
        SOCK("{\"address\":\"1.2.3.4\",\"port\":1,\"protocol\":\"tcp\",\"detected\":false}"),
        SOCK("{\"address\":\"1.2.3.4\",\"port\":1,\"protocol\":\"quic\",\"detected\":0}"),
        SOCK("{\"address\":\"1.2.3.4\",\"port\":1,\"protocol\":\"quic\"}"),
        SOCK("{\"address\":\"bad host!\",\"port\":1,\"protocol\":\"quic\",\"detected\":false}"),
        SOCK("{\"address\":\"-a.b\",\"port\":1,\"protocol\":\"quic\",\"detected\":false}"),
        SOCK("{\"address\":\"\",\"port\":1,\"protocol\":\"quic\",\"detected\":false}"),
        SOCK("{\"address\":\"1.2.3.4\",\"port\":1,\"protocol\":\"quic\",\"detected\":false,"
             "\"x\":1}"),
        SOCK("\"1.2.3.4:5\""),
        /* request/reply specifics */
        "{\"type\":\"sockinfo-request\",\"site\":\"s1\",\"to\":\"s2\",\"instance\":\"" INST
        "\",\"seq\":0,\"ts\":5}",
        "{\"type\":\"sockinfo-request\",\"from\":\"s1\",\"instance\":\"" INST
        "\",\"seq\":0,\"ts\":5}",
        "{\"type\":\"sockinfo-reply\",\"site\":\"s2\",\"instance\":\"" INST
        "\",\"seq\":9,\"ts\":5,\"sockets\":[],\"apps\":[],\"fingerprint\":\"" FP "\"}",
    };
    for (size_t i = 0; i < WV_COUNTOF(bad); i++) {
        wv_msg m;
        if (parse(bad[i], &m) != WV_ERR_PROTO)
            fail_msg("accepted case %zu: %s", i, bad[i]);
        assert_null(m.apps);
        assert_null(m.sockets);
    }
    /* Trailing garbage and truncation. */
    wv_msg m;
    const char *good = APPS("\"x\"");
    assert_int_equal(parse(good, &m), 0);
    wv_msg_dispose(&m);
    for (size_t n = 0; n < strlen(good); n++)
        assert_int_equal(wv_msg_parse(good, n, &m), WV_ERR_PROTO);
}

static void bounds_enforced(void **state) {
    wv_msg m = {.type = WV_MSG_ANNOUNCE};
    char name[300];
    memset(name, 'a', sizeof name);
    name[WV_NAME_MAX] = 0;
    assert_int_equal(wv_msg_add_app(&m, name), 0);
    name[WV_NAME_MAX] = 'a';
    name[WV_NAME_MAX + 1] = 0;
    assert_int_equal(wv_msg_add_app(&m, name), WV_ERR_INVAL);
    wv_msg_dispose(&m); /* zeroes the whole struct, type included */
    m.type = WV_MSG_ANNOUNCE;
    char app[16];
    for (int i = 0; i < WV_ANNOUNCE_MAX_APPS; i++) {
        snprintf(app, sizeof app, "app%d", i);
        assert_int_equal(wv_msg_add_app(&m, app), 0);
    }
    assert_int_equal(wv_msg_add_app(&m, "onemore"), WV_ERR_LIMIT);
    for (int i = 0; i < WV_ANNOUNCE_MAX_SOCKETS; i++)
        assert_int_equal(wv_msg_add_socket(&m, "198.51.100.1", (uint16_t)(i + 1), false), 0);
    assert_int_equal(wv_msg_add_socket(&m, "198.51.100.1", 9999, false), WV_ERR_LIMIT);
    assert_int_equal(wv_msg_add_socket(&m, "198.51.100.1", 0, false), WV_ERR_INVAL);
    strcpy(m.site, "s1");
    strcpy(m.instance, INST);
    strcpy(m.fingerprint, FP);
    char *s = wv_msg_encode(&m);
    assert_non_null(s);
    wv_msg p;
    assert_int_equal(parse(s, &p), 0);
    assert_int_equal(p.napps, WV_ANNOUNCE_MAX_APPS);
    wv_msg_dispose(&p);
    free(s);
    /* One app too many on the wire. */
    m.apps = realloc(m.apps, (m.napps + 1) * sizeof *m.apps);
    m.apps[m.napps++] = strdup("extra");
    assert_null(wv_msg_encode(&m));
    wv_msg_dispose(&m);
    /* Invalid structs do not encode. */
    wv_msg bad = {.type = WV_MSG_OFFLINE};
    strcpy(bad.site, "s1");
    assert_null(wv_msg_encode(&bad)); /* no instance */
}

static void newer_rules(void **state) {
    wv_msg held = {.seq = 5, .ts = 1000}, c = {0};
    strcpy(held.instance, INST);
    strcpy(c.instance, INST);
    c.seq = 5;
    c.ts = 2000;
    assert_false(wv_msg_newer(&held, &c)); /* same instance, same seq */
    c.seq = 4;
    assert_false(wv_msg_newer(&held, &c));
    c.seq = 6;
    c.ts = 1; /* same instance: ts does not matter */
    assert_true(wv_msg_newer(&held, &c));
    strcpy(c.instance, "ffffffffffffffffffffffffffffffff");
    c.seq = 100;
    c.ts = 1000; /* other instance: ts must be newer */
    assert_false(wv_msg_newer(&held, &c));
    c.ts = 1001;
    c.seq = 0;
    assert_true(wv_msg_newer(&held, &c));
}

static void replay_window(void **state) {
    wv_replay *r = wv_replay_new(3, 60000);
    int64_t now = 10000000;
    assert_int_equal(wv_replay_check(r, INST, 1, now, now), 0);
    assert_int_equal(wv_replay_check(r, INST, 1, now, now), WV_ERR_PROTO); /* seen */
    assert_int_equal(wv_replay_check(r, INST, 2, now - 60000, now), 0);    /* edge ok */
    assert_int_equal(wv_replay_check(r, INST, 3, now - 60001, now), WV_ERR_PROTO);
    assert_int_equal(wv_replay_check(r, INST, 4, now + 60001, now), WV_ERR_PROTO);
    assert_int_equal(wv_replay_check(r, "ffffffffffffffffffffffffffffffff", 1, now, now), 0);
    /* Full (3): the oldest entry (INST,1) is evicted by the next one. */
    assert_int_equal(wv_replay_check(r, INST, 5, now, now), 0);
    assert_int_equal(wv_replay_check(r, INST, 2, now, now), WV_ERR_PROTO);
    assert_int_equal(wv_replay_check(r, INST, 1, now, now), 0);
    wv_replay_free(r);
}

/* The name rule itself is model's (validate_test's names). */
static void instances(void **state) {
    char inst[WV_INSTANCE_HEX_LEN + 1], inst2[WV_INSTANCE_HEX_LEN + 1];
    assert_int_equal(wv_msg_new_instance(inst), 0);
    assert_int_equal(wv_msg_new_instance(inst2), 0);
    assert_int_equal(strlen(inst), WV_INSTANCE_HEX_LEN);
    assert_string_not_equal(inst, inst2);
}

/* A poor man's fuzzer until tests/fuzz exists: random byte flips,
 * truncations and splices of a valid announcement must parse or be refused,
 * never crash or leak (this runs under ASan/UBSan in CI). */
static void random_mutations_never_crash(void **state) {
    wv_msg m = announcement("siteAlpha7", 7, 99);
    wv_msg_add_socket(&m, "2001:db8::7", 4433, true);
    wv_msg_add_app(&m, "webAppQx");
    char *good = wv_msg_encode(&m);
    wv_msg_dispose(&m);
    size_t n = strlen(good);
    char *buf = malloc(2 * n + 1);
    unsigned seed = 12345;
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        memcpy(buf, good, n + 1);
        size_t len = n;
        int edits = 1 + (int)(rand_r(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand_r(&seed) % len;
            switch (rand_r(&seed) % 3) {
            case 0:
                buf[at] = (char)(rand_r(&seed) & 0xff);
                break;
            case 1:
                len = at + 1;
                break;
            case 2: /* duplicate a slice: nested or repeated fields */
                if (len + (len - at) <= 2 * n) {
                    memcpy(buf + len, buf + at, len - at);
                    len += len - at;
                }
                break;
            }
        }
        wv_msg out;
        if (wv_msg_parse(buf, len, &out) == 0) {
            accepted++;
            char *again = wv_msg_encode(&out); /* what parses must re-encode */
            assert_non_null(again);
            free(again);
            wv_msg_dispose(&out);
        }
    }
    assert_true(accepted < 20000);
    free(buf);
    free(good);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(announce_round_trip),
    cmocka_unit_test(other_types_round_trip),
    cmocka_unit_test(candidates_round_trip),
    cmocka_unit_test(malformed_refused),
    cmocka_unit_test(bounds_enforced),
    cmocka_unit_test(newer_rules),
    cmocka_unit_test(replay_window),
    cmocka_unit_test(instances),
    cmocka_unit_test(random_mutations_never_crash),
};
WVU_MAIN(tests)
