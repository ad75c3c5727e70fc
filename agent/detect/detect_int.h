#ifndef WV_DETECT_INT_H
#define WV_DETECT_INT_H
/* Internals shared by detect.c (HTTP and STUN detection) and portmap.c
 * (router port mappings). */
#include "wv/detect.h"

struct dsock;
struct wv_portmap;

struct wv_detect {
    uv_loop_t *loop;
    wv_log *log;
    struct wv_detect_callbacks cbs;
    void *user;
    struct dsock *socks;
    struct wv_portmap *maps;
    struct wv_detect_stats stats;
};

/* Makes *list the mappings the stored sockets ask for (portMapping): new
 * ones are requested, gone or changed ones removed at the router.
 * bound_port gives a socket's bound UDP port (0: not listening: skipped
 * until a later call). */
void wv_detect__portmap_set(wv_detect *d, struct wv_portmap **list, const json_t *sockets,
                            uint16_t (*bound_port)(wv_detect *, const char *));
/* Removes every mapping at the router (jobs that outlive d) and frees list. */
void wv_detect__portmap_free_all(struct wv_portmap *list);
int wv_detect__portmap_get(struct wv_portmap *list, const char *name, char *addr, size_t addrlen,
                           uint16_t *port);
json_t *wv_detect__portmap_status(struct wv_portmap *list, const char *name);

#endif
