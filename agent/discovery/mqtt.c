#include "mqtt.h"

#include "wv/base.h"

#include <MQTTAsync.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SUB "mqtt"
#define MAX_SUBS 16
#define CLOSE_TIMEOUT_MS 3000
/* Reconnect backoff. Our own timer rather than paho's automaticReconnect:
 * paho counts whole seconds and does not retry a first connect that fails,
 * and one code path for both cases is easier to reason about. */
#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000

enum ev_kind { EV_MSG, EV_CONNECTED, EV_LOST, EV_CONNECT_FAILED, EV_FINAL_SENT, EV_DISC_DONE };

/* One item handed from a paho thread to the loop. */
struct ev {
    struct ev *next;
    enum ev_kind kind;
    int code;
    bool retained;
    char *text; /* topic (EV_MSG), broker URI or reason; may be NULL */
    uint8_t *payload;
    size_t len;
};

struct wv_mqtt {
    uv_loop_t *loop;
    wv_log *log;
    wv_mqtt_callbacks cb;
    void *user;
    MQTTAsync client;

    /* Shared with paho's threads: everything below `lock` up to the end of
     * this block is only touched with it held. */
    pthread_mutex_t lock;
    struct ev *head, *tail;
    size_t queued;
    bool dead; /* set before the async handle is closed: no more sends */
    wv_mqtt_stats stats;

    /* Loop-only state. */
    uv_async_t async;
    uv_timer_t timer; /* reconnect backoff, then the close deadline */
    char *uris[WV_MQTT_MAX_BROKERS];
    size_t nuris;
    char *username, *password, *ca_file, *will_topic;
    uint8_t *will_payload;
    size_t will_len;
    int keepalive_s;
    size_t max_payload, max_queue;
    char *subs[MAX_SUBS];
    size_t nsubs;
    bool started, connected, warned_fail, closing, finished;
    uint64_t retry_ms;
    int handles_open;
    wv_mqtt_close_cb close_cb;
};

/* ---- paho threads: copy, enqueue, wake. Nothing else. ---- */

static void push(wv_mqtt *m, struct ev *e, bool droppable) {
    pthread_mutex_lock(&m->lock);
    if (m->dead || (droppable && m->queued >= m->max_queue)) {
        if (!m->dead)
            m->stats.dropped_queue_full++;
        pthread_mutex_unlock(&m->lock);
        free(e->text);
        free(e->payload);
        free(e);
        return;
    }
    WV_QUEUE_APPEND(m->head, m->tail, e);
    m->queued++;
    uv_async_send(&m->async);
    pthread_mutex_unlock(&m->lock);
}

static void push_simple(wv_mqtt *m, enum ev_kind kind, int code, const char *text) {
    struct ev *e = wv_calloc(1, sizeof *e);
    e->kind = kind;
    e->code = code;
    e->text = text ? wv_strdup(text) : NULL;
    push(m, e, false);
}

static int on_message(void *ctx, char *topic, int topiclen, MQTTAsync_message *msg) {
    wv_mqtt *m = ctx;
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (len > m->max_payload) {
        pthread_mutex_lock(&m->lock);
        m->stats.dropped_oversize++;
        pthread_mutex_unlock(&m->lock);
    } else {
        struct ev *e = wv_calloc(1, sizeof *e);
        e->kind = EV_MSG;
        e->retained = msg->retained != 0;
        e->text = topiclen > 0 ? wv_strndup(topic, (size_t)topiclen) : wv_strdup(topic);
        e->payload = wv_malloc(len + 1);
        memcpy(e->payload, msg->payload, len);
        e->len = len;
        push(m, e, true);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1; /* we own nothing of paho's any more */
}

static void on_connected(void *ctx, char *cause) {
    (void)cause;
    push_simple(ctx, EV_CONNECTED, 0, NULL);
}

static void on_lost(void *ctx, char *cause) {
    push_simple(ctx, EV_LOST, 0, cause ? cause : "connection lost");
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *r) {
    /* The connected callback carries no URI; log which broker we reached. */
    wv_mqtt *m = ctx;
    if (r && r->alt.connect.serverURI)
        WV_INFO(m->log, SUB, "connected to broker %s", r->alt.connect.serverURI);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r) {
    push_simple(ctx, EV_CONNECT_FAILED, r ? r->code : -1, r && r->message ? r->message : NULL);
}

static void on_final_ok(void *ctx, MQTTAsync_successData *r) {
    push_simple(ctx, EV_FINAL_SENT, 0, NULL);
}

static void on_final_fail(void *ctx, MQTTAsync_failureData *r) {
    push_simple(ctx, EV_FINAL_SENT, r ? r->code : -1, NULL);
}

static void on_disc_ok(void *ctx, MQTTAsync_successData *r) {
    push_simple(ctx, EV_DISC_DONE, 0, NULL);
}

static void on_disc_fail(void *ctx, MQTTAsync_failureData *r) {
    push_simple(ctx, EV_DISC_DONE, r ? r->code : -1, NULL);
}

static void on_sub_fail(void *ctx, MQTTAsync_failureData *r) {
    wv_mqtt *m = ctx;
    WV_WARN(m->log, SUB, "subscribe refused by the broker (code %d)", r ? r->code : -1);
}

/* ---- loop thread ---- */

static int map_rc(int rc) {
    switch (rc) {
    case MQTTASYNC_SUCCESS:
        return 0;
    case MQTTASYNC_DISCONNECTED:
    case MQTTASYNC_MAX_BUFFERED_MESSAGES:
        return WV_ERR_AGAIN;
    case MQTTASYNC_BAD_UTF8_STRING:
    case MQTTASYNC_NULL_PARAMETER:
    case MQTTASYNC_BAD_QOS:
    case MQTTASYNC_BAD_STRUCTURE:
        return WV_ERR_INVAL;
    default:
        return WV_ERR_IO;
    }
}

static int do_connect(wv_mqtt *m) {
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions wo = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;
    co.keepAliveInterval = m->keepalive_s;
    co.cleansession = 1;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.connectTimeout = 10;
    co.automaticReconnect = 0; /* see RETRY_MIN_MS */
    co.serverURIs = m->uris;
    co.serverURIcount = (int)m->nuris;
    co.username = m->username;
    co.password = m->password;
    co.onSuccess = on_connect_ok;
    co.onFailure = on_connect_fail;
    co.context = m;
    if (m->will_topic) {
        wo.topicName = m->will_topic;
        wo.message = NULL; /* binary payload below */
        wo.payload.data = m->will_payload;
        wo.payload.len = (int)m->will_len;
        wo.retained = 1;
        wo.qos = 1;
        co.will = &wo;
    }
    bool tls = false;
    for (size_t i = 0; i < m->nuris; i++)
        tls |= strncmp(m->uris[i], "ssl://", 6) == 0 || strncmp(m->uris[i], "wss://", 6) == 0;
    if (tls) {
        so.trustStore = m->ca_file;
        so.enableServerCertAuth = 1;
        so.verify = 1;
        co.ssl = &so;
    }
    int rc = MQTTAsync_connect(m->client, &co);
    if (rc != MQTTASYNC_SUCCESS)
        WV_WARN(m->log, SUB, "cannot start connecting (paho code %d)", rc);
    return map_rc(rc);
}

static void subscribe_all(wv_mqtt *m) {
    if (!m->nsubs)
        return;
    int qos[MAX_SUBS];
    for (size_t i = 0; i < m->nsubs; i++)
        qos[i] = 1;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onFailure = on_sub_fail;
    ro.context = m;
    int rc = MQTTAsync_subscribeMany(m->client, (int)m->nsubs, m->subs, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        WV_WARN(m->log, SUB, "cannot subscribe (paho code %d)", rc);
}

static void on_handle_closed(uv_handle_t *h) {
    wv_mqtt *m = h->data;
    if (--m->handles_open > 0)
        return;
    if (m->close_cb)
        m->close_cb(m, m->user);
    for (size_t i = 0; i < m->nuris; i++)
        free(m->uris[i]);
    for (size_t i = 0; i < m->nsubs; i++)
        free(m->subs[i]);
    if (m->password)
        wv_memwipe(m->password, strlen(m->password));
    free(m->username);
    free(m->password);
    free(m->ca_file);
    free(m->will_topic);
    free(m->will_payload);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static void finish_close(wv_mqtt *m) {
    if (m->finished)
        return;
    m->finished = true;
    /* destroy stops paho calling us for this client; `dead` makes any
     * callback already under way drop its event instead of touching the
     * async handle we are about to close. */
    MQTTAsync_destroy(&m->client);
    pthread_mutex_lock(&m->lock);
    m->dead = true;
    struct ev *e = m->head;
    m->head = m->tail = NULL;
    pthread_mutex_unlock(&m->lock);
    while (e) {
        struct ev *n = e->next;
        free(e->text);
        free(e->payload);
        free(e);
        e = n;
    }
    uv_timer_stop(&m->timer);
    m->handles_open = 2;
    uv_close((uv_handle_t *)&m->async, on_handle_closed);
    uv_close((uv_handle_t *)&m->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *t);

/* Doubles the delay each time, with up to +25 % jitter so that many sites
 * cut off by one broker restart do not all come back in the same instant. */
static void schedule_retry(wv_mqtt *m) {
    if (uv_is_active((uv_handle_t *)&m->timer))
        return;
    uint16_t r = 0;
    (void)gnutls_rnd(GNUTLS_RND_NONCE, &r, sizeof r);
    uint64_t delay = m->retry_ms + m->retry_ms * r / 4 / 65536;
    uv_timer_start(&m->timer, on_timer, delay, 0);
    m->retry_ms = WV_MIN(m->retry_ms * 2, RETRY_MAX_MS);
}

static void on_timer(uv_timer_t *t) {
    wv_mqtt *m = t->data;
    if (m->closing) {
        WV_WARN(m->log, SUB, "broker did not confirm the clean stop in time; closing anyway");
        finish_close(m);
        return;
    }
    if (!m->connected && do_connect(m) != 0)
        schedule_retry(m);
}

static void disconnect(wv_mqtt *m) {
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    d.timeout = 1000;
    d.onSuccess = on_disc_ok;
    d.onFailure = on_disc_fail;
    d.context = m;
    if (MQTTAsync_disconnect(m->client, &d) != MQTTASYNC_SUCCESS)
        finish_close(m);
}

/* MQTT 3.1.1 CONNACK refusals, which paho reports as the failure code. */
static const char *connack_hint(int code) {
    switch (code) {
    case 1:
        return ", the broker refuses MQTT 3.1.1";
    case 2:
        return ", client id rejected";
    case 3:
        return ", broker unavailable";
    case 4:
        return ", bad user name or password";
    case 5:
        return ", not authorized";
    default:
        return "";
    }
}

static void handle(wv_mqtt *m, struct ev *e) {
    switch (e->kind) {
    case EV_MSG:
        if (!m->closing && m->cb.message) {
            pthread_mutex_lock(&m->lock);
            m->stats.received++;
            pthread_mutex_unlock(&m->lock);
            m->cb.message(m, e->text, e->payload, e->len, e->retained, m->user);
        }
        break;
    case EV_CONNECTED:
        if (m->closing)
            break;
        m->connected = true;
        m->warned_fail = false;
        m->retry_ms = RETRY_MIN_MS;
        pthread_mutex_lock(&m->lock);
        m->stats.connects++;
        pthread_mutex_unlock(&m->lock);
        subscribe_all(m);
        if (m->cb.state)
            m->cb.state(m, true, NULL, NULL, m->user);
        break;
    case EV_LOST:
        if (m->closing)
            break;
        m->connected = false;
        pthread_mutex_lock(&m->lock);
        m->stats.disconnects++;
        pthread_mutex_unlock(&m->lock);
        WV_WARN(m->log, SUB, "broker connection lost (%s); reconnecting", e->text);
        schedule_retry(m);
        if (m->cb.state)
            m->cb.state(m, false, NULL, e->text, m->user);
        break;
    case EV_CONNECT_FAILED:
        if (m->closing || m->connected)
            break;
        /* Once per outage at WARN; the retries go on quietly. */
        wv_log_write(m->log, m->warned_fail ? WV_LOG_DEBUG : WV_LOG_WARN, SUB,
                     "cannot connect to any broker (code %d%s%s%s); retrying", e->code,
                     e->text ? ": " : "", e->text ? e->text : "", connack_hint(e->code));
        m->warned_fail = true;
        schedule_retry(m);
        break;
    case EV_FINAL_SENT:
        if (m->closing && !m->finished)
            disconnect(m);
        break;
    case EV_DISC_DONE:
        if (m->closing)
            finish_close(m);
        break;
    }
}

static void on_async(uv_async_t *a) {
    wv_mqtt *m = a->data;
    pthread_mutex_lock(&m->lock);
    struct ev *e = m->head;
    m->head = m->tail = NULL;
    m->queued = 0;
    pthread_mutex_unlock(&m->lock);
    while (e) {
        struct ev *n = e->next;
        if (!m->finished)
            handle(m, e);
        free(e->text);
        free(e->payload);
        free(e);
        e = n;
    }
}

/* paho speaks tcp:// and ssl://; accept the mqtt:// and mqtts:// spellings
 * users write in configs. */
static char *normalize_uri(const char *u) {
    if (strncmp(u, "mqtt://", 7) == 0)
        return wv_asprintf("tcp://%s", u + 7);
    if (strncmp(u, "mqtts://", 8) == 0)
        return wv_asprintf("ssl://%s", u + 8);
    static const char *const ok[] = {"tcp://", "ssl://", "ws://", "wss://"};
    for (size_t i = 0; i < WV_COUNTOF(ok); i++)
        if (strncmp(u, ok[i], strlen(ok[i])) == 0 && u[strlen(ok[i])] != '\0')
            return wv_strdup(u);
    return NULL;
}

static char *dup_opt(const char *s) {
    return s ? wv_strdup(s) : NULL;
}

int wv_mqtt_new(uv_loop_t *loop, wv_log *log, const wv_mqtt_options *o, const wv_mqtt_callbacks *cb,
                void *user, wv_mqtt **out) {
    *out = NULL;
    if (!o || o->nbrokers == 0 || o->nbrokers > WV_MQTT_MAX_BROKERS || o->keepalive_s < 0 ||
        (o->will_topic && (o->will_len > WV_MQTT_DEFAULT_MAX_PAYLOAD || !o->will_payload)))
        return WV_ERR_INVAL;
    wv_mqtt *m = wv_calloc(1, sizeof *m);
    for (size_t i = 0; i < o->nbrokers; i++) {
        char *u = o->brokers[i] ? normalize_uri(o->brokers[i]) : NULL;
        if (!u) {
            WV_ERROR(log, SUB,
                     "broker URI %zu is not mqtt://, mqtts://, tcp://, ssl://, ws:// "
                     "or wss://",
                     i + 1);
            goto fail;
        }
        m->uris[m->nuris++] = u;
    }
    m->loop = loop;
    m->log = log;
    if (cb)
        m->cb = *cb;
    m->user = user;
    m->username = dup_opt(o->username);
    m->password = dup_opt(o->password);
    m->ca_file = dup_opt(o->ca_file);
    m->keepalive_s = o->keepalive_s ? o->keepalive_s : WV_MQTT_DEFAULT_KEEPALIVE_S;
    m->max_payload = o->max_payload ? o->max_payload : WV_MQTT_DEFAULT_MAX_PAYLOAD;
    m->max_queue = o->max_queue ? o->max_queue : WV_MQTT_DEFAULT_MAX_QUEUE;
    m->retry_ms = RETRY_MIN_MS;
    if (o->will_topic) {
        m->will_topic = wv_strdup(o->will_topic);
        m->will_payload = wv_malloc(o->will_len ? o->will_len : 1);
        memcpy(m->will_payload, o->will_payload, o->will_len);
        m->will_len = o->will_len;
    }
    /* A random client id: two starts of one site must not take over each
     * other's session, and the id says nothing about the site. */
    uint8_t rnd[10];
    char id[3 + 2 * sizeof rnd + 1] = "wv-";
    if (gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof rnd) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(id + 3 + 2 * i, 3, "%02x", rnd[i]);
    int rc = MQTTAsync_create(&m->client, m->uris[0], id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        WV_ERROR(log, SUB, "cannot create MQTT client (paho code %d)", rc);
        goto fail;
    }
    if (MQTTAsync_setCallbacks(m->client, m, on_lost, on_message, NULL) != MQTTASYNC_SUCCESS ||
        MQTTAsync_setConnected(m->client, m, on_connected) != MQTTASYNC_SUCCESS) {
        MQTTAsync_destroy(&m->client);
        goto fail;
    }
    pthread_mutex_init(&m->lock, NULL);
    uv_async_init(loop, &m->async, on_async);
    m->async.data = m;
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    *out = m;
    return 0;
fail:
    for (size_t i = 0; i < m->nuris; i++)
        free(m->uris[i]);
    free(m->username);
    free(m->password);
    free(m->ca_file);
    free(m->will_topic);
    free(m->will_payload);
    free(m);
    return WV_ERR_INVAL;
}

int wv_mqtt_start(wv_mqtt *m) {
    if (m->closing)
        return WV_ERR_CLOSED;
    if (m->started)
        return WV_ERR_INVAL;
    m->started = true;
    if (do_connect(m) != 0)
        schedule_retry(m); /* not fatal: keep trying as after a failed connect */
    return 0;
}

int wv_mqtt_subscribe(wv_mqtt *m, const char *filter) {
    if (m->closing)
        return WV_ERR_CLOSED;
    if (!filter || !*filter)
        return WV_ERR_INVAL;
    if (m->nsubs >= MAX_SUBS)
        return WV_ERR_LIMIT;
    m->subs[m->nsubs++] = wv_strdup(filter);
    if (m->connected) {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.onFailure = on_sub_fail;
        ro.context = m;
        return map_rc(MQTTAsync_subscribe(m->client, filter, 1, &ro));
    }
    return 0;
}

int wv_mqtt_publish(wv_mqtt *m, const char *topic, const void *payload, size_t len, bool retained) {
    if (m->closing)
        return WV_ERR_CLOSED;
    if (!topic || !*topic)
        return WV_ERR_INVAL;
    if (len > m->max_payload)
        return WV_ERR_TOOBIG;
    if (!m->connected)
        return WV_ERR_AGAIN;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    return map_rc(MQTTAsync_send(m->client, topic, (int)len, payload, 1, retained ? 1 : 0, &ro));
}

bool wv_mqtt_is_connected(const wv_mqtt *m) {
    return m->connected;
}

void wv_mqtt_get_stats(wv_mqtt *m, wv_mqtt_stats *out) {
    pthread_mutex_lock(&m->lock);
    *out = m->stats;
    pthread_mutex_unlock(&m->lock);
}

void wv_mqtt_close(wv_mqtt *m, const char *final_topic, const void *final_payload, size_t len,
                   wv_mqtt_close_cb close_cb) {
    if (m->closing)
        return;
    m->closing = true;
    m->close_cb = close_cb;
    uv_timer_stop(&m->timer);
    uv_timer_start(&m->timer, on_timer, CLOSE_TIMEOUT_MS, 0);
    if (!m->connected) {
        finish_close(m);
        return;
    }
    if (final_topic && final_payload && len <= m->max_payload) {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.onSuccess = on_final_ok;
        ro.onFailure = on_final_fail;
        ro.context = m;
        if (MQTTAsync_send(m->client, final_topic, (int)len, final_payload, 1, 1, &ro) ==
            MQTTASYNC_SUCCESS)
            return; /* EV_FINAL_SENT continues with the disconnect */
    }
    disconnect(m);
}
