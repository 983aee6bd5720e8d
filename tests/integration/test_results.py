#!/usr/bin/env python3
"""Results users can find: windows_closed counts windows (not the commits
that closed them), a statement's counters survive a restart and a
crash-and-replay (they are committed with the batch), and /api/v1/results
of an EMIT APPEND windowed statement serves the latest closed window's rows
marked closed beside the open ones.  Every expectation is an oracle
computed here from the rows the test writes."""
import json
import os
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
        times = [tm for tm, _, _ in rows if tm]
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


if __name__ == "__main__":
    mstest.run(globals())
