"""contract.docker: what can be checked of the Docker files without an engine.

- `docker-compose -f docker/compose.yaml config` passes (Debian's
  docker-compose) and defines mosquitto, aws, local, iperf3;
- every package the Dockerfile installs (the runtime stage's list
  scripts/packages-runtime.txt, and the helper stages' names) is a real
  package of the Debian suite its FROM lines name (`apt-cache show`; when
  that is not this host's suite, against that suite's index, fetched with
  apt from the mirror of this host's own sources into the build tree and
  kept for a day), and so is every name of scripts/packages.txt, which the
  build stage installs there with scripts/setup;
- the build stage installs with scripts/setup (which reads
  scripts/packages.txt, the list the tests use) and copies what it needs;
- the site configs of the compose file import cleanly;
- docker/entrypoint.sh, run here with the built binary and a loopback API:
  bootstraps a site from WOVENET_* variables, writes a 0600 API token,
  serves /healthz (the HEALTHCHECK) and the API with that token only (the
  bodies checked: the bootstrapped site's name, broker, derived topic, key
  set and never shown; a 401 error body without it), and stops with exit 0
  on SIGTERM; a second start keeps the token and the site."""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
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


def host_codename():
    with open("/etc/os-release") as f:
        m = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", f.read(), re.M)
    return m.group(1) if m else ""


def host_mirror():
    """URI and Signed-By of the host's enabled Debian main suite entry
    (deb822 *.sources or one-line lists), as scripts/setup reads them."""
    suite = host_codename()
    files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    for path in files:
        for stanza in re.split(r"\n\s*\n", open(path).read()):
            f = {}
            for line in stanza.splitlines():
                m = re.match(r"([A-Za-z-]+):\s*(.*)", line)
                if m and not line.startswith("#"):
                    f[m.group(1).lower()] = m.group(2).strip()
            if ("deb" in f.get("types", "").split() and suite in f.get("suites", "").split()
                    and "main" in f.get("components", "").split()
                    and f.get("enabled", "yes").lower() not in ("no", "false") and f.get("uris")):
                signed = f.get("signed-by", "")
                return f["uris"].split()[0], signed if signed.startswith("/") else ""
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if not os.path.exists(path):
            continue
        for line in open(path):
            m = re.match(r"\s*deb\s+(\[[^]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)", line)
            if m and m.group(3) == suite and "main" in m.group(4).split():
                sb = re.search(r"signed-by=([^\s\]]+)", m.group(1) or "")
                return m.group(2), sb.group(1) if sb else ""
    return None, ""


def apt_for(codename):
    """apt options that make apt-cache answer for codename: none for this
    host's own suite; else a private apt state under the build tree with
    that suite's main index (updated when older than a day)."""
    if codename == host_codename():
        return []
    root = os.path.join(t.BUILD, f"apt-{codename}")
    opts = ["-o", f"Dir::Etc::SourceList={root}/sources.list",
            "-o", f"Dir::Etc::SourceParts={root}/parts",
            "-o", f"Dir::Etc::Preferences={root}/preferences",
            "-o", f"Dir::Etc::PreferencesParts={root}/parts",
            "-o", f"Dir::State::Lists={root}/lists", "-o", f"Dir::State::status={root}/status",
            "-o", f"Dir::Cache={root}/cache", "-o", "Acquire::Languages=none"]
    stamp = os.path.join(root, "updated")
    if os.path.exists(stamp) and time.time() - os.path.getmtime(stamp) < 86400:
        return opts
    uri, signed = host_mirror()
    t.check(uri is not None, f"this host's apt sources name a Debian mirror ({uri})")
    if not uri:
        return None
    for sub in ("parts", "lists/partial", "cache/archives/partial"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    signed = signed or "/usr/share/keyrings/debian-archive-keyring.gpg"
    with open(os.path.join(root, "sources.list"), "w") as f:
        f.write(f"deb [signed-by={signed}] {uri} {codename} main\n")
    for name in ("preferences", "status"):
        open(os.path.join(root, name), "w").close()
    r = subprocess.run(["apt-get", *opts, "update", "-qq"], capture_output=True, text=True,
                       timeout=600)
    t.check(r.returncode == 0, f"the {codename} index from {uri} ({r.stderr.strip()[:300]})")
    if r.returncode != 0:
        return None
    open(stamp, "w").close()
    return opts


def known_packages(names, codename):
    """The names apt-cache shows a record for in codename (one call: each
    costs seconds)."""
    opts = apt_for(codename)
    if opts is None:
        return set()
    r = subprocess.run(["apt-cache", *opts, "show", "--no-all-versions", *names],
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
    suites = set(re.findall(r"^\s*FROM\s+debian:([a-z]+)", text, re.M | re.I))
    t.check_eq(len(suites), 1, f"every stage is on one Debian suite ({sorted(suites)})")
    codename = sorted(suites)[0] if suites else ""
    known = known_packages(sorted(set(pkgs)), codename)
    for p in sorted(set(pkgs)):
        t.check(p in known, f"Debian {codename} package {p} exists (apt-cache show)")
    # The build stage runs scripts/setup there: the test and build list too.
    build_pkgs = sorted(set(listed(os.path.join(SRC, "scripts", "packages.txt"))))
    known = known_packages(build_pkgs, codename)
    missing = [p for p in build_pkgs if p not in known]
    t.check(not missing, f"every name of scripts/packages.txt is a Debian {codename} package"
            f" (missing: {missing})")

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
        """(status, parsed JSON body or None); status 0 if nothing answers."""
        req = urllib.request.Request(base + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except OSError:
            return 0, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None

    def site_ok(body):
        mc = (body or {}).get("messageChannel", {})
        return (body or {}).get("siteName") == "boot" and body.get("networkKeySet") is True \
            and "networkKey" not in body and mc.get("brokers") == ["mqtt://127.0.0.1:1"] \
            and mc.get("topic", "").startswith("wovenet/") \
            and "entrypoint-key-123" not in json.dumps(body)
    st, health = t.wait_for(lambda: (lambda r: r if r[0] == 200 else None)(get("/healthz")), 10,
                            what="entrypoint: /healthz answers 200")
    t.check(isinstance(health, dict) and health.get("status") == "ok",
            f"/healthz answers 200 with status ok ({health})")
    tok = os.path.join(d, "api-token")
    t.check(os.path.isfile(tok) and os.stat(tok).st_mode & 0o777 == 0o600,
            "the API token file is written with mode 0600")
    token = open(tok).read().strip()
    t.check(len(token) >= 20, "the token file holds a token")
    t.check(token not in open(os.path.join(d, "out.log")).read(), "the token is not logged")
    st, body = get("/api/v1/site")
    t.check(st == 401 and (body or {}).get("error", {}).get("code") == "unauthorized"
            and "siteName" not in json.dumps(body),
            f"the API refuses a request without the token: 401, an error body ({st} {body})")
    st, body = get("/api/v1/site", token)
    t.check(st == 200 and site_ok(body),
            f"with it the API serves the bootstrapped site: name boot, the broker, a derived "
            f"topic, the key set and not shown ({st} {body})")
    t.check_eq(get("/api/v1/site", "wrong-" + token)[0], 401, "a wrong token is refused")
    p.send_signal(signal.SIGTERM)
    t.check_eq(p.wait(timeout=10), 0, "SIGTERM (docker stop): exit 0")
    # A second start keeps the token and the site.
    p = t.spawn(["sh", os.path.join(D, "entrypoint.sh")], os.path.join(d, "out2.log"), env=env)
    t.wait_for(lambda: get("/healthz")[0] == 200, 10, what="second start: /healthz")
    t.check_eq(open(tok).read().strip(), token, "a restart keeps the token")
    st, again = get("/api/v1/site", token)
    t.check(st == 200 and site_ok(again) and again["messageChannel"]["topic"]
            == body["messageChannel"]["topic"], f"and the site, unchanged ({st} {again})")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)


t.run(main)
