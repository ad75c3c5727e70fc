"""Hole 4 of issue 17: the default topic and weak network keys.

The topic is sent to the broker in clear. It used to be a SHA-256 of the
key, so the broker operator could test key guesses at hash speed, which
defeats the slow KDF; and 8-byte keys were accepted. Now:

- the default topic is derived from PBKDF2 output (200000 iterations): the
  exported topic equals the documented formula, not the old fast hash, and
  it is what the agent really uses on the broker;
- an explicit topic is kept as written;
- `wovenet key generate` prints a strong random key, different every time,
  that import accepts;
- short or low-entropy keys are refused with the rule in the message; the
  upstream's 16-character sample key is still accepted.
"""
import hashlib
import hmac
import json
import os
import subprocess

import wvtest as t


def pbkdf2_topic(key):
    salt = hashlib.sha256(b"wovenet-topic-salt").digest()
    master = hashlib.pbkdf2_hmac("sha256", key.encode(), salt, 200000, 32)
    return "wovenet/" + hmac.new(master, b"wovenet/1 default topic",
                                 hashlib.sha256).hexdigest()[:32]


def fast_topic(key):
    return "wovenet/" + hashlib.sha256(b"wovenet-topic\0" + key.encode()).hexdigest()[:32]


def yaml(key, topic=None, broker="mqtt://127.0.0.1:1"):
    y = [f"siteName: siteTopic", "crypto:", f"  key: {json.dumps(key)}",
         "messageChannel:", "  protocol: mqtt", "  mqtt:", f"    brokerServer: {broker}"]
    if topic:
        y.append(f"    topic: {json.dumps(topic)}")
    return "\n".join(y) + "\n"


def imported(key, topic=None, broker="mqtt://127.0.0.1:1"):
    d = t.tmpdir("wvtopic-")
    with open(f"{d}/c.yaml", "w") as f:
        f.write(yaml(key, topic, broker))
    rc, out, err = t.wovenet("import", "--db", f"{d}/w.db", f"{d}/c.yaml")
    return rc, out + err, f"{d}/w.db"


def main():
    rc, k1, _ = t.wovenet("key", "generate")
    rc2, k2, _ = t.wovenet("key", "generate")
    k1, k2 = k1.strip(), k2.strip()
    t.check(rc == 0 and rc2 == 0 and len(k1) == 44 and k1 != k2,
            f"`wovenet key generate` prints a fresh 44-character key ({len(k1)})")
    rc, text, db = imported(k1)
    t.check_eq(rc, 0, f"a generated key is accepted {text.strip()}")

    for weak in ("short-key-1", "aaaaaaaaaaaaaaaaaaaaaaaa", "abcdefghijklmnop", "12345678"):
        rc, text, _ = imported(weak)
        t.check(rc != 0 and "at least 16 characters" in text and "key generate" in text,
                f"weak key {weak!r} refused with the rule: {text.strip()[-160:]!r}")
    rc, text, _ = imported("aA6wBHTYd%#dOPr8")
    t.check_eq(rc, 0, f"the upstream's 16-character sample key is accepted {text.strip()}")

    key = "Topic-Derivation-Key-7a51"
    mq = t.Mosquitto()
    rc, text, db = imported(key, broker=mq.url)
    rc, out, _ = t.wovenet("export", "--db", db, "--format", "json")
    topic = json.loads(out)["site"]["messageChannel"]["topic"]
    t.check_eq(topic, pbkdf2_topic(key), "the default topic comes from PBKDF2 (200000 iterations)")
    t.check(topic != fast_topic(key), "it is not the old SHA-256 of the key")

    cap = os.path.join(t.tmpdir(), "cap")
    sub = t.spawn(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port), "-t", "#", "-v"], cap)
    agent = t.Agent("topic", db=db)
    t.wait_for(lambda: os.path.getsize(cap) > 0, 10, what="the agent publishes")
    with open(cap, "rb") as f:
        first = f.read().split(b" ", 1)[0].decode()
    t.check(first.startswith(topic + "/"), f"the agent publishes under it ({first[:60]})")
    agent.stop()
    sub.kill()

    rc, text, db = imported(key, topic="wvtest/explicit-topic")
    rc, out, _ = t.wovenet("export", "--db", db, "--format", "json")
    t.check_eq(json.loads(out)["site"]["messageChannel"]["topic"], "wvtest/explicit-topic",
               "an explicit topic is kept unchanged")


if __name__ == "__main__":
    t.run(main)
