"""Scenario 4, unix to TCP, in network namespaces.

"svc" exposes a service listening on a unix socket; "user" (another
namespace, across the test internet) uses it over TCP through a remote app.
"""
import os

import netns
import wvtest as t

KEY = "unix-to-tcp-key-0b3d"


def main():
    net, inet, mq = netns.internet_with_broker()
    svc, user = net.ns("svc"), net.ns("user")
    inet.attach(svc, "198.51.100.70", "2001:db8:ffff::70")
    inet.attach(user, "203.0.113.71", "2001:db8:ffff::71")
    path = os.path.join(t.tmpdir(), "svc.sock")
    backend = t.AppServer(unix=path, greeting=b"unix-service\n")
    netns.NsAgent(svc, "svc", config=t.site_yaml(
        "svc", key=KEY, broker=mq.url, topic="wvtest/unix",
        sockets=[t.public_socket("198.51.100.70")],
        exposed=[{"appName": "unixsvc", "appSocket": f"unix:{path}"}]))
    u = netns.NsAgent(user, "user", config=t.site_yaml(
        "user", key=KEY, broker=mq.url, topic="wvtest/unix",
        sockets=[t.public_socket("2001:db8:ffff::71")],
        remote=[{"siteName": "svc", "appName": "unixsvc", "localSocket": "tcp:127.0.0.1:9100"}]))
    t.wait_for(lambda: u.channels("svc", "up"), 20, interval=0.2, what="user's channel to svc")
    t.wait_for(lambda: user.tcp_accepts(9100), 10, what="user's TCP listener")
    data = os.urandom(4 << 20)
    got = netns.roundtrip(user, 9100, data)
    t.check(got == b"unix-service\n" + data,
            f"4 MiB over TCP on user reach the unix socket on svc and come back ({len(got)} B)")
    before = backend.connections
    ok = sum(netns.roundtrip(user, 9100, b"x") == b"unix-service\nx" for _ in range(20))
    t.check(ok == 20 and backend.connections - before == 20,
            f"20 more TCP connections: {ok} answered, {backend.connections - before} unix "
            "connections on the service")


t.run(main)
