/* Forward error correction for lossy paths (docs/QUIC.md, "Loss repair").
 *
 * ngtcp2's BBR caps its inflight when a round loses more than 2% of its
 * packets, and a path that loses that much at random has no congestion to
 * speak of. So between two wovenet agents each connection's packets go out
 * in groups of k, and after each group two repair datagrams carry the XOR
 * of the group (its first and second halves, so that a repair never needs
 * a bigger datagram than the path takes). A receiver that got all but one
 * packet of a group rebuilds the missing one and hands it to ngtcp2 before
 * the sender's loss detection (a packet threshold of up to 256 packets, or
 * 9/8 RTT) counts it lost: the congestion controller sees only what the
 * repairs could not rebuild.
 *
 * The receiver measures the path's loss exactly (a group's size against
 * the packets that came) and reports its counters back every 16 repairs or
 * 100 ms; the sender picks k from the scattered loss (what groups that
 * lost at most max(2, k/8) packets lost: random loss; a queue that
 * overflows drops runs, which no single repair rebuilds and which the
 * congestion controller must see): 32 to start, 64 (1.6 % more bytes)
 * while nothing is lost, down to 4 as the loss grows, so that what remains
 * after repair stays far below 2 %.
 *
 * Wire (never a QUIC v1 packet: the fixed bit 0x40 is clear, and it is not
 * STUN; the first bytes are laid out as a short header, so the endpoint
 * finds the connection by its CID as for any packet):
 *   repair: 0x21, DCID (16), group u16, k u8, flags u8, len u16, xlen u16,
 *           xtag u16, XOR of the group's bytes [half * h, half * h + h)
 *           where h = (len + 1) / 2 and len is the group's longest packet;
 *           xlen and xtag are the XOR of the packets' lengths and of their
 *           last two bytes (part of the AEAD tag: a check of the rebuilt
 *           packet). flags: F_SECOND (the second half), F_COUNT (a group
 *           only counted, no XOR: its one repair has no payload),
 *           F_NEXT_XOR (the next group carries an XOR). While the peer
 *           reports no scattered loss (below 0.02-0.05 %) groups are only
 *           counted: no XOR at either end, one 27-byte datagram per 64
 *           packets, and the loss is still measured.
 *   report: 0x22, DCID (16), packets u64, lost u64, rebuilt u64,
 *           scattered u64 (lost in groups that lost at most max(2, k/8);
 *           totals since the connection began).
 * Neither is authenticated. A forged repair rebuilds garbage that ngtcp2's
 * AEAD rejects; a forged report (it needs the CID, so an on-path sender)
 * can at most make the sender spend a quarter more bytes on repairs.
 * Repairs go only to a peer that sent a report, and a site sends its first
 * report only once the peer proved membership (wv_quic_conn_fec_offer), so
 * a QUIC peer that is not wovenet never sees either. */
#include "quic_int.h"

#include <stdlib.h>
#include <string.h>

#define REPAIR 0x21
#define REPORT 0x22
#define REPAIR_HDR (1 + WV_QUIC__CID_LEN + 2 + 1 + 1 + 2 + 2 + 2)
#define REPORT_LEN (1 + WV_QUIC__CID_LEN + 4 * 8)
/* The flags byte of a repair. */
#define F_SECOND 0x01   /* the second half (else the first) */
#define F_COUNT 0x02    /* a counted group: no XOR, this is its only repair */
#define F_NEXT_XOR 0x04 /* the next group carries an XOR */
/* Scattered loss (smoothed) above which groups carry an XOR, and below
 * which they go back to being counted only. */
#define XOR_ON 0.0005
#define XOR_OFF 0.0002
#define K_MIN 4
#define K_MAX 64
/* How often the offer is repeated (every 200 ms) until repairs come. */
#define OFFERS 20
/* A report moves k only once it covers this many packets. */
#define SAMPLE_MIN 256
/* The group size before the first report that counts. */
#define K_START 32

struct wv_quic__fec {
    /* Sender: the open group. */
    bool peer;      /* the peer rebuilds: it sent a report */
    bool xor_now;   /* the open group carries an XOR (else it is only counted) */
    bool xor_next;  /* and the next one: announced in this one's repair */
    bool off;       /* a packet too large to cover went out: no more repairs */
    unsigned k, n;  /* group size now; packets in the open group */
    uint16_t group; /* its number */
    uint16_t xlen, xtag;
    size_t maxlen;
    uint8_t dcid[WV_QUIC__CID_LEN];
    uint64_t rep_total, rep_scattered; /* the counters k was last chosen from */
    double loss;                       /* smoothed loss rate the reports gave */
    uint64_t repairs_sent;
    uint8_t acc[WV_QUIC__FEC_MAXPKT];

    /* Receiver. */
    bool offered;  /* we report (and so rebuild) */
    bool synced;   /* rgroup is the last group whose first repair came */
    bool skipping; /* feeding a rebuilt packet: not part of any group */
    bool rxor;     /* the peer's open group carries an XOR: accumulate it */
    uint16_t rgroup;
    unsigned rn; /* packets received since the last group closed */
    uint16_t rxlen, rxtag;
    size_t rmax;
    uint8_t racc[WV_QUIC__FEC_MAXPKT];
    /* The group closed by its first repair, waiting for the other half. */
    bool pending;
    uint8_t have; /* bit 0: first half in, bit 1: second half */
    uint16_t pgroup, plen, ptag;
    uint8_t rec[WV_QUIC__FEC_MAXPKT];
    uint64_t total, lost, rebuilt, scattered, last_report_ms;
    unsigned repairs_since, offers;
};

/* dst ^= src, a word at a time: every packet goes through it once at each
 * end. */
static void xor_into(uint8_t *dst, const uint8_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, dst + i, 8);
        memcpy(&b, src + i, 8);
        a ^= b;
        memcpy(dst + i, &a, 8);
    }
    for (; i < n; i++)
        dst[i] ^= src[i];
}

static uint64_t now_ms(void) {
    return wv_quic__now() / 1000000;
}

/* A 1-RTT QUIC packet: short header, fixed bit set (what groups cover). */
static bool short_header(const uint8_t *pkt) {
    return (pkt[0] & 0xc0) == 0x40;
}

static bool enabled(const wv_quic_conn *c) {
    return c->ep->cfg.fec && !c->ep->virt;
}

static wv_quic__fec *fec_of(wv_quic_conn *c) {
    if (!c->fec)
        c->fec = wv_calloc(1, sizeof(*c->fec));
    return c->fec;
}

void wv_quic__fec_free(wv_quic_conn *c) {
    free(c->fec);
    c->fec = NULL;
}

/* ---- sender ---- */

bool wv_quic__fec_sent(wv_quic_conn *c, const uint8_t *pkt, size_t n) {
    wv_quic__fec *f = c->fec;
    if (!f || !f->peer || f->off || !short_header(pkt))
        return false; /* not repairing, or a long header (handshake) */
    if (n > WV_QUIC__FEC_MAXPKT || n < 1 + WV_QUIC__CID_LEN + 2) {
        f->off = true; /* a jumbo or loopback path: nothing to repair */
        return false;
    }
    if (f->n == 0) {
        memset(f->acc, 0, f->maxlen);
        f->maxlen = 0;
        f->xlen = f->xtag = 0;
        memcpy(f->dcid, pkt + 1, WV_QUIC__CID_LEN);
    }
    if (f->xor_now) {
        xor_into(f->acc, pkt, n);
        f->maxlen = WV_MAX(f->maxlen, n);
        f->xlen ^= (uint16_t)n;
        f->xtag ^= wv_get16(pkt + n - 2);
    }
    return ++f->n >= f->k;
}

void wv_quic__fec_flush(wv_quic_conn *c, const struct sockaddr *to) {
    wv_quic__fec *f = c->fec;
    if (!f || !f->peer || f->n == 0 || f->n < f->k)
        return;
    uint8_t out[REPAIR_HDR + WV_QUIC__FEC_MAXPKT / 2 + 1];
    size_t h = (f->maxlen + 1) / 2;
    unsigned pieces = f->xor_now ? 2 : 1;
    for (unsigned half = 0; half < pieces; half++) {
        size_t off = half * h, len = !f->xor_now ? 0 : half ? f->maxlen - h : h;
        uint8_t *p = out;
        *p++ = REPAIR;
        memcpy(p, f->dcid, WV_QUIC__CID_LEN);
        p += WV_QUIC__CID_LEN;
        wv_put16(p, f->group);
        p[2] = (uint8_t)f->n;
        p[3] = (uint8_t)((half ? F_SECOND : 0) | (f->xor_now ? 0 : F_COUNT) |
                         (f->xor_next ? F_NEXT_XOR : 0));
        wv_put16(p + 4, (uint16_t)f->maxlen);
        wv_put16(p + 6, f->xlen);
        wv_put16(p + 8, f->xtag);
        p += 10;
        memcpy(p, f->acc + off, len);
        wv_quic__ep_send(c->ep, to, out, REPAIR_HDR + len);
    }
    f->repairs_sent++;
    f->group++;
    f->n = 0;
    f->xor_now = f->xor_next;
}

/* k from the loss rate p: what single-parity groups leave unrepaired is
 * about (k + 1) p^2 of the packets; keep it near 0.5 %. */
static unsigned k_for(double p) {
    if (p <= 0)
        return K_MAX;
    double k = 0.005 / (p * p) - 1;
    return k >= K_MAX ? K_MAX : k <= K_MIN ? K_MIN : (unsigned)k;
}

static void got_report(wv_quic_conn *c, const uint8_t *p) {
    if (!enabled(c))
        return;
    wv_quic__fec *f = fec_of(c);
    uint64_t total = wv_get64(p), lost = wv_get64(p + 24);
    if (!f->peer) {
        f->peer = true;
        f->k = K_START;
        f->xor_now = f->xor_next = true; /* until a report says the path is clean */
    }
    if (total < f->rep_total || lost < f->rep_scattered ||
        lost - f->rep_scattered > total - f->rep_total) {
        f->rep_total = total; /* not one series with the last: start again */
        f->rep_scattered = lost;
        return;
    }
    uint64_t dt = total - f->rep_total;
    if (dt < SAMPLE_MIN)
        return;
    double rate = (double)(lost - f->rep_scattered) / (double)dt;
    f->loss = f->loss > 0 ? (f->loss + rate) / 2 : rate;
    f->rep_total = total;
    f->rep_scattered = lost;
    f->k = k_for(f->loss); /* an open group already past it closes with its next packet */
    f->xor_next = f->loss >= XOR_ON || (f->xor_next && f->loss >= XOR_OFF);
}

/* ---- receiver ---- */

static void send_report(wv_quic_conn *c, const struct sockaddr *to, const uint8_t *dcid) {
    wv_quic__fec *f = c->fec;
    uint8_t out[REPORT_LEN];
    out[0] = REPORT;
    memcpy(out + 1, dcid, WV_QUIC__CID_LEN);
    wv_put64(out + 1 + WV_QUIC__CID_LEN, f->total);
    wv_put64(out + 9 + WV_QUIC__CID_LEN, f->lost);
    wv_put64(out + 17 + WV_QUIC__CID_LEN, f->rebuilt);
    wv_put64(out + 25 + WV_QUIC__CID_LEN, f->scattered);
    wv_quic__ep_send(c->ep, to, out, sizeof(out));
    f->repairs_since = 0;
    f->last_report_ms = now_ms();
}

void wv_quic_conn_fec_offer(wv_quic_conn *c) {
    if (!enabled(c) || c->state >= WV_QUIC__CLOSING)
        return;
    wv_quic__fec *f = fec_of(c);
    if (f->offered)
        return;
    f->offered = true;
    f->rxor = true; /* until the peer's repairs say its groups are counted only */
    const ngtcp2_cid *dcid = ngtcp2_conn_get_dcid(c->nc);
    if (dcid->datalen != WV_QUIC__CID_LEN) {
        f->offered = false; /* not a peer of ours */
        return;
    }
    send_report(c, (const struct sockaddr *)&c->remote, dcid->data);
}

void wv_quic__fec_received(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt,
                           size_t n) {
    wv_quic__fec *f = c->fec;
    if (!f || !f->offered || f->skipping || !short_header(pkt))
        return;
    if (!f->synced && f->offers < OFFERS && now_ms() >= f->last_report_ms + 200) {
        f->offers++; /* no repair yet: the offer again (it may have been lost) */
        send_report(c, from, ngtcp2_conn_get_dcid(c->nc)->data);
    }
    f->rn++;
    if (!f->rxor)
        return; /* a counted group */
    if (n > WV_QUIC__FEC_MAXPKT || n < 2) {
        f->rn += 1u << 16; /* this group cannot be rebuilt */
        return;
    }
    xor_into(f->racc, pkt, n);
    f->rmax = WV_MAX(f->rmax, n);
    f->rxlen ^= (uint16_t)n;
    f->rxtag ^= wv_get16(pkt + n - 2);
}

/* The group the first repair of (group, k) closes: count it, and when one
 * packet of it is missing start rebuilding it in rec. */
static void close_group(wv_quic__fec *f, unsigned group, unsigned k, unsigned flags, unsigned len,
                        unsigned xlen, unsigned xtag) {
    bool follows = f->synced && group == (uint16_t)(f->rgroup + 1);
    f->pending = false;
    if (follows) {
        f->total += k;
        unsigned missing = f->rn < k ? k - f->rn : 0;
        f->lost += missing;
        if (missing <= WV_MAX(2u, k / 8))
            f->scattered += missing;
        unsigned plen = xlen ^ f->rxlen;
        if (missing == 1 && f->rxor && !(flags & F_COUNT) && f->rmax <= len && plen <= len &&
            plen > 1 + WV_QUIC__CID_LEN + 2) {
            f->pending = true;
            f->have = 0;
            f->pgroup = (uint16_t)group;
            f->plen = (uint16_t)plen;
            f->ptag = (uint16_t)(xtag ^ f->rxtag);
            memcpy(f->rec, f->racc, len);
        }
    }
    f->synced = true;
    f->rgroup = (uint16_t)group;
    f->rxor = (flags & F_NEXT_XOR) != 0;
    memset(f->racc, 0, f->rmax);
    f->rmax = 0;
    f->rn = 0;
    f->rxlen = f->rxtag = 0;
}

static void got_repair(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt, size_t n) {
    wv_quic__fec *f = c->fec;
    if (!f || !f->offered || n < REPAIR_HDR)
        return;
    const uint8_t *p = pkt + 1 + WV_QUIC__CID_LEN;
    unsigned group = wv_get16(p), k = p[2], flags = p[3], len = wv_get16(p + 4),
             xlen = wv_get16(p + 6), xtag = wv_get16(p + 8), half = flags & F_SECOND;
    size_t h = (len + 1) / 2, off = half ? h : 0, plen = flags & F_COUNT ? 0 : half ? len - h : h;
    if (k == 0 || flags > 7 || (flags & F_COUNT && half) || len > WV_QUIC__FEC_MAXPKT ||
        n - REPAIR_HDR != plen)
        return;
    if (!(f->pending && f->pgroup == group) && !(f->synced && f->rgroup == group))
        close_group(f, group, k, flags, len, xlen, xtag);
    if (f->pending && f->pgroup == group && !(f->have & (1u << half))) {
        xor_into(f->rec + off, pkt + REPAIR_HDR, plen);
        f->have |= (uint8_t)(1u << half);
        if (f->have == 3) {
            f->pending = false;
            if (wv_get16(f->rec + f->plen - 2) == f->ptag && short_header(f->rec)) {
                f->rebuilt++;
                f->skipping = true;
                wv_quic__conn_read(c, from, f->rec, f->plen);
                if (c->fec) /* the read may have ended the connection */
                    c->fec->skipping = false;
            }
        }
    }
    f = c->fec;
    if (!f || c->state >= WV_QUIC__CLOSING)
        return;
    if (half == 0 && (++f->repairs_since >= 16 || now_ms() >= f->last_report_ms + 100))
        send_report(c, from, ngtcp2_conn_get_dcid(c->nc)->data);
}

bool wv_quic__fec_input(wv_quic_conn *c, const struct sockaddr *from, const uint8_t *pkt,
                        size_t n) {
    if ((pkt[0] & 0xc0) != 0)
        return false; /* QUIC */
    if (pkt[0] == REPAIR)
        got_repair(c, from, pkt, n);
    else if (pkt[0] == REPORT && n == REPORT_LEN)
        got_report(c, pkt + 1 + WV_QUIC__CID_LEN);
    return true;
}

void wv_quic__fec_stats(const wv_quic_conn *c, struct wv_quic_fec_stats *out) {
    memset(out, 0, sizeof(*out));
    const wv_quic__fec *f = c->fec;
    if (!f)
        return;
    out->sending = f->peer && !f->off;
    out->group = f->peer && !f->off ? f->k : 0;
    out->repairs_sent = f->repairs_sent;
    out->peer_loss = f->loss;
    out->packets = f->total;
    out->lost = f->lost;
    out->rebuilt = f->rebuilt;
}
