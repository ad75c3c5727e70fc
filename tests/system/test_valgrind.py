"""A two-site transfer with one agent under valgrind (issue 10, "Sanitizers
and leaks"): siteAlpha runs under `valgrind --leak-check=full`, serves a
blob and an echo app through the tunnel to siteBravo, then gets SIGTERM.

Checks: valgrind reports zero errors and nothing definitely lost (exit code
not 99), the agent exits 0, and its log has no "event loop closed with
handles still open" warning (main.c: uv_loop_close() returned 0).

Not run in the sanitizer build (label "valgrind"; ASan and valgrind do not
mix).
"""
import hashlib
import os
import re
import shutil
import time

import wvtest as t

KEY = "valgrind-test-network-key-77aa"
BLOB_MIB = 8
ECHO_MIB = 2


def main():
    t.check(shutil.which("valgrind") is not None, "valgrind is installed")
    mq = t.Mosquitto()
    echo = t.AppServer()
    blob = os.urandom(BLOB_MIB << 20)
    blob_srv = t.AppServer(blob=blob)
    pa, pb, l_blob, l_echo = (t.free_port() for _ in range(4))
    alpha = t.Agent("alpha", start=False, config=t.site_yaml(
        "siteAlpha", key=KEY, broker=mq.url, topic="wvtest/valgrind", sockets=[t.tunnel_socket(pa)],
        exposed=[{"appName": "blob", "appSocket": f"tcp:127.0.0.1:{blob_srv.port}"},
                 {"appName": "echo", "appSocket": f"tcp:127.0.0.1:{echo.port}"}]))
    vg_log = os.path.join(alpha.dir, "valgrind.log")
    argv = ["valgrind", "--leak-check=full", "--error-exitcode=99",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--track-fds=no", f"--log-file={vg_log}", *alpha.argv()]
    alpha.proc = alpha.spawn(argv)
    alpha.wait_ready(120, interval=0.5)

    bravo = t.Agent("bravo", config=t.site_yaml(
        "siteBravo", key=KEY, broker=mq.url, topic="wvtest/valgrind", sockets=[t.tunnel_socket(pb)],
        remote=[{"siteName": "siteAlpha", "appName": "blob",
                 "localSocket": f"tcp:127.0.0.1:{l_blob}"},
                {"siteName": "siteAlpha", "appName": "echo",
                 "localSocket": f"tcp:127.0.0.1:{l_echo}"}]))
    t.wait_for(lambda: t.up_channels(bravo, "siteAlpha") >= 1, 120, interval=0.5,
               what="a channel bravo -> alpha (under valgrind)")

    started = time.monotonic()
    got = t.recv_all(l_blob, timeout=300)
    t.check_eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(blob).hexdigest(),
               f"{BLOB_MIB} MiB blob arrives intact through the valgrind agent")
    data = os.urandom(ECHO_MIB << 20)
    back = t.echo_roundtrip(l_echo, data, timeout=300)
    t.check(back == data, f"{ECHO_MIB} MiB echo returns intact")
    print(f"transfer under valgrind took {time.monotonic() - started:.1f} s")

    rc = t.stop(alpha.proc, timeout=180)
    with open(vg_log, errors="replace") as f:
        vg = f.read()
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", vg)
    t.check(summary is not None, "valgrind wrote its summary")
    if summary and summary.group(1) != "0" or rc != 0:
        print(vg[-8000:])
    t.check(summary is not None and summary.group(1) == "0",
            f"valgrind: zero errors ({summary.group(0) if summary else 'no summary'})")
    # With --leak-check=full valgrind prints either "All heap blocks were
    # freed" or a LEAK SUMMARY with a "definitely lost" line.
    lost = re.search(r"definitely lost: ([\d,]+) bytes", vg)
    freed = "All heap blocks were freed" in vg
    t.check(freed or (lost is not None and lost.group(1) == "0"),
            "valgrind: nothing definitely lost ("
            + ("all heap blocks freed" if freed else lost.group(0) if lost else "no leak report")
            + ")")
    t.check_eq(rc, 0, "alpha exits 0 after SIGTERM (99 would be a valgrind error)")
    log = alpha.log_text()
    t.check("handles still open" not in log, "uv_loop_close() returned 0 (no warning in the log)")


if __name__ == "__main__":
    t.run(main)
