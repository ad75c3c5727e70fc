#ifndef WV_TEST_QUIC_RELAY_H
#define WV_TEST_QUIC_RELAY_H
/* A UDP relay for QUIC tests: forwards between one client and one server
 * and drops every drop_every-th datagram (after the first few, so the
 * handshake itself is not what is tested). drop_every 0 = lossless. */
#include <string.h>
#include <uv.h>

typedef struct relay {
    uv_udp_t sock;
    struct sockaddr_storage server, client;
    bool have_client;
    unsigned n, drop_every;
    uint64_t dropped;
    uint8_t buf[65536];
} relay;

static inline void relay_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    relay *r = h->data;
    *b = uv_buf_init((char *)r->buf, sizeof(r->buf));
}

static inline void relay_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b,
                              const struct sockaddr *from, unsigned flags) {
    relay *r = h->data;
    if (n <= 0 || !from)
        return;
    bool from_server = memcmp(from, &r->server, sizeof(struct sockaddr_in)) == 0;
    if (!from_server) {
        memcpy(&r->client, from, sizeof(struct sockaddr_in));
        r->have_client = true;
    }
    if (++r->n > 8 && r->drop_every && r->n % r->drop_every == 0) {
        r->dropped++;
        return;
    }
    uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
    const struct sockaddr *to =
        from_server ? (const struct sockaddr *)&r->client : (const struct sockaddr *)&r->server;
    if (from_server && !r->have_client)
        return;
    uv_udp_try_send(&r->sock, &out, 1, to);
}

/* Binds to 127.0.0.1:0 and relays to server; *via gets the address to dial. */
static inline void relay_start(relay *r, uv_loop_t *loop, const struct sockaddr_storage *server,
                               unsigned drop_every, struct sockaddr_storage *via) {
    struct sockaddr_in sin;
    int len = sizeof(*via);
    memset(r, 0, sizeof(*r));
    r->server = *server;
    r->drop_every = drop_every;
    uv_udp_init(loop, &r->sock);
    r->sock.data = r;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    uv_udp_bind(&r->sock, (struct sockaddr *)&sin, 0);
    uv_udp_getsockname(&r->sock, (struct sockaddr *)via, &len);
    uv_udp_recv_start(&r->sock, relay_alloc, relay_recv);
}

#endif
