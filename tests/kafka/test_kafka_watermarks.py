"""Event time across Kafka partitions (docs/design.md §3a), real broker.

The hourly windowed query over a 4-partition topic: the watermark is the
minimum over the partitions of the latest event time each sent (minus the
10-minute delay), so a partition whose messages arrive later than its
siblings' never turns its own rows into late rows, as Spark's single global
maximum did (0.05 % to 47 % of the rows dropped in the compose demo).

  * the producer at --speed-factor 432000 (five days in a second, the
    compose setting) and at 43200;
  * one partition held back: its rows sent 2 s after the others';
  * an idle partition (no message at all) stops holding the watermark after
    --watermark-idle-sec, so windows close.

Every case: 0 rows late, and every window — the closed ones the json sink
emitted (each once) plus the ones still open — equals an oracle computed
here from the trace files.
"""
import collections
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkatest as kt  # noqa: E402
import kwtest as kw  # noqa: E402
import mstest  # noqa: E402

from test_engine_kafka import t_topics  # noqa: E402

HOUR = 3600 * 10**6
Q = "task_events_hourly"


def _hourly_query(t, topic):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "queries", "task_events_hourly.sql")) as f:
        text = f.read()
    assert "TOPIC 'task-events'" in text
    path = os.path.join(t.dir, Q + ".sql")  # the stem names the statement
    with open(path, "w") as f:
        f.write(text.replace("TOPIC 'task-events'", "TOPIC '%s'" % topic))
    return path


def _oracle(lines):
    """(hour start us, class, type name) -> count; the trace's sentinel
    times (0, 2^63-1) carry no event time and are in no window."""
    c = collections.Counter()
    for l in lines:
        f = l.split(",")
        try:
            t, typ, cls = int(f[0]), int(f[5]), int(f[7])
        except (ValueError, IndexError):
            continue
        if t in (0, 2**63 - 1) or not 0 <= typ < 9:
            continue
        c[(t // HOUR * HOUR, cls, kw.EVENT_NAMES[typ])] += 1
    return c


def _iso_us(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 10**6 + d.microsecond


def _windows(ms, sink):
    """Closed windows from the sink files (each group once) plus open ones."""
    got = collections.Counter()
    for root, _, fns in os.walk(sink):
        for fn in sorted(fns):
            with open(os.path.join(root, fn)) as f:
                for line in f:
                    r = json.loads(line)
                    key = (_iso_us(r["window_start"]), r["scheduling_class"], r["event_type"])
                    assert key not in got, "window group emitted twice: %r" % (key,)
                    got[key] = r["events"]
    closed = len(got)
    st, body = ms.get("/api/v1/results?query=%s&limit=10000" % Q)
    assert st == 200
    j = json.loads(body)
    for row in j["rows"]:
        r = dict(zip(j["columns"], row))
        key = (_iso_us(r["window_start"]), r["scheduling_class"], r["event_type"])
        assert key not in got, "window group both emitted and open: %r" % (key,)
        got[key] = r["events"]
    return got, closed


def _lag_zero(ms):
    m = ms.metrics()
    lags = m.series("mstream_kafka_partition_lag")
    return lags and all(v == 0 for _, v in lags)


def _check(ms, sink, lines, min_closed=1):
    """Waits until every message is read, then compares with the oracle."""
    want = _oracle(lines)
    box = {}

    def done():
        ms.check_alive()
        if not _lag_zero(ms):
            return False
        got, closed = _windows(ms, sink)
        box["got"], box["closed"] = got, closed
        return got == want and closed >= min_closed
    mstest.wait_for(done, 120, "windows == oracle", interval=0.5,
                    on_timeout=lambda: "closed %s, diff:\n%s\n%s" % (
                        box.get("closed"), mstest.diff_counts(want, box.get("got", {})),
                        ms.describe()))
    late = ms.metrics().get("mstream_late_rows_dropped_total", query=Q)
    assert late == 0, "%s rows dropped as late\n%s" % (late, ms.describe())


def _start(t, b, topic, *extra):
    q = _hourly_query(t, topic)
    chk = os.path.join(t.dir, "chk-" + topic[-12:])
    sink = os.path.join(t.dir, "sink-" + topic[-12:])
    ms = kw.kafka_mstream(t, b, chk, "--query", q, "--starting-offsets", "earliest",
                          "--trigger-sec", "0.2", "--sink", "json:" + sink, *extra)
    ms.start()
    return ms, sink


def test_producer_flagship_speeds(t):
    """The compose demo's setting, 432000, and a tenth of it."""
    b = kt.broker().bootstrap
    trace = kw.tracegen(t, "trace", "--days", "5", "--jobs", "400", "--seed", "61")
    lines = kt.table_lines(os.path.join(trace, "task_events"))
    for speed in (432000, 43200):
        tt, jt = t_topics(t)
        kw.create_topic(t, b, tt, 4)
        kw.create_topic(t, b, jt, 4)
        ms, sink = _start(t, b, tt)
        kw.produce(t, b, trace, tt, jt, "--speed-factor", str(speed))
        _check(ms, sink, lines, min_closed=10)
        assert ms.term() == 0


def test_partition_held_back(t):
    """Partitions 0-2 get their rows at once; partition 3 gets rows of the
    same hours 2 s later.  With one global maximum they would all be late."""
    b = kt.broker().bootstrap
    trace = kw.tracegen(t, "trace", "--days", "2", "--jobs", "120", "--seed", "62")
    lines = kt.table_lines(os.path.join(trace, "task_events"))
    tt, _jt = t_topics(t)
    kw.create_topic(t, b, tt, 4)
    ms, sink = _start(t, b, tt)
    by_part = [[] for _ in range(4)]
    for i, l in enumerate(lines):
        by_part[i % 4].append(l.encode())
    for p in range(3):
        kw.kcat_lines(t, b, tt, by_part[p], "-p", str(p))
    mstest.wait_for(lambda: ms.status()["recentProgress"], 30, "a batch of partitions 0-2")
    time.sleep(mstest.scaled(2))
    kw.kcat_lines(t, b, tt, by_part[3], "-p", "3")
    _check(ms, sink, lines, min_closed=1)
    assert ms.term() == 0


def test_idle_partition_releases_the_watermark(t):
    """Partition 3 never gets a message.  Partitions 0-2 get the trace at
    once; once it is read, a last row of the final hour goes to each of
    them after --watermark-idle-sec: that batch commits with partition 3
    idle, so the watermark moves and windows close.  (Had partition 3 held
    it, none could.)  No partition with rows still to come is ever quiet
    for that long, so no row may be late."""
    b = kt.broker().bootstrap
    trace = kw.tracegen(t, "trace", "--days", "2", "--jobs", "120", "--seed", "63")
    lines = kt.table_lines(os.path.join(trace, "task_events"))
    tt, _jt = t_topics(t)
    kw.create_topic(t, b, tt, 4)
    ms, sink = _start(t, b, tt, "--watermark-idle-sec", "2")
    rows = [l.encode() for l in lines]
    for p in range(3):
        kw.kcat_lines(t, b, tt, rows[p::3], "-p", str(p))
    mstest.wait_for(lambda: _lag_zero(ms), 120, "the trace read", interval=0.3,
                    on_timeout=ms.describe)
    st = ms.status()
    q = [q for q in st["queries"] if q.get("name") == Q][0]
    assert not q["watermark"], "a watermark while partition 3 holds it: %r" % q
    time.sleep(mstest.scaled(3))
    last = max(int(l.split(",")[0]) for l in lines if int(l.split(",")[0]) < 2**63 - 1)
    tail = ["%d,,999,0,,0,u,1,0,,,,\n" % last] * 3
    for p in range(3):
        kw.kcat_lines(t, b, tt, [tail[p].rstrip("\n").encode()], "-p", str(p))
    _check(ms, sink, lines + tail, min_closed=1)
    st = ms.status()
    qs = [q for q in st["queries"] if q.get("name") == Q]
    assert qs and qs[0]["watermark"], st
    parts = {p["partition"]: p for p in qs[0]["partitions"]}
    assert parts["%s/3" % tt]["idle"] is True and parts["%s/3" % tt]["maxEventTime"] is None, parts
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
