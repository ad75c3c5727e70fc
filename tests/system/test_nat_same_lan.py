"""Issue 20: two sites behind the same home router (one LAN, one NAT), both
with a nat-traversal socket. The router even hairpins: a packet from the
LAN to its public address and a site's port comes back into the LAN
(DNAT + masquerade), so the STUN candidates are reachable too (the
hairpin rule counts the dials of them). The sites must use their host
addresses, not the hairpin:

- every up channel between them is "direct" and goes to the other's LAN
  address;
- 8 MiB echoed through them are intact, and the hairpin rule saw (next to)
  nothing of them: the bytes went over the LAN.
"""
import hashlib
import os
import re

import natnet
import netns
import wvtest as t

ECHO_PORT = 7000


def hairpin_packets(r):
    out = r.ns.run(["nft", "list", "table", "ip", "wvhairpin"]).stdout
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))


def main():
    w = natnet.World()
    r = natnet.Router(w, "C", "198.51.100.60", "10.3.0")
    h1, h2 = r.add_host("siteC1"), r.add_host("siteC2")
    # Hairpin NAT for the two sites' ports (masquerade keeps a free port).
    r.ns.nft("table ip wvhairpin {\n"
             " chain pre { type nat hook prerouting priority -100;"
             f" iifname \"lan\" ip daddr {r.public} udp dport 26098 counter dnat to {h1.lan_ip};"
             f" iifname \"lan\" ip daddr {r.public} udp dport 26099 counter dnat to {h2.lan_ip}; }}\n"
             " chain post { type nat hook postrouting priority 110;"
             " oifname \"lan\" ip saddr 10.3.0.0/24 ip daddr 10.3.0.0/24 ct status dnat"
             " counter masquerade; }\n}\n")
    echo = t.AppServer(ns=h2, port=7100)
    c2 = natnet.site(w, h2, "siteC2", [natnet.nat_socket(26099)],
                     exposed=[{"appName": "echo", "appSocket": "tcp:127.0.0.1:7100"}])
    c1 = natnet.site(w, h1, "siteC1", [natnet.nat_socket(26098)],
                     remote=[{"siteName": "siteC2", "appName": "echo",
                              "localSocket": f"tcp:127.0.0.1:{ECHO_PORT}"}])

    cands = t.wait_for(lambda: natnet.candidates(c1, "siteC2").get("stun") and
                       natnet.candidates(c1, "siteC2"), 30, what="siteC2's candidates at siteC1")
    print(f"  siteC1 lists siteC2's candidates {cands}")
    t.check(cands["stun"] == [f"{r.public}:26099"],
            "siteC2's STUN candidate is the shared router's public address")
    t.check(cands.get("host") == [f"{h2.lan_ip}:26099"], "its host candidate is its LAN address")

    def only_direct():
        a, b = c1.channels("siteC2", "up"), c2.channels("siteC1", "up")
        return (a, b) if a and b and all(x["path"] == "direct" for x in a + b) else None
    # A hairpinned STUN candidate may complete first (the direct path waits
    # for ARP); the host candidate is preferred and replaces it at once.
    a, b = t.wait_for(only_direct, 30, what="only direct channels both ways")
    t.check(hairpin_packets(r) > 0, "the STUN candidates were tried: the hairpin rule saw them")
    t.wait_for(lambda: h1.tcp_accepts(ECHO_PORT), 10, what="siteC1's echo listener")
    blob = os.urandom(8 << 20)
    before = hairpin_packets(r)
    back = netns.roundtrip(h1, ECHO_PORT, blob, timeout=60)
    t.check(hashlib.sha256(back).digest() == hashlib.sha256(blob).digest(),
            "8 MiB echoed between the two sites intact (SHA-256)")
    after = hairpin_packets(r)
    up1, up2 = c1.channels("siteC2", "up"), c2.channels("siteC1", "up")
    print(f"  siteC1's up channels: {[(x['path'], x['remoteAddress']) for x in up1]}; "
          f"siteC2's: {[(x['path'], x['remoteAddress']) for x in up2]}; "
          f"hairpin packets {before} -> {after}")
    t.check(up1 and all(x["path"] == "direct" and x["remoteAddress"] == f"{h2.lan_ip}:26099"
                        for x in up1),
            "every up channel of siteC1 is direct, to siteC2's LAN address")
    t.check(up2 and all(x["path"] == "direct" and x["remoteAddress"] == f"{h1.lan_ip}:26098"
                        for x in up2),
            "every up channel of siteC2 is direct, to siteC1's LAN address")
    t.check(after - before < 50, f"the 8 MiB did not go through the hairpin ({after - before} "
            "packets there meanwhile)")


if __name__ == "__main__":
    t.run(main)
