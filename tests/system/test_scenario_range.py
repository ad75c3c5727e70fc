"""Scenario 3, multiple ports (range mode), in network namespaces.

"lan" exposes one range app over 10.77.0.0/29 ports 7001-7003; its backends
are echo servers on distinct addresses and ports inside lan's namespace, each
greeting with its own name. Three client sites (c1 behind a NAT, c2 and c3
public) each reach a different backend through the one app; targets outside
the address range or the port range are refused even though a server listens
there.
"""
import os

import netns
import wvtest as t

KEY = "range-mode-key-51aa"


def main():
    net, inet, mq = netns.internet_with_broker()
    lan = net.ns("lan")
    inet.attach(lan, "198.51.100.50", "2001:db8:ffff::50")
    for i in (1, 2, 3, 9):
        lan.sh(f"ip addr add 10.77.0.{i}/32 dev lo")
    backends = {i: t.AppServer(f"10.77.0.{i}", 7000 + i, ns=lan, greeting=f"backend-{i}\n".encode())
                for i in (1, 2, 3)}
    outside_addr = t.AppServer("10.77.0.9", 7001, ns=lan, greeting=b"outside-address\n")
    outside_port = t.AppServer("10.77.0.1", 7009, ns=lan, greeting=b"outside-port\n")

    netns.NsAgent(lan, "lan", config=t.site_yaml(
        "lan", key=KEY, broker=mq.url, topic="wvtest/range",
        sockets=[t.public_socket("198.51.100.50", 25000),
                 t.public_socket("2001:db8:ffff::50", 25001)],
        exposed=[{"appName": "lanrange", "mode": "range", "addressRange": ["10.77.0.0/29"],
                  "portRange": ["7001-7003"]}]))

    nat = net.ns("nat")
    inet.attach(nat, "203.0.113.32")
    # The whole topology first, agents after: re-plumbing namespaces next to
    # a running agent once broke c1's NATed flows mid-handshake.
    nss = []
    for i in (1, 2, 3):
        c = net.ns(f"c{i}")
        if i == 1:
            netns.lan(net, nat, c, "10.31.0.1", "10.31.0.2")
            nat.masquerade("wan")
        else:
            inet.attach(c, f"198.51.100.{60 + i}", f"2001:db8:ffff::{60 + i}")
        nss.append(c)
    clients = []
    for i, c in enumerate(nss, 1):
        sockets = [] if i == 1 else [t.public_socket(f"198.51.100.{60 + i}")]
        remote = [{"siteName": "lan", "appName": "lanrange",
                   "appSocket": f"tcp:10.77.0.{i}:{7000 + i}", "localSocket": "tcp:127.0.0.1:9000"}]
        if i == 1:
            remote += [{"siteName": "lan", "appName": "lanrange", "appSocket": "tcp:10.77.0.9:7001",
                        "localSocket": "tcp:127.0.0.1:9001"},
                       {"siteName": "lan", "appName": "lanrange", "appSocket": "tcp:10.77.0.1:7009",
                        "localSocket": "tcp:127.0.0.1:9002"}]
        a = netns.NsAgent(c, f"c{i}", config=t.site_yaml(
            f"c{i}", key=KEY, broker=mq.url, topic="wvtest/range", sockets=sockets, remote=remote))
        clients.append((c, a))

    for i, (c, a) in enumerate(clients, 1):
        t.wait_for(lambda: a.channels("lan", "up"), 20, interval=0.2,
                   what=f"c{i} has an up channel to lan")
        t.wait_for(lambda: c.tcp_accepts(9000), 10, what=f"c{i}'s listener")
    data = os.urandom(256 << 10)
    for i, (c, a) in enumerate(clients, 1):
        got = netns.roundtrip(c, 9000, data)
        t.check(got == f"backend-{i}\n".encode() + data,
                f"c{i} reaches backend 10.77.0.{i}:{7000 + i} through the range app "
                f"(greeting {got[:12]!r}, {len(got)} bytes)")
    c1 = clients[0][0]
    for port, what in ((9001, "10.77.0.9:7001 (address outside 10.77.0.0/29)"),
                       (9002, "10.77.0.1:7009 (port outside 7001-7003)")):
        got = netns.roundtrip(c1, port, b"hello\n")
        t.check(got == b"", f"target {what} refused: nothing comes back")
    t.check(outside_addr.connections == 0 and outside_port.connections == 0,
            "the servers outside the ranges were never connected to")
    # (Each backend also saw the listener probe of wait_for(tcp_accepts).)
    t.check(all(b.connections >= 1 for b in backends.values()),
            f"each backend was reached ({[b.connections for b in backends.values()]} connections)")


t.run(main)
