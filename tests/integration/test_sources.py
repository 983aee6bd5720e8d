#!/usr/bin/env python3
"""Directory source semantics against the real binary, real inotify and a
real RocksDB checkpoint: pick-up of files that arrived while the engine was
down, tail semantics (partial lines wait for their newline, appends are
read once), renames are not re-read, .tmp+rename delivery, ignored names,
truncation, and --available-now with and without per-trigger caps."""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import append_file, atomic_write, scaled, words, write_file  # noqa: E402


def lines_text(prefix, n, width=6):
    """n lines of a few words each, all shorter than 64 bytes."""
    out = []
    for i in range(n):
        out.append(" ".join("%s%d" % (prefix, (i * 7 + j) % width) for j in range(1 + i % 4)))
    return "\n".join(out) + "\n"


def test_files_present_at_start_and_written_while_down(t):
    in_dir, chk = t.dirs()
    texts = {}
    texts["pre1.txt"] = "apple banana\napple\n"
    texts["pre2.txt"] = lines_text("pre", 50)
    for name, text in texts.items():
        write_file(os.path.join(in_dir, name), text)
    ms = t.mstream(in_dir, chk)
    ms.start()
    ms.wait_counts(words("".join(texts.values())), settle=0.5)
    assert ms.term() == 0

    # While the engine is down: plain writes, an atomic delivery, an append
    # to a file that was already counted.
    texts["down1.txt"] = "cherry apple\n"
    write_file(os.path.join(in_dir, "down1.txt"), texts["down1.txt"])
    texts["down2.txt"] = lines_text("down", 200)
    atomic_write(os.path.join(in_dir, "down2.txt"), texts["down2.txt"])
    append_file(os.path.join(in_dir, "pre1.txt"), "banana durian\n")
    texts["pre1.txt"] += "banana durian\n"
    ms.start()
    ms.wait_counts(words("".join(texts.values())), settle=1.0)
    assert ms.term() == 0
    s = ms.summary()
    want = 1 + 1 + 200     # the append to pre1.txt, down1.txt, down2.txt
    assert int(s["input_rows"]) == want, "second run read %s lines, want %d: %r" % (s["input_rows"], want, s)


def test_append_partial_lines(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    p = os.path.join(in_dir, "grow.txt")
    exp = collections.Counter()

    write_file(p, "alpha beta\ngam")              # "gam" has no newline yet
    exp.update(["alpha", "beta"])
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=1.0, what="complete line only")
    got = ms.results()
    assert "gam" not in got and "gamma" not in got, "partial line was counted: %r" % got

    append_file(p, "ma delta\nepsilon")           # completes "gamma"
    exp.update(["gamma", "delta"])
    ms.wait_counts(exp, settle=0.5, what="completed line")

    # A line delivered in several writes with the engine running between them.
    append_file(p, " zeta")
    time.sleep(scaled(0.3))
    append_file(p, " et")
    time.sleep(scaled(0.3))
    append_file(p, "a\n")
    exp.update(["epsilon", "zeta", "eta"])
    ms.wait_counts(exp, settle=0.5, what="line written in three parts")
    got = ms.results()
    for frag in ("et", "a", "epsilonzeta"):
        assert frag not in got, "fragment %r counted: %r" % (frag, got)

    # A partial line pending across a kill -9 is still counted exactly once.
    append_file(p, "theta io")
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.3)
    ms.kill9()
    append_file(p, "ta\nkappa\n")
    exp.update(["theta", "iota", "kappa"])
    ms.start()
    ms.wait_counts(exp, settle=1.0, what="partial line completed while down")


def test_renamed_file_not_reread(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    a = os.path.join(in_dir, "a.txt")
    write_file(a, "one two two\n")
    exp = words("one two two")
    ms.wait_counts(exp, settle=0.3)

    b = os.path.join(in_dir, "b.txt")
    os.rename(a, b)
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=1.0, what="counts unchanged after rename a.txt -> b.txt")

    # The renamed file is the same file: an append is read from where it left off.
    append_file(b, "three\n")
    exp.update(["three"])
    ms.wait_counts(exp, settle=0.5, what="append after rename counted once")

    # Rename while the engine is down.
    assert ms.term() == 0
    c = os.path.join(in_dir, "c.txt")
    os.rename(b, c)
    ms.start()
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=1.0, what="counts unchanged after rename while down")


def test_tmp_rename_and_ignored_names(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    exp = collections.Counter()
    write_file(os.path.join(in_dir, "x.txt.tmp"), "tmpword tmpword\n")
    write_file(os.path.join(in_dir, "y.tmp"), "ytmp\n")
    write_file(os.path.join(in_dir, ".hidden.txt"), "hiddenword\n")
    write_file(os.path.join(in_dir, "_underscore.txt"), "underword\n")
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=1.0, what="ignored names not read")

    # Growing the .tmp file after it was seen changes nothing either.
    append_file(os.path.join(in_dir, "x.txt.tmp"), "tmpword\n")
    os.rename(os.path.join(in_dir, "x.txt.tmp"), os.path.join(in_dir, "x.txt"))
    exp.update({"tmpword": 3})
    ms.wait_counts(exp, settle=0.5, what=".tmp renamed to x.txt counted once")

    os.rename(os.path.join(in_dir, ".hidden.txt"), os.path.join(in_dir, "visible.txt"))
    exp.update(["hiddenword"])
    ms.wait_counts(exp, settle=0.5, what="hidden file counted once renamed")

    # Many atomic deliveries in a row.
    for i in range(30):
        atomic_write(os.path.join(in_dir, "atomic-%02d.txt" % i), "atom atom%d\n" % (i % 5))
        exp.update(["atom", "atom%d" % (i % 5)])
    ms.wait_counts(exp, settle=1.0, what="30 atomic deliveries")
    got = ms.results()
    assert "underword" not in got and "ytmp" not in got, got


def _truncations(m):
    return m.get("mstream_source_truncations_total", 0.0, source="dir")


def test_truncation_noticed(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    p = os.path.join(in_dir, "t.txt")
    write_file(p, "one two three four five six\nseven eight nine\n")
    exp = words("one two three four five six seven eight nine")
    ms.wait_counts(exp, settle=0.5)
    before = _truncations(ms.metrics())

    write_file(p, "ten\n")                        # truncate + shorter content
    exp.update(["ten"])
    ms.wait_counts(exp, settle=1.0, what="new content after truncation")
    ms.wait_metric(lambda m: _truncations(m) > before, "mstream_source_truncations_total to increase")

    append_file(p, "eleven\n")                    # and the file goes on as usual
    exp.update(["eleven"])
    ms.wait_counts(exp, settle=0.5)


def test_truncate_and_rewrite_longer_while_down(t):
    """copytruncate-style rotation while the engine is down: the file is
    truncated and rewritten with *more* bytes than were consumed, so only a
    content check (not the size) can tell."""
    in_dir, chk = t.dirs()
    p = os.path.join(in_dir, "r.txt")
    write_file(p, "old1 old2\n")
    ms = t.mstream(in_dir, chk)
    ms.start()
    exp = words("old1 old2")
    ms.wait_counts(exp, settle=0.3)
    assert ms.term() == 0

    new = "NEW1 NEW2 NEW3 NEW4\nNEW5 NEW6\n"
    write_file(p, new)
    exp.update(words(new))
    ms.start()
    ms.wait_counts(exp, settle=1.0, what="rewritten file read from its start")
    # A new process has its own counters.  The engine may file this under
    # truncations or under rotations (content replaced under the same inode).
    m = ms.metrics()
    after = _truncations(m) + m.get("mstream_source_rotations_total", 0.0, source="dir")
    assert after >= 1, "rewrite not noticed by the restarted engine (truncations+rotations %s)" % after


def _available_now(t, in_dir, chk, *extra):
    ms = t.mstream(in_dir, chk, "--available-now", *extra, name="availnow")
    ms.start(wait=None)
    rc = ms.wait_exit(120)
    assert rc == 0, "--available-now exited %r\n%s" % (rc, ms.describe())
    return ms.summary()


def _verify_checkpoint(t, in_dir, chk, exp):
    """Read the committed results back with a normal run on the checkpoint."""
    ms = t.mstream(in_dir, chk, name="verify")
    ms.start()
    ms.wait_counts(exp, timeout=30, settle=1.0, what="results committed by --available-now")
    assert ms.term() == 0
    s = ms.summary()
    assert s["batches"] == "0", "everything was already committed, yet a batch ran: %r" % s


def _make_corpus(in_dir, nfiles=6, nlines=20):
    total = ""
    for i in range(nfiles):
        text = lines_text("w%d" % (i % 3), nlines + i)
        write_file(os.path.join(in_dir, "f%02d.txt" % i), text)
        total += text
    return total


def test_available_now(t):
    in_dir, chk = t.dirs()
    total = _make_corpus(in_dir)
    s = _available_now(t, in_dir, chk)
    assert int(s["input_rows"]) == total.count("\n"), (s, total.count("\n"))
    assert int(s["input_bytes"]) == len(total.encode()), (s, len(total))
    assert int(s["batches"]) >= 1, s
    _verify_checkpoint(t, in_dir, chk, words(total))

    # Again on the same checkpoint: nothing new, nothing to do.
    s = _available_now(t, in_dir, chk)
    assert s["batches"] == "0" and s["input_rows"] == "0", s


def test_available_now_max_files(t):
    in_dir, chk = t.dirs()
    total = _make_corpus(in_dir, nfiles=6)
    s = _available_now(t, in_dir, chk, "--max-files-per-trigger", "1")
    assert int(s["batches"]) == 6, "6 files, 1 file per trigger: batches=%s" % s["batches"]
    assert int(s["input_rows"]) == total.count("\n"), s
    _verify_checkpoint(t, in_dir, chk, words(total))


def test_available_now_max_bytes(t):
    in_dir, chk = t.dirs()
    total = _make_corpus(in_dir, nfiles=3, nlines=10)
    s = _available_now(t, in_dir, chk, "--maxBytesPerTrigger", "64")
    nbytes = len(total.encode())
    assert int(s["batches"]) > 1, "64-byte cap over %d bytes must take several batches: %r" % (nbytes, s)
    assert int(s["batches"]) >= nbytes // 64 // 2, "suspiciously few batches for the cap: %r" % s
    assert int(s["input_rows"]) == total.count("\n"), s
    _verify_checkpoint(t, in_dir, chk, words(total))


def test_available_now_line_longer_than_byte_cap(t):
    """A single line longer than --max-bytes-per-trigger must still be read
    (progress guaranteed), not loop forever."""
    in_dir, chk = t.dirs()
    text = " ".join("long%d" % (i % 9) for i in range(40)) + "\nshort line\n"
    assert len(text.split("\n")[0]) > 128
    write_file(os.path.join(in_dir, "long.txt"), text)
    s = _available_now(t, in_dir, chk, "--max-bytes-per-trigger", "64")
    assert int(s["input_rows"]) == 2, s
    _verify_checkpoint(t, in_dir, chk, words(text))


def test_available_now_empty_dir(t):
    in_dir, chk = t.dirs()
    s = _available_now(t, in_dir, chk)
    assert s["batches"] == "0" and s["input_rows"] == "0", s


if __name__ == "__main__":
    mstest.run(globals())
