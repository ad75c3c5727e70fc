"""Shared harness for system tests: real processes on free loopback ports,
temp dirs, and cleanup of everything started, also on failure.

Usage in a test file:
    import wvtest as t
    def main(): ...
    t.run(main)          # runs, cleans up, exits 0/1 with a summary line
"""
import atexit
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("WOVENET_BIN", "wovenet")
BUILD = os.environ.get("WOVENET_BUILD", ".")
SRC = os.environ.get("WOVENET_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))

_procs = []
_cleanups = []
_checks = {"passed": 0, "failed": 0}


class Fail(Exception):
    pass


# The exit code of a test that cannot run on this machine: every test of
# tests/CMakeLists.txt that can skip declares it as its SKIP_RETURN_CODE, so
# ctest reports it as skipped, never as passed. A test skips only when it
# truly cannot run here (e.g. not root for namespaces); a tool that
# scripts/setup installs (scripts/packages.txt) is never a reason: its
# absence fails.
SKIP = 77


class Skip(Exception):
    pass


def skip(reason):
    """Stops the test as skipped (exit SKIP after cleanup), saying why."""
    raise Skip(reason)


def check(cond, what):
    """Records one assertion; raises on failure so the test stops there."""
    if cond:
        _checks["passed"] += 1
        print(f"  ok   {what}", flush=True)
    else:
        _checks["failed"] += 1
        print(f"  FAIL {what}", flush=True)
        raise Fail(what)


def check_eq(got, want, what):
    if got != want:
        print(f"       got  {got!r}\n       want {want!r}")
    check(got == want, what)


def tmpdir(prefix="wvtest-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def on_cleanup(fn):
    _cleanups.append(fn)


def free_port(kind=socket.SOCK_STREAM, family=socket.AF_INET):
    """A port free for both TCP and UDP on loopback right now."""
    for _ in range(100):
        s = socket.socket(family, kind)
        s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        port = s.getsockname()[1]
        s.close()
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        try:
            o = socket.socket(family, other)
            o.bind(("127.0.0.1" if family == socket.AF_INET else "::1", port))
            o.close()
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def spawn(argv, log_path=None, env=None, cwd=None, **kw):
    """Starts a process in its own process group, logged to log_path."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=e, cwd=cwd,
                         start_new_session=True, **kw)
    p.log_path = log_path
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10):
    """Stops p (SIGTERM, then SIGKILL after timeout). Returns its exit code."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode


def signal_now(p, sig=signal.SIGTERM):
    """Sends sig to p's process group and returns at once, with the
    monotonic time it was sent: "within N s of the signal" clocks start
    here, not after the process has exited (stop() waits for that)."""
    t0 = time.monotonic()
    os.killpg(p.pid, sig)
    return t0


def wait_for(fn, timeout=5.0, interval=0.02, what="condition"):
    """Polls fn until it returns a truthy value; returns it, or raises Fail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError, http.client.HTTPException):
            pass
        time.sleep(interval)
    raise Fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Sampler:
    """Calls fn() every interval seconds in a background thread until
    stop(); .samples holds (seconds since the start, value), an exception
    being recorded as its value (a sample that could not be taken counts
    as a bad one, never as a gap). For checks that must hold throughout
    an event, not only at its end."""

    def __init__(self, fn, interval=0.5):
        import threading
        self.fn, self.interval, self.samples = fn, interval, []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        on_cleanup(self.stop)

    def _run(self):
        while not self._stop.is_set():
            try:
                v = self.fn()
            except Exception as e:  # recorded: a failed sample is a bad sample
                v = e
            self.samples.append((round(time.monotonic() - self.t0, 2), v))
            self._stop.wait(self.interval)

    def stop(self):
        """Stops sampling (after the sample in progress); returns .samples."""
        self._stop.set()
        self._thread.join(30)
        return self.samples


def tcp_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wovenet(*args, input=None, timeout=60):
    """Runs the CLI to completion: (exit code, stdout, stderr)."""
    r = subprocess.run([BIN, *args], input=input, capture_output=True, timeout=timeout,
                       text=True)
    return r.returncode, r.stdout, r.stderr


class Mosquitto:
    def __init__(self, port=None, extra_conf=""):
        self.port = port or free_port()
        self.dir = tmpdir("wvmqtt-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    f"persistence false\n{extra_conf}\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = spawn(["mosquitto", "-c", self.conf], os.path.join(self.dir, "log"))
        wait_for(lambda: tcp_accepts(self.port), 5, what="mosquitto")

    def stop(self, sig=signal.SIGTERM):
        stop(self.proc, sig)

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"


class BrokerCapture:
    """Every message a broker passes on topics (MQTT filters; default all),
    recorded by a mosquitto_sub started now. It is proven live before the
    constructor returns: the subscriber also subscribes, last, to a probe
    topic of its own, and a probe is published there until it comes back,
    so a late or refused subscriber fails here instead of letting a check
    on the capture pass on nothing. args: extra client arguments for both
    mosquitto_sub and mosquitto_pub (e.g. ["-u", user, "-P", password]).

    .messages() -> [(topic, payload bytes)] without the probes; .sync()
    publishes one more probe and waits for it: everything the broker
    received before is then in the capture (one subscriber's messages keep
    their order)."""

    def __init__(self, broker, topics=("#",), args=(), timeout=5):
        self.host, self.port, self.args = "127.0.0.1", broker.port, list(args)
        self.path = os.path.join(tmpdir("wvcap-"), "capture")
        self.probe = f"wvtest-probe/{os.getpid()}/{time.monotonic_ns()}"
        self.sent = 0
        argv = ["mosquitto_sub", "-h", self.host, "-p", str(self.port), *self.args,
                "-F", "%t %x"]
        for tp in topics:
            argv += ["-t", tp]
        self.proc = spawn(argv + ["-t", self.probe], self.path)
        self.sync(timeout)

    def _records(self):
        out = []
        with open(self.path, errors="replace") as f:
            for line in f:
                topic, sep, hexed = line.rstrip("\n").rpartition(" ")
                if sep:
                    out.append((topic, bytes.fromhex(hexed)))
        return out

    def sync(self, timeout=5):
        """Publishes a probe (again, every 0.2 s) until it has arrived."""
        first = self.sent + 1

        def arrived():
            if self.proc.poll() is not None:
                raise Fail(f"mosquitto_sub exited ({self.proc.returncode}): "
                           + open(self.path, errors="replace").read()[-300:])
            self.sent += 1
            subprocess.run(["mosquitto_pub", "-h", self.host, "-p", str(self.port), *self.args,
                            "-t", self.probe, "-m", str(self.sent)], check=True, timeout=10,
                           capture_output=True)
            return any(t == self.probe and int(p) >= first for t, p in self._records())
        wait_for(arrived, timeout, interval=0.2, what="the broker capture's probe")

    def messages(self, topic_prefix=""):
        return [(t, p) for t, p in self._records()
                if t != self.probe and t.startswith(topic_prefix)]

    def stop(self):
        stop(self.proc)


class Agent:
    """One `wovenet run` with its own temp DB and API port."""

    def __init__(self, name="site", config=None, db=None, api_port=None, args=(), env=None,
                 start=True):
        self.dir = tmpdir(f"wv-{name}-")
        self.name = name
        self.db = db or os.path.join(self.dir, "wovenet.db")
        self.api_port = api_port or free_port()
        self.config = None
        if config is not None:
            self.config = os.path.join(self.dir, "config.yaml")
            with open(self.config, "w") as f:
                f.write(config)
        self.args = list(args)
        self.env = env
        self.log = os.path.join(self.dir, "agent.log")
        self.proc = None
        self.token = None
        if start:
            self.start()

    def argv(self):
        """The command line of this agent's `wovenet run`."""
        argv = [BIN, "run", "--db", self.db, "--api", f"127.0.0.1:{self.api_port}"]
        if self.config:
            argv += ["--config", self.config]
        return argv + self.args

    def spawn(self, argv):
        """Starts argv as this agent's process (a namespaced agent overrides it)."""
        return spawn(argv, self.log, env=self.env)

    def start(self, wait=True):
        self.proc = self.spawn(self.argv())
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10, interval=0.02):
        """Waits until the process runs and its API answers /healthz."""
        wait_for(lambda: self.proc.poll() is None and self.api("GET", "/healthz")[0] == 200,
                 timeout, interval, what=f"agent {self.name} healthz")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        return stop(self.proc, sig, timeout)

    def _connection(self, timeout):
        """The HTTP connection to the API (a namespaced agent overrides it)."""
        return http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=timeout)

    def api(self, method, path, body=None, headers=None, raw=None, timeout=10):
        """(status, parsed JSON or text, headers dict with lower-case keys)."""
        c = self._connection(timeout)
        h = {}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if headers:
            h.update(headers)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode(errors="replace")
        return r.status, parsed, hdrs

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def metric(agent, name, label=None, missing=0.0):
    """The value of agent's sample `name{label}` in /metrics (label: what
    stands inside the braces, e.g. 'reason="pin"'; None or "" for the
    sample without labels), or missing when it has none."""
    text = agent.api("GET", "/metrics")[1]
    want = f"{name}{{{label}}} " if label else f"{name} "
    for ln in (text if isinstance(text, str) else "").splitlines():
        if ln.startswith(want):
            return float(ln.split()[-1])
    return missing


def start_all(agents, timeout=20):
    """Starts every agent at once, then waits until each answers /healthz."""
    for a in agents:
        a.start(wait=False)
    for a in agents:
        a.wait_ready(timeout)


# Lines a sanitizer (ASan, LSan, UBSan) or valgrind writes when it finds
# something; a process log holding one fails the test, whatever it checked.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "WARNING: AddressSanitizer")


def sanitizer_reports(path):
    """The sanitizer report lines in a log file (empty when clean)."""
    try:
        with open(path, errors="replace") as f:
            return [ln.rstrip() for ln in f if any(m in ln for m in SANITIZER_MARKS)]
    except OSError:
        return []


def _cleanup():
    for p in reversed(_procs):
        try:
            stop(p, timeout=5)
        except Exception:
            pass
    for p in _procs:
        found = sanitizer_reports(p.log_path) if getattr(p, "log_path", None) else []
        if found:
            _checks["failed"] += 1
            print(f"FAIL: sanitizer report in {p.log_path}:")
            with open(p.log_path, errors="replace") as f:
                print(f.read()[-6000:])
    for fn in reversed(_cleanups):
        try:
            fn()
        except Exception:
            traceback.print_exc()
    _procs.clear()
    _cleanups.clear()


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def run(main):
    """Runs a test's main, always cleans up, prints 'N passed, N failed';
    exits 0, 1, or SKIP when main called skip() (and nothing failed)."""
    ok, skipped = True, None
    try:
        main()
    except Skip as e:
        skipped = str(e)
    except Exception:
        ok = False
        traceback.print_exc()
        for p in _procs:
            if getattr(p, "log_path", None) and os.path.exists(p.log_path):
                with open(p.log_path, errors="replace") as f:
                    tail = f.read()[-3000:]
                print(f"--- log of {p.args[0]} ({p.log_path}) ---\n{tail}")
    finally:
        _cleanup()
    failed = _checks["failed"] + (0 if ok else (1 if _checks["failed"] == 0 else 0))
    if skipped is not None and failed == 0:
        print(f"SKIP {skipped}")
        print(f"{_checks['passed']} passed, {failed} failed, skipped")
        sys.exit(SKIP)
    print(f"{_checks['passed']} passed, {failed} failed")
    sys.exit(0 if ok and failed == 0 else 1)


def site_yaml(name, key="test-network-key-1", broker="mqtt://127.0.0.1:1", topic="wvtest/net",
              sockets=(), exposed=(), remote=(), extra=""):
    """A config in the upstream's newer YAML format.

    sockets: dicts of tunnel.localSockets keys (tunnel_socket(),
    public_socket()); exposed: dicts of localExposedApps keys; remote: dicts
    of remoteApps keys. A dict value is written as a flow mapping.
    """
    def block(items, indent="  "):
        out = []
        for it in items:
            first = True
            for k, v in it.items():
                if isinstance(v, (list, tuple)):
                    v = "[" + ", ".join(json.dumps(str(x)) for x in v) + "]"
                elif isinstance(v, dict):
                    v = json.dumps(v)  # a flow mapping
                elif isinstance(v, str):
                    v = json.dumps(v)
                out.append(f"{indent}{'- ' if first else '  '}{k}: {v}")
                first = False
        return "\n".join(out)

    y = [f"siteName: {name}", "crypto:", f"  key: {json.dumps(key)}",
         "logger:", "  level: DEBUG", "  format: text",
         "messageChannel:", "  protocol: mqtt", "  mqtt:", f"    brokerServer: {broker}",
         f"    topic: {json.dumps(topic)}"]
    if sockets:
        y += ["tunnel:", "  localSockets:", block(sockets, "  ")]
    if exposed:
        y += ["localExposedApps:", block(exposed, "")]
    if remote:
        y += ["remoteApps:", block(remote, "")]
    return "\n".join(y) + "\n" + extra


def tunnel_socket(port=None, address="127.0.0.1", **extra):
    """A tunnel.localSockets entry of site_yaml: a dedicated-address QUIC
    socket listening on address:port (a free loopback port when port is
    None); extra keys (e.g. maxUdpPayload=1452) are added."""
    return dict({"mode": "dedicated-address", "transportProtocol": "quic",
                 "listenAddress": address, "listenPort": port or free_port()}, **extra)


def public_socket(address, port=25000, mode="dedicated-address", **extra):
    """A tunnel.localSockets entry announced at address:port, the way the
    namespace scenarios give one (e.g. mode="port-forwarding",
    listenPort=26098)."""
    return dict({"mode": mode, "publicAddress": address, "publicPort": port}, **extra)


def exposed_app(name, port, **extra):
    """A localExposedApps entry of site_yaml: app name served by
    tcp:127.0.0.1:port; extra keys (e.g. maxConnections=5) are added."""
    return dict({"appName": name, "appSocket": f"tcp:127.0.0.1:{port}"}, **extra)


def remote_app(site, app, port, **extra):
    """A remoteApps entry of site_yaml: site's app carried to a local
    listener on tcp:127.0.0.1:port; extra keys are added."""
    return dict({"siteName": site, "appName": app, "localSocket": f"tcp:127.0.0.1:{port}"},
                **extra)


# The user's seed (shared/seed/release-public-ip.md): its two config.yaml
# files, verbatim, and the values a test may put in place of the real ones.
SEED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "seed")
SEED_KEY = "aA6wBHTYd%#dOPr8"
SEED_APP_ID = "afe87405-0f46-4290-84df-b6034b54761f"
SEED_BROKER = "mqtt://mqtt.eclipseprojects.io:1883"
SEED_PUBLIC = {"aws": "2406:da12:35a:3d02:1f43:11a1:abf2:2900", "local": "36.106.107.114"}


def seed_yaml(site, broker=None, public_address=None):
    """The seed's config.yaml of site "aws" or "local" (tests/fixtures/seed/),
    as written, or with its broker URL and its socket's publicAddress
    replaced."""
    with open(os.path.join(SEED_DIR, f"{site}.yaml")) as f:
        text = f.read()
    for old, new in ((SEED_BROKER, broker), (SEED_PUBLIC[site], public_address)):
        if new is not None:
            if text.count(old) != 1:
                raise Fail(f"seed fixture {site}.yaml: {old} is not there exactly once")
            text = text.replace(old, new)
    return text


class TextHandler(http.server.BaseHTTPRequestHandler):
    """An HTTP handler that answers every GET with 200 and the text/plain
    bytes body() returns (a subclass says what), logging nothing: e.g. an
    address detector's "what is my IP" URL."""

    def body(self):
        return b""

    def do_GET(self):
        body = self.body()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def accept_loop(sock, accepted):
    """Accepts connections on the listening socket sock in a daemon thread
    until sock is closed, calling accepted(conn) in that thread for each
    (an OSError there ends the loop, as the close does)."""
    import threading

    def loop():
        while True:
            try:
                c, _ = sock.accept()
                accepted(c)
            except OSError:
                return
    threading.Thread(target=loop, daemon=True).start()


class AppServer:
    """The system tests' one stand-in for an exposed app: an accept loop with
    a thread per connection. Each connection first gets `greeting` (so a
    client can tell which backend it reached), then:

      - blob None: echo; what it reads is written back, and the client's EOF
        is passed on (the write side is shut down);
      - blob bytes: those bytes, then the connection is closed;
      - blob callable: every chunk of the iterable blob() returns, then close.

    Listens on TCP host:port (port 0: a free one; IPv6 when host holds a
    ':'), or on the unix socket path `unix`. With ns (a netns.Ns) the TCP
    socket is made inside that namespace. .port is the TCP port,
    .connections counts accepted connections. Closed at cleanup."""

    def __init__(self, host="127.0.0.1", port=0, unix=None, ns=None, greeting=b"", blob=None):
        import threading
        self.greeting, self.blob = greeting, blob
        self.port = None
        if unix:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(unix)
        else:
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = ns.call(socket.socket, fam) if ns else socket.socket(fam)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(512)
        self.connections = 0
        accept_loop(self.sock, self._accepted)
        on_cleanup(self.sock.close)

    def _accepted(self, c):
        import threading
        self.connections += 1
        threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if self.greeting:
                c.sendall(self.greeting)
            if self.blob is None:
                while True:
                    d = c.recv(65536)
                    if not d:
                        c.shutdown(socket.SHUT_WR)
                        break
                    c.sendall(d)
            else:
                for chunk in self.blob() if callable(self.blob) else (self.blob,):
                    c.sendall(chunk)
        except OSError:
            pass
        finally:
            c.close()


def echo_roundtrip(port, data, timeout=60, host="127.0.0.1"):
    """Sends data through port and returns what comes back (until EOF)."""
    import threading
    s = socket.create_connection((host, port), timeout=timeout)
    out = []

    def reader():
        while True:
            try:
                d = s.recv(1 << 20)
            except OSError:  # a refused connection may be reset
                return
            if not d:
                return
            out.append(d)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    th.join(timeout)
    s.close()
    return b"".join(out)


def recv_all(port, timeout=60, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=timeout)
    out = []
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        out.append(d)
    s.close()
    return b"".join(out)


def recv_until(s, needle, timeout=5):
    """Reads socket s until needle has arrived, EOF, an error or timeout
    seconds; returns all it read."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(min(0.5, left))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def up_channels(agent, site):
    st, peer, _ = agent.api("GET", f"/api/v1/peers")
    if st != 200:
        return 0
    for p in peer:
        if p["siteName"] == site:
            return sum(1 for c in p.get("channels", []) if c["state"] == "up")
    return 0


class Events:
    """Reads an agent's /api/v1/events stream in a thread; .events holds
    (event, data) pairs as they arrive."""

    def __init__(self, agent):
        import threading
        self.events = []
        self.conn = http.client.HTTPConnection("127.0.0.1", agent.api_port, timeout=60)
        h = {"Authorization": f"Bearer {agent.token}"} if agent.token else {}
        self.conn.request("GET", "/api/v1/events", headers=h)
        self.resp = self.conn.getresponse()
        threading.Thread(target=self._read, daemon=True).start()
        on_cleanup(self.close)

    def _read(self):
        ev, data = "message", []
        try:
            while True:
                line = self.resp.fp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    ev = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "":
                    if data:
                        try:
                            self.events.append((ev, json.loads("\n".join(data))))
                        except ValueError:
                            self.events.append((ev, "\n".join(data)))
                    ev, data = "message", []
        except (OSError, ValueError):
            return

    def find(self, pred):
        return next((d for _, d in list(self.events) if isinstance(d, dict) and pred(d)), None)

    def close(self):
        try:
            self.conn.close()
        except OSError:
            pass


def rss_kib(pid):
    """Resident set size of a process, KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    """How many file descriptors a process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))
