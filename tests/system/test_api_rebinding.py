"""Hole 1 of issue 17: DNS rebinding against the loopback API.

A page on evil.test that rebinds its name to 127.0.0.1 makes the browser
send Host: evil.test:PORT and Origin: http://evil.test:PORT; the Origin
check alone (Origin == Host) lets that through. The API must refuse every
request whose Host is not an IP literal, localhost, or a name listed in
restfulApi.allowedHosts, with 403 host_not_allowed, and store nothing.
"""
import wvtest as t

APP = {"name": "pivot", "mode": "range", "addressRange": ["0.0.0.0/0"], "portRange": ["1-65535"]}


def main():
    a = t.Agent("rebind", config=t.site_yaml("siteRebind", key="Rebinding-Test-Key-7f3a",
                                             topic="wvtest/rebind"))
    port = a.api_port
    evil = {"Host": f"evil.test:{port}", "Origin": f"http://evil.test:{port}"}

    st, body, _ = a.api("POST", "/api/v1/exposed-apps", body=APP, headers=evil)
    t.check_eq(st, 403, "a rebinding page's POST of a range app is refused")
    t.check_eq((body or {}).get("error", {}).get("code"), "host_not_allowed",
               "the error names the Host check")
    t.check("restfulApi.allowedHosts" in body["error"]["message"],
            f"the message says how to allow a name: {body['error']['message']!r}")
    st, apps, _ = a.api("GET", "/api/v1/exposed-apps")
    t.check(st == 200 and all(x["name"] != "pivot" for x in apps), "nothing was stored")

    st, _, _ = a.api("GET", "/api/v1/site", headers={"Host": f"evil.test:{port}"})
    t.check_eq(st, 403, "a rebinding page cannot read the site either")
    st, _, _ = a.api("GET", "/", headers={"Host": f"evil.test:{port}"})
    t.check_eq(st, 403, "nor the dashboard")

    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        st, _, _ = a.api("GET", "/api/v1/site", headers={"Host": host})
        t.check_eq(st, 200, f"Host {host} is served")

    st, body, _ = a.api("PATCH", "/api/v1/site",
                        body={"restfulApi": {"allowedHosts": ["bad host:80"]}})
    t.check_eq(st, 422, "an allowedHosts entry with a space and a port is refused")
    st, body, _ = a.api("PATCH", "/api/v1/site",
                        body={"restfulApi": {"allowedHosts": ["wovenet.home.test"]}, "origin": "api"})
    t.check_eq(st, 200, "restfulApi.allowedHosts can be set")
    st, _, _ = a.api("GET", "/api/v1/site", headers={"Host": f"wovenet.home.test:{port}"})
    t.check_eq(st, 200, "an allowed name is served at once")
    st, _, _ = a.api("POST", "/api/v1/exposed-apps", body=APP, headers=evil)
    t.check_eq(st, 403, "evil.test is still refused")

    rc, out, err = t.wovenet("export", "--db", a.db)
    t.check(rc == 0 and "wovenet.home.test" in out, "export carries allowedHosts")
    st, text, _ = a.api("GET", "/metrics")
    line = next((ln for ln in text.splitlines()
                 if ln.startswith("wovenet_api_host_refused_total ")), "")
    t.check(line and int(line.split()[1]) >= 4, f"refusals are counted: {line!r}")


if __name__ == "__main__":
    t.run(main)
