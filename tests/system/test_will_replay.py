"""Hole 8 of issue 17, its last part: the broker replays the current Last
Will of a running site.

A site's Last Will (its signed offline record) is handed to the broker at
connect; the broker publishes it when the connection dies without a
DISCONNECT. A broker that kept those bytes can publish them again at any
time while the site runs, and the signature is valid: a replay.

siteAlpha reaches the broker through a relay this test can cut. The cut
makes the broker publish Alpha's Will for real (captured here, and opened
with the project's own codec to prove it is the offline record); Alpha
reconnects with the same Will. Then the test publishes those bytes again,
retained in Alpha's slot, as the broker could. What must hold (docs/SECURITY.md,
residual risks):
  - Alpha sees its own offline record and re-announces within 3 s;
  - siteBravo lists Alpha online again within 3 s of the replay;
  - Bravo's channels to Alpha are untouched (the same ones stay up) and
    Bravo's remote app for Alpha's app carries connections throughout.
"""
import json
import socket
import subprocess
import threading
import time

import wvtest as t

KEY = "Will-Replay-Test-Network-Key-3f0a"
TOPIC = "wvtest/willreplay"
ITER = "200000"  # the agents' work factor (WV_KDF_ITERATIONS)
TOOL = f"{t.BUILD}/tests/wv_disco"


def kt(cmd, *args, data=b""):
    r = subprocess.run([TOOL, cmd, "--key", KEY, "--topic", TOPIC, "--iterations", ITER, *args],
                       input=data, capture_output=True, check=True, timeout=30)
    return r.stdout


class Relay:
    """A TCP relay to the broker whose connections cut() closes at once."""

    def __init__(self, port):
        self.up = port
        self.lst = socket.create_server(("127.0.0.1", 0))
        self.port = self.lst.getsockname()[1]
        self.pairs, self.lock = [], threading.Lock()
        t.accept_loop(self.lst, self._accepted)
        t.on_cleanup(self.lst.close)

    def _accepted(self, c):
        u = socket.create_connection(("127.0.0.1", self.up))
        with self.lock:
            self.pairs.append((c, u))
        for a, b in ((c, u), (u, c)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for c, u in pairs:
            for s in (c, u):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        return len(pairs)


def main():
    mq = t.Mosquitto()
    relay = Relay(mq.port)
    app = t.AppServer(blob=b"ALPHA-SVC")
    local = t.free_port()
    sock = lambda: [{"mode": "dedicated-address", "transportProtocol": "quic",
                     "listenAddress": "127.0.0.1", "listenPort": t.free_port()}]
    alpha = t.Agent("alpha", config=t.site_yaml(
        "siteAlpha", key=KEY, broker=f"mqtt://127.0.0.1:{relay.port}", topic=TOPIC,
        sockets=sock(), exposed=[{"appName": "svc", "appSocket": f"tcp:127.0.0.1:{app.port}"}]))
    bravo = t.Agent("bravo", config=t.site_yaml(
        "siteBravo", key=KEY, broker=mq.url, topic=TOPIC, sockets=sock(),
        remote=[{"siteName": "siteAlpha", "appName": "svc",
                 "localSocket": f"tcp:127.0.0.1:{local}"}]))

    def peer(site):
        st, peers, _ = bravo.api("GET", "/api/v1/peers")
        return next((p for p in peers or [] if p["siteName"] == site), None)

    def up_ids():
        p = peer("siteAlpha") or {}
        return sorted(c["id"] for c in p.get("channels", []) if c["state"] == "up")

    t.wait_for(lambda: t.up_channels(bravo, "siteAlpha") >= 1, 15, what="bravo -> alpha up")
    t.check_eq(t.recv_all(local, timeout=10), b"ALPHA-SVC", "before: bravo's remote app reaches alpha")

    slot = f"{TOPIC}/a/{kt('hash', '--site', 'siteAlpha').decode().strip()}"
    cap = t.BrokerCapture(mq, topics=(slot,))

    cache = {}

    def opened(payload):  # one key derivation a call: cached
        if payload not in cache:
            cache[payload] = json.loads(kt("open", "--to", slot, data=payload))
        return cache[payload]

    def offline_records():
        return [p for _, p in cap.messages(slot) if opened(p).get("type") == "offline"]

    # 1. The real thing: the connection dies, the broker publishes the Will.
    t.check(relay.cut() >= 1, "alpha's broker connection cut at the relay")
    wills = t.wait_for(offline_records, 10, what="the broker to publish alpha's Last Will")
    will = wills[0]
    rec = opened(will)
    print(f"  the Will the broker published: type {rec['type']}, site {rec.get('site')}, "
          f"{len(will)} bytes sealed")
    t.check(rec.get("site") == "siteAlpha", "the Will is alpha's signed offline record")
    t.wait_for(lambda: (peer("siteAlpha") or {}).get("online"), 15,
               what="alpha back online at bravo after reconnecting")
    ids = t.wait_for(up_ids, 10, what="bravo's channels to alpha")
    print(f"  bravo's up channels to alpha: {ids}")

    # 2. The replay: the same bytes again, retained in alpha's slot.
    cap.sync()
    n_before = len(cap.messages(slot))
    sampler = t.Sampler(lambda: not (peer("siteAlpha") or {}).get("online"), interval=0.05)
    t0 = time.monotonic()
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-t", slot, "-r",
                    "-q", "1", "-s"], input=will, check=True, timeout=10)

    # Timed without opening (a key derivation each): whatever follows the
    # replayed record in the slot is opened afterwards.
    fresh = t.wait_for(lambda: [p for _, p in cap.messages(slot)[n_before:] if p != will], 3,
                       interval=0.05, what="alpha to re-announce after the replayed Will")
    t_ann = time.monotonic() - t0
    t.wait_for(lambda: (peer("siteAlpha") or {}).get("online"), 3, interval=0.05,
               what="bravo to list alpha online again after the replay")
    t_online = time.monotonic() - t0
    seen_offline = [v for _, v in sampler.stop()]
    print(f"  FIGURE will replay: alpha re-announced {t_ann:.2f} s after the replay, bravo lists "
          f"it online {t_online:.2f} s after; offline in {sum(seen_offline)} of "
          f"{len(seen_offline)} samples")
    t.check(t_online <= 3.0, "bravo lists alpha online again within 3 s of the replay")
    after = [(m["type"], m.get("seq")) for m in map(opened, fresh)]
    print(f"  alpha's slot after the replay (type, seq): {after}; the Will's seq {rec.get('seq')}")
    t.check(after[0][0] == "announce", "what alpha published after it is its announcement")
    t.check_eq(up_ids(), ids, "bravo's channels to alpha are the same ones, still up")
    for i in range(3):
        t.check_eq(t.recv_all(local, timeout=10), b"ALPHA-SVC",
                   f"after the replay: connection {i + 1} through the remote app reaches alpha")
    st, body, _ = mq_retained(mq, slot)
    t.check(st and opened(body).get("type") == "announce",
            "alpha's slot holds its announcement again, not the replayed offline record")


def mq_retained(mq, topic):
    """The retained message of topic, as a fresh subscriber gets it."""
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port), "-t", topic,
                        "-C", "1", "-W", "5", "-F", "%x"], capture_output=True, timeout=10)
    out = r.stdout.decode().strip()
    return (r.returncode == 0 and bool(out)), bytes.fromhex(out) if out else b"", None


if __name__ == "__main__":
    t.run(main)
