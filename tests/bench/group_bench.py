#!/usr/bin/env python3
"""Group mode benchmark (not a test): what several mstream instances of one
--application-id cost and give, next to the single-process mode measured in
the same run on the same topic.

    tests/bench/group_bench.py --mstream build/mstream --producer build/producers/producer \
        --tracegen build/producers/ms_tracegen [--jobs 20000] [--words 400000] \
        [--instances 1,2,3] [--out FILE.json]

What it does, against a real broker ($MS_KAFKA_STATE, else a private one):
  1. ms_tracegen writes a synthetic trace; its task events are loaded into a
     fresh 4-partition topic (producer --no-pacing, keyed by job ID); a second
     4-partition topic gets --words lines of Zipf-distributed words.
  2. Throughput, the trace query (task events by scheduling class and event
     type): for the single-process mode and for each N of --instances, a
     fresh topic loaded with the trace first (the producer writes ~0.5 M
     messages/s, slower than mstream reads: loading while reading would time
     the producer), then the engine(s) started together on it; the time runs
     from the first input row counted (mstream_input_rows_total over the
     instances, polled every 50 ms) until the results summed over the
     instances equal the trace's count.  Start-up is outside the timing;
     rebalances while instances join are inside it, as they are in use.
  3. Bytes written to the repartition and changelog topics per input byte
     (mstream_group_produced_bytes_total / mstream_input_bytes_total, summed
     over the instances) for the trace query and for the word count.
  4. Restore: the word count's single instance is stopped, its checkpoint
     deleted, and it is started again: the changelog records it replays per
     second (mstream_group_restore_records_total over restore time).
  5. Transaction commit latency: p50/p95/p99/max of every committed
     transaction of the trace runs (each instance's exit summary).

Checks (exit 1 if any fails; the table is printed anyway): every run counts
exactly the rows of its topic.  Figures are ratios against the single-process
run of the same invocation; a 2-core machine shares its cores between the
broker and the instances, so N instances cannot scale N-fold here.
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import kafkatest as kt  # noqa: E402

TRACE_Q = ("CREATE QUERY by_class AS SELECT scheduling_class, event_type, COUNT(*) AS events "
           "FROM task_events TOPIC '{topic}' GROUP BY scheduling_class, event_type;\n")
WORDS_Q = ("CREATE QUERY words AS SELECT word, COUNT(*) AS n FROM words TOPIC '{topic}' "
           "GROUP BY word;\n")
SERVING = re.compile(rb"serving http://127\.0\.0\.1:(\d+)/metrics")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(argv, timeout=900, **kw):
    r = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, **kw)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode("utf-8", "replace")
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, v = line.rpartition(" ")
            out[name] = float(v)
    return out


def msum(ms, prefix):
    return sum(v for k, v in ms.items() if k == prefix or k.startswith(prefix + "{"))


class Instance:
    def __init__(self, a, tmp, name, argv):
        self.log_path = os.path.join(tmp, name + ".log")
        self.err = open(self.log_path, "wb")
        self.p = subprocess.Popen([a.mstream] + argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=self.err)
        self.port = None

    def wait_port(self, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.port is None:
            with open(self.log_path, "rb") as f:
                m = SERVING.search(f.read())
            if m:
                self.port = int(m.group(1))
            elif self.p.poll() is not None:
                raise SystemExit("mstream exited %s:\n%s" % (self.p.returncode,
                                                             open(self.log_path).read()[-2000:]))
            else:
                time.sleep(0.05)
        return self.port

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()
        with open(self.log_path, errors="replace") as f:
            text = f.read()
        summ = [l for l in text.splitlines() if l.startswith("summary batches=")]
        return dict(kv.split("=", 1) for kv in summ[-1].split()[1:]) if summ else {}


def start_group(a, tmp, bootstrap, query, app, n):
    insts = []
    for i in range(n):
        chk = os.path.join(tmp, "%s-chk%d" % (app, i))
        argv = ["--kafka", bootstrap, "--query", query, "--starting-offsets", "earliest",
                "--checkpoint-dir", chk, "--trigger-sec", "0.5", "--top-k", "1000000",
                "--status-batches", "10000", "--metrics-addr", "127.0.0.1:0"]
        if app:
            argv += ["--application-id", app]
        insts.append(Instance(a, tmp, "%s-%d" % (app or "single", i), argv))
    for x in insts:
        x.wait_port()
    return insts


def wait_total(insts, family, want, timeout):
    got = -1
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = sum(msum(metrics(x.port), family) for x in insts)
        if got >= want:
            break
        time.sleep(0.05)
    return got


def status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/status" % port, timeout=10) as r:
        return json.loads(r.read())


def iso_wall(ts):
    d = datetime.datetime.strptime(ts[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()


def timed_catch_up(insts, family, want, timeout):
    """Seconds from the first input row read (the earliest batch that read
    input, from the instances' /api/v1/status) until the summed family
    equals want (polled every 50 ms); the metrics then and each instance's
    summary."""
    got = -1
    done = None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = sum(msum(metrics(x.port), family) for x in insts)
        if got >= want:
            done = time.time()
            break
        time.sleep(0.05)
    first = [iso_wall(p["timestamp"]) for x in insts for p in status(x.port)["recentProgress"]
             if p["numInputRows"] > 0]
    secs = done - min(first) if done is not None and first else float("nan")
    time.sleep(1.0)  # the last commit's counters
    ms = [metrics(x.port) for x in insts]
    summ = [x.stop() for x in insts]
    return secs, got, ms, summ


def group_run(a, tmp, bootstrap, query, app, n, want, family, timeout):
    """n instances of app on a topic already loaded: seconds until the
    summed family equals want, the summed metrics then, each summary."""
    t0 = time.monotonic()
    insts = start_group(a, tmp, bootstrap, query, app, n)
    got = wait_total(insts, family, want, timeout)
    secs = time.monotonic() - t0
    time.sleep(1.0)
    ms = [metrics(x.port) for x in insts]
    summ = [x.stop() for x in insts]
    return secs, got, ms, summ


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p * len(xs) + 0.5)) - 1))] if xs else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mstream", required=True)
    ap.add_argument("--producer", required=True)
    ap.add_argument("--tracegen", required=True)
    ap.add_argument("--jobs", type=int, default=20000, help="trace size (~30 events per job)")
    ap.add_argument("--days", type=float, default=5)
    ap.add_argument("--words", type=int, default=400000, help="word-count lines")
    ap.add_argument("--instances", default="1,2,3")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", help="write the figures as JSON here")
    a = ap.parse_args()
    for p in (a.mstream, a.producer, a.tracegen):
        if not os.access(p, os.X_OK):
            raise SystemExit("not executable: %s" % p)
    tmp = tempfile.mkdtemp(prefix="mstream-group-bench-")
    ok = True
    res = {}
    try:
        with kt.BenchBroker(tmp) as bootstrap:
            tag = "%d-%d" % (os.getpid(), int(time.time()) % 100000)
            jt, wt = "gb-job-" + tag, "gb-words-" + tag
            for t in (jt, wt):
                rc, so, se = sh([os.path.join(ROOT, "tests", "kafka", "kafka_broker.sh"),
                                 "create-topics", "--partitions", "4", t] +
                                (["--state", os.environ["MS_KAFKA_STATE"]]
                                 if os.environ.get("MS_KAFKA_STATE") else
                                 ["--state", os.path.join(tmp, "broker.state")]))
                if rc:
                    raise SystemExit("create-topics failed:\n" + se)
            trace = os.path.join(tmp, "trace")
            rc, so, se = sh([a.tracegen, "--out", trace, "--plain", "--days", a.days, "--jobs",
                             a.jobs, "--force"])
            if rc:
                raise SystemExit("ms_tracegen failed:\n" + se)
            n_task = len(kt.table_lines(os.path.join(trace, "task_events")))
            # Zipf words, one message per line (kcat -P).
            rnd = random.Random(7)
            vocab = ["w%05d" % i for i in range(50000)]
            weights = [1.0 / (i + 1) for i in range(len(vocab))]
            lines_path = os.path.join(tmp, "words.txt")
            n_words = 0
            with open(lines_path, "w") as f:
                for _ in range(a.words):
                    ws = rnd.choices(vocab, weights, k=8)
                    n_words += len(ws)
                    f.write(" ".join(ws) + "\n")
            with open(lines_path, "rb") as f:
                r = subprocess.run([shutil.which("kcat"), "-P", "-b", bootstrap, "-t", wt],
                                   stdin=f, capture_output=True, timeout=600)
            if r.returncode:
                raise SystemExit("kcat -P failed: %s" % r.stderr)
            log("trace of %d task events; %d word lines (%d words) loaded into %s"
                % (n_task, a.words, n_words, wt))
            wq = os.path.join(tmp, "words.sql")
            with open(wq, "w") as f:
                f.write(WORDS_Q.format(topic=wt))
            state = os.environ.get("MS_KAFKA_STATE") or os.path.join(tmp, "broker.state")

            def fresh_topic(name):
                rc, so, se = sh([os.path.join(ROOT, "tests", "kafka", "kafka_broker.sh"),
                                 "create-topics", "--partitions", "4", "--state", state, name])
                if rc:
                    raise SystemExit("create-topics failed:\n" + se)
                q = os.path.join(tmp, name + ".sql")
                with open(q, "w") as f:
                    f.write(TRACE_Q.format(topic=name))
                return q

            def loader(topic):
                def load():
                    rc, so, se = sh([a.producer, "--brokers", bootstrap, "--no-pacing",
                                     "--progress-sec", "0", "--task-events",
                                     os.path.join(trace, "task_events"), "--job-events",
                                     os.path.join(trace, "job_events"), "--task-topic", topic,
                                     "--job-topic", jt])
                    if rc:
                        raise SystemExit("producer failed:\n" + se)
                return load

            lat = []
            runs = [("single", 1)] + [("group%d" % int(n), int(n))
                                      for n in a.instances.split(",")]
            for name, n in runs:
                topic = "gb-%s-%s" % (name, tag)
                q = fresh_topic(topic)
                loader(topic)()
                app = None if name == "single" else "gb-%s-%s" % (tag, name)
                insts = start_group(a, tmp, bootstrap, q, app, n)
                secs, got, ms, summ = timed_catch_up(insts, "mstream_by_class_events_total",
                                                     n_task, a.timeout)
                if got != n_task:
                    log("%s: counted %s rows, want %d" % (name, got, n_task))
                    ok = False
                r = {"instances": n, "seconds": secs, "rows_per_s": n_task / secs}
                if app:
                    inb = sum(msum(m, "mstream_input_bytes_total") for m in ms)
                    rep = sum(m.get('mstream_group_produced_bytes_total{role="repartition"}', 0)
                              for m in ms)
                    cl = sum(m.get('mstream_group_produced_bytes_total{role="changelog"}', 0)
                             for m in ms)
                    r["ratio_to_single"] = res["single"]["seconds"] / secs
                    r["repartition_bytes_per_input_byte"] = rep / inb if inb else 0
                    r["changelog_bytes_per_input_byte"] = cl / inb if inb else 0
                    r["txn_ms"] = [{k: float(sm[k]) for k in
                                    ("txn_ms_p50", "txn_ms_p95", "txn_ms_p99", "txn_ms_max")
                                    if k in sm} for sm in summ]
                    log("%d instances: %.2f s, %.0f rows/s (%.2fx the single process), "
                        "repartition %.5f and changelog %.5f bytes per input byte"
                        % (n, secs, n_task / secs, r["ratio_to_single"],
                           r["repartition_bytes_per_input_byte"],
                           r["changelog_bytes_per_input_byte"]))
                else:
                    log("single process: %.2f s, %.0f rows/s" % (secs, n_task / secs))
                res[name] = r

            # Word count: one instance, then restore from the changelog.
            app = "gb-%s-words" % tag
            secs, got, ms, summ = group_run(a, tmp, bootstrap, wq, app, 1, n_words,
                                            "mstream_words_n_total", a.timeout)
            if got != n_words:
                log("word count: %s words, want %d" % (got, n_words))
                ok = False
            inb = msum(ms[0], "mstream_input_bytes_total")
            res["wordcount"] = {
                "seconds": secs, "words": n_words,
                "repartition_bytes_per_input_byte":
                    ms[0].get('mstream_group_produced_bytes_total{role="repartition"}', 0) / inb,
                "changelog_bytes_per_input_byte":
                    ms[0].get('mstream_group_produced_bytes_total{role="changelog"}', 0) / inb}
            shutil.rmtree(os.path.join(tmp, "%s-chk0" % app))
            x = Instance(a, tmp, app + "-restore",
                         ["--kafka", bootstrap, "--query", wq, "--application-id", app,
                          "--starting-offsets", "earliest", "--checkpoint-dir",
                          os.path.join(tmp, "%s-chk0" % app), "--trigger-sec", "0.5",
                          "--top-k", "1000000", "--metrics-addr", "127.0.0.1:0"])
            x.wait_port()
            end = time.monotonic() + a.timeout
            m = {}
            while time.monotonic() < end:
                m = metrics(x.port)
                if (m.get('mstream_group_tasks{state="active"}', 0) >= 4 and
                        m.get('mstream_group_tasks{state="restoring"}', 1) == 0):
                    break
                time.sleep(0.2)
            recs = m.get("mstream_group_restore_records_total", 0)
            rsecs = m.get("mstream_group_restore_seconds_total", 0)
            restored_total = msum(m, "mstream_words_n_total")
            x.stop()
            if restored_total != n_words:
                log("restored word count holds %s words, want %d" % (restored_total, n_words))
                ok = False
            res["restore"] = {"records": recs, "seconds": rsecs,
                              "records_per_s": recs / rsecs if rsecs else 0}
            log("word count: repartition %.4f, changelog %.4f bytes per input byte; restore %d "
                "records in %.2f s (%.0f records/s)" % (
                    res["wordcount"]["repartition_bytes_per_input_byte"],
                    res["wordcount"]["changelog_bytes_per_input_byte"], recs, rsecs,
                    res["restore"]["records_per_s"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("group mode, trace query (%s):" % ("checks passed" if ok else "CHECKS FAILED"))
    print("  %-12s %10s %12s %8s %14s %14s" % ("run", "seconds", "rows/s", "ratio",
                                               "repart B/in B", "changelog B/in B"))
    print("  %-12s %10.2f %12.0f %8s" % ("single", res["single"]["seconds"],
                                         res["single"]["rows_per_s"], "1.00"))
    for k in sorted(x for x in res if x.startswith("group")):
        r = res[k]
        print("  %-12s %10.2f %12.0f %7.2fx %14.4f %14.4f" % (
            k.replace("group", "") + " instances", r["seconds"], r["rows_per_s"],
            r["ratio_to_single"], r["repartition_bytes_per_input_byte"],
            r["changelog_bytes_per_input_byte"]))
        for i, t in enumerate(r["txn_ms"]):
            if t:
                print("      instance %d transaction commit ms: p50 %.1f p95 %.1f p99 %.1f max %.1f"
                      % (i, t.get("txn_ms_p50", 0), t.get("txn_ms_p95", 0),
                         t.get("txn_ms_p99", 0), t.get("txn_ms_max", 0)))
    if "wordcount" in res:
        print("word count: repartition %.4f, changelog %.4f bytes per input byte" % (
            res["wordcount"]["repartition_bytes_per_input_byte"],
            res["wordcount"]["changelog_bytes_per_input_byte"]))
    if "restore" in res:
        print("restore from the changelog: %d records in %.2f s, %.0f records/s" % (
            res["restore"]["records"], res["restore"]["seconds"],
            res["restore"]["records_per_s"]))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
