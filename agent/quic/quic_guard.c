/* Inbound handshake guard (issue 17, hole 5): address validation with Retry
 * tokens once unproven handshakes pile up, and a bound on handshakes per
 * source address. A flood of Initials from spoofed or fresh source ports
 * then costs the endpoint one stateless Retry each and no state; a source
 * that does validate its address holds at most max_handshakes_per_source
 * half-open connections.
 *
 * Self-contained on purpose: it only reads the endpoint's connection list
 * and its own fields (retry_secret, guard counters), written for ngtcp2
 * 0.12 and carried over to 1.x with the header's token fields renamed. */
#include "quic_int.h"

#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <string.h>

/* A Retry token is good for this long (the client answers in one RTT). */
#define RETRY_TOKEN_TIMEOUT (10 * NGTCP2_SECONDS)

/* Server connections whose handshake has not completed: all of them, and
 * those from the source of `from`. */
static void count_handshaking(wv_quic_endpoint *ep, const struct sockaddr *from, unsigned *all,
                              unsigned *source) {
    *all = *source = 0;
    for (wv_quic__link *n = ep->conns.next; n != &ep->conns; n = n->next) {
        wv_quic_conn *c = WV_CONTAINER_OF(n, wv_quic_conn, ep_link);
        if (!c->server || c->hs_done || c->state >= WV_QUIC__CLOSING)
            continue;
        (*all)++;
        *source += wv_addr_same_source((const struct sockaddr *)&c->remote, from);
    }
}

int wv_quic__guard_init(wv_quic_endpoint *ep) {
    return gnutls_rnd(GNUTLS_RND_KEY, ep->retry_secret, sizeof ep->retry_secret) < 0 ? WV_ERR_CRYPTO
                                                                                     : 0;
}

static void send_retry(wv_quic_endpoint *ep, const ngtcp2_pkt_hd *hd, const struct sockaddr *from) {
    uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN], cidbuf[WV_QUIC__CID_LEN];
    if (gnutls_rnd(GNUTLS_RND_NONCE, cidbuf, sizeof cidbuf) < 0)
        return;
    ngtcp2_cid scid;
    ngtcp2_cid_init(&scid, cidbuf, sizeof cidbuf);
    ngtcp2_ssize tl = ngtcp2_crypto_generate_retry_token(
        token, ep->retry_secret, sizeof ep->retry_secret, hd->version,
        (const ngtcp2_sockaddr *)from, wv_quic__addr_len(from), &scid, &hd->dcid, wv_quic__now());
    if (tl < 0)
        return;
    ngtcp2_ssize n = ngtcp2_crypto_write_retry(ep->txbuf, ep->txbuflen, hd->version, &hd->scid,
                                               &scid, &hd->dcid, token, (size_t)tl);
    if (n > 0) {
        ep->guard.retries_sent++;
        wv_quic__ep_send(ep, from, ep->txbuf, (size_t)n);
    }
}

enum wv_quic__admit wv_quic__guard_admit(wv_quic_endpoint *ep, const ngtcp2_pkt_hd *hd,
                                         const struct sockaddr *from, ngtcp2_cid *odcid) {
    bool validated = false;
    if (hd->tokenlen > 0) {
        if (hd->token[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY ||
            ngtcp2_crypto_verify_retry_token(odcid, hd->token, hd->tokenlen, ep->retry_secret,
                                             sizeof ep->retry_secret, hd->version,
                                             (const ngtcp2_sockaddr *)from, wv_quic__addr_len(from),
                                             &hd->dcid, RETRY_TOKEN_TIMEOUT, wv_quic__now()) != 0) {
            ep->guard.bad_tokens++;
            return WV_QUIC__DROP; /* forged, expired, or from another address */
        }
        validated = true;
    }
    unsigned all, source;
    count_handshaking(ep, from, &all, &source);
    if (ep->cfg.max_handshakes_per_source && source >= ep->cfg.max_handshakes_per_source) {
        ep->guard.source_refused++;
        return WV_QUIC__DROP;
    }
    if (!validated && all >= ep->cfg.retry_threshold) {
        send_retry(ep, hd, from);
        return WV_QUIC__DROP; /* no state: the client comes back with the token */
    }
    return validated ? WV_QUIC__ADMIT_VALIDATED : WV_QUIC__ADMIT;
}

void wv_quic_endpoint_guard_stats(wv_quic_endpoint *ep, wv_quic_guard_stats *out) {
    *out = ep->guard;
}
