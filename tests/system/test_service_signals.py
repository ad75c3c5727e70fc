"""Issue 11, running as a service: SIGHUP reopens logger.file (logrotate's
rename-then-HUP: new lines go to the new file, the renamed one stops
growing), and SIGTERM stops cleanly (exit 0, "stopped" logged)."""
import os
import signal

import wvtest as t


def main():
    d = t.tmpdir()
    logf = os.path.join(d, "wovenet.log")
    cfg = t.site_yaml("sigsite").replace("logger:\n  level: DEBUG\n",
                                         f"logger:\n  level: DEBUG\n  file: {logf}\n")
    a = t.Agent("sig", config=cfg)
    t.wait_for(lambda: os.path.exists(logf) and "running" in open(logf).read(), 5,
               what="the agent logs to logger.file")
    rotated = logf + ".1"
    os.rename(logf, rotated)
    a.api("GET", "/api/v1/site")  # a line logged before the HUP goes to the renamed file
    t.wait_for(lambda: "GET /api/v1/site" in open(rotated).read(), 5,
               what="lines go to the renamed file before the HUP")
    a.proc.send_signal(signal.SIGHUP)
    t.wait_for(lambda: os.path.exists(logf), 5, what="SIGHUP creates a new log file")
    size = os.path.getsize(rotated)
    a.api("GET", "/api/v1/peers")
    t.wait_for(lambda: "GET /api/v1/peers" in open(logf).read(), 5,
               what="new lines go to the new file")
    t.check("log file reopened" in open(logf).read(), "the new file says it was reopened")
    t.check_eq(os.path.getsize(rotated), size, "the renamed file no longer grows")

    a.proc.send_signal(signal.SIGTERM)
    rc = a.proc.wait(timeout=10)
    t.check_eq(rc, 0, "SIGTERM: exit code 0")
    t.check("stopped" in open(logf).read(), "SIGTERM: the agent logs that it stopped")


t.run(main)
