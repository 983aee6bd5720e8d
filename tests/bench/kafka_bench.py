#!/usr/bin/env python3
"""Kafka source throughput benchmark (not a test): how fast does mstream read a
topic from a real broker, next to a bare librdkafka consumer reading the same
topic in the same run?

    tests/bench/kafka_bench.py --mstream build/mstream \
        --baseline build/tests/bench/ms_kafka_baseline \
        --producer build/producers/producer --tracegen build/producers/ms_tracegen \
        [--jobs 70000] [--partitions 1,4] [--runs 3] [--out FILE.json]

What it does:
  1. ms_tracegen writes a synthetic task_events trace (--jobs jobs, ~30 rows each).
  2. For each partition count P in --partitions: a fresh topic with P partitions
     is created and loaded with every task_events row by `producer --no-pacing`
     (keyed by job ID, so several partitions get uneven shares, as in real use).
  3. --runs rounds, each timing, one after the other on the same topic:
       bare/poll    ms_kafka_baseline consume --mode poll   (rd_kafka_consumer_poll loop)
       bare/batch   ms_kafka_baseline consume --mode batch  (rd_kafka_consume_batch_queue)
                    (both with the librdkafka properties mstream's source sets:
                    SOURCE_PROPS below)
       mstream/count     mstream --available-now, query: SELECT COUNT(*) ... FROM lines
       mstream/by_class  mstream --available-now, query: task_events by scheduling
                         class and event type (parse every row, group, count)
     mstream runs with a fresh checkpoint each time (real RocksDB, fsync), so a run
     is the whole job: start-up, metadata, one batch, commit, exit.  Times are
     wall clock around the process; peak RSS is each program's own VmHWM.
  4. Checks (exit 1 if any fails; the table is printed anyway): every run read
     exactly the topic's messages; mstream counted every row (rows_aggregated)
     and rejected none; one extra untimed mstream run with --sink json: has
     per-group counts equal to an oracle computed from the trace files.

Figures: messages/s and MB/s (value bytes, MB = 10^6) of the median run, and the
ratio mstream / the faster bare consumer.  The broker runs on the same 2-core
machine and serves both sides from its page cache (a warm-up read precedes the
runs).  The broker: $MS_KAFKA_STATE (the ctest fixture's) if set, else a private
one started with tests/kafka/kafka_broker.sh and stopped at the end.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import kafkatest as kt  # noqa: E402  (BenchBroker, table_lines)

EVENT_NAMES = ["SUBMIT", "SCHEDULE", "EVICT", "FAIL", "FINISH", "KILL", "LOST",
               "UPDATE_PENDING", "UPDATE_RUNNING"]

QUERIES = {
    "count": "CREATE QUERY n AS SELECT COUNT(*) AS messages FROM lines TOPIC '{topic}';\n",
    "by_class": ("CREATE QUERY by_class AS SELECT scheduling_class, event_type, "
                 "COUNT(*) AS events FROM task_events TOPIC '{topic}' "
                 "GROUP BY scheduling_class, event_type;\n"),
}
SIDES = ["bare/poll", "bare/batch", "mstream/count", "mstream/by_class"]
# The librdkafka properties mstream's source sets that bear on throughput
# (src/source/ms_kafkasrc.c make_conf); the bare consumer gets them too.
SOURCE_PROPS = ["fetch.wait.max.ms=10", "queued.min.messages=10000000"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(argv, timeout=900):
    r = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def timed(argv, timeout):
    """Runs argv; returns (rc, wall seconds, ru_maxrss KiB, stdout, stderr).  (ru_maxrss
    includes the pages of this process from before exec: not the program's own.)"""
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        t0 = time.monotonic()
        p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=so, stderr=se)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.002)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        return (p.returncode, wall, ru.ru_maxrss, so.read().decode("utf-8", "replace"),
                se.read().decode("utf-8", "replace"))


def kv(line):
    out = {}
    for tok in line.split():
        k, eq, v = tok.partition("=")
        if eq:
            try:
                out[k] = float(v) if "." in v else int(v)
            except ValueError:
                out[k] = v
    return out


def summaries(stderr):
    """(engine summary, {query: its summary}) from mstream's summary lines."""
    eng, per = None, {}
    for line in stderr.splitlines():
        if line.startswith("summary query="):
            d = kv(line[len("summary "):])
            per[d["query"]] = d
        elif line.startswith("summary "):
            eng = kv(line[len("summary "):])
    return eng, per


def oracle(trace):
    c = collections.Counter()
    for line in kt.table_lines(os.path.join(trace, "task_events")):
        f = line.split(",")
        cls = int(f[7]) if f[7] != "" else None
        ev = EVENT_NAMES[int(f[5])] if f[5] != "" else None
        c[(cls, ev)] += 1
    return c


class Bench:
    def __init__(self, a, tmp, bootstrap):
        self.a, self.tmp, self.bootstrap = a, tmp, bootstrap
        self.problems = []
        self.nrun = 0

    def engine_argv(self, topic, query, extra=()):
        self.nrun += 1
        qf = os.path.join(self.tmp, "%s-%s.sql" % (query, topic))
        with open(qf, "w") as f:
            f.write(QUERIES[query].format(topic=topic))
        ckpt = os.path.join(self.tmp, "chk-%d" % self.nrun)
        return [self.a.mstream, "--kafka", self.bootstrap, "--topics", topic, "--query", qf,
                "--starting-offsets", "earliest", "--available-now", "--checkpoint-dir", ckpt,
                "--metrics-addr", "127.0.0.1:0", "--log-level", "warn"] + list(extra), ckpt

    def run_side(self, side, topic, nmsg):
        kind, mode = side.split("/")
        if kind == "bare":
            rc, wall, rss, so, se = timed([self.a.baseline, "consume", self.bootstrap, topic,
                                           "--mode", mode]
                                          + sum([["-X", p] for p in SOURCE_PROPS], []),
                                          self.a.timeout)
            d = kv(so)
            got = d.get("messages")
            if rc != 0 or got != nmsg:
                self.problems.append("%s on %s: exit %s, %s of %d messages; stderr: %s"
                                     % (side, topic, rc, got, nmsg, se.strip()[-500:]))
            return {"wall": wall, "rss_kb": d.get("peak_rss_kb"), "value_bytes": d.get("value_bytes")}
        argv, ckpt = self.engine_argv(topic, mode)
        rc, wall, rss, so, se = timed(argv, self.a.timeout)
        shutil.rmtree(ckpt, ignore_errors=True)
        eng, per = summaries(se)
        q = next(iter(per.values()), {})
        bad = {k: v for k, v in q.items() if k.startswith("malformed_")}
        if (rc != 0 or not eng or eng.get("kafka_messages") != nmsg
                or q.get("rows_aggregated") != nmsg or bad):
            self.problems.append("%s on %s: exit %s, kafka_messages %s, rows_aggregated %s of %d,"
                                 " rejected %s; stderr: %s"
                                 % (side, topic, rc, eng and eng.get("kafka_messages"),
                                    q.get("rows_aggregated"), nmsg, bad, se.strip()[-800:]))
            eng = eng or {}
        return {"wall": wall, "rss_kb": eng.get("peak_rss_kb"), "value_bytes": eng.get("input_bytes"),
                "elapsed_sec": eng.get("elapsed_sec"), "commit_ms": eng.get("commit_ms_max")}

    def verify(self, topic, want):
        sink = os.path.join(self.tmp, "sink-" + topic)
        argv, ckpt = self.engine_argv(topic, "by_class", ["--sink", "json:" + sink])
        rc, _wall, _rss, _so, se = timed(argv, self.a.timeout)
        shutil.rmtree(ckpt, ignore_errors=True)
        d = os.path.join(sink, "by_class")
        files = sorted(os.listdir(d)) if os.path.isdir(d) else []
        got = collections.Counter()
        if files:
            with open(os.path.join(d, files[-1])) as f:
                for line in f:
                    r = json.loads(line)
                    got[(r["scheduling_class"], r["event_type"])] += r["events"]
        if rc != 0 or got != want:
            self.problems.append("verify on %s: exit %s; results differ from the oracle in %d "
                                 "groups; stderr: %s"
                                 % (topic, rc, len(set(got.items()) ^ set(want.items())),
                                    se.strip()[-500:]))
        shutil.rmtree(sink, ignore_errors=True)


def med(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mstream", required=True)
    ap.add_argument("--baseline", required=True, help="ms_kafka_baseline")
    ap.add_argument("--producer", required=True)
    ap.add_argument("--tracegen", required=True)
    ap.add_argument("--jobs", type=int, default=70000, help="trace size (~30 messages per job)")
    ap.add_argument("--days", type=float, default=5)
    ap.add_argument("--partitions", default="1,4", help="comma-separated partition counts")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900, help="per process, seconds")
    ap.add_argument("--out", help="write every run as JSON here")
    a = ap.parse_args()
    parts = [int(x) for x in a.partitions.split(",")]
    tmp = tempfile.mkdtemp(prefix="kafka-bench-")
    try:
        with kt.BenchBroker(tmp) as bootstrap:
            return bench(a, parts, tmp, bootstrap)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(a, parts, tmp, bootstrap):
    trace = os.path.join(tmp, "trace")
    rc, so, se = sh([a.tracegen, "--out", trace, "--days", a.days, "--jobs", a.jobs,
                     "--seed", "7"])
    if rc != 0:
        raise SystemExit("ms_tracegen failed: " + se)
    nmsg = kv(so)["task_events"]
    want = oracle(trace)
    assert sum(want.values()) == nmsg
    b = Bench(a, tmp, bootstrap)
    tag = "%d-%d" % (os.getpid(), int(time.time()))
    results = {}
    for np_ in parts:
        topic = "bench-src-p%d-%s" % (np_, tag)
        rc, _so, se = sh([a.baseline, "create", bootstrap, topic, np_])
        if rc != 0:
            raise SystemExit("creating %s failed: %s" % (topic, se))
        log("loading %d messages into %s (%d partitions)" % (nmsg, topic, np_))
        rc, _so, se = sh([a.producer, "--brokers", bootstrap, "--task-events",
                          os.path.join(trace, "task_events"), "--task-topic", topic,
                          "--no-pacing", "--progress-sec", "0"])
        if rc != 0:
            raise SystemExit("producer failed:\n" + se[-2000:])
        # warm-up: the broker's log segments into the page cache, and the count
        rc, so, se = sh([a.baseline, "consume", bootstrap, topic])
        warm = kv(so)
        if rc != 0 or warm.get("messages") != nmsg:
            raise SystemExit("topic %s holds %s messages, want %d: %s"
                             % (topic, warm.get("messages"), nmsg, se))
        runs = {s: [] for s in SIDES}
        for r in range(a.runs):
            for s in SIDES:
                runs[s].append(b.run_side(s, topic, nmsg))
            log("round %d/%d on %d partition(s): %s" % (
                r + 1, a.runs, np_, ", ".join("%s %.2fs" % (s, runs[s][-1]["wall"])
                                               for s in SIDES)))
        b.verify(topic, want)
        results[np_] = {"topic": topic, "messages": nmsg,
                        "value_bytes": warm["value_bytes"], "runs": runs}
    print_table(a, results, bootstrap)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "results": results, "problems": b.problems,
                       "loadavg": os.getloadavg()}, f, indent=1)
    for p in b.problems:
        print("CHECK FAILED: " + p)
    return 1 if b.problems else 0


def print_table(a, results, bootstrap):
    print("Kafka source benchmark, broker %s, median of %d run(s), MB = 10^6 value bytes, "
          "load average %.2f" % (bootstrap, a.runs, os.getloadavg()[0]))
    print("%-11s %-17s %9s %12s %8s %9s %8s" % ("partitions", "reader", "wall s", "messages/s",
                                                "MB/s", "RSS MiB", "ratio"))
    for np_, res in results.items():
        n, vb = res["messages"], res["value_bytes"]
        walls = {s: med([r["wall"] for r in res["runs"][s]]) for s in SIDES}
        best_bare = min(walls["bare/poll"], walls["bare/batch"])
        res["median_wall"] = walls
        for s in SIDES:
            rss = max((r["rss_kb"] or 0) for r in res["runs"][s]) / 1024
            ratio = best_bare / walls[s]
            print("%-11d %-17s %9.3f %12.0f %8.1f %9.0f %8.2f"
                  % (np_, s, walls[s], n / walls[s], vb / 1e6 / walls[s], rss, ratio))
    print("ratio = messages/s of the reader / messages/s of the faster bare consumer")


if __name__ == "__main__":
    sys.exit(main())
