"""Runs the dashboard tests in headless Chromium against a real agent.

Starts a broker and site `siteAlpha7` (a tunnel socket, an exposed app);
the test itself starts a second site `siteBravo9` (WOVENET_E2E_PEER_CMD)
and waits for it in the mesh picture. Everything is stopped afterwards."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
import wvtest as t  # noqa: E402


def main():
    mq = t.Mosquitto()
    echo = t.AppServer()
    alpha = t.Agent("alpha", config=t.site_yaml(
        "siteAlpha7", broker=mq.url, topic="wvtest/e2e", sockets=[t.tunnel_socket()],
        exposed=[{"appName": "webAppQx", "appSocket": f"tcp:127.0.0.1:{echo.port}"}]))
    bravo = t.Agent("bravo", config=t.site_yaml(
        "siteBravo9", broker=mq.url, topic="wvtest/e2e", sockets=[t.tunnel_socket()],
        exposed=[{"appName": "db", "appSocket": f"tcp:127.0.0.1:{echo.port}"}]), start=False)
    # The settings test edits alpha's site settings, which its config file
    # manages: take them over first, as an operator would (issue 21: an API
    # write to a file-managed object is refused unless it takes it over).
    st, _, _ = alpha.api("PATCH", "/api/v1/site", {"origin": "api"})
    t.check_eq(st, 200, "alpha's site settings taken over from its config file")
    # The test starts the second site itself; its argv is bravo's.
    peer_cmd = (f"exec {t.BIN} run --db {bravo.db} --config {bravo.config} "
                f"--api 127.0.0.1:{bravo.api_port} >>{bravo.log} 2>&1")
    out = os.path.join(t.BUILD, "e2e-screenshots")
    env = dict(os.environ, WOVENET_URL=f"http://127.0.0.1:{alpha.api_port}/",
               WOVENET_E2E_OUT=out, WOVENET_E2E_PEER_CMD=peer_cmd,
               WOVENET_E2E_PEER_SITE="siteBravo9")
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(["node", os.path.join(here, "dashboard.test.mjs")], env=env, cwd=here,
                       timeout=400)
    t.on_cleanup(lambda: subprocess.run(["pkill", "-f", f"--db {bravo.db}"]))
    t.check_eq(r.returncode, 0, "dashboard tests pass against a real agent")
    shots = sorted(os.listdir(out)) if os.path.isdir(out) else []
    t.check(len(shots) >= 5, f"screenshots saved under {out}: {len(shots)}")


t.run(main)
