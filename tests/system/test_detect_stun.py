"""Issue 7, public-address detection over STUN, with the real binary (HTTP:
test_detect.py), in network namespaces with documentation addresses:

    home  198.51.100.2          the agent, default route via rtr
    rtr   198.51.100.1 | 203.0.113.254   masquerades UDP to ports 40000-40100
    srv   203.0.113.1, .2       Debian's stund

An autoStunDetect socket whose first STUN server is silent reports the
router's address and the NAT's port (not its own listen port), having given
up the silent server for the second. The binding is the tunnel socket's own,
proven by nftables counters (no conntrack tool needed): every STUN request
the router forwards comes from the socket's port, and the port the server saw
them from is the one the agent reports.
"""
import json
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
    # The router counts the STUN requests it forwards by their source port
    # (the forward hook sees them before the NAT); the server's namespace
    # keeps the source (address, port) of every request it receives.
    rtr.nft("table ip stuncount {\n chain requests {\n type filter hook forward priority 0;\n"
            f" iifname \"lan\" udp dport 3478 udp sport {LISTEN} counter\n"
            f" iifname \"lan\" udp dport 3478 udp sport != {LISTEN} counter\n }}\n}}\n")
    srv.nft("table ip stunseen {\n set src {\n type ipv4_addr . inet_service; flags dynamic;\n }\n"
            " chain in {\n type filter hook input priority 0;\n"
            " udp dport 3478 add @src { ip saddr . udp sport }\n }\n}\n")

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
    rules = json.loads(rtr.run(["nft", "-j", "list", "chain", "ip", "stuncount", "requests"]).stdout)
    counts = [next(e["counter"]["packets"] for e in r["rule"]["expr"] if "counter" in e)
              for r in rules["nftables"] if "rule" in r]
    print(f"STUN requests forwarded by the router: from port {LISTEN}: {counts[0]}, "
          f"from other ports: {counts[1]}")
    t.check(counts[0] >= 1 and counts[1] == 0,
            f"every STUN request leaves home from the tunnel socket's port {LISTEN}")
    seen = json.loads(srv.run(["nft", "-j", "list", "set", "ip", "stunseen", "src"]).stdout)
    elems = next(x["set"] for x in seen["nftables"] if "set" in x).get("elem", [])
    sources = sorted((e["concat"][0], e["concat"][1]) for e in
                     (x.get("elem", x) for x in elems))
    print(f"sources the STUN server saw: {sources}")
    t.check(("203.0.113.254", port) in sources,
            f"the server saw the requests from the reported mapping 203.0.113.254:{port}: "
            "the NAT binding is the tunnel socket's own")
    t.check("STUN server 203.0.113.9:3478: no answer" in a.log_text(),
            "the silent first server was given up for the second")


if __name__ == "__main__":
    t.run(main)
