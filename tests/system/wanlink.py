"""A WAN path between two namespaces, in one line (issue 19).

This kernel has no netem, so the path is tests/tools/wanemu: one process
holding a TUN device in each namespace and moving the packets between them
with a one-way delay, random loss, a rate limit with a drop-tail queue, and
optionally jitter and reordering (tests/tools/README.md). The process is
started with wvtest.spawn, so the harness stops it at cleanup, also on
failure, before netns.Net removes the namespaces.

    import netns, wanlink
    net = netns.Net()
    a, b = net.ns("a"), net.ns("b")
    link = wanlink.WanLink(net, a, b, delay_ms=50, loss=0.01, rate_mbit=100)
    # a has 198.51.100.1/24 and 2001:db8:100::1/64 on wan0, b .2 and ::2
    link.stats()["a_to_b"]["drop_loss"]     # counters now (SIGUSR1)
    link.stop()                             # the final counters

Every path setting is either one value for both directions or a pair
(a to b, b to a): delay_ms=(10, 40), loss=(0.02, 0).

The emulator's threads run at nice -10 (nice=...): on this shared 2-core
machine a path that stalls whenever someone compiles would measure the
machine, not the path (at load 3.5: releases 0.36 ms late on average at
nice 0, 0.05 ms at -10). It costs CPU only while packets flow. Under heavier
load (7, 1 Gbit/s) even -10 leaves the emulator waiting a third of the time
(releases 2-6 ms late); rt=1 (SCHED_FIFO) keeps it at 0.01 ms, at the price
of the others' CPU: the WAN bench uses it, the tests' light traffic does not
need it.
"""
import json
import os
import signal
import socket
import statistics
import threading
import time

import wvtest as t

BIN = os.environ.get("WANEMU_BIN") or os.path.join(t.BUILD, "tests", "tools", "wanemu")

# Flag of wanemu per keyword argument.
_PATH_FLAGS = {"delay_ms": "delay-ms", "jitter_ms": "jitter-ms", "loss": "loss",
               "reorder": "reorder", "rate_mbit": "rate-mbit", "burst_bytes": "burst-bytes",
               "queue_bytes": "queue-bytes", "queue_pkts": "queue-pkts"}


class WanLink:
    def __init__(self, net, a, b, dev="wan0", a_addrs=("198.51.100.1/24", "2001:db8:100::1/64"),
                 b_addrs=("198.51.100.2/24", "2001:db8:100::2/64"), seed=1, mtu=1500,
                 nice=-10, rt=0, extra=(), **path):
        unknown = set(path) - set(_PATH_FLAGS)
        if unknown:
            raise TypeError(f"WanLink: unknown settings {sorted(unknown)}")
        self.a, self.b, self.dev = a, b, dev
        argv = [BIN, "--ns-a", a.name, "--dev-a", dev, "--ns-b", b.name, "--dev-b", dev,
                "--seed", str(seed), "--mtu", str(mtu), "--nice", str(nice), *extra]
        if rt:
            argv += ["--rt", str(rt)]
        for key, value in path.items():
            if value is None:
                continue
            flag = _PATH_FLAGS[key]
            if isinstance(value, (tuple, list)):
                argv += [f"--{flag}-ab", str(value[0]), f"--{flag}-ba", str(value[1])]
            else:
                argv += [f"--{flag}", str(value)]
        self.argv = argv
        self.dir = t.tmpdir("wvwan-")
        self.log = os.path.join(self.dir, "wanemu.log")
        self.proc = t.spawn(argv, self.log)
        self.ready = t.wait_for(lambda: self._event("ready"), 10, what="wanemu ready")
        self.conf = {"a_to_b": self.ready["a_to_b"], "b_to_a": self.ready["b_to_a"]}
        for ns, addrs in ((a, a_addrs), (b, b_addrs)):
            for cidr in addrs:
                ns.addr(dev, cidr)
        self.a_ip, self.b_ip = _host(a_addrs, True), _host(b_addrs, True)
        self.a_ip6, self.b_ip6 = _host(a_addrs, False), _host(b_addrs, False)

    def _events(self):
        out = []
        with open(self.log, errors="replace") as f:
            for line in f:
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass  # a line still being written
        return out

    def _event(self, name, after=0):
        if self.proc.poll() is not None and name == "ready":
            with open(self.log, errors="replace") as f:
                raise t.Fail(f"wanemu exited with {self.proc.returncode}: {f.read()[-1000:]}")
        found = [e for e in self._events() if e.get("event") == name]
        return found[after] if len(found) > after else None

    def stats(self):
        """The counters now: {"a_to_b": {...}, "b_to_a": {...}} (see tests/tools/README.md)."""
        n = sum(1 for e in self._events() if e.get("event") == "stats")
        os.kill(self.proc.pid, signal.SIGUSR1)
        return t.wait_for(lambda: self._event("stats", n), 5, what="wanemu stats")

    def cpu_seconds(self):
        """User + system CPU time the emulator has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        """Stops the emulator (its devices go with it); returns the final counters."""
        if self.proc.poll() is None:
            t.stop(self.proc)
        return t.wait_for(lambda: self._event("exit"), 5, what="wanemu exit counters")


def _host(addrs, v4):
    for cidr in addrs:
        if (":" not in cidr) == v4:
            return cidr.split("/")[0]
    return None


class UdpEcho:
    """Echoes every datagram back, from inside ns (a thread)."""

    def __init__(self, ns, host, port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = ns.call(socket.socket, fam, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host, self.port = host, self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()
        t.on_cleanup(self.sock.close)

    def _run(self):
        while True:
            try:
                d, peer = self.sock.recvfrom(65536)
                self.sock.sendto(d, peer)
            except OSError:
                return


def udp_rtts(ns, echo, count=50, timeout=2.0):
    """Round trips (ms) of count small datagrams, one at a time, from ns to echo."""
    fam = socket.AF_INET6 if ":" in echo.host else socket.AF_INET
    s = ns.call(socket.socket, fam, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    out = []
    try:
        for i in range(count):
            msg = b"wvping %d" % i
            t0 = time.perf_counter_ns()
            s.sendto(msg, (echo.host, echo.port))
            while True:
                try:
                    d, _ = s.recvfrom(2048)
                except socket.timeout:
                    d = None
                    break
                if d == msg:
                    break
            if d is not None:
                out.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        s.close()
    return out


def median_rtt(ns, echo, count=50):
    r = udp_rtts(ns, echo, count)
    return statistics.median(r) if r else None
