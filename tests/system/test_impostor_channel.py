"""Hole 3 of issue 17: a channel dialed in under a name not yet announced.

Mallory holds the network key and runs a real agent that calls itself
siteBravo, on a broker of its own where it replays siteAlpha's (genuine,
signed) retained announcement, so it dials siteAlpha under the name
siteBravo before the real siteBravo ever announced itself. siteAlpha has a
remote app on siteBravo.

The inbound channel must be quarantined: never up, no stream, nothing
through the remote app; and once the real siteBravo announces its own
certificate, the impostor's channel is closed and every connection reaches
the real siteBravo.
"""
import subprocess
import time

import wvtest as t

KEY = "Impostor-Test-Network-Key-3b7d"
TOPIC = "wvtest/impostor"


def try_recv(port):
    try:
        return t.recv_all(port, timeout=5)
    except OSError:
        return b""


def main():
    mq, mq2 = t.Mosquitto(), t.Mosquitto()
    real, fake = t.AppServer(blob=b"REAL-BRAVO"), t.AppServer(blob=b"FAKE-MALLORY")
    local = t.free_port()
    alpha = t.Agent("alpha", config=t.site_yaml(
        "siteAlpha", key=KEY, broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        remote=[t.remote_app("siteBravo", "svc", local)]))
    t.wait_for(lambda: alpha.api("GET", "/api/v1/site")[1]["status"]["broker"]["state"]
               == "connected", 10, what="alpha on its broker")
    # Alpha's genuine retained announcement, copied byte for byte to
    # Mallory's broker (same topic: the envelope opens there too).
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port), "-t",
                        f"{TOPIC}/a/+", "-C", "1", "-W", "5", "-v"],
                       capture_output=True, check=True)
    topic, payload = r.stdout.rstrip(b"\n").split(b" ", 1)
    path = f"{mq2.dir}/alpha-ann"
    with open(path, "wb") as f:
        f.write(payload)
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq2.port), "-q", "1", "-r",
                    "-t", topic.decode(), "-f", path], check=True)

    mallory = t.Agent("mallory", config=t.site_yaml(
        "siteBravo", key=KEY, broker=mq2.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        exposed=[t.exposed_app("svc", fake.port)]))
    t.wait_for(lambda: t.up_channels(mallory, "siteAlpha") >= 1 or
               t.metric(alpha, "wovenet_channels_quarantined_total") >= 1, 15,
               what="mallory dialed alpha as siteBravo")
    time.sleep(2)
    t.check_eq(t.up_channels(alpha, "siteBravo"), 0,
               "the impostor's channel is not up at alpha")
    got = try_recv(local)
    t.check(got != b"FAKE-MALLORY", f"the remote app does not reach the impostor ({got!r})")
    t.check(t.metric(alpha, "wovenet_channels_quarantined_total") >= 1,
            "alpha counts the quarantined channel")

    bravo = t.Agent("bravo", config=t.site_yaml(
        "siteBravo", key=KEY, broker=mq.url, topic=TOPIC, sockets=[t.tunnel_socket()],
        exposed=[t.exposed_app("svc", real.port)]))
    t.wait_for(lambda: t.up_channels(alpha, "siteBravo") >= 1, 15, what="the real bravo up")
    time.sleep(1)
    got = [try_recv(local) for _ in range(6)]
    t.check_eq(got, [b"REAL-BRAVO"] * 6, "every connection reaches the real bravo")
    t.check_eq(t.up_channels(mallory, "siteAlpha"), 0, "the impostor has no up channel")
    st, p, _ = alpha.api("GET", "/api/v1/peers/siteBravo")
    st2, me, _ = bravo.api("GET", "/api/v1/site")
    t.check(st == 200 and p.get("membership") == "trusted", "bravo is pinned at alpha")


if __name__ == "__main__":
    t.run(main)
