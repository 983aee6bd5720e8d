#!/usr/bin/env python3
"""A real Prometheus (Debian's /usr/bin/prometheus) scrapes mstream every
second on loopback.  Input holds invalid UTF-8, control bytes, quotes,
backslashes and a 1000-byte token; the target must be up with no scrape
error, and mstream_wordcount_count_total must have exactly the expected
series and values in Prometheus.  A second scrape target with --top-k 3
checks that the cap holds on the Prometheus side too."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import atomic_write, oracle  # noqa: E402

INPUT = (
    b"spark streaming spark\n"
    b"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xff\xfe bad\xc3 \xed\xa0\x80\n"
    b"ctl\x01x esc\x1b[0m del\x7f back\\slash qu\"ote \\xff\n"
    b"{job=\"x\"} a,b=c\n"
    + b"T" * 1000 + b" spark\n"
)


def _prom_words(prom, query):
    data = prom.api("/api/v1/query", query=query)
    assert data["resultType"] == "vector", data
    out = {}
    for r in data["result"]:
        word = r["metric"].get("word")
        assert word is not None, r
        assert word not in out, "duplicate series for %r" % word
        out[word] = float(r["value"][1])
    return out


def test_prometheus_scrape(t):
    if not (shutil.which("prometheus") or os.path.exists("/usr/bin/prometheus")):
        raise mstest.Skip("prometheus not installed (Debian package prometheus)")
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk, name="full")
    ms.start()
    in2, chk2 = t.dirs()
    capped = t.mstream(in2, chk2, "--top-k", "3", name="topk3")
    capped.start()

    atomic_write(os.path.join(in_dir, "odd.txt"), INPUT)
    atomic_write(os.path.join(in2, "odd.txt"), INPUT)
    exp = oracle([INPUT])
    assert exp["spark"] == 3 and exp["T" * 1000] == 1 and "\\xff\\xfe" in exp
    ms.wait_counts(exp, settle=0)
    capped.wait_counts(exp, settle=0)

    targets = ["127.0.0.1:%d" % ms.port, "127.0.0.1:%d" % capped.port]
    prom = mstest.Prometheus(t, targets, scrape_interval="1s").start()

    def targets_up():
        data = prom.api("/api/v1/targets", state="active")
        act = data["activeTargets"]
        by = {a["scrapeUrl"]: a for a in act}
        for tgt in targets:
            a = by.get("http://%s/metrics" % tgt)
            if a is None or a["health"] != "up":
                if a is not None and a.get("lastError"):
                    # a scrape that fails for a parse error will keep failing
                    raise AssertionError("target %s: %s" % (tgt, a["lastError"]))
                return False
            assert a["lastError"] == "", a
        return act
    mstest.wait_for(targets_up, 60, "both mstream targets up in Prometheus",
                    interval=0.5, on_timeout=prom.log_tail)

    full_q = 'mstream_wordcount_count_total{instance="%s"}' % targets[0]
    want = {k: float(v) for k, v in exp.items()}
    box = {}

    def series_match():
        box["got"] = _prom_words(prom, full_q)
        return box["got"] == want
    mstest.wait_for(series_match, 30, "Prometheus series == expected counts", interval=0.5,
                    on_timeout=lambda: mstest.diff_counts(
                        exp, {k: int(v) for k, v in box.get("got", {}).items()}))

    # The capped instance exports exactly 3 series: spark (3) and two of the
    # count-1 words (which two is the engine's tie order), values exact.
    assert next(iter(capped.results().items())) == ("spark", 3)

    def capped_ok():
        got = _prom_words(prom, 'mstream_wordcount_count_total{instance="%s"}' % targets[1])
        return len(got) == 3 and got.get("spark") == 3.0 and all(exp.get(w) == v for w, v in got.items())
    mstest.wait_for(capped_ok, 30, "top-k 3 instance exports 3 correct series", interval=0.5)
    lim = prom.api("/api/v1/query", query='mstream_results_topk_limit{instance="%s",query="wordcount"}'
                   % targets[1])["result"]
    assert lim and float(lim[0]["value"][1]) == 3.0, lim
    groups = prom.api("/api/v1/query", query='mstream_results_groups{instance="%s",query="wordcount"}'
                      % targets[1])["result"]
    assert groups and float(groups[0]["value"][1]) == float(len(exp)), groups

    # Engine series made it too.
    for q in ("up", "mstream_batches_total", "mstream_ready",
              'mstream_input_rows_total{source="dir"}', "mstream_last_committed_batch_id",
              "mstream_commit_duration_seconds_count", "mstream_batch_duration_seconds_bucket"):
        res = prom.api("/api/v1/query", query='%s{instance="%s"}' % (q, targets[0])
                       if "{" not in q else q[:-1] + ',instance="%s"}' % targets[0])["result"]
        assert res, "Prometheus has no %s for mstream" % q
    up = prom.api("/api/v1/query", query='up{job="mstream"}')["result"]
    assert len(up) == 2 and all(float(r["value"][1]) == 1.0 for r in up), up

    prom.stop()
    assert prom.proc.returncode is not None
    assert ms.term() == 0 and capped.term() == 0


# Trace rows: hour 0 (class 2 SUBMIT x2, class 2 SCHEDULE, class 0 SUBMIT),
# then rows at 1h05m and 1h20m that move the watermark to 1h10m and close
# hour 0; one row behind the watermark in a later file is dropped as late.
TRACE1 = (b"1,,1,0,,0,u,2,9,0.1,0.2,0,0\n"     # 1 us: time 0 is a sentinel
          b"600000000,,1,1,,0,u,2,9,0.1,0.2,0,0\n"
          b"900000000,,1,0,5,1,u,2,9,0.1,0.2,0,0\n"
          b"1200000000,,2,0,,0,v,0,1,,,,\n"
          b"3900000000,,3,0,,0,w,3,1,,,,\n"
          b"4800000000,,3,0,7,1,w,3,1,,,,\n")
TRACE2 = b"3000000000,,4,0,,5,x,1,0,,,,\n"       # 50 min: behind the watermark (70 min)


def test_prometheus_windowed_trace_query(t):
    """task_events_hourly: the latest closed window's rows as gauges (no window
    label), its bounds, the watermark and the late-row counter, scraped by a
    real Prometheus; promtool accepts the exposition."""
    if not (shutil.which("prometheus") or os.path.exists("/usr/bin/prometheus")):
        raise mstest.Skip("prometheus not installed (Debian package prometheus)")
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk, "--query", "task_events_hourly", "--trigger-sec", "0.2",
                   name="hourly")
    ms.start()
    atomic_write(os.path.join(in_dir, "part-0.csv"), TRACE1)

    def closed():
        return ms.metrics().get("mstream_query_last_closed_window_end_seconds",
                                query="task_events_hourly") == 3600.0
    mstest.wait_for(closed, 30, "hour 0 closed")
    atomic_write(os.path.join(in_dir, "part-1.csv"), TRACE2)
    mstest.wait_for(lambda: ms.metrics().get("mstream_late_rows_dropped_total",
                                             query="task_events_hourly") == 1.0,
                    30, "the late row counted")
    text = ms.metrics_text()
    promtool = shutil.which("promtool")
    if promtool:
        import subprocess
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        assert p.returncode == 0, "promtool check metrics:\n" + out
    prom = mstest.Prometheus(t, ["127.0.0.1:%d" % ms.port], scrape_interval="1s").start()
    want = {("2", "SUBMIT"): 2.0, ("2", "SCHEDULE"): 1.0, ("0", "SUBMIT"): 1.0}
    box = {}

    def series():
        res = prom.api("/api/v1/query", query="mstream_task_events_hourly_events")["result"]
        got = {}
        for r in res:
            m = r["metric"]
            assert "window_start" not in m and "window_end" not in m, m
            got[(m["scheduling_class"], m["event_type"])] = float(r["value"][1])
        box["got"] = got
        return got == want
    mstest.wait_for(series, 60, "windowed gauges in Prometheus", interval=0.5,
                    on_timeout=lambda: "got %r" % box.get("got"))
    for q, v in (('mstream_watermark_seconds{query="task_events_hourly"}', 4200.0),
                 ('mstream_query_last_closed_window_start_seconds{query="task_events_hourly"}', 0.0),
                 ('mstream_late_rows_dropped_total{query="task_events_hourly"}', 1.0),
                 ('mstream_state_entries{query="task_events_hourly"}', 2.0)):
        res = prom.api("/api/v1/query", query=q)["result"]
        assert res and float(res[0]["value"][1]) == v, (q, res)
    prom.stop()
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
