/* `wovenet status`: a running site's peers, data channels and apps as
 * tables, read from its REST API. Throughput is the byte counters' growth
 * over a 0.5 s sample, since the API serves totals only. */
#include "cli_http.h"
#include "wv/base.h"
#include "wv/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SAMPLE_NS 500000000L

static const char *str_or(json_t *o, const char *key, const char *dflt) {
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : dflt;
}

static const char *yesno(json_t *o, const char *key) {
    return json_is_true(json_object_get(o, key)) ? "yes" : "no";
}

/* GET path into *out (a new reference); prints the error and returns -1. */
static int get(const struct wv_cli *cli, const char *path, json_t **out) {
    struct wv_cli_resp r;
    if (wv_cli_http(cli->url, cli->token, "GET", path, NULL, &r) < 0 || r.status != 200 ||
        !r.body) {
        char what[128];
        snprintf(what, sizeof what, "GET %s", path);
        if (r.status == 200)
            snprintf(r.error, sizeof r.error, "the answer is not JSON");
        wv_cli_http_report(what, &r);
        json_decref(r.body);
        return -1;
    }
    *out = r.body;
    return 0;
}

/* The channel with this id in peer site's entry of peers, or NULL. */
static json_t *find_channel(json_t *peers, const char *site, json_int_t id) {
    size_t i, j;
    json_t *p, *c;
    json_array_foreach(peers, i, p) {
        if (strcmp(str_or(p, "siteName", ""), site) != 0)
            continue;
        json_array_foreach(json_object_get(p, "channels"), j, c) {
            if (json_integer_value(json_object_get(c, "id")) == id)
                return c;
        }
    }
    return NULL;
}

static double mbits(json_t *now, json_t *before, const char *key, double secs) {
    json_int_t a = json_integer_value(json_object_get(now, key));
    json_int_t b = before ? json_integer_value(json_object_get(before, key)) : a;
    return a > b && secs > 0 ? (double)(a - b) * 8 / secs / 1e6 : 0.0;
}

/* A section's title line and column heads (fmt), then the line empty
 * when rows is an array with nothing in it. */
__attribute__((format(printf, 3, 4))) static void heading(json_t *rows, const char *empty,
                                                          const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (rows && !json_array_size(rows))
        printf("%s\n", empty);
}

/* An app's last column: its open connections, and its error if it has one. */
static const char *conns_and_error(json_t *status, char *out, size_t size) {
    const char *err = str_or(status, "error", "");
    snprintf(out, size, "%lld%s%s",
             (long long)json_integer_value(json_object_get(status, "connections")),
             *err ? "  " : "", err);
    return out;
}

/* "host:port", the host in brackets when it is an IPv6 address. */
static const char *host_port(const char *host, json_int_t port, char *out, size_t size) {
    snprintf(out, size, strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, (long long)port);
    return out;
}

static void print_peers(json_t *peers, json_t *before, double secs) {
    size_t i, j, k;
    json_t *p, *c, *a;
    heading(peers, "(none yet)", "\nPEERS\n%-20s %-7s %-10s %-26s %s\n", "SITE", "ONLINE",
            "REACHABLE", "LAST SEEN", "APPS");
    json_array_foreach(peers, i, p) {
        char apps[256] = "";
        size_t used = 0;
        json_array_foreach(json_object_get(p, "apps"), k, a) {
            const char *n = json_is_string(a) ? json_string_value(a) : str_or(a, "appName", "?");
            int w = snprintf(apps + used, sizeof apps - used, "%s%s", k ? "," : "", n);
            if (w < 0 || (size_t)w >= sizeof apps - used)
                break;
            used += (size_t)w;
        }
        printf("%-20s %-7s %-10s %-26s %s\n", str_or(p, "siteName", "?"), yesno(p, "online"),
               yesno(p, "reachable"), str_or(p, "lastSeen", "-"), apps[0] ? apps : "-");
    }
    heading(NULL, NULL, "\nCHANNELS\n%-20s %-4s %-8s %-6s %-11s %-24s %-24s %8s %10s %10s %7s %s\n",
            "PEER", "ID", "DIR", "FAMILY", "STATE", "LOCAL", "REMOTE", "RTT ms", "TX Mbit/s",
            "RX Mbit/s", "STREAMS", "PATH");
    int n = 0;
    json_array_foreach(peers, i, p) {
        const char *site = str_or(p, "siteName", "?");
        json_array_foreach(json_object_get(p, "channels"), j, c) {
            json_int_t id = json_integer_value(json_object_get(c, "id"));
            json_t *old = find_channel(before, site, id);
            json_t *rtt = json_object_get(c, "rttMs");
            char rtts[32] = "-";
            if (json_is_number(rtt))
                snprintf(rtts, sizeof rtts, "%.2f", json_number_value(rtt));
            printf("%-20s %-4lld %-8s %-6s %-11s %-24s %-24s %8s %10.2f %10.2f %7lld %s\n", site,
                   (long long)id, str_or(c, "direction", "?"), str_or(c, "family", "?"),
                   str_or(c, "state", "?"), str_or(c, "localAddress", "-"),
                   str_or(c, "remoteAddress", "-"), rtts, mbits(c, old, "bytesSent", secs),
                   mbits(c, old, "bytesReceived", secs),
                   (long long)json_integer_value(json_object_get(c, "streams")),
                   str_or(c, "path", "direct"));
            n++;
        }
    }
    if (!n)
        printf("(none)\n");
}

/* Tunnel sockets: where peers reach us, and why one does not listen. */
static void print_sockets(json_t *socks) {
    size_t i;
    json_t *a;
    heading(socks, "(none: peers cannot dial this site)",
            "\nTUNNEL SOCKETS\n%-24s %-18s %-26s %-28s %-10s %s\n", "NAME", "MODE", "LISTEN",
            "PUBLIC", "STATE", "DETAILS");
    json_array_foreach(socks, i, a) {
        json_t *st = json_object_get(a, "status"), *det = json_object_get(st, "detection");
        char listen[96], pub[96], details[256] = "";
        host_port(str_or(a, "listenAddress", "*"),
                  json_integer_value(json_object_get(a, "listenPort")), listen, sizeof listen);
        host_port(str_or(st, "publicAddress", str_or(a, "publicAddress", "-")),
                  json_integer_value(json_object_get(a, "publicPort")), pub, sizeof pub);
        if (json_is_object(det))
            snprintf(details, sizeof details, "detection %s %s%s%s", str_or(det, "method", "?"),
                     str_or(det, "state", "?"), *str_or(det, "error", "") ? ": " : "",
                     str_or(det, "error", ""));
        if (*str_or(st, "error", ""))
            snprintf(details + strlen(details), sizeof details - strlen(details), "%s%s",
                     details[0] ? "; " : "", str_or(st, "error", ""));
        printf("%-24s %-18s %-26s %-28s %-10s %s\n", str_or(a, "name", "?"), str_or(a, "mode", "?"),
               listen, pub, str_or(st, "state", "?"), details[0] ? details : "-");
    }
}

/* A line for each app of the list whose state is "error"; how many. */
static size_t print_failing_apps(const char *what, json_t *apps) {
    size_t i, n = 0;
    json_t *a;
    json_array_foreach(apps, i, a) {
        json_t *st = json_object_get(a, "status");
        if (strcmp(str_or(st, "state", ""), "error") == 0) {
            printf("%s %s: %s\n", what, str_or(a, "name", "?"), str_or(st, "error", "error"));
            n++;
        }
    }
    return n;
}

/* One line per thing that needs a look; the last section, for a glance. */
static void print_unhealthy(json_t *site, json_t *socks, json_t *remote, json_t *exposed) {
    size_t i, n = 0;
    json_t *a;
    printf("\nUNHEALTHY\n");
    const char *broker =
        str_or(json_object_get(json_object_get(site, "status"), "broker"), "state", "?");
    if (strcmp(broker, "connected") != 0) {
        printf("broker: %s (peers cannot find this site; running tunnels are kept)\n", broker);
        n++;
    }
    json_array_foreach(socks, i, a) {
        json_t *st = json_object_get(a, "status");
        json_t *det = json_object_get(st, "detection");
        if (strcmp(str_or(st, "state", "?"), "error") == 0 ||
            strcmp(str_or(det, "state", ""), "failed") == 0) {
            printf("tunnel socket %s: %s\n", str_or(a, "name", "?"),
                   str_or(st, "error", str_or(det, "error", "failing")));
            n++;
        }
    }
    n += print_failing_apps("remote app", remote);
    n += print_failing_apps("exposed app", exposed);
    if (!n)
        printf("(nothing)\n");
}

static void print_apps(json_t *remote, json_t *exposed) {
    size_t i;
    json_t *a;
    char last[1024];
    heading(remote, "(none)", "\nREMOTE APPS\n%-20s %-20s %-20s %-28s %-17s %s\n", "NAME", "SITE",
            "APP", "LOCAL SOCKET", "STATE", "CONNECTIONS");
    json_array_foreach(remote, i, a) {
        json_t *s = json_object_get(a, "status");
        printf("%-20s %-20s %-20s %-28s %-17s %s\n", str_or(a, "name", "?"),
               str_or(a, "siteName", "?"), str_or(a, "appName", "?"), str_or(a, "localSocket", "?"),
               str_or(s, "state", "?"), conns_and_error(s, last, sizeof last));
    }
    heading(exposed, "(none)", "\nEXPOSED APPS\n%-20s %-7s %-28s %-9s %s\n", "NAME", "MODE",
            "APP SOCKET", "STATE", "CONNECTIONS");
    json_array_foreach(exposed, i, a) {
        json_t *s = json_object_get(a, "status");
        printf("%-20s %-7s %-28s %-9s %s\n", str_or(a, "name", "?"), str_or(a, "mode", "single"),
               str_or(a, "appSocket", "(range)"), str_or(s, "state", "-"),
               conns_and_error(s, last, sizeof last));
    }
}

int wv_cli_status(const struct wv_cli *cli) {
    json_t *site = NULL, *before = NULL, *peers = NULL, *remote = NULL, *exposed = NULL,
           *socks = NULL;
    int code = WV_EXIT_FAIL;
    struct timespec t0, t1;
    if (get(cli, "/api/v1/site", &site) < 0)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (get(cli, "/api/v1/peers", &before) < 0)
        goto out;
    if (!cli->json)
        nanosleep(&(struct timespec){0, SAMPLE_NS}, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (get(cli, "/api/v1/peers", &peers) < 0 || get(cli, "/api/v1/remote-apps", &remote) < 0 ||
        get(cli, "/api/v1/exposed-apps", &exposed) < 0 ||
        get(cli, "/api/v1/tunnel-sockets", &socks) < 0)
        goto out;
    if (cli->json) {
        json_t *all =
            json_pack("{s:O, s:O, s:O, s:O, s:O}", "site", site, "peers", peers, "remoteApps",
                      remote, "exposedApps", exposed, "tunnelSockets", socks);
        char *s = all ? json_dumps(all, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(all);
        if (!s) {
            fprintf(stderr, "wovenet: status: out of memory\n");
            goto out;
        }
        puts(s);
        free(s);
    } else {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        json_t *st = json_object_get(site, "status");
        printf("SITE %s  (API %s)\n", str_or(site, "siteName", "?"), cli->url);
        json_t *br = json_object_get(st, "broker");
        char *brokers = json_dumps(
            json_object_get(json_object_get(site, "messageChannel"), "brokers"), JSON_COMPACT);
        printf("  broker: %s %s\n", str_or(br, "state", "?"), brokers ? brokers : "[]");
        free(brokers);
        if (strcmp(str_or(site, "origin", ""), "config") == 0)
            printf("  managed by the config file %s\n", str_or(site, "managedBy", "?"));
        if (json_is_object(st)) {
            const char *k;
            json_t *v;
            json_object_foreach(st, k, v) {
                if (strcmp(k, "broker") != 0 &&
                    (json_is_string(v) || json_is_number(v) || json_is_boolean(v))) {
                    char *s = json_dumps(v, JSON_ENCODE_ANY);
                    printf("  %s: %s\n", k, s ? s : "?");
                    free(s);
                }
            }
        }
        print_sockets(socks);
        print_peers(peers, before, secs);
        print_apps(remote, exposed);
        print_unhealthy(site, socks, remote, exposed);
    }
    code = fflush(stdout) == 0 ? WV_EXIT_OK : WV_EXIT_FAIL;
out:
    json_decref(site);
    json_decref(before);
    json_decref(peers);
    json_decref(remote);
    json_decref(exposed);
    json_decref(socks);
    return code;
}

int wv_cli_identity(const struct wv_cli *cli) {
    if (strcmp(cli->name, "show") == 0) {
        json_t *site;
        if (get(cli, "/api/v1/site", &site) != 0)
            return WV_EXIT_FAIL;
        json_t *id = json_object_get(json_object_get(site, "status"), "identity");
        printf("identity key  %s\nfingerprint   %s\n", str_or(id, "identityKey", "-"),
               str_or(id, "fingerprint", "-"));
        json_decref(site);
        return WV_EXIT_OK;
    }
    struct wv_cli_resp r;
    json_t *empty = json_object();
    int rc = wv_cli_http(cli->url, cli->token, "POST", "/api/v1/site/identity/rotate", empty, &r);
    json_decref(empty);
    if (rc < 0 || r.status != 200 || !r.body) {
        wv_cli_http_report("identity rotate", &r);
        json_decref(r.body);
        return WV_EXIT_FAIL;
    }
    printf("rotated: identity key %s\n         (was %s)\nfingerprint %s\n",
           str_or(r.body, "identityKey", "-"), str_or(r.body, "previousKey", "-"),
           str_or(r.body, "fingerprint", "-"));
    json_decref(r.body);
    return WV_EXIT_OK;
}
