#!/usr/bin/env python3
"""fsync/fdatasync failing under mstream (LD_PRELOAD shim tests/shim/msfailio.c).

What gets synced (found by experiment with MSFAILIO_LOG=1 against RocksDB
7.8.3, and re-checked by test_which_files_are_synced on every run):

  creating/opening a fresh checkpoint:
    fdatasync 000000.dbtmp, 000001.dbtmp, 000005.dbtmp   (CURRENT/IDENTITY via temp files)
    fdatasync MANIFEST-000001, MANIFEST-000005
    fsync     OPTIONS-000006.dbtmp
    fdatasync 000004.log  x2                            (the write-ahead log)
    fsync     <checkpoint dir>  x5
  every batch:
    fdatasync 000004.log  x2   = the plan record, then the commit WriteBatch
                                 (both written with sync=true)
  input files: never synced.

So the WAL (<checkpoint>/NNNNNN.log) is the only file a batch syncs, and the
last WAL sync of a batch is its commit.

test_commit_fsync_failure counts the WAL syncs of an identical clean run to
aim the failure exactly at the commit of the second batch: mstream must exit
with status 1 and a message naming the commit and the I/O error; a restart
without the shim must show exact counts (nothing lost, nothing doubled),
whether or not the failed batch's record reached the disk.
"""
import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import shim_env, words, write_file  # noqa: E402

SYNC_RE = re.compile(r"^msfailio: (fsync|fdatasync) #(\d+) fd=(-?\d+) path=(.*) -> (ok|EIO)$", re.M)
WAL_RE = re.compile(r"/\d+\.log$")

FILES = ["one two three\nfour\n", "two three four five\n", "three four five six\n"]


def _syncs(ms):
    return [(m.group(1), m.group(4), m.group(5)) for m in SYNC_RE.finditer(ms.stderr())]


def _observe(t):
    """A clean run under the shim in log-only mode.  Returns the sync log cut
    at: ready, after batch 1, 2, 3 (each batch = one new file)."""
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk, env=shim_env(MSFAILIO_LOG="1"), name="observe")
    ms.start()
    cuts = [len(_syncs(ms))]
    exp = collections.Counter()
    for i, text in enumerate(FILES):
        write_file(os.path.join(in_dir, "f%d.txt" % i), text)
        exp.update(words(text))
        ms.wait_counts(exp, settle=1.0)
        cuts.append(len(_syncs(ms)))
    assert ms.term() == 0, ms.describe()
    return chk, _syncs(ms), cuts


def test_which_files_are_synced(t):
    chk, log, cuts = _observe(t)
    under = [(call, p) for call, p, _ in log if p.startswith(chk)]
    assert under, "no fsync/fdatasync under the checkpoint at all (is the shim preloaded?)\n%r" % log[:20]
    wal_batch = [p for call, p, _ in log[cuts[1]:cuts[3]] if WAL_RE.search(p)]
    other_batch = [p for call, p, _ in log[cuts[1]:cuts[3]] if not WAL_RE.search(p)]
    print("syncs at start-up: %s" % sorted(collections.Counter(
        "%s %s" % (c, os.path.relpath(p, chk) if p.startswith(chk) else p) for c, p, _ in log[:cuts[0]]).items()))
    print("syncs in batches 2-3: %s" % sorted(collections.Counter(
        "%s %s" % (c, os.path.relpath(p, chk) if p.startswith(chk) else p) for c, p, _ in log[cuts[1]:cuts[3]]).items()))
    assert wal_batch, "no WAL (*.log) sync during a batch: commits are not durable?\n%r" % log
    assert len(wal_batch) % 2 == 0 and len(wal_batch) >= 2, \
        "batches 2 and 3 should sync the WAL the same number of times: %r" % wal_batch
    assert cuts[2] - cuts[1] == cuts[3] - cuts[2], "per-batch sync count varies: %r" % cuts
    for p in other_batch:
        assert p.startswith(chk), "a batch synced a file outside the checkpoint: %s" % p
    for i in range(len(FILES)):
        assert not any(p.endswith("/f%d.txt" % i) for _, p, _ in log), "an input file was synced"


def _wal_count(entries):
    return sum(1 for _, p, _ in entries if WAL_RE.search(p))


def _fault_run(t, fail_after, expect_commit_msg):
    in_dir, chk = t.dirs()
    env = shim_env(MSFAILIO_FSYNC_PATH=".log", MSFAILIO_FSYNC_AFTER=fail_after, MSFAILIO_LOG="1")
    ms = t.mstream(in_dir, chk, env=env, name="fault-after-%d" % fail_after)
    ms.start()
    write_file(os.path.join(in_dir, "f0.txt"), FILES[0])
    ms.wait_counts(words(FILES[0]), settle=1.0, what="batch 1 under the shim")
    write_file(os.path.join(in_dir, "f1.txt"), FILES[1])
    rc = ms.wait_exit(60)
    err = ms.stderr()
    injected = [e for e in _syncs(ms) if e[2] == "EIO"]
    assert injected, "the shim injected no EIO (fail_after=%d)\n%s" % (fail_after, ms.describe())
    assert rc == 1, "fsync EIO: mstream exit %r, want 1\n%s" % (rc, ms.describe())
    engine_lines = "\n".join(l for l in err.splitlines() if not l.startswith("msfailio:"))
    if expect_commit_msg:
        assert re.search(r"commit", engine_lines, re.I), \
            "failure message does not mention the commit:\n" + engine_lines[-3000:]
    assert re.search(r"input/output error|\bI/?O error|\bEIO\b", engine_lines, re.I), \
        "failure message does not carry the OS/RocksDB error:\n" + engine_lines[-3000:]
    for marker in ("AddressSanitizer", "runtime error:"):
        assert marker not in err, ms.describe()

    # Restart without the shim: exact counts, then the pipeline still works.
    clean = t.mstream(in_dir, chk, name="clean-after-%d" % fail_after)
    clean.start()
    exp = collections.Counter(words(FILES[0] + FILES[1]))
    clean.wait_counts(exp, settle=1.5, what="exact counts after the failed commit")
    write_file(os.path.join(in_dir, "f2.txt"), FILES[2])
    exp.update(words(FILES[2]))
    clean.wait_counts(exp, settle=0.5)
    assert clean.term() == 0


def test_commit_fsync_failure(t):
    mstest.require_shim()
    _chk, log, cuts = _observe(t)
    wal_b1 = _wal_count(log[:cuts[1]])            # WAL syncs up to the end of batch 1
    per_batch = _wal_count(log[cuts[1]:cuts[2]])  # WAL syncs of one batch
    assert per_batch >= 1, "a batch did not sync the WAL: %r" % log[cuts[1]:cuts[2]]
    # The last WAL sync of a batch is its commit: let the first per_batch-1
    # syncs of batch 2 succeed and fail the commit.
    print("WAL syncs through batch 1: %d, per batch: %d" % (wal_b1, per_batch))
    _fault_run(t, wal_b1 + per_batch - 1, expect_commit_msg=True)


def test_plan_fsync_failure(t):
    """If the batch writes its plan with its own synced write first, fail that
    one (the first WAL sync of batch 2) instead: still exit 1, still exact."""
    mstest.require_shim()
    _chk, log, cuts = _observe(t)
    wal_b1 = _wal_count(log[:cuts[1]])
    per_batch = _wal_count(log[cuts[1]:cuts[2]])
    if per_batch < 2:
        raise mstest.Skip("a batch syncs the WAL once; plan and commit share it")
    _fault_run(t, wal_b1, expect_commit_msg=False)


def test_checkpoint_unsyncable_from_start(t):
    """Every sync under the checkpoint fails from the first call: mstream
    must fail cleanly (status 1, message), not crash or hang, and the
    checkpoint must be usable afterwards."""
    in_dir, chk = t.dirs()
    write_file(os.path.join(in_dir, "a.txt"), "early words\n")
    ms = t.mstream(in_dir, chk, env=shim_env(MSFAILIO_FSYNC_PATH=chk + "/", MSFAILIO_FSYNC_AFTER=0))
    ms.start(wait=None)
    rc = ms.wait_exit(60)
    assert rc == 1, "all syncs failing: exit %r, want 1\n%s" % (rc, ms.describe())
    err = ms.stderr()
    assert "AddressSanitizer" not in err and "runtime error:" not in err, ms.describe()
    assert "msfailio:" in err, "the shim never injected a failure\n" + ms.describe()
    clean = t.mstream(in_dir, chk, name="clean")
    clean.start()
    clean.wait_counts(words("early words"), settle=1.0)
    assert clean.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
