"""No secret reaches a log, an export or the broker (docs/SECURITY.md):

A two-site scenario with a known network key, broker password, API basic
auth password and API bearer token, at DEBUG log level: discovery over a
password-protected broker, channels up, an echo app and a range app used,
API calls with the token, with basic auth and with a wrong password, a
site edit over the API. Then every log (both agents, mosquitto), both DB
exports (JSON and YAML), the CLI's output and a capture of everything on
the broker are searched for each secret; the capture is proven live by a
probe before the sites start and must hold both sites' announcements. Also:
while the agents run, their store (the DB and its -wal and -shm files, which
hold the network key, the TLS private key and the token hashes) exists and
is mode 0600, as is every other file an agent made in its directory.
"""
import base64
import os
import stat
import subprocess

import wvtest as t

KEY = "NoSecretsNetworkKey-5f1c2e9a"
BROKER_PW = "BrokerPassw0rd-8d7e6a"
API_PW = "ApiBasicPassw0rd-3b4c"


def with_auth(yaml):
    """Adds the broker user/password and an API basic-auth user."""
    lines = yaml.splitlines()
    out = []
    for ln in lines:
        out.append(ln)
        if ln.startswith("    topic:"):
            out += ["    username: site", f"    password: \"{BROKER_PW}\""]
    out += ["restfulApi:", "  auth:", "    basicAuth:", "      - user: admin",
            f"        password: \"{API_PW}\""]
    return "\n".join(out) + "\n"


def main():
    d = t.tmpdir("wvsecrets-")
    os.chmod(d, 0o755)  # mosquitto started as root reads its files as user mosquitto
    pwfile = os.path.join(d, "passwd")
    subprocess.run(["mosquitto_passwd", "-c", "-b", pwfile, "site", BROKER_PW], check=True,
                   capture_output=True, timeout=30)
    os.chmod(pwfile, 0o644)
    mq = t.Mosquitto(extra_conf=f"allow_anonymous false\npassword_file {pwfile}\n"
                                "log_type all\n")
    cap = t.BrokerCapture(mq, args=["-u", "site", "-P", BROKER_PW])

    echo = t.AppServer()
    pa, pb, l_echo, l_range = (t.free_port() for _ in range(4))
    alpha = t.Agent("alpha", start=False, config=with_auth(t.site_yaml(
        "siteAlpha", key=KEY, broker=mq.url, topic="wvtest/secrets", sockets=[t.tunnel_socket(pa)],
        exposed=[{"appName": "echo", "appSocket": f"tcp:127.0.0.1:{echo.port}"},
                 {"appName": "lan", "mode": "range", "addressRange": ["127.0.0.0/8"],
                  "portRange": [str(echo.port)]}])))
    bravo = t.Agent("bravo", start=False, config=with_auth(t.site_yaml(
        "siteBravo", key=KEY, broker=mq.url, topic="wvtest/secrets", sockets=[t.tunnel_socket(pb)],
        remote=[{"siteName": "siteAlpha", "appName": "echo",
                 "localSocket": f"tcp:127.0.0.1:{l_echo}"},
                {"siteName": "siteAlpha", "appName": "lan",
                 "appSocket": f"tcp:127.0.0.1:{echo.port}",
                 "localSocket": f"tcp:127.0.0.1:{l_range}"}])))
    cli_out = []
    for a in (alpha, bravo):
        rc, out, err = t.wovenet("import", "--db", a.db, a.config)
        t.check_eq(rc, 0, f"{a.name}: config imported")
        cli_out.append(out + err)
        rc, out, err = t.wovenet("token", "create", "--db", a.db, "--name", "ci")
        t.check_eq(rc, 0, f"{a.name}: token created")
        a.token = out.strip()
        cli_out.append(err)
        a.start()
    tokens = [alpha.token, bravo.token]
    secrets = {"network key": KEY, "broker password": BROKER_PW, "API password": API_PW,
               "alpha token": alpha.token, "bravo token": bravo.token}
    t.check(all(len(x) >= 16 for x in tokens), "tokens look like tokens")

    t.wait_for(lambda: t.up_channels(bravo, "siteAlpha") >= 1, 20, what="channel up")
    t.wait_for(lambda: t.tcp_accepts(l_echo), 10, what="remote app listener")
    data = os.urandom(256 << 10)
    t.check(t.echo_roundtrip(l_echo, data) == data, "echo through the tunnel")
    t.check(t.echo_roundtrip(l_range, b"range") == b"range", "range app within its range")

    good = "Basic " + base64.b64encode(f"admin:{API_PW}".encode()).decode()
    bad = "Basic " + base64.b64encode(f"admin:{API_PW}x".encode()).decode()
    saved = bravo.token
    bravo.token = None
    t.check_eq(bravo.api("GET", "/api/v1/config", headers={"Authorization": good})[0], 200,
               "basic auth works")
    t.check_eq(bravo.api("GET", "/api/v1/config", headers={"Authorization": bad})[0], 401,
               "a wrong password is refused")
    t.check_eq(bravo.api("GET", "/api/v1/config", headers={"Authorization": "Bearer " +
                                                          saved[::-1]})[0], 401,
               "a wrong token is refused")
    bravo.token = saved
    st, site, _ = bravo.api("GET", "/api/v1/site")
    t.check(st == 200 and "networkKey" not in site, "GET /site hides the network key")
    # bravo's config file manages its site: the edit takes it over (issue 21).
    st, _, _ = bravo.api("PATCH", "/api/v1/site", body={"logger": {"level": "debug"},
                                                        "networkKey": KEY, "origin": "api"})
    t.check_eq(st, 200, "a site edit carrying the key over the API")
    st, metrics, _ = bravo.api("GET", "/metrics")
    t.check_eq(st, 200, "metrics served")

    # Key material, while the agents run: the store's three files exist,
    # and every file an agent made is 0600 (the test wrote config.yaml and
    # the harness opened agent.log).
    for a in (alpha, bravo):
        for suffix in ("", "-wal", "-shm"):
            p = a.db + suffix
            t.check(os.path.isfile(p), f"{a.name}: {os.path.basename(p)} exists while running")
            t.check_eq(oct(stat.S_IMODE(os.stat(p).st_mode)), oct(0o600),
                       f"{a.name}: {os.path.basename(p)} is 0600")
        made = [os.path.join(r, f) for r, _, fs in os.walk(a.dir) for f in fs
                if os.path.join(r, f) not in (a.config, a.log)]
        loose = [f"{os.path.relpath(p, a.dir)} {oct(stat.S_IMODE(os.stat(p).st_mode))}"
                 for p in made if stat.S_IMODE(os.stat(p).st_mode) != 0o600]
        t.check(len(made) >= 3 and not loose,
                f"{a.name}: every file the agent made is 0600 ({len(made)} files; not: {loose})")

    t.check_eq(alpha.stop(), 0, "alpha stops cleanly")
    t.check_eq(bravo.stop(), 0, "bravo stops cleanly")
    cap.sync()  # everything the broker received before is in the capture
    mq.stop()

    texts = {}
    for a in (alpha, bravo):
        texts[f"{a.name} log"] = a.log_text()
        for fmt in ("json", "yaml"):
            rc, out, err = t.wovenet("export", "--db", a.db, "--format", fmt)
            t.check_eq(rc, 0, f"{a.name}: export {fmt}")
            texts[f"{a.name} export {fmt}"] = out + err
    texts["CLI output"] = "\n".join(cli_out)
    texts["metrics"] = metrics if isinstance(metrics, str) else str(metrics)
    with open(os.path.join(mq.dir, "log"), errors="replace") as f:
        texts["mosquitto log"] = f.read()
    msgs = cap.messages()
    topics = {tp for tp, _ in msgs if tp.startswith("wvtest/secrets/")}
    t.check(len(topics) >= 2,
            f"the broker capture holds the sites' traffic ({len(msgs)} messages on "
            f"{len(topics)} topics of the sites)")
    texts["broker capture"] = "\n".join(tp + " " + pl.decode("latin-1") for tp, pl in msgs)
    t.check(len(texts["alpha log"]) > 1000 and "DEBUG" in texts["alpha log"].upper(),
            "the logs are at debug level and not empty")
    for where, text in texts.items():
        for what, secret in secrets.items():
            t.check(secret not in text, f"no {what} in the {where}")

    for a in (alpha, bravo):
        t.check_eq(oct(stat.S_IMODE(os.stat(a.db).st_mode)), oct(0o600),
                   f"{a.name}: the store is still 0600 after the stop")


if __name__ == "__main__":
    t.run(main)
