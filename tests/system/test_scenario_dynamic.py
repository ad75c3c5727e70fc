"""Scenario 6, dynamic address, in the seed's namespaces.

local's port-forwarding socket has `publicAddress: autoHttpDetect`; the
detector URL is a tiny HTTP server on the broker's host that answers the
client's source address, i.e. the home router's current public IPv4 (as
api.ipify.org would). Mid-run the router's WAN is re-addressed
203.0.113.30 -> 203.0.113.33 (the port forward follows the interface): the
IPv4 channel (aws -> local's forwarded port) must recover within 30 s with
nothing restarted, while the IPv6 channel carries the app meanwhile.
"""
import http.server
import threading
import time

import seednet
import wvtest as t

NEW_V4 = "203.0.113.33"
DETECT_URL = f"http://{seednet.BROKER}:8080/ip"


class WhatIsMyIp(t.TextHandler):
    def body(self):
        return (self.client_address[0] + "\n").encode()


def aws_v4(aws):
    return [c for c in aws.channels("local", "up") if c["family"] == "ipv4"]


def main():
    w = seednet.SeedNet()
    srv = w.brk.call(http.server.ThreadingHTTPServer, (seednet.BROKER, 8080), WhatIsMyIp)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    t.on_cleanup(srv.shutdown)

    aws, local = w.start_echo_sites(
        key="dynamic-address-key-4e2a", topic="wvtest/dynamic",
        local_socket=t.public_socket("autoHttpDetect", 36092, mode="port-forwarding",
                                     transportProtocol="quic", listenPort=26098,
                                     httpDetector={"url": DETECT_URL, "interval": 5}))

    t.wait_for(lambda: len(local.channels("aws", "up")) == 2, 30, interval=0.2,
               what="two up channels (local's IPv4 socket announced once detected)")
    p = aws.peer("local")
    t.check([(s["address"], s["port"], s["detected"]) for s in p["sockets"]]
            == [(seednet.HOME_PUBLIC_V4, 36092, True)],
            f"aws sees local's detected socket {p['sockets']}")
    old = aws_v4(aws)[0]
    t.check(old["remoteAddress"].startswith(seednet.HOME_PUBLIC_V4), "aws's IPv4 channel goes to "
            f"{old['remoteAddress']}")

    # The ISP hands the router a new address.
    # (Old first: deleting a primary address also deletes its secondaries.)
    w.router.del_addr("wan", f"{seednet.HOME_PUBLIC_V4}/24")
    w.router.addr("wan", f"{NEW_V4}/24")
    w.router.sh("ip route replace default via 203.0.113.1")
    changed = time.monotonic()
    t.check(w.echo_ok(5), "the app keeps working right after the change (over IPv6)")

    def recovered():
        v4 = aws_v4(aws)
        return v4 and v4[0]["id"] != old["id"] and v4[0]["remoteAddress"].startswith(NEW_V4)
    t.wait_for(recovered, 40, interval=0.25, what="an IPv4 channel to the new address")
    dt = time.monotonic() - changed
    print(f"  BENCH dynamic address: IPv4 channel to {NEW_V4} up {dt:.1f} s after the change")
    t.check(dt <= 30, f"the IPv4 tunnel recovered in {dt:.1f} s (<= 30 s), nothing restarted")
    t.check([s["address"] for s in aws.peer("local")["sockets"]] == [NEW_V4],
            "local re-announced its new address")
    t.check(aws.proc.poll() is None and local.proc.poll() is None, "both agents kept running")


t.run(main)
