#!/usr/bin/env python3
"""The exact user session from the design doc, end to end.

  mstream --inputDir IN --checkpointDir CHK --triggerSec 0.5
  (two files) -> counts; kill -9; a third file while down; restart ->
  exact counts (spark == 3), visible on /metrics too; a second process on
  the same checkpoint exits 3 naming the checkpoint and the holder's pid;
  after the holder is killed -9 a new process is accepted; SIGTERM -> 0.
"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import words, write_file  # noqa: E402

B1 = "hello spark streaming test\n"
B2 = "spark streaming checkpoint recovery\n"
B3 = "spark again\n"


def test_user_session(t):
    in_dir, chk = t.dirs()
    # The user's command line, camelCase aliases included; only the metrics
    # address is added (port 0) so parallel tests do not collide.
    ms = t.mstream(in_dir, chk, "--triggerSec", "0.5", camel=True, name="first")
    ms.start()

    st = ms.status()
    assert st.get("lastBatchId") == -1, "fresh checkpoint: lastBatchId %r" % st.get("lastBatchId")
    assert ms.results() == {}, "fresh checkpoint must have no results"

    write_file(os.path.join(in_dir, "batch1.txt"), B1)
    ms.wait_counts(words(B1), settle=0)
    write_file(os.path.join(in_dir, "batch2.txt"), B2)
    expected = words(B1 + B2)
    assert expected["spark"] == 2 and expected["streaming"] == 2 and expected["hello"] == 1
    ms.wait_counts(expected, settle=1.5)
    first_batch = ms.last_batch_id
    assert isinstance(first_batch, int) and first_batch >= 0, first_batch

    rc = ms.kill9()
    assert rc == -9, "kill -9 should end the process by SIGKILL, rc %r" % rc

    write_file(os.path.join(in_dir, "batch3.txt"), B3)
    ms.start()
    expected = words(B1 + B2 + B3)
    assert expected["spark"] == 3
    got = ms.wait_counts(expected, settle=2.0)
    assert got["spark"] == 3
    assert ms.last_batch_id > first_batch, "batch id must advance after restart: %r -> %r" % (
        first_batch, ms.last_batch_id)

    text = ms.metrics_text()
    assert re.search(r'^mstream_wordcount_count_total\{word="spark"\} 3(\.0+)?( \d+)?$', text, re.M), \
        "no 'mstream_wordcount_count_total{word=\"spark\"} 3' line in /metrics:\n" + text[:3000]
    m = mstest.Metrics(text)
    assert m.words() == {k: float(v) for k, v in expected.items()}, m.words()
    assert m.get("mstream_ready") == 1.0, m.get("mstream_ready")
    assert m.get("mstream_last_committed_batch_id") == float(ms.last_batch_id), (
        m.get("mstream_last_committed_batch_id"), ms.last_batch_id)
    assert m.get("mstream_results_groups", query="wordcount") == float(len(expected))
    assert m.get("mstream_input_rows_total", source="dir") is not None
    assert ms.get("/healthz")[0] == 200 and ms.get("/readyz")[0] == 200
    st = ms.status()
    assert st.get("ready") is True and st.get("lastBatchId") == ms.last_batch_id, st
    prog = st.get("recentProgress")
    assert isinstance(prog, list) and prog, "recentProgress empty after a batch: %r" % st
    last = prog[-1] if prog[-1].get("batchId") == ms.last_batch_id else prog[0]
    assert last.get("batchId") == ms.last_batch_id, prog
    assert last.get("numInputRows") == 1, "the batch after restart read batch3.txt only: %r" % last
    for key in ("inputRowsPerSecond", "processedRowsPerSecond", "durationMs", "sources",
                "stateOperators"):
        assert key in last, "recentProgress entry lacks %s: %r" % (key, last)

    # Second writer on the same checkpoint while the first one runs.
    second = t.mstream(in_dir, chk, "--triggerSec", "0.5", camel=True, name="second")
    second.start(wait=None)
    rc2 = second.wait_exit(timeout=15)
    err = second.stderr()
    assert rc2 == 3, "second process on a held checkpoint: exit %r (want 3)\n%s" % (rc2, second.describe())
    assert chk in err or os.path.realpath(chk) in err, \
        "exit-3 message does not name the checkpoint %s:\n%s" % (chk, err)
    assert re.search(r"\bpid %d\b" % ms.pid, err), \
        "exit-3 message does not say 'pid %d':\n%s" % (ms.pid, err)
    assert "AddressSanitizer" not in err and "runtime error" not in err, err
    # The holder is unaffected.
    ms.check_alive()
    assert ms.results() == expected

    # Holder dies hard: the lock must not outlive it.
    assert ms.kill9() == -9
    third = t.mstream(in_dir, chk, "--triggerSec", "0.5", camel=True, name="third")
    third.start()
    third.wait_counts(expected, settle=1.0)

    rc = third.term()
    assert rc == 0, "SIGTERM must exit 0, got %r\n%s" % (rc, third.describe())
    s = third.summary()
    for key in ("batches", "input_rows", "input_bytes", "elapsed_sec", "commit_ms_p50",
                "commit_ms_p95", "commit_ms_p99", "commit_ms_max", "peak_rss_kb"):
        assert key in s, "summary line lacks %s: %r" % (key, s)
    # Nothing new arrived for the third process, so it ran no batch.
    assert s["batches"] == "0" and s["input_rows"] == "0", s


def test_kebab_flags_and_equals_form(t):
    """The same session spelled with kebab-case flags and --flag=value; SIGINT exits 0."""
    in_dir, chk = t.dirs()
    ms = t.raw(["--input-dir=" + in_dir, "--checkpoint-dir=" + chk, "--trigger-sec=0.5",
                "--metrics-addr=127.0.0.1:0"])
    write_file(os.path.join(in_dir, "batch1.txt"), B1)
    ms.start()
    ms.wait_counts(words(B1), settle=0.5)
    ms.proc.send_signal(signal.SIGINT)
    rc = ms.wait_exit(30)
    assert rc == 0, "SIGINT must exit 0, got %r\n%s" % (rc, ms.describe())
    ms.summary()


def test_usage_errors(t):
    in_dir, chk = t.dirs()
    cases = [
        ["--checkpoint-dir", chk],                     # no input dir
        ["--input-dir", in_dir],                       # no checkpoint dir
        ["--input-dir", in_dir, "--checkpoint-dir", chk, "--no-such-flag"],
        ["--input-dir", in_dir, "--checkpoint-dir", chk, "--trigger-sec", "abc"],
        ["--input-dir", in_dir, "--checkpoint-dir", chk, "--max-files-per-trigger", "-3"],
    ]
    for argv in cases:
        ms = t.raw(argv + ["--metrics-addr", "127.0.0.1:0"])
        ms.start(wait=None)
        rc = ms.wait_exit(15)
        assert rc == 2, "usage error %r: exit %r, want 2\n%s" % (argv, rc, ms.describe())
        assert ms.stderr().strip(), "usage error %r printed nothing" % (argv,)
    for flag in ("--help", "--version"):
        ms = t.raw([flag])
        ms.start(wait=None)
        rc = ms.wait_exit(15)
        assert rc == 0, "%s: exit %r\n%s" % (flag, rc, ms.describe())
    assert not os.path.exists(chk), "a usage error must not create the checkpoint"


if __name__ == "__main__":
    mstest.run(globals())
