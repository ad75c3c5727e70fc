"""Scenario 2, reverse proxy, in network namespaces.

"pub" has a public address (198.51.100.40, a dedicated-address socket);
"hidden" sits behind a NAT router (10.30.0.2 behind 203.0.113.31) and has no
tunnel socket at all. hidden dials the only channel there is; over it each
site reaches an app of the other (hidden's app is reached *through* pub).
"""
import os

import netns
import wvtest as t

KEY = "reverse-proxy-key-7c1e"


def main():
    net, inet, mq = netns.internet_with_broker()
    pub = net.ns("pub")
    inet.attach(pub, "198.51.100.40")
    nat = net.ns("nat")
    inet.attach(nat, "203.0.113.31")
    hidden = net.ns("hidden")
    netns.lan(net, nat, hidden, "10.30.0.1", "10.30.0.2")
    nat.masquerade("wan")

    pub_svc = t.AppServer(ns=pub, greeting=b"pub-service\n")
    hidden_svc = t.AppServer(ns=hidden, greeting=b"hidden-service\n")
    a = netns.NsAgent(pub, "pub", config=t.site_yaml(
        "pub", key=KEY, broker=mq.url, topic="wvtest/reverse",
        sockets=[t.public_socket("198.51.100.40")],
        exposed=[{"appName": "pubsvc", "appSocket": f"tcp:127.0.0.1:{pub_svc.port}"}],
        remote=[{"siteName": "hidden", "appName": "hiddensvc",
                 "localSocket": "tcp:127.0.0.1:8080"}]))
    b = netns.NsAgent(hidden, "hidden", config=t.site_yaml(
        "hidden", key=KEY, broker=mq.url, topic="wvtest/reverse",
        exposed=[{"appName": "hiddensvc", "appSocket": f"tcp:127.0.0.1:{hidden_svc.port}"}],
        remote=[{"siteName": "pub", "appName": "pubsvc", "localSocket": "tcp:127.0.0.1:8081"}]))

    t.wait_for(lambda: len(b.channels("pub", "up")) == 1 and len(a.channels("hidden", "up")) == 1,
               20, interval=0.2, what="one up channel between hidden and pub")
    ch = a.channels("hidden", "up")[0]
    print(f"  pub's channel: {ch['direction']} {ch['localAddress']} <- {ch['remoteAddress']}")
    t.check(ch["direction"] == "inbound" and ch["remoteAddress"].startswith("203.0.113.31"),
            "the one channel is dialed by hidden, through its NAT")
    st, peers, _ = a.api("GET", "/api/v1/peers")
    hp = next(p for p in peers if p["siteName"] == "hidden")
    t.check_eq(hp["sockets"], [], "hidden announces no tunnel socket")

    data = os.urandom(1 << 20)
    t.wait_for(lambda: pub.tcp_accepts(8080) and hidden.tcp_accepts(8081), 10,
               what="remote app listeners")
    got = netns.roundtrip(hidden, 8081, data)
    t.check(got == b"pub-service\n" + data, "hidden reaches pub's app (1 MiB echoed)")
    got = netns.roundtrip(pub, 8080, data)
    t.check(got == b"hidden-service\n" + data, "pub reaches hidden's app through the channel "
            "hidden dialed (1 MiB echoed)")
    t.check(len(a.channels("hidden")) == 1 and len(b.channels("pub")) == 1,
            "still a single channel, used in both directions")


t.run(main)
