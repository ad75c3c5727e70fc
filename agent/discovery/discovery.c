#include "discovery_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t wv_discovery__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool topic_valid(const char *t) {
    size_t n = t ? strnlen(t, WV_TOPIC_MAX + 1) : 0;
    if (n == 0 || n > WV_TOPIC_MAX || t[n - 1] == '/')
        return false;
    return !strpbrk(t, "+#");
}

/* ---- sealing and publishing ---- */

/* Signs m (adding our rotation proof to announcements and replies), then
 * seals it for topic. */
static int seal_msg(wv_discovery *d, wv_msg *m, const char *topic, uint8_t **out, size_t *len) {
    if ((m->type == WV_MSG_ANNOUNCE || m->type == WV_MSG_SOCKINFO_REPLY) && d->prev_key[0]) {
        strcpy(m->prev_key, d->prev_key);
        strcpy(m->prev_sig, d->prev_sig);
    }
    int src = wv_msg_sign(m, d->id);
    if (src != 0)
        return src;
    char *json = wv_msg_encode(m);
    if (!json)
        return WV_ERR_INVAL;
    int rc = wv_envelope_seal(d->keys.message, topic, json, strlen(json), out, len);
    free(json);
    return rc;
}

static void base_msg(wv_discovery *d, wv_msg *m, enum wv_msg_type type) {
    memset(m, 0, sizeof *m);
    m->type = type;
    strcpy(m->site, d->site);
    strcpy(m->instance, d->instance);
    m->seq = ++d->seq;
    m->ts = wv_discovery__now_ms();
}

/* Builds our announcement (or sockinfo reply to `to`) from the local body. */
static int local_msg(wv_discovery *d, wv_msg *m, enum wv_msg_type type, const char *to) {
    wv_msg body = {.type = type};
    int rc = d->cb.local(d, &body, d->user);
    if (rc != 0) {
        wv_msg_dispose(&body);
        return rc;
    }
    base_msg(d, m, type);
    m->sockets = body.sockets;
    m->nsockets = body.nsockets;
    m->apps = body.apps;
    m->napps = body.napps;
    memcpy(m->fingerprint, body.fingerprint, sizeof m->fingerprint);
    m->relay = body.relay;
    if (to)
        snprintf(m->to, sizeof m->to, "%s", to);
    return 0;
}

static int publish_announcement(wv_discovery *d) {
    if (!wv_mqtt_is_connected(d->mqtt))
        return 0; /* the connected callback announces */
    wv_msg m;
    int rc = local_msg(d, &m, WV_MSG_ANNOUNCE, NULL);
    if (rc != 0) {
        WV_WARN(d->log, SUB, "no announcement: local state unavailable (%s)", wv_strerror(rc));
        return rc;
    }
    uint8_t *sealed;
    size_t len;
    rc = seal_msg(d, &m, d->ann_topic, &sealed, &len);
    wv_msg_dispose(&m);
    if (rc != 0) {
        WV_ERROR(d->log, SUB, "cannot build our announcement (%s)", wv_strerror(rc));
        return rc;
    }
    rc = wv_mqtt_publish(d->mqtt, d->ann_topic, sealed, len, true);
    free(sealed);
    if (rc == 0) {
        d->stats.announcements++;
        d->last_heal_ms = wv_discovery__now_ms();
        WV_DEBUG(d->log, SUB, "announced (seq %llu)", (unsigned long long)d->seq);
    } else if (rc != WV_ERR_AGAIN) {
        WV_WARN(d->log, SUB, "cannot publish announcement (%s)", wv_strerror(rc));
    }
    return rc == WV_ERR_AGAIN ? 0 : rc;
}

int wv_discovery_announce(wv_discovery *d) {
    if (d->closing)
        return WV_ERR_CLOSED;
    return publish_announcement(d);
}

static void on_heal(uv_timer_t *t) {
    wv_discovery *d = t->data;
    if (!d->closing)
        publish_announcement(d);
}

/* Someone else's content sits in our retained slot: put ours back, but not
 * more often than every HEAL_INTERVAL_MS so two twins cannot ping-pong fast. */
static void heal(wv_discovery *d) {
    int64_t wait = d->last_heal_ms + HEAL_INTERVAL_MS - wv_discovery__now_ms();
    if (wait <= 0)
        publish_announcement(d);
    else if (!uv_is_active((uv_handle_t *)&d->heal))
        uv_timer_start(&d->heal, on_heal, (uint64_t)wait, 0);
}

/* ---- the peer table ---- */

wv_peer *wv_discovery__find_peer(const wv_discovery *d, const char *name, size_t *index) {
    for (size_t i = 0; i < d->npeers; i++)
        if (strcmp(d->peers[i]->name, name) == 0) {
            if (index)
                *index = i;
            return d->peers[i];
        }
    return NULL;
}

/* Takes ownership of *ann (moved, then zeroed). NULL when the table is full. */
static wv_peer *add_peer(wv_discovery *d, wv_msg *ann) {
    if (d->npeers >= d->max_peers) {
        if (!d->warned_full)
            WV_WARN(d->log, SUB, "peer table full (%zu sites); ignoring further sites",
                    d->max_peers);
        d->warned_full = true;
        return NULL;
    }
    wv_peer *p = wv_calloc(1, sizeof *p);
    strcpy(p->name, ann->site);
    p->ann = *ann;
    memset(ann, 0, sizeof *ann);
    d->peers = wv_realloc(d->peers, (d->npeers + 1) * sizeof *d->peers);
    d->peers[d->npeers++] = p;
    return p;
}

static void emit(wv_discovery *d, const wv_peer *p, enum wv_peer_event ev) {
    static const char *const names[] = {"added", "changed", "offline"};
    WV_INFO(d->log, SUB, "peer %s %s (%zu sockets, %zu apps)", p->name, names[ev], p->ann.nsockets,
            p->ann.napps);
    if (d->cb.peer && !d->closing)
        d->cb.peer(d, p, ev, d->user);
}

/* Applies an announcement or sockinfo reply (moved in, disposed here). */
void wv_discovery__apply_announcement(wv_discovery *d, wv_msg *m) {
    m->type = WV_MSG_ANNOUNCE; /* a reply is stored as the announcement it carries */
    m->to[0] = '\0';
    m->re[0] = '\0';
    int64_t now = wv_discovery__now_ms();
    wv_peer *p = wv_discovery__find_peer(d, m->site, NULL);
    if (!p) {
        p = add_peer(d, m);
        if (p) {
            p->online = true;
            p->last_seen_ms = now;
            emit(d, p, WV_PEER_ADDED);
        }
    } else if (wv_msg_newer(&p->ann, m)) {
        wv_msg_dispose(&p->ann);
        p->ann = *m;
        memset(m, 0, sizeof *m);
        p->online = true;
        p->last_seen_ms = now;
        emit(d, p, WV_PEER_CHANGED);
    } else if (strcmp(p->ann.instance, m->instance) == 0 && p->ann.seq == m->seq) {
        /* The broker re-sending a retained message we hold: nothing new,
         * but proof the peer is still there (for the sweep), and it
         * confirms a seeded peer. */
        if (!p->online && p->last_seen_ms == 0) {
            p->online = true;
            p->last_seen_ms = now;
            emit(d, p, WV_PEER_CHANGED);
        } else if (p->online) {
            p->last_seen_ms = now;
        }
    } else {
        d->stats.replays++;
        WV_DEBUG(d->log, SUB, "ignored an older announcement of %s", p->name);
    }
    wv_msg_dispose(m);
}

static void apply_offline(wv_discovery *d, const wv_msg *m) {
    wv_peer *p = wv_discovery__find_peer(d, m->site, NULL);
    if (!p)
        return; /* a site we never knew is gone: nothing to do */
    bool same = strcmp(p->ann.instance, m->instance) == 0;
    if (!same && m->ts <= p->ann.ts) {
        d->stats.replays++;
        return;
    }
    /* Heard from, even if already offline: a seeded peer whose retained slot
     * says "offline" must not be confirmed by a stray copy of its old
     * announcement later. */
    p->last_seen_ms = wv_discovery__now_ms();
    if (p->online) {
        p->online = false;
        emit(d, p, WV_PEER_OFFLINE);
    }
}

/* ---- incoming messages ---- */

static void decrypt_failed(wv_discovery *d, int rc) {
    d->stats.decrypt_failures++;
    if (rc == WV_ERR_CRYPTO && !d->warned_decrypt) {
        d->warned_decrypt = true;
        WV_WARN(d->log, SUB,
                "messages on topic %s fail to decrypt: is the network key the same on every "
                "site?",
                d->topic);
    } else {
        WV_DEBUG(d->log, SUB, "dropped a message that failed to open (%s)", wv_strerror(rc));
    }
}

static void parse_failed(wv_discovery *d, const char *why) {
    d->stats.parse_failures++;
    WV_DEBUG(d->log, SUB, "dropped an invalid message: %s", why);
}

static bool hash_matches(wv_discovery *d, const char *site, const char *seg) {
    char h[WV_SITE_HASH_HEX_LEN + 1];
    return wv_keys_site_hash(&d->keys, site, h) == 0 && strcmp(h, seg) == 0;
}

static void on_own_slot(wv_discovery *d, const wv_msg *m) {
    if (strcmp(m->instance, d->instance) != 0 && m->type == WV_MSG_ANNOUNCE && !d->warned_twin &&
        m->ts > wv_discovery__now_ms() - 60000) {
        d->warned_twin = true;
        WV_WARN(d->log, SUB,
                "another agent announces our site name %s; are two sites "
                "configured with the same name?",
                d->site);
    }
    if (m->type == WV_MSG_OFFLINE || strcmp(m->instance, d->instance) != 0)
        heal(d);
}

static void on_announce_slot(wv_discovery *d, const char *seg, wv_msg *m) {
    if (m->type != WV_MSG_ANNOUNCE && m->type != WV_MSG_OFFLINE) {
        parse_failed(d, "unexpected type in an announcement slot");
    } else if (!hash_matches(d, m->site, seg)) {
        parse_failed(d, "announcement in another site's slot");
    } else if (m->ts > wv_discovery__now_ms() + WV_MAX_CLOCK_SKEW_MS) {
        /* Held, it would make every later instance of that site look older
         * (ordering across instances is by ts) until the clock caught up. */
        parse_failed(d, "timestamp too far in the future");
    } else if (strcmp(m->site, d->site) == 0) {
        on_own_slot(d, m);
    } else if (!wv_discovery__trusted(d, m)) {
        /* counted and logged by wv_discovery__trusted() */
    } else if (m->type == WV_MSG_ANNOUNCE) {
        wv_discovery__apply_announcement(d, m);
    } else {
        apply_offline(d, m);
    }
    wv_msg_dispose(m);
}

static void answer_request(wv_discovery *d, const wv_msg *req) {
    char seg[WV_SITE_HASH_HEX_LEN + 1];
    if (wv_keys_site_hash(&d->keys, req->site, seg) != 0)
        return;
    char *topic = wv_asprintf("%s/i/%s", d->topic, seg);
    wv_msg m;
    uint8_t *sealed = NULL;
    size_t len;
    if (local_msg(d, &m, WV_MSG_SOCKINFO_REPLY, req->site) == 0) {
        snprintf(m.re, sizeof m.re, "%s.%llu", req->instance, (unsigned long long)req->seq);
        if (seal_msg(d, &m, topic, &sealed, &len) == 0 &&
            wv_mqtt_publish(d->mqtt, topic, sealed, len, false) == 0)
            d->stats.requests_answered++;
        wv_msg_dispose(&m);
    }
    free(sealed);
    free(topic);
}

/* A punch-request makes us send UDP to the requester's candidates, so it
 * must come from the pinned key of a site we know, unlike a sockinfo
 * request (which only makes us publish what we announce anyway). */
static void on_punch_request(wv_discovery *d, const wv_msg *m) {
    if (!wv_discovery__find_peer(d, m->site, NULL) || !wv_discovery__trusted(d, m)) {
        WV_DEBUG(d->log, SUB, "dropped a punch request of %s: not a trusted known site", m->site);
        return;
    }
    WV_INFO(d->log, SUB, "peer %s asks us to punch", m->site);
    d->stats.punch_requests++;
    answer_request(d, m);
    if (d->cb.punch && !d->closing)
        d->cb.punch(d, m->site, d->user);
}

static void on_inbox(wv_discovery *d, wv_msg *m) {
    bool punch = false;
    if (m->type != WV_MSG_SOCKINFO_REQUEST && m->type != WV_MSG_SOCKINFO_REPLY &&
        m->type != WV_MSG_PUNCH_REQUEST) {
        parse_failed(d, "unexpected type in the inbox");
    } else if (strcmp(m->to, d->site) != 0 || strcmp(m->site, d->site) == 0) {
        parse_failed(d, "inbox message not addressed to us");
    } else if (wv_replay_check(d->replay, m->instance, m->seq, m->ts, wv_discovery__now_ms()) !=
               0) {
        d->stats.replays++;
        WV_DEBUG(d->log, SUB, "dropped a stale or repeated inbox message from %s", m->site);
    } else if (m->type == WV_MSG_SOCKINFO_REQUEST) {
        WV_INFO(d->log, SUB, "peer %s asks for our socket info", m->site);
        answer_request(d, m);
    } else if (m->type == WV_MSG_PUNCH_REQUEST) {
        on_punch_request(d, m);
    } else if (wv_discovery__solicited(d, m, &punch) && wv_discovery__trusted(d, m)) {
        char site[WV_NAME_MAX + 1];
        snprintf(site, sizeof site, "%s", m->site);
        wv_discovery__apply_announcement(d, m);
        /* The peer sends to our candidates now: so do we, with the
         * candidates it just gave. */
        if (punch && d->cb.punch && !d->closing)
            d->cb.punch(d, site, d->user);
    }
    wv_msg_dispose(m);
}

static void on_message(wv_mqtt *mq, const char *topic, const uint8_t *payload, size_t len,
                       bool retained, void *user) {
    wv_discovery *d = user;
    size_t tl = strlen(d->topic);
    if (strncmp(topic, d->topic, tl) != 0 || strlen(topic) != tl + 3 + WV_SITE_HASH_HEX_LEN ||
        topic[tl] != '/' || topic[tl + 2] != '/') {
        parse_failed(d, "unexpected topic");
        return;
    }
    char kind = topic[tl + 1];
    const char *seg = topic + tl + 3;
    if (kind != 'a' && !(kind == 'i' && strcmp(topic, d->inbox_topic) == 0)) {
        parse_failed(d, "unexpected topic");
        return;
    }
    uint8_t *pt;
    size_t ptlen;
    int rc = wv_envelope_open(d->keys.message, topic, payload, len, &pt, &ptlen);
    if (rc != 0) {
        decrypt_failed(d, rc);
        return;
    }
    wv_msg m;
    rc = wv_msg_parse((const char *)pt, ptlen, &m);
    wv_memwipe(pt, ptlen);
    free(pt);
    if (rc != 0) {
        parse_failed(d, "malformed JSON message");
        return;
    }
    if (kind == 'a')
        on_announce_slot(d, seg, &m);
    else
        on_inbox(d, &m);
}

/* A broker that restarted without persistence has lost the retained
 * announcements and, worse, the Last Wills: a peer that died meanwhile would
 * stay "online" forever. So after each connect, a peer neither re-sent
 * (retained) nor re-announced within the grace period is taken as gone. */
static void on_sweep(uv_timer_t *t) {
    wv_discovery *d = t->data;
    for (size_t i = 0; i < d->npeers && !d->closing; i++) {
        wv_peer *p = d->peers[i];
        if (p->online && p->last_seen_ms < d->connected_at_ms) {
            WV_INFO(d->log, SUB, "peer %s not heard since we reconnected", p->name);
            p->online = false;
            emit(d, p, WV_PEER_OFFLINE);
        }
    }
}

static void on_state(wv_mqtt *mq, bool connected, const char *broker, const char *why, void *user) {
    wv_discovery *d = user;
    if (connected) {
        WV_INFO(d->log, SUB, "message channel up; announcing");
        d->connected_at_ms = wv_discovery__now_ms();
        uv_timer_start(&d->sweep, on_sweep, (uint64_t)d->grace_ms, 0);
        publish_announcement(d);
    } else {
        uv_timer_stop(&d->sweep);
    }
    if (d->cb.state && !d->closing)
        d->cb.state(d, connected, d->user);
}

/* ---- lifecycle ---- */

static int make_will(wv_discovery *d, uint8_t **out, size_t *len) {
    wv_msg m;
    base_msg(d, &m, WV_MSG_OFFLINE);
    return seal_msg(d, &m, d->ann_topic, out, len);
}

int wv_discovery_new(uv_loop_t *loop, wv_log *log, const wv_discovery_options *o,
                     const wv_discovery_callbacks *cb, void *user, wv_discovery **out) {
    *out = NULL;
    if (!o || !cb || !cb->local || !o->keys || !o->id || !wv_valid_name(o->site) ||
        !topic_valid(o->topic))
        return WV_ERR_INVAL;
    uint8_t pub[WV_PUBKEY_LEN];
    if (wv_identity_public_key(o->id, pub) != 0)
        return WV_ERR_CRYPTO;
    if ((o->prev_key || o->prev_sig) &&
        (!o->prev_key || !o->prev_sig || strlen(o->prev_key) != WV_PUBKEY_HEX_LEN ||
         strlen(o->prev_sig) != WV_SIG_HEX_LEN))
        return WV_ERR_INVAL;
    wv_discovery *d = wv_calloc(1, sizeof *d);
    d->loop = loop;
    d->log = log;
    d->cb = *cb;
    d->user = user;
    d->keys = *o->keys;
    strcpy(d->site, o->site);
    strcpy(d->topic, o->topic);
    d->max_peers = o->max_peers ? o->max_peers : WV_DISCOVERY_DEFAULT_MAX_PEERS;
    d->grace_ms = o->reconnect_grace_ms > 0 ? o->reconnect_grace_ms : DEFAULT_GRACE_MS;
    d->id = o->id;
    d->approve = o->approve;
    wv_hex(pub, sizeof pub, d->own_key);
    if (o->prev_key) {
        snprintf(d->prev_key, sizeof d->prev_key, "%s", o->prev_key);
        snprintf(d->prev_sig, sizeof d->prev_sig, "%s", o->prev_sig);
    }
    uint8_t *will = NULL;
    size_t will_len = 0;
    int rc = wv_keys_site_hash(&d->keys, d->site, d->hash);
    if (rc == 0)
        rc = wv_msg_new_instance(d->instance);
    if (rc != 0)
        goto fail;
    d->ann_topic = wv_asprintf("%s/a/%s", d->topic, d->hash);
    d->inbox_topic = wv_asprintf("%s/i/%s", d->topic, d->hash);
    if ((rc = make_will(d, &will, &will_len)) != 0)
        goto fail;
    wv_mqtt_options mo = o->mqtt;
    mo.will_topic = d->ann_topic;
    mo.will_payload = will;
    mo.will_len = will_len;
    if (!mo.max_payload)
        mo.max_payload = WV_ENVELOPE_MAX_SEALED;
    wv_mqtt_callbacks mc = {.state = on_state, .message = on_message};
    rc = wv_mqtt_new(loop, log, &mo, &mc, d, &d->mqtt);
    free(will);
    will = NULL;
    if (rc != 0)
        goto fail;
    d->replay = wv_replay_new(REPLAY_CAPACITY, WV_INBOX_WINDOW_MS);
    uv_timer_init(loop, &d->heal);
    d->heal.data = d;
    uv_timer_init(loop, &d->sweep);
    d->sweep.data = d;
    *out = d;
    return 0;
fail:
    free(will);
    free(d->ann_topic);
    free(d->inbox_topic);
    wv_keys_wipe(&d->keys);
    free(d);
    return rc;
}

int wv_discovery_start(wv_discovery *d) {
    if (d->closing)
        return WV_ERR_CLOSED;
    if (d->started)
        return WV_ERR_INVAL;
    d->started = true;
    char *all = wv_asprintf("%s/a/+", d->topic);
    int rc = wv_mqtt_subscribe(d->mqtt, all);
    free(all);
    if (rc == 0)
        rc = wv_mqtt_subscribe(d->mqtt, d->inbox_topic);
    if (rc == 0)
        rc = wv_mqtt_start(d->mqtt);
    if (rc == 0)
        WV_INFO(d->log, SUB, "site %s joining the message channel (instance %s)", d->site,
                d->instance);
    return rc;
}

static int send_request(wv_discovery *d, const char *peer, enum wv_msg_type type) {
    if (d->closing)
        return WV_ERR_CLOSED;
    if (!peer || !wv_discovery__find_peer(d, peer, NULL))
        return WV_ERR_NOTFOUND;
    if (!wv_mqtt_is_connected(d->mqtt))
        return WV_ERR_AGAIN;
    char seg[WV_SITE_HASH_HEX_LEN + 1];
    int rc = wv_keys_site_hash(&d->keys, peer, seg);
    if (rc != 0)
        return rc;
    char *topic = wv_asprintf("%s/i/%s", d->topic, seg);
    wv_msg m;
    base_msg(d, &m, type);
    snprintf(m.to, sizeof m.to, "%s", peer);
    struct outreq *r = &d->reqs[d->next_req++ % MAX_OUTSTANDING];
    r->punch = type == WV_MSG_PUNCH_REQUEST;
    snprintf(r->to, sizeof r->to, "%s", peer);
    snprintf(r->id, sizeof r->id, "%s.%llu", m.instance, (unsigned long long)m.seq);
    r->expires_ms = wv_discovery__now_ms() + WV_INBOX_WINDOW_MS;
    uint8_t *sealed;
    size_t len;
    rc = seal_msg(d, &m, topic, &sealed, &len);
    if (rc == 0) {
        rc = wv_mqtt_publish(d->mqtt, topic, sealed, len, false);
        free(sealed);
    }
    free(topic);
    return rc;
}

int wv_discovery_request_sockinfo(wv_discovery *d, const char *peer) {
    return send_request(d, peer, WV_MSG_SOCKINFO_REQUEST);
}

int wv_discovery_request_punch(wv_discovery *d, const char *peer) {
    int rc = send_request(d, peer, WV_MSG_PUNCH_REQUEST);
    if (rc == 0)
        d->stats.punch_requests_sent++;
    return rc;
}

int wv_discovery_seed(wv_discovery *d, const char *json) {
    wv_msg m;
    if (!json || wv_msg_parse(json, strlen(json), &m) != 0)
        return WV_ERR_PROTO;
    int rc = 0;
    if (m.type != WV_MSG_ANNOUNCE) {
        rc = WV_ERR_PROTO;
    } else if (strcmp(m.site, d->site) == 0) {
        rc = WV_ERR_INVAL;
    } else if (m.key[0] && wv_discovery__pin_find(d, m.site) &&
               strcmp(wv_discovery__pin_find(d, m.site)->key, m.key) != 0) {
        rc = WV_ERR_AUTH; /* stored under a key that is no longer pinned */
    } else {
        wv_peer *p = wv_discovery__find_peer(d, m.site, NULL);
        if (!p) {
            if (!add_peer(d, &m))
                rc = WV_ERR_LIMIT;
        } else if (wv_msg_newer(&p->ann, &m)) {
            wv_msg_dispose(&p->ann);
            p->ann = m;
            memset(&m, 0, sizeof m);
        }
    }
    wv_msg_dispose(&m);
    return rc;
}

int wv_discovery_forget(wv_discovery *d, const char *name) {
    size_t i;
    wv_peer *p = name ? wv_discovery__find_peer(d, name, &i) : NULL;
    if (!p)
        return WV_ERR_NOTFOUND;
    wv_msg_dispose(&p->ann);
    free(p);
    memmove(&d->peers[i], &d->peers[i + 1], (d->npeers - i - 1) * sizeof *d->peers);
    d->npeers--;
    return 0;
}

size_t wv_discovery_peer_count(const wv_discovery *d) {
    return d->npeers;
}

const wv_peer *wv_discovery_peer_at(const wv_discovery *d, size_t i) {
    return i < d->npeers ? d->peers[i] : NULL;
}

const wv_peer *wv_discovery_peer_find(const wv_discovery *d, const char *name) {
    return name ? wv_discovery__find_peer(d, name, NULL) : NULL;
}

char *wv_discovery_peer_json(const wv_peer *p) {
    return wv_msg_encode(&p->ann);
}

bool wv_discovery_is_connected(const wv_discovery *d) {
    return wv_mqtt_is_connected(d->mqtt);
}

const char *wv_discovery_instance(const wv_discovery *d) {
    return d->instance;
}

const char *wv_discovery_site_hash(const wv_discovery *d) {
    return d->hash;
}

void wv_discovery_get_stats(wv_discovery *d, wv_discovery_stats *out) {
    *out = d->stats;
    wv_mqtt_stats ms;
    wv_mqtt_get_stats(d->mqtt, &ms);
    out->oversize = ms.dropped_oversize;
}

static void on_timer_closed(uv_handle_t *h) {
    wv_discovery *d = h->data;
    if (--d->handles_open > 0)
        return;
    if (d->close_cb)
        d->close_cb(d, d->user);
    for (size_t i = 0; i < d->npeers; i++) {
        wv_msg_dispose(&d->peers[i]->ann);
        free(d->peers[i]);
    }
    free(d->peers);
    for (size_t i = 0; i < d->npins; i++) {
        wv_discovery__pin_unhold(d->pins[i]);
        free(d->pins[i]);
    }
    free(d->pins);
    free(d->blocked);
    wv_replay_free(d->replay);
    free(d->ann_topic);
    free(d->inbox_topic);
    wv_keys_wipe(&d->keys);
    free(d);
}

static void on_mqtt_closed(wv_mqtt *m, void *user) {
    wv_discovery *d = user;
    d->handles_open = 2;
    uv_close((uv_handle_t *)&d->heal, on_timer_closed);
    uv_close((uv_handle_t *)&d->sweep, on_timer_closed);
}

void wv_discovery_close(wv_discovery *d, wv_discovery_close_cb close_cb) {
    if (d->closing)
        return;
    d->closing = true;
    d->close_cb = close_cb;
    uv_timer_stop(&d->heal);
    uv_timer_stop(&d->sweep);
    uint8_t *off = NULL;
    size_t len = 0;
    if (d->started)
        make_will(d, &off, &len); /* a fresh offline record: newer seq and ts */
    wv_mqtt_close(d->mqtt, off ? d->ann_topic : NULL, off, len, on_mqtt_closed);
    free(off);
}
