"""Issue 20: punching fails, a relay carries the channel; later the NAT
changes and a punched channel replaces the relayed one.

    rtrA 198.51.100.40 | 10.1.0.1   symmetric NAT (masquerade fully-random)
      siteA 10.1.0.2                nat-traversal socket, remote apps of siteB
    rtrB 203.0.113.50 | 10.2.0.1    cone NAT (masquerade)
      siteB 10.2.0.2                nat-traversal socket, exposes "blob", "echo",
                                    "iperf"
    relayR 198.51.100.70            public (dedicated-address), relay: true; its
                                    uplink shaped to 40 Mbit/s (tc tbf)

- siteA and siteB cannot punch (siteA's NAT maps every destination to
  another port): within 5 s of both announcements they have a channel
  "relayed via relayR" (the figure is printed);
- 64 MiB from siteB's blob arrive at siteA intact (SHA-256); an AF_PACKET
  capture on relayR saw them go by (the UDP bytes) and never the plaintext
  marker the blob is full of; relayR's /metrics count what it relayed;
- iperf3 through the relay against iperf3 from relayR straight to siteB
  over the same shaped uplink (figure printed, goal >= 0.8); with
  relayBytesPerSecond set to 1000000 through the API the relayed flow stays
  near 8 Mbit/s and the drops are counted;
- then siteA's router becomes a cone NAT: a punched channel comes up, new
  connections take it (the relayed channel carries none of their bytes),
  the connection opened through the relay before keeps working, and once
  it is closed the relayed channel is closed too.
"""
import hashlib
import os
import socket
import time

import natnet
import netns
import wvtest as t

MARKER = b"WOVENET-PLAINTEXT-MARKER-9c41e2"
BLOB_PORT, ECHO_PORT, IPERF_PORT = 7001, 7002, 5201
RELAY_V4 = "198.51.100.70"


def blob_bytes(size):
    chunk = MARKER + os.urandom(4096 - len(MARKER))
    return chunk * (size // len(chunk)) + chunk[:size % len(chunk)]


def relayed(agent, site):
    return [c for c in agent.channels(site, "up") if c["path"].startswith("relayed via")]


def chan_bytes(agent, site):
    return {c["id"]: (c["path"], c["bytesSent"] + c["bytesReceived"])
            for c in agent.channels(site)}


def main():
    w = natnet.World()
    ra = natnet.Router(w, "A", "198.51.100.40", "10.1.0", kind="symmetric")
    rb = natnet.Router(w, "B", "203.0.113.50", "10.2.0", kind="cone")
    ha, hb = ra.add_host("siteA"), rb.add_host("siteB")
    hr = w.net.ns("relayR")
    w.inet.attach(hr, RELAY_V4)
    hr.shape("wan", rate="40mbit", burst="64kb", latency="100ms")

    size = 64 << 20
    data = blob_bytes(size)
    t.AppServer(ns=hb, port=7100, blob=data)
    t.AppServer(ns=hb, port=7101)
    hb.spawn(["iperf3", "-s", "-p", str(IPERF_PORT)], os.path.join(t.tmpdir(), "iperfB.log"))
    hr.spawn(["iperf3", "-s", "-p", "5202"], os.path.join(t.tmpdir(), "iperfR.log"))

    r = natnet.site(w, hr, "relayR", [t.public_socket(RELAY_V4, 25890)], extra="relay: true\n")
    b = natnet.site(w, hb, "siteB", [natnet.nat_socket()],
                    exposed=[{"appName": "blob", "appSocket": "tcp:127.0.0.1:7100"},
                             {"appName": "echo", "appSocket": "tcp:127.0.0.1:7101"},
                             {"appName": "iperf", "appSocket": f"tcp:127.0.0.1:{IPERF_PORT}"}])
    a = natnet.site(w, ha, "siteA", [natnet.nat_socket()],
                    remote=[{"siteName": "siteB", "appName": n, "localSocket": f"tcp:127.0.0.1:{p}"}
                            for n, p in (("blob", BLOB_PORT), ("echo", ECHO_PORT),
                                         ("iperf", IPERF_PORT))])

    via = t.wait_for(lambda: relayed(a, "siteB"), 30, interval=0.05,
                     what="a relayed channel from siteA to siteB")
    t.check(via[0]["path"] == "relayed via relayR", f"siteA's channel to siteB: {via[0]['path']}")
    took = natnet.up_after_stun(a, b, r"to siteB is up \(.*relayed", r"to siteA is up \(.*relayed")
    print(f"  FIGURE relay fallback: first relayed channel up {took:.3f} s after both "
          f"sites announced their STUN candidates (goal <= 5 s)")
    t.check(took <= 5.0, "relayed within 5 s of both announcements")
    t.check(not [c for c in a.channels("siteB", "up") if c["path"] == "punched"],
            "no punched channel through the symmetric NAT")
    t.check(natnet.candidates(a, "relayR") == {}, "relayR announces a plain public socket")
    t.wait_for(lambda: relayed(b, "siteA"), 10, what="siteB's relayed channel too")

    cap = natnet.Capture(hr, MARKER)
    t.wait_for(lambda: ha.tcp_accepts(BLOB_PORT), 10, what="siteA's blob listener")
    t0 = time.monotonic()
    got = ha.call(t.recv_all, BLOB_PORT, 120)
    secs = time.monotonic() - t0
    t.check(hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
            f"64 MiB through the relay intact by SHA-256 ({len(got)} bytes, "
            f"{len(got) * 8 / secs / 1e6:.1f} Mbit/s)")
    time.sleep(0.5)
    print(f"  capture on relayR: {cap.frames} frames, {cap.udp_bytes} UDP bytes, "
          f"marker seen {cap.found} times")
    t.check(cap.udp_bytes >= size, "the capture on relayR saw the relayed bytes go by")
    t.check(cap.found == 0, "the capture on relayR contains no plaintext marker")
    cap.stop()
    _, metrics, _ = r.api("GET", "/metrics")
    fwd = [l for l in metrics.splitlines() if l.startswith("wovenet_relay_forwarded_bytes_total")]
    n = float(fwd[0].split()[-1]) if fwd else 0
    t.check(n >= size, f"relayR counts the bytes it relayed ({n:.0f})")

    # Throughput: relayed (siteA -> relayR -> siteB) against relayR -> siteB
    # straight, both limited by relayR's shaped uplink.
    direct = netns.iperf_mbps(netns.iperf_json(hb, ["-c", RELAY_V4, "-p", "5202", "-R",
                                                    "-t", "6"]))
    natnet.wait_listening(a, "iperf")
    rel = netns.iperf_mbps(netns.iperf_json(ha, ["-c", "127.0.0.1", "-p", str(IPERF_PORT),
                                                 "-t", "6"]))
    print(f"  FIGURE relay throughput: {rel:.1f} Mbit/s relayed vs {direct:.1f} Mbit/s from the "
          f"relay straight over its 40 Mbit/s uplink: {rel / direct:.2f}x (goal >= 0.8)")
    t.check(rel > 0, "iperf3 through the relay runs")

    # The relay's own limit, live: 1 MB/s (8 Mbit/s) for everything it relays.
    def relay_metric(label):
        for ln in r.api("GET", "/metrics")[1].splitlines():
            if ln.startswith(f"wovenet_relay_dropped_total{{{label}}} "):
                return float(ln.split()[-1])
        return 0.0
    st, body, _ = r.api("PATCH", "/api/v1/site", {"origin": "api",
                                                  "limits": {"relayBytesPerSecond": 1000000}})
    t.check(st == 200, f"relayR's relayBytesPerSecond set to 1000000 through the API ({st})")
    dropped = relay_metric('reason="rate"')
    capped = netns.iperf_mbps(netns.iperf_json(ha, ["-c", "127.0.0.1", "-p", str(IPERF_PORT),
                                                    "-t", "4"]))
    print(f"  relayed with relayBytesPerSecond 1000000: {capped:.1f} Mbit/s")
    t.check(capped < 10.5, f"the relay holds the relayed flow to about 8 Mbit/s ({capped:.1f})")
    t.check(relay_metric('reason="rate"') > dropped,
            "what it did not relay is counted (wovenet_relay_dropped_total{reason=\"rate\"})")
    st, _, _ = r.api("PATCH", "/api/v1/site", {"limits": {"relayBytesPerSecond": 1000000000}})
    t.check(st == 200, "the limit lifted again")

    # A connection through the relay stays open across the upgrade.
    t.wait_for(lambda: ha.tcp_accepts(ECHO_PORT), 10, what="siteA's echo listener")
    held = ha.connect(("127.0.0.1", ECHO_PORT))
    held.sendall(b"before\n")
    t.check(t.recv_until(held, b"before\n") == b"before\n", "a connection through the relay echoes")

    ra.set_nat("cone")
    t_nat = time.monotonic()
    punched = t.wait_for(lambda: [c for c in a.channels("siteB", "up") if c["path"] == "punched"],
                         40, interval=0.2, what="a punched channel after the NAT change")
    print(f"  punched {time.monotonic() - t_nat:.1f} s after the NAT became a cone: "
          f"{punched[0]['remoteAddress']}")
    for ag in (a, b):
        keys = ("[detect]", "punch", "punched", "candidates")
        lines = [ln for ln in ag.log_text().splitlines() if any(k in ln for k in keys)]
        print(f"  {ag.name}'s last punching lines:\n    " + "\n    ".join(lines[-8:]))
    before = chan_bytes(a, "siteB")
    blob = os.urandom(4 << 20)
    back = netns.roundtrip(ha, ECHO_PORT, blob, timeout=60)
    t.check(back == blob, "a new connection after the upgrade echoes 4 MiB intact")
    after = chan_bytes(a, "siteB")
    grew = {i: n - before.get(i, (path, 0))[1] for i, (path, n) in after.items()}
    relay_growth = sum(g for i, g in grew.items() if after[i][0].startswith("relayed"))
    print(f"  bytes per channel during the new connection: "
          f"{[(after[i][0], g) for i, g in grew.items()]}")
    t.check(relay_growth < (1 << 20), "the new connection took the punched path, not the relay")
    held.sendall(b"after\n")
    t.check(t.recv_until(held, b"after\n") == b"after\n",
            "the connection opened through the relay still echoes after the upgrade")
    held.close()
    t.wait_for(lambda: not relayed(a, "siteB") and not relayed(b, "siteA"), 20,
               what="the relayed channels to close once their connection ended")
    t.check(not relayed(a, "siteB") and not relayed(b, "siteA"),
            "the relayed channels are gone once their connection ended")
    t.check(bool([c for c in a.channels("siteB", "up") if c["path"] == "punched"]),
            "siteA keeps its punched channel")


if __name__ == "__main__":
    t.run(main)
