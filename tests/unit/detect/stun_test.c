#include "wvunit.h"

#include "stun.h"
#include "wv/base.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t TXID[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* A response: header + attributes (already padded). */
static size_t response(uint8_t *out, uint16_t type, const uint8_t *txid, const uint8_t *attrs,
                       size_t alen) {
    out[0] = (uint8_t)(type >> 8);
    out[1] = (uint8_t)type;
    out[2] = (uint8_t)(alen >> 8);
    out[3] = (uint8_t)alen;
    out[4] = 0x21, out[5] = 0x12, out[6] = 0xa4, out[7] = 0x42;
    memcpy(out + 8, txid, 12);
    if (alen)
        memcpy(out + 20, attrs, alen);
    return 20 + alen;
}

/* XOR-MAPPED-ADDRESS 192.0.2.1:32853 (RFC 5769's sample values). */
static const uint8_t XOR_V4[] = {0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
                                 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43};
/* MAPPED-ADDRESS 203.0.113.9:3478 */
static const uint8_t PLAIN_V4[] = {0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x96, 203, 0, 113, 9};

static void check_v4(const struct sockaddr_storage *ss, const char *ip, uint16_t port) {
    assert_int_equal(ss->ss_family, AF_INET);
    const struct sockaddr_in *a = (const void *)ss;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
    assert_string_equal(buf, ip);
    assert_int_equal(ntohs(a->sin_port), port);
}

static void request_layout(void **state) {
    uint8_t b[20];
    assert_int_equal(wv_stun_build_request(b, sizeof(b), TXID), 20);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[1], 1);
    assert_int_equal(b[2] | b[3], 0);
    assert_memory_equal(b + 4, "\x21\x12\xa4\x42", 4);
    assert_memory_equal(b + 8, TXID, 12);
    assert_true(wv_stun_is_message(b, 20));
    assert_int_equal(wv_stun_build_request(b, 19, TXID), WV_ERR_INVAL);
}

static void xor_mapped_v4(void **state) {
    uint8_t b[128];
    size_t n = response(b, 0x0101, TXID, XOR_V4, sizeof(XOR_V4));
    struct sockaddr_storage ss;
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), 0);
    check_v4(&ss, "192.0.2.1", 32853);
}

static void plain_mapped_and_xor_wins(void **state) {
    uint8_t b[128], attrs[64];
    size_t n = response(b, 0x0101, TXID, PLAIN_V4, sizeof(PLAIN_V4));
    struct sockaddr_storage ss;
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), 0);
    check_v4(&ss, "203.0.113.9", 3478);
    memcpy(attrs, PLAIN_V4, sizeof(PLAIN_V4));
    memcpy(attrs + sizeof(PLAIN_V4), XOR_V4, sizeof(XOR_V4));
    n = response(b, 0x0101, TXID, attrs, sizeof(PLAIN_V4) + sizeof(XOR_V4));
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), 0);
    check_v4(&ss, "192.0.2.1", 32853);
    /* The pre-RFC code point 0x8020 counts as XOR-MAPPED too. */
    memcpy(attrs, XOR_V4, sizeof(XOR_V4));
    attrs[0] = 0x80;
    n = response(b, 0x0101, TXID, attrs, sizeof(XOR_V4));
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), 0);
    check_v4(&ss, "192.0.2.1", 32853);
}

static void xor_mapped_v6(void **state) {
    uint8_t b[128], attrs[24] = {0x00, 0x20, 0x00, 0x14, 0x00, 0x02};
    struct in6_addr ip;
    inet_pton(AF_INET6, "2001:db8::42", &ip);
    uint16_t port = 25890 ^ 0x2112;
    attrs[6] = (uint8_t)(port >> 8);
    attrs[7] = (uint8_t)port;
    uint8_t key[16] = {0x21, 0x12, 0xa4, 0x42};
    memcpy(key + 4, TXID, 12);
    for (int i = 0; i < 16; i++)
        attrs[8 + i] = ip.s6_addr[i] ^ key[i];
    size_t n = response(b, 0x0101, TXID, attrs, sizeof(attrs));
    struct sockaddr_storage ss;
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    const struct sockaddr_in6 *a = (const void *)&ss;
    assert_memory_equal(&a->sin6_addr, &ip, 16);
    assert_int_equal(ntohs(a->sin6_port), 25890);
}

static void other_transaction_or_type_is_notfound(void **state) {
    uint8_t b[128], other[12] = {0};
    size_t n = response(b, 0x0101, other, XOR_V4, sizeof(XOR_V4));
    struct sockaddr_storage ss;
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_NOTFOUND);
    n = response(b, 0x0001, TXID, XOR_V4, sizeof(XOR_V4)); /* a request */
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_NOTFOUND);
}

static void error_response(void **state) {
    uint8_t b[128], attrs[] = {0x00, 0x09, 0x00, 0x08, 0, 0, 4, 20, 'B', 'a', 'd', '!'};
    size_t n = response(b, 0x0111, TXID, attrs, sizeof(attrs));
    struct sockaddr_storage ss;
    int code = 0;
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, &code), WV_ERR_AUTH);
    assert_int_equal(code, 420);
    attrs[3] = 2; /* ERROR-CODE shorter than its fixed part */
    n = response(b, 0x0111, TXID, attrs, 8);
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, &code), WV_ERR_PROTO);
}

static void malformed(void **state) {
    uint8_t b[256], attrs[64];
    struct sockaddr_storage ss;
    size_t n = response(b, 0x0101, TXID, XOR_V4, sizeof(XOR_V4));
    /* Every truncation. */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(wv_stun_parse_response(b, k, TXID, &ss, NULL), WV_ERR_PROTO);
    /* Trailing garbage (length field no longer matches). */
    assert_int_equal(wv_stun_parse_response(b, n + 4, TXID, &ss, NULL), WV_ERR_PROTO);
    /* Wrong cookie, top bits set. */
    b[4] ^= 1;
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    b[4] ^= 1;
    b[0] |= 0x40;
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    assert_false(wv_stun_is_message(b, n));
    b[0] &= 0x3f;
    /* Length not a multiple of 4. */
    memcpy(attrs, XOR_V4, sizeof(XOR_V4));
    n = response(b, 0x0101, TXID, attrs, sizeof(XOR_V4) - 2);
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    /* Attribute longer than the message. */
    attrs[3] = 0x40;
    n = response(b, 0x0101, TXID, attrs, sizeof(XOR_V4));
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    /* Address attribute of the wrong size for its family. */
    attrs[3] = 0x04;
    n = response(b, 0x0101, TXID, attrs, 8);
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    /* Unknown family. */
    memcpy(attrs, XOR_V4, sizeof(XOR_V4));
    attrs[5] = 3;
    n = response(b, 0x0101, TXID, attrs, sizeof(XOR_V4));
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    /* IPv6 family with an IPv4-sized value. */
    attrs[5] = 2;
    n = response(b, 0x0101, TXID, attrs, sizeof(XOR_V4));
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    /* No address at all; only an unknown attribute. */
    uint8_t soft[] = {0x80, 0x22, 0x00, 0x03, 'a', 'b', 'c', 0};
    n = response(b, 0x0101, TXID, soft, sizeof(soft));
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    n = response(b, 0x0101, TXID, NULL, 0);
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    /* Port 0 is not a mapping. */
    memcpy(attrs, PLAIN_V4, sizeof(PLAIN_V4));
    attrs[6] = attrs[7] = 0;
    n = response(b, 0x0101, TXID, attrs, sizeof(PLAIN_V4));
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), WV_ERR_PROTO);
    /* Oversize. */
    uint8_t *big = calloc(1, WV_STUN_MAX_MESSAGE + 20);
    assert_int_equal(wv_stun_parse_response(big, WV_STUN_MAX_MESSAGE + 20, TXID, &ss, NULL),
                     WV_ERR_PROTO);
    free(big);
    assert_int_equal(wv_stun_parse_response(NULL, 0, TXID, &ss, NULL), WV_ERR_PROTO);
}

/* Unknown attributes are skipped, with their padding. */
static void skips_unknown_padded_attributes(void **state) {
    uint8_t b[128], attrs[64] = {0x80, 0x22, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
    memcpy(attrs + 12, XOR_V4, sizeof(XOR_V4));
    size_t n = response(b, 0x0101, TXID, attrs, 12 + sizeof(XOR_V4));
    struct sockaddr_storage ss;
    assert_int_equal(wv_stun_parse_response(b, n, TXID, &ss, NULL), 0);
    check_v4(&ss, "192.0.2.1", 32853);
}

/* Random mutations of a valid response parse or are refused, never crash
 * (run under ASan in CI builds). */
static void mutations_never_crash(void **state) {
    uint8_t base[128], b[128], attrs[64];
    memcpy(attrs, PLAIN_V4, sizeof(PLAIN_V4));
    memcpy(attrs + sizeof(PLAIN_V4), XOR_V4, sizeof(XOR_V4));
    size_t n = response(base, 0x0101, TXID, attrs, sizeof(PLAIN_V4) + sizeof(XOR_V4));
    srand(7);
    for (int i = 0; i < 20000; i++) {
        memcpy(b, base, n);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            b[rand() % n] = (uint8_t)rand();
        struct sockaddr_storage ss;
        int rv =
            wv_stun_parse_response(b, rand() % 3 ? n : (size_t)(rand() % (int)n), TXID, &ss, NULL);
        assert_true(rv == 0 || rv == WV_ERR_PROTO || rv == WV_ERR_NOTFOUND || rv == WV_ERR_AUTH);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(request_layout),
    cmocka_unit_test(xor_mapped_v4),
    cmocka_unit_test(plain_mapped_and_xor_wins),
    cmocka_unit_test(xor_mapped_v6),
    cmocka_unit_test(other_transaction_or_type_is_notfound),
    cmocka_unit_test(error_response),
    cmocka_unit_test(malformed),
    cmocka_unit_test(skips_unknown_padded_attributes),
    cmocka_unit_test(mutations_never_crash),
};
WVU_MAIN(tests)
