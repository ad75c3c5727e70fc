"""Issue 21, finding 4: one table of exit codes for every command.

0 ok, 1 error, 2 changes present (apply and plan only, like terraform plan
-detailed-exitcode), 64 usage error. Before, a usage error also exited 2,
so the README's `wovenet apply ... || test $? -eq 2` took a typo for a
successful change. The table is in every --help and in docs/CONFIG.md."""
import json
import os
import subprocess

import wvtest as t


def main():
    d = t.tmpdir()
    a = t.Agent("exit", config=t.site_yaml("exitSite"))
    api = f"http://127.0.0.1:{a.api_port}"

    for cmd in ([], ["run"], ["import"], ["export"], ["token", "create"], ["status"], ["apply"],
                ["plan"]):
        rc, out, _ = t.wovenet(*cmd, "--help")
        t.check(rc == 0 and all(f"\n  {c} " in out for c in ("0", "1", "2", "64"))
                and "exit status (every command)" in out,
                f"wovenet {' '.join(cmd)} --help shows the exit-code table")

    for args in (["frobnicate"], ["apply"], ["apply", "--bogus"], ["apply", "--flie", "x.json"],
                 ["plan", "--dry-run", "-f", "x"], ["status", "--nope"], ["run", "--api", "nonsense"],
                 ["token", "revoke"], ["export", "--format", "xml"]):
        rc, out, err = t.wovenet(*args)
        t.check(rc == 64 and "usage: wovenet" in err,
                f"wovenet {' '.join(args)}: usage error exits 64 ({rc})")

    doc = os.path.join(d, "doc.json")
    st, cfg, _ = a.api("GET", "/api/v1/config")
    with open(doc, "w") as f:
        json.dump(cfg, f)
    rc, out, _ = t.wovenet("plan", "-f", doc, "--api", api)
    t.check(rc == 0 and "No changes" in out, f"plan of the current state exits 0 ({rc})")
    cfg["exposedApps"].append({"name": "extra", "appSocket": "tcp:127.0.0.1:9"})
    with open(doc, "w") as f:
        json.dump(cfg, f)
    rc, out, _ = t.wovenet("plan", "-f", doc, "--api", api)
    t.check(rc == 2 and "+ exposedApps extra" in out, f"plan of a change exits 2 ({rc})")
    t.check_eq(a.api("GET", "/api/v1/exposed-apps/extra")[0], 404, "plan changes nothing")

    # The README's idiom now tells a typo from a change.
    env = dict(os.environ, PATH=os.path.dirname(t.BIN) + os.pathsep + os.environ["PATH"])
    typo = subprocess.run(["sh", "-c", f"wovenet apply --flie {doc} --api {api} || test $? -eq 2"],
                          env=env, capture_output=True, text=True)
    t.check(typo.returncode != 0, "`apply --flie ... || test $? -eq 2` fails on the typo")
    ok = subprocess.run(["sh", "-c", f"wovenet apply -f {doc} --api {api} || test $? -eq 2"],
                        env=env, capture_output=True, text=True)
    t.check_eq(ok.returncode, 0, "`apply -f ... || test $? -eq 2` passes on a change")
    t.check_eq(a.api("GET", "/api/v1/exposed-apps/extra")[0], 200, "... and applied it")

    # import changes things but is not apply: it exits 0.
    y = os.path.join(d, "s.yaml")
    with open(y, "w") as f:
        f.write(t.site_yaml("exitOther", exposed=[{"appName": "w", "appSocket": "tcp:127.0.0.1:7"}]))
    rc, out, _ = t.wovenet("import", "--db", os.path.join(d, "i.db"), y)
    t.check_eq(rc, 0, "import of a new config exits 0")

    text = open(os.path.join(t.SRC, "docs", "CONFIG.md")).read()
    t.check(all(f"| `{c}` |" in text for c in ("0", "1", "2", "64")), "docs/CONFIG.md has the table")


t.run(main)
