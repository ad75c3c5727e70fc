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
(a to b, b to a): delay_ms=(10, 40), loss=(0.02, 0). Create it from a thread
that outlives it (the main one): wanemu ends when the thread that started
it does (PR_SET_PDEATHSIG), so that a killed test leaves none behind.

The emulator's threads run SCHED_FIFO at priority 1 (rt=1; rt=0 and nice=
for a normal priority), as a real link's work runs in softirq, ahead of any
task: on this shared 2-core machine a path at normal priority stalls when
others compile, and the tests would measure that, not the path. At load 7,
1 Gbit/s: at nice -10 the pump thread waited on the run queue a third of
the time, releases 2-6 ms late on average; at SCHED_FIFO 0.01 ms. It takes
CPU only while packets flow (the kernel's RT throttling leaves others 5%
even then).
"""
import json
import os
import signal
import socket
import statistics
import struct
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
                 nice=-10, rt=1, extra=(), **path):
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


# Kernel receive timestamps (struct timespec, CLOCK_REALTIME): when a datagram
# reached the socket - for a path through wanemu, when the emulator delivered
# it - not when the reading thread got the CPU. iputils ping measures so too.
SO_TIMESTAMPNS = 35  # asm-generic/socket.h; Python's socket module lacks it
_TURN = struct.Struct("!q")


def stamp_rx(sock):
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def recv_stamped(sock, n=65536):
    """(data, peer, receive time in ns, CLOCK_REALTIME) of one datagram on a stamp_rx socket."""
    data, anc, _, peer = sock.recvmsg(n, socket.CMSG_SPACE(16))
    for level, typ, val in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(val) >= 16:
            sec, nsec = struct.unpack("qq", val[:16])
            return data, peer, sec * 1000000000 + nsec
    return data, peer, time.time_ns()


class UdpEcho:
    """Echoes every datagram back from inside ns (a thread), with 8 bytes added:
    how long it held the datagram (from its kernel receive time to the reply),
    so that a round trip can leave this thread's scheduling out."""

    def __init__(self, ns, host, port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = ns.call(socket.socket, fam, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        stamp_rx(self.sock)
        self.host, self.port = host, self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()
        t.on_cleanup(self.sock.close)

    def _run(self):
        while True:
            try:
                d, peer, rx = recv_stamped(self.sock)
                self.sock.sendto(d + _TURN.pack(time.time_ns() - rx), peer)
            except OSError:
                return


def udp_rtts(ns, echo, count=50, timeout=2.0):
    """Round trips (ms) through the path of count small datagrams, one at a time,
    from ns to echo: from just before the send to the kernel's receive time of
    the reply, less the echo's hold time."""
    fam = socket.AF_INET6 if ":" in echo.host else socket.AF_INET
    s = ns.call(socket.socket, fam, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    stamp_rx(s)
    out = []
    try:
        for i in range(count):
            msg = b"wvping %d" % i
            t0 = time.time_ns()
            s.sendto(msg, (echo.host, echo.port))
            rtt = None
            while True:
                try:
                    d, _, rx = recv_stamped(s, 2048)
                except socket.timeout:
                    break
                if d[:-_TURN.size] == msg:
                    rtt = (rx - t0 - _TURN.unpack(d[-_TURN.size:])[0]) / 1e6
                    break
            if rtt is not None:
                out.append(rtt)
    finally:
        s.close()
    return out


def median_rtt(ns, echo, count=50):
    r = udp_rtts(ns, echo, count)
    return statistics.median(r) if r else None
