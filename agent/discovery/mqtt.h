#ifndef WV_MQTT_H
#define WV_MQTT_H
/* The message channel's transport: an MQTT 3.1.1 client (paho MQTTAsync)
 * bolted onto the libuv loop.
 *
 * Threads: paho runs its own send/receive threads. Its callbacks only copy
 * what they get into a mutex-protected queue and uv_async_send(); the loop
 * drains the whole queue on each wakeup (libuv merges wakeups). Every
 * callback in wv_mqtt_callbacks therefore fires on the LOOP thread, and
 * every wv_mqtt_* function must be called on the loop thread. No call here
 * blocks: MQTTAsync operations only enqueue work.
 *
 * Behaviour: clean session, QoS 1 for everything, persistence off (nothing
 * written to disk), broker list with failover (paho tries the URIs in
 * order), reconnect with backoff 0.5 s .. 30 s plus jitter (also when the
 * very first connect fails). Subscriptions are remembered and re-made after every
 * (re)connect. An optional Last Will is published retained by the broker if
 * this client vanishes without a DISCONNECT. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "wv/discovery.h"

typedef struct wv_mqtt wv_mqtt;

typedef struct wv_mqtt_callbacks {
    /* Connection state changed. `broker` is the URI connected to (connected)
     * or NULL; `why` a short reason (disconnected) or NULL. Optional. */
    void (*state)(wv_mqtt *m, bool connected, const char *broker, const char *why, void *user);
    /* A message arrived; topic and payload are only valid during the call.
     * `retained` is set for messages the broker held before we subscribed.
     * Not called after wv_mqtt_close(). */
    void (*message)(wv_mqtt *m, const char *topic, const uint8_t *payload, size_t len,
                    bool retained, void *user);
} wv_mqtt_callbacks;

typedef struct wv_mqtt_stats {
    uint64_t received;           /* messages handed to the message callback */
    uint64_t dropped_oversize;   /* over max_payload */
    uint64_t dropped_queue_full; /* the loop was too far behind */
    uint64_t connects;           /* successful (re)connects */
    uint64_t disconnects;        /* connections lost */
} wv_mqtt_stats;

/* Creates the client (copies options and callbacks). Nothing is sent until
 * wv_mqtt_start(). Returns 0, WV_ERR_INVAL (no/too many/bad brokers) or
 * WV_ERR_IO (paho refused). On error *out is NULL. */
int wv_mqtt_new(uv_loop_t *loop, wv_log *log, const wv_mqtt_options *opts,
                const wv_mqtt_callbacks *cb, void *user, wv_mqtt **out);

/* Starts connecting (asynchronously; the state callback reports success).
 * 0, WV_ERR_CLOSED, or WV_ERR_INVAL if already started. */
int wv_mqtt_start(wv_mqtt *m);

/* Adds a subscription (QoS 1), made now if connected and after every
 * reconnect. Copies the filter. 0, WV_ERR_INVAL, WV_ERR_LIMIT (> 16) or
 * WV_ERR_CLOSED. */
int wv_mqtt_subscribe(wv_mqtt *m, const char *filter);

/* Publishes with QoS 1 (payload and topic are copied). Returns 0 once
 * queued, WV_ERR_AGAIN while disconnected (nothing is queued: callers
 * re-publish their state on the next connected callback), WV_ERR_CLOSED,
 * WV_ERR_TOOBIG or WV_ERR_IO. */
int wv_mqtt_publish(wv_mqtt *m, const char *topic, const void *payload, size_t len, bool retained);

bool wv_mqtt_is_connected(const wv_mqtt *m);
void wv_mqtt_get_stats(wv_mqtt *m, wv_mqtt_stats *out);

/* Clean stop: if connected and final_topic is given, publishes final_payload
 * retained (e.g. an "offline" record, because paho's DISCONNECT makes the
 * broker discard the Last Will), then disconnects, then destroys the paho
 * client; gives up waiting after ~3 s. close_cb (optional) fires once on the
 * loop thread when everything is released; m is freed right after it
 * returns. No other callback fires after this call. The final payload is
 * copied. */
typedef void (*wv_mqtt_close_cb)(wv_mqtt *m, void *user);
void wv_mqtt_close(wv_mqtt *m, const char *final_topic, const void *final_payload, size_t len,
                   wv_mqtt_close_cb close_cb);

#endif
