"""Discovery at mesh scale and across brokers (real mosquitto): ten sites on
one broker all list each other; sites on two bridged brokers find each other,
a Last Will crosses the bridge, and a site given both brokers fails over
when its first broker dies."""
import signal
import time

import wvtest as t
from wvdisco import Disco, sees

N = 10


def all_see_all(sites):
    names = {d.site for d in sites}
    for d in sites:
        p = d.peers()
        if {n for n, up in p.items() if up} != names - {d.site}:
            return False
    return True


def main():
    print(f"{N} sites on one broker")
    broker = t.Mosquitto()
    sites = [Disco(broker, f"site{i:02d}", apps=[f"app{i}"]) for i in range(N)]
    last = time.monotonic()
    t.wait_for(lambda: all_see_all(sites), 10, interval=0.1, what="full mesh")
    took = time.monotonic() - last
    print(f"       every site lists the {N - 1} others {took:.2f} s after the last one connected")
    t.check(took <= 2, "within 2 s")
    for d in sites:
        t.check_eq(t.stop(d.proc), 0, f"{d.site} stops cleanly")

    print("two bridged brokers")
    b1 = t.Mosquitto()
    b2 = t.Mosquitto(extra_conf=(
        f"connection wvbridge\naddress 127.0.0.1:{b1.port}\ntopic wvtest/# both 1\n"
        "cleansession true\nrestart_timeout 1\n"))
    a = Disco(b1, "siteAlpha7", apps=["webAppQx"])
    b = Disco(b2, "siteBravo9")
    t.wait_for(lambda: sees(a, "siteBravo9") and sees(b, "siteAlpha7"), 10,
               what="sites on different brokers find each other")
    c = Disco(b1, "siteCharlie3", brokers=[b1.url, b2.url])
    t.wait_for(lambda: sees(b, "siteCharlie3") and sees(c, "siteBravo9"), 5, what="charlie via b1")

    print("a Last Will crosses the bridge")
    t.stop(a.proc, signal.SIGKILL)
    t.wait_for(lambda: b.find("EV PEER offline siteAlpha7"), 5, what="alpha offline at bravo")

    print("failover: charlie's first broker dies")
    n = len(b.find("EV PEER changed siteCharlie3"))
    b1.stop(signal.SIGKILL)
    killed = time.monotonic()
    t.wait_for(lambda: len(b.find("EV PEER changed siteCharlie3")) > n, 15,
               what="charlie re-announces through b2")
    print(f"       charlie back through the second broker after {time.monotonic() - killed:.1f} s")
    t.check(sees(c, "siteBravo9") and sees(b, "siteCharlie3"), "charlie and bravo still peers")
    for d in (b, c):
        t.check_eq(t.stop(d.proc), 0, f"{d.site} stops cleanly")


t.run(main)
