"""Network namespaces for system tests: a small internet built per test run.

Every namespace is named wvt-<pid>-<name>, so parallel runs never collide,
and is deleted when the test ends (wvtest cleanup: also on failure and on
SIGTERM). Processes started with Ns.spawn are stopped by wvtest before the
namespaces go. Addresses: only 198.51.100.0/24, 203.0.113.0/24 and
2001:db8::/32 on the "internet"; private 10.x / 192.168.x only inside a LAN
the test builds behind a NAT router namespace.

Sockets in a namespace without a subprocess: Ns.call(fn) runs fn with the
calling thread switched into the namespace (setns is per thread), so every
socket fn creates lives there and keeps working after the switch back.

Usage:
    import netns
    net = netns.Net()                       # skips unless root + ip netns
    a, b = net.ns("a"), net.ns("b")
    net.link(a, "eth0", b, "eth0")
    a.addr("eth0", "198.51.100.1/24"); b.addr("eth0", "198.51.100.2/24")
    srv = wvtest.AppServer(ns=a)             # an echo server inside a
"""
import ctypes
import http.client
import json
import os
import re
import socket
import subprocess

import wvtest as t

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def sh(argv, check=True, input=None):
    """Runs argv (a list) to completion; raises t.Fail with its stderr if it fails."""
    r = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=30)
    if check and r.returncode != 0:
        raise t.Fail(f"{' '.join(argv)} -> {r.returncode}: {r.stderr.strip()}")
    return r


def require_root():
    """Namespace tests need root and a working `ip netns`. Without them they
    cannot run on this machine: skipped (ctest shows it), never passed. A
    missing `ip` (iproute2, installed by scripts/setup) or any other failure
    of `ip netns add` fails."""
    if os.geteuid() != 0:
        t.skip("network-namespace tests need root (CI runs as root)")
    probe = f"wvt-{os.getpid()}-probe"
    r = sh(["ip", "netns", "add", probe], check=False)
    sh(["ip", "netns", "del", probe], check=False)
    if r.returncode != 0 and "Operation not permitted" in r.stderr:
        t.skip(f"`ip netns add` is not permitted here: {r.stderr.strip()}")
    t.check(r.returncode == 0, f"`ip netns add` works ({r.stderr.strip() or 'ok'})")


def _reap_stale():
    """Deletes namespaces left by earlier runs whose test process is gone (SIGKILLed)."""
    r = sh(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        m = re.match(r"(wvt-(\d+)-\S+)", line)
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            sh(["ip", "netns", "del", m.group(1)], check=False)


class Ns:
    def __init__(self, net, name):
        self.net = net
        self.short = name
        self.name = f"{net.prefix}{name}"
        sh(["ip", "netns", "add", self.name])
        self.sh("ip link set lo up")
        # No duplicate-address detection: addresses usable at once.
        self.sysctl("net.ipv6.conf.all.accept_dad", 0)
        self.sysctl("net.ipv6.conf.default.accept_dad", 0)

    def __repr__(self):
        return self.name

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv, check=True, input=None):
        return sh(self.exec_argv(argv), check=check, input=input)

    def sh(self, cmd, check=True, input=None):
        return self.run(["sh", "-c", cmd], check=check, input=input)

    def sysctl(self, key, value):
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def forwarding(self):
        self.sysctl("net.ipv4.ip_forward", 1)
        self.sysctl("net.ipv6.conf.all.forwarding", 1)

    def addr(self, dev, cidr):
        extra = " nodad" if ":" in cidr else ""
        self.sh(f"ip addr add {cidr} dev {dev}{extra}")

    def del_addr(self, dev, cidr):
        self.sh(f"ip addr del {cidr} dev {dev}")

    def route(self, spec):
        """spec as for `ip route add`, e.g. 'default via 10.0.0.1' or '2001:db8::/32 dev wan'."""
        fam = "-6 " if ":" in spec else ""
        self.sh(f"ip {fam}route add {spec}")

    def nft(self, ruleset):
        self.run(["nft", "-f", "-"], input=ruleset)

    def masquerade(self, wan):
        """Outbound IPv4 NAT: everything leaving through wan takes wan's address."""
        self.nft(f"table ip wvnat {{\n chain post {{ type nat hook postrouting priority 100;"
                 f" oifname \"{wan}\" masquerade; }}\n}}\n")

    def port_forward(self, wan, proto, public_port, inside_ip, inside_port):
        """DNAT of wan's public_port to inside_ip:inside_port (a router's port forwarding)."""
        self.nft(f"table ip wvdnat {{\n chain pre {{ type nat hook prerouting priority -100;"
                 f" iifname \"{wan}\" {proto} dport {public_port}"
                 f" dnat to {inside_ip}:{inside_port}; }}\n}}\n")

    def shape(self, dev, rate="100mbit", burst="256kb", latency="50ms"):
        """Egress rate limit on dev (token bucket; this kernel has no netem)."""
        self.sh(f"tc qdisc replace dev {dev} root tbf rate {rate} burst {burst} latency {latency}")

    def loss(self, dev, percent):
        """Random loss of percent % of packets leaving dev (nftables numgen)."""
        self.nft(f"table inet wvloss {{\n chain out {{ type filter hook postrouting priority 0;"
                 f" oifname \"{dev}\" numgen random mod 100 < {percent} drop; }}\n}}\n")

    def drop_family(self, family):
        """Drops every forwarded and local packet of one family ('ip' or 'ip6') except on lo."""
        name = f"wvdrop{family}"
        self.nft(f"table {family} {name} {{\n"
                 f" chain i {{ type filter hook input priority -10; iifname != \"lo\" drop; }}\n"
                 f" chain o {{ type filter hook output priority -10; oifname != \"lo\" drop; }}\n"
                 f" chain f {{ type filter hook forward priority -10; drop; }}\n}}\n")

    def restore_family(self, family):
        self.run(["nft", "delete", "table", family, f"wvdrop{family}"])

    def spawn(self, argv, log_path=None, **kw):
        return t.spawn(self.exec_argv(argv), log_path, **kw)

    def call(self, fn, *args, **kw):
        """Runs fn(*args, **kw) in this namespace (the calling thread only)."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(there, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.name)
            try:
                return fn(*args, **kw)
            finally:
                if _libc.setns(here, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the root namespace")
        finally:
            os.close(here)
            os.close(there)

    def connect(self, addr, timeout=10):
        """A TCP connection made from inside this namespace."""
        return self.call(socket.create_connection, addr, timeout=timeout)

    def tcp_accepts(self, port, host="127.0.0.1"):
        return self.call(t.tcp_accepts, port, host)


class _NsHTTPConnection(http.client.HTTPConnection):
    def __init__(self, ns, *a, **kw):
        super().__init__(*a, **kw)
        self._ns = ns

    def connect(self):
        self.sock = self._ns.connect((self.host, self.port), self.timeout)


class NsAgent(t.Agent):
    """A wovenet agent running inside a namespace; its API on 127.0.0.1 there."""

    def __init__(self, ns, name, config=None, db=None, api_port=18080, **kw):
        self.ns = ns
        super().__init__(name, config=config, db=db, api_port=api_port, **kw)

    def spawn(self, argv):
        return self.ns.spawn(argv, self.log, env=self.env)

    def _connection(self, timeout):
        return _NsHTTPConnection(self.ns, "127.0.0.1", self.api_port, timeout=timeout)

    def peer(self, site):
        st, peers, _ = self.api("GET", "/api/v1/peers")
        if st != 200:
            return None
        return next((p for p in peers if p["siteName"] == site), None)

    def channels(self, site, state=None):
        p = self.peer(site)
        chans = p.get("channels", []) if p else []
        return [c for c in chans if state is None or c["state"] == state]


def _bridge_mac():
    """A fixed address for a bridge. Left alone, a Linux bridge takes the
    lowest MAC of its ports and changes it as ports join: a host that
    resolved the gateway before then sends to an address nobody answers
    (test_scenario_range's broker connection stalled that way about one run
    in thirty). A locally administered unicast address never changes."""
    return "02:%02x:%02x:%02x:%02x:%02x" % tuple(os.urandom(5))


class Net:
    """The namespaces of one test; all deleted at cleanup."""

    def __init__(self):
        require_root()
        _reap_stale()
        self.prefix = f"wvt-{os.getpid()}-"
        self.nss = []
        t.on_cleanup(self.destroy)

    def ns(self, name):
        n = Ns(self, name)
        self.nss.append(n)
        return n

    def link(self, a, a_dev, b, b_dev, up=True):
        """A veth pair a:a_dev <-> b:b_dev (created directly in the namespaces)."""
        sh(["ip", "link", "add", a_dev, "netns", a.name, "type", "veth", "peer", "name", b_dev,
            "netns", b.name])
        if up:
            a.sh(f"ip link set {a_dev} up")
            b.sh(f"ip link set {b_dev} up")

    def bridge(self, hub, br, members):
        """An L2 switch in hub: a bridge br joining hub's devices members."""
        hub.sh(f"ip link add {br} type bridge && ip link set {br} address {_bridge_mac()} "
               f"&& ip link set {br} up")
        for m in members:
            hub.sh(f"ip link set {m} master {br} && ip link set {m} up")

    def destroy(self):
        for n in reversed(self.nss):
            sh(["ip", "netns", "del", n.name], check=False)
        self.nss.clear()


def iperf_json(ns, argv, timeout=90):
    """Runs an iperf3 client (argv after 'iperf3', -J added) in ns; the parsed report."""
    r = subprocess.run(ns.exec_argv(["iperf3", *argv, "-J"]), capture_output=True, text=True,
                       timeout=timeout)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        raise t.Fail(f"iperf3 {' '.join(argv)}: no JSON (rc {r.returncode}): "
                     f"{r.stdout[-500:]} {r.stderr[-500:]}")
    if "error" in rep:
        raise t.Fail(f"iperf3 {' '.join(argv)}: {rep['error']}")
    return rep


def iperf_mbps(rep):
    """Receiver-side throughput of an iperf3 JSON report, Mbit/s."""
    return rep["end"]["sum_received"]["bits_per_second"] / 1e6


class Internet:
    """A switch with a router on it: the public internet of a test.

    Hosts attached get public addresses on the switch (198.51.100.0/24 or
    203.0.113.0/24, and 2001:db8:ffff::/64) and default routes via the hub,
    which also routes the IPv6 prefixes of LANs behind attached routers.
    """
    GW4 = {"198.51.100": "198.51.100.1", "203.0.113": "203.0.113.1"}
    GW6 = "2001:db8:ffff::1"

    def __init__(self, net):
        self.net = net
        self.hub = net.ns("inet")
        self.hub.forwarding()
        self.hub.sh(f"ip link add br0 type bridge && ip link set br0 address {_bridge_mac()} "
                    "&& ip link set br0 up")
        self.hub.addr("br0", "198.51.100.1/24")
        self.hub.addr("br0", "203.0.113.1/24")
        self.hub.addr("br0", "2001:db8:ffff::1/64")
        self.ports = 0

    def attach(self, ns, v4, v6=None, dev="wan", routed6=()):
        self.ports += 1
        port = f"p{self.ports}"
        self.net.link(ns, dev, self.hub, port)
        self.hub.sh(f"ip link set {port} master br0")
        ns.addr(dev, f"{v4}/24")
        ns.route(f"default via {self.GW4[v4.rsplit('.', 1)[0]]}")
        if v6:
            ns.addr(dev, f"{v6}/64")
            ns.route(f"default via {self.GW6}")
            for p in routed6:
                self.hub.route(f"{p} via {v6}")


def internet_with_broker():
    """What most scenarios start from: a Net, its Internet, and a broker on
    the Internet's hub at 198.51.100.1:1883."""
    net = Net()
    inet = Internet(net)
    return net, inet, NsMosquitto(inet.hub, "198.51.100.1")


def lan(net, router, host, router_v4, host_v4, router_v6=None, host_v6=None,
        router_dev="lan", host_dev="eth0"):
    """A LAN link router <-> host, host's default routes via router (/24 and /64)."""
    net.link(router, router_dev, host, host_dev)
    router.forwarding()
    router.addr(router_dev, f"{router_v4}/24")
    host.addr(host_dev, f"{host_v4}/24")
    host.route(f"default via {router_v4}")
    if router_v6:
        router.addr(router_dev, f"{router_v6}/64")
        host.addr(host_dev, f"{host_v6}/64")
        host.route(f"default via {router_v6}")


class NsMosquitto:
    """A broker listening on addr:port inside ns."""

    def __init__(self, ns, addr, port=1883):
        self.ns, self.addr, self.port = ns, addr, port
        self.dir = t.tmpdir("wvmqtt-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {port} {addr}\nallow_anonymous true\npersistence false\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.ns.spawn(["mosquitto", "-c", self.conf], os.path.join(self.dir, "log"))
        t.wait_for(lambda: self.ns.tcp_accepts(self.port, self.addr), 5, what="mosquitto")

    def stop(self, sig=15):
        t.stop(self.proc, sig)

    @property
    def url(self):
        return f"mqtt://{self.addr}:{self.port}"


def roundtrip(ns, port, data, host="127.0.0.1", timeout=20):
    """Connects from ns to host:port, sends data, half-closes, returns all it gets."""
    return ns.call(t.echo_roundtrip, port, data, timeout, host)
