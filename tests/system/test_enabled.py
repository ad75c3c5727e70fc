"""Issue 21: `enabled: false` pauses a tunnel socket, an exposed app or a
remote app without deleting it.

- a paused remote app closes its listener (state disabled), resumes on
  enabled: true (which is the default and is then not stored);
- a paused exposed app is not announced: the peer's remote app shows
  `site alpha does not expose "echo"`, and comes back when resumed;
- a paused tunnel socket releases its UDP port (state disabled);
- the YAML config and its export carry `enabled: false`; a non-boolean is
  refused naming the field."""
import json
import os
import socket

import wvtest as t


def udp_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    mq = t.Mosquitto()
    echo = t.AppServer()
    pa, pb, local = t.free_port(), t.free_port(), t.free_port()
    sock = lambda p: {"mode": "dedicated-address", "transportProtocol": "quic",
                      "listenAddress": "127.0.0.1", "listenPort": p}
    alpha = t.Agent("alpha", config=t.site_yaml(
        "alpha", broker=mq.url, topic="wvtest/enabled", sockets=[sock(pa)],
        exposed=[{"appName": "echo", "appSocket": f"tcp:127.0.0.1:{echo.port}"}]))
    bravo = t.Agent("bravo", config=t.site_yaml(
        "bravo", broker=mq.url, topic="wvtest/enabled", sockets=[sock(pb)]))
    st, _, _ = bravo.api("PUT", "/api/v1/remote-apps/r",
                         {"siteName": "alpha", "appName": "echo", "localSocket": f"tcp:127.0.0.1:{local}"})
    t.check_eq(st, 201, "remote app r")
    t.wait_for(lambda: bravo.api("GET", "/api/v1/remote-apps/r")[1]["status"]["state"] == "listening",
               15, 0.1, "r listening")
    t.check(t.echo_roundtrip(local, b"one") == b"one", "echo through r")

    # Remote app.
    st, obj, _ = bravo.api("PATCH", "/api/v1/remote-apps/r", {"enabled": False})
    t.check(st == 200 and obj["enabled"] is False and obj["status"]["state"] == "disabled",
            f"PATCH enabled false: state disabled ({st} {obj.get('status')})")
    t.check(not t.tcp_accepts(local), "its listener is closed")
    st, obj, _ = bravo.api("GET", "/api/v1/remote-apps/r")
    t.check(st == 200 and obj["enabled"] is False, "still stored, enabled false")
    rc, y, _ = t.wovenet("export", "--db", bravo.db, "--format", "yaml")
    t.check("enabled: false" in y, "the YAML export says enabled: false")
    st, obj, _ = bravo.api("PATCH", "/api/v1/remote-apps/r", {"enabled": True})
    t.check(st == 200 and "enabled" not in obj, "enabled true is the default: not stored")
    t.wait_for(lambda: t.tcp_accepts(local), 5, 0.05, "listener back")
    t.check(t.echo_roundtrip(local, b"two") == b"two", "echo through r again")
    st, body, _ = bravo.api("PATCH", "/api/v1/remote-apps/r", {"enabled": "no"})
    t.check(st == 422 and body["error"]["field"] == "enabled", "enabled \"no\": 422 naming enabled")

    # Exposed app: not announced while paused.
    st, obj, _ = alpha.api("PATCH", "/api/v1/exposed-apps/echo", {"enabled": False, "origin": "api"})
    t.check(st == 200 and obj["status"]["state"] == "disabled", "exposed app echo paused: disabled")
    want = 'site alpha does not expose "echo"'
    t.wait_for(lambda: bravo.api("GET", "/api/v1/remote-apps/r")[1]["status"].get("error") == want,
               10, 0.1, "bravo sees echo gone from alpha's announcement")
    t.check(True, f"bravo's remote app says {want!r}")
    st, obj, _ = alpha.api("PATCH", "/api/v1/exposed-apps/echo", {"enabled": True})
    t.wait_for(lambda: bravo.api("GET", "/api/v1/remote-apps/r")[1]["status"]["state"] == "listening",
               10, 0.1, "echo announced again")
    t.check(t.echo_roundtrip(local, b"three") == b"three", "echo works after resuming")

    # Tunnel socket.
    spare = t.free_port()
    st, obj, _ = alpha.api("PUT", "/api/v1/tunnel-sockets/spare", sock(spare))
    t.check(st == 201 and not udp_free(spare), "a second tunnel socket is bound")
    st, obj, _ = alpha.api("PATCH", "/api/v1/tunnel-sockets/spare", {"enabled": False})
    t.check(st == 200 and obj["status"]["state"] == "disabled", "paused socket: disabled")
    t.wait_for(lambda: udp_free(spare), 5, 0.05, "its UDP port released")
    t.check(True, "the paused socket's UDP port is free")

    # The YAML config.
    d = t.tmpdir()
    y = os.path.join(d, "p.yaml")
    with open(y, "w") as f:
        f.write(t.site_yaml("paused", sockets=[dict(sock(t.free_port()), enabled=False)],
                            exposed=[{"appName": "e", "appSocket": "tcp:127.0.0.1:7", "enabled": False}],
                            remote=[{"siteName": "x", "appName": "y", "localSocket": "tcp:127.0.0.1:8",
                                     "enabled": False}]))
    rc, _, err = t.wovenet("import", "--db", os.path.join(d, "p.db"), y)
    t.check_eq((rc, err), (0, ""), "a YAML config with enabled: false imports")
    doc = json.loads(t.wovenet("export", "--db", os.path.join(d, "p.db"))[1])
    t.check(all(x["enabled"] is False for k in ("tunnelSockets", "exposedApps", "remoteApps")
                for x in doc[k]), "every object stored with enabled false")


t.run(main)
