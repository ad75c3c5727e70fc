#!/usr/bin/env python3
"""Benchmark (prints, asserts nothing): 50 agents on one broker on loopback.
Time from the last agent answering /healthz until every agent lists all 49
others, and the RSS of an idle agent. Goal (issue 4): <= 5 s, <= 8 MiB.

    WOVENET_BIN=build/wovenet python3 tests/bench/discovery50.py [N]
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
import wvtest as t  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50


def main():
    mq = t.Mosquitto()
    names = [f"s{i:03d}" for i in range(N)]
    agents = [t.Agent(n, config=t.site_yaml(n, broker=mq.url, topic="wvbench/fifty",
                                            extra="logger:\n  level: WARN\n").replace(
        "logger:\n  level: DEBUG\n  format: text\n", ""), start=False) for n in names]
    t0 = time.monotonic()
    t.start_all(agents, 60)
    last = time.monotonic()

    def complete(a):
        st, peers, _ = a.api("GET", "/api/v1/peers")
        return st == 200 and sum(p["online"] for p in peers) == N - 1
    pending = list(agents)
    while pending:
        pending = [a for a in pending if not complete(a)]
        if time.monotonic() - last > 120:
            break
        time.sleep(0.05)
    done = time.monotonic()
    time.sleep(3)
    rss = [t.rss_kib(a.proc.pid) / 1024 for a in agents]
    print(f"agents: {N}; started in {last - t0:.1f} s")
    print(f"full discovery: {done - last:.2f} s after the last agent answered"
          f"{'' if not pending else f' (INCOMPLETE: {len(pending)} agents)'} (goal <= 5 s)")
    print(f"idle RSS per agent: median {statistics.median(rss):.1f} MiB, "
          f"max {max(rss):.1f} MiB (goal <= 8 MiB)")


t.run(main)
