"""Issues 4-6 acceptance with the real binary and a real mosquitto:

- siteAlpha7 (exposing webAppQx) and siteBravo9 find each other; a capture
  of the broker from the start shows neither name, nor 127.0.0.1, nor the key;
  a site with another key is listed by no one and its log says why.
- each site shows two `up` channels to the other within 3 s.
- a 64 MiB blob arrives intact through a remote app, an echo app returns
  64 MiB intact, 200 parallel echo connections all return their bytes, a
  range app refuses a target outside its port range.
"""
import hashlib
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import wvtest as t

KEY = "alpha-bravo-network-key-9d2f"


def main():
    mq = t.Mosquitto()
    cap = t.BrokerCapture(mq)  # live (a probe came back) before any site starts

    echo = t.AppServer()
    blob = os.urandom(64 << 20)
    blob_srv = t.AppServer(blob=blob)
    pa, pb = t.free_port(), t.free_port()
    l_echo, l_blob, l_range_in, l_range_out = (t.free_port() for _ in range(4))
    alpha = t.Agent("alpha", config=t.site_yaml(
        "siteAlpha7", key=KEY, broker=mq.url, topic="wvtest/mesh", sockets=[t.tunnel_socket(pa)],
        exposed=[{"appName": "webAppQx", "appSocket": f"tcp:127.0.0.1:{echo.port}"},
                 {"appName": "blob", "appSocket": f"tcp:127.0.0.1:{blob_srv.port}"},
                 {"appName": "lan", "mode": "range", "addressRange": ["127.0.0.0/8"],
                  "portRange": [str(echo.port)]}]))
    bravo = t.Agent("bravo", config=t.site_yaml(
        "siteBravo9", key=KEY, broker=mq.url, topic="wvtest/mesh",
        # Bravo's socket fixes its datagram size; alpha's default picks the
        # loopback size for a peer on this host.
        sockets=[t.tunnel_socket(pb, maxUdpPayload=1452)],
        remote=[{"siteName": "siteAlpha7", "appName": "webAppQx",
                 "localSocket": f"tcp:127.0.0.1:{l_echo}"},
                {"siteName": "siteAlpha7", "appName": "blob",
                 "localSocket": f"tcp:127.0.0.1:{l_blob}"},
                {"siteName": "siteAlpha7", "appName": "lan",
                 "appSocket": f"tcp:127.0.0.1:{echo.port}",
                 "localSocket": f"tcp:127.0.0.1:{l_range_in}"},
                {"siteName": "siteAlpha7", "appName": "lan",
                 "appSocket": f"tcp:127.0.0.1:{mq.port}",
                 "localSocket": f"tcp:127.0.0.1:{l_range_out}"}]))
    started = time.monotonic()
    other = t.Agent("other", config=t.site_yaml(
        "siteOther3", key="a-different-key-entirely", broker=mq.url, topic="wvtest/mesh",
        sockets=[t.tunnel_socket()]))

    # Discovery.
    def bravo_sees_alpha():
        st, peers, _ = bravo.api("GET", "/api/v1/peers")
        return next((p for p in peers if p["siteName"] == "siteAlpha7"), None)
    p = t.wait_for(bravo_sees_alpha, 5, what="siteBravo9 lists siteAlpha7")
    t.check("webAppQx" in p["apps"], "siteBravo9 lists siteAlpha7's app webAppQx")
    st, one, _ = bravo.api("GET", "/api/v1/peers/siteAlpha7")
    t.check(st == 200 and one["siteName"] == "siteAlpha7", "GET /peers/siteAlpha7")

    # Two up channels each within 3 s of starting.
    t.wait_for(lambda: t.up_channels(alpha, "siteBravo9") == 2
               and t.up_channels(bravo, "siteAlpha7") == 2, 6, what="two up channels each")
    dt = time.monotonic() - started
    t.check(dt <= 3.0, f"two up channels each {dt:.2f} s after the start (<= 3 s)")

    def sizes(agent, site):
        peers = agent.api("GET", "/api/v1/peers")[1]
        return [c.get("maxUdpPayload") for p in peers if p["siteName"] == site
                for c in p["channels"]]
    # PMTUD probes its way up to 32000 (1452, 8952, 32000): a channel may
    # be up before its last probe was answered (seen under ASan and load).
    t0 = time.monotonic()
    t.wait_for(lambda: sizes(alpha, "siteBravo9") == [32000, 32000], 10, 0.05,
               "alpha's channels at 32000-byte datagrams")
    t.check_eq(sizes(alpha, "siteBravo9"), [32000, 32000],
               f"alpha's channels to a peer on this host send 32000-byte datagrams "
               f"({time.monotonic() - t0:.2f} s after both were up)")
    t.check_eq(sizes(bravo, "siteAlpha7"), [1452, 1452],
               "bravo's socket with maxUdpPayload 1452 keeps 1452 towards a local peer")

    # Data through the tunnel; events report the counters as they move.
    ev = t.Events(bravo)
    got = t.recv_all(l_blob)
    t.check_eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(blob).hexdigest(),
               f"64 MiB blob intact through the remote app ({len(got)} bytes)")
    # Regression: a client that resets mid-transfer must not kill the agent
    # with SIGPIPE on its next write.
    import socket
    import struct
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", l_blob))
        c.recv(1 << 20)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    time.sleep(0.5)
    t.check(bravo.proc.poll() is None and alpha.proc.poll() is None,
            "both agents survive clients resetting mid-transfer")
    data = os.urandom(64 << 20)
    back = t.echo_roundtrip(l_echo, data)
    t.check(back == data, f"64 MiB echoed intact ({len(back)} bytes)")

    moving = t.wait_for(lambda: ev.find(
        lambda d: d.get("kind") == "remoteApps" and (d.get("status") or {}).get("bytesIn", 0) > 0),
        3, what="a remoteApps event with moving counters")
    t.check(moving["status"]["bytesIn"] > 0, "SSE reports remote-app bytes as they move")
    t.check(ev.find(lambda d: d.get("kind") == "channels" and d.get("name") == "siteAlpha7")
            is not None, "SSE reports channel activity for the peer")

    def one_echo(i):
        d = os.urandom(4096 + i)
        return t.echo_roundtrip(l_echo, d, timeout=30) == d
    with ThreadPoolExecutor(200) as ex:
        ok = sum(ex.map(one_echo, range(200)))
    t.check_eq(ok, 200, "200 parallel echo connections all return their bytes")

    # Range app: inside works, outside refused with a closed connection.
    t.check(t.echo_roundtrip(l_range_in, b"ranged") == b"ranged", "range target inside works")
    t.check_eq(t.echo_roundtrip(l_range_out, b"nope", timeout=5), b"",
               "range target outside the port range is refused")
    t.wait_for(lambda: "target-denied" in bravo.log_text(), 3, what="refusal logged")
    t.check(True, "the refusal is logged with its reason (target-denied)")

    # The site with another key is nobody's peer and says why.
    for a in (alpha, bravo):
        names = [p["siteName"] for p in a.api("GET", "/api/v1/peers")[1]]
        t.check("siteOther3" not in names, f"{a.name} does not list the wrong-key site")
    t.check(other.api("GET", "/api/v1/peers")[1] == [], "the wrong-key site lists no peer")
    t.check("fail to decrypt" in other.log_text(), "the wrong-key site logs why")

    # Nothing in clear on the broker.
    cap.sync()
    msgs = cap.messages()
    topics = {tp for tp, _ in msgs if tp.startswith("wvtest/mesh/")}
    t.check(len(topics) >= 3, f"capture holds the three sites' traffic ({len(msgs)} messages "
            f"on {len(topics)} topics)")
    text = b"\n".join(tp.encode() + b" " + pl for tp, pl in msgs)
    for secret in (b"siteAlpha7", b"siteBravo9", b"webAppQx", b"127.0.0.1", KEY.encode()):
        t.check(secret not in text, f"capture does not contain {secret.decode()}")

    # Metrics name the dropped messages from the wrong-key site, show each
    # channel and each app, and pass promtool.
    st, m, _ = alpha.api("GET", "/metrics")
    t.check(st == 200 and "wovenet_messages_dropped_total" in m, "metrics count dropped messages")
    t.check('wovenet_exposed_app_bytes_out_total{app="blob"}' in m, "metrics per exposed app")
    chan_lines = [l for l in m.splitlines() if l.startswith("wovenet_channel_sent_bytes_total{")]
    t.check(any('site="siteBravo9"' in l for l in chan_lines), "metrics per channel")
    st, mb, _ = bravo.api("GET", "/metrics")
    t.check("wovenet_remote_app_bytes_in_total{app=" in mb, "metrics per remote app")
    import shutil
    for text in (m, mb):
        r = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"],
                           input=text, capture_output=True, text=True)
        t.check(r.returncode == 0, f"promtool accepts the agent's metrics {r.stdout}{r.stderr}")

    # The site shows its broker state; a known peer can be forgotten.
    st, site, _ = bravo.api("GET", "/api/v1/site")
    t.check_eq(site["status"]["broker"]["state"], "connected", "site status shows the broker")
    st, _, _ = bravo.api("DELETE", "/api/v1/peers/siteAlpha7")
    t.check_eq(st, 204, "DELETE /peers/siteAlpha7 answers 204")
    t.check_eq(bravo.api("GET", "/api/v1/peers/siteAlpha7")[0], 404, "forgotten peer is gone")
    t.check_eq(bravo.api("DELETE", "/api/v1/peers/nobody")[0], 404, "unknown peer answers 404")

t.run(main)
