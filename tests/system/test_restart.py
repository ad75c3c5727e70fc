"""Issue 5: a peer restarted after SIGKILL on the same DB gets its channels
back by itself, and apps work again; a peer stopped with SIGTERM is seen
unreachable at once (its channels close with a CONNECTION_CLOSE)."""
import signal
import time

import wvtest as t


def main():
    mq = t.Mosquitto()
    echo = t.AppServer()
    pa, pb, local = t.free_port(), t.free_port(), t.free_port()
    alpha = t.Agent("alpha", config=t.site_yaml(
        "alpha", broker=mq.url, topic="wvtest/restart", sockets=[t.tunnel_socket(pa)],
        exposed=[{"appName": "echo", "appSocket": f"tcp:127.0.0.1:{echo.port}"}]))
    bravo = t.Agent("bravo", config=t.site_yaml(
        "bravo", broker=mq.url, topic="wvtest/restart", sockets=[t.tunnel_socket(pb)],
        remote=[{"siteName": "alpha", "appName": "echo",
                 "localSocket": f"tcp:127.0.0.1:{local}"}]))
    both_up = lambda: t.up_channels(alpha, "bravo") == 2 and t.up_channels(bravo, "alpha") == 2
    t.wait_for(both_up, 10, 0.05, "two up channels each")
    t.check(t.echo_roundtrip(local, b"before") == b"before", "echo works before the crash")

    alpha.stop(signal.SIGKILL)
    t0 = time.monotonic()
    alpha.start()
    t.wait_for(both_up, 30, 0.05, "channels back after SIGKILL + restart")
    dt = time.monotonic() - t0
    print(f"  channels back {dt:.2f} s after the restart")
    t.check(True, f"both sites show two up channels again ({dt:.1f} s)")
    t.check(t.echo_roundtrip(local, b"after") == b"after", "echo works after the restart")

    # SIGTERM: bravo sees alpha unreachable promptly, without waiting for
    # an idle timeout. The clock starts at the signal.
    t0 = t.signal_now(alpha.proc, signal.SIGTERM)
    t.wait_for(lambda: t.up_channels(bravo, "alpha") == 0, 5, 0.02, "channels gone after SIGTERM")
    dt = time.monotonic() - t0
    t.check(dt < 3, f"bravo sees alpha's channels close {dt:.2f} s after SIGTERM")
    st, obj, _ = bravo.api("GET", "/api/v1/remote-apps")
    t.check_eq(obj[0]["status"]["state"], "waiting-for-site", "remote app waits for its site")
    t.check_eq(alpha.proc.wait(10), 0, "SIGTERM exits 0")


t.run(main)
