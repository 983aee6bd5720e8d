#!/usr/bin/env python3
"""Results users can find: windows_closed counts windows (not the commits
that closed them), a statement's counters survive a restart and a
crash-and-replay (they are committed with the batch), and /api/v1/results
of an EMIT APPEND windowed statement serves the latest closed window's rows
marked closed beside the open ones.  Every expectation is an oracle
computed here from the rows the test writes."""
import datetime
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402

HOUR = 3600_000_000
DELAY = 600_000_000  # WATERMARK ... - INTERVAL '10' MINUTE

HOURLY = """CREATE QUERY hourly AS
  SELECT window_start, window_end, event_type, COUNT(*) AS events
  FROM task_events WATERMARK FOR time AS time - INTERVAL '10' MINUTE
  WHERE scheduling_class < 3
  GROUP BY TUMBLE(time, INTERVAL '1' HOUR), event_type EMIT APPEND;
"""


def _row(tm, job, ev, cls):
    return "%d,,%d,0,,%d,u,%d,0,,,,\n" % (tm, job, ev, cls)


def _hours(hours, per_hour=7, late=(), sentinels=0, bad=0, seed=0):
    """Text of task events in the given hours (trace hours, in order), plus
    `late` times appended at the end, `sentinels` rows of time 0 and `bad`
    malformed lines; and the row tuples (time, event type, class)."""
    lines, rows = [], []
    for h in hours:
        for i in range(per_hour):
            tm = h * HOUR + 1 + i * (HOUR // per_hour)
            ev, cls = (i + h + seed) % 9, (i * 3 + h) % 4
            lines.append(_row(tm, h, ev, cls))
            rows.append((tm, ev, cls))
    for tm in late:
        lines.append(_row(tm, 99, 1, 0))
        rows.append((tm, 1, 0))
    for _ in range(sentinels):
        lines.append(_row(0, 98, 0, 1))
        rows.append((0, 0, 1))
    for k in range(bad):
        lines.append("not,a,task,event,%d\n" % k)
    return "".join(lines).encode(), rows


class Oracle:
    """The hourly statement computed from the files, batch by batch (one
    file per batch, as --max-files-per-trigger 1 plans them)."""

    def __init__(self):
        self.max_event = None
        self.rows_in = self.agg = self.filtered = self.late = self.no_time = 0
        self.column_count = 0
        self.open = {}  # (window start, event type) -> count
        self.closed_windows = set()
        self.last_closed = {}  # rows of the newest closed window
        self.evicted = 0

    def watermark(self):
        return None if self.max_event is None else self.max_event - DELAY

    def batch(self, rows, bad=0):
        wm = self.watermark()
        self.column_count += bad
        for tm, ev, cls in rows:
            self.rows_in += 1
            if cls >= 3:
                self.filtered += 1
                continue
            if tm == 0:
                self.no_time += 1
                continue
            if wm is not None and tm < wm:
                self.late += 1
                continue
            self.agg += 1
            k = (tm // HOUR * HOUR, ev)
            self.open[k] = self.open.get(k, 0) + 1
        # rows dropped by WHERE never move the watermark
        times = [tm for tm, _, cls in rows if tm and cls < 3]
        if times and (self.max_event is None or max(times) > self.max_event):
            self.max_event = max(times)
        wm = self.watermark()
        closing = sorted({s for s, _ in self.open if s + HOUR <= wm})
        if closing:
            newest = closing[-1]
            self.last_closed = {k: v for k, v in self.open.items() if k[0] == newest}
            for s in closing:
                self.closed_windows.add(s)
            for k in [k for k in self.open if k[0] in closing]:
                del self.open[k]
                self.evicted += 1


def _write(path, data, mtime):
    mstest.atomic_write(path, data)
    os.utime(path, (mtime, mtime))


def _query(t):
    path = os.path.join(t.dir, "hourly.sql")
    with open(path, "w") as f:
        f.write(HOURLY)
    return path


def _run_to_exit(t, argv, timeout=60, env=None):
    ms = t.raw(argv + ["--metrics-addr", "127.0.0.1:0"], env=env)
    ms.start(wait=None)
    return ms, ms.wait_exit(timeout)


def test_windows_closed_counts_windows(t):
    """One batch spanning 40 hours (with gaps) closes every hour but the
    last: windows_closed is the number of distinct closed windows."""
    in_dir, chk = t.dirs()
    hours = [h for h in range(40) if h % 7 != 3]
    data, rows = _hours(hours, sentinels=2)
    _write(os.path.join(in_dir, "a.csv"), data, 1_000_000_000)
    o = Oracle()
    o.batch(rows)
    assert len(o.closed_windows) > 20, o.closed_windows  # the oracle is not trivial
    ms, rc = _run_to_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--query",
                              _query(t), "--available-now"])
    assert rc == 0, ms.describe()
    qs = ms.query_summary()["hourly"]
    assert int(qs["windows_closed"]) == len(o.closed_windows), (qs, sorted(o.closed_windows))
    assert int(qs["evicted"]) == o.evicted, (qs, o.evicted)
    assert int(qs["rows_no_event_time"]) == o.no_time, qs


# ------------------------------------------------------------ counters

FIELDS = [("rows_in", "inputRows"), ("rows_aggregated", "aggregatedRows"),
          ("rows_filtered", "filteredRows"), ("rows_late", "lateRowsDropped"),
          ("rows_no_event_time", "noEventTimeRows"), ("windows_closed", "windowsClosed"),
          ("evicted", "evicted")]


def _files(n):
    """n files (one batch each): hours 3k..3k+3 of trace time, late rows
    (behind the previous file's watermark) from the second file on,
    sentinel rows and malformed lines; their rows per file."""
    out = []
    for k in range(n):
        hours = range(3 * k, 3 * k + 4)
        late = [(3 * k - 2) * HOUR + 5, (3 * k - 1) * HOUR + 7] if k else []
        data, rows = _hours(hours, per_hour=5, late=late, sentinels=k % 2, bad=k % 3, seed=k)
        out.append((data, rows, k % 3))
    return out


def _oracle(files):
    o = Oracle()
    for _, rows, bad in files:
        o.batch(rows, bad)
    return {"rows_in": o.rows_in, "rows_aggregated": o.agg, "rows_filtered": o.filtered,
            "rows_late": o.late, "rows_no_event_time": o.no_time,
            "windows_closed": len(o.closed_windows), "evicted": o.evicted,
            "wrong_column_count": o.column_count}


def _stage(in_dir, files, first=0):
    for k, (data, _, _) in enumerate(files):
        if k >= first:
            _write(os.path.join(in_dir, "part-%03d.csv" % k), data, 1_000_000_000 + k)


def _from_summary(ms):
    qs = ms.query_summary()["hourly"]
    out = {k: int(qs.get(k, 0)) for k, _ in FIELDS}
    out["wrong_column_count"] = int(qs.get("malformed_wrong_column_count", 0))
    return out


def _from_status(ms):
    q = [q for q in ms.status()["queries"] if q["name"] == "hourly"][0]
    out = {k: q[j] for k, j in FIELDS}
    out["wrong_column_count"] = q["malformed"]["wrong_column_count"]
    return out


def _from_metrics(ms):
    m = ms.metrics()
    return {"rows_aggregated": m.get("mstream_query_rows_total", query="hourly"),
            "rows_filtered": m.get("mstream_query_rows_filtered_total", query="hourly"),
            "rows_late": m.get("mstream_late_rows_dropped_total", query="hourly"),
            "rows_no_event_time": m.get("mstream_query_rows_no_event_time_total", query="hourly"),
            "windows_closed": m.get("mstream_query_windows_closed_total", query="hourly"),
            "evicted": m.get("mstream_state_evicted_total", query="hourly"),
            "wrong_column_count": m.get("mstream_malformed_rows_total", query="hourly",
                                        reason="wrong_column_count")}


def _sub(d, keys):
    return {k: d[k] for k in keys}


def test_counters_continue_after_restart(t):
    """Counters of committed batches survive kill -9 and a restart, and go
    on from there: after more input they equal the oracle of all of it."""
    in_dir, chk = t.dirs()
    files = _files(6)
    q = _query(t)
    _stage(in_dir, files[:3])
    want3, want6 = _oracle(files[:3]), _oracle(files)
    assert want3["rows_late"] and want3["wrong_column_count"] and want3["windows_closed"] > 3
    ms = t.mstream(in_dir, chk, "--query", q, "--trigger-sec", "0.1", "--max-files-per-trigger",
                   "1", name="a")
    ms.start()
    mstest.wait_for(lambda: _from_status(ms) == want3, what="counters of the first three files",
                    on_timeout=lambda: "%r != %r\n%s" % (_from_status(ms), want3, ms.describe()))
    before = _from_metrics(ms)
    assert before == _sub(want3, before), (before, want3)
    ms.kill9()
    ms.start()
    # No new input: the restarted process shows the committed counters.
    assert _from_status(ms) == want3, (_from_status(ms), want3)
    assert _from_metrics(ms) == before, (_from_metrics(ms), before)
    _stage(in_dir, files, first=3)
    mstest.wait_for(lambda: _from_status(ms) == want6, what="counters of all six files",
                    on_timeout=lambda: "%r != %r\n%s" % (_from_status(ms), want6, ms.describe()))
    assert _from_metrics(ms) == _sub(want6, before)
    assert ms.term() == 0
    assert _from_summary(ms) == want6, (_from_summary(ms), want6)


def test_counters_exact_after_crash_and_replay(t):
    """A batch read (after_read) or committed (after_commit) and then
    killed is re-run or not re-run at restart; either way the final
    counters equal the oracle: none lost, none counted twice."""
    files = _files(5)
    want = _oracle(files)
    q = _query(t)
    for fp in ("after_read:2", "after_read:4", "after_commit:1", "after_commit:3"):
        in_dir, chk = t.dirs()
        _stage(in_dir, files)
        argv = ["--input-dir", in_dir, "--checkpoint-dir", chk, "--query", q, "--available-now",
                "--max-files-per-trigger", "1"]
        ms, rc = _run_to_exit(t, argv, env={"MSTREAM_FAILPOINT": fp})
        assert rc == -9, "failpoint %s: exit %r\n%s" % (fp, rc, ms.describe())
        ms, rc = _run_to_exit(t, argv)
        assert rc == 0, ms.describe()
        got = _from_summary(ms)
        assert got == want, "after %s: %r != oracle %r" % (fp, got, want)


def test_counters_record_damaged_or_missing(t):
    """A corrupt counters record is refused with a sentence (exit 1); a
    checkpoint without one (an older mstream) loads with the counters at
    zero and counts on."""
    edit = os.environ.get("MS_CKPT_EDIT")
    if not edit or not os.access(edit, os.X_OK):
        raise mstest.Skip("ms_ckpt_edit not available")
    files = _files(2)
    q = _query(t)
    in_dir, chk = t.dirs()
    _stage(in_dir, files[:1])
    argv = ["--input-dir", in_dir, "--checkpoint-dir", chk, "--query", q, "--available-now"]
    ms, rc = _run_to_exit(t, argv)
    assert rc == 0, ms.describe()
    first = _from_summary(ms)
    assert first == _oracle(files[:1])
    r = subprocess.run([edit, chk, "delete", "k:hourly"], capture_output=True)
    assert r.returncode == 0, r
    _stage(in_dir, files, first=1)
    ms, rc = _run_to_exit(t, argv)
    assert rc == 0, ms.describe()
    both, one = _oracle(files), _oracle(files[:1])
    got = _from_summary(ms)
    # only the second file counted (the first file's counts were lost with the record) ...
    for k in ("rows_in", "rows_filtered", "rows_no_event_time", "wrong_column_count"):
        assert got[k] == both[k] - one[k], (k, got, both, one)
    r = subprocess.run([edit, chk, "put", "k:hourly", "garbage"], capture_output=True)
    assert r.returncode == 0, r
    ms, rc = _run_to_exit(t, argv)
    assert rc == 1, ms.describe()
    assert "corrupt counters record for query hourly" in ms.stderr(), ms.describe()


# ------------------------------------------------ closed windows in results

EVENTS = ["SUBMIT", "SCHEDULE", "EVICT", "FAIL", "FINISH", "KILL", "LOST", "UPDATE_PENDING",
          "UPDATE_RUNNING"]


def _ts(us):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _as_rows(d):
    return sorted([_ts(s), _ts(s + HOUR), EVENTS[ev], n] for (s, ev), n in d.items())


def _results(ms):
    st, body = ms.get("/api/v1/results?query=hourly&limit=10000")
    assert st == 200, (st, body[:300])
    return json.loads(body)


def _check_results(ms, o, batch):
    j = _results(ms)
    assert j["batchId"] == batch, j
    assert j["columns"] == ["window_start", "window_end", "event_type", "events"], j
    assert sorted(j["rows"]) == _as_rows(o.open), (j["rows"], _as_rows(o.open))
    assert j["total"] == len(o.open), j
    c = j["closedWindow"]
    newest = max(k[0] for k in o.last_closed)
    assert c["closed"] is True and c["windowStart"] == _ts(newest), c
    assert c["windowEnd"] == _ts(newest + HOUR), c
    assert c["total"] == len(o.last_closed), c
    assert sorted(c["rows"]) == _as_rows(o.last_closed), (c["rows"], _as_rows(o.last_closed))
    # result order: the first aggregate descending
    assert [r[3] for r in c["rows"]] == sorted((r[3] for r in c["rows"]), reverse=True), c
    # pages beyond the first do not repeat it
    st, body = ms.get("/api/v1/results?query=hourly&offset=1&limit=10")
    assert st == 200 and "closedWindow" not in json.loads(body), body[:300]


def test_results_serve_latest_closed_window(t):
    """After each batch /api/v1/results holds the open windows in "rows"
    and the latest closed window's rows in "closedWindow" (marked closed),
    both equal to the oracle; the closed window is still there after
    kill -9 and a restart."""
    in_dir, chk = t.dirs()
    files = _files(4)
    q = _query(t)
    ms = t.mstream(in_dir, chk, "--query", q, "--trigger-sec", "0.1", name="r")
    ms.start()
    j = _results(ms)
    assert j["closedWindow"] is None and j["rows"] == [], j
    o = Oracle()
    for k, (data, rows, bad) in enumerate(files):
        _write(os.path.join(in_dir, "part-%03d.csv" % k), data, 1_000_000_000 + k)
        o.batch(rows, bad)
        mstest.wait_for(lambda: _results(ms)["batchId"] == k, what="batch %d published" % k,
                        on_timeout=ms.describe)
        _check_results(ms, o, k)
    ms.kill9()
    ms.start()
    _check_results(ms, o, len(files) - 1)
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
