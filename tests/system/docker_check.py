"""contract.docker: what can be checked of the Docker files without an engine.

- `docker-compose -f docker/compose.yaml config` passes (Debian's
  docker-compose) and defines mosquitto, aws, local, iperf3; its network is
  a private one that none of the namespace tests' ranges overlaps, and its
  builds use the host's network;
- every package the Dockerfile installs (the runtime stage's list
  scripts/packages-runtime.txt, and the helper stages' names) is a real
  package of the Debian suite its FROM lines name (`apt-cache show`; when
  that is not this host's suite, against that suite's index, fetched with
  apt from the mirror of this host's own sources into the build tree and
  kept for a day), and so is every name of scripts/packages-build.txt
  (which the build stage installs there with `scripts/setup --build-only`)
  and of scripts/packages.txt (the rest of what setup installs);
- the build stage runs `scripts/setup --build-only` and copies what that
  reads, and no test tool is in the build list; the runtime stage runs as
  user wovenet, logs JSON and has a HEALTHCHECK through the entrypoint;
- the site configs of the compose file import cleanly;
- docker/entrypoint.sh, run here with the built binary and a loopback API:
  bootstraps a site from WOVENET_* variables, writes a 0600 API token,
  answers `healthcheck` (GET /readyz) and serves the API with that token
  only (the bodies checked: the bootstrapped site's name, broker, derived
  topic, key set and never shown; a 401 error body without it), logs JSON lines only (WOVENET_LOG_FORMAT=json), and stops with exit 0
  on SIGTERM (the bootstrapped site has no logger.format: the JSON is
  WOVENET_LOG_FORMAT's doing, and another value of it is refused); with a
  mounted config it imports it on the first start only: an app made through
  the API survives a restart; an edited file is imported again.
The container itself is built and run by container.seed
(container_seed.py)."""
import glob
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import yaml

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


# The namespace tests' address ranges (tests/system/netns.py): the compose
# network must not overlap them.
NETNS_RANGES = [ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24",
                                                  "2001:db8::/32", "10.0.0.0/8",
                                                  "192.168.0.0/16")]
PRIVATE = [ipaddress.ip_network(n) for n in ("172.16.0.0/12", "fc00::/7")]


def check_compose():
    r = subprocess.run(["docker-compose", "-f", os.path.join(D, "compose.yaml"), "config"],
                       capture_output=True, text=True, timeout=60)
    t.check(r.returncode == 0, f"docker-compose config passes {r.stderr.strip()[:300]}")
    for svc in ("mosquitto", "aws", "local", "iperf3", "iperf3-client"):
        t.check(re.search(rf"^  {re.escape(svc)}:$", r.stdout, re.M) is not None,
                f"compose defines service {svc}")
    cfg = yaml.safe_load(r.stdout)
    subnets = [ipaddress.ip_network(c["subnet"])
               for n in cfg["networks"].values() for c in n["ipam"]["config"]]
    t.check(len(subnets) == 2 and {n.version for n in subnets} == {4, 6},
            f"the compose network has an IPv4 and an IPv6 subnet ({subnets})")
    for n in subnets:
        t.check(any(n.subnet_of(p) for p in PRIVATE if p.version == n.version)
                and not any(n.overlaps(x) for x in NETNS_RANGES if x.version == n.version),
                f"compose subnet {n} is private (172.16.0.0/12, fc00::/7), apart from the "
                f"namespace tests' ranges")
    for name, svc in cfg["services"].items():
        if "build" in svc:
            t.check_eq(svc["build"].get("network"), "host",
                       f"compose builds {name} with the host's network (apt reaches the mirror)")
    # The sites' public addresses are theirs on that network.
    for site in ("aws", "local"):
        addrs = set(cfg["services"][site]["networks"]["wan"].values())
        conf = yaml.safe_load(open(os.path.join(D, f"{site}.yaml")))
        for sock in conf["tunnel"]["localSockets"]:
            t.check(sock["publicAddress"] in addrs,
                    f"docker/{site}.yaml announces {sock['publicAddress']}, its compose address")


def check_dockerfile():
    text = open(os.path.join(D, "Dockerfile")).read()
    st = stages(text)
    t.check(list(st)[-1] == "runtime", "the last (default) stage is runtime")
    t.check(list(st).index("build") > max(list(st).index("iperf3"), list(st).index("mosquitto")),
            "the helper stages come before the build stage (building them compiles nothing)")
    rt = "\n".join(st.get("runtime", []))
    t.check("COPY scripts/packages-runtime.txt" in rt and "/tmp/packages-runtime.txt" in rt,
            "the runtime stage installs scripts/packages-runtime.txt")
    t.check(re.search(r"^\s*USER\s+wovenet\s*$", rt, re.M) is not None, "runtime runs as user wovenet")
    t.check('VOLUME ["/var/lib/wovenet"]' in rt, "the DB directory is a volume")
    t.check(re.search(r"WOVENET_LOG_FORMAT=json\b", rt) is not None, "the runtime logs JSON")
    t.check(re.search(r'^\s*HEALTHCHECK\b.*CMD \["/usr/local/bin/wovenet-entrypoint", "healthcheck"\]',
                      rt, re.M) is not None, "HEALTHCHECK through the entrypoint's healthcheck")
    entry = open(os.path.join(D, "entrypoint.sh")).read()
    t.check("/readyz" in entry, "the entrypoint's healthcheck asks /readyz")
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
    # The build stage installs the build list there; setup also installs the
    # test list on Debian 12 and 13 alike.
    build_list = listed(os.path.join(SRC, "scripts", "packages-build.txt"))
    test_list = listed(os.path.join(SRC, "scripts", "packages.txt"))
    for name, names in (("packages-build.txt", build_list), ("packages.txt", test_list)):
        names = sorted(set(names))
        known = known_packages(names, codename)
        missing = [p for p in names if p not in known]
        t.check(not missing, f"every name of scripts/{name} is a Debian {codename} package"
                f" (missing: {missing})")
    for tool in ("libcmocka-dev", "clang", "chromium", "nodejs", "npm", "prometheus", "python3"):
        t.check(tool not in build_list, f"the build list has no test tool {tool}")
    t.check(not set(build_list) & set(test_list), "the two lists name no package twice")

    build = "\n".join(st.get("build", []))
    t.check(re.search(r"^\s*RUN\s+scripts/setup --build-only\b", build, re.M) is not None,
            "the build stage runs scripts/setup --build-only")
    setup = open(os.path.join(SRC, "scripts", "setup")).read()
    reads = {"setup", "packages-build.txt"} | set(re.findall(r'"\$here/([\w.-]+)"', setup))
    reads.discard("packages.txt")  # not with --build-only
    m = re.search(r"^\s*COPY ((?:scripts/\S+ )+)scripts/\s*$", build, re.M)
    copied = {os.path.basename(f) for f in (m.group(1).split() if m else [])}
    t.check(reads <= copied, f"the build stage copies what setup --build-only reads ({sorted(reads)};"
            f" copied {sorted(copied)})")
    t.check("packages-build.txt" in setup and "--build-only" in setup,
            "scripts/setup --build-only reads scripts/packages-build.txt")
    t.check(re.search(r"-DWOVENET_TESTS=OFF", build) is not None,
            "the build stage builds the agent without the tests")


def check_entrypoint():
    """docker/entrypoint.sh with the built binary, API on loopback."""
    d = t.tmpdir()
    port = t.free_port()
    base = f"http://127.0.0.1:{port}"
    # /readyz covers the broker: the entrypoint's healthcheck needs one.
    broker = t.Mosquitto()
    broker.start()
    env = dict(os.environ, WOVENET_EXE=t.BIN, WOVENET_DB=os.path.join(d, "wovenet.db"),
               WOVENET_CONFIG=os.path.join(d, "absent.yaml"), WOVENET_SITE_NAME="boot",
               WOVENET_NETWORK_KEY="entrypoint-key-123", WOVENET_BROKER=broker.url,
               WOVENET_API_LISTEN=f"127.0.0.1:{port}", WOVENET_LOG_FORMAT="json")
    entry = ["sh", os.path.join(D, "entrypoint.sh")]

    def call(path, token=None, method="GET", body=None):
        """(status, parsed JSON body or None); status 0 if nothing answers."""
        r = urllib.request.Request(base + path, method=method,
                                   data=json.dumps(body).encode() if body is not None else None)
        if body is not None:
            r.add_header("Content-Type", "application/json")
        if token:
            r.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(r, timeout=5) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except OSError:
            return 0, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None

    def req(path, token=None, method="GET", body=None):
        return call(path, token, method, body)[0]

    def site_ok(body):
        mc = (body or {}).get("messageChannel", {})
        return (body or {}).get("siteName") == "boot" and body.get("networkKeySet") is True \
            and "networkKey" not in body and mc.get("brokers") == [broker.url] \
            and mc.get("topic", "").startswith("wovenet/") \
            and "entrypoint-key-123" not in json.dumps(body)

    def healthcheck():
        return subprocess.run(entry + ["healthcheck"], env=env, capture_output=True,
                              timeout=10).returncode

    def start(log):
        p = t.spawn(entry, os.path.join(d, log), env=env)
        t.wait_for(lambda: healthcheck() == 0, 10, 0.1, what=f"{log}: healthcheck (/readyz) ok")
        return p

    def stop(p, log):
        p.send_signal(signal.SIGTERM)
        t.check_eq(p.wait(timeout=10), 0, f"{log}: SIGTERM (docker stop): exit 0")
        lines = [ln for ln in open(os.path.join(d, log)).read().splitlines() if ln.strip()]
        bad = [ln for ln in lines if not ln.startswith("{") or not _is_json(ln)]
        t.check(lines and not bad, f"{log}: {len(lines)} log lines, every one JSON {bad[:2]}")
        return "\n".join(lines)

    t.check(healthcheck() != 0, "healthcheck fails while no agent runs")
    # WOVENET_LOG_FORMAT is checked: anything but text or json stops the run.
    bad = os.path.join(t.tmpdir(), "w.db")
    t.check_eq(t.wovenet("import", "--db", bad, os.path.join(D, "aws.yaml"))[0], 0, "a site to run")
    try:
        r = subprocess.run([t.BIN, "run", "--db", bad, "--api", "127.0.0.1:0"], text=True,
                           capture_output=True, timeout=10,
                           env=dict(os.environ, WOVENET_LOG_FORMAT="xml"))
        rc, err = r.returncode, r.stderr.strip()
    except subprocess.TimeoutExpired:
        rc, err = None, "still running after 10 s"
    t.check(rc == 1 and 'WOVENET_LOG_FORMAT="xml": not text or json' in err,
            f"WOVENET_LOG_FORMAT=xml: run exits 1 naming it ({rc}: {err})")
    p = start("out.log")
    tok = os.path.join(d, "api-token")
    t.check(os.path.isfile(tok) and os.stat(tok).st_mode & 0o777 == 0o600,
            "the API token file is written with mode 0600")
    token = open(tok).read().strip()
    t.check(len(token) >= 20, "the token file holds a token")
    st, health = call("/healthz")
    t.check(st == 200 and (health or {}).get("status") == "ok",
            f"/healthz answers 200 with status ok ({health})")
    st, body = call("/api/v1/site")
    t.check(st == 401 and (body or {}).get("error", {}).get("code") == "unauthorized"
            and "siteName" not in json.dumps(body),
            f"the API refuses a request without the token: 401, an error body ({st} {body})")
    st, body = call("/api/v1/site", token)
    t.check(st == 200 and site_ok(body),
            f"with it the API serves the bootstrapped site: name boot, the broker, a derived "
            f"topic, the key set and not shown ({st} {body})")
    t.check_eq(req("/api/v1/site", "wrong-" + token), 401, "a wrong token is refused")
    log = stop(p, "out.log")
    t.check(token not in log, "the token is not logged")
    # A second start keeps the token and the site.
    p = start("out2.log")
    t.check_eq(open(tok).read().strip(), token, "a restart keeps the token")
    st, again = call("/api/v1/site", token)
    t.check(st == 200 and site_ok(again) and again["messageChannel"]["topic"]
            == body["messageChannel"]["topic"], f"and the site, unchanged ({st} {again})")
    log = stop(p, "out2.log")
    t.check("API token written" not in log and token not in log, "and writes no token again")

    # A mounted config: imported on the first start; an app made through
    # the API survives a restart; an edited config is imported again.
    d2 = t.tmpdir()
    cfg = os.path.join(d2, "config.yaml")
    # compose's aws.yaml, with this test's broker (/readyz covers it).
    conf = open(os.path.join(D, "aws.yaml")).read().replace("mqtt://mosquitto:1883", broker.url)
    open(cfg, "w").write(conf)
    env.update(WOVENET_DB=os.path.join(d2, "wovenet.db"), WOVENET_CONFIG=cfg)
    env.pop("WOVENET_SITE_NAME")
    tok = os.path.join(d2, "api-token")
    p = start("cfg1.log")
    token = open(tok).read().strip()
    t.check_eq(req("/api/v1/exposed-apps/api-made", token, "PUT",
                   {"appSocket": "tcp:127.0.0.1:9"}), 201, "an exposed app made through the API")
    log = stop(p, "cfg1.log")
    t.check("imported " in log, "the first start imports the mounted config")
    p = start("cfg2.log")
    t.check_eq(req("/api/v1/exposed-apps/api-made", token), 200,
               "after a restart with the same config the app made through the API is there")
    log = stop(p, "cfg2.log")
    t.check("unchanged since its last import" in log, "and the start said why")
    open(cfg, "w").write(conf.replace("siteName: aws", "siteName: aws2"))
    p = start("cfg3.log")
    log = stop(p, "cfg3.log")
    t.check("imported " in log and "unchanged since" not in log,
            "an edited config is imported again")


def _is_json(line):
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def main():
    check_compose()
    check_dockerfile()
    for site in ("aws", "local"):
        db = os.path.join(t.tmpdir(), "w.db")
        rc, out, err = t.wovenet("import", "--db", db, os.path.join(D, f"{site}.yaml"))
        t.check_eq(rc, 0, f"docker/{site}.yaml imports ({err.strip()})")
    check_entrypoint()


t.run(main)
