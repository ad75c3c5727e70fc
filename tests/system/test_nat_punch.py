"""Issue 20: two sites, each behind its own home router with an
endpoint-independent NAT (nftables masquerade) and a firewall, no port
forwarded, the broker and a STUN server on the internet (natnet.py):

    rtrA 198.51.100.40 | 10.1.0.1     siteA 10.1.0.2   nat-traversal socket
    rtrB 203.0.113.50  | 10.2.0.1     siteB 10.2.0.2   nat-traversal socket,
                                                       exposes iperf3 and an echo

- each site announces its candidates: its host address and the mapping
  STUN learned from the socket (the router's address);
- the sites punch through both NATs, coordinated over their inboxes: an up
  channel with path "punched" at each side, through the routers' public
  addresses;
- iperf3 through it completes with every byte, and 8 MiB echoed through it
  are intact (SHA-256);
- the first punched channel is up within 3 s of both sites announcing their
  STUN candidates (from the agents' logs; the figure is printed);
- with both routers forgetting an idle UDP flow after 8 s, both still map
  the punched flow after 12 s of quiet: keepAlive 3 s holds the mappings.
"""
import hashlib
import os
import time

import natnet
import netns
import wvtest as t

ECHO_PORT = 7000
IPERF_PORT = 5201


def main():
    w = natnet.World()
    ra = natnet.Router(w, "A", "198.51.100.40", "10.1.0")
    rb = natnet.Router(w, "B", "203.0.113.50", "10.2.0")
    ha, hb = ra.add_host("siteA"), rb.add_host("siteB")
    echo = t.AppServer(ns=hb, port=7100)
    iperf = hb.spawn(["iperf3", "-s", "-p", str(IPERF_PORT)], os.path.join(t.tmpdir(), "iperf.log"))
    b = natnet.site(w, hb, "siteB", [natnet.nat_socket(keepAlive=3)],
                    exposed=[{"appName": "echo", "appSocket": "tcp:127.0.0.1:7100"},
                             {"appName": "iperf", "appSocket": f"tcp:127.0.0.1:{IPERF_PORT}"}])
    a = natnet.site(w, ha, "siteA", [natnet.nat_socket(keepAlive=3)],
                    remote=[{"siteName": "siteB", "appName": "echo",
                             "localSocket": f"tcp:127.0.0.1:{ECHO_PORT}"},
                            {"siteName": "siteB", "appName": "iperf",
                             "localSocket": f"tcp:127.0.0.1:{IPERF_PORT}"}])

    def both_listed():
        ca, cb = natnet.candidates(a, "siteB"), natnet.candidates(b, "siteA")
        return (ca, cb) if ca.get("stun") and cb.get("stun") else None
    ca, cb = t.wait_for(both_listed, 30, interval=0.05, what="both sites' STUN candidates")
    print(f"  siteA lists siteB's candidates {ca}; siteB lists siteA's {cb}")
    t.check(ca.get("host") == ["10.2.0.2:26098"], "siteB's host candidate is its LAN address")
    t.check(len(ca["stun"]) == 1 and ca["stun"][0].startswith("203.0.113.50:"),
            "siteB's STUN candidate is its router's public address")
    t.check(len(cb["stun"]) == 1 and cb["stun"][0].startswith("198.51.100.40:"),
            "siteA's STUN candidate is its router's public address")

    first = t.wait_for(lambda: natnet.up_with_path(a, "siteB", "punched") or
                       natnet.up_with_path(b, "siteA", "punched"), 30, interval=0.02,
                       what="a punched channel")
    took = natnet.up_after_stun(a, b, r"is up \(.*punched", r"is up \(.*punched")
    print(f"  FIGURE punch: first punched channel up {took:.3f} s after both sites "
          f"announced their STUN candidates (goal <= 3 s): {first[0]['remoteAddress']}")
    t.check(took <= 3.0, "punched within 3 s of both announcements")
    pa = t.wait_for(lambda: natnet.up_with_path(a, "siteB", "punched"), 20,
                    what="siteA's punched channel")
    pb = t.wait_for(lambda: natnet.up_with_path(b, "siteA", "punched"), 20,
                    what="siteB's punched channel")
    t.check(all(c["remoteAddress"].startswith("203.0.113.50:") for c in pa),
            "siteA's punched channels go to siteB's router's public address")
    t.check(all(c["remoteAddress"].startswith("198.51.100.40:") for c in pb),
            "siteB's punched channels come from siteA's router's public address")
    t.check(all(c["path"] != "relayed" for c in a.channels("siteB")), "nothing is relayed")
    _, st, _ = a.api("GET", "/metrics")
    t.check('path="punched"' in (st if isinstance(st, str) else ""),
            "/metrics labels the channel path=\"punched\"")

    st = ha.run([t.BIN, "status", "--api", f"http://127.0.0.1:{a.api_port}"], check=False)
    t.check(st.returncode in (0, 1) and "punched" in st.stdout,
            "wovenet status shows the punched path")

    natnet.wait_listening(a, "iperf")
    # iperf3's server stops counting at the client's TEST_END, so what the
    # tunnel's buffers still hold then (a few MiB) is not counted as
    # received; integrity is the echo's SHA-256 below.
    rep = netns.iperf_json(ha, ["-c", "127.0.0.1", "-p", str(IPERF_PORT), "-t", "4", "-P", "2"])
    sent = rep["end"]["sum_sent"]["bytes"]
    got = rep["end"]["sum_received"]["bytes"]
    t.check(sent > 0 and got >= 0.95 * sent and len(rep["end"]["streams"]) == 2,
            f"iperf3 -P 2 -t 4 through the punched channel: {got} of {sent} bytes received, "
            f"{netns.iperf_mbps(rep):.0f} Mbit/s")
    blob = os.urandom(8 << 20)
    back = netns.roundtrip(ha, ECHO_PORT, blob, timeout=60)
    t.check(hashlib.sha256(back).digest() == hashlib.sha256(blob).digest(),
            "8 MiB echoed through the punched channel intact (SHA-256)")
    t.check(iperf.poll() is None, "iperf3 server still runs")

    # The keep-alive holds the NATs' mappings: both routers now forget an
    # idle UDP flow after 8 s; after 12 s of quiet (one echo refreshes the
    # entries under the new timeout first) each still holds the flow
    # between the two public addresses, and the channels still carry a
    # connection. (With a keep-alive above 8 s the entries are gone.)
    for r in (ra, rb):
        r.ns.sysctl("net.netfilter.nf_conntrack_udp_timeout", 8)
        r.ns.sysctl("net.netfilter.nf_conntrack_udp_timeout_stream", 8)
    netns.roundtrip(ha, ECHO_PORT, b"refresh\n", timeout=10)
    ids = {c["id"] for c in natnet.up_with_path(a, "siteB", "punched")}
    time.sleep(12)

    def flow(r, dst):
        out = r.ns.run(["conntrack", "-L", "-p", "udp"], check=False).stdout
        return [ln for ln in out.splitlines() if f"dst={dst} " in ln and "dport=26098" in ln]
    fa, fb = flow(ra, "203.0.113.50"), flow(rb, "198.51.100.40")
    t.check(fa and fb, f"after 12 s of quiet both NATs still map the punched flow "
            f"(keepAlive 3 s, NAT timeout 8 s): {len(fa)} + {len(fb)} entries")
    still = {c["id"] for c in natnet.up_with_path(a, "siteB", "punched")}
    t.check(ids and ids <= still, f"the punched channels {sorted(ids)} are still up")
    back = netns.roundtrip(ha, ECHO_PORT, b"still there\n", timeout=5)
    t.check(back == b"still there\n", "and still carry a connection")


if __name__ == "__main__":
    t.run(main)
