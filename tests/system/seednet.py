"""The seed's world (shared/seed/release-public-ip.md) in namespaces.

    brk     198.51.100.10                      the MQTT broker
    vpsnat  198.51.100.20, 2001:db8:ffff::20   outbound-only IPv4 NAT, routes IPv6
      vps   10.20.0.2 (private), 2001:db8:20::2 (public IPv6; the "aws" site)
    router  203.0.113.30, 2001:db8:ffff::30    masquerade + UDP 36092 -> home:26098
      home  192.168.1.2 (private), 2001:db8:30::2   (the "local" site)

all joined by netns.Internet. The two site configs are the seed's YAML files
as written; only the addresses (documentation ranges instead of the real
ones) and the broker URL are substituted.
"""
import netns

VPS_V6 = "2001:db8:20::2"
HOME_PUBLIC_V4 = "203.0.113.30"
BROKER = "198.51.100.10"
APP_ID = "afe87405-0f46-4290-84df-b6034b54761f"

# The seed's AWS host config.yaml; substituted: publicAddress, brokerServer.
AWS_YAML = """siteName: aws

logger:
  level: DEBUG
  file: ""
  format: json

messageChannel:
  protocol: mqtt
  cryptoKey: "aA6wBHTYd%#dOPr8"
  mqtt:
    brokerServer: mqtt://{broker}:1883
    topic: "kungze/wovenet/dual-stack-ui78Tydwq"

tunnel:
  localSockets:
  - mode: dedicated-address
    transportProtocol: quic
    publicAddress: {vps_v6}
    publicPort: 25890

localExposedApps:
- socket: 127.0.0.1:5201
  id: afe87405-0f46-4290-84df-b6034b54761f
"""

# The seed's local host config.yaml; substituted: publicAddress, brokerServer.
LOCAL_YAML = """siteName: local

logger:
  level: DEBUG
  file: ""
  format: json

messageChannel:
  protocol: mqtt
  cryptoKey: "aA6wBHTYd%#dOPr8"
  mqtt:
    brokerServer: mqtt://{broker}:1883
    topic: "kungze/wovenet/dual-stack-ui78Tydwq"

tunnel:
  localSockets:
  - mode: port-forwarding
    transportProtocol: quic
    publicAddress: {home_v4}
    publicPort: 36092
    listenPort: 26098

remoteApps:
- siteName: aws
  remoteAppId: afe87405-0f46-4290-84df-b6034b54761f
  localSocket: 127.0.0.1:5201
"""


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
        return AWS_YAML.format(broker=BROKER, vps_v6=VPS_V6)

    def local_yaml(self):
        return LOCAL_YAML.format(broker=BROKER, home_v4=HOME_PUBLIC_V4)

    def start_sites(self, aws_yaml=None, local_yaml=None):
        self.aws = netns.NsAgent(self.vps, "aws", config=aws_yaml or self.aws_yaml())
        self.local = netns.NsAgent(self.home, "local", config=local_yaml or self.local_yaml())
        return self.aws, self.local

    def start_echo_sites(self, key="seed-faults-key-33f0", echo_port=7100, local_port=7000):
        """The seed's sockets, with an echo app (a server on the vps) instead of iperf3:
        local's 127.0.0.1:local_port reaches aws's app "echo"."""
        import wvtest as t
        self.echo = netns.Echo(self.vps, port=echo_port)
        aws = t.site_yaml("aws", key=key, broker=f"mqtt://{BROKER}:1883", topic="wvtest/faults",
                          sockets=[{"mode": "dedicated-address", "publicAddress": VPS_V6,
                                    "publicPort": 25890}],
                          exposed=[{"appName": "echo", "appSocket": f"tcp:127.0.0.1:{echo_port}"}])
        local = t.site_yaml("local", key=key, broker=f"mqtt://{BROKER}:1883",
                            topic="wvtest/faults",
                            sockets=[{"mode": "port-forwarding", "publicAddress": HOME_PUBLIC_V4,
                                      "publicPort": 36092, "listenPort": 26098}],
                            remote=[{"siteName": "aws", "appName": "echo",
                                     "localSocket": f"tcp:127.0.0.1:{local_port}"}])
        return self.start_sites(aws, local)

    def shape_wan(self, rate="100mbit"):
        """Both WAN uplinks (the routers' wan egress) limited to rate."""
        self.router.shape("wan", rate)
        self.vpsnat.shape("wan", rate)
