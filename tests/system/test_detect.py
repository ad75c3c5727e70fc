"""Issue 7, public-address detection over HTTP, with the real binary (STUN:
test_detect_stun.py). On loopback; a tiny HTTP server in this test answers
the address.
- siteAlpha's socket `auto1` (publicAddress autoHttpDetect, interval 5 s) is
  announced with the detected address: siteBravo's /api/v1/peers lists it
  with detected=true, and bravo's channel to it comes up;
- the server answers a new address -> re-announced within interval + 1 s
  (printed), bravo's view follows, an SSE status event carries it; back to
  the working address -> bravo re-dials it and the channel is up again;
- HTML, 1 MiB, binary garbage, HTTP 500 and a hanging server are each
  refused with a WARN line naming the reason; the agent stays up and keeps
  the last good address; /metrics counts detections and failures.
"""
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import wvtest as t

KEY = "detect-network-key-4411"
INTERVAL = 5


class Detector:
    """HTTP server whose answer the test changes."""

    def __init__(self):
        self.mode, self.addr, self.hits = "addr", "127.0.0.1", 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                mode = outer.mode
                if mode == "hang":
                    time.sleep(8)
                    return
                status, ctype, body = 200, "text/plain", (outer.addr + "\n").encode()
                if mode == "html":
                    ctype, body = "text/html", b"<html><body>Your IP: 127.0.0.1</body></html>"
                elif mode == "big":
                    body = b"1" * (1 << 20)
                elif mode == "garbage":
                    body = bytes(range(256))[:200]
                elif mode == "500":
                    status, body = 500, b"oops"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (oversize): expected

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        t.on_cleanup(self.srv.shutdown)


def peer_socket(agent, site):
    st, peers, _ = agent.api("GET", "/api/v1/peers")
    p = next((p for p in peers or [] if p["siteName"] == site), None)
    return p["sockets"] if p else None


def sse_open(a):
    s = socket.create_connection(("127.0.0.1", a.api_port), timeout=5)
    s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
    s.settimeout(0.5)
    return s


def test_http():
    mq = t.Mosquitto()
    det = Detector()
    pa, pb = t.free_port(socket.SOCK_DGRAM), t.free_port(socket.SOCK_DGRAM)
    alpha = t.Agent("alpha", config=t.site_yaml("siteAlpha", key=KEY, broker=mq.url,
                                                  topic="wvtest/detect"))
    bravo = t.Agent("bravo", config=t.site_yaml(
        "siteBravo", key=KEY, broker=mq.url, topic="wvtest/detect",
        sockets=[t.tunnel_socket(pb)]))
    sock = {"name": "auto1", "mode": "dedicated-address", "publicAddress": "autoHttpDetect",
            "listenAddress": "127.0.0.1", "listenPort": pa,
            "httpDetector": {"url": f"http://127.0.0.1:{det.port}/ip", "interval": INTERVAL}}
    st, body, _ = alpha.api("POST", "/api/v1/tunnel-sockets", body=sock)
    t.check(st in (200, 201), f"autoHttpDetect socket with interval {INTERVAL} s accepted ({st})")

    want = [{"address": "127.0.0.1", "port": pa, "protocol": "quic", "detected": True}]
    t.wait_for(lambda: peer_socket(bravo, "siteAlpha") == want, 15,
               what="siteBravo lists siteAlpha's detected socket")
    t.check(True, "siteBravo lists auto1 as 127.0.0.1 with detected=true")
    t.wait_for(lambda: any(c["direction"] == "outbound" and c["state"] == "up"
                           and c["remoteAddress"] == f"127.0.0.1:{pa}"
                           for c in bravo.api("GET", "/api/v1/peers/siteAlpha")[1]["channels"]),
               10, what="bravo's channel to the detected address up")
    t.check(True, "bravo's outbound channel to the detected address is up")
    st, obj, _ = alpha.api("GET", "/api/v1/tunnel-sockets/auto1")
    status = obj.get("status", {})
    t.check(status.get("publicAddress") == "127.0.0.1" and status.get("state") == "listening"
            and status.get("detection", {}).get("state") == "detected",
            f"socket status shows the detected address ({status})")

    # A new address: re-announced within interval + 1 s, bravo's view follows.
    ev = sse_open(alpha)
    det.addr = "127.0.0.3"
    t0 = time.monotonic()
    want_new = [dict(want[0], address="127.0.0.3")]
    t.wait_for(lambda: peer_socket(bravo, "siteAlpha") == want_new, INTERVAL + 3,
               what="bravo sees the new address")
    dt = time.monotonic() - t0
    print(f"new address visible on the peer after {dt:.2f} s (interval {INTERVAL} s)")
    t.check(dt <= INTERVAL + 1.5, f"re-announced within interval + 1 s ({dt:.2f} s)")
    buf = t.recv_until(ev, b"127.0.0.3", 3)
    ev.close()
    t.check(b'"auto1"' in buf and b"127.0.0.3" in buf, "SSE status event carries the new address")
    t.check("127.0.0.3" in alpha.log_text(), "alpha logs the address change")

    # Back to the working address: bravo re-dials it.
    det.addr = "127.0.0.1"
    t.wait_for(lambda: peer_socket(bravo, "siteAlpha") == want, INTERVAL + 3,
               what="bravo sees the address back")
    t.wait_for(lambda: any(c["direction"] == "outbound" and c["state"] == "up"
                           and c["remoteAddress"] == f"127.0.0.1:{pa}"
                           for c in bravo.api("GET", "/api/v1/peers/siteAlpha")[1]["channels"]),
               10, what="bravo re-dialed the new address")
    t.check(True, "bravo re-dials the re-announced address and its channel is up")

    # Bad answers: refused with a clear line, the last good address kept.
    fails0 = t.metric(alpha, "wovenet_address_detection_failures_total", missing=None)
    for mode, needle in [("html", "not an IP address"), ("big", "over 256 bytes"),
                         ("garbage", "not an IP address"), ("500", "HTTP status 500"),
                         ("hang", "imed out")]:
        det.mode = mode
        t.wait_for(lambda: needle in alpha.log_text().split("auto1: address detection failed")[-1]
                   or False, 2 * INTERVAL + 6, what=f"{mode} refused")
        t.check(True, f"{mode} answer refused with a WARN naming it ({needle!r})")
        det.mode = "addr"
        t.wait_for(lambda: alpha.api("GET", "/api/v1/tunnel-sockets/auto1")[1]["status"]
                   ["detection"]["state"] == "detected", 2 * INTERVAL + 6,
                   what="detected again")
    t.check(alpha.proc.poll() is None, "alpha still running after every bad answer")
    t.check(peer_socket(bravo, "siteAlpha") == want, "bravo kept the last good address")
    fails = t.metric(alpha, "wovenet_address_detection_failures_total", missing=None)
    dets = t.metric(alpha, "wovenet_address_detections_total", missing=None)
    changes = t.metric(alpha, "wovenet_address_changes_total", missing=None)
    t.check(fails is not None and fails - fails0 >= 5, f"/metrics counts failures ({fails})")
    t.check(dets is not None and dets >= 3 and changes >= 3,
            f"/metrics counts detections ({dets}) and changes ({changes})")


def main():
    test_http()


if __name__ == "__main__":
    t.run(main)
