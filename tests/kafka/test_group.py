"""Group mode (docs/design.md §9) against the real broker of the ctest fixture
`kafka`: several mstream processes with one --application-id share a query's
input through Kafka consumer groups, keep their state in changelog topics
and commit every micro-batch as one Kafka transaction.

  * crash loop: three instances while the producer writes, random kill -9
    of instances and restarts (MS_GROUP_KILLS, default 10), one restart with
    its checkpoint directory deleted.  The sum over the instances of every
    result, and the changelogs read back independently (kcat, decoded here
    from the documented layout), equal an oracle computed from the trace
    files; every closed window of the hourly query is in its output topic
    exactly once and, with the windows still open, equals the oracle.
  * zombie: an instance stopped (SIGSTOP) while its transaction is open,
    past its session and transaction timeouts; the other takes over; on
    SIGCONT its transaction is fenced, never committed; totals stay exact.
  * rebalance under load: instances join and leave while data flows; no
    partition is committed by two instances in one generation of its group
    (the offsets of every committed transaction, from the debug log), the
    committed offsets of a partition never go back, totals exact.

Seeds: MSTEST_SEED replays one schedule of kills.
"""
import collections
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkatest as kt  # noqa: E402
import kwtest as kw  # noqa: E402
import mstest  # noqa: E402

from test_engine_kafka import t_topics  # noqa: E402

HOUR = 3600 * 10**6
HOURLY = "task_events_hourly"
SESSION = "6"       # --session-timeout-sec: the broker's group.min.session.timeout.ms
TXN_TIMEOUT = "8"   # --transaction-timeout-sec


# --------------------------------------------------------------------------
# the query: the cluster events by class (task and job) and the hourly
# windowed task events, in one program

def group_query(t, tt, jt):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "queries", "cluster_events.sql")) as f:
        text = f.read()
    with open(os.path.join(here, "..", "..", "queries", "task_events_hourly.sql")) as f:
        hourly = f.read()
    text = text.replace("TOPIC 'task-events'", "TOPIC '%s'" % tt)
    text = text.replace("TOPIC 'job-events'", "TOPIC '%s'" % jt)
    hourly = hourly.replace("TOPIC 'task-events'", "TOPIC '%s'" % tt)
    body = "\n".join(l for l in hourly.splitlines() if not l.startswith("--"))
    text += "\nCREATE QUERY %s AS\n%s\n" % (HOURLY, body)
    path = os.path.join(t.dir, "group.sql")
    with open(path, "w") as f:
        f.write(text)
    return path


def hourly_oracle(trace):
    c = collections.Counter()
    for l in kt.table_lines(os.path.join(trace, "task_events")):
        f = l.split(",")
        try:
            tm, typ, cls = int(f[0]), int(f[5]), int(f[7])
        except (ValueError, IndexError):
            continue
        if tm in (0, 2**63 - 1) or not 0 <= typ < 9:
            continue
        c[(tm // HOUR * HOUR, cls, kw.EVENT_NAMES[typ])] += 1
    return c


def group_ms(t, b, chk, app, query, *extra, name=None):
    return kw.kafka_mstream(t, b, chk, "--query", query, "--application-id", app,
                            "--starting-offsets", "earliest", "--trigger-sec", "0.5",
                            "--session-timeout-sec", SESSION,
                            "--transaction-timeout-sec", TXN_TIMEOUT, *extra, name=name)


# --------------------------------------------------------------------------
# reading the internal topics back, independently of mstream's code

def consume_raw(bootstrap, topic, timeout=60):
    """[(partition, offset, key bytes, value bytes or None)] of the committed
    records of a topic (kcat reads read_committed, librdkafka's default),
    parsed from length-prefixed binary output."""
    kcat = kw.kcat()
    r = subprocess.run([kcat, "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-o", "beginning",
                        "-X", "isolation.level=read_committed",
                        "-f", "%p\t%o\t%K\t%S\t%k%s\n"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=mstest.scaled(timeout))
    assert r.returncode == 0, "kcat -C %s failed (%d): %s" % (topic, r.returncode, r.stderr)
    out, d, i = [], r.stdout, 0
    while i < len(d):
        fields = []
        for _ in range(4):
            j = d.index(b"\t", i)
            fields.append(int(d[i:j]))
            i = j + 1
        p, o, kl, vl = fields
        key = d[i:i + max(kl, 0)]
        i += max(kl, 0)
        val = None if vl < 0 else d[i:i + vl]
        i += max(vl, 0)
        assert d[i:i + 1] == b"\n", "kcat output out of step at %d" % i
        i += 1
        out.append((p, o, key, val))
    return out


def _varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def _zz(b, i):
    v, i = _varint(b, i)
    return (v >> 1) ^ -(v & 1), i


def _be64_signed(b):
    return int.from_bytes(b, "big") ^ (1 << 63) if b else None


def decode_group_key(k, windowed):
    """(window start, scheduling_class, event_type) / (class, type) from a
    group key (query/ms_exec.h layout: be64 sign-flipped window start, then
    per column a tag byte and BIGINT be64 sign-flipped / STRING bytes)."""
    i, out = 0, []
    if windowed:
        ws = int.from_bytes(k[0:8], "big") ^ (1 << 63)
        out.append(ws - (1 << 64) if ws >= 1 << 63 else ws)
        i = 8
    tag = k[i]
    i += 1
    if tag:
        v = int.from_bytes(k[i:i + 8], "big") ^ (1 << 63)
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
        i += 8
    else:
        out.append(None)
    tag = k[i]
    out.append(k[i + 1:].decode() if tag else None)
    return tuple(out)


def changelog_table(bootstrap, topic, windowed):
    """The state a changelog holds: the latest record per key (compaction's
    rule), tombstones removing it; {group: count} (COUNT(*) values: version
    byte 1, then a zig-zag varint)."""
    latest = {}
    for _p, _o, k, v in consume_raw(bootstrap, topic):
        latest[k] = v
    out = {}
    for k, v in latest.items():
        assert k[:1] in (b"k", b"w"), "changelog key %r" % k
        if k[:1] != b"k" or v is None:
            continue
        assert v[0] == 1, "changelog value version %r" % v[:1]
        n, end = _zz(v, 1)
        assert end == len(v), "trailing bytes in %r" % v
        out[decode_group_key(k[1:], windowed)] = n
    return out


def iso_us(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 10**6 + d.microsecond


def emitted_windows(bootstrap, app):
    """Closed windows of the hourly query from its output topic: each group
    of each window must be there once."""
    got = {}
    for _p, _o, _k, v in consume_raw(bootstrap, "%s-%s-output" % (app, HOURLY)):
        r = json.loads(v)
        key = (iso_us(r["window_start"]), r["scheduling_class"], r["event_type"])
        assert key not in got, "window group emitted twice: %r" % (key,)
        got[key] = r["events"]
    return got


# --------------------------------------------------------------------------
# results summed over the instances

def _rows(ms, query):
    """Every row of one snapshot, page by page (retried when a batch was
    published between pages)."""
    for _attempt in range(20):
        rows, batch, total, cols = [], None, None, None
        while True:
            st, body = ms.get("/api/v1/results?query=%s&offset=%d&limit=10000"
                              % (query, len(rows)))
            assert st == 200, (st, body[:200])
            j = json.loads(body)
            if batch is None:
                batch, total, cols = j["batchId"], j["total"], j["columns"]
            elif (j["batchId"], j["total"]) != (batch, total):
                break
            rows.extend(j["rows"])
            if len(rows) >= total or not j["rows"]:
                return cols, rows
    raise AssertionError("results of %s kept changing between pages" % query)


class Twice(Exception):
    """A group served by two instances (only while a rebalance settles)."""


def summed(instances, query):
    """{group: first aggregate} over every running instance; Twice when a
    group is found in two instances (each key lives in one task, once the
    group is settled)."""
    out = {}
    for ms in instances:
        if not ms.alive():
            continue
        cols, rows = _rows(ms, query)
        for r in rows:
            if query == HOURLY:
                d = dict(zip(cols, r))
                key = (iso_us(d["window_start"]), d["scheduling_class"], d["event_type"])
                val = d["events"]
            else:
                key, val = tuple(r[:-1]), r[-1]
            if key in out:
                raise Twice("group %r served by two instances" % (key,))
            out[key] = val
    return out


def wait_exact(instances, b, app, oracle, hourly, timeout=240):
    """Until the instances' results (and the hourly query's closed plus open
    windows) equal the oracle, and stay so for two seconds."""
    box = {}

    def current():
        for ms in instances:
            ms.check_alive()
        got = {q: summed(instances, q) for q in (kw.TASK_Q, kw.JOB_Q)}
        # The output topic between two equal reads of the open windows: a
        # window closed meanwhile would be in neither, or in both.
        open_ = summed(instances, HOURLY)
        emitted = emitted_windows(b, app)
        if summed(instances, HOURLY) != open_:
            raise Twice("a window closed while it was read")
        both = set(emitted) & set(open_)
        assert not both, "window groups both emitted and open: %r" % sorted(both)[:5]
        got[HOURLY] = dict(emitted)
        got[HOURLY].update(open_)
        box["got"], box["emitted"] = got, len(emitted)
        return got

    def equal():
        try:
            got = current()
        except Twice as e:
            box["twice"] = str(e)
            return False
        return (got[kw.TASK_Q] == dict(oracle[kw.TASK_Q]) and
                got[kw.JOB_Q] == dict(oracle[kw.JOB_Q]) and got[HOURLY] == dict(hourly))

    def why():
        got = box.get("got", {})
        return box.get("twice", "") + "\n" + "\n".join(
            "%s:\n%s" % (q, mstest.diff_counts(dict(w), got.get(q, {})))
            for q, w in ((kw.TASK_Q, oracle[kw.TASK_Q]), (kw.JOB_Q, oracle[kw.JOB_Q]),
                         (HOURLY, hourly))) + "\n" + "\n".join(ms.describe() for ms in instances)
    def stable():
        # Equal, and still equal two seconds later (nothing counted late;
        # windows that close meanwhile move from open to emitted).
        if not equal():
            return False
        time.sleep(mstest.scaled(2))
        return equal()
    mstest.wait_for(stable, timeout, "results summed over the instances == the oracle",
                    interval=1.0, on_timeout=why)
    return box["emitted"]


def check_changelogs(b, app, oracle, hourly):
    for q in (kw.TASK_Q, kw.JOB_Q):
        got = changelog_table(b, "%s-%s-changelog" % (app, q), False)
        want = {(c, e): n for (c, e), n in oracle[q].items()}
        assert got == want, "changelog of %s differs from the oracle:\n%s" % (
            q, mstest.diff_counts(want, got))
    # The hourly query's changelog holds the open windows only (closed ones
    # are tombstoned): with the emitted ones it is the oracle.
    got = changelog_table(b, "%s-%s-changelog" % (app, HOURLY), True)
    got.update(emitted_windows(b, app))
    assert got == dict(hourly), "hourly changelog + output differ from the oracle:\n%s" % (
        mstest.diff_counts(dict(hourly), got))


def setup(t, days="3", jobs="500", seed="71"):
    b = kt.broker().bootstrap
    tt, jt = t_topics(t)
    kw.create_topic(t, b, tt, 4)
    kw.create_topic(t, b, jt, 4)
    trace = kw.tracegen(t, "trace", "--days", days, "--jobs", jobs, "--seed", seed)
    app = "g" + tt[2:]
    return b, tt, jt, trace, app, group_query(t, tt, jt)


# --------------------------------------------------------------------------
# tests

def test_three_instances_kill9_loop(t):
    seed = int(os.environ.get("MSTEST_SEED", str(int(time.time()) % 100000)))
    rnd = random.Random(seed)
    kills_wanted = int(os.environ.get("MS_GROUP_KILLS", "10"))
    print("group crash loop: seed %d, %d kills (MSTEST_SEED, MS_GROUP_KILLS)"
          % (seed, kills_wanted), flush=True)
    b, tt, jt, trace, app, q = setup(t)
    oracle = kw.cluster_oracle(trace)
    hourly = hourly_oracle(trace)
    total = sum(sum(c.values()) for c in oracle.values())
    inst = [group_ms(t, b, os.path.join(t.dir, "chk%d" % i), app, q, name="i%d" % i)
            for i in range(3)]
    for ms in inst:
        ms.start(wait="serving")
    # The producer writes for about as long as the kills take.
    rate = max(300, int(total / mstest.scaled(kills_wanted * 1.2)))
    prod = kw.spawn_producer(t, b, trace, tt, jt, "--rate", str(rate))
    kills = wiped = 0
    wiped_run = None
    wipe_at = rnd.randrange(kills_wanted)
    deadline = time.monotonic() + mstest.scaled(60 + kills_wanted * 8)
    while kills < kills_wanted and time.monotonic() < deadline:
        time.sleep(rnd.uniform(0.3, 1.5) * mstest.SCALE)
        ms = rnd.choice(inst)
        for other in inst:
            if other is not ms:
                other.check_alive()
        ms.kill9()
        kills += 1
        if kills - 1 == wipe_at:
            shutil.rmtree(os.path.join(t.dir, "chk%d" % inst.index(ms)))
            wiped += 1
            wiped_run = (ms, ms.runs)  # the next run starts without a checkpoint
        time.sleep(rnd.uniform(0.0, 1.0) * mstest.SCALE)
        ms.start(wait="serving")
        if wiped_run and wiped_run[0] is ms and ms.runs == wiped_run[1] + 1:
            # The run without a checkpoint restores a task from the
            # changelog alone before it may be killed again.
            mstest.wait_for(lambda: ms.check_alive() or "nothing cached" in ms.stderr() and
                            "processing it" in ms.stderr(), 120,
                            "the instance without a checkpoint restoring a task",
                            on_timeout=ms.describe)
    assert kills == kills_wanted and wiped == 1, (kills, wiped)
    rc = prod.wait(timeout=mstest.scaled(180))
    assert rc == 0, "producer exited %d" % rc
    emitted = wait_exact(inst, b, app, oracle, hourly)
    check_changelogs(b, app, oracle, hourly)
    # The run that started without a checkpoint restored its tasks from the
    # changelogs alone.
    ms, run = wiped_run
    with open(os.path.join(t.dir, "%s-%d.stderr" % (ms.name, run + 1)), errors="replace") as f:
        log = f.read()
    import re
    restores = [(int(n), c) for n, c in re.findall(
        r"offsets (\d+) to \d+ \((nothing cached|the local cache holds the rest)\)", log)]
    assert any(c == "nothing cached" and n == 0 for n, c in restores), restores
    replayed = sum(int(n) for n in re.findall(r"restored (\d+) changelog records", log))
    print("group crash loop: %d kill -9 (one with the checkpoint deleted: %d tasks restored "
          "%d changelog records from nothing), %d window groups emitted"
          % (kills, len(restores), replayed, emitted), flush=True)
    assert emitted > 0
    for ms in inst:
        assert ms.term() == 0, ms.describe()


def test_zombie_is_fenced(t):
    b, tt, jt, trace, app, q = setup(t, days="2", jobs="300", seed="72")
    oracle = kw.cluster_oracle(trace)
    hourly = hourly_oracle(trace)
    a = group_ms(t, b, os.path.join(t.dir, "chka"), app, q, name="a")
    z = group_ms(t, b, os.path.join(t.dir, "chkz"), app, q, "--log-level", "debug",
                 name="zombie")
    a.start(wait="serving")
    z.start(wait="serving", env={"MSTREAM_FAILPOINT": "group_txn_open:3"})
    total = sum(sum(x.values()) for x in oracle.values())
    # The producer writes for about 20 s: the zombie has batches to commit.
    prod = kw.spawn_producer(t, b, trace, tt, jt, "--rate", str(max(100, total // 20)))
    mstest.wait_for(lambda: z.check_alive() or "holding the open transaction" in z.stderr(), 120,
                    "the zombie-to-be holding its transaction open", on_timeout=z.describe)
    os.kill(z.pid, signal.SIGSTOP)
    try:
        # Past the session timeout (the group gives its partitions to the
        # other instance) and the transaction timeout (the coordinator
        # aborts its transaction and bumps the producer's epoch).
        stopped = float(SESSION) + float(TXN_TIMEOUT) + 4
        time.sleep(mstest.scaled(stopped))
        a.check_alive()
        st = a.status()["group"]
        assert len(st["inputPartitions"]) == 8, st
    finally:
        os.kill(z.pid, signal.SIGCONT)
    rc = prod.wait(timeout=mstest.scaled(180))
    assert rc == 0, "producer exited %d" % rc
    mstest.wait_for(lambda: "fenced" in z.stderr(), 60, "the zombie finding itself fenced",
                    on_timeout=z.describe)
    wait_exact([a, z], b, app, oracle, hourly)
    check_changelogs(b, app, oracle, hourly)
    m = z.metrics()
    assert m.get("mstream_group_fenced_total") >= 1, z.describe()
    assert m.get("mstream_group_transactions_total", outcome="aborted") >= 1, z.describe()
    print("zombie: fenced after %.0fs stopped; its transaction aborted, totals exact" % stopped,
          flush=True)
    for ms in (a, z):
        assert ms.term() == 0, ms.describe()


COMMIT_RE = None


def committed_offsets(ms):
    """[(time, generation, tasks_generation, [(topic/partition, offset)])] of
    every transaction committed in every run of ms (its debug log)."""
    import re
    global COMMIT_RE
    if COMMIT_RE is None:
        COMMIT_RE = re.compile(r"^(\S+) DEBUG transaction committed: batch=\d+ generation=(-?\d+) "
                               r"tasks_generation=(-?\d+) offsets=(\S*) ")
    out = []
    for run in range(1, ms.runs + 1):
        path = os.path.join(ms.t.dir, "%s-%d.stderr" % (ms.name, run))
        with open(path, errors="replace") as f:
            for line in f:
                m = COMMIT_RE.match(line.strip())
                if not m:
                    continue
                offs = []
                for item in m.group(4).split(","):
                    if item:
                        tp, _, off = item.rpartition("@")
                        offs.append((tp, int(off)))
                out.append((m.group(1), int(m.group(2)), int(m.group(3)), offs))
    return out


def test_rebalance_under_load(t):
    b, tt, jt, trace, app, q = setup(t, days="3", jobs="500", seed="73")
    oracle = kw.cluster_oracle(trace)
    hourly = hourly_oracle(trace)
    inst = [group_ms(t, b, os.path.join(t.dir, "chk%s" % n), app, q, "--log-level", "debug",
                     name=n) for n in ("a", "b", "c")]
    a, bb, c = inst
    a.start(wait="serving")
    total = sum(sum(x.values()) for x in oracle.values())
    prod = kw.spawn_producer(t, b, trace, tt, jt, "--rate", str(max(500, total // 14)))
    def leave(ms):
        assert ms.term() == 0, "an instance leaving exited non-zero\n" + ms.describe()

    steps = [(2, lambda: bb.start(wait="serving"), "b joins"),
             (4, lambda: c.start(wait="serving"), "c joins"),
             (7, lambda: leave(bb), "b leaves"),
             (9, lambda: bb.start(wait="serving"), "b joins again"),
             (11, lambda: leave(c), "c leaves")]
    t0 = time.monotonic()
    for at, fn, what in steps:
        time.sleep(max(0.0, t0 + mstest.scaled(at) - time.monotonic()))
        print("rebalance: %s" % what, flush=True)
        fn()
    rc = prod.wait(timeout=mstest.scaled(180))
    assert rc == 0, "producer exited %d" % rc
    wait_exact([a, bb], b, app, oracle, hourly)
    check_changelogs(b, app, oracle, hourly)
    # No partition committed by two instances in one generation of its
    # group, and a partition's committed offsets never go back.
    owners = collections.defaultdict(set)
    timeline = collections.defaultdict(list)
    ncommits = 0
    for ms in inst:
        for when, gen, tgen, offs in committed_offsets(ms):
            ncommits += 1
            for tp, off in offs:
                g = tgen if "-repartition/" in tp else gen
                owners[(tp, g)].add(ms.name)
                timeline[tp].append((when, off, ms.name))
    assert ncommits > 10, ncommits
    shared = {k: v for k, v in owners.items() if len(v) > 1}
    assert not shared, "partitions committed by two instances in one generation: %r" % shared
    for tp, events in timeline.items():
        events.sort()
        for (w0, o0, n0), (w1, o1, n1) in zip(events, events[1:]):
            assert o1 >= o0, "%s: offset %d committed by %s at %s after %d by %s at %s" % (
                tp, o1, n1, w1, o0, n0, w0)
    gens = sorted({g for (_tp, g) in owners})
    print("rebalance: %d transactions, %d partitions, generations %s" %
          (ncommits, len(timeline), gens), flush=True)
    assert len(gens) >= 3, gens
    for ms in (a, bb):
        assert ms.term() == 0, ms.describe()


if __name__ == "__main__":
    mstest.run(globals())
