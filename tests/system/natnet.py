"""Worlds for the NAT traversal tests (issue 20): sites behind their own NAT
routers, a broker and a STUN server on the "internet" (netns.Internet).

    inet   198.51.100.1 | 203.0.113.1     the switch and router of the internet
    brk    198.51.100.10                  the MQTT broker
    stun   203.0.113.20, .21              Debian's stund (two addresses)
    rtrX   its public address | 10.N.0.1  a home router: NAT + firewall
      X    10.N.0.2 (behind it)           the site

A router NATs everything leaving its wan: `cone` is nftables masquerade
(endpoint-independent mapping: one inside socket keeps its port towards
every destination), `symmetric` is masquerade fully-random (a new random
port per destination, so a STUN server sees another port than a peer
would). Like every home router it has a firewall: nothing new comes in
from the wan, only answers to what went out and ports it forwards (DNAT,
e.g. made by miniupnpd). (Without it, Linux would take
a peer's first punching packet, which arrives before the inside host has
sent, as a connection to the router itself; the inside host's own packet
to that peer would then clash with it and get another port. Home routers
drop such packets, and so do these.) No port is forwarded.
"""
import datetime
import os
import re
import time

import netns
import wvtest as t

BROKER = "198.51.100.10"
STUN = "203.0.113.20"
STUN_ALT = "203.0.113.21"
KEY = "nat-traversal-key-Q7x"
TOPIC = "wvtest/nat"


def nat_rules(wan, kind):
    flags = " fully-random" if kind == "symmetric" else ""
    return (f"table ip wvrtr {{\n"
            f" chain natpost {{ type nat hook postrouting priority 100;"
            f" oifname \"{wan}\" masquerade{flags}; }}\n"
            f" chain fwin {{ type filter hook input priority 0; policy accept;"
            f" iifname \"{wan}\" ct state established,related accept;"
            f" iifname \"{wan}\" drop; }}\n"
            f" chain fwforward {{ type filter hook forward priority 0; policy accept;"
            f" iifname \"{wan}\" ct state established,related accept;"
            f" iifname \"{wan}\" ct status dnat accept;"
            f" iifname \"{wan}\" drop; }}\n"
            f"}}\n")


class Router:
    """A home router namespace on the internet with a LAN (a bridge) behind
    it; hosts are added with add_host (the first at LAN .2)."""

    def __init__(self, world, name, public_v4, lan_prefix, kind="cone", public_v6=None,
                 lan_v6_prefix=None):
        net, inet = world.net, world.inet
        self.world, self.name, self.kind = world, name, kind
        self.lan_prefix, self.lan_v6_prefix = lan_prefix, lan_v6_prefix
        self.ns = net.ns(f"rtr{name}")
        routed = [f"{lan_v6_prefix}::/64"] if lan_v6_prefix else []
        inet.attach(self.ns, public_v4, public_v6, routed6=routed)
        self.public = public_v4
        self.ns.forwarding()
        self.ns.sh("ip link add lan type bridge && ip link set lan address "
                   f"{netns._bridge_mac()} && ip link set lan up")
        self.ns.addr("lan", f"{lan_prefix}.1/24")
        if lan_v6_prefix:
            self.ns.addr("lan", f"{lan_v6_prefix}::1/64")
        self.hosts = []
        self.set_nat(kind)

    def add_host(self, name):
        """A host on the LAN: at .2, .3, ... (and ::2, ::3 when the LAN has
        IPv6); returns its namespace, with .lan_ip set."""
        n = len(self.hosts) + 2
        host = self.world.net.ns(name)
        port = f"l{n}"
        self.world.net.link(host, "eth0", self.ns, port)
        self.ns.sh(f"ip link set {port} master lan && ip link set {port} up")
        host.addr("eth0", f"{self.lan_prefix}.{n}/24")
        host.route(f"default via {self.lan_prefix}.1")
        if self.lan_v6_prefix:
            host.addr("eth0", f"{self.lan_v6_prefix}::{n}/64")
            host.route(f"default via {self.lan_v6_prefix}::1")
        host.lan_ip = f"{self.lan_prefix}.{n}"
        self.hosts.append(host)
        return host

    def set_nat(self, kind):
        """Installs (or replaces) the NAT and firewall rules, and forgets
        every mapping the old rules made (a router rebooted into another
        NAT type)."""
        self.ns.run(["nft", "delete", "table", "ip", "wvrtr"], check=False)
        self.ns.nft(nat_rules("wan", kind))
        self.ns.run(["conntrack", "-F"], check=False)
        self.kind = kind


class World:
    def __init__(self, stun=True):
        self.net = netns.Net()
        self.inet = netns.Internet(self.net)
        self.brk = self.net.ns("brk")
        self.inet.attach(self.brk, BROKER)
        self.mq = netns.NsMosquitto(self.brk, BROKER)
        if stun:
            self.stun = self.net.ns("stun")
            self.inet.attach(self.stun, STUN)
            self.stun.addr("wan", f"{STUN_ALT}/24")
            proc = self.stun.spawn(["stund", "-h", STUN, "-a", STUN_ALT],
                                   os.path.join(t.tmpdir(), "stund.log"))
            time.sleep(0.3)
            t.check(proc.poll() is None, "stund runs on the internet")

    @property
    def broker(self):
        return f"mqtt://{BROKER}:1883"


def nat_socket(port=26098, **extra):
    """A nat-traversal tunnel.localSockets entry with the world's STUN server."""
    return dict({"mode": "nat-traversal", "transportProtocol": "quic", "listenPort": port,
                 "stunServers": [f"{STUN}:3478"]}, **extra)


def site(world, ns, name, sockets, exposed=(), remote=(), extra="", start=True):
    """A site in ns with the world's network key, broker and topic."""
    y = t.site_yaml(name, key=KEY, broker=world.broker, topic=TOPIC, sockets=sockets,
                    exposed=exposed, remote=remote, extra=extra)
    return netns.NsAgent(ns, name, config=y, start=start)


def candidates(agent, site_name):
    """The candidates agent lists for site_name: {kind: [address:port]}."""
    p = agent.peer(site_name) or {}
    out = {}
    for s in p.get("sockets", []):
        if s.get("candidate"):
            out.setdefault(s["candidate"], []).append(f"{s['address']}:{s['port']}")
    return out


def up_with_path(agent, site_name, path):
    return [c for c in agent.channels(site_name, "up") if c.get("path") == path]


def log_time(agent, pattern, after=None):
    """The time (unix seconds) of the first line of agent's log matching the
    regular expression pattern (after `after`, when given), or None. Agents
    log ISO-8601 UTC timestamps with milliseconds."""
    rx = re.compile(pattern)
    for line in agent.log_text().splitlines():
        m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z", line)
        if not m or not rx.search(line):
            continue
        ts = datetime.datetime.fromisoformat(m.group(1)).replace(
            tzinfo=datetime.timezone.utc).timestamp()
        if after is None or ts >= after:
            return ts
    return None


def announced_stun(agent):
    """When agent learned its STUN mapping (and re-announced with it)."""
    return log_time(agent, r"\[detect\] tunnel socket .*: public address .*\(stun,")


def up_after_stun(a, b, up_a, up_b):
    """From the agents' own logs: seconds from the later of a's and b's STUN
    announcements (each re-announces as soon as it learns its mapping) to
    the first channel up, logged by a as the regular expression up_a or by
    b as up_b."""
    t_ann = max(announced_stun(a), announced_stun(b))
    return min(x for x in (log_time(a, up_a), log_time(b, up_b)) if x) - t_ann


class Capture:
    """A packet capture on every interface of namespace ns (an AF_PACKET
    socket made inside it, read by a thread): counts the UDP bytes it sees
    and whether `needle` appears in any frame. Stopped at cleanup."""

    def __init__(self, ns, needle):
        import socket
        import threading
        self.needle, self.frames, self.udp_bytes, self.found = needle, 0, 0, 0
        self.sock = ns.call(socket.socket, socket.AF_PACKET, socket.SOCK_RAW,
                            socket.htons(0x0003))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        t.on_cleanup(self.stop)

    def _read(self):
        import socket
        while self.running:
            try:
                frame, addr = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == socket.PACKET_OUTGOING:
                continue  # each packet once: as it arrives
            self.frames += 1
            # IPv4 (ethertype 0x0800), protocol UDP (17), after a 14-byte header.
            if len(frame) > 34 and frame[12:14] == b"\x08\x00" and frame[23] == 17:
                self.udp_bytes += len(frame) - 14
            if self.needle in frame:
                self.found += 1

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def wait_listening(agent, app, timeout=10):
    """Waits until agent's remote app of appName app is listening (without
    connecting to it: a probe connection would reach the app, and iperf3's
    server takes one that closes at once for a failed test)."""
    def listening():
        st, apps, _ = agent.api("GET", "/api/v1/remote-apps")
        return st == 200 and any(x.get("appName") == app and
                                 x.get("status", {}).get("state") == "listening" for x in apps)
    t.wait_for(listening, timeout, what=f"{agent.name}'s remote app {app} listening")


MINIUPNPD_CONF = """ext_ifname=wan
listening_ip=lan
http_port=0
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=yes
min_lifetime=30
ext_perform_stun=yes
ext_stun_host={stun}
ext_stun_port=3478
lease_file={leases}
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
upnp_table_name=wvupnp
upnp_nat_table_name=wvupnp
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 {lan}.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
"""


class Miniupnpd:
    """Debian's miniupnpd (nftables backend) on router r: UPnP-IGD and
    NAT-PMP for its LAN, mappings as DNAT rules in the table wvupnp and
    in its lease file.

    miniupnpd 2.3 refuses to map ports when the WAN address is reserved,
    as the documentation ranges the tests must use are, unless STUN says
    the address is reachable from outside (then it takes STUN's answer as
    the external address): so it asks the world's stund, and the router's
    firewall lets that server's answers (from its other address too) in."""

    def __init__(self, r):
        self.r = r
        d = t.tmpdir("wvupnp-")
        self.leases = os.path.join(d, "leases")
        self.conf = os.path.join(d, "miniupnpd.conf")
        with open(self.conf, "w") as f:
            f.write(MINIUPNPD_CONF.format(leases=self.leases, lan=r.lan_prefix, stun=STUN))
        r.ns.run(["nft", "insert", "rule", "ip", "wvrtr", "fwin", "iifname", "wan", "ip", "saddr",
                  f"{{ {STUN}, {STUN_ALT} }}", "accept"])
        # The chains miniupnpd fills (its nft_init.sh makes the same).
        r.ns.nft("table inet wvupnp {\n"
                 " chain forward { type filter hook forward priority -5; jump miniupnpd; }\n"
                 " chain miniupnpd { }\n"
                 " chain prerouting { type nat hook prerouting priority -105;"
                 " jump prerouting_miniupnpd; }\n"
                 " chain postrouting { type nat hook postrouting priority 95;"
                 " jump postrouting_miniupnpd; }\n"
                 " chain prerouting_miniupnpd { }\n"
                 " chain postrouting_miniupnpd { }\n}\n")
        # SSDP multicast must reach the router on its LAN bridge.
        r.ns.sh("ip link set lan type bridge mcast_snooping 0")
        self.log = os.path.join(d, "miniupnpd.log")
        self.proc = r.ns.spawn(["miniupnpd", "-f", self.conf, "-d", "-P",
                                os.path.join(d, "pid")], self.log)
        time.sleep(0.5)
        t.check(self.proc.poll() is None, "miniupnpd runs on the router")

    def lease_lines(self):
        try:
            with open(self.leases) as f:
                return [l.strip() for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def rules(self):
        return self.r.ns.run(["nft", "list", "table", "inet", "wvupnp"]).stdout

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()
