"""Issue 21, finding 1: no silent loss of API and dashboard edits.

The agent is started exactly the way dist/wovenet.service starts it (its
ExecStart line, run by /bin/sh, with only the paths replaced), with a
config file. Objects are then created through the API and through the
dashboard (headless Chromium filling the forms); the agent is restarted
the same way, and every one of them is still there. Before, each start
imported the file declaratively and silently deleted them.

Then: a write to a file-managed object is refused (409, naming the file)
unless it takes the object over ("origin": "api"), which sticks across
restarts; an edited file changes, creates and deletes only its own
objects at the next start, and the log names each change; the container
entrypoint (docker/entrypoint.sh: import, then run) keeps them all too."""
import json
import os
import re
import signal
import subprocess

import wvtest as t


def unit_argv(bin_, db, cfg):
    """dist/wovenet.service's ExecStart, with its paths pointed at ours."""
    unit = open(os.path.join(t.SRC, "dist", "wovenet.service")).read()
    line = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    line = (line.replace("@WOVENET_BIN@", bin_).replace("/var/lib/wovenet/wovenet.db", db)
            .replace("/etc/wovenet/config.yaml", cfg))
    args = re.match(r"/bin/sh -c '(.*)'$", line).group(1)
    return ["/bin/sh", "-c", args]


LOCAL = t.free_port()


def config(port, udp, echo, gone=True, app="x"):
    exposed = [{"appName": "from-file", "appSocket": f"tcp:127.0.0.1:{echo}"}]
    if gone:
        exposed.append({"appName": "file-gone", "appSocket": "tcp:127.0.0.1:7"})
    return t.site_yaml(
        "originSite", sockets=[{"name": "file-sock", "mode": "dedicated-address",
                                "listenAddress": "127.0.0.1", "listenPort": udp}],
        exposed=exposed,
        remote=[{"name": "file-remote", "siteName": "peer", "appName": app,
                 "localSocket": f"tcp:127.0.0.1:{LOCAL}"}],
        extra=f"restfulApi:\n  listenAddr: 127.0.0.1:{port}\n")


def names(a, kind):
    st, objs, _ = a.api("GET", f"/api/v1/{kind}")
    return {o["name"]: o for o in objs} if st == 200 else {}


def main():
    d = t.tmpdir()
    port, udp, echo = t.free_port(), t.free_port(), t.AppServer().port
    cfg = os.path.join(d, "config.yaml")
    db = os.path.join(d, "state", "wovenet.db")
    os.makedirs(os.path.dirname(db))
    with open(cfg, "w") as f:
        f.write(config(port, udp, echo))
    a = t.Agent("origin", api_port=port, start=False)
    a.log = os.path.join(d, "agent.log")

    def start_like_the_unit():
        a.proc = t.spawn(unit_argv(t.BIN, db, cfg), a.log)
        t.wait_for(lambda: a.proc.poll() is None and a.api("GET", "/healthz")[0] == 200, 10,
                   what="agent started by the unit's ExecStart")
    start_like_the_unit()

    made = {
        "exposed-apps": {"api-app": {"appSocket": f"tcp:127.0.0.1:{echo}"}},
        "remote-apps": {"api-remote": {"siteName": "peer", "appName": "y",
                                       "localSocket": f"tcp:127.0.0.1:{t.free_port()}"}},
        "tunnel-sockets": {"api-sock": {"mode": "dedicated-address", "listenAddress": "127.0.0.1",
                                        "listenPort": t.free_port()}},
    }
    for kind, objs in made.items():
        for name, body in objs.items():
            st, obj, _ = a.api("PUT", f"/api/v1/{kind}/{name}", body)
            t.check_eq(st, 201, f"PUT {kind}/{name} through the API: 201")
    web = {"remote": {"name": "web-remote", "siteName": "peer", "appName": "z",
                      "localSocket": f"tcp:127.0.0.1:{t.free_port()}"},
           "exposed": {"name": "web-app", "appSocket": f"tcp:127.0.0.1:{echo}"}}
    r = subprocess.run(["node", os.path.join(t.SRC, "tests", "e2e", "create_objects.mjs"),
                        f"http://127.0.0.1:{port}/", json.dumps(web)],
                       cwd=os.path.join(t.SRC, "tests", "e2e"), capture_output=True, text=True,
                       timeout=120)
    print(r.stdout + r.stderr)
    t.check_eq(r.returncode, 0, "remote app and exposed app created through the dashboard's forms")
    made["remote-apps"]["web-remote"] = web["remote"]
    made["exposed-apps"]["web-app"] = web["exposed"]

    def all_there(what):
        for kind, objs in made.items():
            have = names(a, kind)
            for name in objs:
                t.check(name in have, f"{what}: {kind}/{name} is still there")
                t.check_eq(have[name].get("origin"), "api", f"{what}: {kind}/{name} is API-managed")
        have = names(a, "tunnel-sockets")
        t.check("file-sock" in have and have["file-sock"]["origin"] == "config",
                f"{what}: the file's own tunnel socket is there, managed by the file")

    t.check_eq(t.stop(a.proc), 0, "SIGTERM: the agent exits 0")
    start_like_the_unit()
    all_there("after a restart by the unit")

    # The file's objects: refused unless taken over, named.
    st, body, _ = a.api("PATCH", "/api/v1/exposed-apps/from-file", {"appSocket": "tcp:127.0.0.1:9"})
    t.check(st == 409 and body["error"]["code"] == "managed_by_config" and cfg in body["error"]["message"],
            f"a write to a file-managed object: 409 naming {cfg} ({st} {body})")
    st, body, _ = a.api("DELETE", "/api/v1/exposed-apps/from-file")
    t.check(st == 409 and cfg in body["error"]["message"], "deleting it: 409 naming the file")
    st, body, _ = a.api("PATCH", "/api/v1/site", {"logger": {"level": "INFO"}})
    t.check(st == 409 and cfg in body["error"]["message"], "the site's settings too: 409")
    st, obj, _ = a.api("GET", "/api/v1/exposed-apps/from-file")
    t.check_eq((obj["origin"], obj["managedBy"]), ("config", cfg), "GET shows origin config and the file")
    st, obj, _ = a.api("PATCH", "/api/v1/exposed-apps/from-file",
                       {"appSocket": "tcp:127.0.0.1:9", "origin": "api"})
    t.check(st == 200 and obj["origin"] == "api" and obj["appSocket"] == "tcp:127.0.0.1:9",
            "with \"origin\": \"api\" the write takes it over")

    # An edited file: only its own objects change, each change logged.
    with open(cfg, "w") as f:
        f.write(config(port, udp, echo, gone=False, app="x2"))
    t.check_eq(t.stop(a.proc), 0, "stop again")
    start_like_the_unit()
    all_there("after editing the file and restarting")
    log = open(a.log).read()
    t.check(re.search(r"config.*changed remoteApps file-remote", log) is not None,
            "the log names the changed file object")
    t.check(re.search(r"config.*deleted exposedApps file-gone", log) is not None,
            "the log names the deleted file object")
    t.check(re.search(r"exposed app \"from-file\" is API-managed.*ignored", log) is not None,
            "the log says the taken-over object's file entry is ignored")
    t.check_eq(names(a, "exposed-apps")["from-file"]["appSocket"], "tcp:127.0.0.1:9",
               "the taken-over object keeps what the API set")
    t.check_eq(names(a, "remote-apps")["file-remote"]["appName"], "x2", "the file's change applied")
    t.check("file-gone" not in names(a, "exposed-apps"), "the object removed from the file is gone")
    t.check_eq(t.stop(a.proc), 0, "stop before the container run")

    # The container's entrypoint: import, then run (plus a token).
    env = dict(os.environ, WOVENET_EXE=t.BIN, WOVENET_DB=db, WOVENET_CONFIG=cfg,
               WOVENET_API_LISTEN=f"127.0.0.1:{port}")
    a.proc = t.spawn(["sh", os.path.join(t.SRC, "docker", "entrypoint.sh")], a.log, env=env)
    tokfile = os.path.join(os.path.dirname(db), "api-token")
    t.wait_for(lambda: os.path.exists(tokfile) and os.path.getsize(tokfile) > 0, 10, what="api-token")
    a.token = open(tokfile).read().strip()
    t.wait_for(lambda: a.proc.poll() is None and a.api("GET", "/api/v1/site")[0] == 200, 10,
               what="agent started by the container entrypoint")
    all_there("after a start by the container entrypoint")


t.run(main)
