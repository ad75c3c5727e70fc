#!/usr/bin/env python3
"""Soak (issue 10; prints, not in ctest): the seed's namespaces with an echo
app, for MINUTES (default 10):

- connections opened and closed at ~100/s through the tunnel, each sending
  1-16 KiB and checking the echo;
- an API edit every second (a remote app created, then deleted);
- the broker restarted twice (at 1/3 and 2/3 of the run);
- the IPv6 path flapped (dropped 15 s at 1/2 of the run).

At the end: RSS and open fds of both agents against their values after the
warm-up (first 10% of the run; must be within 10%), and every connection is
either intact or refused — the agents' logs must name a reason for refusals.
Exit 0 when all hold.

    sudo WOVENET_BIN=build/wovenet python3 tests/bench/soak.py [MINUTES]
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
import netns  # noqa: E402
import seednet  # noqa: E402
import wvtest as t  # noqa: E402

MINUTES = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0


def main():
    w = seednet.SeedNet()
    aws, local = w.start_echo_sites()
    t.wait_for(lambda: len(local.channels("aws", "up")) == 2, 30, 0.2, "two up channels")
    dur = MINUTES * 60
    start = time.monotonic()
    stats = {"ok": 0, "refused": 0, "corrupt": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def client():
        rnd = random.Random()
        while not stop.is_set():
            data = os.urandom(rnd.randint(1024, 16384))
            try:
                got = netns.roundtrip(w.home, 7000, data, timeout=15)
            except OSError:
                got = b""
            with lock:
                if got == data:
                    stats["ok"] += 1
                elif got == b"":
                    stats["refused"] += 1
                else:
                    stats["corrupt"] += 1
            time.sleep(0.01)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for th in threads:
        th.start()
    events = [(dur / 3, "broker"), (dur / 2, "flap"), (2 * dur / 3, "broker")]
    warm = None
    edit = 0
    flap_end = None
    while time.monotonic() - start < dur:
        el = time.monotonic() - start
        if warm is None and el >= dur * 0.1:
            warm = {a.name: (t.rss_kib(a.proc.pid), t.open_fds(a.proc.pid)) for a in (aws, local)}
            print(f"[{el:6.1f}s] warm-up values (RSS KiB, fds): {warm}", flush=True)
        while events and el >= events[0][0]:
            _, what = events.pop(0)
            if what == "broker":
                print(f"[{el:6.1f}s] broker restart", flush=True)
                w.mq.stop()
                time.sleep(2)
                w.mq.start()
            else:
                print(f"[{el:6.1f}s] IPv6 path dropped for 15 s", flush=True)
                w.vpsnat.drop_family("ip6")
                flap_end = el + 15
        if flap_end is not None and el >= flap_end:
            print(f"[{el:6.1f}s] IPv6 path restored", flush=True)
            w.vpsnat.restore_family("ip6")
            flap_end = None
        name = f"soak{edit % 5}"
        if edit % 2 == 0:
            local.api("PUT", f"/api/v1/remote-apps/{name}",
                      {"siteName": "aws", "appName": "echo",
                       "localSocket": f"tcp:127.0.0.1:{9100 + edit % 5}"})
        else:
            local.api("DELETE", f"/api/v1/remote-apps/{name}")
        edit += 1
        time.sleep(1)
    stop.set()
    for th in threads:
        th.join(20)
    for i in range(5):
        local.api("DELETE", f"/api/v1/remote-apps/soak{i}")
    time.sleep(3)
    end = {a.name: (t.rss_kib(a.proc.pid), t.open_fds(a.proc.pid)) for a in (aws, local)}
    total = sum(stats.values())
    rate = total / dur
    print(f"connections: {total} ({rate:.0f}/s): {stats}; API edits: {edit}")
    print(f"end values (RSS KiB, fds): {end}")
    ok = stats["corrupt"] == 0
    for name, (rss, nfd) in end.items():
        rss0, fd0 = warm[name]
        within = rss <= rss0 * 1.1 and nfd <= fd0 * 1.1 + 1
        print(f"{name}: RSS {rss0} -> {rss} KiB ({(rss - rss0) * 100 / rss0:+.1f}%), "
              f"fds {fd0} -> {nfd}: {'within 10%' if within else 'OUTSIDE 10%'}")
        ok &= within
    reasons = sum(local.log_text().count(r) for r in
                  ("connection refused", "no stream", "refused by the peer", "connection cut",
                   "connection aborted", "stream ended"))
    print(f"refused connections: {stats['refused']}; refusal/abort lines in local's log: {reasons}")
    ok &= stats["refused"] == 0 or reasons > 0
    t.check(ok, "soak: no corruption, memory and fds back within 10%, refusals logged")


t.run(main)
