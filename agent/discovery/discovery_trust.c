/* Identities: trust on first use then strict pins, key rotation signed by the
 * old key, approval, blocked keys, and which replies we asked for. */
#include "discovery_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- identities: pins, blocked keys, outstanding requests ---- */

wv_pin *wv_discovery__pin_find(const wv_discovery *d, const char *site) {
    for (size_t i = 0; i < d->npins; i++)
        if (strcmp(d->pins[i]->site, site) == 0)
            return d->pins[i];
    return NULL;
}

static wv_pin *pin_add(wv_discovery *d, const char *site, const char *key,
                       enum wv_pin_state state) {
    if (d->npins >= d->max_peers)
        return NULL;
    wv_pin *p = wv_calloc(1, sizeof *p);
    snprintf(p->site, sizeof p->site, "%s", site);
    snprintf(p->key, sizeof p->key, "%s", key);
    p->state = state;
    d->pins = wv_realloc(d->pins, (d->npins + 1) * sizeof *d->pins);
    d->pins[d->npins++] = p;
    return p;
}

void wv_discovery__pin_unhold(wv_pin *p) {
    if (p->has_held)
        wv_msg_dispose(&p->held);
    p->has_held = false;
}

static void pin_hold(wv_pin *p, const wv_msg *m) {
    wv_discovery__pin_unhold(p);
    wv_msg_copy(&p->held, m);
    p->has_held = true;
}

static void pin_event(wv_discovery *d, const wv_pin *p, enum wv_pin_event ev) {
    if (d->cb.pin && !d->closing)
        d->cb.pin(d, p, ev, d->user);
}

static bool key_blocked(const wv_discovery *d, const char *key) {
    for (size_t i = 0; i < d->nblocked; i++)
        if (strcmp(d->blocked[i], key) == 0)
            return true;
    return false;
}

static bool has_body(const wv_msg *m) {
    return m->type == WV_MSG_ANNOUNCE || m->type == WV_MSG_SOCKINFO_REPLY;
}

/* A key for a name with no pin yet: trust on first use, or hold it for the
 * operator (approve mode, or a known site from before signatures whose
 * certificate differs from the one now offered). */
static bool first_use(wv_discovery *d, const wv_msg *m) {
    if (!has_body(m))
        return false; /* an offline record or request of a site we never pinned */
    const wv_peer *known = wv_discovery__find_peer(d, m->site, NULL);
    bool cert_differs =
        known && !known->ann.key[0] && strcmp(known->ann.fingerprint, m->fingerprint) != 0;
    wv_pin *p =
        pin_add(d, m->site, m->key, d->approve || cert_differs ? WV_PIN_PENDING : WV_PIN_TRUSTED);
    if (!p)
        return false;
    if (p->state == WV_PIN_PENDING) {
        pin_hold(p, m);
        WV_WARN(d->log, SUB, "site %s (identity key %.16s...) waits for approval%s", m->site,
                m->key,
                cert_differs ? ": it announces another certificate than the one known"
                             : " (membership: approve)");
        pin_event(d, p, WV_PIN_HELD);
        return false;
    }
    WV_INFO(d->log, SUB, "pinned the identity key of %s on first use (%.16s...)", m->site, m->key);
    pin_event(d, p, WV_PIN_NEW);
    return true;
}

/* Verifies m's signature and checks its key against the pin of its name.
 * True when m may be applied. */
bool wv_discovery__trusted(wv_discovery *d, const wv_msg *m) {
    int v = wv_msg_verify(m);
    if (v == WV_ERR_NOTFOUND) {
        d->stats.unsigned_msgs++;
        if (!d->warned_unsigned)
            WV_WARN(d->log, SUB,
                    "dropping unsigned messages of site %s: an agent older than "
                    "signed announcements, or a forgery (upgrade every site)",
                    m->site);
        d->warned_unsigned = true;
        return false;
    }
    if (v != 0) {
        d->stats.bad_signatures++;
        WV_DEBUG(d->log, SUB, "dropped a message of %s with a bad signature", m->site);
        return false;
    }
    if (key_blocked(d, m->key)) {
        d->stats.blocked++;
        WV_DEBUG(d->log, SUB, "dropped a message of %s signed by a blocked key", m->site);
        return false;
    }
    wv_pin *p = wv_discovery__pin_find(d, m->site);
    if (!p)
        return first_use(d, m);
    if (strcmp(p->key, m->key) == 0) {
        if (p->state == WV_PIN_TRUSTED)
            return true;
        if (has_body(m))
            pin_hold(p, m); /* pending: keep the freshest for the approval */
        return false;
    }
    if (p->state == WV_PIN_TRUSTED && has_body(m) && strcmp(m->prev_key, p->key) == 0 &&
        wv_rotation_verify(p->key, m->site, m->key, m->prev_sig) == 0) {
        WV_INFO(d->log, SUB, "site %s rotated its identity key (%.16s... -> %.16s...)", m->site,
                p->key, m->key);
        strcpy(p->key, m->key);
        p->offered[0] = '\0';
        wv_discovery__pin_unhold(p);
        pin_event(d, p, WV_PIN_ROTATED);
        return true;
    }
    d->stats.pin_conflicts++;
    p->conflicts++;
    if (has_body(m))
        pin_hold(p, m);
    if (strcmp(p->offered, m->key) != 0) {
        strcpy(p->offered, m->key);
        WV_WARN(d->log, SUB,
                "refusing messages of site %s signed by another identity key than "
                "the pinned one (pinned %.16s..., offered %.16s...): if the site was "
                "reinstalled, approve the new key (POST /api/v1/peers/%s/approve)",
                m->site, p->key, m->key, m->site);
        pin_event(d, p, WV_PIN_CONFLICT);
    }
    return false;
}

/* A reply must answer a request we sent to that site and not yet got an
 * answer to. *punch: that request was a punch-request. */
bool wv_discovery__solicited(wv_discovery *d, const wv_msg *m, bool *punch) {
    int64_t now = wv_discovery__now_ms();
    for (size_t i = 0; i < MAX_OUTSTANDING; i++) {
        struct outreq *r = &d->reqs[i];
        if (r->id[0] && r->expires_ms > now && strcmp(r->to, m->site) == 0 &&
            strcmp(r->id, m->re) == 0) {
            r->id[0] = '\0';
            *punch = r->punch;
            return true;
        }
    }
    d->stats.unsolicited++;
    WV_DEBUG(d->log, SUB, "dropped a sockinfo reply of %s that answers no request of ours",
             m->site);
    return false;
}

/* ---- pins ---- */

static bool key_hex_valid(const char *k) {
    uint8_t raw[WV_PUBKEY_LEN];
    return k && wv_unhex(k, raw, sizeof raw) == 0;
}

int wv_discovery_pin_load(wv_discovery *d, const char *site, const char *key_hex, bool pending) {
    if (!wv_valid_name(site) || !key_hex_valid(key_hex))
        return WV_ERR_INVAL;
    wv_pin *p = wv_discovery__pin_find(d, site);
    if (!p)
        p = pin_add(d, site, key_hex, pending ? WV_PIN_PENDING : WV_PIN_TRUSTED);
    if (!p)
        return WV_ERR_LIMIT;
    snprintf(p->key, sizeof p->key, "%s", key_hex);
    p->state = pending ? WV_PIN_PENDING : WV_PIN_TRUSTED;
    return 0;
}

int wv_discovery_block_key(wv_discovery *d, const char *key_hex) {
    if (!key_hex_valid(key_hex))
        return WV_ERR_INVAL;
    if (key_blocked(d, key_hex))
        return 0;
    if (d->nblocked >= d->max_peers)
        return WV_ERR_LIMIT;
    d->blocked = wv_realloc(d->blocked, (d->nblocked + 1) * sizeof *d->blocked);
    snprintf(d->blocked[d->nblocked++], sizeof *d->blocked, "%s", key_hex);
    for (size_t i = 0; i < d->nblocked; i++)
        for (char *c = d->blocked[i]; *c; c++)
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c - 'A' + 'a');
    return 0;
}

int wv_discovery_approve(wv_discovery *d, const char *site) {
    wv_pin *p = site ? wv_discovery__pin_find(d, site) : NULL;
    if (!p || (p->state == WV_PIN_TRUSTED && !p->offered[0]))
        return WV_ERR_NOTFOUND;
    if (p->offered[0]) {
        strcpy(p->key, p->offered);
        p->offered[0] = '\0';
    }
    p->state = WV_PIN_TRUSTED;
    WV_INFO(d->log, SUB, "approved the identity key of %s (%.16s...)", p->site, p->key);
    pin_event(d, p, WV_PIN_APPROVED);
    if (p->has_held && strcmp(p->held.key, p->key) == 0) {
        wv_msg m = p->held;
        p->has_held = false;
        memset(&p->held, 0, sizeof p->held);
        /* The approved key's announcement supersedes whatever the other
         * key said, whatever its ordering. */
        wv_peer *old = wv_discovery__find_peer(d, m.site, NULL);
        if (old && strcmp(old->ann.key, m.key) != 0)
            wv_discovery_forget(d, m.site);
        wv_discovery__apply_announcement(d, &m);
    }
    wv_discovery__pin_unhold(p);
    return 0;
}

int wv_discovery_unpin(wv_discovery *d, const char *site) {
    for (size_t i = 0; site && i < d->npins; i++) {
        if (strcmp(d->pins[i]->site, site) != 0)
            continue;
        wv_discovery__pin_unhold(d->pins[i]);
        free(d->pins[i]);
        memmove(&d->pins[i], &d->pins[i + 1], (d->npins - i - 1) * sizeof *d->pins);
        d->npins--;
        return 0;
    }
    return WV_ERR_NOTFOUND;
}

size_t wv_discovery_pin_count(const wv_discovery *d) {
    return d->npins;
}

const wv_pin *wv_discovery_pin_at(const wv_discovery *d, size_t i) {
    return i < d->npins ? d->pins[i] : NULL;
}

const wv_pin *wv_discovery_pin_find(const wv_discovery *d, const char *site) {
    return site ? wv_discovery__pin_find(d, site) : NULL;
}

const char *wv_discovery_own_key(const wv_discovery *d) {
    return d->own_key;
}
