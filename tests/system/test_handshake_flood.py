"""Hole 5 of issue 17: inbound lockout by a handshake flood, without the key.

Three attacker hosts (198.51.100.66-68, no key, no pin) send real QUIC
Initials (tests/quic_flood, built with ngtcp2) to siteAlpha's tunnel socket:
20 every 200 ms each, from fresh source ports, never completing a
handshake; they even answer Retry packets with the token (as a client that
owns its address would) and then abandon the handshake. Meanwhile
siteBravo, which has no tunnel socket of its own and can only dial in,
must get its channel up, and keep it while the flood goes on.

On the old code the flood kept 64 half-open connections alive and every
other inbound connection was refused ("refusing inbound connections: 64
not yet proven").
"""
import json
import os
import time

import netns
import wvtest as t

KEY = "Handshake-Flood-Test-Key-2c9e"
TOPIC = "wvtest/flood"
FLOOD_MS = 16000


def main():
    net = netns.Net()
    inet = netns.Internet(net)
    a, b = net.ns("alpha"), net.ns("bravo")
    inet.attach(a, "198.51.100.10")
    inet.attach(b, "198.51.100.20")
    evil = []
    for i in range(3):
        x = net.ns(f"evil{i}")
        inet.attach(x, f"198.51.100.{66 + i}")
        evil.append(x)
    mq = netns.NsMosquitto(a, "198.51.100.10")
    alpha = netns.NsAgent(a, "alpha", config=t.site_yaml(
        "siteAlpha", key=KEY, broker=mq.url, topic=TOPIC,
        sockets=[{"mode": "dedicated-address", "transportProtocol": "quic",
                  "listenAddress": "198.51.100.10", "listenPort": 4433}]))
    t.wait_for(lambda: alpha.api("GET", "/api/v1/site")[1]["status"]["broker"]["state"]
               == "connected", 10, what="alpha on the broker")

    tool = os.path.join(t.BUILD, "tests", "quic_flood")
    floods = []
    for i, x in enumerate(evil):
        out = os.path.join(t.tmpdir("wvflood-"), "out")
        p = x.spawn([tool, "198.51.100.10", "4433", f"198.51.100.{66 + i}", str(FLOOD_MS), "20",
                     "200", "follow-retry"], out)
        floods.append((p, out))
    started = time.monotonic()
    time.sleep(2)  # the flood is in full swing before bravo shows up

    bravo = netns.NsAgent(b, "bravo", config=t.site_yaml(
        "siteBravo", key=KEY, broker=mq.url, topic=TOPIC))
    t.wait_for(lambda: t.up_channels(alpha, "siteBravo") >= 1, 10,
               what="bravo's channel up at alpha during the flood")
    took = time.monotonic() - started
    t.check(all(p.poll() is None for p, _ in floods),
            f"bravo got in while the flood was still running ({took:.1f} s into it)")
    time.sleep(3)
    t.check(t.up_channels(alpha, "siteBravo") >= 1 and t.up_channels(bravo, "siteAlpha") >= 1,
            "the channel stays up under the flood")

    for p, _ in floods:
        p.wait(FLOOD_MS / 1000 + 15)
    res = []
    for _, out in floods:
        with open(out) as f:
            res.append(json.loads(f.read().strip().splitlines()[-1]))
    sent = sum(r["sent"] for r in res)
    print(f"       flood: {res}")
    t.check(sent >= 3 * 20 * (FLOOD_MS // 200) * 0.8, f"the attackers sent {sent} Initials")
    t.check(sum(r["retries"] for r in res) > 0, "alpha asked the flood for address validation")
    t.check(t.metric(alpha, "wovenet_quic_retries_sent_total") > 0,
            "wovenet_quic_retries_sent_total counts the Retries")
    dropped = t.metric(alpha, "wovenet_quic_initials_dropped_total", 'reason="per-source"')
    t.check(dropped > 0, f"Initials over the per-source bound were dropped ({dropped:.0f})")
    t.check("refusing inbound connections: 64 not yet proven" not in alpha.log_text(),
            "alpha never had to refuse every inbound connection")


if __name__ == "__main__":
    t.run(main)
