"""Helpers for the discovery system tests: wv_disco processes (one
discovery instance each, driven over stdin, events on stdout), and raw
publishing to the broker with mosquitto_pub/mosquitto_sub."""
import os
import subprocess
import time

import wvtest as t

TOOL = os.path.join(t.BUILD, "tests", "wv_disco")
TOPIC = "wvtest/core"
KEY = "s3cret-Network-Key-42"
ITER = "1000"  # the default work factor is only for production
KEEPALIVE = 2
GRACE_MS = 3000  # after a reconnect, peers not heard within this are offline


_PEMS = {}


def identity_file(site):
    """One identity per site name for the whole test run: a restarted site
    keeps its key, as an agent does (peers pin it)."""
    if "dir" not in _PEMS:
        _PEMS["dir"] = t.tmpdir("wvdisco-ids-")
    return os.path.join(_PEMS["dir"], f"{site}.pem")


class Disco:
    def __init__(self, broker, site, key=KEY, apps=(), sockets=(), brokers=None, extra=(),
                 wait_ready=True):
        self.site = site
        self.dir = t.tmpdir(f"wvdisco-{site}-")
        self.log = os.path.join(self.dir, "out")
        argv = [TOOL, "run", "--site", site, "--key", key, "--topic", TOPIC, "--iterations",
                ITER, "--keepalive", str(KEEPALIVE), "--grace-ms", str(GRACE_MS),
                "--pem", identity_file(site)]
        for url in brokers or [broker.url]:
            argv += ["--broker", url]
        for a in apps:
            argv += ["--app", a]
        for s in sockets:
            argv += ["--socket", s]
        argv += list(extra)
        self.proc = t.spawn(argv, self.log, stdin=subprocess.PIPE)
        ready = t.wait_for(lambda: self.find("EV READY"), 10, what=f"{site} ready")
        self.hash = ready[-1].split("hash=")[1].split()[0]
        if wait_ready:
            t.wait_for(lambda: self.find("EV STATE up"), 10, what=f"{site} connected")

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def find(self, prefix):
        return [ln for ln in self.text().splitlines() if ln.startswith(prefix)]

    def cmd(self, c):
        self.proc.stdin.write((c + "\n").encode())
        self.proc.stdin.flush()

    def query(self, c, prefix):
        n = len(self.find(prefix))
        self.cmd(c)
        return t.wait_for(lambda: (lambda l: l[n] if len(l) > n else None)(self.find(prefix)),
                          5, what=f"{self.site} {c}")

    def stats(self):
        line = self.query("stats", "EV STATS")
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[2:])}

    def peers(self):
        line = self.query("peers", "EV PEERS")
        return {k: v == "1" for k, v in (p.split(":") for p in line.split()[2:])}


def pub(broker, topic, data, retain=False):
    path = os.path.join(broker.dir, "payload")
    with open(path, "wb") as f:
        f.write(data)
    argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-t", topic,
            "-f", path] + (["-r"] if retain else [])
    subprocess.run(argv, check=True, timeout=10)


def sub_once(broker, topic, timeout=5):
    """Starts a subscriber that saves the next message on topic; returns a reader."""
    path = os.path.join(broker.dir, f"one-{time.monotonic_ns()}")
    p = t.spawn(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-C",
                 "1", "-N"], path)

    def read():
        p.wait(timeout)
        with open(path, "rb") as f:
            return f.read()
    return read


def seal(plain, full_topic):
    r = subprocess.run([TOOL, "seal", "--key", KEY, "--topic", TOPIC, "--iterations", ITER,
                        "--to", full_topic], input=plain, capture_output=True, check=True)
    return r.stdout


def sign(plain, pem=None):
    """plain (message JSON bytes) signed with a wv_disco identity (fresh, or pem's)."""
    r = subprocess.run([TOOL, "sign"] + (["--pem", pem] if pem else []), input=plain,
                       capture_output=True, check=True)
    return r.stdout


def site_hash(site):
    r = subprocess.run([TOOL, "hash", "--key", KEY, "--topic", TOPIC, "--iterations", ITER,
                        "--site", site], capture_output=True, check=True, text=True)
    return r.stdout.strip()


def sees(d, name, online=True):
    return d.peers().get(name) == online
