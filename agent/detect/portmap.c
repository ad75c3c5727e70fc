/* Port mappings for nat-traversal sockets with portMapping: a UDP port the
 * home router forwards to the socket, asked for with UPnP-IGD
 * (libminiupnpc) or NAT-PMP (libnatpmp), renewed at half its lifetime,
 * announced as the socket's "mapped" candidate, removed when the socket
 * goes or the agent stops. Both libraries block (SSDP, SOAP over HTTP,
 * NAT-PMP retransmissions): every request runs on libuv's pool, one at a
 * time per socket. See detect.h. */
#include "detect_int.h"
#include "wv/base.h"

#include <arpa/inet.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <natpmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#define SUB "portmap"
#define RETRY_S 30
#define NATPMP_DEADLINE_MS 4000
#define DISCOVER_MS 2000

enum pm_method { PM_AUTO, PM_UPNP, PM_NATPMP };
enum pm_op { OP_MAP, OP_RENEW, OP_UNMAP };

/* What a worker needs and finds; owned by the job. */
struct pm_job {
    uv_work_t work;
    struct wv_portmap *owner; /* NULL once the socket's mapping is gone */
    enum pm_op op;
    enum pm_method method, used;
    uint16_t port; /* internal = requested external */
    unsigned lifetime;
    char desc[64];
    /* UPnP-IGD: where the mapping lives (kept for renew and remove) */
    char control_url[512], servicetype[256], lanaddr[64];
    /* results */
    int ok;
    char ext_ip[INET6_ADDRSTRLEN];
    uint16_t ext_port;
    unsigned granted;
    char error[160];
};

struct wv_portmap {
    struct wv_portmap *next;
    wv_detect *d;
    char *name, *key;
    enum pm_method method;
    uint16_t port;
    unsigned lifetime;
    uv_timer_t timer;
    struct pm_job *job;
    /* the active mapping */
    bool active;
    enum pm_method used;
    char ext_ip[INET6_ADDRSTRLEN];
    uint16_t ext_port;
    char control_url[512], servicetype[256], lanaddr[64];
    char error[160];
    uint64_t renewals;
};

/* ---- workers (libuv's pool: only the job is touched) ---- */

static int upnp_add(struct pm_job *j) {
    char port[8], lease[16];
    snprintf(port, sizeof port, "%u", j->port);
    snprintf(lease, sizeof lease, "%u", j->lifetime);
    int r = UPNP_AddPortMapping(j->control_url, j->servicetype, port, port, j->lanaddr, j->desc,
                                "UDP", NULL, lease);
    if (r != UPNPCOMMAND_SUCCESS) {
        snprintf(j->error, sizeof j->error, "UPnP AddPortMapping of UDP %u refused (%d)", j->port,
                 r);
        return -1;
    }
    char ip[40] = "";
    if (UPNP_GetExternalIPAddress(j->control_url, j->servicetype, ip) != UPNPCOMMAND_SUCCESS ||
        !ip[0]) {
        snprintf(j->error, sizeof j->error, "UPnP GetExternalIPAddress failed");
        return -1;
    }
    snprintf(j->ext_ip, sizeof j->ext_ip, "%s", ip);
    j->ext_port = j->port;
    j->granted = j->lifetime;
    return 0;
}

static int upnp_map(struct pm_job *j) {
    int err = 0;
    struct UPNPDev *devs = upnpDiscover(DISCOVER_MS, NULL, NULL, UPNP_LOCAL_PORT_ANY, 0, 2, &err);
    if (!devs) {
        snprintf(j->error, sizeof j->error, "no UPnP-IGD router answered (SSDP, error %d)", err);
        return -1;
    }
    struct UPNPUrls urls;
    struct IGDdatas data;
    char lan[64] = "";
#if MINIUPNPC_API_VERSION >= 18
    char wan[64] = "";
    int r = UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof lan, wan, sizeof wan);
#else
    int r = UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof lan);
#endif
    freeUPNPDevlist(devs);
    /* 2: an IGD that says it is not connected - which libminiupnpc also
     * says of one whose external address is private or reserved (a router
     * behind another NAT, or one that learnt its address by STUN). Like
     * upnpc, try it anyway: AddPortMapping has the last word. */
    if (r != 1 && r != 2) {
        if (r)
            FreeUPNPUrls(&urls);
        snprintf(j->error, sizeof j->error, "no UPnP-IGD router found (%d)", r);
        return -1;
    }
    snprintf(j->control_url, sizeof j->control_url, "%s", urls.controlURL);
    snprintf(j->servicetype, sizeof j->servicetype, "%s", data.first.servicetype);
    snprintf(j->lanaddr, sizeof j->lanaddr, "%s", lan);
    FreeUPNPUrls(&urls);
    return upnp_add(j);
}

static int upnp_unmap(struct pm_job *j) {
    char port[8];
    snprintf(port, sizeof port, "%u", j->port);
    return UPNP_DeletePortMapping(j->control_url, j->servicetype, port, "UDP", NULL) ==
                   UPNPCOMMAND_SUCCESS
               ? 0
               : -1;
}

/* One NAT-PMP request and its answer, retransmitted as libnatpmp says,
 * within NATPMP_DEADLINE_MS. */
static int natpmp_ask(natpmp_t *n, natpmpresp_t *resp) {
    uint64_t deadline = uv_hrtime() / 1000000 + NATPMP_DEADLINE_MS;
    for (;;) {
        fd_set fds;
        struct timeval tv;
        FD_ZERO(&fds);
        FD_SET(n->s, &fds);
        getnatpmprequesttimeout(n, &tv);
        select(n->s + 1, &fds, NULL, NULL, &tv);
        int r = readnatpmpresponseorretry(n, resp);
        if (r != NATPMP_TRYAGAIN)
            return r;
        if (uv_hrtime() / 1000000 >= deadline)
            return NATPMP_TRYAGAIN;
    }
}

static int natpmp_do(struct pm_job *j, unsigned lifetime) {
    natpmp_t n;
    natpmpresp_t resp;
    if (initnatpmp(&n, 0, 0) < 0) {
        snprintf(j->error, sizeof j->error, "NAT-PMP: no default gateway");
        return -1;
    }
    int rc = -1, r;
    if (sendpublicaddressrequest(&n) < 0 || (r = natpmp_ask(&n, &resp)) < 0) {
        snprintf(j->error, sizeof j->error, "no NAT-PMP answer from the gateway");
    } else if (lifetime && inet_ntop(AF_INET, &resp.pnu.publicaddress.addr, j->ext_ip,
                                     sizeof j->ext_ip) == NULL) {
        snprintf(j->error, sizeof j->error, "NAT-PMP: bad public address");
    } else if (sendnewportmappingrequest(&n, NATPMP_PROTOCOL_UDP, j->port, j->port, lifetime) < 0 ||
               (r = natpmp_ask(&n, &resp)) < 0) {
        snprintf(j->error, sizeof j->error, "NAT-PMP mapping of UDP %u refused (%d)", j->port, r);
    } else {
        j->ext_port = resp.pnu.newportmapping.mappedpublicport;
        j->granted = resp.pnu.newportmapping.lifetime;
        rc = 0;
    }
    closenatpmp(&n);
    return rc;
}

static void pm_work(uv_work_t *w) {
    struct pm_job *j = WV_CONTAINER_OF(w, struct pm_job, work);
    if (j->op == OP_UNMAP) {
        j->ok = j->used == PM_UPNP ? upnp_unmap(j) == 0 : natpmp_do(j, 0) == 0;
        return;
    }
    if (j->op == OP_RENEW) {
        j->ok = (j->used == PM_UPNP ? upnp_add(j) : natpmp_do(j, j->lifetime)) == 0;
        return;
    }
    if (j->method != PM_NATPMP && upnp_map(j) == 0) {
        j->used = PM_UPNP;
        j->ok = 1;
    } else if (j->method != PM_UPNP) {
        char upnp_err[sizeof j->error];
        snprintf(upnp_err, sizeof upnp_err, "%s", j->error);
        if (natpmp_do(j, j->lifetime) == 0) {
            j->used = PM_NATPMP;
            j->ok = 1;
        } else if (j->method == PM_AUTO) {
            char np[sizeof j->error];
            snprintf(np, sizeof np, "%s", j->error);
            snprintf(j->error, sizeof j->error, "%.70s; %.70s", upnp_err, np);
        }
    }
}

/* ---- the loop side ---- */

static void schedule(struct wv_portmap *pm, unsigned seconds);
static const char *method_name(enum pm_method m) {
    return m == PM_UPNP ? "UPnP-IGD" : m == PM_NATPMP ? "NAT-PMP" : "auto";
}

static struct pm_job *job_new(struct wv_portmap *pm, enum pm_op op) {
    struct pm_job *j = wv_calloc(1, sizeof(*j));
    j->owner = pm;
    j->op = op;
    j->method = pm->method;
    j->used = pm->used;
    j->port = pm->port;
    j->lifetime = pm->lifetime;
    snprintf(j->desc, sizeof j->desc, "wovenet %.48s", pm->name);
    memcpy(j->control_url, pm->control_url, sizeof j->control_url);
    memcpy(j->servicetype, pm->servicetype, sizeof j->servicetype);
    memcpy(j->lanaddr, pm->lanaddr, sizeof j->lanaddr);
    return j;
}

static void pm_done(uv_work_t *w, int status) {
    struct pm_job *j = WV_CONTAINER_OF(w, struct pm_job, work);
    struct wv_portmap *pm = j->owner;
    if (!pm) {
        free(j); /* an unmap at removal, or a job whose socket went */
        return;
    }
    pm->job = NULL;
    wv_detect *d = pm->d;
    bool was = pm->active;
    char old_ip[INET6_ADDRSTRLEN];
    uint16_t old_port = pm->ext_port;
    snprintf(old_ip, sizeof old_ip, "%s", pm->ext_ip);
    if (status == 0 && j->ok) {
        pm->active = true;
        pm->used = j->used;
        snprintf(pm->ext_ip, sizeof pm->ext_ip, "%s", j->ext_ip[0] ? j->ext_ip : pm->ext_ip);
        pm->ext_port = j->ext_port ? j->ext_port : pm->ext_port;
        memcpy(pm->control_url, j->control_url, sizeof pm->control_url);
        memcpy(pm->servicetype, j->servicetype, sizeof pm->servicetype);
        memcpy(pm->lanaddr, j->lanaddr, sizeof pm->lanaddr);
        pm->error[0] = '\0';
        if (j->op == OP_RENEW) {
            pm->renewals++;
            d->stats.mapping_renewals++;
            WV_INFO(d->log, SUB, "tunnel socket %s: renewed the %s mapping %s:%u", pm->name,
                    method_name(pm->used), pm->ext_ip, pm->ext_port);
        } else {
            d->stats.mappings++;
            WV_INFO(d->log, SUB, "tunnel socket %s: the router maps %s:%u to it (%s, %u s)",
                    pm->name, pm->ext_ip, pm->ext_port, method_name(pm->used), j->granted);
        }
        unsigned life = j->granted ? j->granted : pm->lifetime;
        schedule(pm, life / 2 ? life / 2 : 1);
    } else {
        d->stats.mapping_failures++;
        if (strcmp(pm->error, j->error) != 0)
            WV_WARN(d->log, SUB, "tunnel socket %s: no port mapping: %s", pm->name,
                    j->error[0] ? j->error : "failed");
        snprintf(pm->error, sizeof pm->error, "%s", j->error[0] ? j->error : "failed");
        pm->active = false;
        schedule(pm, RETRY_S);
    }
    free(j);
    bool changed = was != pm->active ||
                   (pm->active && (strcmp(old_ip, pm->ext_ip) != 0 || old_port != pm->ext_port));
    if (changed && d->cbs.changed)
        d->cbs.changed(d, pm->name, d->user);
}

static void run(struct wv_portmap *pm, enum pm_op op) {
    if (pm->job)
        return;
    struct pm_job *j = job_new(pm, op);
    if (uv_queue_work(pm->d->loop, &j->work, pm_work, pm_done) != 0) {
        free(j);
        schedule(pm, RETRY_S);
        return;
    }
    pm->job = j;
}

static void on_timer(uv_timer_t *t) {
    struct wv_portmap *pm = t->data;
    run(pm, pm->active ? OP_RENEW : OP_MAP);
}

static void schedule(struct wv_portmap *pm, unsigned seconds) {
    uv_timer_start(&pm->timer, on_timer, seconds * 1000ull, 0);
}

static void pm_closed(uv_handle_t *h) {
    struct wv_portmap *pm = h->data;
    free(pm->name);
    free(pm->key);
    free(pm);
}

/* The socket's mapping goes: removed at the router (a job that outlives
 * us; libuv's loop runs until it is done). */
static void pm_free(struct wv_portmap *pm) {
    if (pm->job)
        pm->job->owner = NULL; /* its result is dropped: a mapping it makes expires */
    if (pm->active) {
        struct pm_job *j = job_new(pm, OP_UNMAP);
        j->owner = NULL;
        WV_INFO(pm->d->log, SUB, "tunnel socket %s: removing the mapping %s:%u", pm->name,
                pm->ext_ip, pm->ext_port);
        if (uv_queue_work(pm->d->loop, &j->work, pm_work, pm_done) != 0)
            free(j);
    }
    uv_close((uv_handle_t *)&pm->timer, pm_closed);
}

void wv_detect__portmap_set(wv_detect *d, struct wv_portmap **list, const json_t *sockets,
                            uint16_t (*bound_port)(wv_detect *, const char *)) {
    struct wv_portmap *keep = NULL;
    size_t i;
    json_t *o;
    json_array_foreach(sockets, i, o) {
        const char *pm_s = json_string_value(json_object_get(o, "portMapping"));
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!pm_s || !name || json_is_false(json_object_get(o, "enabled")))
            continue;
        uint16_t port = bound_port(d, name);
        if (!port)
            continue; /* not listening (yet): the next sync */
        json_int_t life = json_integer_value(json_object_get(o, "portMappingLifetime"));
        char *key = wv_asprintf("%s|%u|%lld", pm_s, port, (long long)life);
        struct wv_portmap **pp = list, *pm = NULL;
        for (; *pp; pp = &(*pp)->next)
            if (strcmp((*pp)->name, name) == 0 && strcmp((*pp)->key, key) == 0) {
                pm = *pp;
                *pp = pm->next;
                break;
            }
        if (!pm) {
            pm = wv_calloc(1, sizeof(*pm));
            pm->d = d;
            pm->name = wv_strdup(name);
            pm->key = key;
            key = NULL;
            pm->method = strcmp(pm_s, "upnp") == 0     ? PM_UPNP
                         : strcmp(pm_s, "natpmp") == 0 ? PM_NATPMP
                                                       : PM_AUTO;
            pm->port = port;
            pm->lifetime = life > 0 ? (unsigned)life : WV_DETECT_MAPPING_LIFETIME_S;
            uv_timer_init(d->loop, &pm->timer);
            pm->timer.data = pm;
            WV_INFO(d->log, SUB, "tunnel socket %s: asking the router for UDP port %u (%s)", name,
                    port, method_name(pm->method));
            run(pm, OP_MAP);
        }
        free(key);
        pm->next = keep;
        keep = pm;
    }
    for (struct wv_portmap *pm = *list, *next; pm; pm = next) {
        next = pm->next;
        pm_free(pm);
    }
    *list = keep;
}

void wv_detect__portmap_free_all(struct wv_portmap *list) {
    for (struct wv_portmap *pm = list, *next; pm; pm = next) {
        next = pm->next;
        pm_free(pm);
    }
}

static struct wv_portmap *pm_find(struct wv_portmap *list, const char *name) {
    for (; list; list = list->next)
        if (strcmp(list->name, name) == 0)
            return list;
    return NULL;
}

int wv_detect__portmap_get(struct wv_portmap *list, const char *name, char *addr, size_t addrlen,
                           uint16_t *port) {
    struct wv_portmap *pm = pm_find(list, name);
    if (!pm)
        return WV_ERR_NOTFOUND;
    if (!pm->active)
        return WV_ERR_AGAIN;
    snprintf(addr, addrlen, "%s", pm->ext_ip);
    *port = pm->ext_port;
    return 0;
}

json_t *wv_detect__portmap_status(struct wv_portmap *list, const char *name) {
    struct wv_portmap *pm = pm_find(list, name);
    if (!pm)
        return NULL;
    json_t *o = json_pack("{s:s, s:s, s:I}", "method",
                          method_name(pm->active ? pm->used : pm->method), "state",
                          pm->active ? "mapped"
                          : pm->job  ? "mapping"
                                     : "failed",
                          "renewals", (json_int_t)pm->renewals);
    if (pm->active) {
        json_object_set_new(o, "publicAddress", json_string(pm->ext_ip));
        json_object_set_new(o, "publicPort", json_integer(pm->ext_port));
    }
    if (pm->error[0])
        json_object_set_new(o, "error", json_string(pm->error));
    return o;
}
