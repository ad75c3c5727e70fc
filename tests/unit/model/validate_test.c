#include <jansson.h>

#include "wvunit.h"

#include "wv/base.h"
#include "wv/model.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Validates obj (kind or document/site) and checks the error field and
 * that message contains want. */
static void expect_bad(int kind, const char *text, const char *field, const char *want) {
    json_t *v = J(text);
    wv_verr err;
    int rc;
    if (kind == -1)
        rc = wv_validate_document(v, true, &err);
    else if (kind == WV_KIND_SITE)
        rc = wv_validate_site(v, true, &err);
    else
        rc = wv_validate_object(kind, v, &err);
    if (rc != WV_ERR_INVAL)
        fail_msg("accepted: %s", text);
    if (strcmp(err.field, field) != 0)
        fail_msg("field \"%s\" != \"%s\" (%s) for %s", err.field, field, err.message, text);
    if (!strstr(err.message, want))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, want);
    json_decref(v);
}

/* Validates, compares with the expected normalized form, and checks that
 * normalizing again is a no-op. */
static void expect_good(int kind, const char *text, const char *normalized) {
    json_t *v = J(text);
    wv_verr err;
    int rc = kind == WV_KIND_SITE ? wv_validate_site(v, true, &err)
             : kind == -1         ? wv_validate_document(v, true, &err)
                                  : wv_validate_object(kind, v, &err);
    if (rc != 0)
        fail_msg("refused %s: %s: %s", text, err.field, err.message);
    if (normalized) {
        json_t *want = J(normalized);
        if (!json_equal(v, want)) {
            char *got = json_dumps(v, JSON_SORT_KEYS);
            fail_msg("normalized to %s", got);
        }
        json_decref(want);
    }
    json_t *again = json_deep_copy(v);
    rc = kind == WV_KIND_SITE ? wv_validate_site(again, true, &err)
         : kind == -1         ? wv_validate_document(again, true, &err)
                              : wv_validate_object(kind, again, &err);
    assert_int_equal(rc, 0);
    assert_true(json_equal(v, again));
    json_decref(again);
    json_decref(v);
}

static void names(void **state) {
    assert_true(wv_valid_name("a"));
    assert_true(wv_valid_name("aws-afe87405-5201"));
    assert_true(wv_valid_name("0a._-"));
    assert_true(wv_valid_name("9a._-"));
    assert_false(wv_valid_name(""));
    assert_false(wv_valid_name("-a"));
    assert_false(wv_valid_name("_a"));
    assert_false(wv_valid_name(".a"));
    assert_false(wv_valid_name("é"));
    assert_false(wv_valid_name(NULL));
    assert_false(wv_valid_name("a b"));
    assert_false(wv_valid_name("a/b"));
    char big[300];
    memset(big, 'a', sizeof(big));
    big[255] = '\0';
    assert_true(wv_valid_name(big));
    big[255] = 'a';
    big[256] = '\0';
    assert_false(wv_valid_name(big));
}

static void parsers(void **state) {
    struct wv_app_socket s;
    char why[128];
    assert_int_equal(wv_parse_app_socket("tcp:127.0.0.1:5201", &s, why), 0);
    assert_false(s.is_unix);
    assert_int_equal(s.addr.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&s.addr)->sin_port), 5201);
    assert_int_equal(wv_parse_app_socket("[::1]:80", &s, why), 0);
    assert_int_equal(s.addr.ss_family, AF_INET6);
    assert_int_equal(wv_parse_app_socket("unix:/run/x.sock", &s, why), 0);
    assert_true(s.is_unix);
    assert_string_equal(s.path, "/run/x.sock");
    assert_int_equal(wv_parse_app_socket("unix:rel", &s, why), WV_ERR_INVAL);
    assert_non_null(strstr(why, "absolute"));
    char longp[200] = "unix:/";
    memset(longp + 6, 'x', 107);
    assert_int_equal(wv_parse_app_socket(longp, &s, why), WV_ERR_INVAL);
    longp[5 + 107] = '\0';
    assert_int_equal(wv_parse_app_socket(longp, &s, why), 0);
    assert_int_equal(wv_parse_app_socket("tcp:127.0.0.1:0", &s, why), WV_ERR_INVAL);
    assert_int_equal(wv_parse_app_socket("tcp:127.0.0.1:65536", &s, why), WV_ERR_INVAL);
    assert_int_equal(wv_parse_app_socket("tcp:::1:80", &s, why), WV_ERR_INVAL);
    assert_int_equal(wv_parse_app_socket("tcp:host:80", &s, why), WV_ERR_INVAL);
    assert_int_equal(wv_parse_app_socket("127.0.0.1:+80", &s, why), WV_ERR_INVAL);
    assert_int_equal(wv_parse_app_socket("", &s, why), WV_ERR_INVAL);

    uint16_t lo, hi;
    assert_int_equal(wv_parse_port_range("5900", &lo, &hi), 0);
    assert_int_equal(lo, 5900);
    assert_int_equal(hi, 5900);
    assert_int_equal(wv_parse_port_range("5901-5990", &lo, &hi), 0);
    assert_int_equal(hi, 5990);
    assert_int_equal(wv_parse_port_range("5990-5901", &lo, &hi), WV_ERR_INVAL);
    assert_int_equal(wv_parse_port_range("0", &lo, &hi), WV_ERR_INVAL);
    assert_int_equal(wv_parse_port_range("1-65536", &lo, &hi), WV_ERR_INVAL);
    assert_int_equal(wv_parse_port_range("-5", &lo, &hi), WV_ERR_INVAL);
    assert_int_equal(wv_parse_port_range("a", &lo, &hi), WV_ERR_INVAL);

    struct wv_cidr c;
    struct sockaddr_storage ss;
    assert_int_equal(wv_parse_cidr("10.0.2.77/24", &c), 0);
    assert_int_equal(c.prefix, 24);
    assert_int_equal(c.addr[3], 0); /* host bits cleared */
    assert_int_equal(wv_parse_ip("10.0.2.123", 1, &ss), 0);
    assert_true(wv_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_int_equal(wv_parse_ip("10.0.3.1", 1, &ss), 0);
    assert_false(wv_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_int_equal(wv_parse_ip("::ffff:10.0.2.5", 1, &ss), 0);
    assert_true(wv_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_int_equal(wv_parse_cidr("2001:db8::/32", &c), 0);
    assert_int_equal(wv_parse_ip("2001:db8:1::1", 1, &ss), 0);
    assert_true(wv_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_int_equal(wv_parse_ip("2001:db9::1", 1, &ss), 0);
    assert_false(wv_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_int_equal(wv_parse_cidr("10.0.0.6", &c), 0);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(wv_parse_cidr("10.0.0.0/12", &c), 0);
    assert_int_equal(wv_parse_ip("10.15.255.255", 1, &ss), 0);
    assert_true(wv_cidr_contains(&c, (struct sockaddr *)&ss));
    assert_int_equal(wv_parse_cidr("10.0.0.0/33", &c), WV_ERR_INVAL);
    assert_int_equal(wv_parse_cidr("::/129", &c), WV_ERR_INVAL);
    assert_int_equal(wv_parse_cidr("::/0", &c), 0);
    assert_int_equal(wv_parse_cidr("10.0.0.0/", &c), WV_ERR_INVAL);
    assert_int_equal(wv_parse_cidr("10.0.0/8", &c), WV_ERR_INVAL);
    assert_int_equal(wv_parse_ip("1.2.3", 0, &ss), WV_ERR_INVAL);

    assert_int_equal(wv_parse_hostport("127.0.0.1:18080", &ss), 0);
    assert_int_equal(wv_parse_hostport("[::1]:0", &ss), 0);
    assert_int_equal(wv_parse_hostport("[::1]", &ss), WV_ERR_INVAL);
    assert_int_equal(wv_parse_hostport("localhost:80", &ss), WV_ERR_INVAL);
    assert_int_equal(wv_parse_hostport("127.0.0.1", &ss), WV_ERR_INVAL);
    /* The form names the family: brackets hold IPv6 only. */
    assert_int_equal(wv_parse_hostport("[192.0.2.1]:80", &ss), WV_ERR_INVAL);
    assert_int_equal(ss.ss_family, 0);
    assert_int_equal(wv_parse_hostport("[::ffff:192.0.2.1]:80", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);
    assert_int_equal(wv_parse_hostport("192.0.2.1:8080", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
}

static void sockets(void **state) {
    /* The seed's AWS socket: listen port and address completed. */
    expect_good(
        WV_KIND_SOCKET,
        "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"transportProtocol\":\"QUIC\","
        "\"publicAddress\":\"2406:da12:35a:3d02:1f43:11a1:abf2:2900\",\"publicPort\":25890}",
        "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"transportProtocol\":\"quic\","
        "\"publicAddress\":\"2406:da12:35a:3d02:1f43:11a1:abf2:2900\",\"publicPort\":25890,"
        "\"listenAddress\":\"\",\"listenPort\":25890}");
    /* publicAddress taken from listenAddress, publicPort from listenPort. */
    expect_good(
        WV_KIND_SOCKET,
        "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"::1\",\"listenPort\":7,"
        "\"status\":{\"x\":1}}",
        "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"transportProtocol\":\"quic\","
        "\"publicAddress\":\"::1\",\"publicPort\":7,\"listenAddress\":\"::1\",\"listenPort\":7}");
    expect_good(WV_KIND_SOCKET,
                "{\"name\":\"pf\",\"mode\":\"port-forwarding\",\"publicAddress\":\"198.51.100.1\","
                "\"publicPort\":36092,\"listenPort\":26098}",
                NULL);
    expect_good(
        WV_KIND_SOCKET,
        "{\"name\":\"h\",\"mode\":\"port-forwarding\",\"publicAddress\":\"autoHttpDetect\","
        "\"publicPort\":1,\"listenPort\":2,\"httpDetector\":{\"url\":\"http://198.51.100.1/ip\"}}",
        "{\"name\":\"h\",\"mode\":\"port-forwarding\",\"transportProtocol\":\"quic\","
        "\"publicAddress\":\"autoHttpDetect\",\"publicPort\":1,\"listenAddress\":\"\","
        "\"listenPort\":2,"
        "\"httpDetector\":{\"url\":\"http://198.51.100.1/ip\",\"interval\":60}}");
    expect_good(
        WV_KIND_SOCKET,
        "{\"name\":\"st\",\"mode\":\"dedicated-address\",\"publicAddress\":\"autoStunDetect\","
        "\"listenPort\":2,\"stunServers\":[\"stun.example.org:3478\",\"[2001:db8::1]:3478\"]}",
        NULL);

    /* nat-traversal (issue 20): no public address; STUN servers optional,
     * keepAlive optional (1..25 s) and only there. */
    expect_good(WV_KIND_SOCKET,
                "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"transportProtocol\":\"quic\","
                "\"listenPort\":26098,\"stunServers\":[\"203.0.113.1:3478\"],\"keepAlive\":15}",
                "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"transportProtocol\":\"quic\","
                "\"publicAddress\":\"\",\"publicPort\":0,\"listenAddress\":\"\","
                "\"listenPort\":26098,\"stunServers\":[\"203.0.113.1:3478\"],\"keepAlive\":15}");
    expect_good(WV_KIND_SOCKET, "{\"name\":\"n\",\"mode\":\"nat-traversal\"}", NULL);
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"publicAddress\":\"198.51.100.1\"}",
               "publicAddress", "not allowed for nat-traversal");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"publicAddress\":\"autoStunDetect\","
               "\"stunServers\":[\"203.0.113.1:3478\"]}",
               "publicAddress", "not allowed for nat-traversal");
    expect_bad(WV_KIND_SOCKET, "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"publicPort\":5}",
               "publicPort", "not allowed for nat-traversal");
    expect_bad(WV_KIND_SOCKET, "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"keepAlive\":30}",
               "keepAlive", "out of range (1..25)");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"stunServers\":[\"nope\"]}",
               "stunServers[0]", "invalid server");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"d\",\"mode\":\"dedicated-address\",\"listenPort\":9,"
               "\"keepAlive\":5}",
               "keepAlive", "only allowed when mode is nat-traversal");
    /* portMapping: auto, upnp or natpmp, nat-traversal only; a lifetime with it. */
    expect_good(WV_KIND_SOCKET,
                "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"portMapping\":\"upnp\","
                "\"portMappingLifetime\":60}",
                NULL);
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"portMapping\":\"pcp\"}", "portMapping",
               "unsupported value \"pcp\" (auto, upnp, natpmp)");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"portMappingLifetime\":60}",
               "portMappingLifetime", "only allowed when portMapping is set");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"n\",\"mode\":\"nat-traversal\",\"portMapping\":\"auto\","
               "\"portMappingLifetime\":5}",
               "portMappingLifetime", "out of range (30..86400)");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"d\",\"mode\":\"dedicated-address\",\"listenPort\":9,"
               "\"portMapping\":\"auto\"}",
               "portMapping", "only allowed when mode is nat-traversal");

    /* maxUdpPayload: optional (absent stays absent), 1200..65527. */
    expect_good(WV_KIND_SOCKET,
                "{\"name\":\"j\",\"mode\":\"dedicated-address\",\"listenAddress\":\"127.0.0.1\","
                "\"listenPort\":9,\"maxUdpPayload\":16000}",
                "{\"name\":\"j\",\"mode\":\"dedicated-address\",\"transportProtocol\":\"quic\","
                "\"publicAddress\":\"127.0.0.1\",\"publicPort\":9,\"listenAddress\":\"127.0.0.1\","
                "\"listenPort\":9,\"maxUdpPayload\":16000}");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"j\",\"mode\":\"dedicated-address\",\"listenAddress\":\"127.0.0.1\","
               "\"listenPort\":9,\"maxUdpPayload\":1000}",
               "maxUdpPayload", "out of range (1200..65527)");
    expect_bad(WV_KIND_SOCKET, "{\"name\":\"s\",\"mode\":\"bogus\",\"listenPort\":1}", "mode",
               "unsupported value \"bogus\" (dedicated-address, port-forwarding, nat-traversal)");
    expect_bad(WV_KIND_SOCKET, "{\"name\":\"s\",\"listenPort\":1}", "mode", "required");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"port-forwarding\",\"transportProtocol\":\"tcp\"}",
               "transportProtocol", "unsupported value \"tcp\" (quic)");
    expect_bad(WV_KIND_SOCKET, "{\"mode\":\"dedicated-address\"}", "name", "required");
    expect_bad(WV_KIND_SOCKET, "{\"name\":\"-x\",\"mode\":\"dedicated-address\"}", "name",
               "invalid name");
    expect_bad(WV_KIND_SOCKET, "{\"name\":7,\"mode\":\"dedicated-address\"}", "name",
               "expected a string");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenPort\":1,\"bogusKey\":1}",
               "bogusKey", "unknown field");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"::1\","
               "\"listenPort\":65536}",
               "listenPort", "out of range (0..65535)");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"::1\","
               "\"listenPort\":-1}",
               "listenPort", "out of range");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"::1\","
               "\"listenPort\":1.5}",
               "listenPort", "expected an integer");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"::1\","
               "\"listenPort\":\"80\"}",
               "listenPort", "expected an integer");
    expect_bad(WV_KIND_SOCKET, "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenPort\":1}",
               "publicAddress", "required (or listenAddress)");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"::1\"}",
               "listenPort", "required");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"::1\","
               "\"listenPort\":1,\"publicPort\":2}",
               "publicPort", "must equal listenPort");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"1.2.3\","
               "\"listenPort\":1}",
               "listenAddress", "invalid IP address");
    expect_bad(
        WV_KIND_SOCKET,
        "{\"name\":\"s\",\"mode\":\"dedicated-address\",\"listenAddress\":\"autoHttpDetect\","
        "\"listenPort\":1}",
        "listenAddress", "invalid IP address");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"s\",\"mode\":\"port-forwarding\",\"publicPort\":1,\"listenPort\":2}",
               "publicAddress", "required for port-forwarding");
    expect_bad(
        WV_KIND_SOCKET,
        "{\"name\":\"s\",\"mode\":\"port-forwarding\",\"publicAddress\":\"::1\",\"listenPort\":2}",
        "publicPort", "required for port-forwarding");
    expect_bad(
        WV_KIND_SOCKET,
        "{\"name\":\"s\",\"mode\":\"port-forwarding\",\"publicAddress\":\"::1\",\"publicPort\":2}",
        "listenPort", "required for port-forwarding");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"h\",\"mode\":\"port-forwarding\",\"publicAddress\":\"autoHttpDetect\","
               "\"publicPort\":1,\"listenPort\":2}",
               "httpDetector", "required");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"h\",\"mode\":\"port-forwarding\",\"publicAddress\":\"autoHttpDetect\","
               "\"publicPort\":1,\"listenPort\":2,\"httpDetector\":{\"url\":\"ftp://x/\"}}",
               "httpDetector.url", "unsupported URL scheme");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"h\",\"mode\":\"port-forwarding\",\"publicAddress\":\"autoHttpDetect\","
               "\"publicPort\":1,\"listenPort\":2,\"httpDetector\":{\"url\":\"http://x/"
               "\",\"interval\":1}}",
               "httpDetector.interval", "out of range (5..86400)");
    expect_bad(WV_KIND_SOCKET,
               "{\"name\":\"h\",\"mode\":\"port-forwarding\",\"publicAddress\":\"::1\","
               "\"publicPort\":1,\"listenPort\":2,\"httpDetector\":{\"url\":\"http://x/\"}}",
               "httpDetector", "only allowed when publicAddress is autoHttpDetect");
    expect_bad(
        WV_KIND_SOCKET,
        "{\"name\":\"st\",\"mode\":\"dedicated-address\",\"publicAddress\":\"autoStunDetect\","
        "\"listenPort\":2,\"stunServers\":[]}",
        "stunServers", "at least 1");
    expect_bad(
        WV_KIND_SOCKET,
        "{\"name\":\"st\",\"mode\":\"dedicated-address\",\"publicAddress\":\"autoStunDetect\","
        "\"listenPort\":2,\"stunServers\":[\"a:1\",\"b c:1\"]}",
        "stunServers[1]", "invalid server");
    expect_bad(WV_KIND_SOCKET, "[]", "", "expected an object");
}

static void exposed_apps(void **state) {
    expect_good(WV_KIND_EXPOSED_APP, "{\"name\":\"web\",\"appSocket\":\"127.0.0.1:5201\"}",
                "{\"name\":\"web\",\"mode\":\"single\",\"appSocket\":\"tcp:127.0.0.1:5201\"}");
    expect_good(WV_KIND_EXPOSED_APP, "{\"name\":\"u\",\"appSocket\":\"unix:/run/a.sock\"}", NULL);
    expect_good(WV_KIND_EXPOSED_APP, "{\"name\":\"v6\",\"appSocket\":\"[::1]:22\"}",
                "{\"name\":\"v6\",\"mode\":\"single\",\"appSocket\":\"tcp:[::1]:22\"}");
    expect_good(WV_KIND_EXPOSED_APP,
                "{\"name\":\"r\",\"mode\":\"range\",\"portRange\":[5900,\"5901-5990\"],"
                "\"addressRange\":[\"10.0.0.6\",\"10.0.2.0/24\",\"::1\"]}",
                "{\"name\":\"r\",\"mode\":\"range\",\"portRange\":[\"5900\",\"5901-5990\"],"
                "\"addressRange\":[\"10.0.0.6\",\"10.0.2.0/24\",\"::1\"]}");

    expect_bad(WV_KIND_EXPOSED_APP, "{\"name\":\"web\"}", "appSocket", "required");
    expect_bad(WV_KIND_EXPOSED_APP, "{\"name\":\"web\",\"appSocket\":\"127.0.0.1\"}", "appSocket",
               "invalid socket");
    expect_bad(WV_KIND_EXPOSED_APP, "{\"name\":\"web\",\"appSocket\":\"unix:x\"}", "appSocket",
               "absolute");
    expect_bad(WV_KIND_EXPOSED_APP,
               "{\"name\":\"web\",\"mode\":\"Single\",\"appSocket\":\"unix:/x\"}", "mode",
               "unsupported value \"Single\" (single, range)");
    expect_bad(WV_KIND_EXPOSED_APP,
               "{\"name\":\"w\",\"appSocket\":\"unix:/x\",\"portRange\":[\"1\"]}", "portRange",
               "only allowed when mode is range");
    expect_bad(WV_KIND_EXPOSED_APP, "{\"name\":\"r\",\"mode\":\"range\",\"appSocket\":\"unix:/x\"}",
               "appSocket", "only allowed when mode is single");
    expect_bad(WV_KIND_EXPOSED_APP,
               "{\"name\":\"r\",\"mode\":\"range\",\"addressRange\":[\"::1\"]}", "portRange",
               "required");
    expect_bad(WV_KIND_EXPOSED_APP,
               "{\"name\":\"r\",\"mode\":\"range\",\"portRange\":[\"1\"],"
               "\"addressRange\":[\"10.0.0.0/33\"]}",
               "addressRange[0]", "invalid address or CIDR");
    expect_bad(WV_KIND_EXPOSED_APP,
               "{\"name\":\"r\",\"mode\":\"range\",\"portRange\":[\"1\",70000],"
               "\"addressRange\":[\"::1\"]}",
               "portRange[1]", "out of range");
    expect_bad(WV_KIND_EXPOSED_APP,
               "{\"name\":\"r\",\"mode\":\"range\",\"portRange\":[\"9-1\"],"
               "\"addressRange\":[\"::1\"]}",
               "portRange[0]", "invalid port range");
    expect_bad(WV_KIND_EXPOSED_APP,
               "{\"name\":\"r\",\"mode\":\"range\",\"portRange\":[true],"
               "\"addressRange\":[\"::1\"]}",
               "portRange[0]", "expected a string or an integer");
    expect_bad(WV_KIND_EXPOSED_APP,
               "{\"name\":\"r\",\"mode\":\"range\",\"portRange\":\"1\","
               "\"addressRange\":[\"::1\"]}",
               "portRange", "expected an array");

    /* 257 entries: over the bound. */
    json_t *o = J("{\"name\":\"r\",\"mode\":\"range\",\"addressRange\":[\"::1\"]}");
    json_t *pr = json_array();
    for (int i = 0; i < 257; i++)
        json_array_append_new(pr, json_integer(i + 1));
    json_object_set_new(o, "portRange", pr);
    wv_verr err;
    assert_int_equal(wv_validate_object(WV_KIND_EXPOSED_APP, o, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "portRange");
    assert_non_null(strstr(err.message, "max 256"));
    json_array_remove(pr, 0);
    assert_int_equal(wv_validate_object(WV_KIND_EXPOSED_APP, o, &err), 0);
    json_decref(o);
}

static void remote_apps(void **state) {
    expect_good(WV_KIND_REMOTE_APP,
                "{\"name\":\"aws-x\",\"siteName\":\"aws\",\"appName\":\"afe87405-0f46\","
                "\"localSocket\":\"127.0.0.1:5201\","
                "\"appSocket\":\"\"}",
                "{\"name\":\"aws-x\",\"siteName\":\"aws\",\"appName\":\"afe87405-0f46\","
                "\"localSocket\":\"tcp:127.0.0.1:5201\"}");
    expect_good(
        WV_KIND_REMOTE_APP,
        "{\"name\":\"r\",\"siteName\":\"aws\",\"appName\":\"a\",\"localSocket\":\"unix:/tmp/a\","
        "\"appSocket\":\"10.0.2.123:25900\"}",
        "{\"name\":\"r\",\"siteName\":\"aws\",\"appName\":\"a\",\"localSocket\":\"unix:/tmp/a\","
        "\"appSocket\":\"tcp:10.0.2.123:25900\"}");
    expect_bad(WV_KIND_REMOTE_APP, "{\"name\":\"r\",\"appName\":\"a\",\"localSocket\":\"unix:/a\"}",
               "siteName", "required");
    expect_bad(
        WV_KIND_REMOTE_APP,
        "{\"name\":\"r\",\"siteName\":\"a b\",\"appName\":\"a\",\"localSocket\":\"unix:/a\"}",
        "siteName", "invalid name");
    expect_bad(WV_KIND_REMOTE_APP,
               "{\"name\":\"r\",\"siteName\":\"s\",\"localSocket\":\"unix:/a\"}", "appName",
               "required");
    expect_bad(WV_KIND_REMOTE_APP, "{\"name\":\"r\",\"siteName\":\"s\",\"appName\":\"a\"}",
               "localSocket", "required");
    expect_bad(WV_KIND_REMOTE_APP,
               "{\"name\":\"r\",\"siteName\":\"s\",\"appName\":\"a\",\"localSocket\":\"unix:/a\","
               "\"appSocket\":\"unix:/b\"}",
               "appSocket", "must be a tcp: address");
    expect_bad(WV_KIND_REMOTE_APP,
               "{\"name\":\"r\",\"siteName\":\"s\",\"appName\":\"a\",\"localSocket\":\"unix:/a\","
               "\"remoteAppId\":\"x\"}",
               "remoteAppId", "unknown field");
    expect_bad(WV_KIND_REMOTE_APP,
               "{\"name\":\"r\",\"siteName\":\"s\",\"appName\":\"a\",\"localSocket\":null}",
               "localSocket", "expected a string");
}

#define SITE_OK                                                                                    \
    "\"siteName\":\"local\",\"networkKey\":\"aA6wBHTYd%#dOPr8\","                                  \
    "\"messageChannel\":{\"brokers\":[\"mqtt://127.0.0.1:1883\"]}"

static void site(void **state) {
    expect_good(
        WV_KIND_SITE, "{" SITE_OK "}",
        "{\"siteName\":\"local\",\"networkKey\":\"aA6wBHTYd%#dOPr8\","
        "\"messageChannel\":{\"protocol\":\"mqtt\",\"brokers\":[\"mqtt://127.0.0.1:1883\"],"
        "\"topic\":\"\",\"username\":\"\",\"caFile\":\"\"},"
        "\"logger\":{\"level\":\"INFO\",\"file\":\"\",\"format\":\"text\"},"
        "\"restfulApi\":{\"enabled\":true,\"listenAddr\":\"127.0.0.1:18080\","
        "\"tls\":{\"enabled\":false,\"cert\":\"\",\"key\":\"\"},\"auth\":{\"basicAuth\":[]}}}");
    expect_good(
        WV_KIND_SITE,
        "{\"siteName\":\"s\",\"networkKeySet\":true,\"networkKey\":\"Str0ng-Network-Key\","
        "\"messageChannel\":{\"protocol\":\"MQTT\",\"brokers\":[\"mqtts://[2001:db8::1]:8883\","
        "\"ws://broker.example.org/mqtt\"],\"passwordSet\":false,\"password\":\"p\"},"
        "\"logger\":{\"level\":\"debug\",\"format\":\"JSON\"},"
        "\"restfulApi\":{\"listenAddr\":\"[::1]:0\",\"auth\":{\"basicAuth\":[{\"user\":\"admin@x\","
        "\"password\":\"12345678\"}]}}}",
        "{\"siteName\":\"s\",\"networkKey\":\"Str0ng-Network-Key\","
        "\"messageChannel\":{\"protocol\":\"mqtt\",\"brokers\":[\"mqtts://[2001:db8::1]:8883\","
        "\"ws://broker.example.org/"
        "mqtt\"],\"password\":\"p\",\"topic\":\"\",\"username\":\"\",\"caFile\":\"\"},"
        "\"logger\":{\"level\":\"DEBUG\",\"file\":\"\",\"format\":\"json\"},"
        "\"restfulApi\":{\"enabled\":true,\"listenAddr\":\"[::1]:0\","
        "\"tls\":{\"enabled\":false,\"cert\":\"\",\"key\":\"\"},"
        "\"auth\":{\"basicAuth\":[{\"user\":\"admin@x\",\"password\":\"12345678\"}]}}}");

    /* relay (issue 20): a boolean, false is the absent form; relay limits. */
    json_t *r = J("{" SITE_OK ",\"relay\":false,\"limits\":{\"relayPeers\":4,"
                  "\"relayBytesPerSecond\":5000000}}");
    wv_verr rerr;
    assert_int_equal(wv_validate_site(r, true, &rerr), 0);
    assert_null(json_object_get(r, "relay"));
    json_object_set_new(r, "relay", json_true());
    assert_int_equal(wv_validate_site(r, true, &rerr), 0);
    assert_true(json_is_true(json_object_get(r, "relay")));
    json_object_set_new(r, "relay", json_string("yes"));
    assert_int_equal(wv_validate_site(r, true, &rerr), WV_ERR_INVAL);
    assert_string_equal(rerr.field, "relay");
    json_decref(r);
    expect_bad(WV_KIND_SITE, "{" SITE_OK ",\"limits\":{\"relayPeers\":0}}", "limits.relayPeers",
               "out of range");

    /* Secrets may be absent only when the caller keeps stored ones. */
    json_t *s =
        J("{\"siteName\":\"local\",\"networkKeySet\":true,"
          "\"messageChannel\":{\"brokers\":[\"mqtt://h\"]},"
          "\"restfulApi\":{\"auth\":{\"basicAuth\":[{\"user\":\"a\",\"passwordSet\":true}]}}}");
    wv_verr err;
    assert_int_equal(wv_validate_site(s, false, &err), 0);
    assert_null(json_object_get(s, "networkKeySet"));
    assert_int_equal(wv_validate_site(s, true, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "networkKey");
    json_decref(s);

    expect_bad(WV_KIND_SITE,
               "{\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":[\"mqtt://h\"]}}",
               "siteName", "required");
    expect_bad(WV_KIND_SITE,
               "{\"siteName\":\"s\",\"networkKey\":\"1234567\",\"messageChannel\":{\"brokers\":["
               "\"mqtt://h\"]}}",
               "networkKey", "too short (min 8 bytes)");
    expect_bad(WV_KIND_SITE, "{\"siteName\":\"s\",\"networkKey\":\"12345678\"}", "messageChannel",
               "required");
    expect_bad(
        WV_KIND_SITE,
        "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":[]}}",
        "messageChannel.brokers", "at least 1");
    expect_bad(WV_KIND_SITE,
               "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":"
               "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}}",
               "messageChannel.brokers", "max 8");
    expect_bad(WV_KIND_SITE,
               "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":["
               "\"http://h\"]}}",
               "messageChannel.brokers[0]", "unsupported URL scheme");
    expect_bad(WV_KIND_SITE,
               "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":["
               "\"mqtt://:1\"]}}",
               "messageChannel.brokers[0]", "host required");
    expect_bad(WV_KIND_SITE,
               "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":["
               "\"mqtt://h:0\"]}}",
               "messageChannel.brokers[0]", "port out of range");
    expect_bad(WV_KIND_SITE,
               "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":["
               "\"mqtt://u:p@h\"]}}",
               "messageChannel.brokers[0]", "credentials");
    expect_bad(
        WV_KIND_SITE,
        "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"protocol\":\"amqp\","
        "\"brokers\":[\"mqtt://h\"]}}",
        "messageChannel.protocol", "unsupported value \"amqp\" (mqtt)");
    expect_bad(WV_KIND_SITE, "{" SITE_OK ",\"x\":1}", "x", "unknown field");
    expect_bad(WV_KIND_SITE,
               "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":["
               "\"mqtt://h\"],"
               "\"topic\":\"a/+/b\"}}",
               "messageChannel.topic", "'+'");
    expect_bad(WV_KIND_SITE,
               "{\"siteName\":\"s\",\"networkKey\":\"12345678\",\"messageChannel\":{\"brokers\":["
               "\"mqtt://h\"],"
               "\"mqtt\":{}}}",
               "messageChannel.mqtt", "unknown field");
    expect_bad(WV_KIND_SITE, "{" SITE_OK ",\"logger\":{\"level\":\"loud\"}}", "logger.level",
               "unsupported value \"loud\" (DEBUG, INFO, WARN, ERROR)");
    expect_bad(WV_KIND_SITE, "{" SITE_OK ",\"logger\":{\"format\":\"xml\"}}", "logger.format",
               "(text, json)");
    expect_bad(WV_KIND_SITE, "{" SITE_OK ",\"restfulApi\":{\"enabled\":1}}", "restfulApi.enabled",
               "expected a boolean");
    expect_bad(WV_KIND_SITE, "{" SITE_OK ",\"restfulApi\":{\"listenAddr\":\"localhost:80\"}}",
               "restfulApi.listenAddr", "invalid address");
    expect_bad(WV_KIND_SITE,
               "{" SITE_OK ",\"restfulApi\":{\"tls\":{\"enabled\":true,\"key\":\"/k\"}}}",
               "restfulApi.tls.cert", "required when tls is enabled");
    expect_bad(WV_KIND_SITE,
               "{" SITE_OK ",\"restfulApi\":{\"auth\":{\"basicAuth\":[{\"user\":\"a "
               "b\",\"password\":\"12345678\"}]}}}",
               "restfulApi.auth.basicAuth[0].user", "invalid user");
    expect_bad(
        WV_KIND_SITE,
        "{" SITE_OK
        ",\"restfulApi\":{\"auth\":{\"basicAuth\":[{\"user\":\"a\",\"password\":\"1234567\"}]}}}",
        "restfulApi.auth.basicAuth[0].password", "too short");
    expect_bad(
        WV_KIND_SITE,
        "{" SITE_OK
        ",\"restfulApi\":{\"auth\":{\"basicAuth\":[{\"user\":\"a\",\"password\":\"12345678\"},"
        "{\"user\":\"a\",\"password\":\"12345678\"}]}}}",
        "restfulApi.auth.basicAuth[1].user", "duplicate user");
    expect_bad(WV_KIND_SITE,
               "{" SITE_OK ",\"restfulApi\":{\"auth\":{\"basicAuth\":[{\"user\":\"a\"}]}}}",
               "restfulApi.auth.basicAuth[0].password", "required");
    expect_bad(WV_KIND_SITE, "{" SITE_OK ",\"networkKeySet\":\"yes\"}", "networkKeySet",
               "expected a boolean");

    /* A NUL byte inside a string is refused, not truncated. */
    json_t *n = J("{" SITE_OK "}");
    json_object_set_new(n, "siteName", json_stringn("a\0b", 3));
    assert_int_equal(wv_validate_site(n, true, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "siteName");
    json_decref(n);
}

static void documents(void **state) {
    expect_good(-1, "{\"revision\":3,\"site\":{" SITE_OK "}}", NULL);
    json_t *d = J("{\"site\":{" SITE_OK "}}");
    wv_verr err;
    assert_int_equal(wv_validate_document(d, true, &err), 0);
    assert_true(json_is_array(json_object_get(d, "remoteApps")));
    assert_int_equal(json_array_size(json_object_get(d, "tunnelSockets")), 0);
    json_decref(d);

    expect_bad(-1,
               "{\"site\":{" SITE_OK
               "},\"tunnelSockets\":[{\"name\":\"a\",\"mode\":\"port-forwarding\","
               "\"publicAddress\":\"::1\",\"publicPort\":1,\"listenPort\":1},{\"name\":\"b\","
               "\"mode\":\"bogus\"}]}",
               "tunnelSockets[1].mode",
               "unsupported value \"bogus\" (dedicated-address, port-forwarding, nat-traversal)");
    expect_bad(
        -1,
        "{\"site\":{" SITE_OK
        "},\"remoteApps\":[{\"name\":\"a\",\"siteName\":\"s\",\"appName\":\"x\","
        "\"localSocket\":\"unix:/"
        "a\"},{\"name\":\"b\",\"siteName\":\"s\",\"appName\":\"x\",\"localSocket\":\"unix:/b\"},"
        "{\"name\":\"a\",\"siteName\":\"s\",\"appName\":\"y\",\"localSocket\":\"unix:/c\"}]}",
        "remoteApps[2].name", "duplicate name \"a\"");
    expect_bad(-1, "{\"site\":{\"siteName\":\"s\"}}", "site.networkKey", "required");
    expect_bad(-1, "{\"tunnelSockets\":[]}", "site", "required");
    expect_bad(-1, "{\"site\":{" SITE_OK "},\"exposedApps\":{}}", "exposedApps",
               "expected an array");
    expect_bad(-1, "{\"site\":{" SITE_OK "},\"exposedApps\":[3]}", "exposedApps[0]",
               "expected an object");
    expect_bad(-1, "{\"site\":{" SITE_OK "},\"extra\":[]}", "extra", "unknown field");
    expect_bad(-1, "{\"site\":{" SITE_OK ",\"logger\":{\"level\":1}}}", "site.logger.level",
               "expected a string");
    expect_bad(-1, "[]", "", "expected an object");

    json_t *big = J("{\"site\":{" SITE_OK "}}");
    json_t *arr = json_array();
    for (int i = 0; i < 4097; i++) {
        char name[32];
        snprintf(name, sizeof(name), "a%d", i);
        json_array_append_new(arr, json_pack("{s:s,s:s}", "name", name, "appSocket", "unix:/x"));
    }
    json_object_set_new(big, "exposedApps", arr);
    assert_int_equal(wv_validate_document(big, true, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "exposedApps");
    json_array_remove(arr, 0);
    assert_int_equal(wv_validate_document(big, true, &err), 0);
    json_decref(big);
}

#define RAPP "{\"name\":\"r\",\"siteName\":\"s\",\"appName\":\"a\",\"localSocket\":\"unix:/a\""

/* Optional and absent by default (no default is filled in); when set it
 * is kept as given within 1..65536. */
static void remote_app_max_connections(void **state) {
    expect_good(WV_KIND_REMOTE_APP, RAPP "}", RAPP "}");
    expect_good(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":1}", NULL);
    expect_good(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":512}", NULL);
    expect_good(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":65536}", NULL);
    expect_bad(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":0}", "maxConnections",
               "out of range (1..65536)");
    expect_bad(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":65537}", "maxConnections",
               "out of range (1..65536)");
    expect_bad(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":-1}", "maxConnections",
               "out of range");
    expect_bad(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":\"10\"}", "maxConnections",
               "expected an integer");
    expect_bad(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":1.5}", "maxConnections",
               "expected an integer");
    expect_bad(WV_KIND_REMOTE_APP, RAPP ",\"maxConnections\":null}", "maxConnections",
               "expected an integer");
    /* In a whole document the path is absolute. */
    expect_bad(-1, "{\"site\":{" SITE_OK "},\"remoteApps\":[" RAPP ",\"maxConnections\":0}]}",
               "remoteApps[0].maxConnections", "out of range");
}

/* The YAML config's names, and other cases, in JSON: a hint. */
static void did_you_mean(void **state) {
    expect_bad(WV_KIND_EXPOSED_APP, "{\"appName\":\"a\",\"appSocket\":\"tcp:127.0.0.1:1\"}",
               "appName", "did you mean \"name\"?");
    expect_bad(WV_KIND_EXPOSED_APP, "{\"name\":\"a\",\"socket\":\"tcp:127.0.0.1:1\"}", "socket",
               "did you mean \"appSocket\"?");
    expect_bad(WV_KIND_EXPOSED_APP, "{\"name\":\"a\",\"APPSOCKET\":\"tcp:127.0.0.1:1\"}",
               "APPSOCKET", "did you mean \"appSocket\"?");
    expect_bad(WV_KIND_REMOTE_APP,
               "{\"name\":\"r\",\"siteName\":\"s\",\"remoteAppId\":\"a\",\"localSocket\":"
               "\"tcp:127.0.0.1:1\"}",
               "remoteAppId", "did you mean \"appName\"?");
    expect_bad(-1, "{\"localExposedApps\":[]}", "localExposedApps",
               "did you mean \"exposedApps\"?");
    expect_bad(WV_KIND_EXPOSED_APP, "{\"name\":\"a\",\"bogus\":1}", "bogus", "unknown field");
}

static void durations(void **state) {
    assert_int_equal(wv_parse_duration("never"), 0);
    assert_int_equal(wv_parse_duration("90"), 90);
    assert_int_equal(wv_parse_duration("3600s"), 3600);
    assert_int_equal(wv_parse_duration("90m"), 5400);
    assert_int_equal(wv_parse_duration("12h"), 43200);
    assert_int_equal(wv_parse_duration("30d"), 30 * 86400);
    assert_int_equal(wv_parse_duration("2w"), 14 * 86400);
    const char *bad[] = {"",    "0",   "d",    "-1d",          "+1d",   "1x",
                         "1dd", "1 d", "soon", "99999999999d", "3661d", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(wv_parse_duration(bad[i]), -1);
    assert_int_equal(wv_parse_duration(NULL), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(durations),   cmocka_unit_test(did_you_mean),
    cmocka_unit_test(names),       cmocka_unit_test(parsers),
    cmocka_unit_test(sockets),     cmocka_unit_test(exposed_apps),
    cmocka_unit_test(remote_apps), cmocka_unit_test(site),
    cmocka_unit_test(documents),   cmocka_unit_test(remote_app_max_connections),
};
WVU_MAIN(tests)
