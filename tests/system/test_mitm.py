"""A man in the middle that terminates QUIC with its own certificate is
refused (docs/SECURITY.md, "on-path attacker"), even when it knows the
network key.

Three network namespaces: alpha (198.51.100.2) and bravo (203.0.113.2)
route through "mid" (198.51.100.1 / 203.0.113.1), which runs the broker and
the attacker: mallory, a wovenet agent with the same network key (so it can
pass the membership proof) and its own certificate. An nftables DNAT rule in
mid sends alpha's QUIC packets for bravo's tunnel socket to mallory. bravo
cannot dial alpha (its new flows are dropped in mid), so the only way to a channel is through
the interception.

Checks: the DNAT rule's counter shows alpha's packets for bravo taken to
mallory, and mallory logs the intercepted handshakes as what only they
produce: an inbound connection from alpha closed by alpha with a
cryptographic failure (alpha's legitimate dials to mallory, as the member
siteMallory, come up). Alpha refuses each (the certificate is not the one
bravo announced); after three refused dials (the backoff's first steps, so
the window has passed) no channel alpha -> bravo came up at any of the
samples taken meanwhile, and a connection to bravo's app through alpha gets
no byte. Then the DNAT rule goes and the same dial comes up and carries the
app (so the refusal was the pin, not the topology).
"""
import json
import os
import re
import subprocess
import time

import netns
import wvtest as t

KEY = "mitm-test-network-key-0b7d"
PORT = 4433
MALLORY_PORT = 4434
PREFIX = f"wvt-{os.getpid()}-"


def sh(*argv, check=True):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise t.Fail(f"{' '.join(argv)} -> {r.returncode}: {r.stderr.strip()}")
    return r


def ns_exec(ns, *argv):
    return ["ip", "netns", "exec", PREFIX + ns, *argv]


def nsh(ns, *argv, check=True):
    return sh(*ns_exec(ns, *argv), check=check)


def make_net():
    for n in ("alpha", "mid", "bravo"):
        sh("ip", "netns", "add", PREFIX + n)
        t.on_cleanup(lambda n=n: sh("ip", "netns", "del", PREFIX + n, check=False))
        nsh(n, "ip", "link", "set", "lo", "up")
    for a, an, b, bn in (("alpha", "eth0", "mid", "ethA"), ("bravo", "eth0", "mid", "ethB")):
        tmp_a, tmp_b = f"wvm{os.getpid() % 10000}{a[0]}", f"wvm{os.getpid() % 10000}{a[0]}p"
        sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        sh("ip", "link", "set", tmp_a, "netns", PREFIX + a)
        sh("ip", "link", "set", tmp_b, "netns", PREFIX + b)
        nsh(a, "ip", "link", "set", tmp_a, "name", an)
        nsh(b, "ip", "link", "set", tmp_b, "name", bn)
        nsh(a, "ip", "link", "set", an, "up")
        nsh(b, "ip", "link", "set", bn, "up")
    nsh("alpha", "ip", "addr", "add", "198.51.100.2/24", "dev", "eth0")
    nsh("alpha", "ip", "route", "add", "default", "via", "198.51.100.1")
    nsh("bravo", "ip", "addr", "add", "203.0.113.2/24", "dev", "eth0")
    nsh("bravo", "ip", "route", "add", "default", "via", "203.0.113.1")
    nsh("mid", "ip", "addr", "add", "198.51.100.1/24", "dev", "ethA")
    nsh("mid", "ip", "addr", "add", "203.0.113.1/24", "dev", "ethB")
    nsh("mid", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    # Short UDP conntrack lifetimes in mid: once the DNAT rule is removed the
    # intercepted flow's entry expires between two dial attempts (there is
    # no conntrack tool to flush it).
    nsh("mid", "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=1")
    nsh("mid", "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout_stream=1")
    rules = f"""
table ip mitm {{
    chain intercept {{
        type nat hook prerouting priority dstnat;
        ip saddr 198.51.100.2 ip daddr 203.0.113.2 udp dport {PORT} counter dnat to 203.0.113.1:{MALLORY_PORT} comment "intercept"
    }}
    chain blockback {{
        type filter hook forward priority filter;
        ip saddr 203.0.113.2 ip daddr 198.51.100.2 udp dport {PORT} ct state new drop
    }}
}}
"""
    r = subprocess.run(ns_exec("mid", "nft", "-f", "-"), input=rules, capture_output=True,
                       text=True, timeout=30)
    t.check(r.returncode == 0, f"nftables rules loaded in mid ({r.stderr.strip() or 'ok'})")


class NsAgent:
    """A wovenet agent in a namespace; its API is read with curl in there."""

    def __init__(self, ns, name, yaml):
        self.ns, self.name = ns, name
        self.dir = t.tmpdir(f"wv-{name}-")
        self.db = os.path.join(self.dir, "wovenet.db")
        self.cfg = os.path.join(self.dir, "config.yaml")
        with open(self.cfg, "w") as f:
            f.write(yaml)
        self.api_port = 18080
        self.log = os.path.join(self.dir, "agent.log")
        self.proc = t.spawn(ns_exec(ns, t.BIN, "run", "--db", self.db, "--config", self.cfg,
                                    "--api", f"127.0.0.1:{self.api_port}"), self.log)
        t.wait_for(lambda: self.get("/healthz") is not None, 15, interval=0.2,
                   what=f"{name} healthz")

    def get(self, path):
        import json
        r = nsh(self.ns, "curl", "-sf", "--max-time", "3",
                f"http://127.0.0.1:{self.api_port}{path}", check=False)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return r.stdout

    def channels(self, site):
        for p in self.get("/api/v1/peers") or []:
            if p["siteName"] == site:
                return p.get("channels", [])
        return []

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def app_bytes(ns, port, payload=b"ping-through-mitm"):
    """Sends payload to 127.0.0.1:port inside ns; returns what came back."""
    r = subprocess.run(ns_exec(ns, "socat", "-T", "3", "-", f"TCP:127.0.0.1:{port}"),
                       input=payload, capture_output=True, timeout=20)
    return r.stdout


# What mallory's log says of an intercepted dial and only of one: alpha
# (198.51.100.2) aborts the handshake on mallory's certificate.
INTERCEPTED = re.compile(r"conn 198\.51\.100\.2:\d+ \(inbound\) closed: closed by peer "
                         r"\(transport code 298, cryptographic failure\)")
REFUSED = "to siteBravo: TLS failed"


def intercepted_packets():
    r = nsh("mid", "nft", "-j", "list", "chain", "ip", "mitm", "intercept")
    rules = [x["rule"] for x in json.loads(r.stdout)["nftables"] if "rule" in x]
    return sum(e["counter"]["packets"] for r in rules for e in r["expr"] if "counter" in e)


def main():
    netns.require_root()
    make_net()
    broker_conf = os.path.join(t.tmpdir("wvmq-"), "mosquitto.conf")
    with open(broker_conf, "w") as f:
        f.write("listener 1883 0.0.0.0\nallow_anonymous true\npersistence false\n")
    os.chmod(os.path.dirname(broker_conf), 0o755)
    t.spawn(ns_exec("mid", "mosquitto", "-c", broker_conf), broker_conf + ".log")
    echo_port, local_port = 7007, 17007
    # An echo server in bravo's namespace (socat, one process per connection).
    t.spawn(ns_exec("bravo", "socat", f"TCP-LISTEN:{echo_port},bind=127.0.0.1,fork,reuseaddr",
                    "EXEC:cat"), None)
    topic = "wvtest/mitm"
    time.sleep(0.3)
    bravo = NsAgent("bravo", "bravo", t.site_yaml(
        "siteBravo", key=KEY, broker="mqtt://203.0.113.1:1883", topic=topic,
        sockets=[t.tunnel_socket(PORT, "203.0.113.2")],
        exposed=[{"appName": "echo", "appSocket": f"tcp:127.0.0.1:{echo_port}"}]))
    mallory = NsAgent("mid", "mallory", t.site_yaml(
        "siteMallory", key=KEY, broker="mqtt://127.0.0.1:1883", topic=topic,
        sockets=[t.tunnel_socket(MALLORY_PORT, "203.0.113.1")],
        exposed=[{"appName": "echo", "appSocket": f"tcp:127.0.0.1:{echo_port}"}]))
    alpha = NsAgent("alpha", "alpha", t.site_yaml(
        "siteAlpha", key=KEY, broker="mqtt://198.51.100.1:1883", topic=topic,
        sockets=[t.tunnel_socket(PORT, "198.51.100.2")],
        remote=[{"siteName": "siteBravo", "appName": "echo",
                 "localSocket": f"tcp:127.0.0.1:{local_port}"}]))

    t.wait_for(lambda: any(p["siteName"] == "siteBravo" for p in alpha.get("/api/v1/peers") or []),
               20, interval=0.3, what="alpha learns bravo from the broker")
    # While alpha dials bravo through the interception, its channels to
    # bravo are sampled: none may be up at any time.
    sampler = t.Sampler(lambda: [c["state"] for c in alpha.channels("siteBravo")], 0.25)
    # The window: three dials refused by alpha (backoff from 0.5 s), each
    # seen by mallory as an intercepted handshake.
    t.wait_for(lambda: alpha.log_text().count(REFUSED) >= 3
               and len(INTERCEPTED.findall(mallory.log_text())) >= 3, 30, interval=0.3,
               what="three intercepted dials refused by alpha")
    samples = sampler.stop()
    n_refused, n_seen = alpha.log_text().count(REFUSED), len(INTERCEPTED.findall(mallory.log_text()))
    t.check(n_seen >= 3, f"mallory received {n_seen} intercepted handshakes, each aborted by alpha")
    flows = intercepted_packets()  # a nat chain sees the first packet of each flow
    t.check(flows >= 1, f"the DNAT rule took {flows} flow(s) of alpha's packets for bravo to mallory")
    up = [(at, v) for at, v in samples if not isinstance(v, list) or "up" in v]
    t.check(len(samples) >= 3 and not up,
            f"no channel alpha -> bravo came up through the MITM in {len(samples)} samples over "
            f"{n_refused} refused dials ({up[:3]})")
    t.check("certificate does not match the announced fingerprint" in alpha.log_text(),
            "alpha's log says the dial to bravo failed on the certificate")
    m = alpha.get("/metrics") or ""
    fails = re.search(r"^wovenet_dial_failures_total (\d+)", m, re.M)
    t.check(fails is not None and int(fails.group(1)) >= 1,
            f"alpha counts the failed dials ({fails.group(0) if fails else 'none'})")
    # (mallory, a key holder, may have channels with alpha as siteMallory:
    # that is membership, not interception.)
    t.check_eq(app_bytes("alpha", local_port), b"", "the app through alpha gets no byte")

    # Control: without the interception the same dial comes up.
    nsh("mid", "nft", "flush", "chain", "ip", "mitm", "intercept")
    t.wait_for(lambda: any(c["state"] == "up" and c.get("direction") == "outbound"
                           for c in alpha.channels("siteBravo")),
               40, interval=0.5, what="alpha -> bravo up once the MITM is gone")
    got = t.wait_for(lambda: app_bytes("alpha", local_port), 10, interval=0.5,
                     what="the app answers through the genuine channel")
    t.check_eq(got, b"ping-through-mitm", "control: the genuine channel carries the app")


if __name__ == "__main__":
    t.run(main)
