/* STUN Binding codec (RFC 5389). Pure functions over buffers. */
#include "stun.h"

#include "wv/base.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define T_BINDING_REQUEST 0x0001
#define T_BINDING_SUCCESS 0x0101
#define T_BINDING_ERROR 0x0111
#define A_MAPPED 0x0001
#define A_XOR_MAPPED 0x0020
#define A_XOR_MAPPED_OLD 0x8020 /* pre-RFC servers (e.g. Vovida stund) */
#define A_ERROR_CODE 0x0009

int wv_stun_build_request(uint8_t *buf, size_t cap, const uint8_t txid[WV_STUN_TXID_LEN]) {
    if (!buf || !txid || cap < WV_STUN_HEADER_LEN)
        return WV_ERR_INVAL;
    wv_put16(buf, T_BINDING_REQUEST);
    wv_put16(buf + 2, 0);
    wv_put32(buf + 4, WV_STUN_MAGIC);
    memcpy(buf + 8, txid, WV_STUN_TXID_LEN);
    return WV_STUN_HEADER_LEN;
}

bool wv_stun_is_message(const uint8_t *buf, size_t len) {
    if (!buf || len < WV_STUN_HEADER_LEN || len > WV_STUN_MAX_MESSAGE || (buf[0] & 0xc0) != 0)
        return false;
    size_t mlen = wv_get16(buf + 2);
    return mlen % 4 == 0 && mlen + WV_STUN_HEADER_LEN == len && wv_get32(buf + 4) == WV_STUN_MAGIC;
}

/* An address attribute value: 1 byte reserved, family, port, address. */
static int parse_addr(const uint8_t *v, size_t vlen, bool xor, const uint8_t *hdr,
                      struct sockaddr_storage *out) {
    if (vlen < 4)
        return WV_ERR_PROTO;
    uint16_t port = wv_get16(v + 2);
    if (xor)
        port ^= (uint16_t)(WV_STUN_MAGIC >> 16);
    memset(out, 0, sizeof(*out));
    if (v[1] == 0x01) {
        if (vlen != 8)
            return WV_ERR_PROTO;
        struct sockaddr_in *a = (struct sockaddr_in *)out;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        uint8_t ip[4];
        for (int i = 0; i < 4; i++)
            ip[i] = (uint8_t)(v[4 + i] ^ (xor? hdr[4 + i] : 0)); /* the cookie */
        memcpy(&a->sin_addr, ip, 4);
    } else if (v[1] == 0x02) {
        if (vlen != 20)
            return WV_ERR_PROTO;
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        uint8_t ip[16];
        /* XOR with cookie || transaction id: header bytes 4..19. */
        for (int i = 0; i < 16; i++)
            ip[i] = (uint8_t)(v[4 + i] ^ (xor? hdr[4 + i] : 0));
        memcpy(&a->sin6_addr, ip, 16);
    } else {
        return WV_ERR_PROTO;
    }
    if (port == 0)
        return WV_ERR_PROTO;
    return 0;
}

int wv_stun_parse_response(const uint8_t *buf, size_t len, const uint8_t txid[WV_STUN_TXID_LEN],
                           struct sockaddr_storage *mapped, int *err_code) {
    if (!buf || !txid || !mapped || len < WV_STUN_HEADER_LEN || len > WV_STUN_MAX_MESSAGE)
        return WV_ERR_PROTO;
    if ((buf[0] & 0xc0) != 0 || wv_get32(buf + 4) != WV_STUN_MAGIC)
        return WV_ERR_PROTO;
    size_t mlen = wv_get16(buf + 2);
    if (mlen % 4 != 0 || mlen + WV_STUN_HEADER_LEN != len)
        return WV_ERR_PROTO;
    uint16_t type = wv_get16(buf);
    if (memcmp(buf + 8, txid, WV_STUN_TXID_LEN) != 0 ||
        (type != T_BINDING_SUCCESS && type != T_BINDING_ERROR))
        return WV_ERR_NOTFOUND;
    bool have_xor = false, have_plain = false;
    struct sockaddr_storage xa, pa;
    int code = 0;
    size_t off = WV_STUN_HEADER_LEN;
    while (off < len) {
        if (len - off < 4)
            return WV_ERR_PROTO;
        uint16_t at = wv_get16(buf + off);
        size_t alen = wv_get16(buf + off + 2);
        size_t padded = (alen + 3) & ~(size_t)3;
        if (padded > len - off - 4)
            return WV_ERR_PROTO;
        const uint8_t *v = buf + off + 4;
        int rv = 0;
        /* The first of each kind counts (RFC 5389 15: later duplicates
         * are ignored). */
        if ((at == A_XOR_MAPPED || at == A_XOR_MAPPED_OLD) && !have_xor) {
            rv = parse_addr(v, alen, true, buf, &xa);
            have_xor = rv == 0;
        } else if (at == A_MAPPED && !have_plain) {
            rv = parse_addr(v, alen, false, buf, &pa);
            have_plain = rv == 0;
        } else if (at == A_ERROR_CODE && !code) {
            if (alen < 4)
                return WV_ERR_PROTO;
            code = (v[2] & 0x07) * 100 + v[3] % 100;
        }
        if (rv != 0)
            return rv;
        off += 4 + padded;
    }
    if (type == T_BINDING_ERROR) {
        if (err_code)
            *err_code = code;
        return WV_ERR_AUTH;
    }
    if (have_xor)
        *mapped = xa;
    else if (have_plain)
        *mapped = pa;
    else
        return WV_ERR_PROTO;
    return 0;
}
