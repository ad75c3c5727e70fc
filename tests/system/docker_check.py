"""contract.docker: what can be checked of the Docker files without an engine.

- `docker-compose -f docker/compose.yaml config` passes (Debian's
  docker-compose) and defines mosquitto, aws, local, iperf3;
- every package the Dockerfile installs (the runtime stage's list
  scripts/packages-runtime.txt, and the helper stages' names) is a real
  Debian package (`apt-cache show`);
- the build stage installs with scripts/setup (which reads
  scripts/packages.txt, the list the tests use) and copies what it needs;
- the site configs of the compose file import cleanly;
- docker/entrypoint.sh, run here with the built binary and a loopback API:
  bootstraps a site from WOVENET_* variables, writes a 0600 API token,
  serves /healthz (the HEALTHCHECK) and the API with that token only, and
  stops with exit 0 on SIGTERM."""
import os
import re
import signal
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import wvtest as t  # noqa: E402

SRC = os.environ["WOVENET_SRC"]
D = os.path.join(SRC, "docker")


def stages(text):
    """{stage name: its lines}, from FROM ... AS name."""
    out, cur = {}, None
    lines = text.replace("\\\n", " ").splitlines()
    for line in lines:
        m = re.match(r"\s*FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            cur = m.group(1) or f"stage{len(out)}"
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def listed(path):
    return [l.strip() for l in open(path) if l.strip() and not l.lstrip().startswith("#")]


def known_packages(names):
    """The names apt-cache shows a record for (one call: each costs seconds)."""
    r = subprocess.run(["apt-cache", "show", "--no-all-versions", *names],
                       capture_output=True, text=True)
    return set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))


def main():
    r = subprocess.run(["docker-compose", "-f", os.path.join(D, "compose.yaml"), "config"],
                       capture_output=True, text=True, timeout=60)
    t.check(r.returncode == 0, f"docker-compose config passes {r.stderr.strip()[:300]}")
    for svc in ("mosquitto", "aws", "local", "iperf3", "iperf3-client"):
        t.check(re.search(rf"^  {re.escape(svc)}:$", r.stdout, re.M) is not None,
                f"compose defines service {svc}")

    text = open(os.path.join(D, "Dockerfile")).read()
    st = stages(text)
    t.check(list(st)[-1] == "runtime", "the last (default) stage is runtime")
    rt = "\n".join(st.get("runtime", []))
    t.check("COPY scripts/packages-runtime.txt" in rt and "/tmp/packages-runtime.txt" in rt,
            "the runtime stage installs scripts/packages-runtime.txt")
    t.check(re.search(r"^\s*USER\s+wovenet\s*$", rt, re.M) is not None, "runtime runs as user wovenet")
    t.check('VOLUME ["/var/lib/wovenet"]' in rt, "the DB directory is a volume")
    t.check("HEALTHCHECK" in rt and "/healthz" in rt, "HEALTHCHECK on /healthz")
    pkgs = listed(os.path.join(SRC, "scripts", "packages-runtime.txt"))
    for name, lines in st.items():
        for line in lines:
            m = re.search(r"apt-get install\s+(.*?)(?:&&|$)", line)
            if m:
                pkgs += [w for w in m.group(1).split() if not w.startswith(("-", "$"))
                         and re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", w)]
    t.check(len(pkgs) >= 10, f"{len(pkgs)} packages found in the Dockerfile")
    known = known_packages(sorted(set(pkgs)))
    for p in sorted(set(pkgs)):
        t.check(p in known, f"Debian package {p} exists (apt-cache show)")

    build = "\n".join(st.get("build", []))
    t.check(re.search(r"^\s*RUN\s+scripts/setup\b", build, re.M) is not None,
            "the build stage runs scripts/setup")
    t.check("COPY scripts/ scripts/" in build and "tests/e2e/package-lock.json" in build,
            "the build stage copies scripts/ and the pinned Node tools' lock file for setup")
    setup = open(os.path.join(SRC, "scripts", "setup")).read()
    t.check("packages.txt" in setup, "scripts/setup reads scripts/packages.txt")

    for site in ("aws", "local"):
        db = os.path.join(t.tmpdir(), "w.db")
        rc, out, err = t.wovenet("import", "--db", db, os.path.join(D, f"{site}.yaml"))
        t.check_eq(rc, 0, f"docker/{site}.yaml imports ({err.strip()})")

    # The entrypoint with the built binary, API on loopback.
    d = t.tmpdir()
    port = t.free_port()
    env = dict(os.environ, WOVENET_EXE=t.BIN, WOVENET_DB=os.path.join(d, "wovenet.db"),
               WOVENET_CONFIG=os.path.join(d, "absent.yaml"), WOVENET_SITE_NAME="boot",
               WOVENET_NETWORK_KEY="entrypoint-key-123", WOVENET_BROKER="mqtt://127.0.0.1:1",
               WOVENET_API_LISTEN=f"127.0.0.1:{port}")
    p = t.spawn(["sh", os.path.join(D, "entrypoint.sh")], os.path.join(d, "out.log"), env=env)
    base = f"http://127.0.0.1:{port}"

    def get(path, token=None):
        req = urllib.request.Request(base + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0
    t.wait_for(lambda: get("/healthz") == 200, 10, what="entrypoint: /healthz answers 200")
    tok = os.path.join(d, "api-token")
    t.check(os.path.isfile(tok) and os.stat(tok).st_mode & 0o777 == 0o600,
            "the API token file is written with mode 0600")
    token = open(tok).read().strip()
    t.check(len(token) >= 20, "the token file holds a token")
    t.check(token not in open(os.path.join(d, "out.log")).read(), "the token is not logged")
    t.check_eq(get("/api/v1/site"), 401, "the API refuses a request without the token")
    t.check_eq(get("/api/v1/site", token), 200, "the API serves the bootstrapped site with it")
    p.send_signal(signal.SIGTERM)
    t.check_eq(p.wait(timeout=10), 0, "SIGTERM (docker stop): exit 0")
    # A second start keeps the token and the site.
    p = t.spawn(["sh", os.path.join(D, "entrypoint.sh")], os.path.join(d, "out2.log"), env=env)
    t.wait_for(lambda: get("/healthz") == 200, 10, what="second start: /healthz")
    t.check_eq(open(tok).read().strip(), token, "a restart keeps the token")
    t.check_eq(get("/api/v1/site", token), 200, "and the site")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)


t.run(main)
