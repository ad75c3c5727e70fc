/* The in-process QUIC fixture of quic_test.c and quic_wire_test.c: two
 * endpoints on one loop over loopback (side a accepts, side b dials), with
 * echo, patterned sends and stream bookkeeping. */
#pragma once

#include "quic_pair.h"

#include "quic_int.h"
#include "wv/base.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct side side;
typedef struct fx fx;

struct side {
    fx *f;
    const char *name;
    wv_quic_conn *conn;
    int accepts, hs, closed, stream_opens, stream_closes, resets, writables, avail;
    wv_quic_close_info close;
    uint64_t close_ns;
    /* Receive side of the current stream. */
    int64_t sid;
    uint8_t *rbuf;
    size_t rlen, rcap, unconsumed;
    bool rfin;
    bool consume;    /* give credit back as soon as data arrives */
    bool echo;       /* write received bytes back, credit only what went out */
    size_t echo_off; /* bytes of rbuf already echoed */
    /* Send side of the current stream. */
    const uint8_t *sbuf;
    size_t slen, soff;
    bool sfin;
    /* Many-streams mode. */
    int streams_target, streams_done, streams_opened;
    bool ping_pong;
    bool open_on_hs; /* open a stream and say "hi" from on_handshake_done */
};

struct fx {
    uv_loop_t loop;
    qpair q;   /* q.a serves, q.b dials */
    side a, b; /* their callbacks' user data */
    wv_log *log;
};

static inline side *side_of(void *user) {
    return user;
}

static inline void on_accept(wv_quic_endpoint *ep, wv_quic_conn *c, void *user) {
    side *s = side_of(user);
    s->accepts++;
    s->conn = c;
}

static inline void on_hs(wv_quic_conn *c, void *user) {
    side *s = side_of(user);
    s->hs++;
    assert_non_null(wv_quic_conn_peer_fingerprint(c));
    assert_true(wv_quic_conn_handshake_done(c));
    if (s->open_on_hs) {
        int64_t sid;
        assert_int_equal(wv_quic_stream_open(c, &sid), 0);
        assert_int_equal(wv_quic_stream_write(c, sid, (const uint8_t *)"hi", 2, true), 2);
    }
}

static inline void pump_send(side *s, wv_quic_conn *c);

static inline void on_stream_open(wv_quic_conn *c, int64_t sid, void *user) {
    side *s = side_of(user);
    /* The app hears of the handshake before any stream of the peer. */
    assert_int_equal(s->hs, 1);
    s->stream_opens++;
    s->sid = sid;
}

static inline void echo_out(side *s, wv_quic_conn *c) {
    while (s->echo_off < s->rlen) {
        long n =
            wv_quic_stream_write(c, s->sid, s->rbuf + s->echo_off, s->rlen - s->echo_off, s->rfin);
        assert_true(n >= 0);
        if (n == 0)
            return;
        /* End to end: credit goes back only for bytes passed on. */
        assert_int_equal(wv_quic_stream_consumed(c, s->sid, (size_t)n), 0);
        s->echo_off += (size_t)n;
    }
    if (s->rfin && !s->sfin) {
        s->sfin = true;
        assert_int_equal(wv_quic_stream_shutdown_write(c, s->sid), 0);
    }
    /* The echo side keeps only a window's worth; drop what went out. */
    if (s->echo_off == s->rlen)
        s->rlen = s->echo_off = 0;
}

static inline bool open_next(side *s, wv_quic_conn *c) {
    int64_t sid;
    if (s->streams_opened >= s->streams_target)
        return false;
    int rv = wv_quic_stream_open(c, &sid);
    if (rv == WV_ERR_AGAIN)
        return false; /* on_streams_available */
    assert_int_equal(rv, 0);
    s->sid = sid;
    s->streams_opened++;
    assert_int_equal(wv_quic_stream_write(c, sid, (const uint8_t *)"ping", 4, true), 4);
    return true;
}

static inline void on_stream_data(wv_quic_conn *c, int64_t sid, const uint8_t *data, size_t len,
                                  bool fin, void *user) {
    side *s = side_of(user);
    if (s->ping_pong) {
        if (wv_quic_conn_is_server(c)) {
            assert_int_equal(wv_quic_stream_consumed(c, sid, len), 0);
            if (fin)
                assert_int_equal(wv_quic_stream_write(c, sid, (const uint8_t *)"pong", 4, true), 4);
        } else if (fin) {
            assert_int_equal(wv_quic_stream_consumed(c, sid, len), 0);
            if (++s->streams_done < s->streams_target)
                open_next(s, c);
        } else {
            assert_int_equal(wv_quic_stream_consumed(c, sid, len), 0);
        }
        return;
    }
    if (s->rlen + len > s->rcap) {
        s->rcap = (s->rlen + len) * 2;
        s->rbuf = realloc(s->rbuf, s->rcap);
    }
    memcpy(s->rbuf + s->rlen, data, len);
    s->rlen += len;
    s->unconsumed += len;
    if (fin)
        s->rfin = true;
    if (s->consume) {
        assert_int_equal(wv_quic_stream_consumed(c, sid, len), 0);
        s->unconsumed -= len;
    }
    if (s->echo)
        echo_out(s, c);
}

static inline void on_stream_reset(wv_quic_conn *c, int64_t sid, uint64_t err, void *user) {
    side_of(user)->resets++;
}

static inline void on_stream_close(wv_quic_conn *c, int64_t sid, uint64_t err, void *user) {
    side_of(user)->stream_closes++;
}

static inline void pump_send(side *s, wv_quic_conn *c) {
    while (s->soff < s->slen) {
        size_t want = WV_MIN(s->slen - s->soff, (size_t)65536);
        bool fin = s->soff + want == s->slen;
        long n = wv_quic_stream_write(c, s->sid, s->sbuf + s->soff, want, fin);
        assert_true(n >= 0);
        s->soff += (size_t)n;
        if ((size_t)n < want)
            return;
    }
}

static inline void on_writable(wv_quic_conn *c, int64_t sid, void *user) {
    side *s = side_of(user);
    s->writables++;
    if (s->echo)
        echo_out(s, c);
    else
        pump_send(s, c);
}

static inline void on_avail(wv_quic_conn *c, void *user) {
    side *s = side_of(user);
    s->avail++;
    while (s->ping_pong && open_next(s, c))
        ;
}

static inline void on_closed(wv_quic_conn *c, const wv_quic_close_info *info, void *user) {
    side *s = side_of(user);
    s->closed++;
    s->close = *info;
    s->close_ns = uv_hrtime();
    if (s->conn == c)
        s->conn = NULL;
}

static const wv_quic_callbacks cbs = {
    .on_accept = on_accept,
    .on_handshake_done = on_hs,
    .on_stream_open = on_stream_open,
    .on_stream_data = on_stream_data,
    .on_stream_reset = on_stream_reset,
    .on_stream_close = on_stream_close,
    .on_stream_writable = on_writable,
    .on_streams_available = on_avail,
    .on_conn_closed = on_closed,
};

static inline fx *fx_new(const char *ip, const wv_quic_config *cfg) {
    fx *f = calloc(1, sizeof(*f));
    /* QUIC_TEST_LOG=1 shows the module's log lines. */
    if (getenv("QUIC_TEST_LOG"))
        f->log = wv_log_new(WV_LOG_DEBUG, WV_LOG_TEXT, NULL);
    f->a = (side){.f = f, .name = "a"};
    f->b = (side){.f = f, .name = "b"};
    /* The dialer sits on a wildcard ephemeral socket, as a dial-only
     * endpoint of a family would. */
    qpair_init(&f->q, &f->loop, cfg, f->log, &cbs, &f->a, &f->b, ip,
               strchr(ip, ':') ? "::" : "0.0.0.0");
    return f;
}

static inline void fx_free(fx *f) {
    qpair_dispose(&f->q);
    free(f->a.rbuf);
    free(f->b.rbuf);
    wv_log_free(f->log);
    free(f);
}

static inline wv_quic_conn *dial(fx *f, const uint8_t *pin) {
    return f->b.conn = qpair_dial(&f->q, NULL, pin);
}

static inline void connect_pair(fx *f) {
    dial(f, wv_identity_fingerprint(f->q.ida));
    RUN_UNTIL(f, f->a.hs && f->b.hs, 3000);
    assert_int_equal(f->a.hs, 1);
    assert_int_equal(f->b.hs, 1);
    assert_int_equal(f->a.accepts, 1);
}

static inline uint8_t *pattern(size_t len) {
    uint8_t *p = malloc(len);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* b starts sending len patterned bytes on a new stream; the caller runs
 * the loop. Returns the pattern (free it). */
static inline uint8_t *start_send(fx *f, size_t len) {
    uint8_t *data = pattern(len);
    int64_t sid;
    assert_int_equal(wv_quic_stream_open(f->b.conn, &sid), 0);
    f->b.sid = sid;
    f->b.sbuf = data;
    f->b.slen = len;
    pump_send(&f->b, f->b.conn);
    return data;
}

/* The same, and a echoes the bytes back to b. */
static inline uint8_t *start_echo(fx *f, size_t len) {
    f->a.echo = true;
    f->b.consume = true;
    return start_send(f, len);
}
