/* Request/response helper for tests/bench/run (built by the script with cc).
 *   rr serve PORT                 echo server, a thread per connection
 *   rr ping HOST PORT N           1-byte ping-pong on one connection: p50 p99 (us)
 *   rr connect HOST PORT N        N sequential connect+1 byte+echo+close:
 *                                 connections/s, p50 and p99 of connect+first byte (us)
 *   rr hold HOST PORT N           opens N connections, each echoes 1 byte, prints
 *                                 "ready", holds them until stdin closes */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void *echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    nodelay(fd);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    close(fd);
    return NULL;
}

static int serve(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 4096) < 0) {
        perror("bind/listen");
        return 1;
    }
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 128 << 10);
    for (;;) {
        int c = accept(s, NULL, NULL);
        pthread_t th;
        if (c < 0)
            continue;
        if (pthread_create(&th, &at, echo_conn, (void *)(intptr_t)c) != 0)
            close(c);
    }
}

static int dial(const char *host, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    nodelay(fd);
    return fd;
}

static int one_byte(int fd) {
    char c = 'x';
    return write(fd, &c, 1) == 1 && read(fd, &c, 1) == 1 ? 0 : -1;
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, int n, double p) {
    return (double)v[(int)(p * (n - 1))] / 1000.0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "serve") == 0)
        return serve(atoi(argv[2]));
    if (argc < 5)
        return fprintf(stderr, "usage: see the comment in rr.c\n"), 2;
    const char *host = argv[2];
    int port = atoi(argv[3]), n = atoi(argv[4]);
    uint64_t *v = calloc((size_t)n, sizeof(*v));
    if (strcmp(argv[1], "ping") == 0) {
        int fd = dial(host, port);
        if (fd < 0 || one_byte(fd) < 0) /* warm-up: the stream is open after this */
            return perror("ping"), 1;
        for (int i = 0; i < n; i++) {
            uint64_t t0 = now_ns();
            if (one_byte(fd) < 0)
                return perror("ping"), 1;
            v[i] = now_ns() - t0;
        }
        qsort(v, (size_t)n, sizeof(*v), cmp);
        printf("%.1f %.1f\n", pct(v, n, 0.5), pct(v, n, 0.99));
    } else if (strcmp(argv[1], "connect") == 0) {
        uint64_t start = now_ns();
        for (int i = 0; i < n; i++) {
            uint64_t t0 = now_ns();
            int fd = dial(host, port);
            if (fd < 0 || one_byte(fd) < 0)
                return perror("connect"), 1;
            v[i] = now_ns() - t0;
            close(fd);
        }
        double secs = (double)(now_ns() - start) / 1e9;
        qsort(v, (size_t)n, sizeof(*v), cmp);
        printf("%.0f %.1f %.1f\n", n / secs, pct(v, n, 0.5), pct(v, n, 0.99));
    } else if (strcmp(argv[1], "hold") == 0) {
        int *fds = calloc((size_t)n, sizeof(int));
        for (int i = 0; i < n; i++)
            if ((fds[i] = dial(host, port)) < 0 || one_byte(fds[i]) < 0)
                return fprintf(stderr, "hold: connection %d failed\n", i), 1;
        printf("ready\n");
        fflush(stdout);
        char c;
        while (read(0, &c, 1) > 0) {
        }
    } else {
        return 2;
    }
    return 0;
}
