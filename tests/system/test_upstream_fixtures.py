"""Issue 21, finding 2: upstream's configs as written.

Every example configuration of upstream's repository (tests/fixtures/
upstream/, each file's header names its source and commit), the seed
scenario's two files (tests/fixtures/seed/), upstream-shaped JSON configs
(tests/fixtures/upstream-json/: viper reads *.json with the same keys) and
an upstream-shaped file with mixed-case keys and the top-level `stun:`
list (tests/fixtures/upstream-shape/) must

1. import exactly as written (`wovenet import`), every object of the file
   landing in the store (counted from the file itself);
2. run: each in its own network namespace (nothing it dials can leave it)
   with a broker there, from a copy in which only the broker URL and the
   HTTP address detector's URL point into that namespace: the agent stays
   up, joins its broker, and serves every object with a status.

Before, upstream's own convert-unix-to-tcp example (`appsocket:`) was
refused ("unknown key"), as were `stun:` and *.json files."""
import glob
import http.server
import json
import os
import re
import threading
import time

import yaml

import netns
import wvtest as t

FIX = os.path.join(t.SRC, "tests", "fixtures")


def lower_keys(v):
    if isinstance(v, dict):
        return {str(k).lower(): lower_keys(x) for k, x in v.items()}
    if isinstance(v, list):
        return [lower_keys(x) for x in v]
    return v


def counts(path):
    raw = open(path).read()
    d = lower_keys(json.loads(raw) if path.endswith(".json") else yaml.safe_load(raw))
    return (len((d.get("tunnel") or {}).get("localsockets") or []),
            len(d.get("localexposedapps") or []), len(d.get("remoteapps") or []))


class DetectorHandler(t.TextHandler):
    def body(self):
        return b"198.51.100.7\n"


# Placeholders in upstream's template, which a user must replace.
PLACEHOLDER_KEYS = {"upstream/config.yaml": "your-own-key"}


def run_copy(text, is_json, broker, detector):
    """The fixture with only the broker and detector URLs moved into the namespace."""
    if is_json:
        d = json.loads(text)
        for k, v in d.items():
            if k.lower() == "messagechannel":
                for k2, v2 in v.items():
                    if k2.lower() == "mqtt":
                        for k3 in list(v2):
                            if k3.lower() == "brokerserver":
                                v2[k3] = broker
        for k, v in d.items():
            if k.lower() == "tunnel":
                for s in v.get("localSockets", []):
                    if "httpDetector" in s:
                        s["httpDetector"]["url"] = detector
        return json.dumps(d)
    text = re.sub(r"(?im)^(\s*brokerServer:\s*).*$", lambda m: m.group(1) + broker, text)
    return re.sub(r"(?im)^(\s*url:\s*)https?://\S+", lambda m: m.group(1) + detector, text)


def main():
    files = sorted(glob.glob(os.path.join(FIX, "upstream", "*.yaml")) +
                   glob.glob(os.path.join(FIX, "seed", "*.yaml")) +
                   glob.glob(os.path.join(FIX, "upstream-json", "*.json")) +
                   glob.glob(os.path.join(FIX, "upstream-shape", "*")))
    t.check(len(glob.glob(os.path.join(FIX, "upstream", "*.yaml"))) >= 14 and
            len(glob.glob(os.path.join(FIX, "seed", "*.yaml"))) == 2,
            f"{len(files)} fixtures (upstream's examples, the seed's two files, JSON, stun)")
    d = t.tmpdir()
    for f in files:
        head = open(f).read(600)
        if f.endswith(".yaml"):
            t.check("Source:" in head or "upstream's" in head, f"{os.path.basename(f)} names its source")
    readme = open(os.path.join(FIX, "README.md")).read()
    for f in glob.glob(os.path.join(FIX, "upstream-json", "*.json")):
        t.check(os.path.basename(f) in readme, f"{os.path.basename(f)}: source in fixtures/README.md")

    # 1. Import as written. Upstream's template config.yaml carries the
    # placeholder key "your-own-key" (its comment: "strongly recommended to
    # change the default value"): refused with the rule, as any weak key
    # is; the same file with a generated key then goes through every step.
    rc, strong, _ = t.wovenet("key", "generate")
    strong = strong.strip()
    for i, f in enumerate(files):
        name = f"{os.path.basename(os.path.dirname(f))}/{os.path.basename(f)}"
        db = os.path.join(d, name.replace("/", "-") + ".db")
        if name in PLACEHOLDER_KEYS:
            rc, out, err = t.wovenet("import", "--db", db, f)
            t.check(rc == 1 and "network key must have" in err and "key generate" in err,
                    f"{name}: its placeholder key is refused with the rule ({err.strip()[:60]})")
            t.check(not os.path.exists(db), f"{name}: nothing stored")
            keyed = os.path.join(d, os.path.basename(f))
            with open(keyed, "w") as fh:
                fh.write(open(f).read().replace(f'"{PLACEHOLDER_KEYS[name]}"', f'"{strong}"', 1))
            files[i] = f = keyed
        rc, out, err = t.wovenet("import", "--db", db, f)
        t.check(rc == 0 and err == "", f"{name}: imports as written ({err.strip()})")
        rc, js, _ = t.wovenet("export", "--db", db)
        doc = json.loads(js)
        got = (len(doc["tunnelSockets"]), len(doc["exposedApps"]), len(doc["remoteApps"]))
        t.check_eq(got, counts(f), f"{name}: every socket, exposed and remote app is stored")
        if "stun" in name:
            t.check_eq(doc["tunnelSockets"][0]["stunServers"], ["198.51.100.1:3478", "198.51.100.2:3478"],
                       f"{name}: the top-level stun: list is the socket's STUN servers")
            t.check_eq(doc["exposedApps"][0]["appSocket"], "tcp:127.0.0.1:8080",
                       f"{name}: mixed-case keys (appname, AppSocket) are read")
        if name.endswith("docker-server.yaml"):
            t.check_eq(doc["exposedApps"][0]["appSocket"], "unix:/var/run/docker.sock",
                       f"{name}: `appsocket:` is appSocket, as upstream reads it")
        rc, out, _ = t.wovenet("import", "--db", db, f)
        t.check(rc == 0 and "0 created, 0 changed, 0 deleted" in out, f"{name}: re-import changes nothing")

    # 2. Run, each in its own namespace.
    net = netns.Net()
    for i, f in enumerate(files):
        name = f"{os.path.basename(os.path.dirname(f))}/{os.path.basename(f)}"
        ns = net.ns(f"f{i}")
        mq_port = 1883
        conf = os.path.join(d, f"mq{i}.conf")
        with open(conf, "w") as fh:
            fh.write(f"listener {mq_port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        ns.spawn(["mosquitto", "-c", conf], os.path.join(d, f"mq{i}.log"))
        t.wait_for(lambda: ns.tcp_accepts(mq_port), 5, what="mosquitto in the namespace")
        srv = ns.call(http.server.ThreadingHTTPServer, ("127.0.0.1", 0), DetectorHandler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        t.on_cleanup(srv.shutdown)
        text = open(f).read()
        cfg = run_copy(text, f.endswith(".json"), f"mqtt://127.0.0.1:{mq_port}",
                       f"http://127.0.0.1:{srv.server_address[1]}/ip")
        path = os.path.join(d, f"run{i}" + (".json" if f.endswith(".json") else ".yaml"))
        with open(path, "w") as fh:
            fh.write(cfg)
        a = netns.NsAgent(ns, f"fx{i}", db=os.path.join(d, f"run{i}.db"), start=False)
        a.config = path
        y = lower_keys(json.loads(text) if f.endswith(".json") else yaml.safe_load(text))
        users = (((y.get("restfulapi") or {}).get("auth") or {}).get("basicauth") or [])
        if users:
            import base64
            cred = base64.b64encode(f"{users[0]['user']}:{users[0]['password']}".encode()).decode()
            a.api_headers = {"Authorization": f"Basic {cred}"}
        orig_api = a.api
        a.api = lambda m, p, body=None, headers=None, **kw: orig_api(
            m, p, body, {**getattr(a, "api_headers", {}), **(headers or {})}, **kw)
        a.start()
        st, site, _ = t.wait_for(lambda: (lambda r: r if r[0] == 200 and r[1]["status"]["broker"]["state"] == "connected" else None)(a.api("GET", "/api/v1/site")),
                                 15, 0.1, f"{name}: broker connected")
        t.check(True, f"{name}: runs and joins its broker (site {site['siteName']})")
        for kind in ("tunnel-sockets", "exposed-apps", "remote-apps"):
            st, objs, _ = a.api("GET", f"/api/v1/{kind}")
            t.check(st == 200 and all(isinstance(o.get("status"), dict) for o in objs),
                    f"{name}: {len(objs)} {kind} served with a status")
        time.sleep(0.5)
        t.check(a.proc.poll() is None, f"{name}: still running")
        t.check_eq(a.stop(), 0, f"{name}: stops cleanly")


t.run(main)
