"""container.seed: the image and the seed scenario in containers (issue 22).

With a real Docker engine, runs the commands README.md's "In containers"
section shows (each is checked to be there verbatim), from the source tree:

- the engine: the running one when one answers (left running), else dockerd
  started here (--iptables=false: this sandbox has no iptables for it;
  --ip-forward=false, --ip-masq=false, --bridge=none: nothing is routed or
  NATed beyond docker's own bridges, checked on the host's forwarding
  sysctls) and stopped again at the end;
- the Debian 13 base images with scripts/docker-base (debootstrap) unless
  both are there; then `docker-compose ... up -d --build`, which builds the
  image (docker/Dockerfile) and starts mosquitto, aws, local and iperf3 on
  the compose network (172.29.58.0/24, fd77:6f76:656e:1::/64);
- the image: at most 150 MB (size and what makes it printed), runs as user
  wovenet, both sites become healthy through the HEALTHCHECK (/readyz);
- the seed: local's two channels to aws are up, one IPv4 (dialed by aws to
  local's port-forwarded address), one IPv6 (dialed by local: aws has no
  public IPv4); 8 MiB of random bytes through the tunnel come back intact
  (an echo server on the host's end of the bridge, exposed by aws and
  reached through local, both apps created through the API); iperf3 -P 10
  through the tunnel (the compose file's iperf3-client) and its throughput
  printed;
- the store: after `down` and `up -d` the apps made through the API are
  still there and carry bytes again (the volumes keep the stores: the
  mounted config is not imported again while unchanged), the API token is
  the one of the first start, written once (0600, user wovenet);
- the logs: every line the sites write is JSON on stdout (nothing on
  stderr), and no token appears in any container's log;
- `docker-compose ... stop aws` ends the agent within Docker's 10 s with
  exit code 0, and its offline record is published: mosquitto_sub in the
  broker's container sees the new message on the site's retained topic,
  and local logs aws offline at once;
- `down -v` removes containers, network and volumes (also on failure).

The images stay (debian:trixie, debian:trixie-slim, wovenet:local,
wovenet-mosquitto:local, wovenet-iperf3:local and the build stage's layer
cache under /var/lib/docker) so that the next run builds from the cache.
The compose project is "wvtest" (COMPOSE_PROJECT_NAME), never the README's
default one, and one run at a time holds a host-wide lock, so runs from
several worktrees wait for each other instead of sharing the fixed subnet
and ports.

Exit 77 (ctest SKIP_RETURN_CODE) when no Docker engine answers and none can
be started here (not root, no dockerd, or dockerd does not come up); any
other failure fails."""
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import wvtest as t  # noqa: E402

SRC = os.path.abspath(os.environ["WOVENET_SRC"])
BUILD = os.path.abspath(t.BUILD)
SKIP = 77
# Debian's client (docker.io) when there, whatever else PATH has.
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else (shutil.which("docker") or "docker")
PROJECT = "wvtest"
ENV = dict(os.environ, COMPOSE_PROJECT_NAME=PROJECT, DOCKER=DOCKER)
LOCK = "/run/lock/wovenet-container-test.lock"
GATEWAY, LOCAL_IP = "172.29.58.1", "172.29.58.20"  # docker/compose.yaml's network
API = {"aws": 18081, "local": 18082}
ECHO_REMOTE_PORT = 15300
SIZE_GOAL_MB = 150
# README.md, "In containers": what this test runs, exactly.
C = "docker-compose -f docker/compose.yaml"
CMDS = {
    "base": "scripts/docker-base",
    "up_build": f"{C} up -d --build",
    "iperf": f"{C} run --rm iperf3-client",
    "token": f"{C} exec -T aws cat /var/lib/wovenet/api-token",
    "down": f"{C} down",
    "up": f"{C} up -d",
    "stop": f"{C} stop aws",
    "down_v": f"{C} down -v",
    "dockerd": "dockerd --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false "
               "--bridge=none",
}
FORWARDING = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding")


def skip(why):
    print(f"SKIP: {why}", flush=True)
    sys.exit(SKIP)


def run(cmd, timeout=300, check=True, log=None):
    """Runs a shell command line (one of CMDS or a docker call) in the source
    tree; returns (exit code, stdout, stderr). With log, the output is kept
    in that file of the build tree too."""
    print(f"  $ {cmd}", flush=True)
    r = subprocess.run(cmd, shell=True, cwd=SRC, env=ENV, capture_output=True, text=True,
                       timeout=timeout)
    if log:
        with open(os.path.join(BUILD, log), "w") as f:
            f.write(r.stdout + r.stderr)
    if check and r.returncode != 0:
        print((r.stdout + r.stderr)[-4000:])
        t.check(False, f"`{cmd}` exits 0 (got {r.returncode})")
    return r.returncode, r.stdout, r.stderr


def docker(*args, timeout=120, check=True):
    r = subprocess.run([DOCKER, *args], env=ENV, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        t.check(False, f"docker {' '.join(args)} exits 0: {r.stderr.strip()[-500:]}")
    return r


def engine_version():
    try:
        r = subprocess.run([DOCKER, "version", "--format", "{{.Server.Version}}"], env=ENV,
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def take_lock():
    """One container test at a time on this host (fixed subnet and ports)."""
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    fd = os.open(LOCK, os.O_RDONLY | os.O_CREAT, 0o644)  # flock needs no write access
    t0 = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() - t0 > 600:
                t.check(False, f"{LOCK}: another container test held it for 600 s")
            time.sleep(2)
    if time.monotonic() - t0 > 1:
        print(f"  waited {time.monotonic() - t0:.0f} s for {LOCK}")
    t.on_cleanup(lambda: os.close(fd))


def read_forwarding():
    return tuple(open(p).read().strip() for p in FORWARDING)


def start_engine():
    """Uses the running engine, or starts dockerd and registers its stop.
    Exits 77 when there is none and none can be started."""
    v = engine_version()
    if v:
        print(f"  Docker engine {v} answers: used as it is, left running")
        return False
    if os.geteuid() != 0:
        skip("no Docker engine answers, and starting dockerd needs root")
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not os.path.exists(dockerd):
        skip("no Docker engine answers and there is no dockerd (Debian's docker.io, scripts/setup)")
    before = read_forwarding()
    log = os.path.join(BUILD, "container-dockerd.log")
    argv = [dockerd] + CMDS["dockerd"].split()[1:]
    print(f"  starting {' '.join(argv)} (log {log})")
    t0 = time.monotonic()
    with open(log, "ab") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)

    def stop_dockerd():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        print(f"  dockerd stopped (exit {p.returncode})")
    t.on_cleanup(stop_dockerd)
    while not (v := engine_version()):
        if p.poll() is not None or time.monotonic() - t0 > 60:
            with open(log, errors="replace") as f:
                print(f.read()[-3000:])
            stop_dockerd()
            skip(f"dockerd did not come up ({'exit ' + str(p.returncode) if p.poll() is not None else 'no answer in 60 s'})")
        time.sleep(0.5)
    print(f"  dockerd {v} up in {time.monotonic() - t0:.1f} s")
    t.check_eq(read_forwarding(), before,
               "the engine started here turned on no IP forwarding (ip_forward, ipv6 forwarding)")
    return True


def image_exists(ref):
    return docker("image", "inspect", ref, check=False).returncode == 0


def cid(service):
    r = run(f"{C} ps -q {service}", check=True)
    ids = r[1].split()
    t.check(len(ids) == 1, f"one container for {service}")
    return ids[0]


def health(c):
    r = docker("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", c,
               check=False)
    return r.stdout.strip()


def api(site, token, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", API[site], timeout=10)
    h = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    text = r.read()
    conn.close()
    try:
        return r.status, json.loads(text) if text else None
    except ValueError:
        return r.status, text.decode(errors="replace")


def wait_healthy(services, timeout=90):
    ids = {s: cid(s) for s in services}
    t0 = time.monotonic()
    for s, c in ids.items():
        t.wait_for(lambda: health(c) == "healthy", timeout - (time.monotonic() - t0), 0.5,
                   f"{s} healthy (HEALTHCHECK: /readyz)")
    print(f"  {', '.join(services)} healthy {time.monotonic() - t0:.1f} s after up")
    return ids


def read_tokens():
    tokens = {}
    for site in ("aws", "local"):
        cmd = CMDS["token"].replace(" aws ", f" {site} ")
        rc, out, _ = run(cmd)
        tokens[site] = out.strip()
        t.check(len(tokens[site]) >= 20, f"{site}: the token file holds a token")
    return tokens


def channels(token):
    st, peers = api("local", token, "GET", "/api/v1/peers")
    if st != 200:
        return []
    for p in peers:
        if p["siteName"] == "aws":
            return [c for c in p.get("channels", []) if c["state"] == "up"]
    return []


def container_logs(c):
    """(stdout, stderr) of a container's log."""
    r = docker("logs", c, check=False)
    return r.stdout, r.stderr


def check_logs(ids, tokens, phase):
    """The sites log JSON lines on stdout only; no token in any log."""
    texts = {}
    for site in ("aws", "local"):
        out, err = container_logs(ids[site])
        lines = [ln for ln in out.splitlines() if ln.strip()]
        bad = []
        for ln in lines:
            try:
                if not isinstance(json.loads(ln), dict):
                    bad.append(ln)
            except ValueError:
                bad.append(ln)
        t.check(lines and not bad, f"{phase}: {site} logs {len(lines)} lines, every one JSON"
                f"{' (not: ' + repr(bad[:3]) + ')' if bad else ''}")
        t.check_eq(err.strip(), "", f"{phase}: {site} writes nothing to stderr")
        texts[site] = out
    rc, all_logs, err = run(f"{C} logs --no-color")
    for site, tok in tokens.items():
        t.check(tok not in all_logs + err, f"{phase}: {site}'s token appears in no container's log")
    return texts


def echo_roundtrip(what):
    data = os.urandom(8 << 20)
    t0 = time.monotonic()
    back = t.echo_roundtrip(ECHO_REMOTE_PORT, data, host=LOCAL_IP)
    dt = time.monotonic() - t0
    t.check(back == data, f"{what}: 8 MiB of random bytes through the tunnel come back intact "
            f"(sha256 {hashlib.sha256(data).hexdigest()[:16]}..., {dt:.2f} s)")


def iperf():
    rc, out, err = run(CMDS["iperf"], timeout=120)
    m = re.search(r"^\[SUM\].*?([\d.]+) ([KMG])Bytes\s+([\d.]+) ([KMG])bits/sec\s+receiver", out, re.M)
    t.check(m is not None, "iperf3 prints the receiver's sum")
    mbps = float(m.group(3)) * {"K": 1e-3, "M": 1, "G": 1e3}[m.group(4)]
    streams = len(re.findall(r"^\[\s*\d+\].*receiver$", out, re.M))
    t.check_eq(streams, 10, "iperf3 -P 10: ten streams through the tunnel")
    t.check(mbps > 0, f"iperf3 through the tunnel between the containers: {mbps:.0f} Mbit/s "
            f"received ({m.group(1)} {m.group(2)}Bytes in 10 s)")
    print(f"  BENCH container seed iperf3 -P 10 -t 10: {mbps:.0f} Mbit/s")
    return mbps


class Subscriber:
    """mosquitto_sub in the broker's container: every message on the seed's
    topic, as (retained flag, payload length, topic)."""

    def __init__(self, broker):
        self.msgs = []
        self.p = subprocess.Popen(
            [DOCKER, "exec", broker, "mosquitto_sub", "-h", "127.0.0.1", "-v", "-W", "60",
             "-t", "wovenet/compose-seed/#", "-F", "%r %l %t"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
        threading.Thread(target=self._read, daemon=True).start()
        t.on_cleanup(self.close)

    def _read(self):
        for line in self.p.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("0", "1") and parts[1].isdigit():
                self.msgs.append((parts[0] == "1", int(parts[1]), parts[2]))

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def main():
    started = time.monotonic()
    readme = open(os.path.join(SRC, "README.md")).read()
    for cmd in CMDS.values():
        t.check(cmd in readme, f"README.md shows `{cmd}`")
    take_lock()
    own_engine = start_engine()
    t.check(shutil.which("docker-compose") is not None, "docker-compose is installed (scripts/setup)")
    # Whatever a killed earlier run of this project left; and at the end
    # (also on failure) everything this one made but the images.
    run(f"{C} down -v --remove-orphans", check=False)
    t.on_cleanup(lambda: run(f"{C} down -v --remove-orphans", check=False))

    timing = {}
    if image_exists("debian:trixie") and image_exists("debian:trixie-slim"):
        print("  debian:trixie and debian:trixie-slim are there: no debootstrap")
    else:
        t0 = time.monotonic()
        run(CMDS["base"], timeout=900, log="container-docker-base.log")
        timing["base images (debootstrap)"] = time.monotonic() - t0
        t.check(image_exists("debian:trixie") and image_exists("debian:trixie-slim"),
                "scripts/docker-base made debian:trixie and debian:trixie-slim")

    t0 = time.monotonic()
    rc, out, err = run(CMDS["up_build"], timeout=1500, log="container-build.log")
    timing["image build and start (up -d --build)"] = time.monotonic() - t0
    cached = len(re.findall(r"^ ---> Using cache$", out, re.M))
    ran = len(re.findall(r"^ ---> Running in ", out, re.M))
    compiled = re.search(r"^Step \d+/\d+ : RUN cmake .*\n ---> Running in ", out, re.M) is not None
    print(f"  image build and start: {timing['image build and start (up -d --build)']:.0f} s; "
          f"{cached} steps from the layer cache, {ran} run; the agent {'compiled' if compiled else 'from the cache'}"
          f" (log {BUILD}/container-build.log)")

    # The image.
    size = int(docker("image", "inspect", "-f", "{{.Size}}", "wovenet:local").stdout)
    base = int(docker("image", "inspect", "-f", "{{.Size}}", "debian:trixie-slim").stdout)
    hist = docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}",
                  "wovenet:local").stdout
    print(f"  wovenet:local {size / 1e6:.1f} MB: debian:trixie-slim {base / 1e6:.1f} MB, then:")
    for line in hist.splitlines():
        sz, by = line.split("\t", 1)
        if sz not in ("0B", "0"):
            print(f"      {sz:>8}  {re.sub(r'^/bin/sh -c (#[(]nop[)] *)?', '', by)[:90]}")
    t.check(size <= SIZE_GOAL_MB * 1e6, f"the image is at most {SIZE_GOAL_MB} MB ({size / 1e6:.1f} MB)")
    cfg = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", "wovenet:local").stdout)
    t.check_eq(cfg.get("User"), "wovenet", "the image runs as user wovenet")
    t.check("healthcheck" in " ".join((cfg.get("Healthcheck") or {}).get("Test", [])),
            "the image has a HEALTHCHECK (the entrypoint's /readyz probe)")

    ids = wait_healthy(["aws", "local"])
    ids["mosquitto"] = cid("mosquitto")
    tokens = read_tokens()
    for site in ("aws", "local"):
        rc, out, _ = run(f"{C} exec -T {site} stat -c '%a %U' /var/lib/wovenet/api-token")
        t.check_eq(out.strip(), "600 wovenet", f"{site}: the token file is 0600, owned by wovenet")
        rc, out, _ = run(f"{C} exec -T {site} id -u")
        t.check(out.strip() not in ("", "0"), f"{site}: the agent runs as a non-root uid ({out.strip()})")

    # The seed: two channels, bytes intact, iperf3.
    t0 = time.monotonic()
    up = t.wait_for(lambda: (lambda c: c if len(c) == 2 else None)(channels(tokens["local"])), 30,
                    0.2, "local's two channels to aws")
    print(f"  two channels up {time.monotonic() - t0:.1f} s after healthy")
    t.check_eq(sorted(c["family"] for c in up), ["ipv4", "ipv6"], "one IPv4 and one IPv6 channel")
    v4 = next(c for c in up if c["family"] == "ipv4")
    v6 = next(c for c in up if c["family"] == "ipv6")
    t.check(v4["direction"] == "inbound", "the IPv4 channel was dialed by aws (to local's "
            f"port-forwarded address; {v4['localAddress']} <- {v4['remoteAddress']})")
    t.check(v6["direction"] == "outbound" and "fd77:6f76:656e:1::10" in v6["remoteAddress"],
            f"the IPv6 channel was dialed by local to aws's IPv6 address ({v6['remoteAddress']})")

    echo = t.AppServer(host=GATEWAY)
    st, body = api("aws", tokens["aws"], "PUT", "/api/v1/exposed-apps/echo",
                   {"appSocket": f"tcp:{GATEWAY}:{echo.port}"})
    t.check(st in (200, 201), f"aws: exposed app echo created through the API ({st} {body})")
    st, body = api("local", tokens["local"], "PUT", "/api/v1/remote-apps/echo",
                   {"siteName": "aws", "appName": "echo",
                    "localSocket": f"tcp:0.0.0.0:{ECHO_REMOTE_PORT}"})
    t.check(st in (200, 201), f"local: remote app echo created through the API ({st} {body})")
    t.wait_for(lambda: api("local", tokens["local"], "GET", "/api/v1/remote-apps/echo")[1]
               ["status"]["state"] == "listening", 10, 0.1, "remote app echo listening")
    echo_roundtrip("first start")
    mbps = iperf()
    texts = check_logs(ids, tokens, "first start")
    for site in ("aws", "local"):
        t.check_eq(texts[site].count("API token written"), 1,
                   f"first start: {site} wrote its token file (and said so, without the token)")

    # down and up: the volumes keep the stores and the tokens.
    t0 = time.monotonic()
    run(CMDS["down"], timeout=120)
    run(CMDS["up"], timeout=300)
    ids = wait_healthy(["aws", "local"])
    ids["mosquitto"] = cid("mosquitto")
    timing["down and up again"] = time.monotonic() - t0
    t.check_eq(read_tokens(), tokens, "after down and up: the same API tokens (the volumes kept them)")
    st, body = api("aws", tokens["aws"], "GET", "/api/v1/exposed-apps/echo")
    t.check(st == 200 and body["appSocket"] == f"tcp:{GATEWAY}:{echo.port}",
            f"after down and up: aws still has the exposed app made through the API ({st})")
    t.wait_for(lambda: api("local", tokens["local"], "GET", "/api/v1/remote-apps/echo")[1]
               ["status"]["state"] == "listening", 30, 0.2,
               "after down and up: local's remote app echo (made through the API) listening")
    t.wait_for(lambda: len(channels(tokens["local"])) == 2, 30, 0.2, "two channels again")
    echo_roundtrip("after down and up")
    texts = check_logs(ids, tokens, "after down and up")
    for site in ("aws", "local"):
        t.check("API token written" not in texts[site],
                f"after down and up: {site} did not write a token again")
        t.check("unchanged since its last import" in texts[site],
                f"after down and up: {site} ran its stored state (the config was not re-imported)")

    # docker stop: a clean end and the offline record.
    sub = Subscriber(ids["mosquitto"])
    t.wait_for(lambda: len({m[2] for m in sub.msgs if m[0]}) >= 2, 15, 0.1,
               "mosquitto_sub: both sites' retained announcements")
    retained = {m[2]: m[1] for m in sub.msgs if m[0]}
    seen = len(sub.msgs)
    offline_before = texts["local"].count("peer aws is offline")
    t0 = time.monotonic()
    run(CMDS["stop"], timeout=60)
    took = time.monotonic() - t0
    state = json.loads(docker("inspect", "-f", "{{json .State}}", ids["aws"]).stdout)
    t.check_eq(state["ExitCode"], 0, f"{CMDS['stop']}: the agent exits 0")
    t.check(took < 10, f"... within Docker's 10 s stop timeout ({took:.2f} s, no SIGKILL)")
    new = t.wait_for(lambda: [m for m in sub.msgs[seen:] if m[2] in retained], 5, 0.05,
                     "a message on a site's retained topic after the stop")
    topic = new[0][2]
    print(f"  offline record: {new[0][1]} bytes on {topic} (the announcement was "
          f"{retained[topic]} bytes)")
    t.check(new[0][1] != retained[topic], "aws published its offline record (a new, different "
            "message on its retained topic)")
    aws_log = container_logs(ids["aws"])[0]
    t.check("site aws stopped" in aws_log, "aws logs its clean stop")
    t.wait_for(lambda: container_logs(ids["local"])[0].count("peer aws is offline") > offline_before,
               5, 0.1, "local logs aws offline (the offline record, not a keepalive timeout)")

    t0 = time.monotonic()
    run(CMDS["down_v"], timeout=120)
    timing["down -v"] = time.monotonic() - t0
    left = docker("volume", "ls", "-q", "--filter", f"name={PROJECT}_").stdout.split()
    t.check_eq(left, [], "down -v removed the volumes")
    left = docker("network", "ls", "-q", "--filter", f"name={PROJECT}_").stdout.split()
    t.check_eq(left, [], "and the network")
    for k, v in timing.items():
        print(f"  time: {k}: {v:.0f} s")
    print(f"  container test: {time.monotonic() - started:.0f} s in all "
          f"(engine {'started here' if own_engine else 'already running'}; "
          f"throughput {mbps:.0f} Mbit/s; image {size / 1e6:.1f} MB)")


t.run(main)
