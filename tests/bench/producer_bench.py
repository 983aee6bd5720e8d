#!/usr/bin/env python3
"""Producer throughput benchmark (not a test): `producer --no-pacing` loading a
generated trace into a real Kafka broker, next to `kcat -P` loading the same
keyed lines in the same run, as a baseline.  Prints messages/s and MB/s of
both and the ratio producer/kcat.

    tests/bench/producer_bench.py --producer build/producers/producer \
        --tracegen build/producers/ms_tracegen [--jobs 40000] [--days 5] [--runs 3]

The broker: the one named by $MS_KAFKA_STATE (the ctest fixture's), else a
private one started with tests/kafka/kafka_broker.sh and stopped at the end.
Both sides use the same librdkafka settings (idempotence on, linger.ms=5,
murmur2 partitioner) and deliver to fresh topics; every run is checked to have
delivered every message.  MB/s counts key + value bytes.  The producer does
more work than kcat (gunzip, parse, merge of two tables); kcat reads
pre-merged plain "key<TAB>line" files.
"""
import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kafka"))
import kafkatest as kt  # noqa: E402  (BenchBroker)

PROPS = ["enable.idempotence=true", "linger.ms=5", "partitioner=murmur2_random"]


def sh(argv, timeout=900, **kw):
    return subprocess.run(argv, stdin=kw.pop("stdin", subprocess.DEVNULL), capture_output=True,
                          timeout=timeout, **kw)


def table(d):
    lines = []
    for n in sorted(os.listdir(d)):
        with (gzip.open if n.endswith(".gz") else open)(os.path.join(d, n), "rb") as f:
            lines += f.read().split(b"\n")[:-1]
    return lines


def count(bootstrap, topic):
    r = sh(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%o\n"])
    if r.returncode != 0:
        raise SystemExit("kcat -C %s failed: %s" % (topic, r.stderr.decode()))
    return r.stdout.count(b"\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--producer", required=True)
    ap.add_argument("--tracegen", required=True)
    ap.add_argument("--jobs", type=int, default=40000)
    ap.add_argument("--days", type=float, default=5)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    for tool in ("kcat",):
        if not shutil.which(tool):
            raise SystemExit("%s is not installed (Debian package kcat)" % tool)
    tmp = tempfile.mkdtemp(prefix="producer-bench-")
    try:
        with kt.BenchBroker(tmp) as bootstrap:
            bench(a, tmp, bootstrap)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(a, tmp, bootstrap):
    trace = os.path.join(tmp, "trace")
    r = sh([a.tracegen, "--out", trace, "--days", str(a.days), "--jobs", str(a.jobs),
            "--seed", "1"])
    if r.returncode != 0:
        raise SystemExit("ms_tracegen failed: " + r.stderr.decode())
    print(r.stdout.decode().strip())
    inputs = {}
    nbytes = 0
    for name in ("task_events", "job_events"):
        lines = table(os.path.join(trace, name))
        path = os.path.join(tmp, name + ".kv")
        with open(path, "wb") as f:
            for l in lines:
                k = l.split(b",")[2]
                f.write(k + b"\t" + l + b"\n")
                nbytes += len(k) + len(l)
        inputs[name] = (path, len(lines))
    nmsg = sum(n for _, n in inputs.values())
    tag = "%d-%d" % (os.getpid(), int(time.time()))
    # Warm-up: topic metadata and the idempotent producer id are ready.
    sh([a.producer, "--brokers", bootstrap, "--task-events", os.path.join(trace, "task_events"),
        "--task-topic", "bench-warmup-" + tag, "--no-pacing", "--limit", "1000",
        "--progress-sec", "0"])
    res = {"producer": [], "kcat": []}
    for run in range(a.runs):
        tt, jt = "bench-p-task-%s-%d" % (tag, run), "bench-p-job-%s-%d" % (tag, run)
        t0 = time.monotonic()
        r = sh([a.producer, "--brokers", bootstrap,
                "--task-events", os.path.join(trace, "task_events"),
                "--job-events", os.path.join(trace, "job_events"),
                "--task-topic", tt, "--job-topic", jt, "--no-pacing", "--progress-sec", "0"]
               + sum([["-X", p] for p in PROPS], []))
        el = time.monotonic() - t0
        if r.returncode != 0:
            raise SystemExit("producer failed:\n" + r.stderr.decode()[-2000:])
        got = count(bootstrap, tt) + count(bootstrap, jt)
        if got != nmsg:
            raise SystemExit("producer delivered %d of %d messages" % (got, nmsg))
        res["producer"].append(el)
        el = 0.0
        got = 0
        for name, topic in (("task_events", "bench-k-task-%s-%d" % (tag, run)),
                            ("job_events", "bench-k-job-%s-%d" % (tag, run))):
            with open(inputs[name][0], "rb") as f:
                t0 = time.monotonic()
                r = sh(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"]
                       + sum([["-X", p] for p in PROPS], []), stdin=f)
                el += time.monotonic() - t0
            if r.returncode != 0:
                raise SystemExit("kcat -P failed:\n" + r.stderr.decode()[-2000:])
            got += count(bootstrap, topic)
        if got != nmsg:
            raise SystemExit("kcat delivered %d of %d messages" % (got, nmsg))
        res["kcat"].append(el)
    print("%d messages, %.1f MB (key + value), best of %d run(s), broker %s"
          % (nmsg, nbytes / 1e6, a.runs, bootstrap))
    print("%-10s %10s %12s %8s" % ("loader", "seconds", "messages/s", "MB/s"))
    best = {}
    for k in ("producer", "kcat"):
        best[k] = min(res[k])
        print("%-10s %10.2f %12.0f %8.1f" % (k, best[k], nmsg / best[k], nbytes / 1e6 / best[k]))
    print("ratio producer/kcat (messages/s): %.2f" % (best["kcat"] / best["producer"]))


if __name__ == "__main__":
    main()
