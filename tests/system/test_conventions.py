"""Issue 21, finding 7: conventions scripts expect.

- per-object ETags: a change of another object does not make an object's
  If-Match stale (the global revision stays for /api/v1/config);
  If-None-Match with the current ETag answers 304;
- `wovenet plan`/`apply` print the plan field by field and warn when the
  file names another site;
- PUT /api/v1/config takes YAML (by Content-Type), errors name YAML paths;
- the YAML config's names given in JSON get a "did you mean" hint;
- /api/v1/openapi.json serves schema/openapi.yaml (same auth as the API);
- /readyz answers JSON covering store, loop, broker and sockets;
- /metrics has wovenet_build_info, process_* and integer counters, and is
  promtool-clean."""
import json
import os
import re
import socket
import subprocess

import yaml

import wvtest as t


def main():
    mq = t.Mosquitto()
    d = t.tmpdir()
    a = t.Agent("conv", config=t.site_yaml(
        "convSite", broker=mq.url, topic="wvtest/conv",
        exposed=[{"appName": "ssh", "appSocket": "tcp:127.0.0.1:22"}]))
    api = f"http://127.0.0.1:{a.api_port}"

    # Per-object ETags.
    st, obj, h = a.api("PUT", "/api/v1/exposed-apps/one", {"appSocket": "tcp:127.0.0.1:1001"})
    etag_one = h["etag"]
    st, _, h2 = a.api("PUT", "/api/v1/exposed-apps/two", {"appSocket": "tcp:127.0.0.1:1002"})
    t.check(h2["etag"] != etag_one, "another object's write moves the revision")
    st, obj, h3 = a.api("GET", "/api/v1/exposed-apps/one")
    t.check_eq(h3["etag"], etag_one, "object one keeps its own ETag after two changed")
    st, _, _ = a.api("PATCH", "/api/v1/exposed-apps/one", {"appSocket": "tcp:127.0.0.1:1003"},
                     headers={"If-Match": etag_one})
    t.check_eq(st, 200, "If-Match with one's ETag passes although two changed since")
    st, _, _ = a.api("PATCH", "/api/v1/exposed-apps/one", {"appSocket": "tcp:127.0.0.1:1004"},
                     headers={"If-Match": etag_one})
    t.check_eq(st, 412, "... and is stale once one itself changed")
    st, doc, hc = a.api("GET", "/api/v1/config")
    t.check_eq(hc["etag"], f'"{doc["revision"]}"', "/api/v1/config keeps the global revision")
    st, body, _ = a.api("GET", "/api/v1/config", headers={"If-None-Match": hc["etag"]})
    t.check(st == 304 and body is None, "If-None-Match on /config: 304, no body")
    st, _, h4 = a.api("GET", "/api/v1/exposed-apps/one")
    st, body, h5 = a.api("GET", "/api/v1/exposed-apps/one", headers={"If-None-Match": h4["etag"]})
    t.check(st == 304 and body is None and h5["etag"] == h4["etag"], "If-None-Match on an object: 304")
    st, _, _ = a.api("GET", "/api/v1/exposed-apps/one", headers={"If-None-Match": '"1"'})
    t.check_eq(st, 200, "an old ETag gets the object (200)")
    st, _, hl = a.api("GET", "/api/v1/exposed-apps")
    t.check_eq(a.api("GET", "/api/v1/exposed-apps", headers={"If-None-Match": hl["etag"]})[0], 304,
               "If-None-Match on a list: 304")

    # The field-level plan and the site-name warning.
    doc = a.api("GET", "/api/v1/config")[1]
    for x in doc["exposedApps"]:
        if x["name"] == "ssh":
            x["appSocket"] = "tcp:127.0.0.1:2222"
    def plan(doc):
        """`wovenet plan` of doc as a file: (rc, out, err)."""
        f = os.path.join(d, "plan.json")
        with open(f, "w") as fh:
            json.dump(doc, fh)
        return t.wovenet("plan", "-f", f, "--api", api)
    rc, out, err = plan(doc)
    t.check(rc == 2 and "~ exposedApps ssh: appSocket tcp:127.0.0.1:22 \u2192 tcp:127.0.0.1:2222" in out,
            f"plan names the field and both values: {out.strip()}")
    t.check("taken over from the config file" in out, "... and says the file's object is taken over")
    doc["site"]["siteName"] = "otherSite"
    rc, out, err = plan(doc)
    t.check(rc == 2 and "renames the site \"convSite\" to \"otherSite\"" in err,
            f"a warning when the file names another site: {err.strip()}")
    t.check("~ site otherSite: siteName convSite \u2192 otherSite" in out, "the rename is in the plan")

    # YAML to PUT /api/v1/config.
    y = t.site_yaml("convSite", broker=mq.url, topic="wvtest/conv",
                    exposed=[{"appName": "ssh", "appSocket": "tcp:127.0.0.1:22"},
                             {"appName": "web", "appSocket": "tcp:127.0.0.1:80"}])
    st, plan, _ = a.api("PUT", "/api/v1/config?dryRun=true", raw=y.encode(),
                        headers={"Content-Type": "application/yaml"})
    t.check(st == 200 and {"kind": "exposedApps", "name": "web"} in plan["created"],
            f"PUT /config with application/yaml: the plan ({st})")
    bad = y.replace("appSocket: \"tcp:127.0.0.1:80\"", "appSocket: \"tcp:127.0.0.1:99999\"")
    st, body, _ = a.api("PUT", "/api/v1/config", raw=bad.encode(), headers={"Content-Type": "text/yaml"})
    t.check(st == 422 and body["error"]["field"] == "localExposedApps[1].appSocket",
            f"a YAML error names the YAML path ({body})")
    st, body, _ = a.api("PUT", "/api/v1/config", raw=b"x", headers={"Content-Type": "text/plain"})
    t.check_eq(st, 415, "another content type: 415")

    # Did you mean.
    st, body, _ = a.api("POST", "/api/v1/exposed-apps", {"appName": "x", "appSocket": "tcp:127.0.0.1:5"})
    t.check(st == 422 and body["error"]["field"] == "appName" and 'did you mean "name"' in body["error"]["message"],
            f"appName in JSON: a hint ({body['error']['message']})")
    st, body, _ = a.api("POST", "/api/v1/remote-apps", {"name": "r", "siteName": "s", "remoteAppId": "a",
                                                       "localSocket": "tcp:127.0.0.1:6"})
    t.check(st == 422 and 'did you mean "appName"' in body["error"]["message"], "remoteAppId: a hint")
    st, body, _ = a.api("PUT", "/api/v1/exposed-apps/x", {"appsocket": "tcp:127.0.0.1:5"})
    t.check(st == 422 and 'did you mean "appSocket"' in body["error"]["message"], "another case: a hint")

    # OpenAPI at runtime.
    st, spec, hdr = a.api("GET", "/api/v1/openapi.json")
    want = yaml.safe_load(open(os.path.join(t.SRC, "schema", "openapi.yaml")))
    t.check(st == 200 and hdr["content-type"].startswith("application/json") and spec == want,
            "GET /api/v1/openapi.json is schema/openapi.yaml as JSON")
    t.check("/api/v1/openapi.json" in spec["paths"] and "/api/v1/tokens" in spec["paths"],
            "it describes itself and the tokens")

    # /readyz.
    st, r, _ = t.wait_for(lambda: (lambda x: x if x[0] == 200 else None)(a.api("GET", "/readyz")), 10, 0.1,
                          "readyz ready once the broker is connected")
    t.check(r["checks"]["broker"] == "connected" and r["checks"]["store"] == "ok" and
            r["checks"]["loop"] == "ok" and r["checks"]["sockets"] == {}, f"readyz covers everything: {r}")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    t.on_cleanup(udp.close)
    a.api("PUT", "/api/v1/tunnel-sockets/taken", {"mode": "dedicated-address", "listenAddress": "127.0.0.1",
                                                  "listenPort": udp.getsockname()[1]})
    st, r, _ = a.api("GET", "/readyz")
    t.check(st == 503 and r["status"] == "not-ready" and r["checks"]["sockets"]["taken"] == "error",
            f"a tunnel socket in error: 503 naming it ({r})")
    a.api("DELETE", "/api/v1/tunnel-sockets/taken")
    mq.stop()
    st, r, _ = t.wait_for(lambda: (lambda x: x if x[0] == 503 else None)(a.api("GET", "/readyz")), 10, 0.1,
                          "not ready without the broker")
    t.check_eq(r["checks"]["broker"], "disconnected", "readyz: broker disconnected, 503")

    # /metrics.
    st, text, _ = a.api("GET", "/metrics")
    t.check(re.search(r'^wovenet_build_info\{version="[^"]+"\} 1$', text, re.M) is not None, "wovenet_build_info")
    for m in ("process_resident_memory_bytes", "process_open_fds", "process_max_fds",
              "process_cpu_seconds_total", "process_start_time_seconds", "process_virtual_memory_bytes"):
        got = re.search(rf"^{m} (\S+)$", text, re.M)
        t.check(got is not None and float(got.group(1)) >= 0, f"{m} {got.group(1) if got else '-'}")
    t.check(int(re.search(r"^process_open_fds (\d+)$", text, re.M).group(1)) > 3, "open fds counted")
    bad = [ln for ln in text.splitlines()
           if not ln.startswith("#") and re.match(r"^\w+_total(\{.*\})? ", ln) and
           not ln.startswith("process_cpu_seconds_total") and not re.search(r" \d+$", ln)]
    t.check_eq(bad, [], "every *_total counter is an integer")
    p = os.path.join(d, "metrics.txt")
    with open(p, "w") as fh:
        fh.write(text)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    t.check_eq((r.returncode, r.stdout + r.stderr), (0, ""), "promtool check metrics is clean")


t.run(main)
