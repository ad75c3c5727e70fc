"""Scenario 5, network performance, in the seed's namespaces.

Both WAN uplinks shaped (tc tbf 100 Mbit/s) with 1% random loss each
(nftables numgen; this kernel has no netem). iperf3 -P 4 home -> vps
through the tunnel (both channels) vs direct TCP over IPv6 on the same
links; the figures and the ratio are printed, not asserted. A benchmark,
not a test: label "bench", left out of scripts/test; run it with
`ctest -L bench` (it still fails when iperf3 did not run or a channel fell).
"""
import netns
import seednet
import wvtest as t

RATE = "100mbit"
LOSS = 1


def main():
    w = seednet.SeedNet()
    aws, local = w.start_sites()
    w.wait_two_channels()
    w.start_iperf_servers()
    w.shape_wan(RATE)
    w.router.loss("wan", LOSS)
    w.vpsnat.loss("wan", LOSS)
    direct = netns.iperf_json(w.home, ["-c", seednet.VPS_V6, "-p", "5202", "-P", "4", "-t", "8"])
    tun = netns.iperf_json(w.home, ["-c", "127.0.0.1", "-p", "5201", "-P", "4", "-t", "8"])
    d, u = netns.iperf_mbps(direct), netns.iperf_mbps(tun)
    retr = direct["end"]["sum_sent"].get("retransmits", 0)
    print(f"  BENCH perf {RATE} + {LOSS}% loss per uplink: direct TCP/IPv6 {d:.1f} Mbit/s "
          f"({retr} retransmits), tunnel {u:.1f} Mbit/s, ratio {u / d:.1%}")
    up = local.channels("aws")
    print("  channels after: " + ", ".join(
        f"{c['family']} {c['state']} rtt {c['rttMs']:.1f} ms" for c in up))
    t.check(u > 0 and d > 0, "iperf3 ran both through the tunnel and directly")
    t.check(len(local.channels("aws", "up")) == 2, "both channels still up under loss")


t.run(main)
