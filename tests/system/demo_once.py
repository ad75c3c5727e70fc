"""system.demo_once: `scripts/demo --once` with the built binary (setup and
build skipped) exits 0, prints the iperf3 throughput through the tunnel and
both dashboard URLs, and leaves no process or temp dir behind."""
import glob
import os
import re
import subprocess
import sys

src = os.environ["WOVENET_SRC"]
env = dict(os.environ, WOVENET_DEMO_NO_BUILD="1", WOVENET_DEMO_SECONDS="2")


def pids():
    """Processes whose command line names a demo temp dir."""
    out = subprocess.run(["pgrep", "-f", "wovenet-demo\\."], capture_output=True, text=True)
    return set(out.stdout.split())


before = set(glob.glob("/tmp/wovenet-demo.*"))
pids_before = pids()
r = subprocess.run([os.path.join(src, "scripts", "demo"), "--once"], env=env,
                   capture_output=True, text=True, timeout=180)
print(r.stdout)
print(r.stderr, file=sys.stderr)
fails = []
if r.returncode != 0:
    fails.append(f"exit code {r.returncode}, want 0")
m = re.search(r"^throughput through the tunnel: ([0-9.]+) Mbit/s", r.stdout, re.M)
if not m or float(m.group(1)) <= 0:
    fails.append("no positive 'throughput through the tunnel: N Mbit/s' line")
urls = re.findall(r"^dashboard of site (aws|local): +(http://127\.0\.0\.1:\d+/)$", r.stdout, re.M)
if sorted(u[0] for u in urls) != ["aws", "local"]:
    fails.append("the two dashboard URLs are not printed")
left = set(glob.glob("/tmp/wovenet-demo.*")) - before
if left:
    fails.append(f"temp dirs left behind: {sorted(left)}")
left_procs = pids() - pids_before
if left_procs:
    fails.append(f"processes left running: {sorted(left_procs)}")
for f in fails:
    print("FAIL", f)
print(f"{'1 passed, 0 failed' if not fails else '0 passed, %d failed' % len(fails)}")
sys.exit(1 if fails else 0)
