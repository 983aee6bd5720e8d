"""Producer tests against the real Kafka broker of the ctest fixture `kafka`.

Each test writes to topics of its own (auto-created with the broker's
num.partitions=4), so tests never see each other's messages.  What is
checked is what a consumer of the topics sees (kcat -C -e), compared with an
oracle computed here from the trace files.
"""
import collections
import gzip
import os
import signal
import time

import kafkatest as kt


def gen(t, name, *args):
    out = t.mkdir(name)
    s = t.tracegen(out, *args)
    return out, s


def produce(t, bootstrap, trace, task_topic, job_topic, *extra, timeout=180, expect=0):
    p = t.producer("--brokers", bootstrap,
                   "--task-events", os.path.join(trace, "task_events"),
                   "--job-events", os.path.join(trace, "job_events"),
                   "--task-topic", task_topic, "--job-topic", job_topic, *extra)
    rc = p.wait(timeout)
    if expect is not None and rc != expect:
        raise AssertionError("producer exited %d, expected %d\n%s" % (rc, expect, p.describe()))
    return p, kt.summary(p.stderr())


def check_topic(msgs, expected_lines, what):
    """Every expected line is in the topic exactly once, keyed by its job ID;
    a job's messages are in one partition, in the order of expected_lines."""
    got = collections.Counter(m["v"] for m in msgs)
    want = collections.Counter(expected_lines)
    if got != want:
        missing = list((want - got).elements())[:5]
        extra = list((got - want).elements())[:5]
        raise AssertionError("%s: %d messages, expected %d; missing %r, unexpected %r"
                             % (what, len(msgs), len(expected_lines), missing, extra))
    parts_of_key = collections.defaultdict(set)
    seq_of_key = collections.defaultdict(list)
    for m in msgs:                               # sorted by (partition, offset)
        assert m["k"] == kt.row_key(m["v"]), "%s: key %r of %r is not its job ID" % (what, m["k"], m["v"])
        parts_of_key[m["k"]].add(m["p"])
        seq_of_key[m["k"]].append(m["v"])
    split = [k for k, p in parts_of_key.items() if len(p) > 1]
    assert not split, "%s: jobs in several partitions: %r" % (what, split[:5])
    want_seq = collections.defaultdict(list)
    for line in expected_lines:
        want_seq[kt.row_key(line)].append(line)
    for k, seq in want_seq.items():
        assert seq_of_key[k] == seq, ("%s: events of job %s out of order:\n got  %r\n want %r"
                                      % (what, k, seq_of_key[k][:6], seq[:6]))
    used = {m["p"] for m in msgs}
    assert len(used) > 1, "%s: all messages in one partition (keys not spread?)" % what
    return len(parts_of_key)


# --------------------------------------------------------------------------

def test_all_messages_in_topics_keyed_in_order(t):
    b = kt.broker()
    trace, gs = gen(t, "trace", "--days", "2", "--jobs", "400", "--seed", "11", "--parts", "3")
    tt, jt = t.topic("task"), t.topic("job")
    p, s = produce(t, b.bootstrap, trace, tt, jt, "--no-pacing", "--progress-sec", "0.2")
    tasks = kt.table_lines(os.path.join(trace, "task_events"))
    jobs = kt.table_lines(os.path.join(trace, "job_events"))
    assert len(tasks) == int(gs["task_events"]) and len(jobs) == int(gs["job_events"])
    n = len(tasks) + len(jobs)
    assert s["sent"] == s["delivered"] == str(n), s
    assert s["failed"] == "0" and s["skipped"] == "0", s
    assert s["task_events"] == str(len(tasks)) and s["job_events"] == str(len(jobs)), s
    assert "progress sent=" in p.stderr(), "no progress line on stderr"
    order = kt.expected_order(tasks, jobs)
    njobs = check_topic(kt.consume(b.bootstrap, tt), [l for tb, l in order if tb == "task"], tt)
    check_topic(kt.consume(b.bootstrap, jt), [l for tb, l in order if tb == "job"], jt)
    assert njobs == 400, "task topic holds events of %d jobs, expected 400" % njobs


def test_time0_first_and_limit_sends_a_prefix(t):
    # With --limit K the producer sends exactly the first K events of the
    # merged order: time-0 rows come first, and job rows win ties.
    b = kt.broker()
    trace, gs = gen(t, "trace", "--days", "1", "--jobs", "300", "--seed", "5")
    assert int(gs["time0_rows"]) > 0, gs
    tasks = kt.table_lines(os.path.join(trace, "task_events"))
    jobs = kt.table_lines(os.path.join(trace, "job_events"))
    order = kt.expected_order(tasks, jobs)
    n0 = sum(1 for _, l in order if kt.row_time(l) == 0)
    assert all(kt.row_time(l) == 0 for _, l in order[:n0])
    k = n0 + 25
    tt, jt = t.topic("task"), t.topic("job")
    _, s = produce(t, b.bootstrap, trace, tt, jt, "--no-pacing", "--limit", k)
    assert s["sent"] == s["delivered"] == str(k), s
    got = collections.Counter(m["v"] for m in kt.consume(b.bootstrap, tt) + kt.consume(b.bootstrap, jt))
    assert got == collections.Counter(l for _, l in order[:k]), "the first %d events were not the ones sent" % k


def test_time_max_rows_go_last(t):
    # Hand-written tables with 2^63-1 ("after the trace") rows in both: the
    # merge sends them after every finite row, so --limit 5 of 7 leaves out
    # exactly those two.
    b = kt.broker()
    d = t.mkdir("trace")
    td, jd = t.mkdir("trace/task_events"), t.mkdir("trace/job_events")
    with open(os.path.join(td, "part-00000-of-00001.csv"), "w") as f:
        f.write("0,,7,0,,0,u,0,0,0.1,0.1,0.1,0\n"
                "600000001,,7,0,42,1,u,0,0,0.1,0.1,0.1,0\n"
                "600000005,,8,0,,0,u,1,0,0.1,0.1,0.1,0\n"
                "9223372036854775807,,7,0,42,4,u,0,0,0.1,0.1,0.1,0\n")
    with open(os.path.join(jd, "part-00000-of-00001.csv"), "w") as f:
        f.write("600000001,,7,1,u,0,n,l\n"
                "600000003,,8,0,u,1,n,l\n"
                "9223372036854775807,,7,4,u,0,n,l\n")
    tt, jt = t.topic("task"), t.topic("job")
    # --limit 5 of 7: the two 2^63-1 rows are the ones left out.
    _, s = produce(t, b.bootstrap, d, tt, jt, "--speed-factor", "1000", "--limit", "5")
    vals = [m["v"] for m in kt.consume(b.bootstrap, tt) + kt.consume(b.bootstrap, jt)]
    assert s["sent"] == "5" and len(vals) == 5, (s, vals)
    assert not any(v.startswith("9223372036854775807") for v in vals), vals


def test_csv_and_gz_both_read(t):
    b = kt.broker()
    gz, _ = gen(t, "gz", "--days", "1", "--jobs", "150", "--seed", "3")
    plain, _ = gen(t, "plain", "--days", "1", "--jobs", "150", "--seed", "3", "--plain")
    for table in ("task_events", "job_events"):
        names_gz = sorted(os.listdir(os.path.join(gz, table)))
        names_plain = sorted(os.listdir(os.path.join(plain, table)))
        assert all(n.endswith(".csv.gz") for n in names_gz), names_gz
        assert all(n.endswith(".csv") for n in names_plain), names_plain
        assert kt.table_lines(os.path.join(gz, table)) == kt.table_lines(os.path.join(plain, table))
    got = {}
    for name, trace in (("gz", gz), ("plain", plain)):
        tt, jt = t.topic("task-" + name), t.topic("job-" + name)
        _, s = produce(t, b.bootstrap, trace, tt, jt, "--no-pacing")
        assert s["failed"] == "0" and s["sent"] == s["delivered"], s
        got[name] = (collections.Counter(m["v"] for m in kt.consume(b.bootstrap, tt)),
                     collections.Counter(m["v"] for m in kt.consume(b.bootstrap, jt)))
    assert got["gz"] == got["plain"], ".csv and .csv.gz of the same rows gave different topics"
    assert sum(got["gz"][0].values()) == len(kt.table_lines(os.path.join(gz, "task_events")))


def test_one_table_only(t):
    b = kt.broker()
    trace, gs = gen(t, "trace", "--days", "1", "--jobs", "50", "--seed", "9")
    tt, jt = t.topic("task"), t.topic("job")
    p = t.producer("--brokers", b.bootstrap, "--job-events", os.path.join(trace, "job_events"),
                   "--task-topic", tt, "--job-topic", jt, "--no-pacing")
    assert p.wait(120) == 0, p.describe()
    s = kt.summary(p.stderr())
    assert s["task_events"] == "0" and s["job_events"] == gs["job_events"], s
    assert len(kt.consume(b.bootstrap, jt)) == int(gs["job_events"])
    assert kt.consume(b.bootstrap, tt) == []


def test_bad_rows_counted_and_skipped(t):
    b = kt.broker()
    d = t.mkdir("trace")
    td = t.mkdir("trace/task_events")
    good = ["600000000,,1,0,,0,u,0,0,0.1,0.1,0.1,0",
            "600000010,,2,0,,0,u,1,0,0.1,0.1,0.1,0",
            "600000020,,1,0,9,1,u,0,0,0.1,0.1,0.1,0"]
    body = (good[0] + "\n"
            "abc,,1,0,,0,u,0,0,0.1,0.1,0.1,0\n"      # bad_time
            "\n"                                     # empty
            "-5,,1,0,,0,u,0,0,0.1,0.1,0.1,0\n"       # bad_time (sign)
            "99999999999999999999,,1,0\n"            # bad_time (> 2^63-1)
            + good[1] + "\r\n"                       # CRLF is fine
            "600000015\n"                            # no_job_id
            "600000016,,,0\n"                        # no_job_id (empty)
            + good[2])                               # no final newline
    with open(os.path.join(td, "part-00000-of-00002.csv"), "w") as f:
        f.write(body)
    with gzip.open(os.path.join(td, "part-00001-of-00002.csv.gz"), "wb") as f:
        f.write(b"600000030,,3,0,,0,u,0,0,0.1,0.1,0.1,0\n" + b"x" * 2000000 + b"\n")  # too_long
    good.append("600000030,,3,0,,0,u,0,0,0.1,0.1,0.1,0")
    tt = t.topic("task")
    p = t.producer("--brokers", b.bootstrap, "--task-events", td, "--task-topic", tt, "--no-pacing")
    assert p.wait(120) == 0, p.describe()
    s = kt.summary(p.stderr())
    assert s["sent"] == s["delivered"] == "4" and s["skipped"] == "7", s
    err = p.stderr()
    for reason in ("bad_time=3", "empty=1", "no_job_id=2", "too_long=1"):
        assert reason in err, "reason %s not reported:\n%s" % (reason, err)
    assert "line 2 skipped (bad_time)" in err, err
    assert sorted(m["v"] for m in kt.consume(b.bootstrap, tt)) == sorted(good)


def test_delivery_failure_unreachable_broker(t):
    # Nothing listens on this port: every message times out, each failure is
    # counted and reported, and the exit status says so.
    trace, _ = gen(t, "trace", "--days", "1", "--jobs", "20", "--seed", "2")
    port = kt.free_port()
    p = t.producer("--brokers", "127.0.0.1:%d" % port,
                   "--task-events", os.path.join(trace, "task_events"),
                   "--job-events", os.path.join(trace, "job_events"),
                   "--no-pacing", "--limit", "30", "-X", "message.timeout.ms=1500")
    rc = p.wait(60)
    s = kt.summary(p.stderr())
    assert rc == 1, "exit %d with undelivered messages\n%s" % (rc, p.describe())
    assert s["sent"] == "30" and s["failed"] == "30" and s["delivered"] == "0", s
    err = p.stderr()
    assert "delivery failed" in err and "Message timed out" in err, err
    assert "undelivered: 30 messages" in err, err


def test_flush_is_bounded(t):
    # A long message timeout, a short --flush-timeout-sec: the final flush
    # gives up in time, purges, and counts what it purged as failed.
    trace, _ = gen(t, "trace", "--days", "1", "--jobs", "20", "--seed", "2")
    port = kt.free_port()
    p = t.producer("--brokers", "127.0.0.1:%d" % port,
                   "--task-events", os.path.join(trace, "task_events"),
                   "--no-pacing", "--limit", "10", "--flush-timeout-sec", "1",
                   "-X", "message.timeout.ms=600000")
    rc = p.wait(60)
    s = kt.summary(p.stderr())
    assert rc == 1, p.describe()
    assert s["sent"] == "10" and s["failed"] == "10", s
    assert p.wall() < kt.scaled(30), "flush not bounded: %.1fs" % p.wall()
    assert "purging" in p.stderr()


def test_sigint_flushes_and_summarises(t):
    b = kt.broker()
    trace, gs = gen(t, "trace", "--days", "1", "--jobs", "400", "--seed", "4")
    total = int(gs["task_events"]) + int(gs["job_events"])
    tt, jt = t.topic("task"), t.topic("job")
    p = t.producer("--brokers", b.bootstrap,
                   "--task-events", os.path.join(trace, "task_events"),
                   "--job-events", os.path.join(trace, "job_events"),
                   "--task-topic", tt, "--job-topic", jt,
                   "--rate", "400", "--progress-sec", "0.2")

    def sent_enough():
        for line in reversed(p.stderr().splitlines()):
            if line.startswith("progress "):
                return int(line.split("sent=")[1].split()[0]) >= 300
        return False
    kt.wait_for(sent_enough, 60, "300 events sent", interval=0.1, on_timeout=p.describe)
    p.signal(signal.SIGINT)
    rc = p.wait(60)
    s = kt.summary(p.stderr())
    assert rc == 0, "exit %d after SIGINT\n%s" % (rc, p.describe())
    sent = int(s["sent"])
    assert s["interrupted"] == "1" and s["delivered"] == s["sent"] and s["failed"] == "0", s
    assert 300 <= sent < total, (sent, total)
    tasks = kt.table_lines(os.path.join(trace, "task_events"))
    jobs = kt.table_lines(os.path.join(trace, "job_events"))
    order = kt.expected_order(tasks, jobs)
    got = collections.Counter(m["v"] for m in kt.consume(b.bootstrap, tt) + kt.consume(b.bootstrap, jt))
    assert sum(got.values()) == sent, "topics hold %d messages, summary says %d sent" % (sum(got.values()), sent)
    assert got == collections.Counter(l for _, l in order[:sent]), "not the first %d events" % sent


def test_rate_paces_events(t):
    b = kt.broker()
    trace, _ = gen(t, "trace", "--days", "1", "--jobs", "100", "--seed", "8")
    tt, jt = t.topic("task"), t.topic("job")
    _, s = produce(t, b.bootstrap, trace, tt, jt, "--rate", "200", "--limit", "400")
    # 400 events at 200/s: the last is due 399/200 s after the first.
    paced = float(s["paced_s"])
    assert 1.99 <= paced <= 1.995 + 1.0, s
    ts = sorted(m["ts"] for m in kt.consume(b.bootstrap, tt) + kt.consume(b.bootstrap, jt))
    assert len(ts) == 400
    assert (ts[-1] - ts[0]) / 1000.0 >= 1.95, "400 events at 200/s took %d ms" % (ts[-1] - ts[0])


def _warn_lines(text):
    return [l for l in text.splitlines() if " WARN " in l and "behind schedule by" in l]


def _progress(text):
    out = []
    for line in text.splitlines():
        if line.startswith("progress "):
            out.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return out


def test_behind_schedule_warns_while_running(t):
    # Behind by construction: nothing listens on the broker port and the
    # queue holds 5 messages, so from the 6th event on the producer is
    # blocked and its lag grows without bound.  It must say so while it
    # runs: a WARN once the lag passes --behind-warn-sec (not repeated at
    # every check: at most one per 10 s), and the lag in its progress lines.
    trace, _ = gen(t, "trace", "--days", "1", "--jobs", "50", "--seed", "6")
    port = kt.free_port()
    p = t.producer("--brokers", "127.0.0.1:%d" % port,
                   "--task-events", os.path.join(trace, "task_events"),
                   "--job-events", os.path.join(trace, "job_events"),
                   "--rate", "1000", "--behind-warn-sec", "0.5", "--progress-sec", "0.1",
                   "--flush-timeout-sec", "1",
                   "-X", "queue.buffering.max.messages=5", "-X", "message.timeout.ms=600000")
    kt.wait_for(lambda: _warn_lines(p.stderr()), 60, "a behind-schedule WARN", interval=0.1,
                on_timeout=p.describe)

    def lag_in_progress():
        return any(float(x["behind_ms"]) > 500 for x in _progress(p.stderr()))
    kt.wait_for(lag_in_progress, 30, "a progress line with behind_ms > 500", interval=0.1,
                on_timeout=p.describe)
    assert p.proc.poll() is None, "the producer exited instead of reporting while it runs"
    p.signal(signal.SIGINT)
    rc = p.wait(60)
    err = p.stderr()
    assert rc == 1, "exit %d with undelivered messages\n%s" % (rc, p.describe())
    warns = _warn_lines(err)
    prog = _progress(err)
    assert "--behind-warn-sec 0.5" in warns[0] and "--rate 1000" in warns[0], warns[0]
    assert err.index(warns[0]) < err.index("summary "), "the WARN came only with the summary"
    # Rate-limited: progress every 0.1 s, the WARN at most every 10 s.
    assert len(prog) >= 5 and len(warns) <= 1 + len(prog) // 50, (len(warns), len(prog))
    s = kt.summary(err)
    assert float(s["behind_max_ms"]) >= 0 and s["sent"] == "5", s


def test_on_schedule_no_warning(t):
    # 40 events at 50/s against the real broker: each is due 20 ms after the
    # previous one, far from the 5 s threshold; no WARN, and the summary's
    # measured lag agrees that the run was on schedule.
    b = kt.broker()
    trace, _ = gen(t, "trace", "--days", "1", "--jobs", "50", "--seed", "6")
    tt, jt = t.topic("task"), t.topic("job")
    p, s = produce(t, b.bootstrap, trace, tt, jt, "--rate", "50", "--limit", "40",
                   "--behind-warn-sec", "5", "--progress-sec", "0.1")
    assert s["sent"] == s["delivered"] == "40", s
    assert float(s["behind_max_ms"]) < 5000, s
    assert not _warn_lines(p.stderr()), p.describe()
    assert all("behind_ms" in x for x in _progress(p.stderr()))


def test_loop_replays_shifted_forward(t):
    # --loop: pass k sends every timed row at t + k * P, P = span of the
    # trace times (30 us over 4 timed rows) + their mean gap (10 us) = 40 us, the rest of the
    # line unchanged; time-0 rows go out unchanged in every pass.  --limit
    # ends the endless replay: 3 passes of 5 events.
    b = kt.broker()
    d = t.mkdir("trace")
    td, jd = t.mkdir("trace/task_events"), t.mkdir("trace/job_events")
    tasks = ["0,,7,0,,0,u,0,0,0.1,0.1,0.1,0",
             "600000000,,7,0,42,1,u,0,0,0.1,0.1,0.1,0",
             "600000030,,8,0,,0,u,1,0,0.1,0.1,0.1,0"]
    jobs = ["600000000,,7,1,u,0,n,l",
            "600000010,,8,0,u,1,n,l"]
    with open(os.path.join(td, "part-00000-of-00001.csv"), "w") as f:
        f.write("\n".join(tasks) + "\n")
    with open(os.path.join(jd, "part-00000-of-00001.csv"), "w") as f:
        f.write("\n".join(jobs) + "\n")
    tt, jt = t.topic("task"), t.topic("job")
    p, s = produce(t, b.bootstrap, d, tt, jt, "--no-pacing", "--loop", "--limit", "15")
    assert s["sent"] == s["delivered"] == "15" and s["passes"] == "3", s

    def shifted(line, k):
        tm, rest = line.split(",", 1)
        return line if tm == "0" else "%d,%s" % (int(tm) + 40 * k, rest)
    want_t = collections.Counter(shifted(l, k) for k in range(3) for l in tasks)
    want_j = collections.Counter(shifted(l, k) for k in range(3) for l in jobs)
    got_t = kt.consume(b.bootstrap, tt)
    got_j = kt.consume(b.bootstrap, jt)
    assert collections.Counter(m["v"] for m in got_t) == want_t, [m["v"] for m in got_t]
    assert collections.Counter(m["v"] for m in got_j) == want_j, [m["v"] for m in got_j]
    assert all(m["k"] == kt.row_key(m["v"]) for m in got_t + got_j)
    # per job, event time only moves forward across the passes
    per_key = collections.defaultdict(list)
    for m in sorted(got_t, key=lambda m: (m["p"], m["o"])):
        if kt.row_time(m["v"]):
            per_key[m["k"]].append(kt.row_time(m["v"]))
    assert all(v == sorted(v) and len(v) == 3 for v in per_key.values()), per_key
    assert "--loop: pass 3" in p.stderr(), p.describe()


def test_usage_errors(t):
    P = kt.BIN["producer"]
    rc, out, _ = kt.run(t, [P, "--help"], "help")
    assert rc == 0
    for opt in ("--brokers", "--task-events", "--job-events", "--task-topic", "--job-topic",
                "--speed-factor", "--rate", "--no-pacing", "--progress-sec", "--limit", "-X",
                "--loop", "--behind-warn-sec", "--version", "exit status"):
        assert opt in out, "--help does not mention %s" % opt
    rc, out, _ = kt.run(t, [P, "--version"], "version")
    assert rc == 0 and "producer" in out and "librdkafka" in out
    d = t.mkdir("empty")
    ok = t.mkdir("ok")
    with open(os.path.join(ok, "part-00000-of-00001.csv"), "w") as f:
        f.write("600000000,,1,0,,0,u,0,0,0.1,0.1,0.1,0\n")
    both = t.mkdir("both")
    for n in ("part-00000-of-00001.csv", "part-00000-of-00001.csv.gz"):
        open(os.path.join(both, n), "w").close()
    cases = [
        ([], "--brokers is required"),
        (["--brokers", "127.0.0.1:1"], "--task-events DIR, --job-events DIR"),
        (["--brokers", "127.0.0.1:1", "--task-events", d, "--rate", "5", "--speed-factor", "2"],
         "exclude each other"),
        (["--brokers", "127.0.0.1:1", "--task-events", d, "--rate", "5", "--no-pacing"],
         "exclude each other"),
        (["--brokers", "127.0.0.1:1", "--task-events", d, "--speed-factor", "0"], "between"),
        (["--brokers", "127.0.0.1:1", "--task-events", d, "--speed-factor", "fast"], "needs a number"),
        (["--brokers", "127.0.0.1:1", "--task-events", d], "no trace files"),
        (["--brokers", "127.0.0.1:1", "--task-events", os.path.join(d, "nope")], "cannot read directory"),
        (["--brokers", "127.0.0.1:1", "--task-events", both], "holds both"),
        (["--brokers", "127.0.0.1:1", "--task-events", ok, "-X", "nonsense"], "KEY=VALUE"),
        (["--brokers", "127.0.0.1:1", "--task-events", ok, "-X", "no.such.property=1"], "no.such.property"),
        (["--brokers", "127.0.0.1:1", "--bogus"], "unknown option"),
        (["--brokers"], "needs a value"),
    ]
    for argv, msg in cases:
        rc, _, err = kt.run(t, [P] + argv, "usage")
        assert rc == 2, "producer %s exited %d, expected 2: %s" % (" ".join(argv), rc, err)
        assert msg in err, "producer %s: %r not in %r" % (" ".join(argv), msg, err)


if __name__ == "__main__":
    kt.run_tests(globals())
