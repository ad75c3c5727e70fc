"""Issue 6: memory per proxied connection is bounded whatever the speeds.

An exposed app pushes 1 GiB to a client that reads nothing for 10 s: the
two agents' RSS grows by less than 64 MiB during the stall, then the whole
transfer completes intact (same length and SHA-256)."""
import hashlib
import itertools
import os
import socket
import time

import wvtest as t

TOTAL = 1 << 30
BLOCK = os.urandom(1 << 20)


def main():
    mq = t.Mosquitto()
    # The app sends TOTAL bytes (BLOCK repeated) to each connection, then closes.
    hose = t.AppServer(blob=lambda: itertools.repeat(BLOCK, TOTAL // len(BLOCK)))
    local = t.free_port()
    alpha = t.Agent("alpha", config=t.site_yaml(
        "alpha", broker=mq.url, topic="wvtest/slow", sockets=[t.tunnel_socket()],
        exposed=[{"appName": "hose", "appSocket": f"tcp:127.0.0.1:{hose.port}"}]))
    bravo = t.Agent("bravo", config=t.site_yaml(
        "bravo", broker=mq.url, topic="wvtest/slow", sockets=[t.tunnel_socket()],
        remote=[{"siteName": "alpha", "appName": "hose",
                 "localSocket": f"tcp:127.0.0.1:{local}"}]))
    t.wait_for(lambda: t.up_channels(bravo, "alpha") == 2, 10, what="channels up")
    base = {a.name: t.rss_kib(a.proc.pid) for a in (alpha, bravo)}
    print(f"  RSS before: {base}")

    c = socket.create_connection(("127.0.0.1", local))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    peak = dict(base)
    end = time.monotonic() + 10
    while time.monotonic() < end:  # the client reads nothing
        for a in (alpha, bravo):
            peak[a.name] = max(peak[a.name], t.rss_kib(a.proc.pid))
        time.sleep(0.2)
    growth = {k: (peak[k] - base[k]) / 1024 for k in base}
    print(f"  RSS growth during the 10 s stall (MiB): "
          + ", ".join(f"{k} {v:.1f}" for k, v in growth.items()))
    for k, v in growth.items():
        t.check(v < 64, f"{k}'s RSS grows by {v:.1f} MiB (< 64 MiB) while the reader stalls")

    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    c.settimeout(60)
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    c.close()
    dt = time.monotonic() - t0
    want = hashlib.sha256()
    for _ in range(TOTAL // len(BLOCK)):
        want.update(BLOCK)
    print(f"  drained {n / (1 << 20):.0f} MiB in {dt:.1f} s ({n * 8 / dt / 1e6:.0f} Mbit/s)")
    t.check_eq(n, TOTAL, "the whole 1 GiB arrives after the stall")
    t.check_eq(h.hexdigest(), want.hexdigest(), "and intact (SHA-256)")


t.run(main)
