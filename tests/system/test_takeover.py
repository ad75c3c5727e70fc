"""Hole 2 of issue 17: takeover of a running site by any key holder.

siteAlpha consumes siteBravo's app svc (which answers REAL-BRAVO). Mallory
runs its own agent with the network key (its app svc answers FAKE-MALLORY)
and forges, with the project's own codec and envelope (tests/wv_disco):

  1. a retained announcement in siteBravo's slot: Bravo's instance,
     seq = INT64_MAX, Mallory's fingerprint and socket, unsigned (what an
     agent without signatures accepts);
  2. the same signed with Mallory's own identity key (what a key holder can
     sign);
  3. an unsolicited sockinfo-reply "from" siteBravo in siteAlpha's inbox.

Every connection through Alpha's remote app must still reach the real
Bravo, Alpha must keep Bravo's pinned key and fingerprint, show the
conflict (peers view, /metrics, one log line), count the drops by reason,
and all of it must survive restarts of both sites.
"""
import json
import subprocess
import time

import wvtest as t

KEY = "Takeover-Test-Network-Key-8e1c"
TOPIC = "wvtest/takeover"
ITER = "200000"  # the agents' work factor (WV_KDF_ITERATIONS)
TOOL = f"{t.BUILD}/tests/wv_disco"
INT64_MAX = 2**63 - 1


def tool(*args, data=b""):
    r = subprocess.run([TOOL, *args], input=data, capture_output=True, check=True, timeout=30)
    return r.stdout


def kt(*args, data=b""):
    return tool(args[0], "--key", KEY, "--topic", TOPIC, "--iterations", ITER, *args[1:],
                data=data)


def main():
    mq = t.Mosquitto()
    real, fake = t.AppServer(blob=b"REAL-BRAVO"), t.AppServer(blob=b"FAKE-MALLORY")
    local = t.free_port()
    alpha = t.Agent("alpha", config=t.site_yaml(
        "siteAlpha", key=KEY, broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        remote=[t.remote_app("siteBravo", "svc", local)]))
    bravo = t.Agent("bravo", config=t.site_yaml(
        "siteBravo", key=KEY, broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        exposed=[t.exposed_app("svc", real.port)]))
    mallory = t.Agent("mallory", config=t.site_yaml(
        "siteMallory", key=KEY, broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        exposed=[t.exposed_app("svc", fake.port)]))

    def peer(agent, site):
        st, peers, _ = agent.api("GET", "/api/v1/peers")
        return next((p for p in peers or [] if p["siteName"] == site), None)
    t.wait_for(lambda: t.up_channels(alpha, "siteBravo") >= 1, 15, what="alpha -> bravo up")
    t.wait_for(lambda: peer(alpha, "siteMallory"), 15, what="alpha knows mallory")

    def all_real(n=3):
        return [t.recv_all(local, timeout=10) for _ in range(n)]
    t.check_eq(all_real(), [b"REAL-BRAVO"] * 3, "before: the remote app reaches the real bravo")
    pb, pm = peer(alpha, "siteBravo"), peer(alpha, "siteMallory")
    real_fp, real_key = pb["fingerprint"], pb.get("identityKey")

    bslot = f"{TOPIC}/a/{kt('hash', '--site', 'siteBravo').decode().strip()}"
    ainbox = f"{TOPIC}/i/{kt('hash', '--site', 'siteAlpha').decode().strip()}"
    got = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port), "-t", bslot,
                          "-C", "1", "-W", "5"], capture_output=True, check=True).stdout
    ann = json.loads(kt("open", "--to", bslot, data=got.rstrip(b"\n")))
    t.check_eq(ann["site"], "siteBravo", "the key holder can read bravo's announcement")

    forged = dict(ann, seq=INT64_MAX, fingerprint=pm["fingerprint"],
                  sockets=pm["sockets"], ts=int(time.time() * 1000))
    for k in ("key", "sig", "prevKey", "prevSig"):
        forged.pop(k, None)

    def publish(topic, msg, retain):
        sealed = kt("seal", "--to", topic, data=json.dumps(msg).encode())
        path = f"{mq.dir}/forged"
        with open(path, "wb") as f:
            f.write(sealed)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-q", "1",
                        "-t", topic, "-f", path] + (["-r"] if retain else []), check=True)

    def still_bravo(what):
        time.sleep(2.5)  # several heal/announce rounds
        t.check_eq(all_real(), [b"REAL-BRAVO"] * 3, f"{what}: every connection reaches the "
                                                      "real bravo")
        p = peer(alpha, "siteBravo")
        t.check_eq(p["fingerprint"], real_fp, f"{what}: alpha keeps bravo's fingerprint")

    print("1. unsigned forged announcement in bravo's slot, seq INT64_MAX")
    publish(bslot, forged, retain=True)
    still_bravo("unsigned forgery")
    t.check(t.metric(alpha, "wovenet_messages_dropped_total", 'reason="unsigned"') >= 1,
            "the unsigned forgery is counted (reason=unsigned)")
    t.check(real_key and peer(alpha, "siteBravo").get("membership") == "trusted",
            "bravo's identity key is pinned (trusted) at alpha")

    print("2. the same, signed with mallory's own identity key")
    signed = json.loads(tool("sign", data=json.dumps(forged).encode()))
    for _ in range(3):
        publish(bslot, signed, retain=True)
    still_bravo("forgery signed by another key")
    p = peer(alpha, "siteBravo")
    t.check_eq(p.get("membership"), "conflict", "alpha shows a conflict on bravo")
    t.check_eq((p.get("conflict") or {}).get("offeredKey"), signed["key"],
               "the conflict names the key offered")
    t.check_eq(p.get("identityKey"), real_key, "bravo's pinned key is unchanged")
    t.check(t.metric(alpha, "wovenet_messages_dropped_total", 'reason="pin"') >= 3,
            "each refused message is counted (reason=pin)")
    t.check(t.metric(alpha, "wovenet_pin_conflicts", missing=-1.0) >= 0, "conflict gauge present")
    lines = [ln for ln in alpha.log_text().splitlines()
             if "signed by another identity key" in ln and "siteBravo" in ln]
    t.check_eq(len(lines), 1, "the conflict is logged once for that key")

    print("3. unsolicited sockinfo-reply from 'siteBravo' in alpha's inbox")
    reply = dict(forged, type="sockinfo-reply", to="siteAlpha", seq=INT64_MAX - 1,
                 ts=int(time.time() * 1000))
    publish(ainbox, reply, retain=False)
    signed_reply = json.loads(tool("sign", data=json.dumps(
        dict(reply, seq=INT64_MAX - 2)).encode()))
    publish(ainbox, signed_reply, retain=False)
    still_bravo("unsolicited reply")
    t.check(t.metric(alpha, "wovenet_messages_dropped_total", 'reason="unsolicited"') >= 2,
            "unsolicited replies are dropped and counted")

    print("4. restarts of bravo and alpha")
    bravo.stop()
    bravo.start()
    alpha.stop()
    alpha.start()
    t.wait_for(lambda: t.up_channels(alpha, "siteBravo") >= 1, 20, what="alpha -> bravo again")
    still_bravo("after restarts")
    t.check_eq(peer(alpha, "siteBravo").get("identityKey"), real_key,
               "the pin survived the restart")


if __name__ == "__main__":
    t.run(main)
