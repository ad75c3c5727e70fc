"""Upgrade check (issue 17): two sites upgraded one after the other keep
working. Not part of the suite: it needs a build of the code from before
signed announcements, given as WOVENET_OLD_BIN (e.g. a worktree of
f9976f1). Run: WOVENET_OLD_BIN=... WOVENET_BIN=... WOVENET_BUILD=... python3
tests/system/upgrade_check.py

Both sites run with --config (imported at every start) and no explicit
topic, as dist/wovenet.service does. Steps: both old; alpha upgraded
(mixed mesh: the app through the tunnel still works, discovery between
them does not); bravo upgraded (both new: they pin each other on first use
and meet on the message channel again, on the topic they had).
"""
import json
import os
import time

import wvtest as t

OLD = os.environ.get("WOVENET_OLD_BIN")
KEY = "Upgrade-Check-Network-Key-0c3e"


def main():
    t.check(bool(OLD) and os.access(OLD, os.X_OK), "WOVENET_OLD_BIN names the old binary")
    mq = t.Mosquitto()
    real = t.AppServer(blob=b"REAL-ALPHA")
    local = t.free_port()
    pa, pb = t.free_port(), t.free_port()
    sock = lambda p: [{"mode": "dedicated-address", "transportProtocol": "quic",
                       "listenAddress": "127.0.0.1", "listenPort": p}]
    ya = t.site_yaml("siteAlpha", key=KEY, broker=mq.url, topic="", sockets=sock(pa),
                     exposed=[{"appName": "svc", "appSocket": f"tcp:127.0.0.1:{real.port}"}])
    yb = t.site_yaml("siteBravo", key=KEY, broker=mq.url, topic="", sockets=sock(pb),
                     remote=[{"siteName": "siteAlpha", "appName": "svc",
                              "localSocket": f"tcp:127.0.0.1:{local}"}])
    new = t.BIN
    t.BIN = OLD
    alpha = t.Agent("alpha", config=ya)
    bravo = t.Agent("bravo", config=yb)
    t.wait_for(lambda: t.up_channels(bravo, "siteAlpha") >= 1, 15, what="old: channel up")
    t.check_eq(t.recv_all(local, timeout=10), b"REAL-ALPHA", "old/old: the app works")
    topic = json.loads(t.wovenet("export", "--db", alpha.db, "--format", "json")[1]
                       )["site"]["messageChannel"]["topic"]

    print("alpha upgraded")
    alpha.stop()
    t.BIN = new
    alpha.start()
    time.sleep(3)
    t.wait_for(lambda: t.up_channels(bravo, "siteAlpha") >= 1, 20, what="mixed: channel up")
    ok = [t.recv_all(local, timeout=10) for _ in range(3)]
    t.check_eq(ok, [b"REAL-ALPHA"] * 3, "new/old: the app still works (known sites, pinned certs)")
    t2 = json.loads(t.wovenet("export", "--db", alpha.db, "--format", "json")[1]
                    )["site"]["messageChannel"]["topic"]
    t.check_eq(t2, topic, "the re-imported config kept the topic it had")
    text = alpha.api("GET", "/metrics")[1]
    print("       " + " ".join(ln for ln in text.splitlines()
                               if ln.startswith('wovenet_messages_dropped_total{reason="unsigned"}')))

    print("bravo upgraded")
    bravo.stop()
    t.BIN = new
    bravo.start()
    t.wait_for(lambda: t.up_channels(bravo, "siteAlpha") >= 1, 20, what="new/new: channel up")
    t.check_eq(t.recv_all(local, timeout=10), b"REAL-ALPHA", "new/new: the app works")

    def pinned(agent, site):
        st, peers, _ = agent.api("GET", "/api/v1/peers")
        p = next((p for p in peers if p["siteName"] == site), {})
        return p.get("membership") == "trusted" and p.get("online")
    t.wait_for(lambda: pinned(alpha, "siteBravo") and pinned(bravo, "siteAlpha"), 20,
               what="both pinned each other and are online on the message channel")
    t.check(pinned(alpha, "siteBravo") and pinned(bravo, "siteAlpha"),
            "new/new: pinned on first use, online on the message channel")


if __name__ == "__main__":
    t.run(main)
