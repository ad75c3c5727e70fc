"""Issue 11: `wovenet status` and `wovenet apply` against running agents.

- apply --dry-run of the exported config (JSON and YAML, both without the
  network key) prints "No changes" and exits 0; the stored key is kept.
- a changed document: --dry-run exits 2 and changes nothing; apply exits 2,
  prints the plan and the change is live; applying again exits 0.
- an invalid document exits 1 naming the field; no API exits 1.
- status prints the peer, its two up channels with family and RTT, the
  remote app and its state; --json is parseable.
"""
import json
import os
import subprocess

import wvtest as t

KEY = "people-cli-network-key-4411"


def main():
    mq = t.Mosquitto()
    echo = t.AppServer()
    pa, pb, lp = t.free_port(), t.free_port(), t.free_port()
    aws = t.Agent("aws", config=t.site_yaml(
        "aws", key=KEY, broker=mq.url, topic="wvtest/people", sockets=[t.tunnel_socket(pa)],
        exposed=[{"appName": "iperf", "appSocket": f"tcp:127.0.0.1:{echo.port}"}]))
    local = t.Agent("local", config=t.site_yaml(
        "local", key=KEY, broker=mq.url, topic="wvtest/people", sockets=[t.tunnel_socket(pb)],
        remote=[{"siteName": "aws", "appName": "iperf",
                 "localSocket": f"tcp:127.0.0.1:{lp}"}]))
    api = f"http://127.0.0.1:{local.api_port}"
    d = t.tmpdir()

    # The exported config applies as is: no changes, exit 0 (JSON and YAML).
    rc, out, err = t.wovenet("export", "--db", local.db)
    t.check_eq(rc, 0, "export exits 0")
    t.check("networkKey\"" not in out, "the export holds no network key")
    exported = os.path.join(d, "current.json")
    with open(exported, "w") as f:
        f.write(out)
    rc, out, err = t.wovenet("apply", "-f", exported, "--dry-run", "--api", api)
    t.check_eq(rc, 0, f"apply --dry-run of the export exits 0 ({out.strip()} {err.strip()})")
    t.check("No changes" in out, "and prints no changes")
    rc, out, err = t.wovenet("apply", "-f", exported, "--api", api)
    t.check_eq(rc, 0, "apply of the export exits 0")
    t.check(local.api("GET", "/api/v1/site")[1].get("networkKeySet") is True,
            "the stored network key is kept")
    rc, yml, _ = t.wovenet("export", "--db", local.db, "--format", "yaml")
    ypath = os.path.join(d, "current.yaml")
    with open(ypath, "w") as f:
        f.write(yml)
    rc, out, err = t.wovenet("apply", "-f", ypath, "--dry-run", "--api", api)
    t.check_eq(rc, 0, f"apply --dry-run of the YAML export exits 0 ({err.strip()})")

    # Status: the peer, two up channels, the remote app listening.
    t.wait_for(lambda: t.up_channels(local, "aws") == 2, 10, what="two up channels")
    t.check_eq(t.echo_roundtrip(lp, b"x" * 100000), b"x" * 100000, "echo through the tunnel")
    rc, out, err = t.wovenet("status", "--api", api)
    print(out)
    t.check_eq(rc, 0, f"status exits 0 ({err.strip()})")
    t.check("SITE local" in out, "status names the site")
    peer_lines = [l for l in out.splitlines() if l.startswith("aws ")]
    t.check(any(" yes " in l and "iperf" in l for l in peer_lines),
            "status lists peer aws, online, with its app iperf")
    chans = [l.split() for l in peer_lines if " up " in l]
    t.check_eq(len(chans), 2, "status shows two up channels to aws")
    t.check(all(c[3] == "ipv4" for c in chans), "channel family ipv4")
    t.check(all(float(c[7]) >= 0 for c in chans), "channel RTT is a number")
    t.check(any(l.split()[1:3] == ["aws", "iperf"] and "listening" in l
                for l in out.splitlines()), "remote app iperf listening")
    # Throughput: sampled while data flows through the echo app.
    import socket
    import threading
    stop = threading.Event()

    def pump():
        c = socket.create_connection(("127.0.0.1", lp), timeout=10)
        buf = b"y" * 65536
        while not stop.is_set():
            c.sendall(buf)
            got = 0
            while got < len(buf):
                got += len(c.recv(len(buf) - got))
        c.close()
    th = threading.Thread(target=pump)
    th.start()
    rc, out, _ = t.wovenet("status", "--api", api)
    stop.set()
    th.join()
    rates = [float(x) for l in out.splitlines() if l.startswith("aws ") and " up " in l
             for x in l.split()[8:10]]
    t.check(rc == 0 and len(rates) == 4 and max(rates) > 0,
            f"status shows throughput while data flows (Mbit/s: {rates})")
    rc, out, _ = t.wovenet("status", "--api", api, "--json")
    j = json.loads(out)
    t.check(rc == 0 and j["site"]["siteName"] == "local"
            and j["peers"][0]["siteName"] == "aws", "status --json parses")

    # A change: dry run exits 2 and changes nothing; apply exits 2 and is live.
    doc = json.load(open(exported))
    lp2 = t.free_port()
    doc["remoteApps"].append({"name": "iperf2", "siteName": "aws", "appName": "iperf",
                              "localSocket": f"tcp:127.0.0.1:{lp2}"})
    doc["site"]["logger"]["level"] = "INFO"
    changed = os.path.join(d, "changed.json")
    with open(changed, "w") as f:
        json.dump(doc, f)
    rev0 = local.api("GET", "/api/v1/config")[1]["revision"]
    rc, out, err = t.wovenet("apply", "-f", changed, "--dry-run", "--api", api)
    print(out)
    t.check_eq(rc, 2, "apply --dry-run of a change exits 2")
    t.check("+ remoteApps iperf2" in out and "~ site" in out, "the plan lists + and ~")
    t.check_eq(local.api("GET", "/api/v1/config")[1]["revision"], rev0, "dry run changed nothing")
    rc, out, err = t.wovenet("apply", "-f", changed, "--api", api)
    t.check_eq(rc, 2, "apply of a change exits 2")
    t.check("Applied: 1 created, 1 changed, 0 deleted" in out, f"apply prints the result: {out}")
    t.wait_for(lambda: t.tcp_accepts(lp2), 3, what="the new remote app listens")
    rc, out, _ = t.wovenet("apply", "-f", changed, "--api", api)
    t.check_eq(rc, 0, "applying the same file again exits 0")
    # Deleting via apply: back to the export.
    rc, out, _ = t.wovenet("apply", "-f", exported, "--api", api)
    t.check(rc == 2 and "- remoteApps iperf2" in out, "apply of the export deletes iperf2")
    t.wait_for(lambda: not t.tcp_accepts(lp2), 3, what="iperf2 closed")

    # Errors exit 1 and name the field.
    doc["remoteApps"][-1]["localSocket"] = "tcp:999.1.1.1:70000"
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        json.dump(doc, f)
    rc, out, err = t.wovenet("apply", "-f", bad, "--api", api)
    t.check_eq(rc, 1, "an invalid document exits 1")
    t.check("remoteApps[1].localSocket" in err, f"the error names the field: {err.strip()}")
    badyaml = os.path.join(d, "bad.yaml")
    with open(badyaml, "w") as f:
        f.write(yml.replace("listenPort: ", "listenPort: notaport"))
    rc, out, err = t.wovenet("apply", "-f", badyaml, "--api", api)
    t.check(rc == 1 and "listenPort" in err, f"an invalid YAML exits 1 naming the field: {err.strip()}")
    rc, out, err = t.wovenet("apply", "-f", os.path.join(d, "missing.json"), "--api", api)
    t.check(rc == 1 and "cannot read" in err, "a missing file exits 1")
    rc, out, err = t.wovenet("status", "--api", f"http://127.0.0.1:{t.free_port()}")
    t.check(rc == 1 and "GET /api/v1/site" in err, "status without an API exits 1")
    rc, out, err = t.wovenet("apply", "--api", api)
    t.check_eq(rc, 64, "apply without -f is a usage error (64)")

    # With authentication configured: --token or WOVENET_TOKEN.
    rc, token, _ = t.wovenet("token", "create", "--db", local.db, "--name", "cli")
    token = token.strip()
    rc, out, err = t.wovenet("status", "--api", api)
    t.check(rc == 1 and "401" in err and token not in err, f"status without the token: 1 ({err.strip()})")
    rc, out, err = t.wovenet("status", "--api", api, "--token", token)
    t.check(rc == 0 and "SITE local" in out, "status --token works")
    r = subprocess.run([t.BIN, "apply", "-f", exported, "--dry-run"], capture_output=True,
                         text=True, env=dict(os.environ, WOVENET_API=api, WOVENET_TOKEN=token))
    t.check(r.returncode == 0 and "No changes" in r.stdout,
            f"apply with WOVENET_API and WOVENET_TOKEN from the environment ({r.stderr.strip()})")


t.run(main)
