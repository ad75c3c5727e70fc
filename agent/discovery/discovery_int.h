/* The discovery subsystem's own state, shared by discovery.c (messages,
 * the peer table, the life cycle) and discovery_trust.c (identities, pins,
 * blocked keys, outstanding requests). Private to agent/discovery/. */
#pragma once

#include "wv/discovery.h"

#include "envelope.h"
#include "mqtt.h"
#include "wv/base.h"

#include <stdbool.h>
#include <stdint.h>

#define SUB "discovery"
#define HEAL_INTERVAL_MS 2000
#define REPLAY_CAPACITY 4096
/* Longer than the MQTT layer's longest reconnect backoff (30 s), so every
 * live peer has had the chance to reconnect and re-announce. */
#define DEFAULT_GRACE_MS 35000
/* Our sockinfo requests still waiting for an answer (a reply must name one). */
#define MAX_OUTSTANDING 64

struct wv_discovery {
    uv_loop_t *loop;
    wv_log *log;
    wv_discovery_callbacks cb;
    void *user;
    wv_keys keys;
    char site[WV_NAME_MAX + 1];
    char topic[WV_TOPIC_MAX + 1];
    char hash[WV_SITE_HASH_HEX_LEN + 1];
    char instance[WV_INSTANCE_HEX_LEN + 1];
    char *ann_topic;   /* <topic>/a/<h(site)> */
    char *inbox_topic; /* <topic>/i/<h(site)> */
    uint64_t seq;
    wv_mqtt *mqtt;
    wv_replay *replay;
    uv_timer_t heal;
    int64_t last_heal_ms;
    uv_timer_t sweep; /* marks peers not heard since the last connect offline */
    int64_t connected_at_ms, grace_ms;
    int handles_open;
    wv_peer **peers;
    size_t npeers, max_peers;
    wv_discovery_stats stats;
    bool started, closing, warned_decrypt, warned_full, warned_twin, warned_unsigned;
    wv_discovery_close_cb close_cb;
    /* identity and pins */
    const wv_identity *id;
    bool approve;
    char own_key[WV_PUBKEY_HEX_LEN + 1];
    char prev_key[WV_PUBKEY_HEX_LEN + 1], prev_sig[WV_SIG_HEX_LEN + 1];
    wv_pin **pins;
    size_t npins;
    char (*blocked)[WV_PUBKEY_HEX_LEN + 1];
    size_t nblocked;
    struct outreq {
        char to[WV_NAME_MAX + 1];
        char id[WV_REQID_MAX + 1];
        int64_t expires_ms;
        bool punch; /* a punch-request: its answer triggers our punch too */
    } reqs[MAX_OUTSTANDING];
    size_t next_req;
};

int64_t wv_discovery__now_ms(void);
wv_peer *wv_discovery__find_peer(const wv_discovery *d, const char *name, size_t *index);
void wv_discovery__apply_announcement(wv_discovery *d, wv_msg *m);
wv_pin *wv_discovery__pin_find(const wv_discovery *d, const char *site);
void wv_discovery__pin_unhold(wv_pin *p);
bool wv_discovery__solicited(wv_discovery *d, const wv_msg *m, bool *punch);
bool wv_discovery__trusted(wv_discovery *d, const wv_msg *m);
