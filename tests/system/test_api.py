"""REST API over real HTTP: the api_harness tool serves the API module over a
store on a temp DB. CRUD and status codes of every resource, config apply
and dry-run, ETag, events, auth, and a corpus of hostile requests."""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import wvtest as t
import yaml

HARNESS = os.path.join(t.BUILD, "tests", "api_harness")
NETKEY = "correct-horse-battery-staple"


SEEN = []  # (method, path, status, body) of every answer, checked against the contract


class Api(t.Agent):
    """One api_harness with its own temp DB; speaks through Agent.api()."""

    def __init__(self, name="api", args=()):
        super().__init__(name=name, args=args, start=False)
        self.start()

    def api(self, method, path, body=None, headers=None, raw=None, timeout=10):
        s, parsed, h = super().api(method, path, body, headers, raw, timeout)
        SEEN.append((method, path, s, parsed))
        return s, parsed, h

    def argv(self):
        return [HARNESS, "--db", self.db, "--listen", f"127.0.0.1:{self.api_port}", *self.args]

    def tool(self, *args):
        r = subprocess.run([HARNESS, "--db", self.db, *args], capture_output=True, text=True,
                           timeout=30)
        return r.returncode, r.stdout.strip()

    def raw(self, method, path, data=b"", headers=None, timeout=10):
        """Sends bytes as they are: (status, parsed body or text)."""
        c = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=timeout)
        h = dict(headers or {})
        if self.token:
            h.setdefault("Authorization", f"Bearer {self.token}")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        body = r.read()
        c.close()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        SEEN.append((method, path, r.status, parsed))
        return r.status, parsed


def error_shape(body):
    e = body.get("error") if isinstance(body, dict) else None
    return isinstance(e, dict) and isinstance(e.get("code"), str) and isinstance(
        e.get("message"), str)


SITE = {"siteName": "local", "networkKey": NETKEY,
        "messageChannel": {"protocol": "mqtt", "brokers": ["mqtt://127.0.0.1:1883"]}}

SAMPLES = {
    "tunnel-sockets": ({"name": "s1", "mode": "dedicated-address", "publicAddress": "2001:db8::1",
                        "listenPort": 25890},
                       {"publicPort": 25891, "listenPort": 25891}, "listenPort", 25891),
    "exposed-apps": ({"name": "app1", "mode": "single", "appSocket": "tcp:127.0.0.1:5201"},
                     {"appSocket": "127.0.0.1:5202"}, "appSocket", "tcp:127.0.0.1:5202"),
    "remote-apps": ({"name": "r1", "siteName": "b", "appName": "web",
                     "localSocket": "tcp:127.0.0.1:5201", "maxConnections": 1000},
                    {"appName": "web2"}, "appName", "web2"),
}


def test_basics(a):
    print("basics")
    s, body, h = a.api("GET", "/")
    t.check(s == 200 and "html" in h.get("content-type", ""), "GET / serves a page")
    t.check("default-src 'self'" in h.get("content-security-policy", ""), "CSP on static files")
    t.check("access-control-allow-origin" not in h, "no CORS header")
    s, body, _ = a.api("GET", "/readyz")
    t.check_eq((s, body["status"]), (200, "ready"), "readyz ready")
    s, body, _ = a.api("GET", "/api/v1/nope")
    t.check(s == 404 and error_shape(body), "unknown path 404 with error body")
    s, body, h = a.api("POST", "/healthz", body={})
    t.check(s == 405 and h.get("allow") == "GET" and error_shape(body), "405 with Allow")
    s, body, h = a.api("DELETE", "/api/v1/remote-apps")
    t.check(s == 405 and "POST" in h.get("allow", ""), "405 on a collection lists GET, POST")
    s, body, _ = a.api("GET", "/api/v1/peers/zz")
    t.check_eq(s, 404, "unknown peer 404")


def test_site(a):
    print("site")
    s, body, _ = a.api("GET", "/api/v1/site")
    t.check_eq(s, 404, "no site yet: 404")
    nokey = {k: v for k, v in SITE.items() if k != "networkKey"}
    s, body, _ = a.api("PUT", "/api/v1/site", body=nokey)
    t.check(s == 422 and body["error"]["field"] == "networkKey", "first site needs networkKey")
    s, body, h = a.api("PUT", "/api/v1/site", body=SITE)
    t.check(s == 200 and body["siteName"] == "local", "PUT site 200")
    t.check("networkKey" not in body and body.get("networkKeySet") is True,
            "network key is write-only")
    t.check(NETKEY not in a.log_text(), "network key never logged")
    s, body, _ = a.api("PATCH", "/api/v1/site", body={"logger": {"level": "debug"}})
    t.check(s == 200 and body["logger"]["level"] == "DEBUG", "PATCH site merges")
    t.check_eq(body["messageChannel"]["brokers"], SITE["messageChannel"]["brokers"],
               "PATCH keeps other fields")
    s, body, _ = a.api("PUT", "/api/v1/site", body={"siteName": "local", "bogus": 1})
    t.check(s == 422 and body["error"]["field"] == "bogus", "unknown site field refused")
    s, body, _ = a.api("PATCH", "/api/v1/site", body={"siteName": "bad name"})
    t.check(s == 422 and body["error"]["field"] == "siteName", "bad siteName 422")


def test_collection(a, res):
    obj, patch, pfield, pvalue = SAMPLES[res]
    base = f"/api/v1/{res}"
    name = obj["name"]
    print(res)
    s, body, _ = a.api("GET", base)
    t.check_eq((s, body), (200, []), f"{res}: empty list")
    s, body, h = a.api("POST", base, body=obj)
    t.check(s == 201 and body["name"] == name and body["status"] == {},
            f"{res}: POST 201 with status")
    t.check_eq(h.get("location"), f"{base}/{name}", f"{res}: Location")
    s, body, _ = a.api("POST", base, body=obj)
    t.check(s == 409 and body["error"]["code"] == "exists", f"{res}: POST again 409")
    s, body, h = a.api("GET", f"{base}/{name}")
    t.check(s == 200 and body["name"] == name and "etag" in h, f"{res}: GET one with ETag")
    s, _, _ = a.api("GET", f"{base}/missing")
    t.check_eq(s, 404, f"{res}: GET missing 404")
    rev = a.api("GET", "/api/v1/config")[1]["revision"]
    s, body, _ = a.api("PUT", f"{base}/{name}", body=obj)
    t.check_eq(s, 200, f"{res}: PUT same object 200")
    t.check_eq(a.api("GET", "/api/v1/config")[1]["revision"], rev, f"{res}: idempotent PUT")
    other = dict(obj)
    del other["name"]
    s, body, _ = a.api("PUT", f"{base}/{name}-2", body=other)
    t.check(s == 201 and body["name"] == f"{name}-2", f"{res}: PUT new name 201")
    s, body, _ = a.api("PUT", f"{base}/{name}", body=dict(obj, name="zzz"))
    t.check(s == 422 and body["error"]["field"] == "name", f"{res}: name mismatch 422")
    s, body, _ = a.api("PATCH", f"{base}/{name}", body=patch)
    t.check(s == 200 and body[pfield] == pvalue, f"{res}: PATCH merges")
    s, body, _ = a.api("PATCH", f"{base}/{name}", body={"name": "other"})
    t.check(s == 422 and body["error"]["field"] == "name", f"{res}: PATCH renaming 422")
    s, body, _ = a.api("GET", base)
    t.check_eq([o["name"] for o in body], [name, f"{name}-2"], f"{res}: list sorted")
    s, body, _ = a.api("DELETE", f"{base}/{name}-2")
    t.check(s == 204 and body is None, f"{res}: DELETE 204")
    s, body, _ = a.api("DELETE", f"{base}/{name}-2")
    t.check(s == 404 and error_shape(body), f"{res}: DELETE again 404")
    s, _, _ = a.api("PATCH", f"{base}/{name}-2", body=patch)
    t.check_eq(s, 404, f"{res}: PATCH missing 404")


def test_etag(a):
    print("etag")
    s, doc, h = a.api("GET", "/api/v1/config")
    etag = h["etag"]
    t.check_eq(etag, f'"{doc["revision"]}"', "config ETag is the quoted revision")
    obj = dict(SAMPLES["remote-apps"][0], name="etag1")
    s, body, _ = a.api("PUT", "/api/v1/remote-apps/etag1", body=obj,
                       headers={"If-Match": '"999999"'})
    t.check(s == 412 and body["error"]["code"] == "precondition_failed", "stale If-Match 412")
    s, body, _ = a.api("PUT", "/api/v1/remote-apps/etag1", body=obj,
                       headers={"If-Match": "garbage"})
    t.check_eq(s, 412, "malformed If-Match 412")
    t.check_eq(a.api("GET", "/api/v1/remote-apps/etag1")[0], 404, "nothing stored after 412")
    s, body, h2 = a.api("PUT", "/api/v1/remote-apps/etag1", body=obj, headers={"If-Match": etag})
    t.check(s == 201 and h2["etag"] != etag, "matching If-Match accepted, ETag moves")
    s, _, _ = a.api("DELETE", "/api/v1/remote-apps/etag1", headers={"If-Match": etag})
    t.check_eq(s, 412, "DELETE with stale If-Match 412")
    s, _, _ = a.api("DELETE", "/api/v1/remote-apps/etag1", headers={"If-Match": h2["etag"]})
    t.check_eq(s, 204, "DELETE with current If-Match 204")


def test_config(a):
    print("config")
    doc = {"site": SITE, "tunnelSockets": [],
           "exposedApps": [{"name": "cfg-app", "appSocket": "tcp:127.0.0.1:6000"}],
           "remoteApps": [dict(SAMPLES["remote-apps"][0], name="cfg-r1"),
                          dict(SAMPLES["remote-apps"][0], name="cfg-r2")]}
    before = a.api("GET", "/api/v1/config")[1]
    s, plan, _ = a.api("PUT", "/api/v1/config?dryRun=true", body=doc)
    t.check(s == 200 and plan["dryRun"] is True, "dry run 200")
    created = sorted(e["name"] for e in plan["created"])
    t.check_eq(created, ["cfg-app", "cfg-r1", "cfg-r2"], "dry run plans the creations")
    t.check(len(plan["deleted"]) > 0, "dry run plans deleting what the doc lacks")
    t.check_eq(a.api("GET", "/api/v1/config")[1], before, "dry run changes nothing")
    s, plan, _ = a.api("PUT", "/api/v1/config?dryRun=maybe", body=doc)
    t.check_eq(s, 400, "bad dryRun value 400")
    s, plan, _ = a.api("PUT", "/api/v1/config", body=doc)
    t.check(s == 200 and plan["dryRun"] is False and len(plan["created"]) == 3, "apply 200")
    after = a.api("GET", "/api/v1/config")[1]
    t.check_eq(sorted(o["name"] for o in after["remoteApps"]), ["cfg-r1", "cfg-r2"],
               "apply made the state equal to the doc")
    t.check_eq(after["tunnelSockets"], [], "absent objects deleted")
    s, plan, _ = a.api("PUT", "/api/v1/config", body=doc)
    t.check(s == 200 and plan["created"] == plan["changed"] == plan["deleted"] == [],
            "second apply is a no-op")
    t.check_eq(a.api("GET", "/api/v1/config")[1]["revision"], after["revision"],
               "second apply keeps the revision")
    exported = a.api("GET", "/api/v1/config")[1]
    s, plan, _ = a.api("PUT", "/api/v1/config", body=exported)
    t.check(s == 200 and plan["changed"] == [], "applying the export (no secrets) is a no-op")
    s, body, _ = a.api("PUT", "/api/v1/config", body={"remoteApps": []})
    t.check(s == 422 and body["error"]["field"] == "site", "document without site 422")


def sse_open(a):
    s = socket.create_connection(("127.0.0.1", a.api_port), timeout=5)
    auth = f"Authorization: Bearer {a.token}\r\n" if a.token else ""
    s.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n".encode())
    buf = b""
    while b": connected" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise t.Fail("event stream closed early")
        buf += chunk
    return s, buf


def test_events(a):
    print("events")
    s, head = sse_open(a)
    t.check(b"text/event-stream" in head, "events are text/event-stream")
    obj = dict(SAMPLES["remote-apps"][0], name="ev1")
    a.api("PUT", "/api/v1/remote-apps/ev1", body=obj)
    buf = t.recv_until(s, b'"name":"ev1"')
    t.check(b"event: change" in buf and b'"action":"created"' in buf, "SSE event after PUT")
    line = [ln for ln in buf.split(b"\n") if ln.startswith(b"data: ") and b"ev1" in ln][0]
    ev = json.loads(line[6:])
    t.check_eq(sorted(ev), ["action", "kind", "name", "status"], "event shape")
    a.api("DELETE", "/api/v1/remote-apps/ev1")
    buf = t.recv_until(s, b'"action":"deleted"')
    t.check(b'"action":"deleted"' in buf, "SSE event after DELETE")
    buf = t.recv_until(s, b": heartbeat", timeout=3)
    t.check(b": heartbeat" in buf, "heartbeat comment")
    s.close()


def test_metrics(a):
    print("metrics")
    s, text, h = a.api("GET", "/metrics")
    t.check(s == 200 and h["content-type"].startswith("text/plain"), "metrics text")
    t.check('wovenet_http_requests_total{code="200"}' in text, "request counter by code")
    t.check("wovenet_harness_changes_total" in text, "metrics from the agent callback")
    promtool = shutil.which("promtool")
    if not promtool:
        t.check(False, "promtool is installed (scripts/setup installs prometheus)")
        return
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True)
    t.check(r.returncode == 0, f"promtool check metrics: {r.stdout}{r.stderr}")


def hostile_corpus():
    """(method, path, body bytes, content type) that must all be refused."""
    ra = "/api/v1/remote-apps"
    good = SAMPLES["remote-apps"][0]
    J = "application/json"
    out = []
    malformed = [b"", b"{", b"[", b"nul", b'{"a":}', b"{'a':1}", b"\xff\xfe", b"{} x",
                 b'{"name":"r9",}', b'{"name":"\xff\xfe"}', b'{"name":"a\\u0000b"}',
                 b'{"a":1,"a":2}', b"[" * 100000, b'{"a":' * 5000, b"\x00", b"tru", b"-",
                 b'{"name":"\\ud800"}', b"1e99999", b'"\\x"']
    for m in malformed:
        out.append(("POST", ra, m, J))
        out.append(("PUT", "/api/v1/config", m, J))
    wrong = [[], "str", 5, True, None, {"name": 1}, {"name": None}, {"name": []},
             dict(good, siteName=True), dict(good, localSocket=5), dict(good, localSocket={}),
             dict(good, appName=["x"]), dict(good, bogus=1), dict(good, networkKey="x" * 10),
             {"siteName": "b"}, {"name": "r9"}, dict(good, name=""),
             dict(good, maxConnections=0), dict(good, maxConnections=65537),
             dict(good, maxConnections="10"), dict(good, maxConnections=1.5),
             dict(good, maxConnections=None), dict(good, maxConnections=True)]
    for w in wrong:
        out.append(("POST", ra, json.dumps(w).encode(), J))
    names = ["../etc", "a b", "'; DROP TABLE remote_apps;--", "<script>alert(1)</script>",
             "a" * 256, "-a", ".a", "a/b", "\U0001F600", "a\nb", "$(reboot)", "%00", "a\\b"]
    for n in names:
        out.append(("POST", ra, json.dumps(dict(good, name=n)).encode(), J))
        out.append(("PUT", ra + "/x", json.dumps(dict(good, name=n, siteName=n)).encode(), J))
    sockets = ["tcp:999.1.1.1:70000", "tcp:127.0.0.1", "unix:relative", "unix:/" + "a" * 200,
               "udp:1.2.3.4:5", "tcp:[::1:80", "tcp:127.0.0.1:0", "tcp:127.0.0.1:-1", "",
               "tcp:localhost:80", "tcp:1.2.3.4:65536"]
    for sk in sockets:
        out.append(("PUT", ra + "/r9", json.dumps(dict(good, localSocket=sk)).encode(), J))
    ts = "/api/v1/tunnel-sockets"
    base = SAMPLES["tunnel-sockets"][0]
    for port in ["1e400", "99999999999999999999999", "-1", "65536", "1.5", '"80"', "null"]:
        body = json.dumps(dict(base, listenPort=0)).replace('"listenPort": 0',
                                                               f'"listenPort": {port}')
        out.append(("POST", ts, body.encode(), J))
    out.append(("POST", ts, json.dumps(dict(base, mode="bogus")).encode(), J))
    out.append(("POST", ts, json.dumps(dict(base, publicAddress="1.2.3.999")).encode(), J))
    ea = "/api/v1/exposed-apps"
    out.append(("POST", ea, json.dumps({"name": "e9", "mode": "range",
                                         "portRange": ["70000"],
                                         "addressRange": ["10.0.0.0/33"]}).encode(), J))
    out.append(("POST", ea, json.dumps({"name": "e9", "mode": "range",
                                         "portRange": ["5-1"],
                                         "addressRange": ["10.0.0.1"]}).encode(), J))
    for site in [{"siteName": "x y"}, dict(SITE, networkKey="short"),
                 dict(SITE, messageChannel={"protocol": "amqp", "brokers": ["mqtt://h"]}),
                 dict(SITE, messageChannel={"protocol": "mqtt", "brokers": []}),
                 dict(SITE, messageChannel={"protocol": "mqtt", "brokers": ["http://h"]}),
                 dict(SITE, messageChannel={"protocol": "mqtt", "brokers": ["mqtt://h"],
                                            "topic": "a/#"}),
                 dict(SITE, logger={"level": "LOUD"}), dict(SITE, restfulApi={"enabled": "yes"}),
                 dict(SITE, restfulApi={"auth": {"basicAuth": [{"user": "a b",
                                                                "password": "12345678"}]}}),
                 [SITE], dict(SITE, status=[]) if False else dict(SITE, extra=1)]:
        out.append(("PUT", "/api/v1/site", json.dumps(site).encode(), J))
        out.append(("PATCH", "/api/v1/site", json.dumps(site).encode(), J))
    docs = [{"site": 5}, {"site": SITE, "remoteApps": {}},
            {"site": SITE, "remoteApps": [good, good]},
            {"site": SITE, "tunnelSockets": [dict(base, mode="bogus")]},
            {"site": SITE, "bogus": []}, {"site": SITE, "remoteApps": [dict(good, x=1)]}]
    for d in docs:
        out.append(("PUT", "/api/v1/config", json.dumps(d).encode(), J))
    body = json.dumps(good).encode()
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
               None, "application/jsonx", "json"]:
        out.append(("POST", ra, body, ct))
        out.append(("PUT", "/api/v1/config", body, ct))
    out.append(("PUT", ra + "/a%2Fb", body, J))
    out.append(("PUT", ra + "/a%00b", body, J))
    out.append(("DELETE", ra + "/..%2F..", b"", None))
    out.append(("DELETE", ra + "/a", b"", "application/x-www-form-urlencoded"))
    out.append(("GET", ra + "/" + "a" * 20000, b"", None))
    out.append(("POST", ra, body, J + "\r\nX-Injected: 1"))
    return out


def raw_status(a, request):
    """Sends raw bytes (the server may stop reading early) and returns the
    status of the answer, 0 if none."""
    s = socket.create_connection(("127.0.0.1", a.api_port), timeout=10)
    try:
        s.sendall(request)
    except OSError:
        pass
    data = t.recv_until(s, b"\r\n", 10)
    s.close()
    parts = data.split(b" ")
    return int(parts[1]) if data.startswith(b"HTTP/1.") and len(parts) > 1 else 0


def big_post(a, path, total, chunked):
    """A big body, chunked (the server cannot refuse it up front) or with a
    Content-Length (refused at once: the send may then fail half-way)."""
    s = socket.create_connection(("127.0.0.1", a.api_port), timeout=10)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              f"{framing}\r\n\r\n".encode())
    chunk = b"[" * 65536
    sent = 0
    try:
        while sent < total:
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            sent += len(chunk)
        if chunked:
            s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    data = t.recv_until(s, b"\r\n\r\n", 10)
    s.close()
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0


def test_corpus(a):
    print("hostile corpus")
    before = a.api("GET", "/api/v1/config")[1]
    corpus = hostile_corpus()
    t.check(len(corpus) >= 100, f"corpus has {len(corpus)} requests")
    bad = []
    for method, path, data, ct in corpus:
        headers = {"Content-Type": ct} if ct and "\r\n" not in ct else {}
        try:
            s, body = a.raw(method, path, data, headers)
        except (OSError, http.client.HTTPException, ValueError) as e:
            if ct and "\r\n" in ct:
                continue  # the client library itself refuses header injection
            bad.append((method, path, data[:60], repr(e)))
            continue
        json_err = s in (413, 414, 431) or error_shape(body)
        if not (400 <= s < 500) or not json_err:
            bad.append((method, path, data[:60], s, body))
    for b in bad[:10]:
        print("       ", b)
    t.check_eq(bad, [], "every hostile request answered 4xx with an error body")
    t.check_eq(big_post(a, "/api/v1/remote-apps", 2 << 20, False), 413, "2 MiB body 413")
    t.check_eq(big_post(a, "/api/v1/remote-apps", 2 << 20, True), 413, "2 MiB chunked body 413")
    s = raw_status(a, b"POST /api/v1/remote-apps HTTP/1.1\r\nHost: localhost\r\nX-Big: " +
                   b"y" * 40000 + b"\r\nContent-Length: 2\r\n\r\n{}")
    t.check(400 <= s < 500, f"oversized headers refused ({s})")
    s = raw_status(a, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n")
    t.check(400 <= s < 500, f"too many headers refused ({s})")
    s = raw_status(a, b"\x16\x03\x01garbage\r\n\r\n")
    t.check(s in (0, 400), f"garbage request line refused or dropped ({s})")
    t.check_eq(a.api("GET", "/api/v1/config")[1], before, "config unchanged by the corpus")
    t.check_eq(a.api("GET", "/healthz")[0], 200, "still answering")
    s, body, _ = a.api("POST", "/api/v1/remote-apps", body=SAMPLES["remote-apps"][0],
                       headers={"Origin": "http://evil.example"})
    t.check_eq(s, 403, "cross-origin write refused")


def test_auth():
    print("auth")
    a = Api("auth", args=["--fail-limit", "5"])
    t.check_eq(a.api("GET", "/api/v1/config")[0], 200, "no auth configured: open on loopback")
    t.check_eq(a.api("GET", "/api/v1/peers")[:2], (200, []), "no peers: []")
    rc, out = a.tool("--check-listen", "0.0.0.0:18080")
    t.check(rc == 1 and "non-loopback" in out, "non-loopback without auth refused")
    rc, out = a.tool("--check-listen", "127.0.0.1:18080")
    t.check_eq((rc, out), (0, "ok"), "loopback without auth allowed")
    rc, token = a.tool("--create-token", "ci")
    t.check(rc == 0 and len(token) > 20, "token created by the CLI path")
    s, body, h = a.api("GET", "/api/v1/config")
    t.check(s == 401 and "Bearer" in h.get("www-authenticate", ""),
            "a token makes auth required (401 + WWW-Authenticate)")
    t.check_eq(a.api("GET", "/healthz")[0], 200, "healthz stays public")
    t.check_eq(a.tool("--check-listen", "0.0.0.0:18080")[0], 0, "non-loopback ok with a token")
    a.token = token
    t.check_eq(a.api("GET", "/api/v1/config")[0], 200, "bearer token accepted")
    site = dict(SITE, restfulApi={"auth": {"basicAuth": [{"user": "admin",
                                                           "password": "s3cret-pass"}]}})
    s, body, _ = a.api("PUT", "/api/v1/site", body=site)
    t.check(s == 200 and body["restfulApi"]["auth"]["basicAuth"][0].get("passwordSet") is True,
            "basic user configured, password write-only")
    t.check("s3cret-pass" not in a.log_text() and token not in a.log_text(),
            "secrets never logged")
    a.token = None
    good = "Basic " + base64.b64encode(b"admin:s3cret-pass").decode()
    for i in range(2):
        t0 = time.monotonic()
        s = a.api("GET", "/api/v1/remote-apps", headers={"Authorization": good})[0]
        t.check_eq(s, 200, f"basic auth accepted (try {i + 1}, {time.monotonic() - t0:.3f} s)")
    wrong = "Basic " + base64.b64encode(b"admin:wrong-pass").decode()
    s, body, _ = a.api("GET", "/api/v1/remote-apps", headers={"Authorization": wrong})
    t.check(s == 401 and body["error"]["code"] == "unauthorized", "wrong password 401")
    for hdr in ["Bearer nope", "Basic !!!", "Digest x", "Basic " + base64.b64encode(
            b"nouser:s3cret-pass").decode()]:
        t.check_eq(a.api("GET", "/api/v1/config", headers={"Authorization": hdr})[0], 401,
                   f"bad credentials 401 ({hdr.split()[0]})")
    s, body, h = a.api("GET", "/api/v1/config", headers={"Authorization": "Bearer nope"})
    t.check(s == 429 and "retry-after" in h, "429 after repeated failures")
    t.check_eq(a.api("GET", "/api/v1/config", headers={"Authorization": good})[0], 429,
               "blocked IP stays blocked for the window")
    t.check_eq(a.stop(), 0, "clean shutdown (loop closed)")


def test_tls_and_timeout():
    print("https and idle timeout")
    d = t.tmpdir("wvtls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost"], capture_output=True)
    t.check(r.returncode == 0, "test certificate made")
    a = t.Agent("tls", start=False)
    a.proc = t.spawn([HARNESS, "--db", a.db, "--listen", f"127.0.0.1:{a.api_port}",
                      "--tls-cert", cert, "--tls-key", key, "--timeout-s", "1"], a.log)
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False

    def get():
        c = http.client.HTTPSConnection("127.0.0.1", a.api_port, context=ctx, timeout=5)
        c.request("GET", "/api/v1/config")
        r = c.getresponse()
        return r.status, json.loads(r.read())
    status, body = t.wait_for(get, 10, what="https answer")
    t.check(status == 200 and body["revision"] == 0, "HTTPS serves the API")
    s = socket.create_connection(("127.0.0.1", a.api_port), timeout=5)
    t0 = time.monotonic()
    gone = False
    try:
        while s.recv(64):  # TLS sends a close alert first
            pass
        gone = True
    except OSError:
        pass
    s.close()
    t.check(gone and time.monotonic() - t0 < 4, "an idle connection is closed (slowloris)")
    t.check_eq(a.stop(), 0, "clean shutdown")


def test_shutdown_with_stream(a):
    s, _ = sse_open(a)
    rc = a.stop()
    s.close()
    t.check_eq(rc, 0, "clean shutdown with an open event stream")


class Contract:
    """A small validator for the JSON-schema subset schema/openapi.yaml uses."""

    def __init__(self):
        with open(os.path.join(t.SRC, "schema", "openapi.yaml")) as f:
            self.spec = yaml.safe_load(f)

    def ref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            cur = self.spec
            for part in node["$ref"][2:].split("/"):
                cur = cur[part]
            node = cur
        return node

    def errors(self, schema, v, where="$"):
        schema = self.ref(schema)
        if v is None and schema.get("nullable"):
            return []
        if "oneOf" in schema:
            ok = [o for o in schema["oneOf"] if not self.errors(o, v, where)]
            return [] if len(ok) == 1 else [f"{where}: matches {len(ok)} of oneOf"]
        types = {"object": dict, "array": list, "string": str, "boolean": bool,
                 "integer": int, "number": (int, float)}
        ty = schema.get("type")
        if ty and (not isinstance(v, types[ty]) or (ty in ("integer", "number")
                                                      and isinstance(v, bool))):
            return [f"{where}: {v!r:.60} is not {ty}"]
        if "enum" in schema and v not in schema["enum"]:
            return [f"{where}: {v!r:.60} not in {schema['enum']}"]
        out = []
        if isinstance(v, dict):
            props = schema.get("properties", {})
            for k in schema.get("required", []):
                if k not in v:
                    out.append(f"{where}: missing {k}")
            for k, x in v.items():
                if k in props:
                    if self.ref(props[k]).get("writeOnly"):
                        out.append(f"{where}.{k}: write-only field in an answer")
                    out += self.errors(props[k], x, f"{where}.{k}")
                elif schema.get("additionalProperties") is False:
                    out.append(f"{where}: unexpected field {k}")
        if isinstance(v, list) and "items" in schema:
            for i, x in enumerate(v):
                out += self.errors(schema["items"], x, f"{where}[{i}]")
        return out

    def operation(self, method, path):
        path = path.split("?")[0]
        for tmpl, item in self.spec["paths"].items():
            pat = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(tmpl)) + "$"
            if re.match(pat, path):
                return item.get("get" if method == "HEAD" else method.lower())
        return None

    def check(self, method, path, status, body):
        if status in (405, 414, 431) or method == "HEAD":
            return []  # 405 is generic; 414/431 come from the HTTP layer without a body
        op = self.operation(method, path)
        if op is None:
            schema = {"$ref": "#/components/schemas/Error"}
        else:
            resp = op["responses"].get(str(status))
            if resp is None:
                return [f"{method} {path}: status {status} not documented"]
            resp = self.ref(resp)
            content = resp.get("content", {})
            if "application/json" not in content:
                return [] if body is None or "application/json" not in str(content) else []
            schema = content["application/json"]["schema"]
        if body is None and status == 204:
            return []
        return [f"{method} {path} {status}: {e}" for e in self.errors(schema, body)]


def test_contract():
    print("contract")
    c = Contract()
    problems = []
    for method, path, status, body in SEEN:
        if isinstance(body, str):
            continue  # text answers: metrics, pages
        problems += c.check(method, path, status, body)
    for p in problems[:15]:
        print("       ", p)
    t.check_eq(problems, [], f"{len(SEEN)} real answers conform to schema/openapi.yaml")


def main():
    a = Api("main", args=["--heartbeat-ms", "500", "--fake-peers"])
    test_basics(a)
    s, body, _ = a.api("GET", "/api/v1/peers/b")
    t.check(s == 200 and body["siteName"] == "b", "peer from the agent callback")
    test_site(a)
    for res in SAMPLES:
        test_collection(a, res)
    test_etag(a)
    test_config(a)
    test_events(a)
    test_metrics(a)
    test_corpus(a)
    test_shutdown_with_stream(a)
    test_auth()
    test_tls_and_timeout()
    test_contract()


if __name__ == "__main__":
    t.run(main)
