#include "wvunit.h"

#include "wv/base.h"
#include "wv/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The two configs of shared/seed/release-public-ip.md, verbatim
 * (tests/fixtures/seed/); read by main(). */
static char *seed_aws, *seed_local;

/* The newer upstream format with its whole feature set. */
static const char newer[] = "siteName: branch-7\n"
                            "crypto:\n"
                            "  key: \"correct horse battery staple\"\n"
                            "logger: {level: info, file: /tmp/wv.log, format: text}\n"
                            "messageChannel:\n"
                            "  protocol: mqtt\n"
                            "  mqtt:\n"
                            "    brokerServer: mqtts://broker.example:8883\n"
                            "    brokerServers: [mqtt://198.51.100.7:1883]\n"
                            "    topic: \"\"\n"
                            "    username: site\n"
                            "    password: \"mqtt-pass-1\"\n"
                            "tunnel:\n"
                            "  localSockets:\n"
                            "  - mode: dedicated-address\n"
                            "    transportProtocol: quic\n"
                            "    publicAddress: 2001:db8::5\n"
                            "    listenAddress: 2001:db8::5\n"
                            "    listenPort: 40001\n"
                            "  - mode: port-forwarding\n"
                            "    publicAddress: autoHttpDetect\n"
                            "    publicPort: 40002\n"
                            "    listenAddress: 203.0.113.9\n"
                            "    listenPort: 40003\n"
                            "    httpDetector:\n"
                            "      url: http://203.0.113.1/ip\n"
                            "      interval: 120\n"
                            "  - mode: port-forwarding\n"
                            "    publicAddress: 198.51.100.4\n"
                            "    publicPort: 40004\n"
                            "    listenPort: 40003\n"
                            "localExposedApps:\n"
                            "- appName: files\n"
                            "  appSocket: tcp:10.1.1.5:8000\n"
                            "- appName: engine\n"
                            "  mode: single\n"
                            "  appSocket: unix:/run/engine.sock\n"
                            "- appName: desktops\n"
                            "  mode: range\n"
                            "  appSocket: tcp:10.9.0.1:1\n"
                            "  portRange: [5900, \"6000-6010\"]\n"
                            "  addressRange:\n"
                            "  - 10.9.0.0/16\n"
                            "  - ::1\n"
                            "remoteApps:\n"
                            "- siteName: hq\n"
                            "  appName: files\n"
                            "  localSocket: tcp:127.0.0.1:18000\n"
                            "- siteName: hq\n"
                            "  appName: engine\n"
                            "  localSocket: unix:/tmp/hq-engine.sock\n"
                            "- siteName: hq\n"
                            "  appName: desktops\n"
                            "  appSocket: tcp:10.9.0.3:5901\n"
                            "  localSocket: tcp:[::1]:15901\n"
                            "- name: my-own\n"
                            "  siteName: hq\n"
                            "  appName: desktops\n"
                            "  appSocket: tcp:10.9.0.4:5901\n"
                            "  localSocket: tcp:127.0.0.1:15902\n"
                            "  maxConnections: 2000\n"
                            "restfulApi:\n"
                            "  enabled: true\n"
                            "  listenAddr: 127.0.0.1:18443\n"
                            "  logger:\n"
                            "    file: /tmp/api.log\n"
                            "  tls:\n"
                            "    enabled: true\n"
                            "    key: /etc/wv/key.pem\n"
                            "    cert: /etc/wv/cert.pem\n"
                            "  auth:\n"
                            "    basicAuth:\n"
                            "    - user: ops\n"
                            "      password: \"a long password\"\n";

static json_t *parse_ok(const char *yaml) {
    json_t *doc = NULL;
    wv_verr err;
    int rc = wv_config_from_yaml(yaml, strlen(yaml), &doc, &err);
    if (rc)
        fail_msg("from_yaml: %s: %s", err.field, err.message);
    return doc;
}

static void parse_err(const char *yaml, const char *field, const char *msg_part) {
    json_t *doc = NULL;
    wv_verr err;
    assert_int_equal(wv_config_from_yaml(yaml, strlen(yaml), &doc, &err), WV_ERR_INVAL);
    assert_null(doc);
    assert_string_equal(err.field, field);
    if (!strstr(err.message, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, msg_part);
}

static const char *sget(json_t *v, const char *path) {
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = v;
    for (char *tok = strtok(buf, "/"); tok; tok = strtok(NULL, "/")) {
        char *end;
        long i = strtol(tok, &end, 10);
        cur = *end ? json_object_get(cur, tok) : json_array_get(cur, (size_t)i);
    }
    return json_string_value(cur);
}

static json_int_t iget(json_t *v, const char *a, size_t i, const char *k) {
    return json_integer_value(json_object_get(json_array_get(json_object_get(v, a), i), k));
}

static void seed_aws_imports(void **state) {
    json_t *d = parse_ok(seed_aws);
    assert_string_equal(sget(d, "site/siteName"), "aws");
    assert_string_equal(sget(d, "site/networkKey"), "aA6wBHTYd%#dOPr8");
    assert_string_equal(sget(d, "site/logger/level"), "DEBUG");
    assert_string_equal(sget(d, "site/logger/format"), "json");
    assert_string_equal(sget(d, "site/messageChannel/protocol"), "mqtt");
    assert_string_equal(sget(d, "site/messageChannel/brokers/0"),
                        "mqtt://mqtt.eclipseprojects.io:1883");
    assert_string_equal(sget(d, "site/messageChannel/topic"),
                        "kungze/wovenet/dual-stack-ui78Tydwq");
    assert_string_equal(sget(d, "tunnelSockets/0/name"), "dedicated-address-25890");
    assert_string_equal(sget(d, "tunnelSockets/0/publicAddress"),
                        "2406:da12:35a:3d02:1f43:11a1:abf2:2900");
    assert_int_equal(iget(d, "tunnelSockets", 0, "publicPort"), 25890);
    assert_string_equal(sget(d, "exposedApps/0/name"), "afe87405-0f46-4290-84df-b6034b54761f");
    assert_string_equal(sget(d, "exposedApps/0/appSocket"), "127.0.0.1:5201");
    assert_int_equal(json_array_size(json_object_get(d, "remoteApps")), 0);
    wv_config_doc_free(d);
}

static void seed_local_imports(void **state) {
    json_t *d = parse_ok(seed_local);
    assert_string_equal(sget(d, "site/siteName"), "local");
    assert_string_equal(sget(d, "tunnelSockets/0/name"), "port-forwarding-26098");
    assert_string_equal(sget(d, "tunnelSockets/0/mode"), "port-forwarding");
    assert_string_equal(sget(d, "tunnelSockets/0/transportProtocol"), "quic");
    assert_int_equal(iget(d, "tunnelSockets", 0, "publicPort"), 36092);
    assert_int_equal(iget(d, "tunnelSockets", 0, "listenPort"), 26098);
    assert_string_equal(sget(d, "remoteApps/0/name"),
                        "aws-afe87405-0f46-4290-84df-b6034b54761f-5201");
    assert_string_equal(sget(d, "remoteApps/0/siteName"), "aws");
    assert_string_equal(sget(d, "remoteApps/0/appName"), "afe87405-0f46-4290-84df-b6034b54761f");
    assert_string_equal(sget(d, "remoteApps/0/localSocket"), "127.0.0.1:5201");
    wv_config_doc_free(d);
}

static void newer_format_imports(void **state) {
    json_t *d = parse_ok(newer);
    assert_string_equal(sget(d, "site/networkKey"), "correct horse battery staple");
    assert_string_equal(sget(d, "site/logger/level"), "info");
    assert_string_equal(sget(d, "site/messageChannel/brokers/0"), "mqtts://broker.example:8883");
    assert_string_equal(sget(d, "site/messageChannel/brokers/1"), "mqtt://198.51.100.7:1883");
    assert_string_equal(sget(d, "site/messageChannel/password"), "mqtt-pass-1");
    /* empty topic: derived from the key, which it does not contain */
    char *t = wv_config_derive_topic("correct horse battery staple");
    assert_string_equal(sget(d, "site/messageChannel/topic"), t);
    free(t);
    assert_string_equal(sget(d, "tunnelSockets/0/name"), "dedicated-address-40001");
    assert_string_equal(sget(d, "tunnelSockets/1/name"), "port-forwarding-40003");
    assert_string_equal(sget(d, "tunnelSockets/2/name"), "port-forwarding-40003-2");
    assert_string_equal(sget(d, "tunnelSockets/1/publicAddress"), "autoHttpDetect");
    assert_string_equal(sget(d, "tunnelSockets/1/httpDetector/url"), "http://203.0.113.1/ip");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_array_get(json_object_get(d, "tunnelSockets"), 1), "httpDetector"),
            "interval")),
        120);
    assert_string_equal(sget(d, "exposedApps/1/appSocket"), "unix:/run/engine.sock");
    assert_string_equal(sget(d, "exposedApps/2/mode"), "range");
    /* ignored on a range app, as upstream does */
    assert_null(json_object_get(json_array_get(json_object_get(d, "exposedApps"), 2), "appSocket"));
    assert_string_equal(sget(d, "exposedApps/2/portRange/0"), "5900");
    assert_string_equal(sget(d, "exposedApps/2/portRange/1"), "6000-6010");
    assert_string_equal(sget(d, "exposedApps/2/addressRange/1"), "::1");
    assert_string_equal(sget(d, "remoteApps/0/name"), "hq-files-18000");
    assert_string_equal(sget(d, "remoteApps/1/name"), "hq-engine-hq-engine.sock");
    assert_string_equal(sget(d, "remoteApps/2/name"), "hq-desktops-15901");
    assert_string_equal(sget(d, "remoteApps/2/appSocket"), "tcp:10.9.0.3:5901");
    assert_string_equal(sget(d, "remoteApps/3/name"), "my-own");
    /* ours, optional: only where given */
    json_t *ra = json_object_get(d, "remoteApps");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ra, 3), "maxConnections")),
                     2000);
    assert_null(json_object_get(json_array_get(ra, 0), "maxConnections"));
    json_t *api = json_object_get(json_object_get(d, "site"), "restfulApi");
    assert_true(json_is_true(json_object_get(json_object_get(api, "tls"), "enabled")));
    assert_string_equal(sget(d, "site/restfulApi/listenAddr"), "127.0.0.1:18443");
    assert_string_equal(sget(d, "site/restfulApi/tls/cert"), "/etc/wv/cert.pem");
    assert_string_equal(sget(d, "site/restfulApi/auth/basicAuth/0/user"), "ops");
    assert_string_equal(sget(d, "site/restfulApi/auth/basicAuth/0/password"), "a long password");
    /* the separate API log file is accepted and ignored */
    assert_null(
        json_object_get(json_object_get(json_object_get(d, "site"), "restfulApi"), "logger"));
    wv_config_doc_free(d);
}

static void unknown_keys_name_their_path(void **state) {
    parse_err("siteName: a\nbogus: 1\n", "bogus", "unknown key");
    parse_err("tunnel:\n  localSockets:\n  - mode: port-forwarding\n    bogusKey: 1\n",
              "tunnel.localSockets[0].bogusKey", "unknown key");
    parse_err("remoteApps:\n- siteName: a\n- siteName: b\n  colour: red\n", "remoteApps[1].colour",
              "unknown key");
    parse_err("restfulApi:\n  tls:\n    ca: x\n", "restfulApi.tls.ca", "unknown key");
    parse_err("messageChannel:\n  mqtt:\n    qos: 1\n", "messageChannel.mqtt.qos", "unknown key");
}

static void type_errors_name_their_path(void **state) {
    parse_err("tunnel:\n  localSockets:\n  - publicPort: abc\n",
              "tunnel.localSockets[0].publicPort", "expected an integer");
    parse_err("tunnel:\n  localSockets:\n  - listenPort: \"80\"\n",
              "tunnel.localSockets[0].listenPort", "expected an integer");
    parse_err("remoteApps:\n- siteName: a\n  maxConnections: lots\n",
              "remoteApps[0].maxConnections", "expected an integer");
    parse_err("restfulApi:\n  enabled: maybe\n", "restfulApi.enabled", "expected true or false");
    parse_err("siteName: [a, b]\n", "siteName", "expected a string");
    parse_err("localExposedApps: {a: 1}\n", "localExposedApps", "expected a list");
    parse_err("localExposedApps:\n- just-a-string\n", "localExposedApps[0]", "expected a mapping");
    parse_err("logger: loud\n", "logger", "expected a mapping");
    parse_err("crypto: {key: abcdefgh}\nmessageChannel: {cryptoKey: abcdefgh}\n",
              "messageChannel.cryptoKey", "conflicts");
    parse_err("localExposedApps:\n- id: a\n  appName: b\n", "localExposedApps[0].appName",
              "conflicts");
}

static void hostile_yaml_is_bounded(void **state) {
    /* billion laughs: refused at the first alias, nothing expanded */
    parse_err("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n", "b[0]", "aliases");
    parse_err("siteName: a\nsiteName: b\n", "siteName", "duplicate key");
    parse_err("siteName: a\n---\nsiteName: b\n", "", "more than one");
    parse_err("siteName: [\n", "", "YAML syntax error at line");
    parse_err("- a\n- b\n", "", "must be a mapping");
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    json_t *doc = NULL;
    wv_verr err;
    assert_int_not_equal(wv_config_from_yaml(deep, sizeof(deep), &doc, &err), 0);
    assert_non_null(strstr(err.message, "nesting"));
    size_t big = 1024 * 1024 + 1;
    char *huge = malloc(big);
    memset(huge, '#', big);
    assert_int_not_equal(wv_config_from_yaml(huge, big, &doc, &err), 0);
    assert_non_null(strstr(err.message, "larger than"));
    free(huge);
    /* empty config: an empty document, not an error */
    doc = parse_ok("# nothing\n");
    assert_int_equal(json_object_size(json_object_get(doc, "site")), 0);
    wv_config_doc_free(doc);
}

/* Regression (found by fuzz_yaml under ASan): a quoted scalar holding an
 * escaped NUL was refused, but freeing it wiped the YAML length of a copy
 * cut at the NUL: a heap overrun. The sanitizer build runs this. */
static void scalar_with_nul_byte_is_refused_without_overrun(void **state) {
    parse_err("siteName: \"ab\\0cdefghijklmnopqrstuvwxyz\"\n", "siteName", "NUL byte");
    parse_err("siteName: a\ncrypto:\n  key: \"\\0long secret value\"\n", "crypto.key", "NUL byte");
}

static void derived_names_are_stable_and_unique(void **state) {
    json_t *d = parse_ok("tunnel:\n  localSockets:\n"
                         "  - {mode: dedicated-address, publicPort: 7000}\n"
                         "  - {name: dedicated-address-7000-2, mode: x}\n"
                         "  - {mode: dedicated-address, listenPort: 7000}\n"
                         "  - {mode: \"we!rd mode\"}\n"
                         "remoteApps:\n"
                         "- {siteName: \"-s\", appName: \"a b\", localSocket: \"tcp:[::1]:99\"}\n");
    assert_string_equal(sget(d, "tunnelSockets/0/name"), "dedicated-address-7000");
    assert_string_equal(sget(d, "tunnelSockets/1/name"), "dedicated-address-7000-2");
    assert_string_equal(sget(d, "tunnelSockets/2/name"), "dedicated-address-7000-3");
    assert_string_equal(sget(d, "tunnelSockets/3/name"), "we-rd-mode");
    assert_string_equal(sget(d, "remoteApps/0/name"), "s-a-b-99");
    wv_config_doc_free(d);

    char *t1 = wv_config_derive_topic("aA6wBHTYd%#dOPr8");
    char *t2 = wv_config_derive_topic("aA6wBHTYd%#dOPr8");
    char *t3 = wv_config_derive_topic("another-key");
    assert_string_equal(t1, t2);
    assert_string_not_equal(t1, t3);
    assert_int_equal(strlen(t1), 8 + 32);
    assert_int_equal(strncmp(t1, "wovenet/", 8), 0);
    assert_null(strstr(t1, "aA6wBHTYd"));
    /* Pinned (the store derives the same value; see store_test). */
    char *pinned = wv_config_derive_topic("aA6wBHTYd%#dOPr8-secret");
    assert_string_equal(pinned, "wovenet/500f805a92f041a587d72c467217794b");
    free(pinned);
    free(t1);
    free(t2);
    free(t3);
}

/* What the store exports: secrets replaced by markers. */
static void as_exported(json_t *v) {
    const char *k;
    json_t *x;
    size_t i;
    void *tmp;
    if (json_is_object(v)) {
        json_object_foreach_safe(v, tmp, k, x) {
            if (strcmp(k, "networkKey") == 0) {
                json_object_del(v, k);
                json_object_set_new(v, "networkKeySet", json_true());
            } else if (strcmp(k, "password") == 0) {
                json_object_del(v, k);
                json_object_set_new(v, "passwordSet", json_true());
            } else {
                as_exported(x);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) as_exported(x);
    }
}

static void round_trip(const char *yaml) {
    json_t *d = parse_ok(yaml);
    as_exported(d);
    json_object_set_new(d, "revision", json_integer(7));
    char *out = NULL;
    assert_int_equal(wv_config_to_yaml(d, &out), 0);
    wvu_lacks(out, "aA6wBHTYd", "correct horse");
    wvu_has(out, "revision 7");
    json_t *back = parse_ok(out);
    json_object_del(d, "revision");
    if (!json_equal(d, back)) {
        char *a = json_dumps(d, JSON_SORT_KEYS), *b = json_dumps(back, JSON_SORT_KEYS);
        fail_msg("round trip differs:\n%s\n%s\n--- yaml ---\n%s", a, b, out);
    }
    char *again = NULL;
    assert_int_equal(wv_config_to_yaml(back, &again), 0);
    json_decref(back);
    json_decref(d);
    free(out);
    free(again);
}

static void yaml_round_trip_reproduces_document(void **state) {
    round_trip(seed_aws);
    round_trip(seed_local);
    round_trip(newer);
    round_trip("siteName: \"123\"\nlogger: {level: \"true\", file: \"\", format: text}\n");
}

static void canonical_paths_map_to_yaml_paths(void **state) {
    char out[256];
    struct {
        const char *yaml, *canon, *want;
    } cases[] = {
        {seed_local, "tunnelSockets[0].mode", "tunnel.localSockets[0].mode"},
        {seed_local, "site.networkKey", "messageChannel.cryptoKey"},
        {newer, "site.networkKey", "crypto.key"},
        {seed_local, "site.siteName", "siteName"},
        {seed_local, "site.messageChannel.topic", "messageChannel.mqtt.topic"},
        {seed_local, "site.messageChannel.brokers[0]", "messageChannel.mqtt.brokerServer"},
        {newer, "site.messageChannel.brokers[1]", "messageChannel.mqtt.brokerServers[0]"},
        {seed_aws, "exposedApps[0].name", "localExposedApps[0].id"},
        {seed_aws, "exposedApps[0].appSocket", "localExposedApps[0].socket"},
        {newer, "exposedApps[2].portRange[1]", "localExposedApps[2].portRange[1]"},
        {seed_local, "remoteApps[0].appName", "remoteApps[0].remoteAppId"},
        {newer, "remoteApps[0].appName", "remoteApps[0].appName"},
        {newer, "remoteApps[3].maxConnections", "remoteApps[3].maxConnections"},
        {newer, "site.restfulApi.listenAddr", "restfulApi.listenAddr"},
        {newer, "site.logger.level", "logger.level"},
    };
    for (size_t i = 0; i < WV_COUNTOF(cases); i++) {
        wv_config_yaml_field(cases[i].yaml, strlen(cases[i].yaml), cases[i].canon, out,
                             sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
}

/* What import produces passes the one validator (needs secrets: a fresh DB). */
static void imports_validate(void **state) {
    const char *yamls[] = {seed_aws, seed_local, newer};
    for (size_t i = 0; i < WV_COUNTOF(yamls); i++) {
        json_t *d = parse_ok(yamls[i]);
        wv_verr err;
        if (wv_validate_document(d, true, &err))
            fail_msg("config %zu: %s: %s", i, err.field, err.message);
        wv_config_doc_free(d);
    }
    json_t *d = parse_ok("siteName: x\ncrypto: {key: Abcdefghij-12345}\n"
                         "messageChannel: {mqtt: {brokerServer: mqtt://127.0.0.1:1883}}\n"
                         "tunnel:\n  localSockets:\n  - mode: bogus\n");
    wv_verr err;
    assert_int_equal(wv_validate_document(d, true, &err), WV_ERR_INVAL);
    char field[256];
    wv_config_yaml_field("x", 1, err.field, field, sizeof(field));
    assert_string_equal(field, "tunnel.localSockets[0].mode");
    assert_non_null(strstr(err.message, "\"bogus\""));
    wv_config_doc_free(d);

    d = parse_ok("siteName: x\ncrypto: {key: Abcdefghij-12345}\n"
                 "messageChannel: {mqtt: {brokerServer: mqtt://127.0.0.1:1883}}\n"
                 "remoteApps:\n- {siteName: s, appName: a, localSocket: tcp:127.0.0.1:99,"
                 " maxConnections: 0}\n");
    assert_int_equal(wv_validate_document(d, true, &err), WV_ERR_INVAL);
    wv_config_yaml_field("x", 1, err.field, field, sizeof(field));
    assert_string_equal(field, "remoteApps[0].maxConnections");
    assert_non_null(strstr(err.message, "out of range (1..65536)"));
    wv_config_doc_free(d);
}

/* Upstream's viper reads keys in any case (its own convert-unix-to-tcp
 * example writes "appsocket:"); the same key twice in two cases is refused. */
static void keys_are_case_insensitive(void **state) {
    static const char y[] = "SiteName: s\ncrypto:\n  KEY: \"Case-Key-0123456789\"\n"
                            "messageChannel:\n  mqtt:\n    BrokerServer: mqtt://b:1883\n"
                            "localExposedApps:\n- appsocket: unix:/var/run/docker.sock\n"
                            "  APPNAME: docker\n"
                            "tunnel:\n  localsockets:\n  - mode: dedicated-address\n"
                            "    publicaddress: 198.51.100.1\n    LISTENPORT: 25890\n"
                            "Membership: approve\nLIMITS:\n  streamsperpeer: 7\n";
    json_t *d;
    wv_verr err;
    assert_int_equal(wv_config_from_yaml(y, strlen(y), &d, &err), 0);
    json_t *site = json_object_get(d, "site");
    assert_string_equal(json_string_value(json_object_get(site, "siteName")), "s");
    assert_string_equal(json_string_value(json_object_get(site, "networkKey")),
                        "Case-Key-0123456789");
    /* Our own keys too, stored under their one spelling. */
    assert_string_equal(json_string_value(json_object_get(site, "membership")), "approve");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(site, "limits"), "streamsPerPeer")), 7);
    json_t *app = json_array_get(json_object_get(d, "exposedApps"), 0);
    assert_string_equal(json_string_value(json_object_get(app, "name")), "docker");
    assert_string_equal(json_string_value(json_object_get(app, "appSocket")),
                        "unix:/var/run/docker.sock");
    json_t *sock = json_array_get(json_object_get(d, "tunnelSockets"), 0);
    assert_int_equal(json_integer_value(json_object_get(sock, "listenPort")), 25890);
    assert_string_equal(json_string_value(json_object_get(sock, "name")),
                        "dedicated-address-25890");
    wv_verr verr;
    assert_int_equal(wv_validate_document(d, true, &verr), 0);
    wv_config_doc_free(d);
    static const char dup[] = "siteName: s\nlocalExposedApps:\n- appName: a\n  appname: b\n";
    assert_int_equal(wv_config_from_yaml(dup, strlen(dup), &d, &err), WV_ERR_INVAL);
    assert_non_null(strstr(err.message, "duplicate key"));
}

/* Upstream's top-level stun: list serves autoStunDetect sockets. */
static void top_level_stun_list(void **state) {
    static const char y[] = "siteName: s\n"
                            "stun: [\"stun:198.51.100.1:3478\", \"stun.example.net:3478\"]\n"
                            "tunnel:\n  localSockets:\n"
                            "  - {mode: port-forwarding, publicAddress: autoStunDetect, "
                            "publicPort: 1, listenPort: 2}\n"
                            "  - {mode: port-forwarding, publicAddress: autoStunDetect, "
                            "publicPort: 3, listenPort: 4, stunServers: [\"198.51.100.9:1\"]}\n"
                            "  - {mode: dedicated-address, publicAddress: 198.51.100.3, "
                            "listenPort: 5}\n";
    json_t *d;
    wv_verr err;
    assert_int_equal(wv_config_from_yaml(y, strlen(y), &d, &err), 0);
    json_t *socks = json_object_get(d, "tunnelSockets");
    json_t *s0 = json_object_get(json_array_get(socks, 0), "stunServers");
    assert_int_equal(json_array_size(s0), 2);
    assert_string_equal(json_string_value(json_array_get(s0, 0)), "198.51.100.1:3478");
    json_t *s1 = json_object_get(json_array_get(socks, 1), "stunServers");
    assert_int_equal(json_array_size(s1), 1); /* its own list wins */
    assert_null(json_object_get(json_array_get(socks, 2), "stunServers"));
    wv_config_doc_free(d);
    static const char bad[] = "siteName: s\nstun: 5\n";
    assert_int_equal(wv_config_from_yaml(bad, strlen(bad), &d, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "stun");
}

/* *.json: upstream's keys (as viper reads them) or the canonical document. */
static void json_config_files(void **state) {
    static const char up[] = "{\"siteName\": \"s\", \"crypto\": {\"key\": \"Case-Key-0123456789\"},"
                             " \"localExposedApps\": [{\"appName\": \"w\", \"appSocket\": "
                             "\"tcp:127.0.0.1:80\"}], \"tunnel\": {\"localSockets\": [{\"mode\": "
                             "\"dedicated-address\", \"publicAddress\": \"198.51.100.1\", "
                             "\"listenPort\": 25890}]}}";
    json_t *d;
    wv_verr err;
    enum wv_config_format fmt;
    assert_int_equal(wv_config_from_text("site.json", up, strlen(up), &d, &fmt, &err), 0);
    assert_int_equal(fmt, WV_CONFIG_JSON_UPSTREAM);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(d, "exposedApps"), 0), "name")),
                        "w");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(d, "tunnelSockets"), 0), "listenPort")),
                     25890);
    wv_config_doc_free(d);
    /* A quoted number is a string in JSON too. */
    static const char q[] = "{\"tunnel\": {\"localSockets\": [{\"listenPort\": \"1\"}]}}";
    assert_int_equal(wv_config_from_text("x.JSON", q, strlen(q), &d, &fmt, &err), WV_ERR_INVAL);
    assert_string_equal(err.field, "tunnel.localSockets[0].listenPort");
    static const char canon[] = "{\"site\": {\"siteName\": \"s\"}, \"remoteApps\": []}";
    assert_int_equal(wv_config_from_text("c.json", canon, strlen(canon), &d, &fmt, &err), 0);
    assert_int_equal(fmt, WV_CONFIG_JSON_CANONICAL);
    wv_config_doc_free(d);
    static const char broken[] = "{\"siteName\": \n}";
    assert_int_equal(wv_config_from_text("b.json", broken, strlen(broken), &d, &fmt, &err),
                     WV_ERR_INVAL);
    assert_non_null(strstr(err.message, "line 2"));
    static const char dup[] = "{\"siteName\": \"a\", \"SITENAME\": \"b\"}";
    assert_int_equal(wv_config_from_text("d.json", dup, strlen(dup), &d, &fmt, &err), WV_ERR_INVAL);
    /* Not *.json: YAML, as before. */
    assert_int_equal(wv_config_from_text("s.yaml", seed_aws, strlen(seed_aws), &d, &fmt, &err), 0);
    assert_int_equal(fmt, WV_CONFIG_YAML);
    wv_config_doc_free(d);
}

int main(void) {
    seed_aws = wvu_fixture("seed/aws.yaml");
    seed_local = wvu_fixture("seed/local.yaml");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_aws_imports),
        cmocka_unit_test(keys_are_case_insensitive),
        cmocka_unit_test(top_level_stun_list),
        cmocka_unit_test(json_config_files),
        cmocka_unit_test(seed_local_imports),
        cmocka_unit_test(newer_format_imports),
        cmocka_unit_test(unknown_keys_name_their_path),
        cmocka_unit_test(type_errors_name_their_path),
        cmocka_unit_test(hostile_yaml_is_bounded),
        cmocka_unit_test(scalar_with_nul_byte_is_refused_without_overrun),
        cmocka_unit_test(derived_names_are_stable_and_unique),
        cmocka_unit_test(yaml_round_trip_reproduces_document),
        cmocka_unit_test(canonical_paths_map_to_yaml_paths),
        cmocka_unit_test(imports_validate),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(seed_aws);
    free(seed_local);
    return failed;
}
