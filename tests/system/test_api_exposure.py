"""Local exposure of the agent (docs/SECURITY.md):

- `wovenet run --api 0.0.0.0:P` (and `[::]:P`) on a store without any API
  auth exits non-zero before serving, with a message saying why and what to
  do; nothing listens on P.
- the store and its -wal/-shm files are created 0600 even under umask 000
  (the DB holds the network key, the TLS private key and token hashes).
"""
import os
import socket
import stat
import subprocess

import wvtest as t


def main():
    d = t.tmpdir("wvexpose-")
    cfg = os.path.join(d, "site.yaml")
    with open(cfg, "w") as f:
        f.write(t.site_yaml("siteLocal", key="exposure-test-key-1", topic="wvtest/exposure"))
    db = os.path.join(d, "wovenet.db")
    old = os.umask(0)
    try:
        rc, out, err = t.wovenet("import", "--db", db, cfg)
    finally:
        os.umask(old)
    t.check_eq(rc, 0, "config imported under umask 000")

    for host in ("0.0.0.0", "[::]"):
        port = t.free_port()
        try:
            r = subprocess.run([t.BIN, "run", "--db", db, "--api", f"{host}:{port}"],
                               capture_output=True, text=True, timeout=30)
            rc, text = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired:
            rc, text = None, "still running after 30 s"
        t.check(rc not in (None, 0), f"run --api {host}:{port} without auth exits non-zero "
                                     f"(exit {rc})")
        t.check("non-loopback" in text and "token create" in text,
                f"the refusal says why and what to do: {text.strip()[-200:]!r}")
        fam = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
        s = socket.socket(fam)
        try:
            # A wildcard listener would make this loopback bind fail.
            s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", port))
            free = True
        except OSError:
            free = False
        finally:
            s.close()
        t.check(free, f"nothing was left listening on port {port}")

    for suffix in ("", "-wal", "-shm"):
        p = db + suffix
        if os.path.exists(p):
            mode = stat.S_IMODE(os.stat(p).st_mode)
            t.check_eq(oct(mode), oct(0o600), f"{os.path.basename(p)} is 0600 under umask 000")


if __name__ == "__main__":
    t.run(main)
