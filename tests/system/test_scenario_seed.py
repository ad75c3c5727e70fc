"""Scenario 1, the seed (release-public-ip), in network namespaces.

The "aws" site (vps: private IPv4 behind outbound-only NAT, public IPv6 on a
dedicated-address socket) and the "local" site (home: behind a router that
port-forwards UDP 203.0.113.30:36092 -> 192.168.1.2:26098) run from the
seed's two YAML files as written; the broker is in a third namespace.

- home shows two up channels to aws: one over IPv4 (dialed by aws through
  both NATs), one over IPv6 (dialed by home);
- iperf3 -P 10 -t 10 from home through the tunnel to the vps's iperf3 works,
  and each channel carries >= 15% of the bytes (split printed);
- with both WAN uplinks shaped to 100 Mbit/s (tc tbf), iperf3 -P 10 directly
  over IPv6 and through the tunnel, in the same run over the same links:
  both stay under the rate (<= 105 Mbit/s: the shaping is what limits them,
  and the tunnel's traffic really crossed the shaped links), and the tunnel
  gets >= 95 % of the direct throughput (the issue's target; measured 98-99 %
  on this machine under load).
"""
import time

RATE_MBIT = 100
RATIO = 0.95

import netns
import seednet
import wvtest as t


def chan_bytes(agent, site):
    return {c["id"]: (c["family"], c["bytesSent"] + c["bytesReceived"])
            for c in agent.channels(site)}


def main():
    w = seednet.SeedNet()
    started = time.monotonic()
    aws, local = w.start_sites()

    up = w.wait_two_channels()
    print(f"  two up channels {time.monotonic() - started:.1f} s after start")
    fams = sorted(c["family"] for c in up)
    t.check_eq(fams, ["ipv4", "ipv6"], "local's two channels to aws: one IPv4, one IPv6")
    v4 = next(c for c in up if c["family"] == "ipv4")
    v6 = next(c for c in up if c["family"] == "ipv6")
    print(f"  ipv4 channel {v4['direction']} {v4['localAddress']} <- {v4['remoteAddress']}; "
          f"ipv6 channel {v6['direction']} {v6['localAddress']} -> {v6['remoteAddress']}")
    t.check(v4["direction"] == "inbound" and v4["remoteAddress"].startswith("198.51.100.20"),
            "the IPv4 channel was dialed by aws through its NAT and home's port forwarding")
    t.check(v6["direction"] == "outbound" and seednet.VPS_V6 in v6["remoteAddress"],
            "the IPv6 channel was dialed by local to aws's public IPv6 address")

    w.start_iperf_servers()

    before = chan_bytes(local, "aws")
    rep = netns.iperf_json(w.home, ["-c", "127.0.0.1", "-p", "5201", "-P", "10", "-t", "10"])
    after = chan_bytes(local, "aws")
    mbps = netns.iperf_mbps(rep)
    t.check(rep["end"]["sum_received"]["bytes"] > 0 and len(rep["end"]["streams"]) == 10,
            f"iperf3 -P 10 -t 10 through the tunnel: {mbps:.1f} Mbit/s received")
    split = {}
    for cid, (fam, b) in after.items():
        split[fam] = split.get(fam, 0) + b - before.get(cid, (fam, 0))[1]
    total = sum(split.values()) or 1
    share = {f: split.get(f, 0) / total for f in ("ipv4", "ipv6")}
    print(f"  channel split: ipv4 {split.get('ipv4', 0)} B ({share['ipv4']:.1%}), "
          f"ipv6 {split.get('ipv6', 0)} B ({share['ipv6']:.1%})")
    t.check(share["ipv4"] >= 0.15 and share["ipv6"] >= 0.15,
            "each channel carries >= 15% of the bytes")

    # Both WAN uplinks shaped: the tunnel vs direct IPv6 over the same links.
    w.shape_wan(f"{RATE_MBIT}mbit")
    direct = netns.iperf_mbps(netns.iperf_json(
        w.home, ["-c", seednet.VPS_V6, "-p", "5202", "-P", "10", "-t", "8"]))
    tun = netns.iperf_mbps(netns.iperf_json(
        w.home, ["-c", "127.0.0.1", "-p", "5201", "-P", "10", "-t", "8"]))
    print(f"  BENCH seed shaped {RATE_MBIT} Mbit/s: direct IPv6 {direct:.1f} Mbit/s, tunnel "
          f"{tun:.1f} Mbit/s, ratio {tun / direct:.1%} (issue target >= {RATIO:.0%})")
    # Upper bounds: the shaping limits both (were one above the rate, the
    # ratio would not compare the tunnel with the shaped path).
    t.check(0 < direct <= RATE_MBIT * 1.05,
            f"the shaping limits direct IPv6 to {direct:.1f} <= {RATE_MBIT * 1.05:.0f} Mbit/s")
    t.check(0 < tun <= RATE_MBIT * 1.05,
            f"the tunnel's traffic crosses the shaped links: {tun:.1f} <= "
            f"{RATE_MBIT * 1.05:.0f} Mbit/s")
    t.check(tun >= RATIO * direct, f"through the shaped links the tunnel gets {tun / direct:.1%} "
            f"of the direct throughput (>= {RATIO:.0%})")


t.run(main)
