#include "wv/apps.h"
#include "wv/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct wv_applisten {
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    bool is_unix;
    char path[108];
    wv_applisten_cb cb;
    void *user;
};

static void free_on_close(uv_handle_t *h) {
    free(h);
}

void wv_close_free(uv_handle_t *h) {
    if (!uv_is_closing(h))
        uv_close(h, free_on_close);
}

static void on_connection(uv_stream_t *server, int status) {
    wv_applisten *l = WV_CONTAINER_OF(server, wv_applisten, u.s);
    if (status < 0)
        return;
    uv_stream_t *client;
    if (l->is_unix) {
        uv_pipe_t *p = wv_malloc(sizeof(*p));
        uv_pipe_init(server->loop, p, 0);
        client = (uv_stream_t *)p;
    } else {
        uv_tcp_t *t = wv_malloc(sizeof(*t));
        uv_tcp_init(server->loop, t);
        client = (uv_stream_t *)t;
    }
    if (uv_accept(server, client) != 0) {
        wv_close_free((uv_handle_t *)client);
        return;
    }
    if (!l->is_unix)
        uv_tcp_nodelay((uv_tcp_t *)client, 1);
    l->cb(l, client, l->user);
}

/* mkdir -p for the socket's parent directory. */
static int make_parent(const char *path) {
    char dir[108];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* A socket file nobody accepts on is left over from a crash: replace it.
 * Anything else at the path is the user's and is never removed. */
static int clear_stale(const char *path, char *why) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(why, 128, "path exists and is not a socket");
        return WV_ERR_EXISTS;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    close(fd);
    if (r == 0) {
        snprintf(why, 128, "socket is in use by another process");
        return WV_ERR_EXISTS;
    }
    unlink(path);
    return 0;
}

int wv_applisten_new(uv_loop_t *loop, const struct wv_app_socket *sock, wv_applisten_cb cb,
                     void *user, wv_applisten **out, char *why) {
    wv_applisten *l = wv_calloc(1, sizeof(*l));
    l->cb = cb;
    l->user = user;
    l->is_unix = sock->is_unix;
    int r;
    if (sock->is_unix) {
        snprintf(l->path, sizeof(l->path), "%s", sock->path);
        if (make_parent(l->path) != 0) {
            snprintf(why, 128, "cannot create its directory: %s", strerror(errno));
            free(l);
            return WV_ERR_IO;
        }
        if ((r = clear_stale(l->path, why)) != 0) {
            free(l);
            return r;
        }
        uv_pipe_init(loop, &l->u.pipe, 0);
        r = uv_pipe_bind(&l->u.pipe, l->path);
    } else {
        uv_tcp_init(loop, &l->u.tcp);
        r = uv_tcp_bind(&l->u.tcp, (const struct sockaddr *)&sock->addr, 0);
    }
    if (r == 0)
        r = uv_listen(&l->u.s, 511, on_connection);
    if (r != 0) {
        snprintf(why, 128, "%s", uv_strerror(r));
        l->path[0] = '\0'; /* never unlink a path we did not bind */
        uv_close(&l->u.h, free_on_close);
        return r == UV_EINVAL ? WV_ERR_INVAL : WV_ERR_IO;
    }
    *out = l;
    return 0;
}

void wv_applisten_close(wv_applisten *l) {
    if (!l)
        return;
    if (l->is_unix && l->path[0])
        unlink(l->path);
    uv_close(&l->u.h, free_on_close);
}
