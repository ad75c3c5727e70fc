"""Hole 7 of issue 17: auth removed at runtime from an API that listens
beyond loopback.

The agent listens on 198.51.100.1 inside a namespace with one basic-auth
user; a client in another namespace (198.51.100.2) uses it. Removing the
last credential through the API (PATCH /api/v1/site, PUT /api/v1/config)
must be refused with 409 and change nothing; and when the store loses its
last credential some other way (an import behind the agent's back), clients
not on loopback are refused (403 auth_not_configured) instead of served.
"""
import base64
import http.client
import json

import netns
import wvtest as t

USERS = """restfulApi:
  auth:
    basicAuth:
      - user: admin
        password: "Correct-Horse-Battery-9"
"""
KEY = "Auth-Runtime-Test-Key-51d0"
BASIC = "Basic " + base64.b64encode(b"admin:Correct-Horse-Battery-9").decode()


def main():
    net = netns.Net()
    srv, lan = net.ns("srv"), net.ns("lan")
    net.link(srv, "eth0", lan, "eth0")
    srv.addr("eth0", "198.51.100.1/24")
    lan.addr("eth0", "198.51.100.2/24")
    d = t.tmpdir("wvauthrt-")
    db = f"{d}/wovenet.db"
    with open(f"{d}/with-user.yaml", "w") as f:
        f.write(t.site_yaml("siteAuthRt", key=KEY, topic="wvtest/authrt", extra=USERS))
    with open(f"{d}/no-user.yaml", "w") as f:
        f.write(t.site_yaml("siteAuthRt", key=KEY, topic="wvtest/authrt"))
    rc, _, err = t.wovenet("import", "--db", db, f"{d}/with-user.yaml")
    t.check_eq(rc, 0, f"config with a basic-auth user imported {err}")
    srv.spawn([t.BIN, "run", "--db", db, "--api", "198.51.100.1:18080"], f"{d}/agent.log")

    def api(method, path, body=None, auth=True):
        c = netns._NsHTTPConnection(lan, "198.51.100.1", 18080, timeout=10)
        h = {"Authorization": BASIC} if auth else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            text = r.read()
        except OSError:
            return 0, None
        finally:
            c.close()
        try:
            return r.status, json.loads(text) if text else None
        except ValueError:
            return r.status, text
    t.wait_for(lambda: api("GET", "/healthz")[0] == 200, 15, what="the API on 198.51.100.1")
    t.check_eq(api("GET", "/api/v1/site", auth=False)[0], 401,
               "from 198.51.100.2 without credentials: 401")
    t.check_eq(api("GET", "/api/v1/site")[0], 200, "with the basic-auth user: 200")

    st, body = api("PATCH", "/api/v1/site", {"restfulApi": {"auth": {"basicAuth": []}}})
    t.check_eq(st, 409, "PATCH removing the last basic-auth user is refused")
    t.check_eq((body or {}).get("error", {}).get("code"), "would_remove_auth",
               "the error says why")
    t.check("token create" in body["error"]["message"],
            f"and what to do: {body['error']['message']!r}")
    st, doc = api("GET", "/api/v1/config")
    doc["site"]["restfulApi"]["auth"]["basicAuth"] = []
    st, body = api("PUT", "/api/v1/config", doc)
    t.check_eq(st, 409, "PUT /api/v1/config without the user is refused too")
    t.check_eq(api("GET", "/api/v1/site", auth=False)[0], 401,
               "the API still wants credentials")
    app = {"name": "pwn", "mode": "single", "appSocket": "tcp:127.0.0.1:22"}
    t.check_eq(api("PUT", "/api/v1/exposed-apps/pwn", app, auth=False)[0], 401,
               "an unauthenticated PUT of an exposed app is refused")

    # The store loses its last credential behind the agent's back.
    rc, _, err = t.wovenet("import", "--db", db, f"{d}/no-user.yaml")
    t.check_eq(rc, 0, f"a config without users imported into the running store {err}")
    st, body = api("GET", "/api/v1/site", auth=False)
    t.check_eq(st, 403, "no credential left: a client on another host is refused")
    t.check_eq((body or {}).get("error", {}).get("code"), "auth_not_configured",
               "the refusal names the reason")
    t.check_eq(api("PUT", "/api/v1/exposed-apps/pwn", app, auth=False)[0], 403,
               "and cannot create an exposed app")
    rc, out, _ = t.wovenet("export", "--db", db, "--format", "json")
    t.check(rc == 0 and not json.loads(out)["exposedApps"], "nothing was stored")


if __name__ == "__main__":
    t.run(main)
