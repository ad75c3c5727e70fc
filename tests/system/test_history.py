"""What the agent remembers and holds open (issue 23), between two real
agents over a real broker:

- /api/v1/history: a blob through a remote app shows in the app's series
  byte for byte (1 s and 1 min steps), in the peer's and the site's series
  (channel bytes: at least the blob), with the peer's RTT and up channels;
- /api/v1/connections: a connection held open is listed on both sides with
  the local client's address, the exposed app's target, the channel that
  carries it and its bytes; filters; it goes when it closes;
- /api/v1/events/recent and the "log" events of /api/v1/events: channels
  up, the peer joining, a remote app saved on a port in use (created, then
  its error), the peer leaving, forgotten (its channel down, its history
  dropped);
- channels carry "path": "direct"; the site's status names the agent's
  version, uptime and fingerprint (the one the peer pins);
- bad query arguments get 400 naming the argument;
- every answer conforms to schema/openapi.yaml."""
import os
import re
import socket
import time

import wvtest as t
from test_api import Contract

TOPIC = "wvtest/history"
SEEN = []  # (method, path, status, body): checked against the contract at the end


def api(agent, method, path, body=None):
    st, parsed, hdrs = agent.api(method, path, body)
    SEEN.append((method, path, st, parsed))
    return st, parsed


def series(agent, query):
    st, body = api(agent, "GET", f"/api/v1/history?{query}")
    if st != 200:
        raise t.Fail(f"GET /api/v1/history?{query}: {st} {body}")
    return body["series"]


def one(agent, query):
    s = series(agent, query)
    return s[0] if len(s) == 1 else None


def test_transfer(alpha, bravo, rport, blob, rname):
    print("history: a blob through a remote app")
    t0 = time.time()
    got = t.recv_all(rport)
    t.check(got == blob, f"{len(blob)} bytes through the tunnel, intact")
    n = len(blob)
    # The next samples take the last bytes in (one each second).
    def app_rx():
        s = one(bravo, f"kind=remoteApp&name={rname}")
        return sum(s["rx"]) if s else None
    try:
        t.wait_for(lambda: app_rx() == n, 5, 0.2, "the remote app's series to hold the blob")
    except t.Fail:
        print(f"       remote app series rx sum {app_rx()}, blob {n}")
        raise
    app = one(bravo, f"kind=remoteApp&name={rname}")
    t.check_eq(sum(app["rx"]), n, "remote app series: rx sums to the blob, byte for byte")
    t.check(max(app["rx"]) > 0 and
            len({len(app[k]) for k in ("rx", "tx", "rttMs", "active")}) == 1,
            f"per-second steps ({len(app['rx'])}), one value per step in each array")
    t.check(app["start"] >= int(t0) - 30, "the series starts at the agent's start")
    t.check(all(v is None for v in app["rttMs"]), "apps have no RTT")
    minute = one(bravo, f"kind=remoteApp&name={rname}&step=1m")
    t.check_eq(sum(minute["rx"]), n, "1-minute steps hold the same bytes")
    t.check_eq(minute["start"] % 60, 0, "minute steps start on whole minutes")
    t.wait_for(lambda: sum(one(alpha, "kind=exposedApp&name=blob")["tx"]) == n, 5, 0.2,
               "the exposed app's series")
    t.check(True, "exposed app series on the other site: tx sums to the blob")
    peer = one(bravo, "kind=peer&name=alpha")
    site = one(bravo, "kind=site")
    t.check(n <= sum(peer["rx"]) <= n * 1.2 + (1 << 20),
            f"peer series: channel bytes received {sum(peer['rx'])} >= the blob {n}")
    t.check(sum(site["rx"]) >= sum(peer["rx"]), "site series: at least the peer's bytes")
    rtts = [v for v in peer["rttMs"] if v is not None]
    t.check(rtts and 0 < min(rtts) < 1000, f"peer RTT kept ({min(rtts) if rtts else None} ms)")
    t.check(peer["active"][-1] >= 1, f"peer gauge: {peer['active'][-1]} up channel(s)")
    st, peers = api(bravo, "GET", "/api/v1/peers")
    chans = [c for p in peers if p["siteName"] == "alpha" for c in p["channels"]]
    t.check(chans and all(c.get("path") == "direct" for c in chans),
            "every channel says path: direct")
    up = [c for c in chans if c["state"] == "up"]
    names = {s["name"] for s in series(bravo, "kind=channel")}
    t.check({f"alpha/{c['id']}" for c in up} <= names, f"a series per channel ({sorted(names)})")
    every = series(bravo, "")
    kinds = {s["kind"] for s in every}
    t.check({"site", "peer", "channel", "remoteApp"} <= kinds, f"all kinds at once ({kinds})")
    since = site["start"] + len(site["rx"]) - 2
    tail = one(bravo, f"kind=site&since={since}")
    t.check(tail["start"] >= since and len(tail["rx"]) <= 4, "since= gives only the newer steps")
    return up


def test_connections(alpha, bravo, rport, app_port, up, rname):
    print("connections: one held open")
    s = socket.create_connection(("127.0.0.1", rport))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    me = "%s:%d" % s.getsockname()
    s.recv(1000)  # some bytes, then it stalls: flow control keeps it open

    def listed(agent, query=""):
        st, body = api(agent, "GET", f"/api/v1/connections{query}")
        return body["connections"] if st == 200 else None
    b = t.wait_for(lambda: [c for c in listed(bravo) if c["state"] == "open"], 5,
                   what="bravo's open connection")
    t.check_eq(len(b), 1, "bravo lists the one connection")
    c = b[0]
    t.check_eq((c["kind"], c["app"], c["site"]), ("remoteApp", rname, "alpha"),
               "kind remoteApp, app, peer site")
    t.check_eq(c.get("client"), me, "the local client's address")
    t.check(c["channel"] in {u["id"] for u in up}, f"carried by up channel {c['channel']}")
    t.check(c["bytesIn"] > 0, f"bytes in so far: {c['bytesIn']}")
    t.check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", c["started"]),
            f"start time {c['started']}")
    a = t.wait_for(lambda: [x for x in listed(alpha) if x["state"] == "open"], 5,
                   what="alpha's side of it")
    t.check_eq((a[0]["kind"], a[0]["site"], a[0].get("target")),
               ("exposedApp", "bravo", f"127.0.0.1:{app_port}"),
               "alpha lists it: exposed app, from bravo, to its target")
    t.check(a[0]["bytesOut"] >= c["bytesIn"], "the exposed side sent at least what arrived")
    t.check_eq(listed(bravo, "?kind=exposedApp"), [], "?kind= filters")
    t.check_eq(listed(bravo, "?app=nope"), [], "?app= filters")
    st, body = api(bravo, "GET", "/api/v1/connections")
    t.check_eq((body["total"], body["truncated"]), (1, False), "total and truncated")
    s.close()
    t.wait_for(lambda: listed(bravo) == [] and listed(alpha) == [], 10,
               what="the closed connection to go on both sides")
    t.check(True, "a closed connection is no longer listed")


def messages(agent, after=0):
    st, body = api(agent, "GET", f"/api/v1/events/recent?after={after}")
    return body["events"] if st == 200 else []


def test_events(alpha, bravo, rport, up):
    print("events: the recent-events log")
    log = messages(bravo)
    text = [e["message"] for e in log]
    want = f"channel {up[0]['id']} to alpha up (IPv4, direct, "
    t.check(any(m.startswith(want) for m in text), f"'{want}...' in {text}")
    t.check("site alpha joined the mesh" in text, "the peer joining is logged")
    ids = [e["id"] for e in log]
    t.check(ids == sorted(ids) and len(set(ids)) == len(ids), "ids grow")
    st, body = api(bravo, "GET", "/api/v1/events/recent")
    t.check_eq(messages(bravo, body["lastId"]), [], "after=lastId: nothing newer")
    st, body = api(bravo, "GET", "/api/v1/events/recent?limit=1")
    t.check_eq(len(body["events"]), 1, "limit=1: the newest one")

    ev = t.Events(bravo)
    time.sleep(0.3)
    st, made = api(bravo, "POST", "/api/v1/remote-apps",
                   {"name": "dup", "siteName": "alpha", "appName": "blob",
                    "localSocket": f"tcp:127.0.0.1:{rport}"})
    t.check_eq(st, 201, "a remote app on a port in use is stored")
    t.check(made.get("warning", "").startswith("saved, but "), f"warning: {made.get('warning')}")
    text = [e["message"] for e in messages(bravo)]
    t.check("created remote app dup" in text, "its creation is logged")
    err = [e for e in messages(bravo) if e["name"] == "dup" and e["level"] == "error"]
    t.check(err and "address already in use" in err[-1]["message"],
            f"and its error, as an error: {err[-1]['message'] if err else None}")
    t.wait_for(lambda: ev.find(lambda d: d.get("message") == "created remote app dup"), 5,
               what="the entry as a 'log' event on the stream")
    t.check(any(e == "log" for e, d in ev.events if isinstance(d, dict) and d.get("name") == "dup"),
            "entries also arrive as 'log' events")
    api(bravo, "DELETE", "/api/v1/remote-apps/dup")

    before = messages(bravo)[-1]["id"]
    alpha.stop()
    t.wait_for(lambda: any(e["message"] == "site alpha left the message channel"
                           for e in messages(bravo, before)), 15, 0.2, "the peer leaving")
    t.check(True, "the peer leaving is logged (its offline record)")
    st, _ = api(bravo, "DELETE", "/api/v1/peers/alpha")
    t.check_eq(st, 204, "forget the peer")
    text = [e["message"] for e in messages(bravo, before)]
    t.check("forgot site alpha" in text, f"forgetting is logged ({text})")
    t.check(any(m.startswith(f"channel {up[0]['id']} to alpha down") for m in text),
            "its channel going down is logged")
    t.check_eq(series(bravo, "kind=peer&name=alpha"), [], "a forgotten peer's history is dropped")
    t.check(not [s for s in series(bravo, "kind=channel") if s["name"].startswith("alpha/")],
            "and its channels' history")


def test_bad_queries(bravo):
    print("bad queries")
    for path, field in (("/api/v1/history?kind=bogus", "kind"),
                        ("/api/v1/history?step=5s", "step"),
                        ("/api/v1/history?since=-1", "since"),
                        ("/api/v1/history?since=abc", "since"),
                        ("/api/v1/history?name=" + "n" * 400, "name"),
                        ("/api/v1/connections?kind=peer", "kind"),
                        ("/api/v1/events/recent?after=x", "after"),
                        ("/api/v1/events/recent?limit=5000", "limit")):
        st, body = api(bravo, "GET", path)
        t.check_eq((st, body["error"]["field"]), (400, field), f"{path[:50]}: 400 naming {field}")


def test_site_status(alpha, bravo):
    st, site = api(bravo, "GET", "/api/v1/site")
    ag = site["status"]["agent"]
    t.check(ag["version"] and ag["uptimeSeconds"] >= 0, f"version {ag['version']}, uptime")
    st, p = api(alpha, "GET", "/api/v1/peers/bravo")
    t.check_eq(ag["fingerprint"], p["fingerprint"], "the fingerprint the peer pins")
    h = site["status"]["history"]
    t.check(h["series"] >= 4 and h["bytes"] >= h["series"] * 40000,
            f"history size: {h['series']} series, {h['bytes']} bytes")


def main():
    mq = t.Mosquitto()
    blob = os.urandom(24 << 20)
    app = t.AppServer(blob=blob)
    rport = t.free_port()
    alpha = t.Agent("alpha", config=t.site_yaml(
        "alpha", broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        exposed=[{"appName": "blob", "appSocket": f"tcp:127.0.0.1:{app.port}"}]), start=False)
    bravo = t.Agent("bravo", config=t.site_yaml(
        "bravo", broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        remote=[{"siteName": "alpha", "appName": "blob", "localSocket": f"tcp:127.0.0.1:{rport}"}]),
        start=False)
    t.start_all([alpha, bravo])
    t.wait_for(lambda: t.up_channels(bravo, "alpha") >= 2, 20, 0.1, what="two channels up")
    st, rapps = api(bravo, "GET", "/api/v1/remote-apps")
    rname = rapps[0]["name"]  # named by the import (the YAML has no names)
    up = test_transfer(alpha, bravo, rport, blob, rname)
    test_connections(alpha, bravo, rport, app.port, up, rname)
    test_site_status(alpha, bravo)
    test_bad_queries(bravo)
    test_events(alpha, bravo, rport, up)
    c = Contract()
    problems = [p for m, path, st, body in SEEN if not isinstance(body, str)
                for p in c.check(m, path, st, body)]
    for p in problems[:15]:
        print("       ", p)
    t.check_eq(problems, [], f"{len(SEEN)} answers conform to schema/openapi.yaml")


t.run(main)
