"""Issue 20: a router running real miniupnpd (Debian's, nftables backend)
as the home NAT; the site behind it asks for a port mapping.

    rtrM 198.51.100.80 | 10.4.0.1   masquerade + firewall + miniupnpd
      siteM 10.4.0.2                nat-traversal socket, portMapping upnp
                                    (lifetime 30 s), exposes "echo"
    peerP 203.0.113.90              a public site with a remote app of siteM's

- the mapping is made: miniupnpd's lease file and its DNAT rule hold UDP
  26098 -> 10.4.0.2, siteM's socket status says "mapped";
- it is announced: peerP (started once the mapping is there) lists a
  "mapped" candidate 198.51.100.80:26098 (and no STUN candidate of the same
  address), and dials it: an up channel with path "mapped", and the echo
  through it is intact (no punching needed);
- it is renewed: within the lifetime, siteM renews it (the status counts a
  renewal, miniupnpd's lease expiry moves on);
- it is removed at shutdown: once siteM stopped, neither the lease file nor
  the rules hold it.
Then the same with portMapping natpmp (NAT-PMP to the same miniupnpd).
"""
import hashlib
import os
import re
import time

import natnet
import netns
import wvtest as t

PUBLIC = "203.0.113.90"


def mapping(agent):
    st, o, _ = agent.api("GET", "/api/v1/tunnel-sockets")
    if st != 200:
        return None
    for s in o:
        if s.get("mode") == "nat-traversal":
            return s.get("status", {}).get("portMapping")
    return None


def expiry(upnp):
    for line in upnp.lease_lines():
        m = re.match(r"UDP:26098:[^:]+:26098:(\d+):", line)
        if m:
            return int(m.group(1))
    return None


def run_method(w, r, upnp, hp, method, app_port):
    hm = r.hosts[0]
    m = natnet.site(w, hm, "siteM", [natnet.nat_socket(portMapping=method,
                                                       portMappingLifetime=30)],
                    exposed=[{"appName": "echo", "appSocket": "tcp:127.0.0.1:7100"}])
    try:
        pm = t.wait_for(lambda: (mapping(m) or {}).get("state") == "mapped" and mapping(m), 20,
                        what=f"siteM's {method} mapping")
    except t.Fail:
        print("\n".join(l for l in m.log_text().splitlines() if "[portmap]" in l))
        raise
    print(f"  {method}: siteM's mapping {pm}; leases {upnp.lease_lines()}")
    t.check(pm["publicAddress"] == r.public and pm["publicPort"] == 26098,
            f"{method}: the router maps {r.public}:26098 to siteM")
    t.check(any(":26098:10.4.0.2:26098:" in l for l in upnp.lease_lines()),
            f"{method}: miniupnpd's lease file holds UDP 26098 -> 10.4.0.2:26098")
    t.check("26098" in upnp.rules() and "10.4.0.2" in upnp.rules(),
            f"{method}: miniupnpd's DNAT rule is in the router's ruleset")

    # The peer starts once the mapping is there: its channel is made
    # through the mapping (not through a hole siteM's own dial opened).
    peer = natnet.site(w, hp, "peerP", [t.public_socket(PUBLIC, 25890)],
                       remote=[{"siteName": "siteM", "appName": "echo",
                                "localSocket": f"tcp:127.0.0.1:{app_port}"}])
    peer.ns = hp
    cands = t.wait_for(lambda: natnet.candidates(peer, "siteM").get("mapped") and
                       natnet.candidates(peer, "siteM"), 20, what="siteM's mapped candidate")
    t.check(cands["mapped"] == [f"{r.public}:26098"],
            f"{method}: peerP lists the mapped candidate {cands['mapped']}")
    t.check(not cands.get("stun"), f"{method}: no separate STUN candidate for the same address")
    try:
        chans = t.wait_for(lambda: natnet.up_with_path(peer, "siteM", "mapped"), 20,
                           what="peerP's mapped channel")
    except t.Fail:
        for ag in (peer, m):
            print("\n".join(l for l in ag.log_text().splitlines() if "[tunnel]" in l or "[quic]" in l))
        print(upnp.rules())
        raise
    t.check(chans[0]["direction"] == "outbound" and
            chans[0]["remoteAddress"] == f"{r.public}:26098",
            f"{method}: peerP's channel through the mapping: path mapped, "
            f"{chans[0]['remoteAddress']}")
    t.wait_for(lambda: peer.ns.tcp_accepts(app_port), 10, what="peerP's echo listener")
    blob = os.urandom(1 << 20)
    back = netns.roundtrip(peer.ns, app_port, blob, timeout=30)
    t.check(hashlib.sha256(back).digest() == hashlib.sha256(blob).digest(),
            f"{method}: 1 MiB echoed through the mapped channel intact")

    first = expiry(upnp) if method == "upnp" else None
    renewed = t.wait_for(lambda: (mapping(m) or {}).get("renewals", 0) >= 1 and mapping(m), 30,
                         what=f"the {method} mapping renewed")
    t.check(renewed["renewals"] >= 1, f"{method}: renewed within its 30 s lifetime")
    if first is not None:
        t.wait_for(lambda: (expiry(upnp) or 0) > first, 5, what="a later lease expiry")
        t.check(True, f"{method}: miniupnpd's lease expiry moved on ({first} -> {expiry(upnp)})")
    _, metrics, _ = m.api("GET", "/metrics")
    t.check(re.search(r"^wovenet_port_mapping_renewals_total [1-9]", metrics, re.M) is not None,
            f"{method}: /metrics counts the renewal")

    t.check(peer.stop() == 0, f"{method}: peerP stops")
    t.check(m.stop() == 0, f"{method}: siteM stops cleanly")
    gone = t.wait_for(lambda: not any(":26098:" in l for l in upnp.lease_lines()) and
                      "10.4.0.2" not in upnp.rules(), 10, what="the mapping removed")
    t.check(gone, f"{method}: the mapping is removed at the router at shutdown")


def main():
    w = natnet.World()
    r = natnet.Router(w, "M", "198.51.100.80", "10.4.0")
    hm = r.add_host("siteM")
    t.AppServer(ns=hm, port=7100)
    upnp = natnet.Miniupnpd(r)
    hp = w.net.ns("peerP")
    w.inet.attach(hp, PUBLIC)
    run_method(w, r, upnp, hp, "upnp", 7000)
    run_method(w, r, upnp, hp, "natpmp", 7001)


if __name__ == "__main__":
    t.run(main)
