"""Issue 20: a punch request makes a site send UDP to the requester's
candidates, so only the pinned key of a known site may ask. A member that
holds the network key (it can seal messages) forges punch requests "from"
siteAlpha in siteBravo's inbox:

  1. unsigned;
  2. signed with its own identity key.

Neither is answered or acted on (no "asks us to punch", no dial, the
answered counter stays 0); each is counted, as unsigned and as a pin
conflict. (test_nat_punch shows the genuine ones working.)
"""
import json
import os
import subprocess
import time

import wvtest as t

KEY = "Forged-Punch-Network-Key-5a2b"
TOPIC = "wvtest/punch-forged"
ITER = "200000"  # the agents' work factor (WV_KDF_ITERATIONS)
TOOL = f"{t.BUILD}/tests/wv_disco"


def tool(*args, data=b""):
    return subprocess.run([TOOL, *args], input=data, capture_output=True, check=True,
                          timeout=30).stdout


def kt(*args, data=b""):
    return tool(args[0], "--key", KEY, "--topic", TOPIC, "--iterations", ITER, *args[1:],
                data=data)


def main():
    mq = t.Mosquitto()
    sock = lambda: [{"mode": "nat-traversal", "transportProtocol": "quic",
                     "listenAddress": "127.0.0.1", "listenPort": t.free_port()}]
    alpha = t.Agent("alpha", config=t.site_yaml("siteAlpha", key=KEY, broker=mq.url, topic=TOPIC,
                                                sockets=sock()))
    bravo = t.Agent("bravo", config=t.site_yaml("siteBravo", key=KEY, broker=mq.url, topic=TOPIC,
                                                sockets=sock()))
    t.wait_for(lambda: t.up_channels(bravo, "siteAlpha") >= 1, 20, what="bravo -> alpha up")
    inbox = f"{TOPIC}/i/{kt('hash', '--site', 'siteBravo').decode().strip()}"

    def publish(msg):
        sealed = kt("seal", "--to", inbox, data=json.dumps(msg).encode())
        path = os.path.join(mq.dir, "forged")
        with open(path, "wb") as f:
            f.write(sealed)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-q", "1",
                        "-t", inbox, "-f", path], check=True)

    def request(seq):
        return {"type": "punch-request", "from": "siteAlpha", "to": "siteBravo",
                "instance": os.urandom(16).hex(), "seq": seq, "ts": int(time.time() * 1000)}

    dials = lambda: bravo.log_text().count("dialing siteAlpha")
    base_dials, base_unsigned = dials(), t.metric(bravo, "wovenet_messages_dropped_total",
                                                  'reason="unsigned"')
    publish(request(1))
    t.wait_for(lambda: t.metric(bravo, "wovenet_messages_dropped_total", 'reason="unsigned"') >
               base_unsigned, 10, what="the unsigned punch request counted")
    t.check(True, "1. the unsigned forged punch request is dropped and counted (reason=unsigned)")

    base_pin = t.metric(bravo, "wovenet_messages_dropped_total", 'reason="pin"')
    signed = json.loads(tool("sign", data=json.dumps(request(2)).encode()))
    publish(signed)
    t.wait_for(lambda: t.metric(bravo, "wovenet_messages_dropped_total", 'reason="pin"') >
               base_pin, 10, what="the forged signed punch request counted")
    t.check(True, "2. the punch request signed by another key is dropped and counted (reason=pin)")
    time.sleep(1)
    t.check("asks us to punch" not in bravo.log_text(), "bravo never acted on a punch request")
    t.check_eq(t.metric(bravo, "wovenet_punch_requests_total", 'dir="answered"'), 0.0,
               "bravo answered no punch request")
    t.check_eq(dials(), base_dials, "bravo dialed siteAlpha no more than before")


if __name__ == "__main__":
    t.run(main)
