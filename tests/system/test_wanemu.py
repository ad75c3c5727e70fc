#!/usr/bin/env python3
"""The WAN emulator (tests/tools/wanemu, issue 19) does what its flags say.

Two namespaces joined by wanemu, through wanlink.WanLink:
- delay: a UDP ping-pong's median round trip is twice the one-way delay
  (+-1 ms) and none is shorter, over IPv4 and IPv6; each direction's own
  delay holds one way (this host's one clock at both ends). Arrivals are
  the kernel's receive timestamps, as ping takes them: the path's time, not
  the scheduling of the test's own threads on a busy machine;
- loss: 20000 datagrams each way at 2% (a to b) and 0% (b to a): a to b
  loses 2% +-20%, b to a nothing, and without jitter nothing is reordered;
  TCP moves bytes intact across the lossy path;
- rate: what crosses a 50 Mbit/s bottleneck (UDP offered at 4x, and iperf3
  TCP) never arrives faster than 50 Mbit/s x 1.05 (an upper bound only: a
  shared machine may deliver less, so no lower bound is asserted);
- queue: a burst into a 10 Mbit/s link with a 20-packet queue keeps the
  first 20 packets and drops from the tail; the same with a packet bound;
- jitter and reordering spread and reorder as set;
- counters on SIGUSR1 and at exit; bad flags are refused by name; the
  devices vanish with the process.
"""
import os
import socket
import statistics
import struct
import subprocess
import threading
import time

import netns
import wanlink
import wvtest as t

HDR = struct.Struct("!IQ")  # sequence number, send time (CLOCK_REALTIME ns)


class Collector:
    """Receives stamped datagrams on host:port inside ns: (seq, one-way ms, arrival ns).

    Arrival is the kernel's receive time (wanlink.recv_stamped): when the
    emulator delivered the datagram, whenever this thread got to read it."""

    def __init__(self, ns, host):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = ns.call(socket.socket, fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, 0))
        wanlink.stamp_rx(self.sock)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.got = []
        self.bytes = 0
        self.done = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()
        t.on_cleanup(self.sock.close)

    def _run(self):
        self.sock.settimeout(0.05)
        quiet_since = None
        while True:
            try:
                d, _, now = wanlink.recv_stamped(self.sock)
            except socket.timeout:
                if self.done.is_set():
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > 1.0:
                        return
                continue
            except OSError:
                return
            seq, sent = HDR.unpack_from(d)
            self.got.append((seq, (now - sent) / 1e6, now))
            self.bytes += len(d)
            quiet_since = None

    def finish(self):
        """Waits until nothing has arrived for 1 s after the sender is done."""
        self.done.set()
        self.th.join(60)
        return self.got


def send_stamped(ns, dst, count, size=64, gap_s=0.0, sndbuf=4 << 20):
    """Sends count datagrams of size bytes to dst=(host, port) from ns, paced at gap_s."""
    fam = socket.AF_INET6 if ":" in dst[0] else socket.AF_INET
    s = ns.call(socket.socket, fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    pad = b"\0" * (size - HDR.size)
    t0 = time.monotonic()
    for i in range(count):
        if gap_s and i % 20 == 0:
            ahead = t0 + i * gap_s - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        s.sendto(HDR.pack(i, time.time_ns()) + pad, dst)
    elapsed = time.monotonic() - t0
    s.close()
    return elapsed


def udp_rcvbuf_errors(ns):
    """Datagrams the namespace's UDP sockets dropped for a full receive buffer."""
    n = 0
    for path, key in (("/proc/net/snmp", "Udp:"), ("/proc/net/snmp6", None)):
        text = ns.run(["cat", path]).stdout
        if key:
            rows = [ln.split() for ln in text.splitlines() if ln.startswith(key)]
            n += int(rows[1][rows[0].index("RcvbufErrors")])
        else:
            for ln in text.splitlines():
                if ln.startswith("Udp6RcvbufErrors"):
                    n += int(ln.split()[1])
    return n


def check_rtt(a, echo, want_ms, what):
    rtts = wanlink.udp_rtts(a, echo, count=60)
    t.check(len(rtts) >= 55, f"{what}: {len(rtts)} of 60 pings answered")
    med = statistics.median(rtts)
    print(f"       {what}: median {med:.3f} ms, min {min(rtts):.3f}, max {max(rtts):.3f}")
    t.check(abs(med - want_ms) <= 1.0, f"{what}: median RTT {med:.2f} ms = {want_ms} ms +-1")
    t.check(min(rtts) >= want_ms, f"{what}: no round trip shorter than {want_ms} ms"
            f" (shortest {min(rtts):.3f})")


def cli_refusals():
    cases = [
        (["--loss", "1.5"], "--loss 1.5: out of range"),
        (["--loss", "150%"], "--loss 150%: out of range"),
        (["--rate-mbit", "fast"], "--rate-mbit fast: not a number"),
        (["--delay-ms", "10", "--jitter-ms-ab", "30"], "--jitter-ms-ab: larger than the delay"),
        (["--queue-bytes", "30000"], "a queue needs a rate"),
        (["--queue-pkts", "2.5", "--rate-mbit", "1"], "--queue-pkts 2.5: not a whole number"),
        (["--delay-ms-xy", "1"], "--delay-ms-xy: unknown flag"),
        (["--mtu", "100"], "--mtu 100: out of range"),
        (["--delay-ms"], "--delay-ms: needs a value"),
    ]
    for argv, want in cases:
        r = subprocess.run([wanlink.BIN, *argv], capture_output=True, text=True, timeout=10)
        t.check(r.returncode == 2 and want in r.stderr,
                f"wanemu {' '.join(argv)} refused: {r.stderr.strip()!r}")
    r = subprocess.run([wanlink.BIN, "--ns-a", f"wvt-{os.getpid()}-missing"], capture_output=True,
                       text=True, timeout=10)
    t.check(r.returncode == 1 and "missing" in r.stderr and "No such file" in r.stderr,
            f"a missing namespace is named: {r.stderr.strip()!r}")


def delay(net, a, b):
    link = wanlink.WanLink(net, a, b, delay_ms=20)
    for host, fam in ((link.b_ip, "IPv4"), (link.b_ip6, "IPv6")):
        echo = wanlink.UdpEcho(b, host)
        check_rtt(a, echo, 40, f"delay 20 ms each way, {fam}")
    st = link.stats()
    t.check(st["a_to_b"]["tx_pkts"] >= 120 and st["b_to_a"]["tx_pkts"] >= 120,
            f"SIGUSR1 counters show the pings ({st['a_to_b']['tx_pkts']} a->b,"
            f" {st['b_to_a']['tx_pkts']} b->a)")
    # TCP over both families, bytes intact.
    data = os.urandom(1 << 20)
    for host in (link.b_ip, link.b_ip6):
        srv = t.AppServer(ns=b, host=host)
        t.check(netns.roundtrip(a, srv.port, data, host=host) == data,
                f"1 MiB echoed intact over TCP to {host}")
    final = link.stop()
    t.check(final["a_to_b"]["tx_pkts"] >= st["a_to_b"]["tx_pkts"] + 700,
            "exit counters include the TCP transfer")
    r = a.run(["ip", "link", "show", "wan0"], check=False)
    t.check(r.returncode != 0, "the TUN device is gone with the process")

    # Each direction's own delay, one way.
    link = wanlink.WanLink(net, a, b, delay_ms=(10, 30))
    for src, dst, host, want in ((a, b, link.b_ip, 10), (b, a, link.a_ip, 30)):
        col = Collector(dst, host)
        send_stamped(src, (col.host, col.port), 200, gap_s=0.002)
        got = col.finish()
        d = [x[1] for x in got]
        t.check(len(got) == 200, f"one way {want} ms: all 200 datagrams arrived")
        med = statistics.median(d)
        print(f"       one way {want} ms: median {med:.3f}, min {min(d):.3f}, max {max(d):.3f}")
        t.check(abs(med - want) <= 1.0 and min(d) >= want,
                f"one-way delay {med:.2f} ms = {want} ms +-1, none shorter")
    check_rtt(a, wanlink.UdpEcho(b, link.b_ip), 40, "delay 10 + 30 ms")
    link.stop()


def loss(net, a, b):
    n, p = 20000, 0.02
    link = wanlink.WanLink(net, a, b, delay_ms=5, loss=(p, 0), seed=7)
    before = (udp_rcvbuf_errors(a), udp_rcvbuf_errors(b))
    cols, senders = {}, []
    for name, src, dst, host in (("a_to_b", a, b, link.b_ip), ("b_to_a", b, a, link.a_ip)):
        col = Collector(dst, host)
        cols[name] = col
        senders.append(threading.Thread(target=send_stamped, args=(src, (col.host, col.port), n),
                                        kwargs={"gap_s": 0.0001}, daemon=True))
        senders[-1].start()
    for s in senders:
        s.join(120)
    got = {k: c.finish() for k, c in cols.items()}
    st = link.stats()
    after = (udp_rcvbuf_errors(a), udp_rcvbuf_errors(b))
    t.check(after == before, f"no receive-buffer drops in the namespaces ({before} -> {after})")
    for d in ("a_to_b", "b_to_a"):
        t.check(st[d]["drop_device"] == 0, f"{d}: no drops at the device (emulator kept up)")
    lost = n - len(got["a_to_b"])
    rate = lost / n
    print(f"       a->b: {lost} of {n} lost ({rate * 100:.2f}%), emulator counted"
          f" {st['a_to_b']['drop_loss']} loss drops of {st['a_to_b']['rx_pkts']} packets")
    t.check(abs(rate - p) <= 0.2 * p, f"a->b loss {rate * 100:.2f}% = 2% +-20%")
    t.check(len(got["b_to_a"]) == n, f"b->a (0% loss): all {n} arrived ({len(got['b_to_a'])})")
    # Strays (the kernel's IPv6 router solicitations) may be lost too: at most a few.
    extra = st["a_to_b"]["drop_loss"] - lost
    t.check(0 <= extra <= 5, f"the emulator's loss counter matches ({extra} stray packets)")
    seqs = [x[0] for x in got["b_to_a"]]
    t.check(seqs == sorted(seqs), "without jitter the order is kept")
    data = os.urandom(2 << 20)
    srv = t.AppServer(ns=b, host=link.b_ip)
    t.check(netns.roundtrip(a, srv.port, data, host=link.b_ip, timeout=60) == data,
            "2 MiB echoed intact over TCP across 2% loss")
    link.stop()


def rate(net, a, b):
    mbit = 50
    link = wanlink.WanLink(net, a, b, delay_ms=5, rate_mbit=mbit)
    col = Collector(b, link.b_ip)
    # 4x the rate for 2 s, 1428-byte IP packets (1400 of UDP payload).
    send_stamped(a, (col.host, col.port), 35000, size=1400, gap_s=1428 * 8 / (4 * mbit * 1e6))
    got = col.finish()
    st = link.stats()["a_to_b"]
    span = (got[-1][2] - got[0][2]) / 1e9
    ip_mbit = (len(got) - 1) * 1428 * 8 / span / 1e6
    print(f"       UDP offered at {4 * mbit} Mbit/s: {len(got)} arrived over {span:.2f} s ="
          f" {ip_mbit:.2f} Mbit/s of IP packets; queue drops {st['drop_queue']},"
          f" queue high-water {st['queue_max_bytes']} of {link.conf['a_to_b']['queue_bytes']}")
    t.check(ip_mbit <= mbit * 1.05, f"UDP arrives at {ip_mbit:.2f} <= {mbit} x 1.05 Mbit/s")
    t.check(st["drop_queue"] > 0, "the excess was dropped at the queue")
    t.check(st["queue_max_bytes"] <= link.conf["a_to_b"]["queue_bytes"],
            "the queue never held more than its bound")
    srv = b.spawn(["iperf3", "-s", "-1", "-B", link.b_ip, "-p", "5201"],
                  os.path.join(link.dir, "iperf3.log"))
    t.wait_for(lambda: "5201" in b.run(["ss", "-ltn"]).stdout, 5, what="iperf3 server")
    rep = netns.iperf_json(a, ["-c", link.b_ip, "-p", "5201", "-t", "4"])
    tcp = netns.iperf_mbps(rep)
    print(f"       iperf3 TCP through {mbit} Mbit/s: {tcp:.2f} Mbit/s")
    t.check(tcp <= mbit * 1.05, f"iperf3 TCP {tcp:.2f} <= {mbit} x 1.05 Mbit/s")
    t.stop(srv)
    link.stop()


def queue(net, a, b):
    for bound, kw in (("30000 bytes", {"queue_bytes": 30000}), ("20 packets", {"queue_pkts": 20})):
        link = wanlink.WanLink(net, a, b, rate_mbit=10, **kw)
        col = Collector(b, link.b_ip)
        # 200 packets of 1500 bytes as fast as possible: ~10 ms at 10 Mbit/s
        # would drain 8 of them.
        took = send_stamped(a, (col.host, col.port), 200, size=1472)
        got = col.finish()
        st = link.stats()["a_to_b"]
        seqs = sorted(x[0] for x in got)
        print(f"       {bound}: burst sent in {took * 1000:.1f} ms, {len(seqs)} arrived:"
              f" {seqs[:25]}..., queue drops {st['drop_queue']}, high-water"
              f" {st['queue_max_bytes']}")
        t.check(seqs[:20] == list(range(20)), f"queue of {bound}: the first 20 packets arrived")
        t.check(len(seqs) < 60, f"queue of {bound}: the tail was dropped ({len(seqs)} of 200)")
        t.check(st["drop_queue"] >= 200 - len(seqs), "the drops are counted as queue drops")
        t.check(st["queue_max_bytes"] <= 30000, "the queue never held more than 20 packets")
        link.stop()


def jitter_reorder(net, a, b):
    link = wanlink.WanLink(net, a, b, delay_ms=20, jitter_ms=(5, 0))
    col = Collector(b, link.b_ip)
    send_stamped(a, (col.host, col.port), 1000, gap_s=0.001)
    got = col.finish()
    d = sorted(x[1] for x in got)
    inversions = sum(1 for x, y in zip(got, got[1:]) if y[0] < x[0])
    p5, p50, p95, p99 = (d[len(d) * k // 100] for k in (5, 50, 95, 99))
    print(f"       jitter 5 ms: one way {d[0]:.2f} / p5 {p5:.2f} / p50 {p50:.2f} / p95 {p95:.2f}"
          f" / p99 {p99:.2f} / {d[-1]:.2f} ms, {inversions} inversions")
    t.check(len(got) == 1000, "jitter: all 1000 arrived")
    # The send time is read just before sendto: a sender preempted in between
    # makes a datagram look late (never early), hence p99 for the upper end.
    t.check(d[0] >= 15 and p99 <= 26, "jitter: one-way delays within 20 +-5 ms (p99, +1 late)")
    t.check(abs(p50 - 20) <= 1, "jitter: the median one-way delay 20 ms +-1")
    t.check(p5 <= 16 and p95 >= 24, "jitter: spread over the window (p5 <= 16, p95 >= 24 ms)")
    t.check(inversions > 50, "jitter reorders packets sent 1 ms apart")
    link.stop()

    link = wanlink.WanLink(net, a, b, delay_ms=20, reorder=0.25, seed=3)
    col = Collector(b, link.b_ip)
    send_stamped(a, (col.host, col.port), 2000, gap_s=0.0005)
    got = col.finish()
    quick = sum(1 for x in got if x[1] < 10)
    st = link.stats()["a_to_b"]
    print(f"       reorder 25%: {quick} of {len(got)} skipped the delay,"
          f" emulator counted {st['reordered']}")
    t.check(len(got) == 2000, "reorder: all 2000 arrived")
    t.check(abs(quick / 2000 - 0.25) <= 0.05, f"reorder: {quick / 20:.1f}% skipped the delay = 25% +-20%")
    t.check(all(x[1] >= 20 for x in got if x[1] >= 10), "the others kept the full delay")
    link.stop()


def main():
    t.check(os.access(wanlink.BIN, os.X_OK), f"wanemu built at {wanlink.BIN}")
    cli_refusals()
    net = netns.Net()
    a, b = net.ns("a"), net.ns("b")
    delay(net, a, b)
    loss(net, a, b)
    rate(net, a, b)
    queue(net, a, b)
    jitter_reorder(net, a, b)


if __name__ == "__main__":
    t.run(main)
