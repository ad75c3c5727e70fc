"""Faults in the seed's namespaces (echo app): agent crash, clean stop, and a
restart while the broker is unreachable.

- local SIGKILLed, restarted on the same DB with no config file: it restores
  its remote-app listener, its tunnel socket and both channels by itself, and
  the app works again (time printed); aws's stale channel to local's socket
  is ended by the new process's stateless reset (same secret: site key +
  address), not left to the idle timeout;
- local SIGTERMed: exits 0 promptly, aws lists it offline within a few
  seconds (the offline record), its UDP and TCP ports are free, the DB is
  closed (opens and reads) and holds the last-known site aws;
- broker stopped, then local started again on that DB: it dials aws from the
  persisted `sites` table and the echo app works without any broker.
"""
import os
import socket
import sqlite3
import time

import seednet
import wvtest as t


def main():
    w = seednet.SeedNet()
    aws, local = w.start_echo_sites()
    w.wait_two_channels()
    t.wait_for(w.echo_ok, 10, what="echo through the tunnel")
    local.config = None  # from now on: run from the DB alone

    # --- SIGKILL, restart on the same DB --------------------------------------------------
    aws_log0 = len(aws.log_text())
    local.stop(sig=9)
    t.check(not w.home.tcp_accepts(7000), "killed: nothing listens on 127.0.0.1:7000")
    t0 = time.monotonic()
    local.start()
    t.wait_for(lambda: w.home.tcp_accepts(7000), 10, what="remote-app listener restored")
    def sock_states():
        st, socks, _ = local.api("GET", "/api/v1/tunnel-sockets")
        return [s.get("status", {}).get("state") for s in socks] if st == 200 else None
    t.wait_for(lambda: sock_states() == ["listening"], 10, interval=0.1,
               what="tunnel socket listening")
    t.check(True, f"tunnel socket restored ({sock_states()})")
    t.wait_for(w.echo_ok, 30, interval=0.2, what="echo after the restart")
    dt_app = time.monotonic() - t0
    t.wait_for(lambda: len(local.channels("aws", "up")) == 2, 60, interval=0.2,
               what="two up channels after the restart")
    dt_ch = time.monotonic() - t0
    print(f"  BENCH restart after SIGKILL: app works {dt_app:.1f} s, both channels up "
          f"{dt_ch:.1f} s after the new process started")
    t.check(True, "after SIGKILL and restart: listener, socket, both channels and the app are back")
    # aws's channel to local's port-forwarded socket met the new process, whose
    # reset secret is the same (site key + address): ended at once, re-dialed.
    t.check("closed: stateless reset" in aws.log_text()[aws_log0:],
            "aws's stale channel to local's socket was ended by a stateless reset from the "
            "restarted local (not left to the idle timeout)")

    # --- SIGTERM: clean shutdown ----------------------------------------------------------
    t.wait_for(lambda: aws.peer("local") and aws.peer("local")["online"], 10,
               what="aws lists local online")
    t0 = time.monotonic()
    rc = local.stop(sig=15, timeout=10)
    dt_exit = time.monotonic() - t0
    t.check(rc == 0, f"SIGTERM: exit code {rc} after {dt_exit:.2f} s")
    t.wait_for(lambda: not aws.peer("local")["online"], 5, interval=0.1,
               what="aws sees local offline")
    print(f"  aws lists local offline {time.monotonic() - t0:.2f} s after the SIGTERM")
    t.check(True, "aws lists local offline within 5 s (the offline record)")

    def ports_free():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", 26098))
        u.close()
        return not t.tcp_accepts(7000)
    t.check(w.home.call(ports_free), "UDP 26098 and TCP 127.0.0.1:7000 are free again")
    db = sqlite3.connect(local.db, timeout=0.5)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sites")]
        db.execute("BEGIN EXCLUSIVE")
        db.rollback()
    finally:
        db.close()
    t.check(names == ["aws"], f"the DB is closed (exclusive lock taken) and knows site aws "
            f"({names})")

    # --- Broker unreachable, agent restarted ------------------------------------------------
    w.mq.stop()
    t0 = time.monotonic()
    local.start()
    t.wait_for(w.echo_ok, 40, interval=0.25, what="echo with no broker after restart")
    dt = time.monotonic() - t0
    st, site, _ = local.api("GET", "/api/v1/site")
    t.check(site["status"]["broker"]["state"] != "connected", "local has no broker")
    up = local.channels("aws", "up")
    print(f"  BENCH no-broker restart: app works {dt:.1f} s after start; channels up: "
          f"{sorted(c['family'] for c in up)}")
    t.check(len(up) >= 1, "local rebuilt its tunnel from the persisted last-known sites and "
            "the app works without any broker")
    t.check("known site" in local.log_text(), "its log says it dials known sites from the store")
    t.wait_for(lambda: len(local.channels("aws", "up")) == 2, 75, interval=0.25,
               what="both channels without a broker")
    print(f"  BENCH no-broker restart: both channels up {time.monotonic() - t0:.1f} s after start "
          "(aws re-dials local's known socket on its backoff)")
    t.check(True, "both channels (IPv4 dialed by aws, IPv6 by local) are back without a broker")


t.run(main)
