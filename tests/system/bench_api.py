"""Benchmark (prints, asserts nothing): `wrk -c 64` on GET /api/v1/remote-apps
with 100 objects, served by api_harness. Not a ctest (no test_ prefix):
run it by hand with WOVENET_BUILD pointing at a release build."""
import os
import re
import shutil
import subprocess

import wvtest as t
from test_api import Api


def main():
    # wrk is installed by scripts/setup: without it this fails, never
    # "passes" having measured nothing.
    t.check(shutil.which("wrk") is not None, "wrk is installed (scripts/packages.txt)")
    a = Api("bench", args=[])
    for i in range(100):
        a.api("PUT", f"/api/v1/remote-apps/app{i}",
              body={"siteName": "b", "appName": "web", "localSocket": f"tcp:127.0.0.1:{20000 + i}"})
    for path in ["/healthz", "/api/v1/remote-apps"]:
        out = subprocess.run(["wrk", "-t2", "-c64", "-d5s", "--latency",
                              f"http://127.0.0.1:{a.api_port}{path}"],
                             capture_output=True, text=True).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        p99 = re.search(r"99%\s+(\S+)", out)
        print(f"GET {path}: {rps.group(1) if rps else '?'} req/s, p99 {p99.group(1) if p99 else '?'}"
              f" (goal for remote-apps: >= 20000 req/s, p99 <= 10 ms)")
    a.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    t.run(main)
