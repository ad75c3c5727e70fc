/* wanemu: a WAN path between two network namespaces, for tests and benches
 * on a kernel without netem. See tests/tools/README.md for the model, the
 * flags and the figures. main only parses flags, opens the two TUN devices,
 * runs one pump thread per direction and prints counters until told to stop. */
#include "pump.h"
#include "tun.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: wanemu --ns-a NS --dev-a DEV --ns-b NS --dev-b DEV [path settings] [options]\n"
    "\n"
    "Holds a TUN device in each of two network namespaces (NS: a name under\n"
    "/run/netns, or a path like /proc/PID/ns/net; omitted: the current one) and\n"
    "moves IP packets between them. Path settings apply to both directions;\n"
    "with the suffix -ab (from A to B) or -ba only to one (later flags win):\n"
    "  --delay-ms MS      one-way delay (default 0)\n"
    "  --jitter-ms MS     uniform delay variation, +-MS (reorders, as netem)\n"
    "  --loss P           random loss, a fraction (0.01) or a percentage (1%)\n"
    "  --reorder P        share of packets sent without the delay\n"
    "  --rate-mbit R      bottleneck rate in Mbit/s of IP packets (default: none)\n"
    "  --burst-bytes N    token bucket depth (default 0: a plain link of that rate)\n"
    "  --queue-bytes N    drop-tail queue of the bottleneck in bytes (K/M/G suffixes;\n"
    "                     default with a rate: one rate x 2 x delay, at least 64K)\n"
    "  --queue-pkts N     ... and/or in packets\n"
    "Options:\n"
    "  --mtu N            device MTU (default 1500)\n"
    "  --txqueuelen N     device queue length (default 10000: a sending burst waits\n"
    "                     there while wanemu is descheduled instead of being lost)\n"
    "  --pool N           packets held per direction at most (default 65536)\n"
    "  --seed S           seed of the loss/jitter/reorder generator (default 1)\n"
    "  --stats-every S    print the counters every S seconds\n"
    "  --slack-us US      how much later than due a release within 1 ms of now may\n"
    "                     go, so one wake-up writes several packets (default 50)\n"
    "  --nice N           scheduling priority of the two threads (default: unchanged;\n"
    "                     e.g. -10 on a busy machine, so the path does not stall)\n"
    "  --rt PRIO          run the two threads SCHED_FIFO at PRIO (1-99), as the kernel\n"
    "                     runs a real link's softirq work: ahead of every normal task\n"
    "                     (the kernel's RT throttling still leaves others 5%)\n"
    "Prints one JSON line when ready, the counters on SIGUSR1 and at exit\n"
    "(SIGTERM, SIGINT, or when its parent process ends).\n";

struct opts {
    const char *ns[2], *dev[2];
    struct wanemu_dir_conf dir[2];
    int queue_set[2];
    unsigned mtu, txqlen, pool;
    double slack_us;
    int nice, rt;
    uint64_t seed;
    double stats_every;
};

enum kind { K_MS, K_FRAC, K_MBIT, K_BYTES, K_COUNT, K_INT, K_STR, K_SEED, K_SECS };

struct param {
    const char *name;
    enum kind kind;
    int per_dir;
    double lo, hi;
};

static const struct param params[] = {
    {"delay-ms", K_MS, 1, 0, 60000},
    {"jitter-ms", K_MS, 1, 0, 60000},
    {"loss", K_FRAC, 1, 0, 1},
    {"reorder", K_FRAC, 1, 0, 1},
    {"rate-mbit", K_MBIT, 1, 0.001, 1000000},
    {"burst-bytes", K_BYTES, 1, 0, 1 << 30},
    {"queue-bytes", K_BYTES, 1, 1, 1 << 30},
    {"queue-pkts", K_COUNT, 1, 1, WANEMU_MAX_SLOTS},
    {"ns-a", K_STR, 0, 0, 0},
    {"ns-b", K_STR, 0, 0, 0},
    {"dev-a", K_STR, 0, 0, 0},
    {"dev-b", K_STR, 0, 0, 0},
    {"mtu", K_COUNT, 0, 1280, 9000},
    {"txqueuelen", K_COUNT, 0, 1, 100000},
    {"pool", K_COUNT, 0, 16, WANEMU_MAX_SLOTS},
    {"seed", K_SEED, 0, 0, 0},
    {"stats-every", K_SECS, 0, 0.1, 86400},
    {"slack-us", K_MS, 0, 0, 10000},
    {"nice", K_INT, 0, -20, 19},
    {"rt", K_INT, 0, 0, 99},
};

static _Noreturn void bad(const char *flag, const char *val, const char *why) {
    if (val)
        fprintf(stderr, "wanemu: --%s %s: %s\n", flag, val, why);
    else
        fprintf(stderr, "wanemu: --%s: %s\n", flag, why);
    exit(2);
}

/* A number, fully consumed; with pct a trailing % divides by 100, with
 * bytes a K/M/G suffix multiplies by 1024^n. */
static double number(const char *flag, const char *s, const struct param *p) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v))
        bad(flag, s, "not a number");
    if (p->kind == K_FRAC && *end == '%') {
        v /= 100;
        end++;
    } else if (p->kind == K_BYTES && *end && strchr("KMG", *end)) {
        v *= *end == 'K' ? 1024.0 : *end == 'M' ? 1048576.0 : 1073741824.0;
        end++;
    }
    if (*end)
        bad(flag, s, "trailing characters");
    if ((p->kind == K_COUNT || p->kind == K_BYTES || p->kind == K_INT) && v != floor(v))
        bad(flag, s, "not a whole number");
    if (v < p->lo || v > p->hi) {
        char why[96];
        snprintf(why, sizeof(why), "out of range [%g, %g]", p->lo, p->hi);
        bad(flag, s, why);
    }
    return v;
}

static void set_dir(struct opts *o, int d, const struct param *p, double v) {
    struct wanemu_dir_conf *c = &o->dir[d];
    const char *n = p->name;
    if (!strcmp(n, "delay-ms"))
        c->delay_ns = (uint64_t)llround(v * 1e6);
    else if (!strcmp(n, "jitter-ms"))
        c->jitter_ns = (uint64_t)llround(v * 1e6);
    else if (!strcmp(n, "loss"))
        c->loss = v;
    else if (!strcmp(n, "reorder"))
        c->reorder = v;
    else if (!strcmp(n, "rate-mbit"))
        c->rate_bps = (uint64_t)llround(v * 1e6);
    else if (!strcmp(n, "burst-bytes"))
        c->burst_bytes = (uint64_t)v;
    else if (!strcmp(n, "queue-bytes"))
        c->queue_bytes = (uint64_t)v, o->queue_set[d] = 1;
    else if (!strcmp(n, "queue-pkts"))
        c->queue_pkts = (uint32_t)v, o->queue_set[d] = 1;
}

static void set_global(struct opts *o, const struct param *p, const char *flag, const char *s) {
    const char *n = p->name;
    if (p->kind == K_STR) {
        if (!*s)
            bad(flag, s, "empty");
        int side = n[strlen(n) - 1] == 'b';
        if (!strncmp(n, "ns", 2))
            o->ns[side] = s;
        else
            o->dev[side] = s;
        return;
    }
    if (p->kind == K_SEED) {
        char *end;
        errno = 0;
        o->seed = strtoull(s, &end, 0);
        if (end == s || *end || errno)
            bad(flag, s, "not an unsigned 64-bit number");
        return;
    }
    double v = number(flag, s, p);
    if (!strcmp(n, "mtu"))
        o->mtu = (unsigned)v;
    else if (!strcmp(n, "txqueuelen"))
        o->txqlen = (unsigned)v;
    else if (!strcmp(n, "pool"))
        o->pool = (unsigned)v;
    else if (!strcmp(n, "stats-every"))
        o->stats_every = v;
    else if (!strcmp(n, "slack-us"))
        o->slack_us = v;
    else if (!strcmp(n, "nice"))
        o->nice = (int)v;
    else if (!strcmp(n, "rt"))
        o->rt = (int)v;
}

static void parse(struct opts *o, int argc, char **argv) {
    *o = (struct opts){.mtu = 1500, .txqlen = 10000, .pool = 65536, .seed = 1, .slack_us = 50};
    o->dev[0] = o->dev[1] = "wan0";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0)
            bad(a, NULL, "not a flag (see --help)");
        char flag[64];
        const char *val = strchr(a, '=');
        size_t flen = val ? (size_t)(val - a - 2) : strlen(a + 2);
        if (flen >= sizeof(flag))
            bad(a + 2, NULL, "unknown flag (see --help)");
        memcpy(flag, a + 2, flen);
        flag[flen] = 0;
        if (val)
            val++;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            bad(flag, NULL, "needs a value");
        int dirs = 3; /* bit 0: a->b, bit 1: b->a */
        char base[64];
        snprintf(base, sizeof(base), "%s", flag);
        size_t bl = strlen(base);
        if (bl > 3 && (!strcmp(base + bl - 3, "-ab") || !strcmp(base + bl - 3, "-ba"))) {
            dirs = base[bl - 2] == 'a' ? 1 : 2;
            base[bl - 3] = 0;
        }
        const struct param *p = NULL;
        for (size_t k = 0; k < sizeof(params) / sizeof(params[0]); k++)
            if (!strcmp(params[k].name, base))
                p = &params[k];
        if (!p || (dirs != 3 && !p->per_dir))
            bad(flag, NULL, "unknown flag (see --help)");
        if (!p->per_dir) {
            set_global(o, p, flag, val);
            continue;
        }
        double v = number(flag, val, p);
        for (int d = 0; d < 2; d++)
            if (dirs & (1 << d))
                set_dir(o, d, p, v);
    }
    for (int d = 0; d < 2; d++) {
        struct wanemu_dir_conf *c = &o->dir[d];
        if (c->jitter_ns && c->jitter_ns > c->delay_ns)
            bad(d ? "jitter-ms-ba" : "jitter-ms-ab", NULL, "larger than the delay");
        if (c->rate_bps && !o->queue_set[d]) {
            /* One bandwidth-delay product of a symmetric path. */
            double bdp = (double)c->rate_bps / 8 * 2 * (double)c->delay_ns / 1e9;
            c->queue_bytes = (uint64_t)(bdp > 65536 ? bdp : 65536);
        }
        if (!c->rate_bps && o->queue_set[d])
            bad(d ? "queue-bytes-ba" : "queue-bytes-ab", NULL,
                "a queue needs a rate (--rate-mbit)");
        if (c->queue_pkts > o->pool)
            bad("queue-pkts", NULL, "larger than --pool");
    }
    if (o->ns[0] && o->ns[1] && !strcmp(o->ns[0], o->ns[1]) && !strcmp(o->dev[0], o->dev[1]))
        bad("dev-b", o->dev[1], "the same device as --dev-a in the same namespace");
}

static const char *const dir_names[2] = {"a_to_b", "b_to_a"};

static void print_conf(const struct wanemu_dir_conf *c, const char *name, int last) {
    printf("\"%s\":{\"delay_ms\":%.3f,\"jitter_ms\":%.3f,\"loss\":%g,\"reorder\":%g,"
           "\"rate_mbit\":%.3f,\"burst_bytes\":%llu,\"queue_bytes\":%llu,\"queue_pkts\":%u}%s",
           name, (double)c->delay_ns / 1e6, (double)c->jitter_ns / 1e6, c->loss, c->reorder,
           (double)c->rate_bps / 1e6, (unsigned long long)c->burst_bytes,
           (unsigned long long)c->queue_bytes, c->queue_pkts, last ? "" : ",");
}

static void print_stats(const char *event, struct wanemu_pump *p, struct wanemu_tun *tun,
                        double secs) {
    printf("{\"event\":\"%s\",\"t\":%.3f", event, secs);
    for (int d = 0; d < 2; d++) {
        struct wanemu_stats *s = &p[d].st;
        /* A direction's packets enter through the sending side's device. */
        long long dev_drops = (long long)wanemu_tun_tx_dropped(&tun[d]);
#define F(x) (unsigned long long)atomic_load_explicit(&s->x, memory_order_relaxed)
        printf(",\"%s\":{\"rx_pkts\":%llu,\"rx_bytes\":%llu,\"tx_pkts\":%llu,\"tx_bytes\":%llu,"
               "\"drop_loss\":%llu,\"drop_queue\":%llu,\"drop_pool\":%llu,\"drop_oversize\":%llu,"
               "\"drop_write\":%llu,\"reordered\":%llu,\"queue_max_bytes\":%llu,"
               "\"held_max\":%llu,\"drop_device\":%lld,\"late_us_avg\":%.1f,"
               "\"late_us_max\":%.1f}",
               dir_names[d], F(rx_pkts), F(rx_bytes), F(tx_pkts), F(tx_bytes), F(drop_loss),
               F(drop_queue), F(drop_pool), F(drop_oversize), F(drop_write), F(reordered),
               F(queue_max_bytes), F(held_max), dev_drops,
               F(tx_pkts) ? (double)F(late_ns_sum) / (double)F(tx_pkts) / 1e3 : 0.0,
               (double)F(late_ns_max) / 1e3);
#undef F
    }
    printf("}\n");
    fflush(stdout);
}

static double since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
    struct opts o;
    parse(&o, argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A test killed outright (SIGKILL) cannot stop us: go when it goes,
     * rather than hold two devices in namespaces nobody will delete. The
     * signal is blocked below and taken by sigtimedwait like any SIGTERM. */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        return 1;

    struct wanemu_tun tun[2] = {{.fd = -1, .nl = -1}, {.fd = -1, .nl = -1}};
    int stop = -1, rc = 1;
    struct wanemu_pump pump[2];
    memset(pump, 0, sizeof(pump));
    char err[256];
    for (int s = 0; s < 2; s++) {
        if (wanemu_tun_open(&tun[s], o.ns[s], o.dev[s], o.mtu, o.txqlen, err, sizeof(err)) < 0) {
            fprintf(stderr, "wanemu: side %c: %s\n", 'a' + s, err);
            goto out;
        }
    }
    stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop < 0) {
        perror("wanemu: eventfd");
        goto out;
    }
    for (int d = 0; d < 2; d++) {
        /* Independent generators per direction, both from the one seed. */
        uint64_t seed = o.seed * 2 + (uint64_t)d;
        if (wanemu_pump_init(&pump[d], dir_names[d], tun[d].fd, tun[1 - d].fd, stop, &o.dir[d],
                             seed, o.mtu, o.pool) != 0) {
            fprintf(stderr, "wanemu: out of memory for a pool of %u packets\n", o.pool);
            goto out;
        }
        pump[d].slack_ns = (unsigned long)(o.slack_us * 1000);
    }

    /* Signals go to this thread's sigtimedwait; the pumps block them all. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* Threads inherit the creator's nice value. */
    if (o.nice && setpriority(PRIO_PROCESS, 0, o.nice) < 0)
        fprintf(stderr, "wanemu: --nice %d: %s (running unchanged)\n", o.nice, strerror(errno));
    int started = 0;
    for (; started < 2; started++) {
        int e = wanemu_pump_start(&pump[started]);
        if (e) {
            fprintf(stderr, "wanemu: thread: %s\n", strerror(e));
            break;
        }
        struct sched_param sp = {.sched_priority = o.rt};
        if (o.rt && (e = pthread_setschedparam(pump[started].thread, SCHED_FIFO, &sp)) != 0)
            fprintf(stderr, "wanemu: --rt %d: %s (running unchanged)\n", o.rt, strerror(e));
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (started == 2) {
        printf("{\"event\":\"ready\",\"pid\":%d,\"a\":{\"ns\":\"%s\",\"dev\":\"%s\"},"
               "\"b\":{\"ns\":\"%s\",\"dev\":\"%s\"},\"mtu\":%u,\"pool\":%u,\"seed\":%llu,"
               "\"nice\":%d,\"rt\":%d,",
               (int)getpid(), o.ns[0] ? o.ns[0] : "", o.dev[0], o.ns[1] ? o.ns[1] : "", o.dev[1],
               o.mtu, o.pool, (unsigned long long)o.seed, getpriority(PRIO_PROCESS, 0), o.rt);
        print_conf(&o.dir[0], dir_names[0], 0);
        print_conf(&o.dir[1], dir_names[1], 1);
        printf("}\n");
        fflush(stdout);
        rc = 0;
    }
    double next_stats = o.stats_every;
    while (rc == 0) {
        /* A pump that failed ends the run: look at least once a second. */
        double wait = 1.0;
        if (o.stats_every > 0 && next_stats - since(&t0) < wait)
            wait = fmax(next_stats - since(&t0), 0.001);
        struct timespec ts = {.tv_sec = (time_t)wait,
                              .tv_nsec = (long)((wait - floor(wait)) * 1e9)};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (pump[0].err || pump[1].err) {
            for (int d = 0; d < 2; d++)
                if (pump[d].err)
                    fprintf(stderr, "wanemu: %s: %s\n", dir_names[d], strerror(pump[d].err));
            rc = 1;
        } else if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            break;
        } else if (sig == SIGUSR1) {
            print_stats("stats", pump, tun, since(&t0));
        } else if (o.stats_every > 0 && since(&t0) >= next_stats) {
            print_stats("stats", pump, tun, since(&t0));
            next_stats += o.stats_every;
        }
    }
    for (int d = 0; d < 2; d++)
        atomic_store(&pump[d].stopping, 1);
    if (eventfd_write(stop, 1) < 0)
        perror("wanemu: eventfd_write");
    for (int d = 0; d < started; d++)
        wanemu_pump_join(&pump[d]);
    if (started == 2)
        print_stats("exit", pump, tun, since(&t0));
out:
    for (int d = 0; d < 2; d++)
        wanemu_pump_dispose(&pump[d]);
    if (stop >= 0)
        close(stop);
    for (int s = 0; s < 2; s++)
        wanemu_tun_close(&tun[s]);
    return rc;
}
