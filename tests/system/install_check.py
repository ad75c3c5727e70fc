"""system.install: `cmake --install` into a temp prefix installs the binary,
the dashboard assets and the systemd unit; the unit's keys are checked by
the small parser below, and the unit passes `systemd-analyze verify` with no
warning (systemd-analyze comes with the package systemd, which scripts/setup
installs: its absence fails)."""
import os
import shutil
import subprocess
import sys
import tempfile

build, src = os.environ["WOVENET_BUILD"], os.environ["WOVENET_SRC"]
fails, passed = [], 0


def check(cond, what):
    global passed
    print(("  ok   " if cond else "  FAIL ") + what)
    if cond:
        passed += 1
    else:
        fails.append(what)


prefix = tempfile.mkdtemp(prefix="wvinstall-")
try:
    r = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"cmake --install exits 0 {r.stderr.strip()}")
    exe = os.path.join(prefix, "bin", "wovenet")
    v = subprocess.run([exe, "--version"], capture_output=True, text=True)
    check(v.returncode == 0 and v.stdout.startswith("wovenet "), "installed binary runs --version")
    web = os.path.join(prefix, "share", "wovenet", "web")
    for f in ("index.html", "app.js", "app.css"):
        check(os.path.isfile(os.path.join(web, f)), f"dashboard asset share/wovenet/web/{f}")
    unit = os.path.join(prefix, "lib", "systemd", "system", "wovenet.service")
    check(os.path.isfile(unit), "lib/systemd/system/wovenet.service installed")
    text = open(unit).read()
    check("@WOVENET_BIN@" not in text and f"exec {exe} run --db /var/lib/wovenet/wovenet.db"
          in text, "the unit runs the installed binary with the DB in the state directory")

    # Keys: parse the unit (systemd allows repeated keys: keep lists).
    keys = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        k, sep, val = line.partition("=")
        if sep != "=" or not section:
            check(False, f"line is KEY=VALUE in a section: {line[:40]}")
        keys.setdefault((section, k.strip()), []).append(val.strip())
    want = {
        ("Service", "StateDirectory"): "wovenet",
        ("Service", "NoNewPrivileges"): "yes",
        ("Service", "ProtectSystem"): "strict",
        ("Service", "ProtectHome"): "yes",
        ("Service", "PrivateTmp"): "yes",
        ("Service", "CapabilityBoundingSet"): "",
        ("Service", "AmbientCapabilities"): "",
        ("Service", "RestrictAddressFamilies"): "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        ("Service", "ExecReload"): "/bin/kill -HUP $MAINPID",
        ("Install", "WantedBy"): "multi-user.target",
    }
    for (sec, k), v in want.items():
        check(keys.get((sec, k)) == [v], f"[{sec}] {k}={v}")
    check("--config /etc/wovenet/config.yaml" in keys[("Service", "ExecStart")][0]
          and "[ -f /etc/wovenet/config.yaml ]" in keys[("Service", "ExecStart")][0],
          "ExecStart passes the config only when it exists")

    sa = shutil.which("systemd-analyze")
    check(sa is not None, "systemd-analyze is installed (package systemd, scripts/packages.txt)")
    if sa:
        r = subprocess.run([sa, "verify", unit], capture_output=True, text=True, timeout=60)
        out = (r.stdout + r.stderr).strip()
        check(r.returncode == 0 and not out, f"systemd-analyze verify: clean ({out or 'no output'})")
finally:
    shutil.rmtree(prefix, ignore_errors=True)
print(f"{passed} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
