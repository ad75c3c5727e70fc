"""The message channel over a TLS broker with password auth (real mosquitto):
mqtts:// with the right CA and credentials works; a wrong password or an
unknown CA never connects, and the password never reaches the log."""
import os
import subprocess

import wvtest as t
from wvdisco import Disco, sees

PASSWORD = "Broker-Pass-77"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN={ca}",
                cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext", cwd=d)
    os.chmod(os.path.join(d, "server.key"), 0o644)  # mosquitto may drop privileges


def main():
    d = t.tmpdir("wvpki-")
    os.chmod(d, 0o755)  # mosquitto started as root reads its files as user mosquitto
    make_pki(d)
    pwfile = os.path.join(d, "passwd")
    subprocess.run(["mosquitto_passwd", "-c", "-b", pwfile, "site", PASSWORD], check=True,
                   capture_output=True, timeout=30)
    os.chmod(pwfile, 0o644)
    broker = t.Mosquitto(extra_conf=(
        f"cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n"
        f"allow_anonymous false\npassword_file {pwfile}\n"))
    url = f"mqtts://127.0.0.1:{broker.port}"
    good = ["--ca", f"{d}/ca.pem", "--user", "site", "--password", PASSWORD]

    print("TLS + password: two sites find each other")
    a = Disco(broker, "siteAlpha7", brokers=[url], extra=good, apps=["webAppQx"])
    b = Disco(broker, "siteBravo9", brokers=[url], extra=good)
    t.wait_for(lambda: sees(a, "siteBravo9") and sees(b, "siteAlpha7"), 5, what="discovery")

    print("wrong password: never connects")
    c = Disco(broker, "siteCharlie3", brokers=[url], wait_ready=False,
              extra=["--ca", f"{d}/ca.pem", "--user", "site", "--password", "wrong"])
    t.wait_for(lambda: "cannot connect to any broker" in c.text(), 10, what="auth failure logged")
    t.check(not c.find("EV STATE up"), "charlie never connected")

    print("unknown CA: never connects")
    e = Disco(broker, "siteEcho5", brokers=[url], wait_ready=False,
              extra=["--ca", f"{d}/otherca.pem", "--user", "site", "--password", PASSWORD])
    t.wait_for(lambda: "cannot connect to any broker" in e.text(), 10, what="TLS failure logged")
    t.check(not e.find("EV STATE up"), "echo never connected")
    t.check("siteCharlie3" not in a.peers() and "siteEcho5" not in a.peers(),
            "neither is a peer")

    for p in (a, b, c, e):
        t.check_eq(t.stop(p.proc), 0, f"{p.site} stops cleanly")
        t.check(PASSWORD not in p.text() and "wrong" not in p.text().replace("wrong key", ""),
                f"no password in {p.site}'s log")


t.run(main)
