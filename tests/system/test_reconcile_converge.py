"""Issue 7, reconciler: every desired-state change takes effect live, and
the reconciler converges.

A randomized sequence of 500 API edits (remote apps, exposed apps, tunnel
sockets, site settings) and then a final PUT /api/v1/config leave the running
state equal to the desired state: listeners, announcements (seen by a peer)
and tunnels, with no leaked file descriptors and no RSS growth beyond noise.
Then a network-key change leaves the mesh cleanly and a change back joins
again. Prints the latency from an API write to its effect on the peer."""
import os
import random
import socket
import statistics
import subprocess
import time

import wvtest as t

KEY = "converge-network-key-1"


def own_ports(pid, proto):
    """Ports of the agent's own TCP listeners ("t") or UDP sockets ("u"):
    asks the kernel which sockets belong to pid, so another process taking a
    freed port cannot make a closed listener look open."""
    out = subprocess.run(["ss", "-H", f"-{proto}lnp" if proto == "t" else "-uanp"],
                         capture_output=True, text=True).stdout
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[3]
            ports.add(int(local.rsplit(":", 1)[1]))
    return ports


def peer_view(agent, site):
    st, p, _ = agent.api("GET", f"/api/v1/peers/{site}")
    return p if st == 200 else None


def main():
    rnd = random.Random(int(os.environ.get("WV_SEED", "7")))
    mq = t.Mosquitto()
    echo = t.AppServer()
    alpha = t.Agent("alpha", config=t.site_yaml("alpha", key=KEY, broker=mq.url,
                                                topic="wvtest/conv", sockets=[t.tunnel_socket()]))
    bravo = t.Agent("bravo", config=t.site_yaml("bravo", key=KEY, broker=mq.url,
                                                topic="wvtest/conv", sockets=[t.tunnel_socket()]))
    t.wait_for(lambda: t.up_channels(bravo, "alpha") == 2, 10, what="channels up")
    time.sleep(0.5)
    fd0, rss0 = t.open_fds(alpha.proc.pid), t.rss_kib(alpha.proc.pid)

    used_tcp, used_udp = set(), set()
    kinds = ["remote-apps", "exposed-apps", "tunnel-sockets"]
    names = {k: [f"{k[0]}{i}" for i in range(6)] for k in kinds}
    codes = {}

    def body(kind, name):
        if kind == "remote-apps":
            p = t.free_port()
            used_tcp.add(p)
            return {"siteName": rnd.choice(["bravo", "nobody"]), "appName": "echo",
                    "localSocket": f"tcp:127.0.0.1:{p}"}
        if kind == "exposed-apps":
            if rnd.random() < 0.3:
                return {"mode": "range", "addressRange": ["127.0.0.0/8"],
                        "portRange": [f"{rnd.randint(1000, 2000)}-{rnd.randint(2000, 3000)}"]}
            return {"appSocket": f"tcp:127.0.0.1:{rnd.randint(1024, 65000)}"}
        p = t.free_port()
        used_udp.add(p)
        return t.tunnel_socket(p)

    # alpha's config file manages its site: the site edits below take it
    # over ("origin": "api", issue 21), as an operator would.
    for i in range(500):
        kind = rnd.choice(kinds + ["site"])
        if kind == "site":
            lvl = rnd.choice(["DEBUG", "INFO"])
            st, _, _ = alpha.api("PATCH", "/api/v1/site", {"logger": {"level": lvl}, "origin": "api"})
        else:
            name = rnd.choice(names[kind])
            op = rnd.choice(["PUT", "PUT", "POST", "PATCH", "DELETE"])
            b = body(kind, name) if op != "DELETE" else None
            if op == "PATCH" and kind == "exposed-apps":
                b = {"appSocket": f"tcp:127.0.0.1:{rnd.randint(1024, 65000)}", "mode": "single"}
            if op == "PATCH" and kind == "remote-apps":
                b = {"localSocket": b["localSocket"]}
            path = f"/api/v1/{kind}" if op == "POST" else f"/api/v1/{kind}/{name}"
            if op == "POST":
                b = dict(b, name=name)
            st, _, _ = alpha.api(op, path, b)
        codes[st] = codes.get(st, 0) + 1
        if st >= 500:
            t.check(False, f"edit {i} answered {st}")
    print(f"  500 edits answered: {dict(sorted(codes.items()))}")
    t.check(alpha.proc.poll() is None, "agent alive after 500 random edits")

    # The final declarative state.
    rport, s1, s2 = t.free_port(), t.free_port(), t.free_port()
    st, doc, _ = alpha.api("GET", "/api/v1/config")
    doc["tunnelSockets"] = [t.tunnel_socket(s1, name="main"), t.tunnel_socket(s2, name="second")]
    doc["exposedApps"] = [{"name": "echo", "mode": "single",
                           "appSocket": f"tcp:127.0.0.1:{echo.port}"},
                          {"name": "final-app", "mode": "single", "appSocket": "unix:/tmp/x.sock"}]
    doc["remoteApps"] = [{"name": "r-final", "siteName": "bravo", "appName": "echo",
                          "localSocket": f"tcp:127.0.0.1:{rport}"}]
    doc.pop("revision", None)
    doc["site"]["logger"]["level"] = "DEBUG"
    st, plan, _ = alpha.api("PUT", "/api/v1/config", doc)
    t.check(st == 200, f"final PUT /api/v1/config answers 200 ({st})")
    st, plan2, _ = alpha.api("PUT", "/api/v1/config", doc)
    t.check(not plan2["created"] and not plan2["changed"] and not plan2["deleted"],
            "a second identical PUT plans nothing")

    # Listeners: exactly the final remote app's port; sockets: exactly the final ones.
    t.wait_for(lambda: t.tcp_accepts(rport), 2, what="final remote app listening")
    t.check(True, "the final remote app listens")
    tcp_now, udp_now = own_ports(alpha.proc.pid, "t"), own_ports(alpha.proc.pid, "u")
    t.check_eq(sorted(used_tcp & tcp_now), [rport] if rport in used_tcp else [],
               "no listener of a deleted or replaced remote app is left")
    t.check(rport in tcp_now, "the agent itself listens on the final remote app's port")
    t.check({s1, s2} <= udp_now, "both final tunnel sockets are bound by the agent")
    t.check_eq(sorted(used_udp & udp_now), [], "no UDP socket of a deleted or changed tunnel "
               "socket is left")
    for n in ("main", "second"):
        st, o, _ = alpha.api("GET", f"/api/v1/tunnel-sockets/{n}")
        t.check_eq(o["status"].get("state"), "listening", f"tunnel socket {n} status listening")

    # Announcement and tunnels as seen by the peer.
    def peer_converged():
        p = peer_view(bravo, "alpha")
        if not p:
            return None
        ports = sorted(s["port"] for s in p["sockets"])
        ok = sorted(p["apps"]) == ["echo", "final-app"] and ports == sorted([s1, s2])
        return p if ok else None
    t.wait_for(peer_converged, 10, what="the peer sees the final announcement")
    t.check(True, "the peer sees exactly the final apps and sockets")
    # Channels: bravo dials both of alpha's sockets; alpha dials bravo's one.
    t.wait_for(lambda: t.up_channels(bravo, "alpha") == 3, 20, what="three up channels")
    t.check(True, "the peer has one up channel per socket (3)")

    # No leaks.
    time.sleep(2)
    fd1, rss1 = t.open_fds(alpha.proc.pid), t.rss_kib(alpha.proc.pid)
    print(f"  fds {fd0} -> {fd1}; RSS {rss0} -> {rss1} KiB")
    # The final state has one more tunnel socket and one more listener than
    # the start, and a peer channel more: allow for exactly those.
    t.check(fd1 <= fd0 + 4, f"no leaked file descriptors ({fd0} -> {fd1})")
    t.check(rss1 - rss0 < 4096, f"RSS growth {rss1 - rss0} KiB < 4 MiB")

    # Latency from an API write to its effect on the peer.
    lat_app, lat_conn = [], []
    for i in range(10):
        t0 = time.perf_counter()
        alpha.api("PUT", f"/api/v1/exposed-apps/lat{i}",
                  {"appSocket": f"tcp:127.0.0.1:{echo.port}"})
        t.wait_for(lambda: f"lat{i}" in (peer_view(bravo, "alpha") or {}).get("apps", []), 5,
                   0.005, "new app on the peer")
        lat_app.append((time.perf_counter() - t0) * 1000)
        lp = t.free_port()
        t0 = time.perf_counter()
        bravo.api("PUT", f"/api/v1/remote-apps/lat{i}",
                  {"siteName": "alpha", "appName": f"lat{i}", "localSocket": f"tcp:127.0.0.1:{lp}"})
        t.check(t.echo_roundtrip(lp, b"x") == b"x", f"new remote app lat{i} carries a connection")
        lat_conn.append((time.perf_counter() - t0) * 1000)
    print(f"BENCH api-write->peer lists new app ms: p50={statistics.median(lat_app):.1f} "
          f"max={max(lat_app):.1f}")
    print(f"BENCH api-write->new remote app carries a connection ms: "
          f"p50={statistics.median(lat_conn):.1f} max={max(lat_conn):.1f}")

    # Identity change: a new network key leaves the mesh cleanly; back joins.
    st, _, _ = alpha.api("PATCH", "/api/v1/site", {"networkKey": "another-key-entirely-99",
                                                        "origin": "api"})
    t.check_eq(st, 200, "network key changed through the API")
    t.wait_for(lambda: not (peer_view(bravo, "alpha") or {}).get("online", False), 5,
               what="alpha offline for bravo after leaving")
    t.check(True, "the old mesh sees the site leave (offline record)")
    t.wait_for(lambda: t.up_channels(bravo, "alpha") == 0, 5, what="tunnels dropped")
    t.check(True, "its tunnels are dropped")
    st, _, _ = alpha.api("PATCH", "/api/v1/site", {"networkKey": KEY, "origin": "api"})
    t.wait_for(lambda: (peer_view(bravo, "alpha") or {}).get("online"), 10, what="rejoined")
    t.wait_for(lambda: t.up_channels(bravo, "alpha") == 3, 15, what="channels back")
    t.check(True, "back on the old key it rejoins with its channels")


t.run(main)
