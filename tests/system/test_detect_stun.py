"""Issue 7, public-address detection over STUN, with the real binary (HTTP:
test_detect.py), in network namespaces with documentation addresses:

    home  198.51.100.2          the agent, default route via rtr
    rtr   198.51.100.1 | 203.0.113.254   masquerades UDP to ports 40000-40100
    srv   203.0.113.1, .2       Debian's stund

An autoStunDetect socket whose first STUN server is silent reports the
router's address and the NAT's port (not its own listen port), having given
up the silent server for the second.
"""
import os
import time

import netns
import wvtest as t

KEY = "detect-network-key-4411"
LISTEN = 25890


def main():
    net = netns.Net()
    home, rtr, srv = net.ns("home"), net.ns("rtr"), net.ns("srv")
    netns.lan(net, rtr, home, "198.51.100.1", "198.51.100.2")
    net.link(rtr, "wan", srv, "eth0")
    rtr.addr("wan", "203.0.113.254/24")
    srv.addr("eth0", "203.0.113.1/24")
    srv.addr("eth0", "203.0.113.2/24")
    rtr.nft("table ip nat {\n chain post {\n type nat hook postrouting priority 100;\n"
            " oifname \"wan\" meta l4proto udp masquerade to :40000-40100\n }\n}\n")

    stund = srv.spawn(["stund", "-h", "203.0.113.1", "-a", "203.0.113.2"],
                      os.path.join(t.tmpdir(), "stund.log"))
    time.sleep(0.3)
    t.check(stund.poll() is None, "stund runs in the server namespace")

    a = netns.NsAgent(home, "stun", config=t.site_yaml("siteHome", key=KEY,
                                                       topic="wvtest/detect-stun"))
    sock = {"name": "st1", "mode": "dedicated-address", "publicAddress": "autoStunDetect",
            "listenAddress": "0.0.0.0", "listenPort": LISTEN,
            "stunServers": ["203.0.113.9:3478", "203.0.113.1:3478"]}
    _, r, _ = a.api("POST", "/api/v1/tunnel-sockets", sock)
    t.check(isinstance(r, dict) and r.get("name") == "st1", f"autoStunDetect socket accepted ({r})")

    def detected():
        _, o, _ = a.api("GET", "/api/v1/tunnel-sockets/st1")
        d = (o or {}).get("status", {}).get("detection", {})
        return d if d.get("state") == "detected" else None
    d = t.wait_for(detected, 20, what="STUN detection")
    print(f"STUN status: {d}")
    t.check(d.get("publicAddress") == "203.0.113.254",
            f"mapped address is the router's public address ({d.get('publicAddress')})")
    port = d.get("publicPort", 0)
    t.check(40000 <= port <= 40100 and port != LISTEN,
            f"mapped port {port} is the NAT's (40000-40100), not the socket's {LISTEN}")
    conntrack = rtr.run(["cat", "/proc/net/nf_conntrack"], check=False).stdout
    if conntrack:
        t.check(f"sport={LISTEN}" in conntrack, "the NAT binding is the tunnel socket's own")
    else:
        print("(no /proc/net/nf_conntrack in the router namespace: binding source not checked)")
    t.check("STUN server 203.0.113.9:3478: no answer" in a.log_text(),
            "the silent first server was given up for the second")


if __name__ == "__main__":
    t.run(main)
