#!/usr/bin/env python3
"""The directory source's file options (docs/files.md) against the real
binary, real inotify and a real RocksDB checkpoint: .gz files read as their
text (compared with Python's gzip module; damaged, truncated, binary and
appended ones; ms_tracegen's .csv.gz against the same files unpacked),
--path-glob-filter on files renamed in and out, --recursive with
directories created and moved in after start, --max-file-age against mtimes
set with os.utime, --latest-first order under --max-files-per-trigger 1,
--clean-source delete and archive (across a kill -9 and a restart, into
another file system, name collisions), the archive directory refused when
missing or overlapping, and the checkpoint bound to its input directory
(another one refused with exit 2; the bare "dir" of older checkpoints
upgraded)."""
import collections
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import append_file, atomic_write, count_words, scaled, words, write_file  # noqa: E402


def gz_bytes(text):
    if isinstance(text, str):
        text = text.encode()
    return gzip.compress(text, mtime=0)


def atomic_gz(path, text):
    """A .gz delivered as Spark expects: written under a .tmp name, renamed."""
    tmp = path + ".tmp"
    write_file(tmp, gz_bytes(text))
    os.rename(tmp, path)


def gz_oracle(path):
    """Counts of a .gz as mstream reads it: the decompressed text."""
    with gzip.open(path, "rb") as f:
        return count_words(f.read())


def rejected(m, reason):
    return m.get("mstream_source_files_rejected_total", 0.0, source="dir", reason=reason)


def cleaned(m, action):
    return m.get("mstream_source_files_cleaned_total", 0.0, source="dir", action=action)


def run_exit(t, argv, timeout=60):
    """Runs mstream to its exit: (status, stderr)."""
    ms = t.raw(argv)
    ms.start(wait=None)
    rc = ms.wait_exit(timeout)
    return rc, ms.stderr()


def ckpt_edit(*args):
    tool = os.environ.get("MS_CKPT_EDIT")
    if not tool or not os.access(tool, os.X_OK):
        raise mstest.Skip("ms_ckpt_edit not available (MS_CKPT_EDIT)")
    p = subprocess.run([tool] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=scaled(30))
    return p.returncode, p.stdout.decode("utf-8", "replace").strip()


# --------------------------------------------------------------------- gzip

def test_gz_files_read_as_their_text(t):
    in_dir, chk = t.dirs()
    exp = collections.Counter()
    # Present at start, and arriving while running (atomically).
    atomic_gz(os.path.join(in_dir, "part-00000-of-00002.csv.gz"), "spark stream\nspark gz\n")
    exp.update(gz_oracle(os.path.join(in_dir, "part-00000-of-00002.csv.gz")))
    ms = t.mstream(in_dir, chk)
    ms.start()
    ms.wait_counts(exp, settle=0.3, what="a .gz present at start")
    big = "".join("w%d x%d y\n" % (i % 300, i % 7) for i in range(20000))
    atomic_gz(os.path.join(in_dir, "part-00001-of-00002.csv.gz"), big)
    exp.update(words(big))
    ms.wait_counts(exp, settle=0.3, what="a .gz moved in")

    # Written in place, not moved in: nothing while its member is cut off,
    # read once when it is complete; never a rejection.
    data = gz_bytes("".join("inplace%d\n" % (i % 50) for i in range(5000)))
    p = os.path.join(in_dir, "inplace.gz")
    write_file(p, data[:len(data) // 2])
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.5, what="a truncated .gz waits")
    ms.wait_metric(lambda m: m.get("mstream_source_pending_bytes", source="dir") >= len(data) // 2,
                   "the truncated .gz's bytes pending")
    append_file(p, data[len(data) // 2:])
    exp.update(gz_oracle(p))
    ms.wait_counts(exp, settle=0.3, what="the completed .gz")

    # A member appended later (gzip -c >> f.gz): only it is read.
    append_file(p, gz_bytes("appended member\n"))
    exp.update(["appended", "member"])
    ms.wait_counts(exp, settle=0.3, what="an appended gzip member")

    # Damaged, not gzip at all, binary text: counted rejections, nothing read.
    bad = bytearray(gz_bytes("".join("damaged%d\n" % i for i in range(400))))
    bad[len(bad) // 2] ^= 0xFF
    atomic_write(os.path.join(in_dir, "damaged.gz"), bytes(bad))
    atomic_write(os.path.join(in_dir, "notgzip.gz"), "plain text named .gz\n")
    atomic_write(os.path.join(in_dir, "binary.gz"), gz_bytes(b"ab\0cd\nef\n"))
    t.sentinel(in_dir, exp)
    m = ms.wait_metric(lambda m: rejected(m, "bad_gzip") == 2 and rejected(m, "binary") == 1,
                       "bad_gzip 2 and binary 1")
    ms.wait_counts(exp, settle=0.5, what="rejected .gz files add nothing")
    assert rejected(m, "bad_gzip") == 2
    assert "not valid gzip data" in ms.stderr(), ms.describe()
    assert ms.term() == 0
    # A restart reads nothing again, and rejects nothing again.
    ms.start()
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.5, what="nothing read twice after a restart")
    assert ms.term() == 0


def _complete_rows(sink_dir, stmt):
    files = sorted(glob.glob(os.path.join(sink_dir, stmt, "batch-*.json")))
    assert files, "no sink files in %s" % sink_dir
    with open(files[-1], "rb") as f:
        return sorted(f.read().splitlines())


def test_tracegen_gz_equals_its_text(t):
    """ms_tracegen writes .csv.gz (the public trace's layout); the counts of
    the trace query over them equal those over the same files unpacked."""
    tracegen = os.path.join(os.path.dirname(mstest.MSTREAM), "producers", "ms_tracegen")
    if not os.access(tracegen, os.X_OK):
        raise mstest.Skip("ms_tracegen not built next to mstream")
    out = t.mkdir("trace")
    p = subprocess.run([tracegen, "--out", out, "--days", "2", "--jobs", "300", "--parts", "3"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(120))
    assert p.returncode == 0, p.stderr
    gz_dir = os.path.join(out, "task_events")
    names = sorted(os.listdir(gz_dir))
    assert names and all(n.endswith(".csv.gz") for n in names), names
    plain_dir = t.mkdir("plain")
    for n in names:
        with gzip.open(os.path.join(gz_dir, n), "rb") as f:
            write_file(os.path.join(plain_dir, n[:-3]), f.read())
    rows = {}
    for label, d in (("gz", gz_dir), ("plain", plain_dir)):
        sink = os.path.join(t.dir, "sink-" + label)
        rc, err = run_exit(t, ["--input-dir", d, "--checkpoint-dir", os.path.join(t.dir, "chk-" + label),
                               "--query", "task_events_by_class", "--available-now",
                               "--max-bytes-per-trigger", "100K", "--sink", "json:" + sink,
                               "--metrics-addr", "127.0.0.1:0"], timeout=120)
        assert rc == 0, err
        assert "rejected" not in err, err
        rows[label] = _complete_rows(sink, "task_events_by_class")
    assert rows["gz"] == rows["plain"], "gz and plain results differ"
    total = sum(json.loads(r)["events"] for r in rows["gz"])
    want = sum(len(gzip.open(os.path.join(gz_dir, n)).read().splitlines()) for n in names)
    assert total == want, (total, want)


# ---------------------------------------------------------------- the glob

def test_glob_on_rename_in_and_out(t):
    in_dir, chk = t.dirs()
    write_file(os.path.join(in_dir, "early.log"), "earlylog\n")
    write_file(os.path.join(in_dir, "early.txt"), "earlytxt\n")
    # Renamed away from a matching name while down, before it was read.
    write_file(os.path.join(in_dir, "gone.txt"), "gonetxt\n")
    os.rename(os.path.join(in_dir, "gone.txt"), os.path.join(in_dir, "gone.log"))
    ms = t.mstream(in_dir, chk, "--pathGlobFilter", "*.{txt,gz}")
    ms.start()
    exp = collections.Counter(["earlytxt"])
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.5, what="only matching names read")

    # From an unmatched name, and from an ignored one, to a matching one: read.
    write_file(os.path.join(in_dir, "a.log"), "alog\n")
    write_file(os.path.join(in_dir, "b.txt.tmp"), "btmp\n")
    atomic_gz(os.path.join(in_dir, "c.gz.part"), "cgz\n")
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.5, what="unmatched names not read")
    os.rename(os.path.join(in_dir, "a.log"), os.path.join(in_dir, "a.txt"))
    os.rename(os.path.join(in_dir, "b.txt.tmp"), os.path.join(in_dir, "b.txt"))
    os.rename(os.path.join(in_dir, "c.gz.part"), os.path.join(in_dir, "c.gz"))
    exp.update(["alog", "btmp", "cgz"])
    ms.wait_counts(exp, settle=0.5, what="renamed to matching names: read")

    # The reverse: renamed to an unmatched name, what it gains is not read;
    # renamed back, only that is read (the position was kept).
    os.rename(os.path.join(in_dir, "a.txt"), os.path.join(in_dir, "a.bak"))
    append_file(os.path.join(in_dir, "a.bak"), "later\n")
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.5, what="a file renamed to an unmatched name is not read")
    os.rename(os.path.join(in_dir, "a.bak"), os.path.join(in_dir, "a.txt"))
    exp.update(["later"])
    ms.wait_counts(exp, settle=0.5, what="renamed back: only the new line")
    assert ms.term() == 0

    # A glob that cannot match a name is refused before anything starts.
    rc, err = run_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--path-glob-filter",
                           "sub/*.txt", "--metrics-addr", "127.0.0.1:0"])
    assert rc == 2 and "file names only" in err, (rc, err)
    rc, err = run_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--path-glob-filter",
                           "*.{txt", "--metrics-addr", "127.0.0.1:0"])
    assert rc == 2 and "never closed" in err, (rc, err)


# ----------------------------------------------------------- --recursive

def test_recursive_with_directories_made_after_start(t):
    in_dir, chk = t.dirs()
    os.makedirs(os.path.join(in_dir, "2024", "01"))
    write_file(os.path.join(in_dir, "2024", "01", "a.txt"), "jan\n")
    write_file(os.path.join(in_dir, "top.txt"), "top\n")
    os.makedirs(os.path.join(in_dir, "_staging"))
    write_file(os.path.join(in_dir, "_staging", "s.txt"), "staging\n")
    outside = t.mkdir("outside")
    os.symlink(outside, os.path.join(in_dir, "link"))
    write_file(os.path.join(outside, "o.txt"), "outside\n")

    # Without --recursive, only the top.
    plain = t.mstream(in_dir, os.path.join(t.dir, "chk-flat"), name="flat")
    plain.start()
    exp_flat = collections.Counter(["top"])
    t.sentinel(in_dir, exp_flat)
    plain.wait_counts(exp_flat, settle=0.5, what="not recursive by default")
    assert plain.term() == 0

    ms = t.mstream(in_dir, chk, "--recursiveFileLookup")
    ms.start()
    exp = collections.Counter(exp_flat)
    exp["jan"] += 1
    ms.wait_counts(exp, settle=0.5, what="subdirectories at start")

    # Made while running: one level, nested at once, files written at once.
    os.makedirs(os.path.join(in_dir, "2024", "02"))
    write_file(os.path.join(in_dir, "2024", "02", "b.txt"), "feb\n")
    deep = os.path.join(in_dir, "x", "y", "z")
    os.makedirs(deep)
    for i in range(20):
        write_file(os.path.join(deep, "f%02d.txt" % i), "deep%d\n" % i)
        exp["deep%d" % i] += 1
    exp["feb"] += 1
    ms.wait_counts(exp, settle=0.5, what="directories made after start")
    # A later file in a directory made while running (its own watch).
    atomic_write(os.path.join(deep, "later.txt"), "laterdeep\n")
    exp["laterdeep"] += 1
    ms.wait_counts(exp, settle=0.3, what="a file in a new directory")
    # A tree moved in from outside the input directory.
    tree = t.mkdir("tree")
    os.makedirs(os.path.join(tree, "m", "n"))
    write_file(os.path.join(tree, "m", "n", "moved.txt"), "moved\n")
    os.rename(tree, os.path.join(in_dir, "movedin"))
    exp["moved"] += 1
    ms.wait_counts(exp, settle=0.5, what="a tree moved in")
    # Ignored directory names and links to directories are never entered.
    got = ms.results()
    assert "staging" not in got and "outside" not in got, got
    assert ms.metrics().get("mstream_source_files", source="dir") >= 25
    assert ms.term() == 0
    # Restart: nothing read twice (names are relative, positions by inode).
    ms.start()
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.5, what="restart reads nothing twice")
    assert ms.term() == 0


# ----------------------------------------------------------- --max-file-age

def test_max_file_age_against_mtime(t):
    in_dir, chk = t.dirs()
    now = time.time()
    files = {"new.txt": (now, "newfile"), "mid.txt": (now - 1800, "midfile"),
             "old.txt": (now - 7200, "oldfile"), "older.gz": (now - 86400, "oldergz")}
    for name, (mtime, word) in files.items():
        p = os.path.join(in_dir, name)
        write_file(p, gz_bytes(word + "\n") if name.endswith(".gz") else word + "\n")
        os.utime(p, (mtime, mtime))
    ms = t.mstream(in_dir, chk, "--maxFileAge", "1h")
    ms.start()
    exp = collections.Counter(["newfile", "midfile"])
    ms.wait_counts(exp, settle=1.0, what="files older than the newest minus 1h left")
    m = ms.metrics()
    assert m.get("mstream_source_files_too_old", source="dir") == 2, m.text
    # Relative to the newest file, not to the clock: a much newer file
    # makes mid.txt old too, but it was read already; a file touched into
    # the window is read.
    p = os.path.join(in_dir, "future.txt")
    write_file(p, "futurefile\n")
    os.utime(p, (now + 3 * 3600, now + 3 * 3600))
    exp["futurefile"] += 1
    ms.wait_counts(exp, settle=0.5, what="a newer file")
    p = os.path.join(in_dir, "old.txt")
    os.utime(p, (now + 3 * 3600 - 60, now + 3 * 3600 - 60))
    exp["oldfile"] += 1
    ms.wait_counts(exp, settle=0.5, what="a file touched into the window")
    ms.wait_metric(lambda m: m.get("mstream_source_files_too_old", source="dir") == 1,
                   "too_old 1 (older.gz)")
    assert ms.term() == 0
    rc, err = run_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--max-file-age",
                           "3600", "--metrics-addr", "127.0.0.1:0"])
    assert rc == 2 and "unit" in err, (rc, err)


# ------------------------------------------------------------- --latest-first

ORDER_SQL = ("CREATE QUERY files AS SELECT topic, COUNT(*) AS n FROM lines GROUP BY topic "
             "EMIT UPDATE;\n")


def _batch_files(sink):
    out = []
    for p in sorted(glob.glob(os.path.join(sink, "files", "batch-*.json"))):
        with open(p, "rb") as f:
            out.append(sorted(json.loads(line)["topic"] for line in f.read().splitlines()))
    return out


def test_latest_first_order(t):
    in_dir, chk = t.dirs()
    q = os.path.join(t.dir, "order.sql")
    write_file(q, ORDER_SQL)
    base = time.time() - 1000
    mt = {"a.txt": 40, "b.gz": 10, "c.txt": 30, "d.txt": 20}
    for name, dt in mt.items():
        p = os.path.join(in_dir, name)
        write_file(p, gz_bytes("x\ny\n") if name.endswith(".gz") else "x\ny\n")
        os.utime(p, (base + dt, base + dt))
    orders = {}
    for label, extra in (("latest", ["--latest-first"]), ("oldest", [])):
        sink = os.path.join(t.dir, "sink-" + label)
        rc, err = run_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk + label,
                               "--query", q, "--available-now", "--max-files-per-trigger", "1",
                               "--sink", "json:" + sink, "--metrics-addr", "127.0.0.1:0"] + extra)
        assert rc == 0, err
        orders[label] = _batch_files(sink)
    assert orders["latest"] == [["a.txt"], ["c.txt"], ["d.txt"], ["b.gz"]], orders
    assert orders["oldest"] == [["b.gz"], ["d.txt"], ["c.txt"], ["a.txt"]], orders


# ------------------------------------------------------------ --clean-source

def test_clean_source_delete(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk, "--clean-source", "delete", "--recursive")
    ms.start()
    exp = collections.Counter()
    os.makedirs(os.path.join(in_dir, "sub"))
    for i in range(10):
        name = os.path.join(in_dir, "sub" if i % 2 else "", "f%d.%s" % (i, "gz" if i % 3 == 0 else "txt"))
        text = "del%d common\n" % i
        (atomic_gz if name.endswith(".gz") else atomic_write)(name, text)
        exp.update(words(text))
    write_file(os.path.join(in_dir, "partial.txt"), "whole\nnot yet")
    exp["whole"] += 1
    write_file(os.path.join(in_dir, "bin.dat"), b"a\0b\n")
    ms.wait_counts(exp, settle=0.3, what="files read")

    def left():
        return sorted(os.path.relpath(os.path.join(d, f), in_dir)
                      for d, _, fs in os.walk(in_dir) for f in fs)
    mstest.wait_for(lambda: left() == ["bin.dat", "partial.txt"], 20,
                    "read files deleted", on_timeout=lambda: "left: %r\n%s" % (left(), ms.describe()))
    ms.wait_metric(lambda m: cleaned(m, "delete") == 10, "10 files deleted")
    # The partial line completed: read, then deleted.
    append_file(os.path.join(in_dir, "partial.txt"), "\n")
    exp.update(["not", "yet"])
    ms.wait_counts(exp, settle=0.3, what="the completed line")
    mstest.wait_for(lambda: left() == ["bin.dat"], 20, "the completed file deleted")
    assert ms.term() == 0


def test_archive_across_restart(t):
    in_dir, chk = t.dirs()
    arch = t.mkdir("archive")
    exp = collections.Counter()
    texts = {}
    os.makedirs(os.path.join(in_dir, "d", "e"))
    for i in range(12):
        rel = os.path.join("d" if i % 3 else "", "e" if i % 3 == 2 else "", "a%02d.%s" % (i, "gz" if i % 4 == 0 else "txt"))
        text = "arch%d shared\n" % i
        p = os.path.join(in_dir, rel)
        (atomic_gz if rel.endswith(".gz") else atomic_write)(p, text)
        with open(p, "rb") as f:
            texts[os.path.normpath(rel)] = f.read()
        exp.update(words(text))
    # Read without --clean-source first: the files stay.
    ms = t.mstream(in_dir, chk, "--recursive", name="keep")
    ms.start()
    ms.wait_counts(exp, settle=0.3, what="read without cleaning")
    assert ms.kill9() == -9
    assert not os.listdir(arch)
    # Restarted with archive: what the checkpoint holds as read is archived
    # at once, with its path below the input directory.
    ms = t.mstream(in_dir, chk, "--recursive", "--clean-source", "archive",
                   "--source-archive-dir", arch, name="archive")
    ms.start()
    for i in range(12, 16):
        rel = "b%02d.txt" % i
        text = "arch%d shared\n" % i
        atomic_write(os.path.join(in_dir, rel), text)
        texts[rel] = text.encode()
        exp.update(words(text))
    ms.wait_counts(exp, settle=0.3, what="all counted once")

    def archived():
        return sorted(os.path.relpath(os.path.join(d, f), arch)
                      for d, _, fs in os.walk(arch) for f in fs)
    mstest.wait_for(lambda: archived() == sorted(texts), 20, "every file archived",
                    on_timeout=lambda: "archived: %r\n%s" % (archived(), ms.describe()))
    for rel, data in texts.items():
        with open(os.path.join(arch, rel), "rb") as f:
            assert f.read() == data, rel
    m = ms.wait_metric(lambda m: cleaned(m, "archive") == 16, "16 files archived")
    assert m.get("mstream_source_clean_failures_total", source="dir") == 0, m.text
    # A name another file already took in the archive: a suffix, nothing lost.
    atomic_write(os.path.join(in_dir, "b12.txt"), "again12\n")
    exp["again12"] += 1
    ms.wait_counts(exp, settle=0.3)
    mstest.wait_for(lambda: "b12.txt.1" in archived(), 20, "b12.txt archived as b12.txt.1")
    assert ms.term() == 0
    ms.start()
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.5, what="nothing read twice after the restart")
    assert ms.term() == 0


def _wal_syncs(ms):
    return len(re.findall(r"^msfailio: (?:fsync|fdatasync) #\d+ fd=-?\d+ path=\S*/\d+\.log ->",
                          ms.stderr(), re.M))


def test_archive_waits_for_a_failed_commit(t):
    """The commit of the batch that read the files fails (its WAL fsync:
    the msfailio shim): mstream exits 1 and no file was archived (the plan
    after the failed batch must not take the handed-over commit for a
    durable one); a restart reads, commits, then archives each once."""
    mstest.require_shim()
    in_dir, chk = t.dirs()
    arch = t.mkdir("archive")
    # The WAL syncs of start-up, from a run on an empty directory.
    obs = t.mstream(t.mkdir("empty"), os.path.join(t.dir, "chk-observe"), "--clean-source", "archive",
                    "--source-archive-dir", arch, env=mstest.shim_env(MSFAILIO_LOG="1"), name="observe")
    obs.start()
    time.sleep(scaled(0.5))
    startup = _wal_syncs(obs)
    assert obs.term() == 0 and startup >= 1, obs.describe()
    exp = collections.Counter()
    for i in range(3):
        text = "failed%d commit\n" % i
        (atomic_gz if i == 2 else atomic_write)(os.path.join(in_dir, "f%d.%s" % (i, "gz" if i == 2 else "txt")), text)
        exp.update(words(text))
    # Sync startup+1 is batch 0's plan; startup+2, its commit, fails.
    env = mstest.shim_env(MSFAILIO_FSYNC_PATH=".log", MSFAILIO_FSYNC_AFTER=startup + 1,
                          MSFAILIO_LOG="1")
    ms = t.mstream(in_dir, chk, "--clean-source", "archive", "--source-archive-dir", arch,
                   env=env, name="fault")
    ms.start(wait=None)
    rc = ms.wait_exit(60)
    assert rc == 1, "exit %r, want 1 (the commit failed)\n%s" % (rc, ms.describe())
    assert "EIO" in ms.stderr(), ms.describe()
    assert os.listdir(arch) == [], "archived before its commit: %r" % os.listdir(arch)
    assert sorted(os.listdir(in_dir)) == ["f0.txt", "f1.txt", "f2.gz"], os.listdir(in_dir)
    ms = t.mstream(in_dir, chk, "--clean-source", "archive", "--source-archive-dir", arch, name="after")
    ms.start()
    ms.wait_counts(exp, settle=0.5, what="counted once after the failed commit")
    mstest.wait_for(lambda: sorted(os.listdir(arch)) == ["f0.txt", "f1.txt", "f2.gz"], 20,
                    "archived after the restart", on_timeout=ms.describe)
    assert os.listdir(in_dir) == []
    assert ms.term() == 0


def test_archive_into_another_file_system(t):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(t.dir).st_dev:
        raise mstest.Skip("no second file system at /dev/shm")
    arch = None
    try:
        import tempfile
        arch = tempfile.mkdtemp(prefix="mstest-archive-", dir=shm)
        in_dir, chk = t.dirs()
        os.makedirs(os.path.join(in_dir, "s"))
        atomic_write(os.path.join(in_dir, "s", "x.txt"), "crossfs\n")
        atomic_gz(os.path.join(in_dir, "y.gz"), "crossgz\n")
        rc, err = run_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--recursive",
                               "--clean-source", "archive", "--source-archive-dir", arch,
                               "--available-now", "--metrics-addr", "127.0.0.1:0"])
        assert rc == 0, err
        assert "another file system" in err, err
        assert not os.path.exists(os.path.join(in_dir, "s", "x.txt"))
        with open(os.path.join(arch, "s", "x.txt")) as f:
            assert f.read() == "crossfs\n"
        with gzip.open(os.path.join(arch, "y.gz")) as f:
            assert f.read() == b"crossgz\n"
        assert not [n for n in os.listdir(arch) if n.startswith(".")], os.listdir(arch)
    finally:
        if arch:
            shutil.rmtree(arch, ignore_errors=True)


def test_archive_dir_refused_at_start(t):
    in_dir, chk = t.dirs()
    write_file(os.path.join(in_dir, "x.txt"), "x\n")
    inside = os.path.join(in_dir, "archive")
    os.makedirs(inside)
    ignored = os.path.join(in_dir, "_archive")
    os.makedirs(ignored)
    around = os.path.dirname(in_dir)
    cases = [
        (["--clean-source", "archive"], "needs --source-archive-dir"),
        (["--clean-source", "archive", "--source-archive-dir", os.path.join(t.dir, "nosuch")],
         "nosuch"),
        (["--clean-source", "archive", "--source-archive-dir", inside], "inside the input directory"),
        (["--clean-source", "archive", "--source-archive-dir", in_dir], "input directory itself"),
        (["--clean-source", "archive", "--source-archive-dir", around], "contains the input directory"),
        (["--clean-source", "move"], "off, archive or delete"),
        (["--source-archive-dir", ignored], "--clean-source archive only"),
    ]
    for extra, needle in cases:
        rc, err = run_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk,
                               "--metrics-addr", "127.0.0.1:0"] + extra)
        assert rc == 2, (extra, rc, err)
        assert needle in err, (extra, needle, err)
    assert not os.path.exists(chk), "a refused start touched the checkpoint"
    rc, err = run_exit(t, ["--kafka", "127.0.0.1:9", "--topics", "t", "--checkpoint-dir", chk,
                           "--clean-source", "delete", "--metrics-addr", "127.0.0.1:0"])
    assert rc == 2 and "directory source only" in err, (rc, err)
    # Below the input directory under an ignored name: accepted, never read.
    rc, err = run_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--clean-source",
                           "archive", "--source-archive-dir", ignored, "--recursive",
                           "--available-now", "--metrics-addr", "127.0.0.1:0"])
    assert rc == 0, err
    assert os.path.exists(os.path.join(ignored, "x.txt"))
    assert not os.path.exists(os.path.join(in_dir, "x.txt"))


# ------------------------------------------------------- the checkpoint binding

def test_restart_with_another_directory_refused(t):
    in1, chk = t.dirs()
    in2 = t.mkdir("other-input")
    write_file(os.path.join(in1, "a.txt"), "one\n")
    rc, err = run_exit(t, ["--input-dir", in1, "--checkpoint-dir", chk, "--available-now",
                           "--metrics-addr", "127.0.0.1:0"])
    assert rc == 0, err
    rc, err = run_exit(t, ["--input-dir", in2, "--checkpoint-dir", chk, "--available-now",
                           "--metrics-addr", "127.0.0.1:0"])
    assert rc == 2, (rc, err)
    assert os.path.realpath(in1) in err and os.path.realpath(in2) in err, err
    assert "another input" in err, err
    # The same directory by another path (relative, through a link): accepted.
    link = os.path.join(t.dir, "link-to-in")
    os.symlink(in1, link)
    for path in (os.path.relpath(in1, t.dir), link):
        rc, err = run_exit(t, ["--input-dir", path, "--checkpoint-dir", chk, "--available-now",
                               "--metrics-addr", "127.0.0.1:0"])
        assert rc == 0, (path, err)


def test_old_dir_binding_upgraded(t):
    in1, chk = t.dirs()
    in2 = t.mkdir("other-input")
    write_file(os.path.join(in1, "a.txt"), "alpha\n")
    ms = t.mstream(in1, chk)
    ms.start()
    exp = collections.Counter(["alpha"])
    ms.wait_counts(exp, settle=0.2)
    assert ms.term() == 0
    real = os.path.realpath(in1)
    assert ckpt_edit(chk, "get", "m:source") == (0, "dir:" + real)
    for staged in (("put", "m:source", "dir"), ("delete", "m:source")):
        # As an older mstream left it: a bare "dir", or no source record.
        assert ckpt_edit(chk, *staged)[0] == 0
        write_file(os.path.join(in1, "b%d.txt" % len(staged)), "beta\n")
        exp["beta"] += 1
        ms.start()
        ms.wait_counts(exp, settle=0.3, what="the old checkpoint keeps counting")
        assert ms.term() == 0
        assert ckpt_edit(chk, "get", "m:source") == (0, "dir:" + real), staged
        rc, err = run_exit(t, ["--input-dir", in2, "--checkpoint-dir", chk, "--available-now",
                               "--metrics-addr", "127.0.0.1:0"])
        assert rc == 2 and real in err, (rc, err)


if __name__ == "__main__":
    mstest.main(globals())
