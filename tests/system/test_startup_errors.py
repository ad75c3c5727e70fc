"""Issue 21, finding 6: start-up errors name their cause, and a failed
run or import leaves nothing on disk.

Before: an API port in use gave `cannot listen on port N (address in use
or TLS key invalid)` and `cannot start: I/O error`, with TLS not even on;
a failed `import`/`run` left a new, empty database file behind."""
import os
import socket

import wvtest as t

SITE = t.site_yaml("startSite")


def write(d, name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def leftovers(db):
    return [p for p in (db, db + "-wal", db + "-shm", db + "-journal") if os.path.exists(p)]


def main():
    d = t.tmpdir()
    cfg = write(d, "site.yaml", SITE)

    # The API port is taken by another process; TLS is off.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    t.on_cleanup(busy.close)
    port = busy.getsockname()[1]
    rc, out, err = t.wovenet("run", "--db", os.path.join(d, "a.db"), "--config", cfg,
                             "--api", f"127.0.0.1:{port}", timeout=30)
    t.check_eq(rc, 1, "run with the API port in use exits 1")
    t.check(f"127.0.0.1:{port}" in err and "address already in use" in err,
            f"stderr names the address and says it is in use: {err.strip()}")
    t.check("TLS" not in err and "I/O error" not in err,
            "TLS is not blamed when it is off, and no bare 'I/O error'")

    # TLS on, with a key and certificate that do not load; the port is free.
    cert = write(d, "cert.pem", "-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n")
    key = write(d, "key.pem", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    tls = write(d, "tls.yaml", SITE + f"restfulApi:\n  listenAddr: 127.0.0.1:{t.free_port()}\n"
                f"  tls:\n    enabled: true\n    cert: {cert}\n    key: {key}\n")
    rc, out, err = t.wovenet("run", "--db", os.path.join(d, "b.db"), "--config", tls, timeout=30)
    t.check_eq(rc, 1, "run with an invalid TLS key exits 1")
    t.check("TLS certificate or key" in err and "invalid" in err and "in use" not in err,
            f"stderr blames the TLS key, not the port: {err.strip()}")
    missing = write(d, "tls2.yaml", SITE + f"restfulApi:\n  listenAddr: 127.0.0.1:{t.free_port()}\n"
                    f"  tls:\n    enabled: true\n    cert: {cert}\n    key: {d}/nope.pem\n")
    rc, out, err = t.wovenet("run", "--db", os.path.join(d, "c.db"), "--config", missing, timeout=30)
    t.check(rc == 1 and "restfulApi.tls.key" in err and "cannot be read" in err,
            f"a missing TLS key file is named: {err.strip()}")

    # Failed imports and runs create no database. (`run` with no DB and no
    # config is no failure: it makes the store for a first run through the
    # dashboard; test_cli checks it.)
    bad = write(d, "bad.yaml", SITE.replace("siteName: startSite", "siteName: startSite\nbogus: 1"))
    for argv, what in ((["import", "--db", os.path.join(d, "n1.db"), bad], "import of a bad file"),
                       (["run", "--db", os.path.join(d, "n2.db"), "--config", bad], "run --config of a bad file")):
        rc, out, err = t.wovenet(*argv, timeout=30)
        db = argv[argv.index("--db") + 1]
        t.check_eq(rc, 1, f"{what} exits 1 ({err.strip()})")
        t.check_eq(leftovers(db), [], f"{what} leaves no database file")
    nokey = write(d, "nokey.yaml", SITE.replace('crypto:\n  key: "test-network-key-1"\n', ""))
    rc, out, err = t.wovenet("import", "--db", os.path.join(d, "n4.db"), nokey)
    t.check(rc == 1 and "crypto.key" in err, f"a new DB needs the key: {err.strip()}")
    t.check_eq(leftovers(os.path.join(d, "n4.db")), [], "... and none is created without it")

    # An existing DB is kept (and unchanged) when a later import fails.
    db = os.path.join(d, "keep.db")
    rc, out, err = t.wovenet("import", "--db", db, cfg)
    t.check_eq(rc, 0, "a good import creates the DB")
    rc, before, _ = t.wovenet("export", "--db", db)
    rc, out, err = t.wovenet("import", "--db", db, bad)
    t.check(rc == 1 and os.path.exists(db), "a failed import keeps the existing DB")
    t.check_eq(t.wovenet("export", "--db", db)[1], before, "... unchanged")
    rc, out, err = t.wovenet("import", "--db", db, nokey)
    t.check_eq(rc, 0, "an existing DB keeps its stored key (the file may leave it out)")


t.run(main)
