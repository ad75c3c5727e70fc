/* quic_flood: a handshake flood for the security tests (issue 17, hole 5),
 * with real QUIC Initials built by ngtcp2 (0.12, the version the agent uses)
 * and GnuTLS. No network key, no pin: it never completes a handshake.
 *
 *   quic_flood HOST PORT SRC_IP DURATION_MS BURST INTERVAL_MS [follow-retry]
 *
 * Every INTERVAL_MS it sends BURST Initials, each from a fresh UDP socket
 * bound to SRC_IP (a fresh source port). Before the next burst it reads
 * what the previous burst's sockets got: a Retry (the server asks for
 * address validation and keeps no state) or anything else (the server made
 * a connection for it). With follow-retry, an Initial that got a Retry is
 * sent again with the token, as a client that owns its address would, and
 * then abandoned half-open too. Prints one JSON line:
 *   {"sent":n, "retries":n, "answered":n, "followed":n}
 * Exit 0; 2 on a usage or setup error. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BURST 256

struct slot {
    int fd;
    ngtcp2_conn *conn;
    gnutls_session_t tls;
    ngtcp2_crypto_conn_ref ref;
    struct sockaddr_in local;
    bool followed;
};

static struct sockaddr_in target;
static gnutls_certificate_credentials_t cred;
static gnutls_priority_t prio;
static unsigned long sent, retries, answered, followed;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx) {
    (void)ctx;
    gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

static int on_new_cid(ngtcp2_conn *c, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *u) {
    (void)c;
    (void)u;
    gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen);
    cid->datalen = cidlen;
    gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) {
    return ((struct slot *)ref->user_data)->conn;
}

static ngtcp2_path path_of(struct slot *s) {
    ngtcp2_path p = {{(ngtcp2_sockaddr *)&s->local, sizeof s->local},
                     {(ngtcp2_sockaddr *)&target, sizeof target},
                     NULL};
    return p;
}

/* Writes and sends the connection's next datagram (its Initial). */
static bool flush(struct slot *s) {
    uint8_t buf[1500];
    ngtcp2_path p = path_of(s);
    ngtcp2_pkt_info pi;
    ngtcp2_ssize n = ngtcp2_conn_write_pkt(s->conn, &p, &pi, buf, sizeof buf, now_ns());
    if (n <= 0)
        return false;
    if (sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&target, sizeof target) == n)
        sent++;
    return true;
}

static int slot_open(struct slot *s, const char *src) {
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0)
        return -1;
    s->local.sin_family = AF_INET;
    inet_pton(AF_INET, src, &s->local.sin_addr);
    socklen_t sl = sizeof s->local;
    if (bind(s->fd, (struct sockaddr *)&s->local, sizeof s->local) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&s->local, &sl) != 0) {
        close(s->fd);
        return -1;
    }
    ngtcp2_callbacks cb = {0};
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.rand = on_rand;
    cb.get_new_connection_id = on_new_cid;
    ngtcp2_cid dcid, scid;
    dcid.datalen = 16;
    scid.datalen = 16;
    gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen);
    gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen);
    ngtcp2_settings st;
    ngtcp2_settings_default(&st);
    st.initial_ts = now_ns();
    ngtcp2_transport_params tp;
    ngtcp2_transport_params_default(&tp);
    tp.initial_max_data = 1 << 20;
    tp.initial_max_stream_data_bidi_local = 1 << 18;
    tp.initial_max_streams_bidi = 16;
    tp.max_idle_timeout = 30 * NGTCP2_SECONDS;
    tp.active_connection_id_limit = 2;
    ngtcp2_path p = path_of(s);
    if (ngtcp2_conn_client_new(&s->conn, &dcid, &scid, &p, NGTCP2_PROTO_VER_V1, &cb, &st, &tp, NULL,
                               s) != 0)
        goto fail;
    static const gnutls_datum_t alpn = {(unsigned char *)"wovenet/1", 9};
    if (gnutls_init(&s->tls, GNUTLS_CLIENT | GNUTLS_NO_TICKETS) < 0 ||
        ngtcp2_crypto_gnutls_configure_client_session(s->tls) != 0 ||
        gnutls_priority_set(s->tls, prio) < 0 ||
        gnutls_credentials_set(s->tls, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
        gnutls_alpn_set_protocols(s->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) < 0)
        goto fail;
    s->ref.get_conn = get_conn;
    s->ref.user_data = s;
    gnutls_session_set_ptr(s->tls, &s->ref);
    gnutls_server_name_set(s->tls, GNUTLS_NAME_DNS, "wovenet", 7);
    ngtcp2_conn_set_tls_native_handle(s->conn, s->tls);
    return flush(s) ? 0 : -1;
fail:
    if (s->conn)
        ngtcp2_conn_del(s->conn);
    if (s->tls)
        gnutls_deinit(s->tls);
    close(s->fd);
    return -1;
}

static void slot_close(struct slot *s) {
    ngtcp2_conn_del(s->conn);
    gnutls_deinit(s->tls);
    close(s->fd);
}

/* Reads what the server sent this slot; true to keep it one more round. */
static bool slot_poll(struct slot *s, bool follow) {
    uint8_t buf[2048];
    bool keep = false;
    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        bool retry = (buf[0] & 0x80) && ((buf[0] >> 4) & 3) == 3;
        if (!retry) {
            answered++;
            break;
        }
        retries++;
        if (follow && !s->followed) {
            ngtcp2_path p = path_of(s);
            ngtcp2_pkt_info pi = {0};
            if (ngtcp2_conn_read_pkt(s->conn, &p, &pi, buf, (size_t)n, now_ns()) == 0 && flush(s)) {
                s->followed = true;
                followed++;
                keep = true;
            }
        }
        break;
    }
    return keep;
}

int main(int argc, char **argv) {
    if (argc < 7)
        return 2;
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1)
        return 2;
    const char *src = argv[3];
    long duration = atol(argv[4]), burst = atol(argv[5]), interval = atol(argv[6]);
    bool follow = argc > 7 && strcmp(argv[7], "follow-retry") == 0;
    if (burst < 1 || burst > MAX_BURST || interval < 1)
        return 2;
    if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
        gnutls_priority_init2(&prio,
                              "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
                              "+AES-256-GCM:+CHACHA20-POLY1305:%DISABLE_TLS13_COMPAT_MODE",
                              NULL, 0) < 0)
        return 2;
    /* Slots stay where they were allocated: the TLS session points at them. */
    static struct slot *prev[2 * MAX_BURST], *cur[2 * MAX_BURST];
    size_t nprev = 0;
    uint64_t end = now_ns() + (uint64_t)duration * 1000000u;
    while (now_ns() < end) {
        size_t ncur = 0;
        /* The previous round: count what came back; follow Retries once. */
        for (size_t i = 0; i < nprev; i++) {
            if (slot_poll(prev[i], follow)) {
                cur[ncur++] = prev[i];
            } else {
                slot_close(prev[i]);
                free(prev[i]);
            }
        }
        for (long i = 0; i < burst; i++) {
            struct slot *sl = malloc(sizeof *sl);
            if (sl && slot_open(sl, src) == 0)
                cur[ncur++] = sl;
            else
                free(sl);
        }
        memcpy(prev, cur, ncur * sizeof *cur);
        nprev = ncur;
        struct timespec ts = {interval / 1000, (interval % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < nprev; i++) {
        slot_poll(prev[i], false);
        slot_close(prev[i]);
        free(prev[i]);
    }
    printf("{\"sent\":%lu,\"retries\":%lu,\"answered\":%lu,\"followed\":%lu}\n", sent, retries,
           answered, followed);
    gnutls_priority_deinit(prio);
    gnutls_certificate_free_credentials(cred);
    return 0;
}
