"""mstream over Kafka, end to end, against the real broker of the ctest
fixture `kafka`.

  generated trace -> producer -> Kafka -> mstream --kafka ... -> /api/v1/results
                                                              == oracle(trace files)

Run: ctest --test-dir build -R kafka.engine --output-on-failure
(or by hand: MS_KAFKA_STATE=... MS_PRODUCER_BIN=... MS_TRACEGEN_BIN=...
 python3 test_engine_kafka.py --mstream build/mstream [-k NAME]).
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkatest as kt  # noqa: E402
import kwtest as kw  # noqa: E402
import mstest  # noqa: E402


def test_cluster_events_available_now(t):
    """The shipped query by name (its topics task-events and job-events), a
    fresh trace produced, --available-now: exit 0 with every event counted
    once; a restart serves the same results from the checkpoint and reads
    nothing again."""
    b = kt.broker().bootstrap
    trace = kw.tracegen(t, "trace", "--days", "2", "--jobs", "400", "--seed", "7")
    # Other runs against a reused broker may have filled these topics: start
    # at their current ends (Spark's JSON form of --starting-offsets).
    starts = {tp: {str(p): o for p, o in kw.topic_ends(b, tp).items()}
              for tp in ("task-events", "job-events")}
    s = kw.produce(t, b, trace, "task-events", "job-events", "--no-pacing")
    oracle = kw.cluster_oracle(trace)
    total = sum(sum(c.values()) for c in oracle.values())
    assert int(s["delivered"]) == total, (s, total)

    chk = os.path.join(t.dir, "chk")
    ms = kw.kafka_mstream(t, b, chk, "--query", "cluster_events", "--available-now",
                          "--starting-offsets", json.dumps(starts),
                          "--max-offsets-per-trigger", "1000")
    ms.start(wait="serving")
    rc = ms.wait_exit(120)
    assert rc == 0, "available-now run exited %d\n%s" % (rc, ms.describe())
    summ = ms.summary()
    assert int(summ["input_rows"]) == total, summ
    assert int(summ["batches"]) >= total // 1000, summ       # the cap split the work
    assert summ["kafka_lag"] == "0", summ
    qs = ms.query_summary()
    for q, want in oracle.items():
        assert int(qs[q]["rows_aggregated"]) == sum(want.values()), (q, qs[q])

    # The results, from the checkpoint, in a run that keeps serving.
    ms2 = kw.kafka_mstream(t, b, chk, "--query", "cluster_events", "--trigger-sec", "0.2")
    ms2.start()
    kw.wait_results(ms2, oracle, timeout=30)
    m = ms2.metrics()
    for tp in ("task-events", "job-events"):
        for p in range(4):
            lag = m.get("mstream_kafka_partition_lag", topic=tp, partition=str(p))
            assert lag == 0, (tp, p, lag)
            off = m.get("mstream_kafka_partition_offset", topic=tp, partition=str(p))
            hw = m.get("mstream_kafka_partition_high_watermark", topic=tp, partition=str(p))
            assert off is not None and off == hw, (tp, p, off, hw)
    assert m.get("mstream_input_rows_total", source="kafka") == 0   # nothing read again
    assert ms2.term() == 0
    assert ms2.summary()["input_rows"] == "0"


def test_streaming_while_producing(t):
    """mstream running first, the producer pacing a trace into it: the
    results reach the oracle exactly; lag ends at 0 on every partition and
    the input counters hold every message once."""
    b = kt.broker().bootstrap
    tt, jt = t_topics(t)
    trace = kw.tracegen(t, "trace", "--days", "3", "--jobs", "300", "--seed", "11")
    oracle = kw.cluster_oracle(trace)
    total = sum(sum(c.values()) for c in oracle.values())
    q = kw.cluster_query(t, tt, jt)
    ms = kw.kafka_mstream(t, b, os.path.join(t.dir, "chk"), "--query", q,
                          "--starting-offsets", "earliest", "--trigger-sec", "0")
    ms.start()
    # 3 days at 3 days / 2 s: paced, so batches see the topics grow.
    kw.produce(t, b, trace, tt, jt, "--speed-factor", str(3 * 86400 // 2))
    kw.wait_results(ms, oracle, timeout=60)

    def settled(m):
        return (m.get("mstream_input_rows_total", source="kafka") == total and
                m.sum("mstream_kafka_partition_lag") == 0)
    m = ms.wait_metric(settled, "every message counted once and no lag")
    lags = m.series("mstream_kafka_partition_lag")
    assert {l["topic"] for l, _ in lags} == {tt, jt}, lags
    assert len(lags) == 8, lags                     # 4 partitions each
    assert m.sum("mstream_kafka_partition_offset") == total
    assert m.get("mstream_kafka_partitions", source="kafka") == 8
    assert m.get("mstream_kafka_data_loss_events_total", source="kafka") == 0
    assert m.get("mstream_batches_total") >= 2, "paced input should take several batches"
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (Debian package prometheus)"
    r = subprocess.run([promtool, "check", "metrics"], input=m.text.encode(),
                       capture_output=True, timeout=mstest.scaled(60))
    assert r.returncode == 0, "promtool check metrics:\n%s" % (r.stdout + r.stderr).decode()
    st = ms.status()
    assert st["source"].startswith("KafkaSource[") and st["inputDir"] is None, st["source"]
    last = st["recentProgress"][-1]["sources"][0]
    assert "partitions" in last and "numPartitions" in last, last
    for r in last["partitions"]:
        assert r["topic"] in (tt, jt) and r["startOffset"] <= r["endOffset"], r
    assert ms.term() == 0


def test_lag_per_partition(t):
    """Lag is exact: with --max-offsets-per-trigger 1 and one batch per
    hour, after the first batch the lag summed over the partitions is the
    number of messages minus one, and each partition's lag is its high
    watermark minus its committed offset."""
    b = kt.broker().bootstrap
    tt, jt = t_topics(t)
    trace = kw.tracegen(t, "trace", "--days", "1", "--jobs", "60", "--seed", "3")
    total = int(kw.produce(t, b, trace, tt, jt, "--no-pacing")["delivered"])
    ms = kw.kafka_mstream(t, b, os.path.join(t.dir, "chk"), "--query", kw.cluster_query(t, tt, jt),
                          "--starting-offsets", "earliest", "--trigger-sec", "3600",
                          "--max-offsets-per-trigger", "1")
    ms.start()
    m = ms.wait_metric(lambda m: m.get("mstream_last_committed_batch_id") == 0,
                       "the first batch committed")
    assert m.get("mstream_input_rows_total", source="kafka") == 1
    assert m.sum("mstream_kafka_partition_lag") == total - 1, m.sum("mstream_kafka_partition_lag")
    for labels, lag in m.series("mstream_kafka_partition_lag"):
        hw = m.get("mstream_kafka_partition_high_watermark", **labels)
        off = m.get("mstream_kafka_partition_offset", **labels)
        assert lag == hw - off, (labels, lag, hw, off)
    ends = {}
    for tp in (tt, jt):
        for p, o in kw.topic_ends(b, tp).items():
            ends[(tp, str(p))] = o
    for labels, hw in m.series("mstream_kafka_partition_high_watermark"):
        assert hw == ends[(labels["topic"], labels["partition"])], (labels, hw)
    assert ms.term() == 0


def test_kcat_messages_and_malformed(t):
    """Messages written with kcat -P are counted like the producer's;
    malformed ones are dropped and counted by reason, never a crash: wrong
    column count, non-numeric fields, empty, binary, a 1 MB message."""
    b = kt.broker().bootstrap
    tt, jt = t_topics(t)
    trace = kw.tracegen(t, "trace", "--days", "1", "--jobs", "80", "--seed", "5")
    good_task = kt.table_lines(os.path.join(trace, "task_events"))
    good_job = kt.table_lines(os.path.join(trace, "job_events"))
    kw.kcat_lines(t, b, tt, [l.encode() for l in good_task])
    kw.kcat_lines(t, b, jt, [l.encode() for l in good_job])
    bad = {
        "wrong_column_count": [b"1,2,3", b"0,,1,0,,1,u,2,0,0.1,0.1,0.1,0,extra"],
        "bad_number": [b"0,,6250913048,0,,x,u,2,0,0.0625,0.06,7e-05,0",
                       b"0,,6250913048,0,,0,u,two,0,0.0625,0.06,7e-05,0"],
        "empty_record": [b"", None],
        "binary": [b"0,,6250913048,0,,0,u\x00,2,0,0.0625,0.06,7e-05,0", b"\x00" * 100],
        "line_too_long": [b"1" * 1000000],
    }
    kw.kcat_files(t, b, tt, [p for v in bad.values() for p in v if p],
                  "-X", "message.max.bytes=1100000")
    # Columns the query does not read are not parsed (column pruning): a
    # bad time or CPU request still counts, by class and type.
    pruned = [b"x,,6250913048,0,,0,u,2,0,lots,0.06,7e-05,0"]
    kw.kcat_lines(t, b, tt, pruned)
    good_task = good_task + [l.decode() for l in pruned]
    kw.kcat_keyed(t, b, tt, [(b"k1", b"")])            # an empty value
    kw.kcat_keyed(t, b, tt, [(b"k2", b"")], "-Z")      # a NULL value (tombstone)
    oracle = {kw.TASK_Q: {}, kw.JOB_Q: {}}
    for q, lines, cls, typ in ((kw.TASK_Q, good_task, 7, 5), (kw.JOB_Q, good_job, 5, 3)):
        for l in lines:
            k = kw._cls_type(l, cls, typ)
            oracle[q][k] = oracle[q].get(k, 0) + 1
    ms = kw.kafka_mstream(t, b, os.path.join(t.dir, "chk"), "--query", kw.cluster_query(t, tt, jt),
                          "--starting-offsets", "earliest", "--max-record-bytes", "900K")
    ms.start()
    kw.wait_results(ms, oracle, timeout=60)
    m = ms.metrics()
    for reason, msgs in bad.items():
        got = m.get("mstream_malformed_rows_total", query=kw.TASK_Q, reason=reason)
        assert got == len(msgs), (reason, got, len(msgs))
        assert m.get("mstream_malformed_rows_total", query=kw.JOB_Q, reason=reason) == 0
    n_bad = sum(len(v) for v in bad.values())
    assert m.get("mstream_input_rows_total", source="kafka") == len(good_task) + len(good_job) + n_bad
    assert ms.alive()
    assert ms.term() == 0


def test_source_bound_to_checkpoint(t):
    """A checkpoint records its source: a directory checkpoint is refused for
    Kafka, a Kafka checkpoint for a directory and for other topics (exit 2,
    a message naming both); the same topics in another order are accepted."""
    b = kt.broker().bootstrap
    in_dir, chk = t.dirs()
    d = t.mstream(in_dir, chk, "--available-now")
    d.start(wait="serving")
    assert d.wait_exit() == 0
    k = kw.kafka_mstream(t, b, chk, "--topics", "a1", "--available-now")
    k.start(wait=None)
    assert k.wait_exit() == 2, k.describe()
    assert "holds the positions and state of a directory" in k.stderr(), k.describe()

    tt, jt = t_topics(t)
    chk2 = os.path.join(t.dir, "chk-kafka")
    k = kw.kafka_mstream(t, b, chk2, "--topics", "%s,%s" % (tt, jt), "--available-now")
    k.start(wait="serving")
    assert k.wait_exit() == 0, k.describe()
    k = kw.kafka_mstream(t, b, chk2, "--topics", "%s,%s" % (jt, tt), "--available-now")
    k.start(wait="serving")
    assert k.wait_exit() == 0, k.describe()
    k = kw.kafka_mstream(t, b, chk2, "--topics", tt, "--available-now")
    k.start(wait=None)
    assert k.wait_exit() == 2, k.describe()
    assert "Kafka topics %s" % ",".join(sorted([tt, jt])) in k.stderr(), k.describe()
    d = t.mstream(t.mkdir("in-other"), chk2, "--available-now")
    d.start(wait=None)
    assert d.wait_exit() == 2, d.describe()
    assert "this run reads a directory" in d.stderr(), d.describe()


def test_usage_errors(t):
    """Bad Kafka command lines exit 2 with a sentence (the flags, the topics,
    the starting offsets and -X properties)."""
    b = kt.broker().bootstrap
    cases = [
        (["--kafka", b, "--input-dir", t.dir], "cannot be used together"),
        (["--kafka", b], "query wordcount has no TOPIC"),
        (["--kafka", b, "--topics", "bad topic!"], "is not a Kafka topic name"),
        (["--kafka", b, "--query", "cluster_events", "--topics", "task-events"],
         "reads topic 'job-events', which --topics does not name"),
        (["--kafka", b, "--topics", "x", "--starting-offsets", "{\"x\":"], "starting offsets"),
        (["--kafka", b, "--topics", "x", "--starting-offsets", "{\"y\":{\"0\":1}}"],
         "names topic 'y', which is not read"),
        (["--kafka", b, "--topics", "x", "-X", "no.such.property=1"], "no.such.property"),
        (["--kafka", b, "--topics", "x", "-X", "novalue"], "-X takes key=value"),
        (["--kafka", b, "--topics", "x", "--max-files-per-trigger", "3"],
         "applies to the directory source only"),
        (["--input-dir", t.dir, "--topics", "x"], "applies to the Kafka source only"),
        (["--kafka", b, "--topics", "x,,y"], "empty topic name"),
    ]
    for i, (args, needle) in enumerate(cases):
        chk = os.path.join(t.dir, "chk-usage-%d" % i)
        ms = t.raw(args + ["--checkpoint-dir", chk, "--metrics-addr", "127.0.0.1:0"])
        ms.start(wait=None)
        rc = ms.wait_exit()
        err = ms.stderr()
        assert rc == 2, "%r exited %d, expected 2\n%s" % (args, rc, err)
        assert needle.lower() in err.lower(), "%r: %r not in:\n%s" % (args, needle, err)
        assert "Traceback" not in err and "AddressSanitizer" not in err, err


def t_topics(t):
    """Topic names of this test only (task, job)."""
    seq = getattr(t, "_kw_seq", 0) + 1
    t._kw_seq = seq
    base = "%s-%d-%d-%d" % (t.name.replace("_", "-"), os.getpid(), int(mstest.time.time() * 1000) % 10 ** 6, seq)
    return "te-" + base, "je-" + base


if __name__ == "__main__":
    mstest.run(globals())
