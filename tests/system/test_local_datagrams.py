"""Loopback-sized datagrams, and what happens when the path is narrower.

A peer at one of the host's own addresses gets 32000-byte datagrams (the
route is the loopback device; since ngtcp2 1.x PMTUD finds that size by
probing, before it was guessed from the route; docs/QUIC.md).

1. Where a local-looking route is not the path: a router that runs a site and forwards one of
   its own public ports to a site behind it. "router" dials "inside" at its
   own public address 198.51.100.1, which its nftables OUTPUT rule forwards
   (DNAT) over a LAN link of MTU 1500 to 203.0.113.2. The bytes must arrive
   intact (the kernel fragments, or refuses with EMSGSIZE once it knows the
   path MTU, and the agent then sends 1452-byte datagrams).
2. Deterministically: two sites on lo, channel up with 32000-byte datagrams,
   then lo's MTU drops to 1500. Every big datagram now fails with EMSGSIZE;
   the agents must go down to 1452 and carry on, bytes intact.
"""
import os

import netns
import wvtest as t

KEY = "local-datagrams-key-5e2a"
PORT = 25000


def main():
    net = netns.Net()
    router = net.ns("router")
    inside = net.ns("inside")
    netns.lan(net, router, inside, "203.0.113.1", "203.0.113.2")
    # Its public address (no uplink needed here; this kernel has no dummy
    # device, and an address on lo is as local).
    router.addr("lo", "198.51.100.1/32")
    # The router's own traffic to its public port goes to the inside host,
    # as a port forward seen from the router itself (hairpin).
    router.nft(f"table ip wvhair {{\n chain out {{ type nat hook output priority -100;"
               f" ip daddr 198.51.100.1 udp dport {PORT} dnat to 203.0.113.2:{PORT}; }}\n}}\n")
    mq = netns.NsMosquitto(router, "203.0.113.1")

    svc = t.AppServer(ns=inside, greeting=b"inside\n")
    b = netns.NsAgent(inside, "inside", config=t.site_yaml(
        "inside", key=KEY, broker=mq.url, topic="wvtest/localdgram",
        sockets=[t.public_socket("198.51.100.1", PORT, mode="port-forwarding",
                                 listenPort=PORT)],
        exposed=[{"appName": "svc", "appSocket": f"tcp:127.0.0.1:{svc.port}"}]))
    # No tunnel socket: the router only dials.
    a = netns.NsAgent(router, "router", config=t.site_yaml(
        "router", key=KEY, broker=mq.url, topic="wvtest/localdgram",
        remote=[{"siteName": "inside", "appName": "svc", "localSocket": "tcp:127.0.0.1:8080"}]))

    t.wait_for(lambda: len(a.channels("inside", "up")) == 1, 20, interval=0.2,
               what="the router's channel to inside")
    t.wait_for(lambda: router.tcp_accepts(8080), 10, what="the remote app's listener")
    data = os.urandom(4 << 20)
    got = netns.roundtrip(router, 8080, data)
    t.check(got == b"inside\n" + data, f"4 MiB echoed intact through the hairpin ({len(got)} bytes)")
    sizes = [c["maxUdpPayload"] for c in a.channels("inside", "up")]
    # 32000 while the kernel fragments; at most 1472 once it knows the path
    # MTU (1500 - 28, the route's MTU when the channel is made, or 1452
    # after an EMSGSIZE).
    t.check(len(sizes) == 1 and (sizes[0] == 32000 or 1200 <= sizes[0] <= 1472),
            f"the router's channel sends 32000-byte datagrams or ones that fit the path ({sizes})")
    t.check_eq([c["maxUdpPayload"] for c in b.channels("router")], [1452],
               "inside (no local route to the router) sends 1452-byte datagrams")
    got = netns.roundtrip(router, 8080, data)
    t.check(got == b"inside\n" + data, "a second 4 MiB echo intact")

    # --- 2. The loopback route narrows under a live channel ------------------
    solo = net.ns("solo")
    mq2 = netns.NsMosquitto(solo, "127.0.0.1")
    svc2 = t.AppServer(ns=solo, greeting=b"solo\n")
    c = netns.NsAgent(solo, "one", api_port=18081, config=t.site_yaml(
        "one", key=KEY, broker=mq2.url, topic="wvtest/localdgram2",
        sockets=[t.tunnel_socket(25001)],
        exposed=[{"appName": "svc", "appSocket": f"tcp:127.0.0.1:{svc2.port}"}]))
    d = netns.NsAgent(solo, "two", api_port=18082, config=t.site_yaml(
        "two", key=KEY, broker=mq2.url, topic="wvtest/localdgram2",
        sockets=[t.tunnel_socket(25002)],
        remote=[{"siteName": "one", "appName": "svc", "localSocket": "tcp:127.0.0.1:8090"}]))
    t.wait_for(lambda: len(c.channels("two", "up")) == 2 and len(d.channels("one", "up")) == 2,
               20, interval=0.2, what="two up channels between the local sites")
    t.check_eq(sorted(x["maxUdpPayload"] for x in d.channels("one")), [32000, 32000],
               "sites on lo start with 32000-byte datagrams")
    t.wait_for(lambda: solo.tcp_accepts(8090), 10, what="the remote app's listener")
    got = netns.roundtrip(solo, 8090, data)
    t.check(got == b"solo\n" + data, "4 MiB echoed intact at 32000 bytes")
    def sent():
        return {(who, x["id"]): x for who, ag, peer in (("one", c, "two"), ("two", d, "one"))
                for x in ag.channels(peer)}
    before = sent()
    solo.sh("ip link set lo mtu 1500")
    got = netns.roundtrip(solo, 8090, data, timeout=30)
    t.check(got == b"solo\n" + data, f"4 MiB echoed intact after lo's MTU fell to 1500"
            f" ({len(got)} bytes)")
    after = sent()
    moved = [x["maxUdpPayload"] for k, x in after.items()
             if k in before and x["bytesSent"] - before[k]["bytesSent"] > len(data)]
    t.check(len(moved) == 2 and all(x == 1452 for x in moved),
            f"both ends of the channel that carried the data now send 1452-byte datagrams"
            f" ({moved})")
    t.check("the path refused 32000-byte datagrams; sending 1452" in c.log_text() + d.log_text(),
            "the agents log why")


t.run(main)
