"""QUIC interop: our endpoint against ngtcp2's example client and server.

Debian's ngtcp2-client and ngtcp2-server (the ngtcp2 1.x examples built
with GnuTLS: gtlsclient, gtlsserver) are an HTTP/3 implementation we did
not write. tests/system/tools/quic_interop runs the project's wv_quic
endpoint with ALPN "h3" and unidirectional streams granted (HTTP/3 needs
both); the rest is the endpoint as shipped: TLS 1.3, certificates both ways
(our server requires one), the dialer pins the server's certificate. The
test supplies every certificate (identities made as the agent makes them)
and the bytes exchanged, all on 127.0.0.1.

1. gtlsclient -> our server: handshake, ALPN h3, its client certificate
   seen by us, its GET answered with a body it saves to a file.
2. our client -> gtlsserver: handshake with the pin, ALPN h3, GET of a file
   the test wrote, its bytes back.
3. the pin holds against the foreign server: one flipped bit, no handshake
   (TLS failure).
4. our server refuses gtlsclient without a client certificate.
5. QUIC v2 (RFC 9369): gtlsclient -v 0x6b3343cf gets its answer from us.
6. an unknown version gets our Version Negotiation, listing v1 and v2.
"""
import json
import os
import socket
import subprocess

import wvtest as t

TOOL = os.path.join(t.BUILD, "tests", "quic_interop")
WV_ERR_CRYPTO = -9


def find(name):
    for d in (os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/bin"]):
        p = os.path.join(d, name)
        if d and os.access(p, os.X_OK):
            return p
    return None


def result(p, what):
    out, _ = p.communicate(timeout=30)
    lines = [ln for ln in out.decode(errors="replace").splitlines() if ln.startswith("{")]
    t.check(p.returncode == 0 and len(lines) == 1, f"{what}: quic_interop ran (rc {p.returncode})")
    return json.loads(lines[0]) if lines else {}


def ours(args, d, name):
    """Starts quic_interop; stdout is its JSON line, stderr its log."""
    return subprocess.Popen([TOOL, *args], stdout=subprocess.PIPE,
                            stderr=open(os.path.join(d, f"{name}.log"), "wb"))


def main():
    client, server = find("gtlsclient"), find("gtlsserver")
    t.check(client is not None and server is not None,
            "ngtcp2's example client and server are installed (ngtcp2-client, ngtcp2-server)")
    t.check(os.access(TOOL, os.X_OK), f"{TOOL} is built")
    if not (client and server and os.access(TOOL, os.X_OK)):
        return
    ver = subprocess.run([client, "--version"], capture_output=True, text=True)
    print(f"  (ngtcp2 example client: {(ver.stdout + ver.stderr).strip()[:80]})")
    d = t.tmpdir("wvinterop-")
    fp = {}
    for name in ("srv", "cli"):
        r = subprocess.run([TOOL, "cert", d, name], capture_output=True, text=True)
        t.check_eq(r.returncode, 0, f"certificate {name} made")
        fp[name] = r.stdout.strip()

    # --- 1. ngtcp2 client -> our server --------------------------------------
    token = "wovenet-interop-" + os.urandom(6).hex()

    def serve(name, ms):
        """Our server answering token on a free UDP port for ms, once bound:
        (process, port); its log is name.log."""
        port = t.free_port(kind=socket.SOCK_DGRAM)
        srv = ours(["serve", "127.0.0.1", str(port), f"{d}/srv.key", f"{d}/srv.crt", token, ms],
                   d, name)
        t.wait_for(lambda: "UDP GSO" in open(f"{d}/{name}.log").read(), 5,
                   what="our server is bound")
        return srv, port
    srv, port = serve("serve1", "15000")
    dl = os.path.join(d, "download")
    os.mkdir(dl)
    r = subprocess.run([client, "--key", f"{d}/cli.key", "--cert", f"{d}/cli.crt",
                        "--exit-on-all-streams-close", "--download", dl, "--timeout", "5s",
                        "127.0.0.1", str(port), f"https://localhost:{port}/wovenet"],
                       capture_output=True, text=True, timeout=30)
    open(os.path.join(d, "gtlsclient1.log"), "w").write(r.stderr)
    t.check_eq(r.returncode, 0, "gtlsclient completes its request against our server")
    t.check("Negotiated ALPN is h3" in r.stderr, "gtlsclient reports ALPN h3")
    got = open(os.path.join(dl, "wovenet")).read() if os.path.exists(os.path.join(dl, "wovenet")) else None
    t.check_eq(got, token, "gtlsclient received our response body")
    res = result(srv, "serve")
    t.check(res.get("handshake") is True, f"our server completed the handshake ({res})")
    t.check_eq(res.get("alpn"), "h3", "our server negotiated ALPN h3")
    t.check_eq(res.get("peerCert"), fp["cli"], "our server saw gtlsclient's certificate")
    t.check(res.get("requestBytes", 0) > 0 and res.get("responseBytes", 0) > len(token),
            f"bytes both ways ({res.get('requestBytes')} in, {res.get('responseBytes')} out)")

    # --- 2. our client -> ngtcp2 server ---------------------------------------
    htdocs = os.path.join(d, "htdocs")
    os.mkdir(htdocs)
    content = "served-by-ngtcp2-" + os.urandom(8).hex()
    open(os.path.join(htdocs, "file.txt"), "w").write(content)
    port2 = t.free_port(kind=socket.SOCK_DGRAM)
    gs = t.spawn([server, "--verify-client", "-d", htdocs, "--timeout", "10s", "127.0.0.1",
                  str(port2), f"{d}/srv.key", f"{d}/srv.crt"], os.path.join(d, "gtlsserver.log"))
    # gtlsserver says nothing until a client comes: give it a moment to bind.
    t.wait_for(lambda: subprocess.run(["ss", "-uln", f"sport = :{port2}"], capture_output=True,
                                      text=True).stdout.count(str(port2)) > 0,
               5, what="gtlsserver is bound")
    res = result(ours(["dial", "127.0.0.1", str(port2), fp["srv"], "/file.txt", "10000"], d,
                      "dial2"), "dial")
    t.check(res.get("handshake") is True, f"our client completed the handshake with gtlsserver ({res})")
    t.check_eq(res.get("alpn"), "h3", "our client negotiated ALPN h3")
    t.check_eq(res.get("peerCert"), fp["srv"], "the pinned certificate is the one gtlsserver showed")
    t.check(res.get("done") is True, "the response stream ended")
    t.check_eq(res.get("body"), content, "our client received the file gtlsserver served")
    log = open(os.path.join(d, "gtlsserver.log"), errors="replace").read()
    t.check("Negotiated ALPN is h3" in log, "gtlsserver reports ALPN h3")

    # --- 3. the pin holds against it -------------------------------------------
    bad = fp["srv"][:-1] + ("0" if fp["srv"][-1] != "0" else "1")
    res = result(ours(["dial", "127.0.0.1", str(port2), bad, "/file.txt", "5000"], d, "dial3"),
                 "dial with a wrong pin")
    t.check(res.get("handshake") is False, "a wrong pin: no handshake with gtlsserver")
    t.check_eq(res.get("closeErr"), WV_ERR_CRYPTO, "a wrong pin: a TLS failure")
    t.check_eq(res.get("body"), "", "a wrong pin: no bytes of the file")
    t.stop(gs)

    # --- 4. our server requires a client certificate ----------------------------
    srv, port3 = serve("serve4", "3000")
    dl4 = os.path.join(d, "download4")
    os.mkdir(dl4)
    r = subprocess.run([client, "--exit-on-all-streams-close", "--download", dl4, "--timeout", "2s",
                        "127.0.0.1", str(port3), f"https://localhost:{port3}/wovenet"],
                       capture_output=True, text=True, timeout=30)
    res = result(srv, "serve without client certificate")
    t.check(res.get("handshake") is False, "no client certificate: our server completes no handshake")
    f4 = os.path.join(dl4, "wovenet")
    t.check(not os.path.exists(f4) or token not in open(f4).read(),
            "no client certificate: no response body")
    # TLS 1.3: the client is done before the server has checked its
    # certificate; it learns of the refusal from our CONNECTION_CLOSE.
    t.check("CONNECTION_CLOSE(0x1c) error_code=CRYPTO_ERROR" in r.stderr,
            "gtlsclient without a certificate gets a TLS alert in CONNECTION_CLOSE")


    # --- 5. QUIC v2 ------------------------------------------------------------
    srv, port5 = serve("serve5", "15000")
    dl5 = os.path.join(d, "download5")
    os.mkdir(dl5)
    r = subprocess.run([client, "-v", "0x6b3343cf", "--key", f"{d}/cli.key", "--cert",
                        f"{d}/cli.crt", "--exit-on-all-streams-close", "--download", dl5,
                        "--timeout", "5s", "127.0.0.1", str(port5),
                        f"https://localhost:{port5}/wovenet"],
                       capture_output=True, text=True, timeout=30)
    open(os.path.join(d, "gtlsclient5.log"), "w").write(r.stderr)
    t.check("the negotiated version is 0x6b3343cf" in r.stderr,
            "QUIC v2: gtlsclient negotiated version 2 with our server")
    f5 = os.path.join(dl5, "wovenet")
    t.check_eq(open(f5).read() if os.path.exists(f5) else None, token,
               "QUIC v2: gtlsclient received our response body")
    res = result(srv, "serve v2")
    t.check(res.get("handshake") is True and res.get("alpn") == "h3",
            f"QUIC v2: our server completed the handshake ({res})")

    # --- 6. version negotiation ---------------------------------------------------
    srv, port6 = serve("serve6", "3000")
    r = subprocess.run([client, "-v", "0x1a2a3a4a", "--exit-on-all-streams-close",
                        "--timeout", "2s", "127.0.0.1", str(port6),
                        f"https://localhost:{port6}/wovenet"],
                       capture_output=True, text=True, timeout=30)
    t.check("type=VN" in r.stderr and "VN v=0x00000001" in r.stderr and
            "VN v=0x6b3343cf" in r.stderr,
            "an unknown version: gtlsclient got our Version Negotiation listing v1 and v2")
    res = result(srv, "serve with an unknown version")
    t.check(res.get("handshake") is False, "an unknown version: no connection on our side")


t.run(main)
