#!/usr/bin/env python3
"""A real Prometheus (Debian's /usr/bin/prometheus) scrapes mstream every
second on loopback.  Input holds invalid UTF-8, control bytes, quotes,
backslashes and a 1000-byte token; the target must be up with no scrape
error, and mstream_wordcount_count_total must have exactly the expected
series and values in Prometheus.  A second scrape target with --top-k 3
checks that the cap holds on the Prometheus side too."""
import os
import re
import shutil
import subprocess
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


AGG_QUERY = b"""CREATE QUERY sales AS
SELECT city, COUNT(*) AS orders, SUM(amount) AS revenue, MIN(amount) AS smallest,
       MAX(amount) AS largest, AVG(amount) AS mean,
       MIN(sold_at) AS first_sale, MAX(sold_at) AS last_sale
FROM csv(city STRING, amount DOUBLE, sold_at TIMESTAMP)
GROUP BY city;
"""
SALES1 = (b"paris,10,2024-01-01T10:00:00Z\n"
          b"oslo,-5,2024-01-02T00:00:00.25Z\n")
SALES2 = b"paris,-25,2024-01-03T00:00:00Z\n"      # paris revenue 10 -> -15


def _types(text):
    """{family: type} from the # TYPE lines (each family once)."""
    out = {}
    for line in text.split("\n"):
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name not in out, "family %s declared twice" % name
            out[name] = typ
    return out


def test_prometheus_aggregate_types(t):
    """SUM, MIN, MAX, AVG and TIMESTAMP aggregates: only COUNT is a counter
    (a SUM that falls to -15 is a gauge, never a counter that Prometheus would
    read as a reset); TIMESTAMP aggregates are seconds with a _seconds suffix;
    mstream_build_info names the versions.  promtool accepts the exposition
    (lint included), and a real Prometheus scrapes it with the same types."""
    if not (shutil.which("prometheus") or os.path.exists("/usr/bin/prometheus")):
        raise mstest.Skip("prometheus not installed (Debian package prometheus)")
    in_dir, chk = t.dirs()
    q = os.path.join(t.dir, "sales.sql")
    mstest.write_file(q, AGG_QUERY)
    ms = t.mstream(in_dir, chk, "--query", q, "--trigger-sec", "0.2", name="sales")
    ms.start()
    prom = mstest.Prometheus(t, ["127.0.0.1:%d" % ms.port], scrape_interval="1s").start()
    atomic_write(os.path.join(in_dir, "a.csv"), SALES1)
    mstest.wait_for(lambda: ms.metrics().get("mstream_sales_revenue", city="paris") == 10.0,
                    30, "first batch (paris revenue 10)", on_timeout=ms.describe)
    # Let Prometheus see the first value before it falls.
    mstest.wait_for(lambda: prom.api("/api/v1/query", query='mstream_sales_revenue{city="paris"}')
                    ["result"], 30, "Prometheus scraped revenue", interval=0.3,
                    on_timeout=prom.log_tail)
    atomic_write(os.path.join(in_dir, "b.csv"), SALES2)
    mstest.wait_for(lambda: ms.metrics().get("mstream_sales_revenue", city="paris") == -15.0,
                    30, "second batch (paris revenue -15)", on_timeout=ms.describe)
    text = ms.metrics_text()
    types = _types(text)
    want = {"mstream_sales_orders_total": "counter", "mstream_sales_revenue": "gauge",
            "mstream_sales_smallest": "gauge", "mstream_sales_largest": "gauge",
            "mstream_sales_mean": "gauge", "mstream_sales_first_sale_seconds": "gauge",
            "mstream_sales_last_sale_seconds": "gauge", "mstream_build_info": "gauge",
            "mstream_trigger_interval_seconds": "gauge"}
    for name, typ in want.items():
        assert types.get(name) == typ, "family %s: type %r, want %s\n%s" % (
            name, types.get(name), typ, "\n".join(l for l in text.split("\n") if "sales" in l))
    for name in types:
        assert types[name] != "counter" or name.endswith("_total"), name
        assert not name.startswith("mstream_sales_revenue_total"), name
    m = ms.metrics()
    assert m.get("mstream_sales_orders_total", city="paris") == 2.0
    assert m.get("mstream_sales_smallest", city="paris") == -25.0
    assert m.get("mstream_sales_largest", city="paris") == 10.0
    assert m.get("mstream_sales_mean", city="paris") == -7.5
    assert m.get("mstream_sales_first_sale_seconds", city="paris") == 1704103200.0
    assert m.get("mstream_sales_last_sale_seconds", city="paris") == 1704240000.0
    assert m.get("mstream_sales_first_sale_seconds", city="oslo") == 1704153600.25
    assert m.get("mstream_trigger_interval_seconds") == 0.2
    info = m.series("mstream_build_info")
    assert len(info) == 1 and info[0][1] == 1.0, info
    labels = info[0][0]
    assert set(labels) == {"version", "rocksdb", "librdkafka"}, labels
    assert all(re.match(r"^\d+\.\d+\.\d+", v) for v in labels.values()), labels
    ver = subprocess.run([mstest.MSTREAM, "--version"], stdout=subprocess.PIPE,
                         timeout=30).stdout.decode()
    assert labels["version"] in ver and labels["rocksdb"] in ver, (labels, ver)

    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        assert p.returncode == 0, "promtool check metrics:\n" + out

    # Prometheus: the types as scraped, and no counter reset where revenue fell.
    def meta():
        md = prom.api("/api/v1/metadata")
        return all(md.get(n, [{}])[0].get("type") == typ for n, typ in want.items()) and md
    mstest.wait_for(meta, 30, "Prometheus metadata with every result family", interval=0.5,
                    on_timeout=lambda: "metadata %r" % {n: prom.api("/api/v1/metadata").get(n)
                                                        for n in want})

    def fell():
        res = prom.api("/api/v1/query", query='mstream_sales_revenue{city="paris"}')["result"]
        return res and float(res[0]["value"][1]) == -15.0
    mstest.wait_for(fell, 30, "Prometheus sees revenue -15", interval=0.3)
    res = prom.api("/api/v1/query", query='min_over_time(mstream_sales_revenue{city="paris"}[1m])'
                   ' < max_over_time(mstream_sales_revenue{city="paris"}[1m])')["result"]
    assert res, "Prometheus did not keep both revenue values (10, then -15)"
    for q in ('mstream_build_info{version!="",rocksdb!="",librdkafka!=""}',
              "mstream_sales_first_sale_seconds", "mstream_sales_orders_total"):
        assert prom.api("/api/v1/query", query=q)["result"], "Prometheus has no %s" % q
    prom.stop()
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
