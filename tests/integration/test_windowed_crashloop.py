#!/usr/bin/env python3
"""Exactly-once for a windowed query under crashes: --query task_events_hourly
(TUMBLE 1 hour on trace time, watermark 10 minutes, EMIT APPEND) with the json
sink, over trace-shaped CSV files from a small deterministic generator.

The generator writes task_events files of 20 minutes of trace time each, one
after the other (atomically, or in appends cut anywhere, mid-line too), with
realistic event sequences (SUBMIT, SCHEDULE, then FINISH/FAIL/KILL/EVICT/LOST),
a skewed class mix, empty optional fields, rows up to 5 minutes out of order
(never late: the watermark trails by 10 minutes) and a few malformed lines.
Meanwhile mstream is SIGKILLed at random moments (MSTREAM_CRASH_KILLS,
default 40) and in some runs dies at a failpoint (after_plan, after_read,
after_sink, after_commit).

Every window's rows are emitted exactly once: the append output of all batch
files (a batch re-run after a crash rewrites its own file) plus the windows
still open in the final state equal an oracle computed in Python from the
input files, no (window, class, type) is emitted twice, and nothing emitted
is still in the state.  While running, no published count ever exceeds what
the input holds.  Seed: MSTREAM_CRASH_SEED (printed on failure)."""
import collections
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import append_file, write_file  # noqa: E402

HOUR = 3600 * 10**6
MINUTE = 60 * 10**6
SPAN = 20 * MINUTE                # trace time per file
EVENTS = ["SUBMIT", "SCHEDULE", "EVICT", "FAIL", "FINISH", "KILL", "LOST",
          "UPDATE_PENDING", "UPDATE_RUNNING"]
QUERY = "task_events_hourly"


class TraceGen:
    """Deterministic task_events files; remembers every valid row."""

    def __init__(self, rng):
        self.rng = rng
        self.k = 0
        self.job = 6_000_000_000
        self.rows = []            # (time, class, event type name) of every valid row

    def file(self):
        rng, base = self.rng, self.k * SPAN
        self.k += 1
        events = []
        for _ in range(rng.randint(8, 25)):                     # tasks starting in this span
            self.job += rng.randint(1, 50)
            cls = rng.choices([0, 1, 2, 3], weights=[55, 25, 15, 5])[0]
            t = base + rng.randrange(SPAN)
            seq = [0, 1, rng.choices([4, 3, 5, 2, 6], weights=[60, 10, 15, 10, 5])[0]]
            if rng.random() < 0.2:
                seq.insert(2, rng.choice([7, 8]))
            for ev in seq:
                if t >= base + SPAN:
                    break
                events.append((t, ev, cls, self.job))
                t += rng.randrange(1, 4 * MINUTE)
        events.sort()
        lines = []
        for t, ev, cls, job in events:
            # Up to 5 minutes out of order (within the 10-minute watermark delay).
            tt = max(base, t - rng.randrange(5 * MINUTE)) if rng.random() < 0.1 else t
            machine = "" if ev == 0 else str(rng.randrange(1, 10**9))
            cpu = "" if rng.random() < 0.1 else "%.4f" % rng.random()
            lines.append("%d,,%d,%d,%s,%d,user%d,%d,%d,%s,0.01,0.0001,0\n" % (
                tt, job, rng.randrange(100), machine, ev, rng.randrange(9), cls,
                rng.randrange(12), cpu))
            self.rows.append((tt, cls, EVENTS[ev]))
        if rng.random() < 0.2:
            lines.insert(rng.randrange(len(lines) + 1), "%d,,1,2,3,12,u,0,0,,,,\n" % base)
        if rng.random() < 0.2:
            lines.insert(rng.randrange(len(lines) + 1), "not,a,task,event\n")
        return "task_events-part-%05d.csv" % self.k, "".join(lines).encode()

    def oracle(self):
        # Time 0 is the trace's "before the trace began" sentinel: such a row
        # carries no event time and belongs to no window (docs/queries.md).
        # The first file's out-of-order rows are clamped to 0 now and then.
        out = collections.Counter()
        for t, cls, ev in self.rows:
            if t != 0:
                out[(t // HOUR * HOUR, cls, ev)] += 1
        return out


def _iso_us(s):
    """'1970-01-01T05:00:00.000000Z' -> microseconds (UTC)."""
    import calendar
    date, rest = s[:-1].split("T")
    y, mo, d = map(int, date.split("-"))
    hms, frac = rest.split(".")
    h, mi, se = map(int, hms.split(":"))
    return (calendar.timegm((y, mo, d, h, mi, se)) * 10**6) + int(frac)


def _key(row):
    return (_iso_us(row["window_start"]), row["scheduling_class"], row["event_type"])


def _results(ms):
    st, body = ms.get("/api/v1/results?query=%s&limit=10000" % QUERY)
    assert st == 200, (st, body[:200])
    j = json.loads(body)
    assert j["total"] == len(j["rows"]) < 10000, j["total"]
    out = {}
    for r in j["rows"]:
        row = dict(zip(j["columns"], r))
        assert _iso_us(row["window_end"]) - _iso_us(row["window_start"]) == HOUR, row
        k = _key(row)
        assert k not in out, "group %r twice in results" % (k,)
        out[k] = row["events"]
    return out


def _sink_rows(sink):
    """Every row of every append batch file; (window, class, type) -> events."""
    d = os.path.join(sink, QUERY)
    out = {}
    if not os.path.isdir(d):
        return out
    for fn in sorted(os.listdir(d)):
        if fn.startswith("."):
            continue                   # a temporary file of a write cut by a kill
        with open(os.path.join(d, fn), "rb") as f:
            for line in f.read().splitlines():
                row = json.loads(line)
                k = _key(row)
                assert k not in out, "window group %r emitted twice (again in %s)" % (k, fn)
                out[k] = row["events"]
    return out


def _over(got, allowed):
    return {k: (v, allowed.get(k, 0)) for k, v in got.items() if v > allowed.get(k, 0)}


def test_windowed_kill9_loop(t):
    seed = int(os.environ.get("MSTREAM_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    kills = int(os.environ.get("MSTREAM_CRASH_KILLS") or 40)
    print("windowed crashloop: MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d" % (seed, kills),
          flush=True)
    rng = random.Random(seed)
    in_dir, chk = t.dirs()
    sink = os.path.join(t.dir, "sink")
    gen = TraceGen(rng)
    pending = []                          # (name, bytes still to append) of the file being written
    deaths = collections.Counter()

    def feed_op():
        """Writes the next piece of input; files are written strictly one after the other."""
        if not pending:
            name, data = gen.file()
            if rng.random() < 0.5:
                p = os.path.join(in_dir, name)
                write_file(p + ".tmp", data)
                os.rename(p + ".tmp", p)
                return
            pending.append([name, data])
            write_file(os.path.join(in_dir, name), b"")
        name, rest = pending[0]
        cut = rng.randint(1, len(rest))
        append_file(os.path.join(in_dir, name), rest[:cut])
        if cut == len(rest):
            pending.pop()
        else:
            pending[0][1] = rest[cut:]

    try:
        for k in range(kills):
            for _ in range(rng.choice([0, 1, 3])):
                feed_op()
            extra = rng.choice([[], [], ["--max-files-per-trigger", "1"],
                                ["--max-files-per-trigger", "2"], ["--trigger-sec", "0.05"]])
            fp = None
            wait = rng.choice(["ready", "ready", None])
            if rng.random() < 0.35:
                fp = "%s:%d" % (rng.choice(["after_plan", "after_read", "after_sink",
                                            "after_commit"]), rng.randint(1, 3))
                wait = None
            ms = t.mstream(in_dir, chk, "--query", QUERY, "--sink", "json:" + sink, *extra,
                           name="run%02d" % k)
            ms.start(wait=wait, env={"MSTREAM_FAILPOINT": fp} if fp else None)
            deadline = time.monotonic() + rng.uniform(0.05, 0.6) * mstest.SCALE
            while time.monotonic() < deadline and (fp is None or ms.alive()):
                feed_op()
                time.sleep(rng.uniform(0, 0.03))
                if wait and rng.random() < 0.2:
                    allowed = gen.oracle()
                    over = _over(_results(ms), allowed)
                    assert not over, "run %d: window counts above the input: %r" % (k, over)
            if not ms.alive():
                if fp is None or ms.proc.returncode != -9:
                    raise AssertionError("mstream died on its own (rc %s, failpoint %s)\n%s"
                                         % (ms.proc.returncode, fp, ms.describe()))
                deaths["failpoint"] += 1
                continue
            assert ms.kill9() == -9
            deaths["kill9"] += 1

        while pending:
            feed_op()
        expected = gen.oracle()
        # Drain: everything available, committed, then exit 0.
        ms = t.mstream(in_dir, chk, "--query", QUERY, "--sink", "json:" + sink,
                       "--available-now", name="drain")
        ms.start(wait=None)
        assert ms.wait_exit(120) == 0, ms.describe()
        emitted = _sink_rows(sink)
        # Restart with no new input: the open windows are in the state.
        ms = t.mstream(in_dir, chk, "--query", QUERY, name="final")
        ms.start()
        open_ = _results(ms)
        both = set(emitted) & set(open_)
        assert not both, "groups both emitted and still open: %r" % sorted(both)[:10]
        union = dict(emitted)
        union.update(open_)
        if union != expected:
            keys = sorted(set(union) | set(expected))
            diff = [(k, expected.get(k), union.get(k)) for k in keys if expected.get(k) != union.get(k)]
            raise AssertionError("windowed results differ from the oracle (key, expected, got):\n  "
                                 + "\n  ".join(map(repr, diff[:30])))
        # The watermark and the closed windows agree with the input.
        max_t = max(r[0] for r in gen.rows)
        wm = max_t - 10 * MINUTE
        m = ms.metrics()
        assert m.get("mstream_watermark_seconds", query=QUERY) == wm / 1e6, (
            m.get("mstream_watermark_seconds", query=QUERY), wm)
        assert all(w + HOUR <= wm for (w, _, _) in emitted), "a window emitted before it closed"
        assert all(w + HOUR > wm for (w, _, _) in open_), "a closed window is still in the state"
        assert m.get("mstream_state_entries", query=QUERY) == float(len(open_))
        assert ms.term() == 0
        print("windowed crashloop: %d deaths %s, %d files, %d rows, %d windows emitted, %d groups "
              "open" % (kills, dict(deaths), gen.k, len(gen.rows),
                        len({w for (w, _, _) in emitted}), len(open_)), flush=True)
    except AssertionError as e:
        raise AssertionError("%s\n(reproduce with MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d)"
                             % (e, seed, kills)) from None


if __name__ == "__main__":
    mstest.run(globals())
