"""README.md says what runs: its seed walkthrough against live sites.

The two YAML files of the walkthrough are taken from README.md as written,
with only their ports replaced by free ones (1883, 18080, 18081, 25890,
26098, 5201, 15201); a local echo server plays iperf3. Then every ```sh test
block runs as shown, in order, with bash -eo pipefail in one working
directory, `wovenet` on PATH and the variables the README tells the reader
to export ($API: site local, $AWS_API: site aws). Each must exit 0; their
output is checked for what the README says it shows. Relative links of the
README must point at files of the repository."""
import os
import re
import subprocess

import wvtest as t

SRC = os.environ["WOVENET_SRC"]
SOCK = "/tmp/wovenet-readme-ssh.sock"


def blocks(text):
    """(info string, body) of every fenced block."""
    return re.findall(r"^```([^\n]*)\n(.*?)^```\s*$", text, re.M | re.S)


def main():
    readme = open(os.path.join(SRC, "README.md")).read()
    fenced = blocks(readme)
    tests = [b for info, b in fenced if info.strip() == "sh test"]
    yamls = {re.search(r"^siteName: (\S+)", b, re.M).group(1): b
             for info, b in fenced if info.strip() == "yaml" and "siteName:" in b}
    t.check(len(tests) >= 3, f"README has {len(tests)} blocks marked ```sh test")
    t.check(sorted(yamls) == ["aws", "local"], "README shows aws.yaml and local.yaml")

    for link in re.findall(r"\]\(((?!https?:|#)[^)]+)\)", readme):
        t.check(os.path.exists(os.path.join(SRC, link.split("#")[0])), f"README link {link} exists")

    work = t.tmpdir("wvreadme-")
    mq = t.Mosquitto()
    echo = t.AppServer()
    ports = {"1883": mq.port, "18080": t.free_port(), "18081": t.free_port(),
             "25890": t.free_port(), "26098": t.free_port(), "5201": echo.port,
             "15201": t.free_port()}

    def subst(text):
        return re.sub(r"(?<=[:\s])(" + "|".join(ports) + r")\b",
                      lambda m: str(ports[m.group(1)]), text)
    agents = {}
    for name in ("aws", "local"):
        cfg = subst(yamls[name])
        t.check(str(ports["18080" if name == "aws" else "18081"]) in cfg,
                f"{name}.yaml: ports replaced")
        agents[name] = t.Agent(name, config=cfg, db=os.path.join(work, f"{name}.db"),
                               api_port=ports["18080" if name == "aws" else "18081"])
    local = agents["local"]
    t.wait_for(lambda: t.up_channels(local, "aws") == 2, 10, what="two channels local-aws")
    data = os.urandom(1 << 20)
    t.check(t.echo_roundtrip(ports["15201"], data) == data,
            "the README's remote app carries data to aws's app")

    if os.path.lexists(SOCK):
        os.unlink(SOCK)
    t.on_cleanup(lambda: os.path.lexists(SOCK) and os.unlink(SOCK))
    env = dict(os.environ, API=f"http://127.0.0.1:{ports['18081']}",
               AWS_API=f"http://127.0.0.1:{ports['18080']}",
               PATH=os.path.dirname(t.BIN) + os.pathsep + os.environ["PATH"])
    env.pop("WOVENET_API", None)
    env.pop("WOVENET_TOKEN", None)
    outs = []
    for i, body in enumerate(tests):
        r = subprocess.run(["bash", "-eo", "pipefail", "-c", body], cwd=work, env=env,
                           capture_output=True, text=True, timeout=60)
        print(f"--- README block {i + 1}:\n{body}--- output:\n{r.stdout}{r.stderr}")
        t.check_eq(r.returncode, 0, f"README block {i + 1} runs as shown")
        outs.append(r.stdout)
    status = outs[0]
    t.check(re.search(r"^aws\s+yes\s+yes", status, re.M) is not None,
            "status shows peer aws online and reachable")
    t.check(len(re.findall(r"^aws\s+\d+\s+\S+\s+ipv4\s+up", status, re.M)) == 2,
            "status shows two up channels")
    t.check('"reachable": true' in status, "the peers call shows aws reachable")
    t.check(re.search(r"(listening|waiting-for-site)\s*$", outs[1]) is not None,
            "the new remote app shows its state")
    t.check("No changes" in outs[2] and "- remoteApps aws-ssh" in outs[2],
            "apply: dry run of the export has no changes; the smaller file deletes aws-ssh")
    st, _, _ = local.api("GET", "/api/v1/remote-apps/aws-ssh")
    t.check_eq(st, 404, "aws-ssh is gone after apply")


t.run(main)
