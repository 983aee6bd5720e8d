"""Fault tests of mstream over Kafka, against the real broker of the ctest
fixture `kafka`: kill -9 loops while the producer runs, the broker
restarted mid-stream, and SIGTERM while the broker is down.  The final
results must equal the oracle computed from the generated trace files:
nothing lost, nothing counted twice.

Run: ctest --test-dir build -R kafka.faults --output-on-failure
(MSTEST_SEED=N replays one random schedule of kills).
"""
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkatest as kt  # noqa: E402
import kwtest as kw  # noqa: E402
import mstest  # noqa: E402

from test_engine_kafka import t_topics  # noqa: E402


def _merge(*oracles):
    out = {}
    for o in oracles:
        for q, c in o.items():
            d = out.setdefault(q, {})
            for k, v in c.items():
                d[k] = d.get(k, 0) + v
    return out


def test_crash_loop_while_producing(t):
    """Random SIGKILLs (during recovery, planning, reading, committing) and
    failpoint kills right after the plan is persisted, after the input is
    read and after the commit, while the producer writes: the last run's
    results equal the oracle, and plans persisted before a kill were re-run
    as planned."""
    seed = int(os.environ.get("MSTEST_SEED", str(int(time.time()) % 100000)))
    rnd = random.Random(seed)
    print("crash loop seed %d (MSTEST_SEED=%d to replay)" % (seed, seed), flush=True)
    b = kt.broker().bootstrap
    tt, jt = t_topics(t)
    trace = kw.tracegen(t, "trace", "--days", "4", "--jobs", "700", "--seed", "21")
    oracle = kw.cluster_oracle(trace)
    total = sum(sum(c.values()) for c in oracle.values())
    q = kw.cluster_query(t, tt, jt)
    chk = os.path.join(t.dir, "chk")
    ms = kw.kafka_mstream(t, b, chk, "--query", q, "--starting-offsets", "earliest",
                          "--trigger-sec", "0", "--max-offsets-per-trigger", "400")
    # The producer sends for about 6 s (scaled), while mstream is killed.
    rate = max(200, int(total / mstest.scaled(6)))
    prod = kw.spawn_producer(t, b, trace, tt, jt, "--rate", str(rate))
    failpoints = ["after_plan", "after_read", "after_commit", "after_plan:2", "after_commit:3"]
    kills = fp_kills = 0
    replays = 0
    rounds = 0
    while (prod.poll() is None or rounds < 10) and rounds < 60:
        rounds += 1
        if failpoints and rnd.random() < 0.4:
            fp = failpoints.pop(0)
            ms.start(wait=None, env={"MSTREAM_FAILPOINT": fp})
            try:
                rc = ms.proc.wait(timeout=mstest.scaled(20))
            except Exception:
                rc = ms.kill9()          # no batch reached it (nothing to read yet)
            assert rc == -signal.SIGKILL, "failpoint %s: exit %s\n%s" % (fp, rc, ms.describe())
            fp_kills += 1
        else:
            ms.start(wait=rnd.choice([None, "serving", "ready"]))
            time.sleep(rnd.uniform(0.05, 0.8) * mstest.SCALE)
            assert ms.alive(), "mstream died on its own\n%s" % ms.describe()
            ms.kill9()
            kills += 1
        replays += ms.stderr().count("re-running batch")
    rc = prod.wait(timeout=mstest.scaled(120))
    assert rc == 0, "producer exited %d" % rc
    ms.start()
    replays += ms.stderr().count("re-running batch")
    kw.wait_results(ms, oracle, timeout=120)
    m = ms.wait_metric(lambda m: m.sum("mstream_kafka_partition_lag") == 0, "no lag left")
    assert m.sum("mstream_kafka_partition_offset") == total
    print("crash loop: %d rounds, %d SIGKILLs, %d failpoint kills, %d plans re-run"
          % (rounds, kills, fp_kills, replays), flush=True)
    assert kills >= 5, kills
    assert replays >= 1, "no persisted plan was re-run (after_plan kills: %d)" % fp_kills
    assert ms.term() == 0


def test_broker_restart_mid_stream(t):
    """The broker is stopped and started again (same data, same port) while
    the producer writes and mstream reads: mstream keeps running, counts the
    errors it survived, and ends with exactly the oracle of both traces."""
    br = kt.broker()
    b = br.bootstrap
    tt, jt = t_topics(t)
    tr1 = kw.tracegen(t, "trace1", "--days", "1", "--jobs", "200", "--seed", "31")
    tr2 = kw.tracegen(t, "trace2", "--days", "2", "--jobs", "300", "--seed", "32")
    o1 = kw.cluster_oracle(tr1)
    both = _merge(o1, kw.cluster_oracle(tr2))
    q = kw.cluster_query(t, tt, jt)
    ms = kw.kafka_mstream(t, b, os.path.join(t.dir, "chk"), "--query", q,
                          "--starting-offsets", "earliest", "--trigger-sec", "0.2",
                          "--kafka-timeout-sec", "2")
    ms.start()
    kw.produce(t, b, tr1, tt, jt, "--no-pacing")
    kw.wait_results(ms, o1, timeout=60, settle=0)

    prod = kw.spawn_producer(t, b, tr2, tt, jt, "--speed-factor", str(2 * 86400 // 6))
    time.sleep(1.0)
    br.stop_keep()
    time.sleep(2.0)                          # mstream plans against a dead broker
    ms.check_alive()
    br.start_reuse()
    rc = prod.wait(timeout=mstest.scaled(180))
    assert rc == 0, "producer exited %d (see %s)" % (rc, prod.err_path)
    kw.wait_results(ms, both, timeout=120)
    m = ms.metrics()
    survived = (m.get("mstream_kafka_transient_errors_total", source="kafka") +
                m.get("mstream_kafka_watermark_failures_total", source="kafka"))
    assert survived > 0, "the broker was down, yet no error was counted"
    assert m.get("mstream_kafka_data_loss_events_total", source="kafka") == 0
    assert m.sum("mstream_kafka_partition_lag") == 0
    assert ms.term() == 0


def test_sigterm_while_broker_down(t):
    """SIGTERM while the broker is down and --kafka-timeout-sec is 300: the
    plan waiting for the broker is interrupted, mstream exits 0 within 60 s
    saying it stopped on a signal, with its last committed batch, and
    persists nothing of the interrupted plan.  With the broker back, a
    restart on the same checkpoint resumes after that batch and reads
    exactly the messages not yet counted: the results equal the oracle."""
    br = kt.broker()
    b = br.bootstrap
    tt, jt = t_topics(t)
    tr1 = kw.tracegen(t, "trace1", "--days", "1", "--jobs", "100", "--seed", "51")
    tr2 = kw.tracegen(t, "trace2", "--days", "1", "--jobs", "100", "--seed", "52")
    o1, o2 = kw.cluster_oracle(tr1), kw.cluster_oracle(tr2)
    n2 = sum(sum(c.values()) for c in o2.values())
    q = kw.cluster_query(t, tt, jt)
    chk = os.path.join(t.dir, "chk")
    ms = kw.kafka_mstream(t, b, chk, "--query", q, "--starting-offsets", "earliest",
                          "--trigger-sec", "0.2", "--kafka-timeout-sec", "300")
    ms.start()
    kw.produce(t, b, tr1, tt, jt, "--no-pacing")
    kw.wait_results(ms, o1, timeout=60, settle=0)
    last = int(ms.metrics().get("mstream_last_committed_batch_id"))
    assert last >= 0, last

    with br.down():
        # Plans now wait for the broker (up to 300 s per query before).
        time.sleep(3.0)
        ms.check_alive()
        t0 = time.monotonic()
        ms.proc.send_signal(signal.SIGTERM)
        try:
            rc = ms.proc.wait(timeout=60)
        except Exception:
            raise AssertionError("mstream did not exit within 60 s of SIGTERM while the "
                                 "broker was down\n%s" % ms.describe())
        took = time.monotonic() - t0
        print("SIGTERM with the broker down: exit %d after %.1fs" % (rc, took), flush=True)
        assert rc == 0, "exit %d\n%s" % (rc, ms.describe())
        err = ms.stderr()
        assert "stopped on signal; last committed batch %d" % last in err, ms.describe()
        assert "planning failed" not in err, ms.describe()

    kw.produce(t, b, tr2, tt, jt, "--no-pacing")
    ms.start()
    err = ms.stderr()
    assert "last committed batch %d," % last in err, ms.describe()
    assert "re-running batch" not in err, "the interrupted plan was persisted\n" + ms.describe()
    kw.wait_results(ms, _merge(o1, o2), timeout=120)
    m = ms.metrics()
    assert m.get("mstream_input_rows_total", source="kafka") == n2   # nothing read twice
    assert m.get("mstream_kafka_data_loss_events_total", source="kafka") == 0
    assert ms.term() == 0


def test_data_loss_rule(t):
    """Offsets deleted from the broker before mstream read them (retention
    while it was down): by default the query stops (exit 1) with a message
    naming the topic, partition and offsets, and nothing is committed; with
    --fail-on-data-loss false it logs, counts the lost offsets and counts
    exactly the messages still there."""
    b = kt.broker().bootstrap
    tt, jt = t_topics(t)
    trace = kw.tracegen(t, "trace", "--days", "1", "--jobs", "40", "--seed", "41")
    lines = kt.table_lines(os.path.join(trace, "task_events"))[:80]
    assert len(lines) == 80
    q = kw.cluster_query(t, tt, jt)
    chk = os.path.join(t.dir, "chk")
    args = ("--query", q, "--starting-offsets", "earliest", "--available-now")

    kw.kcat_lines(t, b, tt, [l.encode() for l in lines[:40]], "-p", "0")
    ms = kw.kafka_mstream(t, b, chk, *args)
    ms.start(wait="serving")
    assert ms.wait_exit(60) == 0, ms.describe()
    assert ms.query_summary()[kw.TASK_Q]["rows_aggregated"] == "40"

    # While mstream is down: 40 more messages, then offsets 40..59 deleted.
    kw.kcat_lines(t, b, tt, [l.encode() for l in lines[40:]], "-p", "0")
    assert kw.delete_records(t, b, tt, 0, 60) == 60
    ms = kw.kafka_mstream(t, b, chk, *args)
    ms.start(wait="serving")
    assert ms.wait_exit(60) == 1, ms.describe()
    err = ms.stderr()
    assert "partition 0: offsets 40..59 are no longer in the broker" in err, err
    assert tt in err and "--fail-on-data-loss false" in err, err

    ms = kw.kafka_mstream(t, b, chk, *args, "--fail-on-data-loss", "false")
    ms.start(wait="serving")
    assert ms.wait_exit(60) == 0, ms.describe()
    s = ms.summary()
    assert s["kafka_data_loss_events"] == "1" and s["kafka_offsets_lost"] == "20", s
    # 20 more: the statement's counters go on from the checkpoint's 40
    assert ms.query_summary()[kw.TASK_Q]["rows_aggregated"] == "60"
    assert "DATA LOSS" in ms.stderr()

    # The state holds the 40 + 20 messages read, each once.
    want = {kw.TASK_Q: {}, kw.JOB_Q: {}}
    for l in lines[:40] + lines[60:]:
        k = kw._cls_type(l, 7, 5)
        want[kw.TASK_Q][k] = want[kw.TASK_Q].get(k, 0) + 1
    ms = kw.kafka_mstream(t, b, chk, "--query", q)
    ms.start()
    kw.wait_results(ms, want, timeout=30, settle=0)
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
