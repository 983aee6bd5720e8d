"""Producer pacing against the real broker (docs/design.md §5).

A generated trace spanning 5 days of trace time replays in about 1 s at
--speed-factor 432000 and about 10 s at 43200.  Besides the total, every
message's Kafka timestamp (CreateTime, taken by librdkafka when the producer
hands the message over) is compared with its deadline
    first_ts + (t - t_first) / 1e6 / F
so a schedule kept only on average (bursts, accumulated sleeps) fails too.
The bands are generous: this machine is shared; measured figures are in
tests/kafka/README.md.
"""
import os

import kafkatest as kt


def replay(t, factor, trace):
    b = kt.broker()
    tt, jt = t.topic("task"), t.topic("job")
    p = t.producer("--brokers", b.bootstrap,
                   "--task-events", os.path.join(trace, "task_events"),
                   "--job-events", os.path.join(trace, "job_events"),
                   "--task-topic", tt, "--job-topic", jt,
                   "--speed-factor", factor, "--progress-sec", "0.5")
    rc = p.wait(120)
    assert rc == 0, p.describe()
    s = kt.summary(p.stderr())
    assert s["failed"] == "0" and s["sent"] == s["delivered"], s
    msgs = kt.consume(b.bootstrap, tt) + kt.consume(b.bootstrap, jt)
    assert len(msgs) == int(s["sent"])
    return p, s, msgs


def check(t, factor, ideal_lo, ideal_hi, slack):
    trace = t.mkdir("trace")
    t.tracegen(trace, "--days", "5", "--jobs", "1200", "--seed", "21")
    p, s, msgs = replay(t, factor, trace)
    paced = [(kt.row_time(m["v"]), m["ts"]) for m in msgs
             if 0 < kt.row_time(m["v"]) < kt.TIME_MAX]
    t_first = min(x for x, _ in paced)
    t_last = max(x for x, _ in paced)
    ideal = (t_last - t_first) / 1e6 / float(factor)
    assert ideal_lo <= ideal <= ideal_hi, "trace span %.3fs of replay, not ~5 days" % ideal
    took = float(s["paced_s"])
    wall = p.wall()
    print("speed-factor %s: %d events, trace span %.1f days, ideal %.3fs, paced %.3fs, "
          "process wall %.2fs, behind_max %s ms"
          % (factor, len(msgs), (t_last - t_first) / 86400e6, ideal, took, wall, s["behind_max_ms"]),
          flush=True)
    # Absolute deadlines: never early, and late only by a bounded lag.
    assert took >= ideal * 0.999 - 0.002, "replay faster than the schedule: %.3fs < %.3fs" % (took, ideal)
    assert took <= ideal + kt.scaled(slack), "replay too slow: %.3fs for %.3fs" % (took, ideal)
    assert wall <= ideal + kt.scaled(slack + 10), "process took %.1fs" % wall
    # Per message: Kafka timestamp vs. deadline (ms resolution).
    ts0 = min(ts for x, ts in paced if x == t_first)
    lags = sorted(ts - (ts0 + (x - t_first) / 1e3 / float(factor)) for x, ts in paced)
    early = lags[0]
    p99 = lags[int(len(lags) * 0.99)]
    print("  per-message lag vs deadline: min %.1f ms, median %.1f ms, p99 %.1f ms, max %.1f ms"
          % (early, lags[len(lags) // 2], p99, lags[-1]), flush=True)
    assert early >= -3, "a message went out %.1f ms before its deadline" % -early
    assert p99 <= kt.scaled(slack) * 1000, "p99 lag %.0f ms" % p99


def test_pacing_432000_five_days_in_one_second(t):
    check(t, "432000", 0.95, 1.0, 1.0)


def test_pacing_43200_five_days_in_ten_seconds(t):
    check(t, "43200", 9.5, 10.0, 2.0)


if __name__ == "__main__":
    kt.run_tests(globals())
