"""Hole 6 of issue 17: a member can exhaust a site.

siteAlpha exposes apps; siteBravo is a member and opens connections
through its remote apps and holds them. Alpha must bound:

- connections per exposed app (maxConnections), refused with the status
  "limit" and counted per app;
- app streams per peer site (limits.streamsPerPeer);
- access per app (allowedSites): another member gets "forbidden";
- descriptors: with a 200-descriptor limit, Bravo holding 250 connections
  must not take Alpha's API down (EMFILE): connections beyond the budget
  are refused, the API answers throughout;
- the dial fan-out: 300 signed announcements of 64 sockets each (forged by
  tests/wv_disco with the project's codec) are dialed at
  limits.dialsPerSecond, a bounded number of sockets per peer.
"""
import json
import os
import socket
import subprocess
import time

import wvtest as t

KEY = "Member-Bounds-Test-Key-6d0b"
TOPIC = "wvtest/bounds"


class HoldServer:
    """Greets every connection with HELLO and keeps it open."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        t.accept_loop(self.sock, self._accepted)
        t.on_cleanup(self.close)

    def _accepted(self, c):
        c.sendall(b"HELLO")
        self.conns.append(c)

    def drop(self):
        """Closes the server side of every connection held so far."""
        conns, self.conns = self.conns, []
        for c in conns:
            c.close()

    def close(self):
        self.sock.close()
        self.drop()


def hold(port, n):
    """Opens n connections; returns (sockets, how many got HELLO within 5 s)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
    ok = 0
    deadline = time.monotonic() + 5
    for s in socks:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            ok += s.recv(5) == b"HELLO"
        except OSError:
            pass
    t.on_cleanup(lambda: [s.close() for s in socks])
    return socks, ok


class LimitedAgent(t.Agent):
    """An agent started under prlimit: a small descriptor limit."""

    def __init__(self, *a, nofile=200, **kw):
        self.nofile = nofile
        super().__init__(*a, **kw)

    def start(self, wait=True):
        argv = ["prlimit", f"--nofile={self.nofile}:{self.nofile}", t.BIN, "run", "--db",
                self.db, "--api", f"127.0.0.1:{self.api_port}", "--config", self.config]
        self.proc = t.spawn(argv, self.log)
        if wait:
            t.wait_for(lambda: self.proc.poll() is None and self.api("GET", "/healthz")[0] == 200,
                       10, what=f"agent {self.name} healthz")
        return self


def main():
    mq = t.Mosquitto()
    svc, free, big = HoldServer(), HoldServer(), HoldServer()
    l_svc, l_free, l_priv, l_big = (t.free_port() for _ in range(4))
    alpha = LimitedAgent("alpha", nofile=200, config=t.site_yaml(
        "siteAlpha", key=KEY, broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        exposed=[{"appName": "svc", "appSocket": f"tcp:127.0.0.1:{svc.port}",
                  "maxConnections": 5},
                 {"appName": "free", "appSocket": f"tcp:127.0.0.1:{free.port}"},
                 {"appName": "private", "appSocket": f"tcp:127.0.0.1:{free.port}",
                  "allowedSites": ["siteCarol"]},
                 {"appName": "big", "appSocket": f"tcp:127.0.0.1:{big.port}",
                  "maxConnections": 1000}],
        extra="limits:\n  streamsPerPeer: 12\n"))
    remote = lambda app, port: {"siteName": "siteAlpha", "appName": app,
                                "localSocket": f"tcp:127.0.0.1:{port}", "maxConnections": 1000}
    bravo = t.Agent("bravo", config=t.site_yaml(
        "siteBravo", key=KEY, broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        remote=[remote("svc", l_svc), remote("free", l_free), remote("private", l_priv),
                remote("big", l_big)]))
    t.wait_for(lambda: t.up_channels(bravo, "siteAlpha") >= 1, 15, what="bravo -> alpha up")

    print("maxConnections per exposed app")
    held_svc, ok = hold(l_svc, 10)
    t.check_eq(ok, 5, "5 of 10 connections to svc (maxConnections 5) are served")
    t.check(t.metric(alpha, "wovenet_exposed_app_connections_refused_total", 'app="svc"') >= 5,
            "the refusals are counted for svc")
    t.check("limit" in bravo.log_text(), "bravo logs the status limit")

    print("limits.streamsPerPeer")
    held_free, ok = hold(l_free, 15)
    t.check_eq(ok, 7, "with 5 streams held, 7 of 15 more are served (streamsPerPeer 12)")
    t.check(t.metric(alpha, "wovenet_app_streams_refused_total", 'reason="peer-limit"') >= 8,
            "refusals over the per-peer bound are counted")
    for s in held_free + held_svc:
        s.close()
    svc.drop()
    free.drop()

    print("allowedSites")
    # Once the held streams are gone, private is refused for what it is.
    t.wait_for(lambda: hold(l_priv, 1)[1] == 0 and t.metric(
        alpha, "wovenet_app_streams_refused_total", 'reason="forbidden"') >= 1, 10,
        what="bravo refused from private (allowedSites: [siteCarol]) as forbidden")
    t.check(any("forbidden" in ln and "private" in ln for ln in bravo.log_text().splitlines()),
            "bravo's log names the refusal: forbidden")

    print("descriptors (prlimit nofile 200)")
    st, _, _ = alpha.api("PATCH", "/api/v1/site", body={"limits": {"streamsPerPeer": 1000}, "origin": "api"})
    t.check_eq(st, 200, "limits.streamsPerPeer raised live to 1000")
    socks = []
    for _ in range(250):
        try:
            socks.append(socket.create_connection(("127.0.0.1", l_big), timeout=5))
        except OSError:
            break
    time.sleep(2)
    t.check_eq(alpha.api("GET", "/healthz", timeout=5)[0], 200,
               f"alpha's API answers with {len(socks)} connections held at its app")
    t.check(t.metric(alpha, "wovenet_app_streams_refused_total", 'reason="descriptors"') > 0,
            "connections beyond the descriptor budget are refused and counted")
    for s in socks:
        s.close()
    big.drop()
    time.sleep(2)
    _, ok = hold(l_big, 3)
    t.check_eq(ok, 3, "after they close, new connections are served again")

    print("dial fan-out: 300 announced sites x 64 sockets")
    d0 = t.metric(alpha, "wovenet_dials_total")
    r = subprocess.run([os.path.join(t.BUILD, "tests", "wv_disco"), "forge", "--key", KEY,
                        "--topic", TOPIC, "--iterations", "200000", "--site", "forged",
                        "--count", "300", "--sockets", "64"],
                       capture_output=True, text=True, check=True, timeout=120)
    path = os.path.join(mq.dir, "forged")
    start = time.monotonic()
    for line in r.stdout.splitlines():
        topic, hexp = line.split()
        with open(path, "wb") as f:
            f.write(bytes.fromhex(hexp))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-q", "1",
                        "-r", "-t", topic, "-f", path], check=True)
    t.wait_for(lambda: t.metric(alpha, "wovenet_peers") >= 300, 20, what="alpha knows 300 sites")
    time.sleep(3)
    elapsed = time.monotonic() - start
    dials = t.metric(alpha, "wovenet_dials_total") - d0
    bound = 20 * elapsed + 40 + 10
    print(f"       {dials:.0f} dials in {elapsed:.1f} s")
    t.check(dials <= bound, f"dials follow limits.dialsPerSecond ({dials:.0f} <= {bound:.0f})")
    t.check(t.metric(alpha, "wovenet_dial_sockets_skipped_total") >= 300 * (64 - 8),
            "at most 8 sockets per peer are dialed")
    t.check_eq(alpha.api("GET", "/healthz", timeout=5)[0], 200, "alpha's API still answers")


if __name__ == "__main__":
    t.run(main)
