"""The seed's world (shared/seed/release-public-ip.md) in namespaces.

    brk     198.51.100.10                      the MQTT broker
    vpsnat  198.51.100.20, 2001:db8:ffff::20   outbound-only IPv4 NAT, routes IPv6
      vps   10.20.0.2 (private), 2001:db8:20::2 (public IPv6; the "aws" site)
    router  203.0.113.30, 2001:db8:ffff::30    masquerade + UDP 36092 -> home:26098
      home  192.168.1.2 (private), 2001:db8:30::2   (the "local" site)

all joined by netns.Internet. The two site configs are the seed's YAML files
as written (tests/fixtures/seed/); only the addresses (documentation ranges
instead of the real ones) and the broker URL are substituted.
"""
import os

import netns
import wvtest as t

VPS_V6 = "2001:db8:20::2"
HOME_PUBLIC_V4 = "203.0.113.30"
BROKER = "198.51.100.10"
ECHO_PORT = 7000  # local's remote app of start_echo_sites, on home's 127.0.0.1


class SeedNet:
    def __init__(self):
        self.net = netns.Net()
        inet = self.inet = netns.Internet(self.net)
        self.brk = self.net.ns("brk")
        inet.attach(self.brk, BROKER)
        self.vpsnat = self.net.ns("vpsnat")
        inet.attach(self.vpsnat, "198.51.100.20", "2001:db8:ffff::20", routed6=["2001:db8:20::/64"])
        self.vps = self.net.ns("vps")
        netns.lan(self.net, self.vpsnat, self.vps, "10.20.0.1", "10.20.0.2",
                  "2001:db8:20::1", VPS_V6)
        self.vpsnat.masquerade("wan")
        self.router = self.net.ns("router")
        inet.attach(self.router, HOME_PUBLIC_V4, "2001:db8:ffff::30",
                    routed6=["2001:db8:30::/64"])
        self.home = self.net.ns("home")
        netns.lan(self.net, self.router, self.home, "192.168.1.1", "192.168.1.2",
                  "2001:db8:30::1", "2001:db8:30::2")
        self.router.masquerade("wan")
        self.router.port_forward("wan", "udp", 36092, "192.168.1.2", 26098)
        self.mq = netns.NsMosquitto(self.brk, BROKER)

    def aws_yaml(self):
        return t.seed_yaml("aws", broker=f"mqtt://{BROKER}:1883", public_address=VPS_V6)

    def local_yaml(self):
        return t.seed_yaml("local", broker=f"mqtt://{BROKER}:1883", public_address=HOME_PUBLIC_V4)

    def start_sites(self, aws_yaml=None, local_yaml=None):
        self.aws = netns.NsAgent(self.vps, "aws", config=aws_yaml or self.aws_yaml())
        self.local = netns.NsAgent(self.home, "local", config=local_yaml or self.local_yaml())
        return self.aws, self.local

    def start_echo_sites(self, key="seed-faults-key-33f0", topic="wvtest/faults", echo_port=7100,
                         local_socket=None):
        """The seed's sockets (local's: local_socket when given), with an echo
        app (a server on the vps) instead of iperf3: local's
        127.0.0.1:ECHO_PORT reaches aws's app "echo"."""
        self.echo = t.AppServer(ns=self.vps, port=echo_port)
        broker = f"mqtt://{BROKER}:1883"
        aws = t.site_yaml("aws", key=key, broker=broker, topic=topic,
                          sockets=[t.public_socket(VPS_V6, 25890)],
                          exposed=[{"appName": "echo", "appSocket": f"tcp:127.0.0.1:{echo_port}"}])
        local = t.site_yaml("local", key=key, broker=broker, topic=topic,
                            sockets=[local_socket or t.public_socket(
                                HOME_PUBLIC_V4, 36092, mode="port-forwarding", listenPort=26098)],
                            remote=[{"siteName": "aws", "appName": "echo",
                                     "localSocket": f"tcp:127.0.0.1:{ECHO_PORT}"}])
        return self.start_sites(aws, local)

    def wait_two_channels(self, timeout=30):
        """Waits until each site has two up channels to the other; local's."""
        def two_up():
            up = self.local.channels("aws", "up")
            return up if len(up) == 2 and len(self.aws.channels("local", "up")) == 2 else None
        return t.wait_for(two_up, timeout, interval=0.2, what="two up channels each")

    def echo_ok(self, timeout=2):
        """One short round trip through start_echo_sites' app, from home."""
        try:
            return netns.roundtrip(self.home, ECHO_PORT, b"ping\n", timeout=timeout) == b"ping\n"
        except OSError:
            return False

    def start_iperf_servers(self):
        """iperf3 servers on the vps: 127.0.0.1:5201 (aws's exposed app of the
        seed) and [VPS_V6]:5202 (direct, for comparison); waits for them and
        for local's remote app on home's 127.0.0.1:5201."""
        # No probe connections: iperf3 -s takes any connection for a test's
        # control connection, and a probe that reached it (directly, or
        # through the tunnel a moment later) reset the real client's. The
        # servers say when they listen; the agent says when the remote app
        # does.
        logdir = t.tmpdir()
        logs = [os.path.join(logdir, "s1"), os.path.join(logdir, "s2")]
        self.vps.spawn(["iperf3", "-s", "--forceflush", "-B", "127.0.0.1", "-p", "5201"], logs[0])
        self.vps.spawn(["iperf3", "-s", "--forceflush", "-p", "5202"], logs[1])

        def listening():
            for p in logs:
                if not os.path.exists(p) or "Server listening" not in open(p).read():
                    return False
            st, apps, _ = self.local.api("GET", "/api/v1/remote-apps")
            return st == 200 and apps and all(a["status"].get("state") == "listening"
                                              for a in apps)
        t.wait_for(listening, 10, what="iperf3 servers and the remote app")

    def shape_wan(self, rate="100mbit"):
        """Both WAN uplinks (the routers' wan egress) limited to rate."""
        self.router.shape("wan", rate)
        self.vpsnat.shape("wan", rate)
