"""Issue 19: the agent-wide buffer budget holds with 200 stalled readers at once.

Two namespaces joined by the WAN emulator (tests/tools/wanemu, RTT 100 ms):
alpha exposes an app that pushes data without end to each connection; 200
clients at bravo connect through the tunnel, one after the other, and read
nothing. On a path with a round trip, windows grow as they would for fast
readers (bravo writes into the clients' kernel buffers at once until they
are full), so the windows would reach far beyond the budget: the channel
window cap is set above it (channelWindowMiB 1024, bufferBudgetMiB 32 on
both agents), only the budget stops them. While the readers stall:
  - bravo's /metrics shows the budget (wovenet_buffer_budget_bytes) in use
    to its limit, never beyond (_used_bytes, _peak_bytes), and growth
    refused (_refused_total);
  - the app has pushed well beyond the budget (the pressure is real);
  - each agent's RSS grows by at most the budget plus a margin: 200 proxy
    read buffers of 64 KiB (12.5 MiB, the sender's remainder of each
    connection) plus 16 MiB for the allocator, ngtcp2's per-stream state and
    the 200 sockets. (alpha, the sender, holds what bravo's windows let it
    send; bravo what it received and could not write.)
Then every client reads the start of its stream intact."""
import os
import re
import selectors
import socket
import time

import netns
import wanlink
import wvtest as t

N = 200
BUDGET_MIB = 32
MARGIN_MIB = N * 64 / 1024 + 16  # read buffers + allocator/ngtcp2/sockets
BLOCK = os.urandom(1 << 20)
HOLD = 15  # seconds the readers stall
# One connection after the other, as readers come and go.
STAGGER = 0.02


def metrics(agent):
    st, body, _ = agent.api("GET", "/metrics")
    if st != 200:
        t.check_eq(st, 200, f"{agent.name} GET /metrics")
    out = {}
    for m in re.finditer(r"^(wovenet_buffer_budget_\w+) (\S+)$", body, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def main():
    pushed = [0]

    def endless():
        while True:
            pushed[0] += len(BLOCK)
            yield BLOCK

    net = netns.Net()
    sa, sb = net.ns("sa"), net.ns("sb")
    link = wanlink.WanLink(net, sa, sb, delay_ms=50)
    broker = netns.NsMosquitto(sa, link.a_ip, t.free_port()).url
    hose = t.AppServer(ns=sa, blob=endless)
    local = t.free_port()
    limits = f"limits:\n  bufferBudgetMiB: {BUDGET_MIB}\n  channelWindowMiB: 1024\n"
    alpha = netns.NsAgent(sa, "alpha", config=t.site_yaml(
        "alpha", broker=broker, topic="wvtest/stalled",
        sockets=[t.tunnel_socket(address=link.a_ip)],
        exposed=[{"appName": "hose", "appSocket": f"tcp:127.0.0.1:{hose.port}"}],
        extra=limits))
    bravo = netns.NsAgent(sb, "bravo", config=t.site_yaml(
        "bravo", broker=broker, topic="wvtest/stalled",
        sockets=[t.tunnel_socket(address=link.b_ip)],
        remote=[{"siteName": "alpha", "appName": "hose",
                 "localSocket": f"tcp:127.0.0.1:{local}"}], extra=limits))
    agents = (alpha, bravo)
    t.wait_for(lambda: t.up_channels(bravo, "alpha") == 2, 20, what="channels up")
    for a in (alpha, bravo):
        with open(f"/proc/{a.proc.pid}/comm") as f:
            t.check_eq(f.read().strip(), "wovenet", f"{a.name}'s RSS is the agent's own")
    for a in agents:
        m = metrics(a)
        t.check_eq(m.get("wovenet_buffer_budget_bytes"), BUDGET_MIB * 1048576.0,
                   f"{a.name}'s /metrics shows the configured budget")
    idle = {a.name: metrics(a)["wovenet_buffer_budget_used_bytes"] for a in agents}
    base = {a.name: t.rss_kib(a.proc.pid) for a in agents}
    print(f"  RSS before (KiB): {base}; budget in use before: {idle}")

    clients = []
    for _ in range(N):
        c = sb.call(socket.socket)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        c.connect(("127.0.0.1", local))
        clients.append(c)
        time.sleep(STAGGER)
    t.wait_for(lambda: hose.connections >= N, 20, what=f"{N} connections reach the app")

    peak = dict(base)
    end = time.monotonic() + HOLD
    while time.monotonic() < end:  # nobody reads
        for a in agents:
            peak[a.name] = max(peak[a.name], t.rss_kib(a.proc.pid))
        time.sleep(0.25)
    final = {a.name: metrics(a) for a in agents}
    growth = {k: (peak[k] - base[k]) / 1024 for k in base}
    print(f"  app pushed {pushed[0] / 1048576:.0f} MiB into {N} stalled connections in {HOLD} s")
    print("  RSS growth (MiB): " + ", ".join(f"{k} {v:.1f}" for k, v in growth.items())
          + f"; bound {BUDGET_MIB} + {MARGIN_MIB:.1f}")
    for k, m in final.items():
        print(f"  {k} /metrics: " + ", ".join(f"{n[len('wovenet_buffer_budget_'):]} {v:.0f}"
                                              for n, v in sorted(m.items())))

    t.check(pushed[0] > 4 * BUDGET_MIB * 1048576,
            f"the app pushed {pushed[0] >> 20} MiB, more than 4x the budget")
    bravo_m = final["bravo"]
    t.check(bravo_m["wovenet_buffer_budget_peak_bytes"] <= BUDGET_MIB * 1048576,
            "bravo's budget peak stays within the limit")
    t.check(bravo_m["wovenet_buffer_budget_used_bytes"] > idle["bravo"],
            "bravo's receive windows grew into the budget (in use above the initial windows)")
    t.check(bravo_m["wovenet_buffer_budget_refused_total"] > 0,
            "and the budget refused growth beyond it")
    for k, v in growth.items():
        t.check(v <= BUDGET_MIB + MARGIN_MIB,
                f"{k}'s RSS grows by {v:.1f} MiB (<= budget {BUDGET_MIB} + margin"
                f" {MARGIN_MIB:.1f} MiB) with {N} stalled readers")

    # The streams are alive and intact: the readers resume together and each
    # gets the first MiB of its stream. (One reader alone among 199 that
    # stay stalled may starve: the credit it frees goes to whichever stream
    # the sender serves first - see docs/PERFORMANCE.md.)
    sel = selectors.DefaultSelector()
    got = {}
    for c in clients:
        c.setblocking(False)
        sel.register(c, selectors.EVENT_READ)
        got[c] = bytearray()
    # A reader that has its MiB keeps reading (and discards): one that
    # stopped would stall again and hold its share of the credit.
    done = time.monotonic() + 60
    left = N
    while left and time.monotonic() < done:
        for key, _ in sel.select(timeout=1):
            c = key.fileobj
            try:
                d = c.recv(1 << 20)
            except BlockingIOError:
                continue
            if not d:
                sel.unregister(c)
            had = len(got[c])
            if had < len(BLOCK):
                got[c] += d[:len(BLOCK) - had]
                left -= len(got[c]) == len(BLOCK)
    intact = sum(bytes(g) == BLOCK for g in got.values())
    for c in clients:
        c.close()
    t.check_eq(intact, N, "readers that get the first MiB of their stream intact")

t.run(main)
