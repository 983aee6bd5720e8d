"""Event time across the files of the directory source (docs/design.md §3a).

The directory is one partition for the watermark, so the planner must not
let one file's rows overtake another's: files written at the same time are
read together.  Two writers append to two task_events files in turn, event
time rising a minute per row across both; read as a backlog with a 1 KiB
byte cap, no row may be late, and every window equals an oracle computed
here from the rows written (not from the engine).
"""

import collections
import json
import os

import mstest

HOUR = 3600 * 10**6
EVENT_NAMES = ["SUBMIT", "SCHEDULE", "EVICT", "FAIL", "FINISH", "KILL", "LOST",
               "UPDATE_PENDING", "UPDATE_RUNNING"]


def _rows(n):
    """Row k: time (k + 1) minutes (never 0, the trace's sentinel), class k % 4, type k % 9."""
    for k in range(n):
        t = (k + 1) * 60 * 10**6
        yield k, t, k % 4, k % 9, "%d,,%d,0,,%d,u,%d,0,,,,\n" % (t, 1000 + k, k % 9, k % 4)


def _oracle(n):
    c = collections.Counter()
    for _, t, cls, typ, _ in _rows(n):
        c[(t // HOUR * HOUR, cls, EVENT_NAMES[typ])] += 1
    return c


def _iso_us(s):
    """'1970-01-01T02:00:00.000000Z' -> microseconds since the epoch."""
    import datetime
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 10**6 + d.microsecond


def test_two_files_appended_in_turn_byte_cap(t):
    in_dir, chk = t.dirs()
    n = 600
    paths = [os.path.join(in_dir, "writer-a.csv"), os.path.join(in_dir, "writer-b.csv")]
    for k, _, _, _, line in _rows(n):
        with open(paths[k % 2], "a") as f:  # two writers, in turn
            f.write(line)
    sink = os.path.join(t.dir, "sink")
    ms = t.mstream(in_dir, chk, "--query", "task_events_hourly", "--available-now",
                   "--max-bytes-per-trigger", "1K", "--sink", "json:" + sink)
    ms.start(wait=None)
    assert ms.wait_exit(120) == 0, ms.describe()
    q = ms.query_summary()["task_events_hourly"]
    assert q["rows_late"] == "0", "rows dropped as late: %s\n%s" % (q, ms.describe())
    assert q["rows_aggregated"] == str(n), q
    assert int(ms.summary()["batches"]) > 10, "the byte cap did not split the backlog"

    # Windows emitted by the sink (closed) plus the ones still open.
    got = collections.Counter()
    for root, _, fns in os.walk(sink):
        for fn in fns:
            with open(os.path.join(root, fn)) as f:
                for line in f:
                    r = json.loads(line)
                    key = (_iso_us(r["window_start"]), r["scheduling_class"], r["event_type"])
                    assert key not in got, "window group emitted twice: %r" % (key,)
                    got[key] = r["events"]
    closed = len(got)
    ms2 = t.mstream(in_dir, chk, "--query", "task_events_hourly", name="open-windows")
    ms2.start()
    st, body = ms2.get("/api/v1/results?query=task_events_hourly&limit=10000")
    assert st == 200
    j = json.loads(body)
    cols = j["columns"]
    for row in j["rows"]:
        r = dict(zip(cols, row))
        key = (_iso_us(r["window_start"]), r["scheduling_class"], r["event_type"])
        assert key not in got, "window group both emitted and open: %r" % (key,)
        got[key] = r["events"]
    want = _oracle(n)
    assert closed > 0, "no window was closed"
    assert got == want, "windows differ from the oracle:\n%s" % mstest.diff_counts(want, got)
    assert ms2.term() == 0


def test_byte_cap_restart_over_read_files(t):
    """A restart makes every file read before a candidate whose identity is
    checked; those have nothing to read and must not take the byte budget:
    once they took it all and the new files waited forever (a stall the
    state crash loop found)."""
    in_dir, chk = t.dirs()
    rng = __import__("random").Random(7)
    expected = collections.Counter()

    def write(name, lines):
        data = "".join("w%d x%d\n" % (rng.randrange(50), i) for i in range(lines))
        mstest.write_file(os.path.join(in_dir, name), data.encode())
        expected.update(mstest.count_words(data.encode()))

    for i in range(60):
        write("old-%03d.txt" % i, 40)
    cap = ["--max-bytes-per-trigger", "2K"]
    ms = t.mstream(in_dir, chk, *cap, name="first")
    ms.start()
    ms.wait_counts(expected, what="the first files")
    assert ms.term() == 0
    for i in range(5):
        write("new-%03d.txt" % i, 40)
    ms = t.mstream(in_dir, chk, *cap, name="restart")
    ms.start()
    ms.wait_counts(expected, what="files written while mstream was down, after the restart")
    assert ms.term() == 0


def test_byte_cap_long_partial_line_does_not_hold_others(t):
    """The oldest file's writer is in the middle of a line longer than the
    byte cap; a file written after it, complete, is read meanwhile."""
    in_dir, chk = t.dirs()
    slow = os.path.join(in_dir, "slow.txt")
    long_line = b"xy " * 7000  # 21000 bytes, its newline not written yet
    mstest.write_file(slow, b"a b\n" + long_line)
    ms = t.mstream(in_dir, chk, "--max-bytes-per-trigger", "1K")
    ms.start()
    ms.wait_counts({"a": 1, "b": 1}, what="the slow file's complete line")
    mstest.write_file(os.path.join(in_dir, "later.txt"), b"c d d\n" * 50)
    ms.wait_counts({"a": 1, "b": 1, "c": 50, "d": 100}, what="a later file, read meanwhile")
    mstest.append_file(slow, b"z\n")
    ms.wait_counts({"a": 1, "b": 1, "c": 50, "d": 100, "xy": 7000, "z": 1},
                   what="the long line, once complete")
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
