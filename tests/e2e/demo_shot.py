"""The README's picture, taken from scripts/demo's own two sites (issue 23):
runs the demo (no build; the built binary), keeps iperf3 running through
site local's remote app, and has Chromium take local's overview while the
bytes flow (demo_shot.mjs asserts the chart shows them, the mesh shows
aws, and the page logged no error). Writes build/e2e-screenshots/dashboard.png,
or docs/img/dashboard.png with --docs (or WOVENET_E2E_DOCS=1). The demo
is stopped (it removes its temp dir) whatever happens."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
import wvtest as t  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    docs = "--docs" in sys.argv or os.environ.get("WOVENET_E2E_DOCS") == "1"
    tmp = t.tmpdir()
    info = os.path.join(tmp, "demo.json")
    demo = t.spawn([os.path.join(t.SRC, "scripts", "demo")], os.path.join(tmp, "demo.log"),
                   env={"WOVENET_DEMO_NO_BUILD": "1", "WOVENET_BIN": t.BIN,
                        "WOVENET_DEMO_SECONDS": "3", "WOVENET_DEMO_INFO": info})
    t.wait_for(lambda: os.path.exists(info) or demo.poll() is not None, 90, 0.2,
               what="the demo to run (its info file)")
    t.check(demo.poll() is None, "scripts/demo runs (its two sites, iperf3 through the tunnel)")
    with open(info) as f:
        d = json.load(f)
    t.check(d["mbps"] > 0, f"the demo's own iperf3 run: {d['mbps']} Mbit/s")
    client = t.spawn(["iperf3", "-c", "127.0.0.1", "-p", str(d["appPort"]), "-t", "45"],
                     os.path.join(tmp, "iperf3-client.log"))
    out = os.path.join(t.SRC, "docs", "img") if docs else os.path.join(t.BUILD, "e2e-screenshots")
    os.makedirs(out, exist_ok=True)
    r = subprocess.run(["node", os.path.join(HERE, "demo_shot.mjs"), d["local"],
                        os.path.join(out, "dashboard.png")], cwd=HERE, timeout=120)
    t.check_eq(r.returncode, 0, "the picture of site local's overview, taken during iperf3")
    t.stop(client)
    t.check_eq(t.stop(demo), 143, "the demo stops on SIGTERM and cleans up")


t.run(main)
