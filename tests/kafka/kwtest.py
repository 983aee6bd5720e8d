"""kwtest — helpers for the tests that run mstream over Kafka (stdlib only).

The scripts are run by tests/integration/mstest.py's runner (mstest.main:
--mstream PATH, per-test context T with engines killed at the end), against
the broker of the ctest fixture `kafka` (kafkatest.Broker, $MS_KAFKA_STATE).
The producer and the trace generator come from $MS_PRODUCER_BIN and
$MS_TRACEGEN_BIN (set by tests/kafka/CMakeLists.txt).

What is compared is always an oracle computed here from the generated trace
files (or from the messages a test wrote itself) with what mstream serves:
/api/v1/results of each statement and the counters of /metrics.
"""

import collections
import json
import os
import shutil
import subprocess
import time
import urllib.parse

import kafkatest as kt
import mstest

PRODUCER = os.environ.get("MS_PRODUCER_BIN")
TRACEGEN = os.environ.get("MS_TRACEGEN_BIN")
DELETE_RECORDS = os.environ.get("MS_DELETE_RECORDS_BIN")
TOPIC_ADMIN = os.environ.get("MS_TOPIC_ADMIN_BIN")

EVENT_NAMES = ["SUBMIT", "SCHEDULE", "EVICT", "FAIL", "FINISH", "KILL", "LOST",
               "UPDATE_PENDING", "UPDATE_RUNNING"]

TASK_Q = "task_events_by_class"
JOB_Q = "job_events_by_class"


def need(path, what):
    if not path or not os.access(path, os.X_OK):
        raise AssertionError("%s binary not found: run through ctest (it sets MS_%s_BIN)"
                             % (what, what.upper()))
    return path


def run(t, argv, name, timeout=300):
    """Runs argv to completion in t.dir; returns (rc, stdout, stderr)."""
    base = os.path.join(t.dir, "%s-%d" % (name, int(time.monotonic() * 1000) % 10 ** 7))
    with open(base + ".out", "wb") as out, open(base + ".err", "wb") as err:
        p = mstest.spawn([str(a) for a in argv], cwd=t.dir, stdout=out, stderr=err)
        try:
            rc = p.wait(timeout=mstest.scaled(timeout))
        except subprocess.TimeoutExpired:
            mstest._kill_proc(p)
            raise AssertionError("%s did not finish within %.0fs" % (argv[0], mstest.scaled(timeout)))
    with open(base + ".out", "rb") as f:
        so = f.read().decode("utf-8", "replace")
    with open(base + ".err", "rb") as f:
        se = f.read().decode("utf-8", "replace")
    return rc, so, se


def tracegen(t, name, *args):
    out = t.mkdir(name)
    rc, so, se = run(t, [need(TRACEGEN, "tracegen"), "--out", out, "--plain"] + list(args),
                     "tracegen")
    assert rc == 0, "ms_tracegen failed (%d): %s" % (rc, se)
    return out


def producer_argv(bootstrap, trace, task_topic, job_topic, *extra):
    return [need(PRODUCER, "producer"), "--brokers", bootstrap,
            "--task-events", os.path.join(trace, "task_events"),
            "--job-events", os.path.join(trace, "job_events"),
            "--task-topic", task_topic, "--job-topic", job_topic,
            "--progress-sec", "0"] + [str(x) for x in extra]


def produce(t, bootstrap, trace, task_topic, job_topic, *extra, timeout=300):
    """Runs the producer to completion; returns its summary (sent == delivered)."""
    rc, _so, se = run(t, producer_argv(bootstrap, trace, task_topic, job_topic, *extra),
                      "producer", timeout)
    assert rc == 0, "producer exited %d:\n%s" % (rc, se[-3000:])
    s = kt.summary(se)
    assert s["sent"] == s["delivered"] and s["failed"] == "0", s
    return s


def spawn_producer(t, bootstrap, trace, task_topic, job_topic, *extra):
    base = os.path.join(t.dir, "producer-bg-%d" % (int(time.monotonic() * 1000) % 10 ** 7))
    out = open(base + ".out", "wb")
    err = open(base + ".err", "wb")
    p = mstest.spawn(producer_argv(bootstrap, trace, task_topic, job_topic, *extra),
                     cwd=t.dir, stdout=out, stderr=err)
    p.err_path = base + ".err"
    t._others.append(_Killer(p))
    return p


class _Killer:
    """Registers a plain process with T so that t.close() kills it."""

    def __init__(self, proc):
        self.proc = proc

    def stop(self):
        mstest._kill_proc(self.proc)

    def describe(self):
        return ""


# --------------------------------------------------------------------------
# queries and oracles

def cluster_query(t, task_topic, job_topic, name="cluster.sql"):
    """queries/cluster_events.sql with other topic names (tests use topics of
    their own, so they never see each other's messages)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "queries", "cluster_events.sql")) as f:
        text = f.read()
    assert "TOPIC 'task-events'" in text and "TOPIC 'job-events'" in text, text
    text = text.replace("TOPIC 'task-events'", "TOPIC '%s'" % task_topic)
    text = text.replace("TOPIC 'job-events'", "TOPIC '%s'" % job_topic)
    path = os.path.join(t.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _cls_type(line, cls_col, type_col):
    f = line.split(",")
    c = int(f[cls_col]) if f[cls_col] != "" else None
    e = EVENT_NAMES[int(f[type_col])] if f[type_col] != "" else None
    return (c, e)


def cluster_oracle(*traces):
    """{query: Counter{(scheduling_class, event_type name): events}} of what
    the producer sends from these trace directories."""
    out = {TASK_Q: collections.Counter(), JOB_Q: collections.Counter()}
    for trace in traces:
        tl = kt.table_lines(os.path.join(trace, "task_events"))
        jl = kt.table_lines(os.path.join(trace, "job_events"))
        for table, line in kt.expected_order(tl, jl):
            if table == "task":
                out[TASK_Q][_cls_type(line, 7, 5)] += 1
            else:
                out[JOB_Q][_cls_type(line, 5, 3)] += 1
    return out


def results(ms, query, page=500):
    """All rows of /api/v1/results?query=... as {(group columns...): first
    aggregate}, read page by page from one batch (the first page pins it,
    the next ones name its batchId; retried if it was no longer kept)."""
    for _attempt in range(20):
        rows, offset, batch, total, cols = [], 0, None, None, None
        consistent = True
        while True:
            pin = "" if batch is None else "&batchId=%d" % batch
            st, body = ms.get("/api/v1/results?query=%s&offset=%d&limit=%d%s"
                              % (urllib.parse.quote(query), offset, page, pin))
            if st == 410 and batch is not None:
                consistent = False
                break
            assert st == 200, "/api/v1/results?query=%s returned %s: %r" % (query, st, body[:300])
            j = json.loads(body.decode("utf-8"))
            if batch is None:
                batch, total, cols = j["batchId"], j["total"], j["columns"]
            elif j["batchId"] != batch or j["total"] != total:
                consistent = False
                break
            rows.extend(j["rows"])
            offset += len(j["rows"])
            if offset >= total or not j["rows"]:
                break
        if not consistent:
            continue
        assert len(rows) == total, (len(rows), total)
        out = {}
        for r in rows:
            key = tuple(r[:-1])
            assert key not in out, "group %r listed twice" % (key,)
            out[key] = r[-1]
        return out
    raise AssertionError("results kept changing between pages")


def diff(expected, got, limit=30):
    keys = sorted(set(expected) | set(got), key=repr)
    lines = ["  %-30r expected %s, got %s" % (k, expected.get(k, 0), got.get(k, 0))
             for k in keys if expected.get(k, 0) != got.get(k, 0)]
    return "\n".join(lines[:limit]) or "  (no difference)"


def wait_results(ms, expected, timeout=120, settle=1.0):
    """Waits until every query's results equal expected[query] exactly, then
    checks they stay so for `settle` seconds (nothing counted late)."""
    last = {}

    def equal():
        ms.check_alive()
        for q, want in expected.items():
            last[q] = results(ms, q)
            if last[q] != dict(want):
                return False
        return True

    def why():
        return "\n".join("%s:\n%s" % (q, diff(dict(expected[q]), last.get(q, {})))
                         for q in expected) + "\n" + ms.describe()
    mstest.wait_for(equal, timeout, "results equal to the oracle", interval=0.2, on_timeout=why)
    if settle:
        time.sleep(mstest.scaled(settle))
        for q, want in expected.items():
            got = results(ms, q)
            assert got == dict(want), "%s changed after reaching the oracle:\n%s" % (q, diff(dict(want), got))


def topic_ends(bootstrap, topic, partitions=4):
    """{partition: next offset} of a topic as it is now (0 for partitions
    without messages, or a topic that does not exist)."""
    ends = {p: 0 for p in range(partitions)}
    for m in kt.consume(bootstrap, topic):
        ends[m["p"]] = max(ends.get(m["p"], 0), m["o"] + 1)
    return ends


def kcat():
    k = shutil.which("kcat")
    if not k:
        raise AssertionError("kcat is not installed (Debian package kcat)")
    return k


def kcat_files(t, bootstrap, topic, payloads, *extra):
    """Sends each payload (bytes) as one message: kcat -P with one file per
    message (kcat sends a file given as argument as one message)."""
    d = t.mkdir("kcat-%d" % (int(time.monotonic() * 1000) % 10 ** 7))
    paths = []
    for i, p in enumerate(payloads):
        path = os.path.join(d, "m%05d" % i)
        with open(path, "wb") as f:
            f.write(p)
        paths.append(path)
    rc, _so, se = run(t, [kcat(), "-P", "-b", bootstrap, "-t", topic] + list(extra) + paths,
                      "kcat")
    assert rc == 0, "kcat -P failed (%d): %s" % (rc, se)


def kcat_lines(t, bootstrap, topic, lines, *extra):
    """Sends each line as one message (kcat -P reading stdin, newline-delimited)."""
    path = os.path.join(t.dir, "kcat-lines-%d" % (int(time.monotonic() * 1000) % 10 ** 7))
    with open(path, "wb") as f:
        f.write(b"".join(l + b"\n" for l in lines))
    with open(path, "rb") as stdin:
        r = subprocess.run([kcat(), "-P", "-b", bootstrap, "-t", topic] + list(extra),
                           stdin=stdin, capture_output=True, timeout=mstest.scaled(120))
    assert r.returncode == 0, "kcat -P failed (%d): %s" % (r.returncode, r.stderr.decode())


def kcat_keyed(t, bootstrap, topic, pairs, *extra):
    """Sends (key, value) pairs with kcat -P -K '\\t' (the only way kcat sends
    an empty value: an empty value after the key; with -Z a NULL one)."""
    kcat_lines(t, bootstrap, topic, [k + b"\t" + v for k, v in pairs], "-K", "\t", *extra)


def delete_records(t, bootstrap, topic, partition, before):
    """Deletes the records of one partition below offset `before` (as
    retention would); returns the new low watermark."""
    rc, so, se = run(t, [need(DELETE_RECORDS, "delete_records"), bootstrap, topic, partition,
                         before], "delete-records", 120)
    assert rc == 0, "ms_delete_records failed (%d): %s" % (rc, se)
    return int(so.strip().split("=")[1])


def create_topic(t, bootstrap, topic, partitions):
    """Creates a topic (retrying while a deletion of the same name finishes)."""
    rc, _so, se = run(t, [need(TOPIC_ADMIN, "topic_admin"), "create", bootstrap, topic, partitions],
                      "topic-create", 120)
    assert rc == 0, "ms_topic_admin create %s failed (%d): %s" % (topic, rc, se)


def delete_topic(t, bootstrap, topic):
    """Deletes a topic and waits until the metadata no longer lists it."""
    rc, _so, se = run(t, [need(TOPIC_ADMIN, "topic_admin"), "delete", bootstrap, topic],
                      "topic-delete", 120)
    assert rc == 0, "ms_topic_admin delete %s failed (%d): %s" % (topic, rc, se)


def kafka_mstream(t, bootstrap, chk, *extra, name=None):
    return t.raw(["--kafka", bootstrap, "--checkpoint-dir", chk, "--metrics-addr", "127.0.0.1:0",
                  "--log-level", "info"] + [str(x) for x in extra], name=name)
