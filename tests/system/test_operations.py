"""docs/OPERATIONS.md's procedures, run as written there:

- `sqlite3 DB ".backup FILE"` while the agent runs and writes gives a file
  that passes integrity_check; restoring it (stop, replace, remove -wal and
  -shm, start) brings back exactly the backed-up revision;
- a token deleted with sqlite3 is refused at once, without a restart;
- the metrics the document names are served by /metrics."""
import os
import shutil
import subprocess
import threading

import wvtest as t


def sql(db, stmt):
    r = subprocess.run(["sqlite3", db, stmt], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def main():
    a = t.Agent("ops", config=t.site_yaml("opsSite"))
    rc, tok_old, err = t.wovenet("token", "create", "--db", a.db, "--name", "ops")
    t.check_eq(rc, 0, "token create while the agent runs")
    tok_old = tok_old.strip()
    rc, tok_new, _ = t.wovenet("token", "create", "--db", a.db, "--name", "ops-2")
    tok_new = tok_new.strip()
    a.token = tok_new
    t.check_eq(a.api("GET", "/api/v1/site")[0], 200, "the new token works")

    # Writes going on while the backup runs.
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            a.api("PUT", f"/api/v1/exposed-apps/w{i % 20}",
                  {"appSocket": f"tcp:127.0.0.1:{1000 + i}"})
            i += 1
    th = threading.Thread(target=writer)
    th.start()
    backup = os.path.join(t.tmpdir(), "backup.db")
    rc, out, err = sql(a.db, f".backup '{backup}'")
    stop.set()
    th.join()
    t.check_eq(rc, 0, f"sqlite3 .backup while running exits 0 {err}")
    t.check_eq(sql(backup, "PRAGMA integrity_check")[1], "ok", "the backup passes integrity_check")
    rev_backup = int(sql(backup, "SELECT revision FROM meta")[1] or -1)
    t.check(rev_backup > 0, f"the backup holds revision {rev_backup}")

    # Token rotation: delete the old one with sqlite3, refused at once.
    a.token = tok_old
    t.check_eq(a.api("GET", "/api/v1/site")[0], 200, "the old token works before")
    rc, _, err = sql(a.db, "DELETE FROM api_tokens WHERE name='ops'")
    t.check_eq(rc, 0, f"DELETE FROM api_tokens {err}")
    t.check_eq(a.api("GET", "/api/v1/site")[0], 401, "the deleted token is refused, no restart")
    a.token = tok_new

    # Metrics named in OPERATIONS.md.
    st, text, _ = a.api("GET", "/metrics")
    doc = open(os.path.join(os.environ["WOVENET_SRC"], "docs", "OPERATIONS.md")).read()
    for m in ("wovenet_peers", "wovenet_broker_connected", "wovenet_store_revision",
              "wovenet_loop_lag_seconds", "wovenet_http_requests_total"):
        t.check(m in doc and f"\n{m}" in "\n" + text, f"/metrics serves {m}")

    # A change after the backup, then restore.
    st, _, _ = a.api("PUT", "/api/v1/exposed-apps/after-backup", {"appSocket": "tcp:127.0.0.1:9"})
    t.check_eq(st, 201, "a change after the backup")
    t.check_eq(a.stop(), 0, "stop: exit 0")
    shutil.copyfile(backup, a.db)
    os.chmod(a.db, 0o600)
    for ext in ("-wal", "-shm"):
        if os.path.exists(a.db + ext):
            os.unlink(a.db + ext)
    a.config = None  # run from the restored DB alone
    a.start()
    st, cfg, _ = a.api("GET", "/api/v1/config")
    t.check_eq(cfg["revision"], rev_backup, "the restored site runs at the backed-up revision")
    t.check("after-backup" not in [x["name"] for x in cfg.get("exposedApps", [])],
            "the change made after the backup is gone")


t.run(main)
