/* The reconciler's remote-app listeners: the per-app bound on open
 * connections (the spec's maxConnections), changed live. A fake "proxy"
 * callback keeps every connection it is given and counts it active, as the
 * real proxy does. */
#include "wvunit.h"

#include "wv/apps.h"
#include "wv/base.h"
#include "wv/store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fixture {
    char dir[64], db[96], logpath[96];
    wv_log *log;
    wv_store *st;
    uv_loop_t loop;
    wv_reconciler *r;
    uv_stream_t *kept[8];
    int nkept;
    struct wv_app_counters *k; /* the counters the reconciler passed along */
};

static bool site_up(wv_reconciler *r, const char *site, void *user) {
    return true;
}

static int take(wv_reconciler *r, const char *name, const json_t *spec, uv_stream_t *client,
                struct wv_app_counters *counters, void *user) {
    struct fixture *f = user;
    if (f->nkept >= 8)
        return WV_ERR_LIMIT;
    assert_true(!f->k || f->k == counters); /* one app, one set of counters */
    f->k = counters;
    f->kept[f->nkept++] = client;
    counters->active++;
    return 0;
}

static int dial(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void spin(struct fixture *f, int ms) {
    for (int i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* How many lines of the log file contain needle. */
static int log_count(struct fixture *f, const char *needle) {
    FILE *fp = fopen(f->logpath, "r");
    assert_non_null(fp);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), fp))
        n += strstr(line, needle) != NULL;
    fclose(fp);
    return n;
}

/* The listener closed fd at once: the client reads EOF. */
static void assert_closed(int fd) {
    char b;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(recv(fd, &b, 1, 0), 0);
}

/* Still open: nothing to read, no EOF. */
static void assert_open(int fd) {
    char b;
    assert_int_equal(recv(fd, &b, 1, MSG_DONTWAIT), -1);
}

static void put_app(struct fixture *f, const char *sock, int max_conns) {
    json_t *app = json_pack("{s:s, s:s, s:s, s:s}", "name", "web", "siteName", "b", "appName",
                            "web", "localSocket", sock);
    if (max_conns)
        json_object_set_new(app, "maxConnections", json_integer(max_conns));
    wv_verr err;
    assert_int_equal(wv_store_put(f->st, WV_KIND_REMOTE_APP, app, -1, NULL, NULL, &err), 0);
    json_decref(app);
}

static void connections_over_the_app_limit_are_closed(void **state) {
    struct fixture f = {0};
    snprintf(f.dir, sizeof(f.dir), "/tmp/wvrecXXXXXX");
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.db, sizeof(f.db), "%s/wovenet.db", f.dir);
    assert_int_equal(wv_store_open(f.db, NULL, &f.st), 0);
    assert_int_equal(uv_loop_init(&f.loop), 0);
    uint16_t port = wvu_free_port(SOCK_STREAM);
    char sock[64];
    snprintf(sock, sizeof(sock), "tcp:127.0.0.1:%u", port);
    put_app(&f, sock, 2);
    struct wv_reconcile_callbacks cbs = {.site_up = site_up, .on_remote_conn = take};
    snprintf(f.logpath, sizeof(f.logpath), "%s/agent.log", f.dir);
    f.log = wv_log_new(WV_LOG_INFO, WV_LOG_TEXT, f.logpath);
    assert_non_null(f.log);
    f.r = wv_reconcile_new(&f.loop, f.log, f.st, &cbs, &f);
    wv_reconcile_run(f.r);

    int fds[6];
    for (int i = 0; i < 3; i++) {
        fds[i] = dial(port);
        spin(&f, 50);
    }
    assert_int_equal(f.nkept, 2);
    assert_closed(fds[2]);
    struct wv_app_counters *c = f.k;
    assert_int_equal(c->connections, 3);
    assert_int_equal(c->refused_limit, 1);
    /* The refusal is logged naming the app and its cap. */
    assert_int_equal(log_count(&f, "remote app web: connection refused: 2 open, maxConnections 2"),
                     1);

    wv_metrics *m = wv_metrics_new();
    wv_reconcile_metrics(f.r, m);
    char *text = wv_metrics_render(m);
    assert_non_null(strstr(text, "wovenet_remote_app_connections_refused_total{app=\"web\"} 1"));
    free(text);
    wv_metrics_free(m);

    /* Raised live: the same listener (counters kept, the two open
     * connections untouched) takes one more, then refuses again. */
    put_app(&f, sock, 3);
    wv_reconcile_run(f.r);
    c = f.k;
    assert_int_equal(c->connections, 3);
    assert_int_equal(c->active, 2);
    for (int i = 3; i < 5; i++) {
        fds[i] = dial(port);
        spin(&f, 50);
    }
    assert_int_equal(f.nkept, 3);
    assert_open(fds[0]);
    assert_open(fds[1]);
    assert_open(fds[3]);
    assert_closed(fds[4]);
    assert_int_equal(c->refused_limit, 2);
    assert_int_equal(log_count(&f, "remote app web: maxConnections 3 (was 2)"), 1);
    assert_int_equal(log_count(&f, "listening on"), 1); /* never re-bound */

    /* Back to absent: the default (512) applies. */
    put_app(&f, sock, 0);
    wv_reconcile_run(f.r);
    fds[5] = dial(port);
    spin(&f, 50);
    assert_int_equal(f.nkept, 4);
    assert_open(fds[5]);
    assert_int_equal(log_count(&f, "remote app web: maxConnections 512 (was 3)"), 1);
    assert_int_equal(log_count(&f, "listening on"), 1);

    for (int i = 0; i < 6; i++)
        close(fds[i]);
    for (int i = 0; i < f.nkept; i++)
        wv_close_free((uv_handle_t *)f.kept[i]);
    wv_reconcile_free(f.r);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    wv_log_free(f.log);
    wv_store_close(f.st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f.dir);
    assert_int_equal(system(cmd), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(connections_over_the_app_limit_are_closed),
};
WVU_MAIN(tests)
