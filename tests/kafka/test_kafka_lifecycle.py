"""A topic deleted and created again under mstream (real broker).

mstream keeps, with each partition's position, a content marker of the
last message it read (ms_kafkasrc.h, "Topic lifecycle"): after a restart,
after the topic went missing, and every VERIFY_SEC while running, that
message is fetched again and compared.  A partition whose end is below
the position, or whose message at the marker's offset is another one, or
that is gone from a topic that exists, was re-created: with
--fail-on-data-loss true (the default) mstream exits 1 within
--kafka-timeout-sec plus a few seconds, naming topic and partition; with
false it reads the new partition from its earliest offset and says how
much it skipped (0 of the new partition).

Cases: re-created while stopped with more and with fewer messages than the
committed offset, with fewer partitions, and while running.  The oracle is
computed from the rows this script sends (kcat to explicit partitions).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkatest as kt  # noqa: E402
import kwtest as kw  # noqa: E402
import mstest  # noqa: E402

from test_engine_kafka import t_topics  # noqa: E402

EXIT_BOUND = 30  # seconds (scaled) within which a failing mstream must be gone


def _rows(t, n, seed):
    trace = kw.tracegen(t, "trace-%d" % seed, "--days", "1", "--jobs", "60", "--seed", str(seed))
    lines = kt.table_lines(os.path.join(trace, "task_events"))
    assert len(lines) >= n, len(lines)
    return [l.encode() for l in lines[:n]]


def _want(*row_lists):
    want = {kw.TASK_Q: {}, kw.JOB_Q: {}}
    for rows in row_lists:
        for l in rows:
            k = kw._cls_type(l.decode(), 7, 5)
            want[kw.TASK_Q][k] = want[kw.TASK_Q].get(k, 0) + 1
    return want


def _send(t, b, topic, rows, partition):
    kw.kcat_lines(t, b, topic, rows, "-p", str(partition))


def _run_exit(t, b, chk, *args, expect):
    ms = kw.kafka_mstream(t, b, chk, *args)
    ms.start(wait="serving")
    rc = ms.wait_exit(EXIT_BOUND)
    assert rc == expect, "exit %s, expected %s\n%s" % (rc, expect, ms.describe())
    return ms


def _final(t, b, chk, q, want):
    ms = kw.kafka_mstream(t, b, chk, "--query", q)
    ms.start()
    kw.wait_results(ms, want, timeout=60, settle=0)
    assert ms.term() == 0


def _recreated_while_stopped(t, new_count):
    b = kt.broker().bootstrap
    tt, jt = t_topics(t)
    q = kw.cluster_query(t, tt, jt)
    chk = os.path.join(t.dir, "chk")
    args = ("--query", q, "--starting-offsets", "earliest", "--available-now")
    old = _rows(t, 40, 51)
    new = _rows(t, new_count, 52)
    kw.create_topic(t, b, tt, 2)
    _send(t, b, tt, old, 0)
    ms = _run_exit(t, b, chk, *args, expect=0)
    assert ms.query_summary()[kw.TASK_Q]["rows_aggregated"] == "40"

    kw.delete_topic(t, b, tt)
    kw.create_topic(t, b, tt, 2)
    _send(t, b, tt, new, 0)
    ms = _run_exit(t, b, chk, *args, expect=1)
    err = ms.stderr()
    assert ("kafka topic %s partition 0 was deleted and created again" % tt) in err, err
    assert "--fail-on-data-loss false" in err, err

    ms = _run_exit(t, b, chk, *args, "--fail-on-data-loss", "false", expect=0)
    err = ms.stderr()
    assert "DATA LOSS" in err and "0 of its messages skipped" in err, err
    s = ms.summary()
    assert s["kafka_data_loss_events"] == "1" and s["kafka_offsets_lost"] == "0", s
    # the new messages, after the 40 the checkpoint counted
    assert ms.query_summary()[kw.TASK_Q]["rows_aggregated"] == str(40 + new_count)
    _final(t, b, chk, q, _want(old, new))


def test_recreated_while_stopped_more_messages(t):
    """60 messages in the new partition 0, more than the 40 read: only the
    marker tells the partitions apart."""
    _recreated_while_stopped(t, 60)


def test_recreated_while_stopped_fewer_messages(t):
    """10 messages in the new partition 0, fewer than the 40 read."""
    _recreated_while_stopped(t, 10)


def test_recreated_with_fewer_partitions(t):
    b = kt.broker().bootstrap
    tt, jt = t_topics(t)
    q = kw.cluster_query(t, tt, jt)
    chk = os.path.join(t.dir, "chk")
    args = ("--query", q, "--starting-offsets", "earliest", "--available-now")
    rows = _rows(t, 60, 53)
    kw.create_topic(t, b, tt, 3)
    _send(t, b, tt, rows[:20], 0)
    _send(t, b, tt, rows[20:40], 2)
    _run_exit(t, b, chk, *args, expect=0)

    kw.delete_topic(t, b, tt)
    kw.create_topic(t, b, tt, 1)
    _send(t, b, tt, rows[40:], 0)
    ms = _run_exit(t, b, chk, *args, expect=1)
    err = ms.stderr()
    assert ("kafka topic %s has no partition 2 any more" % tt) in err or \
        ("kafka topic %s partition 0 was deleted and created again" % tt) in err, err

    ms = _run_exit(t, b, chk, *args, "--fail-on-data-loss", "false", expect=0)
    err = ms.stderr()
    assert ("kafka topic %s has no partition 2 any more" % tt) in err, err
    assert ("kafka topic %s partition 0 was deleted and created again" % tt) in err, err
    # 20 new messages after the 40 the checkpoint counted
    assert ms.query_summary()[kw.TASK_Q]["rows_aggregated"] == "60"
    _final(t, b, chk, q, _want(rows))


def test_recreated_while_running(t):
    """mstream keeps running while the topic is deleted and created again
    with more messages: by default it exits 1 within the bound (it used to
    log the failure and then hang in librdkafka's shutdown); with
    --fail-on-data-loss false it reads the new partition from its start."""
    b = kt.broker().bootstrap
    old = _rows(t, 30, 54)
    new = _rows(t, 70, 55)
    for fail in ("true", "false"):
        tt, jt = t_topics(t)
        q = kw.cluster_query(t, tt, jt)
        chk = os.path.join(t.dir, "chk-" + fail)
        kw.create_topic(t, b, tt, 2)
        _send(t, b, tt, old, 1)
        ms = kw.kafka_mstream(t, b, chk, "--query", q, "--starting-offsets", "earliest",
                              "--trigger-sec", "0.2", "--fail-on-data-loss", fail,
                              "--kafka-timeout-sec", "3")
        ms.start()
        kw.wait_results(ms, _want(old), timeout=60, settle=0)
        kw.delete_topic(t, b, tt)
        kw.create_topic(t, b, tt, 2)
        _send(t, b, tt, new, 1)
        if fail == "true":
            rc = ms.wait_exit(EXIT_BOUND)
            assert rc == 1, ms.describe()
            assert ("kafka topic %s partition 1 was deleted and created again" % tt) in \
                ms.stderr(), ms.describe()
        else:
            kw.wait_results(ms, _want(old, new), timeout=60, settle=1.0)
            m = ms.metrics()
            assert m.get("mstream_kafka_data_loss_events_total", source="kafka") >= 1
            assert m.get("mstream_kafka_offsets_lost_total", source="kafka") == 0
            assert "0 of its messages skipped" in ms.stderr()
            assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
