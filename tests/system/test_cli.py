"""The CLI: the seed's two configs imported verbatim and exported, errors
and exit codes, import(export(x)) == x, tokens, and `run` stopping cleanly."""
import json
import os
import signal
import stat

import wvtest as t

KEY = t.SEED_KEY
# shared/seed/release-public-ip.md, verbatim (tests/fixtures/seed/).
SEED_AWS = t.seed_yaml("aws")
SEED_LOCAL = t.seed_yaml("local")

NEWER = """siteName: branch-7
crypto:
  key: "correct horse battery staple"
logger: {level: info, file: "", format: text}
messageChannel:
  protocol: mqtt
  mqtt:
    brokerServer: mqtts://broker.example:8883
    brokerServers: [mqtt://198.51.100.7:1883]
    topic: ""
    password: "mqtt-pass-1"
tunnel:
  localSockets:
  - mode: port-forwarding
    publicAddress: autoHttpDetect
    publicPort: 40002
    listenPort: 40003
    httpDetector:
      url: http://203.0.113.1/ip
localExposedApps:
- appName: engine
  appSocket: unix:/run/engine.sock
- appName: desktops
  mode: range
  portRange: [5900, "6000-6010"]
  addressRange: [10.9.0.0/16, "::1"]
remoteApps:
- siteName: hq
  appName: desktops
  appSocket: tcp:10.9.0.3:5901
  localSocket: tcp:[::1]:15901
restfulApi:
  enabled: true
  listenAddr: 127.0.0.1:18443
  logger: {file: /tmp/ignored.log}
  auth:
    basicAuth:
    - user: ops
      password: "a long password"
"""


def write(d, name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def export(db, fmt="json"):
    rc, out, err = t.wovenet("export", "--db", db, "--format", fmt)
    t.check_eq((rc, err), (0, ""), f"export --format {fmt} succeeds")
    return out


def strip_rev(doc):
    doc = dict(doc)
    doc.pop("revision", None)
    return doc


def seed_imports(d):
    print("seed configs import verbatim and export")
    for name, text, socket_port, app in (
            ("aws", SEED_AWS, 25890, t.SEED_APP_ID),
            ("local", SEED_LOCAL, 26098, f"aws-{t.SEED_APP_ID}-5201")):
        db = os.path.join(d, f"{name}.db")
        cfg = write(d, f"{name}.yaml", text)
        rc, out, err = t.wovenet("import", "--db", db, cfg)
        t.check_eq((rc, err), (0, ""), f"{name}: import exits 0 with nothing on stderr")
        t.check("revision" in out, f"{name}: import prints a summary")
        t.check_eq(stat.S_IMODE(os.stat(db).st_mode), 0o600, f"{name}: DB file mode 0600")
        js = export(db)
        t.check(KEY not in js and "cryptoKey" not in js, f"{name}: key not in JSON export")
        doc = json.loads(js)
        t.check_eq(doc["site"]["siteName"], name, f"{name}: site name exported")
        t.check_eq(doc["site"].get("networkKeySet"), True, f"{name}: key shown only as set")
        sock = doc["tunnelSockets"][0]
        t.check_eq(sock["listenPort"] if name == "local" else sock["publicPort"], socket_port,
                   f"{name}: socket port exported")
        ya = export(db, "yaml")
        t.check(KEY not in ya, f"{name}: key not in YAML export")
        t.check(f"siteName: {name}" in ya, f"{name}: YAML export names the site")
        t.check(str(socket_port) in ya, f"{name}: YAML export has the socket port")
        if name == "aws":
            t.check_eq(sock["publicAddress"], t.SEED_PUBLIC["aws"], "aws: socket address exported")
            t.check_eq(doc["exposedApps"][0]["name"], app, "aws: exposed app exported")
            t.check_eq(doc["exposedApps"][0]["appSocket"], "tcp:127.0.0.1:5201",
                       "aws: app socket normalized to tcp:")
        else:
            t.check_eq(sock["publicAddress"], t.SEED_PUBLIC["local"],
                       "local: socket address exported")
            t.check_eq(doc["remoteApps"][0]["name"], app, "local: remote app with derived name")
            t.check_eq(doc["remoteApps"][0]["siteName"], "aws", "local: remote app site")

        # import(export(x)) reproduces x, in both the same DB and (with the key) a new one
        y = write(d, f"{name}-export.yaml", ya)
        rc, out, err = t.wovenet("import", "--db", db, y)
        t.check_eq((rc, err), (0, ""), f"{name}: exported YAML imports into the same DB")
        t.check("0 created, 0 changed, 0 deleted" in out, f"{name}: re-import changes nothing")
        t.check_eq(strip_rev(json.loads(export(db))), strip_rev(doc),
                   f"{name}: import(export(x)) == x")
        fresh = os.path.join(d, f"{name}-fresh.db")
        rc, _, err = t.wovenet("import", "--db", fresh, y)
        t.check_eq(rc, 1, f"{name}: exported YAML without the key is refused by a new DB")
        t.check("crypto.key" in err, f"{name}: ... naming crypto.key ({err.strip()})")


def newer_format(d):
    print("newer upstream format: range, unix, autoHttpDetect, basicAuth, restfulApi")
    db = os.path.join(d, "newer.db")
    rc, _, err = t.wovenet("import", "--db", db, write(d, "newer.yaml", NEWER))
    t.check_eq((rc, err), (0, ""), "newer format imports")
    js = export(db)
    for secret in ("correct horse", "mqtt-pass-1", "a long password"):
        t.check(secret not in js, f"secret {secret[:4]}... not exported")
    doc = json.loads(js)
    t.check(doc["site"]["messageChannel"]["topic"].startswith("wovenet/"), "topic derived")
    t.check_eq(doc["exposedApps"][0]["portRange"], ["5900", "6000-6010"], "range app ports")
    t.check_eq(doc["tunnelSockets"][0]["name"], "port-forwarding-40003", "derived socket name")
    t.check_eq(doc["site"]["restfulApi"]["auth"]["basicAuth"],
               [{"user": "ops", "passwordSet": True}], "basic auth user without password")
    y = write(d, "newer-export.yaml", export(db, "yaml"))
    rc, out, _ = t.wovenet("import", "--db", db, y)
    t.check(rc == 0 and "0 created, 0 changed, 0 deleted" in out, "re-import changes nothing")
    t.check_eq(strip_rev(json.loads(export(db))), strip_rev(doc), "import(export(x)) == x")


def errors(d):
    print("validation errors: exit 1, one line naming the field")
    db = os.path.join(d, "err.db")
    bogus = write(d, "bogus.yaml", SEED_LOCAL.replace("mode: port-forwarding", "mode: bogus"))
    rc, out, err = t.wovenet("import", "--db", db, bogus)
    t.check_eq(rc, 1, "mode: bogus exits 1")
    t.check_eq(err.count("\n"), 1, "one line on stderr")
    t.check(err.startswith("config: tunnel.localSockets[0].mode: ") and '"bogus"' in err,
            f"names tunnel.localSockets[0].mode ({err.strip()})")

    unknown = write(d, "unknown.yaml", SEED_AWS.replace("  id: afe", "  colour: red\n  id: afe"))
    rc, _, err = t.wovenet("import", "--db", db, unknown)
    t.check_eq(rc, 1, "unknown key exits 1")
    t.check_eq(err, "config: localExposedApps[0].colour: unknown key\n", "unknown key named")

    typed = write(d, "typed.yaml", SEED_AWS.replace("publicPort: 25890", "publicPort: high"))
    rc, _, err = t.wovenet("import", "--db", db, typed)
    t.check_eq(rc, 1, "type error exits 1")
    t.check("tunnel.localSockets[0].publicPort: expected an integer" in err, "type error named")

    short = write(d, "short.yaml", SEED_AWS.replace(KEY, "short"))
    rc, _, err = t.wovenet("import", "--db", db, short)
    t.check_eq(rc, 1, "short key exits 1")
    t.check(err.startswith("config: messageChannel.cryptoKey: "), f"short key named ({err.strip()})")

    rc, _, err = t.wovenet("import", "--db", db, os.path.join(d, "missing.yaml"))
    t.check_eq(rc, 1, "missing config file exits 1")
    t.check("missing.yaml" in err, "missing file named")
    rc, out, err = t.wovenet("export", "--db", os.path.join(d, "none.db"))
    t.check_eq(rc, 1, "export of a missing DB exits 1")
    t.check(not os.path.exists(os.path.join(d, "none.db")), "export does not create a DB")


def usage(d):
    print("usage errors exit 64; help and version exit 0")
    for args in (["frobnicate"], [], ["import"], ["export", "--bogus"], ["run", "--db"],
                 ["export", "--format", "xml"], ["token"], ["token", "create"],
                 ["token", "delete"], ["import", "a.yaml", "b.yaml"], ["--nope"],
                 ["run", "--api", "nonsense"], ["run", "extra"]):
        rc, out, err = t.wovenet(*args)
        t.check(rc == 64 and "usage: wovenet" in err and out == "",
                f"wovenet {' '.join(args)} -> exit 64 with usage on stderr")
    rc, out, _ = t.wovenet("--version")
    t.check(rc == 0 and out.startswith("wovenet "), "--version exits 0")
    rc, out, _ = t.wovenet("--help")
    t.check(rc == 0 and "token create" in out, "--help exits 0")
    for cmd in (["run"], ["import"], ["export"], ["token", "create"]):
        rc, out, _ = t.wovenet(*cmd, "--help")
        t.check(rc == 0 and out.startswith("usage: wovenet " + cmd[0]), f"{cmd[0]} --help exits 0")


def tokens(d):
    print("token create")
    db = os.path.join(d, "tok.db")
    t.wovenet("import", "--db", db, write(d, "t.yaml", SEED_AWS))
    rc, out, err = t.wovenet("token", "create", "--db", db, "--name", "ci")
    t.check_eq(rc, 0, "token create exits 0")
    lines = out.splitlines()
    t.check(len(lines) == 1 and len(lines[0]) >= 20, "prints exactly one token line")
    with open(db, "rb") as f:
        t.check(lines[0].encode() not in f.read(), "token not stored in clear")
    rc, out, err = t.wovenet("token", "create", "--db", db, "--name", "ci")
    t.check(rc == 1 and out == "" and "ci" in err, "second token with the same name exits 1")
    rc, out, err = t.wovenet("token", "create", "--db", db, "--name", "bad name")
    t.check(rc == 1 and out == "", "invalid token name exits 1")


def run_stops(d):
    print("run starts and stops cleanly")
    db = os.path.join(d, "run.db")
    # The seed's broker is on the internet: a loopback port nobody listens on instead.
    local = t.seed_yaml("local", broker=f"mqtt://127.0.0.1:{t.free_port()}")
    cfg = write(d, "run.yaml", local.replace("level: DEBUG", "level: INFO"))
    for sig in (signal.SIGTERM, signal.SIGINT):
        log = os.path.join(d, f"run-{sig}.log")
        p = t.spawn([t.BIN, "run", "--config", cfg, "--db", db, "--api", f"127.0.0.1:{t.free_port()}"], log)
        t.wait_for(lambda: "site local running" in open(log).read(), 10, what="running line")
        t.check(p.poll() is None, "run keeps running")
        os.killpg(p.pid, signal.SIGHUP)  # reopens the log, keeps running
        t.wait_for(lambda: "log file reopened" in open(log).read(), 5, what="reopen line")
        t.check(p.poll() is None, "SIGHUP does not stop run")
        os.killpg(p.pid, sig)
        p.wait(10)
        t.check_eq(p.returncode, 0, f"run exits 0 on {signal.Signals(sig).name}")
        text = open(log).read()
        t.check(KEY not in text, "key never logged")
        t.check("stopped" in text, "logs that it stopped")
    # First run: an empty store runs the API and waits for its site (the
    # dashboard's first-run form, PUT /api/v1/site).
    empty = t.Agent("empty", db=os.path.join(d, "empty.db"))
    t.check_eq(empty.api("GET", "/api/v1/site")[0], 404, "run with an empty store: no site yet (404)")
    t.check("no site configured yet" in empty.log_text(), "it logs that the site is to be configured")
    site = {"siteName": "later", "networkKey": "first-run-key-123",
            "messageChannel": {"brokers": [f"mqtt://127.0.0.1:{t.free_port()}"]}}
    st, body, _ = empty.api("PUT", "/api/v1/site", site)
    t.check(st == 200 and body["siteName"] == "later", f"the site is configured through the API ({st})")
    t.wait_for(lambda: "site later joined the mesh" in empty.log_text(), 5, what="joined line")
    t.check(True, "the site configured at run time joins the mesh without a restart")
    t.check_eq(empty.stop(), 0, "and stops with exit 0")
    bad = write(d, "bad.yaml", SEED_LOCAL.replace("mode: port-forwarding", "mode: bogus"))
    rc, _, err = t.wovenet("run", "--db", db, "--config", bad)
    t.check(rc == 1 and "tunnel.localSockets[0].mode" in err, "run --config refuses a bad config")


def main():
    d = t.tmpdir()
    seed_imports(d)
    newer_format(d)
    errors(d)
    usage(d)
    tokens(d)
    run_stops(d)


t.run(main)
