"""Issue 20, the user's scenario (shared/seed/release-public-ip.md) with the
home site behind a carrier-grade NAT: no public IPv4 address at all, so
the seed's port forwarding is impossible. The seed says "once wovenet
supports NAT traversal, the local machine won't need a public IP anymore":

    vpsnat 198.51.100.20, 2001:db8:ffff::20   outbound-only IPv4 NAT, routes IPv6
      vps  10.20.0.2, 2001:db8:20::2            "aws": the seed's dedicated IPv6
                                                 socket + a nat-traversal IPv4 one
    cgn    203.0.113.30, 2001:db8:ffff::30    the carrier: NAT for 10.64.0.0/24,
                                                 routes 2001:db8:30::/64
      rtr  10.64.0.2 | 192.168.1.1              the home router: NAT again
        home 192.168.1.2, 2001:db8:30::2         "local": a nat-traversal IPv4
                                                 socket instead of the forward

(every NAT nftables masquerade with a router's firewall; broker and stund on
the internet). The two configs are the seed's YAML files, with only the
broker, aws's IPv6 address and the sockets changed.

- local's STUN candidate is the carrier's address: home has no public IPv4;
- local reaches the vps over IPv6 (an up direct channel to aws's IPv6
  socket) and over IPv4 through a punched channel across both NATs;
- iperf3 -P 10 through the tunnel runs, and both channels carry bytes.
"""
import os

import natnet
import netns
import wvtest as t

VPS_V6 = "2001:db8:20::2"
CGN_V4 = "203.0.113.30"


def aws_yaml(w):
    y = t.seed_yaml("aws", broker=w.broker, public_address=VPS_V6)
    sock = ("    publicPort: 25890\n"
            "  - mode: nat-traversal\n"
            "    transportProtocol: quic\n"
            "    listenPort: 25891\n"
            f"    stunServers: [\"{natnet.STUN}:3478\"]\n")
    t.check(y.count("    publicPort: 25890\n") == 1, "the seed's aws socket is where expected")
    return y.replace("    publicPort: 25890\n", sock)


def local_yaml(w):
    y = t.seed_yaml("local", broker=w.broker)
    old = ("  - mode: port-forwarding\n"
           "    transportProtocol: quic\n"
           "    publicAddress: 36.106.107.114\n"
           "    publicPort: 36092\n"
           "    listenPort: 26098\n")
    new = ("  - mode: nat-traversal\n"
           "    transportProtocol: quic\n"
           "    listenPort: 26098\n"
           f"    stunServers: [\"{natnet.STUN}:3478\"]\n")
    t.check(y.count(old) == 1, "the seed's local socket (port forwarding) is where expected")
    return y.replace(old, new)


def main():
    w = natnet.World()
    net, inet = w.net, w.inet
    vpsnat, vps = net.ns("vpsnat"), net.ns("vps")
    inet.attach(vpsnat, "198.51.100.20", "2001:db8:ffff::20", routed6=["2001:db8:20::/64"])
    netns.lan(net, vpsnat, vps, "10.20.0.1", "10.20.0.2", "2001:db8:20::1", VPS_V6)
    vpsnat.nft(natnet.nat_rules("wan", "cone"))
    cgn, rtr, home = net.ns("cgn"), net.ns("rtr"), net.ns("home")
    inet.attach(cgn, CGN_V4, "2001:db8:ffff::30", routed6=["2001:db8:30::/64"])
    netns.lan(net, cgn, rtr, "10.64.0.1", "10.64.0.2", "2001:db8:30:ffff::1",
              "2001:db8:30:ffff::2", router_dev="cust", host_dev="wan")
    cgn.route("2001:db8:30::/64 via 2001:db8:30:ffff::2")
    cgn.nft(natnet.nat_rules("wan", "cone"))
    netns.lan(net, rtr, home, "192.168.1.1", "192.168.1.2", "2001:db8:30::1", "2001:db8:30::2")
    rtr.nft(natnet.nat_rules("wan", "cone"))

    logdir = t.tmpdir()
    vps.spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", "5201"], os.path.join(logdir, "iperf"))
    aws = netns.NsAgent(vps, "aws", config=aws_yaml(w))
    local = netns.NsAgent(home, "local", config=local_yaml(w))

    cands = t.wait_for(lambda: natnet.candidates(aws, "local").get("stun") and
                       natnet.candidates(aws, "local"), 30, what="local's candidates at aws")
    print(f"  aws lists local's candidates {cands}")
    t.check(cands["stun"][0].startswith(f"{CGN_V4}:"),
            "local's STUN candidate is the carrier's address (home has no public IPv4)")
    t.check(cands.get("host") == ["192.168.1.2:26098"], "and its host candidate its LAN address")

    def both():
        up = local.channels("aws", "up")
        v6 = [c for c in up if c["family"] == "ipv6" and c["path"] == "direct"]
        v4 = [c for c in up if c["family"] == "ipv4" and c["path"] == "punched"]
        return (v6, v4) if v6 and v4 else None
    v6, v4 = t.wait_for(both, 40, interval=0.2, what="an IPv6 and a punched IPv4 channel")
    print(f"  local's channels to aws: {[(c['family'], c['path'], c['direction'], c['remoteAddress']) for c in local.channels('aws', 'up')]}")
    t.check(any(VPS_V6 in c["remoteAddress"] for c in v6),
            "the vps is reached over IPv6, at aws's public IPv6 socket")
    t.check(all(c["remoteAddress"].startswith("198.51.100.20:") for c in v4),
            "and over IPv4 through a channel punched through both NATs to the vps's NAT")

    natnet.wait_listening(local, "afe87405-0f46-4290-84df-b6034b54761f")

    def fam_bytes():
        return {c["id"]: (c["family"], c["bytesSent"] + c["bytesReceived"])
                for c in local.channels("aws")}
    before = fam_bytes()
    rep = netns.iperf_json(home, ["-c", "127.0.0.1", "-p", "5201", "-P", "10", "-t", "6"])
    after = fam_bytes()
    split = {}
    for cid, (fam, n) in after.items():
        split[fam] = split.get(fam, 0) + n - before.get(cid, (fam, 0))[1]
    total = sum(split.values()) or 1
    print(f"  iperf3 -P 10 through the tunnel: {netns.iperf_mbps(rep):.0f} Mbit/s; split "
          f"ipv4 {split.get('ipv4', 0) / total:.0%}, ipv6 {split.get('ipv6', 0) / total:.0%}")
    t.check(len(rep["end"]["streams"]) == 10 and rep["end"]["sum_received"]["bytes"] > 0,
            "iperf3 -P 10 through the tunnel runs")
    t.check(split.get("ipv4", 0) / total >= 0.1 and split.get("ipv6", 0) / total >= 0.1,
            "both the IPv6 and the punched IPv4 channel carry the traffic (>= 10% each)")


if __name__ == "__main__":
    t.run(main)
