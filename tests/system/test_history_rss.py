"""The memory the agent's history takes (issue 23), measured on a running
agent: 200 exposed apps (paused, so nothing else runs for them) give 200
series; the agent's RSS grows by what the history says it holds (about
48 KiB a series, docs/OPERATIONS.md "History"), at once, and does not grow
further while the series fill for 30 s. Label rss: ASan inflates RSS."""
import time

import wvtest as t

N = 200


def history(a):
    st, site, _ = a.api("GET", "/api/v1/site")
    return site["status"]["history"]


def main():
    a = t.Agent("rss", config=t.site_yaml("rssSite", sockets=[t.tunnel_socket()]))
    t.wait_for(lambda: history(a)["series"] >= 1, 10, 0.1, "the site's series")
    base = history(a)
    time.sleep(3)
    rss0 = t.rss_kib(a.proc.pid)
    for i in range(N):
        st, _, _ = a.api("POST", "/api/v1/exposed-apps",
                         {"name": f"app{i}", "appSocket": f"tcp:127.0.0.1:{20000 + i}",
                          "enabled": False})
        if st != 201:
            raise t.Fail(f"POST exposed app {i}: {st}")
    t.wait_for(lambda: history(a)["series"] == base["series"] + N, 10, 0.1, f"{N} more series")
    h = history(a)
    per = (h["bytes"] - base["bytes"]) / N
    t.check(45000 < per < 50000, f"the history says {per:.0f} bytes per series")
    time.sleep(2)
    rss1 = t.rss_kib(a.proc.pid)
    grew = (rss1 - rss0) * 1024
    computed = h["bytes"] - base["bytes"]
    print(f"       RSS {rss0} KiB -> {rss1} KiB: +{grew / 1048576:.2f} MiB for {N} series; "
          f"computed {computed / 1048576:.2f} MiB ({per:.0f} bytes each)")
    t.check(0.9 * computed <= grew <= computed + 3 * 1048576,
            f"RSS grew by about the computed cost ({grew / 1048576:.2f} MiB vs "
            f"{computed / 1048576:.2f} MiB)")
    time.sleep(30)
    rss2 = t.rss_kib(a.proc.pid)
    print(f"       after 30 s more of samples: {rss2} KiB ({(rss2 - rss1) / 1024:+.2f} MiB)")
    t.check(rss2 - rss1 < 1024, "no creep while the series fill (less than 1 MiB in 30 s)")
    st, text, _ = a.api("GET", "/metrics")
    t.check(f"wovenet_history_series {h['series']}" in text or
            f"wovenet_history_series {history(a)['series']}" in text,
            "/metrics shows the series count")


t.run(main)
