#!/usr/bin/env python3
"""Hostile and broken input: binary files, invalid UTF-8 and control bytes
(display form + a /metrics that promtool accepts), 100 MB lines, empty,
vanished and unreadable files, and unusable --input-dir / --checkpoint-dir.
The engine must keep running where the contract says so and fail with a
clear message (never a crash) where it cannot."""
import collections
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import (append_file, atomic_write, display, oracle, scaled, shim_env,  # noqa: E402
                    words, write_file)

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "Segmentation fault")


def no_crash(ms):
    err = ms.stderr()
    for marker in SANITIZER_MARKERS:
        assert marker not in err, "sanitizer/crash report in stderr:\n%s" % ms.describe()


def _rejected(m, reason):
    return m.get("mstream_source_files_rejected_total", 0.0, source="dir", reason=reason)


def _malformed(m, reason):
    return m.get("mstream_malformed_rows_total", 0.0, query="wordcount", reason=reason)


def test_binary_file_rejected(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    atomic_write(os.path.join(in_dir, "bin.dat"), b"binword \x00\x01\x02 binword\nmore binword\n")
    atomic_write(os.path.join(in_dir, "control.txt"),
                 b"binword " * 1000 + b"x" * 10 + b"\n")   # same words, no NUL: counted
    nul_at_8000 = b"pad " * 2000 + b"\x00\n"               # NUL at offset 8000 (< 8 KiB)
    assert nul_at_8000.index(b"\x00") < 8192
    atomic_write(os.path.join(in_dir, "bin2.log"), nul_at_8000)
    nul_after = b"tail " * 1800 + b"nul\x00byte\n"          # first NUL at offset 9000 (> 8 KiB)
    assert nul_after.index(b"\x00") >= 8192
    atomic_write(os.path.join(in_dir, "nul-after-8k.txt"), nul_after)
    write_file(os.path.join(in_dir, "good.txt"), "good words here\n")
    exp = collections.Counter(words("good words here"))
    exp.update({"binword": 1000, "x" * 10: 1, "tail": 1800, "nul\\x00byte": 1})
    ms.wait_counts(exp, settle=1.0, what="text files counted, binary ones not")
    m = ms.wait_metric(lambda m: _rejected(m, "binary") >= 2,
                       "mstream_source_files_rejected_total{reason=\"binary\"} >= 2")
    assert _rejected(m, "binary") == 2, "exactly two binary files: %s" % _rejected(m, "binary")
    # Still running and still reading.
    write_file(os.path.join(in_dir, "after.txt"), "after binary\n")
    exp.update(["after", "binary"])
    ms.wait_counts(exp, settle=0.3)
    no_crash(ms)


ODD_WORDS = [
    b"plain", b"caf\xc3\xa9", b"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", b"\xf0\x9f\x98\x80",
    b"\xff", b"\xff\xfe", b"\\xff", b"a\x01b", b"\x1b[31mred", b"del\x7f", b"back\\slash",
    b"\\", b"\\\\", b'qu"ote', b'"', b"{label=\"x\"}", b"a,b=c", b"\xc3", b"\xe2\x82",
    b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xc2\x85c1", b"\x80cont",
    b"#comment", b"UPPER", b"upper", b"x" * 1000,
]


def _odd_file_bytes():
    lines = []
    for i, w in enumerate(ODD_WORDS):
        lines.append(b" ".join([w] * (1 + i % 3)))
    return b"\n".join(lines) + b"\n"


def test_odd_bytes_display_form_and_promtool(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    data = _odd_file_bytes()
    atomic_write(os.path.join(in_dir, "odd.txt"), data)
    exp = oracle([data])
    # The display form is injective: as many distinct display words as raw ones.
    assert len(exp) == len(set(ODD_WORDS)), "test vocabulary collides in display form"
    assert display(b"\xff") == "\\xff" and display(b"\\xff") == "\\\\xff", "oracle display form"
    assert display(b"\xff") in exp and display(b"\\xff") in exp and exp["\\\\"] == 3, exp
    ms.wait_counts(exp, settle=0.5, what="odd words in display form")

    text = ms.metrics_text()
    m = mstest.Metrics(text)
    assert m.words() == {k: float(v) for k, v in exp.items()}, (
        "/metrics word series differ from results:\n%s" % mstest.diff_counts(
            exp, {k: int(v) for k, v in m.words().items()}))
    path = os.path.join(t.dir, "metrics.txt")
    write_file(path, text)
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not os.path.exists(promtool):
        raise mstest.Skip("promtool not installed (Debian package prometheus)")
    with open(path, "rb") as f:
        r = subprocess.run([promtool, "check", "metrics"], stdin=f, capture_output=True,
                           timeout=scaled(60))
    assert r.returncode == 0, "promtool check metrics failed (rc %d; 1 = parse error, 3 = lint):\n%s%s" % (
        r.returncode, r.stdout.decode(errors="replace")[:3000], r.stderr.decode(errors="replace")[:3000])

    # JSON status with odd bytes around is still valid JSON / UTF-8.
    st = ms.status()
    assert st.get("ready") is True, st


def _write_in_chunks(path, gen, chunk=1 << 20):
    """Write the bytes produced by gen() in ~1 MiB write() calls (the engine
    sees the line grow across several batches)."""
    buf = bytearray()
    with open(path, "wb") as f:
        for piece in gen():
            buf += piece
            while len(buf) >= chunk:
                f.write(buf[:chunk])
                f.flush()
                del buf[:chunk]
        f.write(buf)


def test_100mb_lines(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    size = 100 * 1000 * 1000

    unit = b"alpha beta gamma delta "            # 23 bytes, 4 words
    reps = size // len(unit) + 1

    def words_line():
        block = unit * 10000
        left = reps
        while left > 0:
            n = min(left, 10000)
            yield block if n == 10000 else unit * n
            left -= n
        yield b"\n"
    p = os.path.join(in_dir, "huge-words.txt")
    _write_in_chunks(p, words_line)
    assert os.path.getsize(p) >= size
    exp = collections.Counter({"alpha": reps, "beta": reps, "gamma": reps, "delta": reps})
    ms.wait_counts(exp, timeout=180, settle=1.0, what="a 100 MB line of words")
    os.unlink(p)

    before = _malformed(ms.metrics(), "word_too_long")

    def one_token():
        block = b"x" * (1 << 20)
        for _ in range(size // len(block) + 1):
            yield block
        yield b"\n"
    p = os.path.join(in_dir, "huge-token.txt")
    _write_in_chunks(p, one_token)
    write_file(os.path.join(in_dir, "small.txt"), "small after\n")
    exp.update(["small", "after"])
    ms.wait_counts(exp, timeout=180, settle=1.0, what="100 MB token dropped, later file counted")
    m = ms.wait_metric(lambda m: _malformed(m, "word_too_long") >= before + 1,
                       "mstream_malformed_rows_total{reason=word_too_long} to increase", timeout=60)
    assert _malformed(m, "word_too_long") == before + 1, "one long word, counted %s times" % (
        _malformed(m, "word_too_long") - before)
    os.unlink(p)
    no_crash(ms)
    assert ms.term() == 0


def test_max_word_bytes_boundary(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk, "--max-word-bytes", "8")
    ms.start()
    write_file(os.path.join(in_dir, "w.txt"), b"12345678 123456789 ok \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n")
    # "éééé" is 8 bytes (kept); "123456789" is 9 bytes (dropped).
    exp = {"12345678": 1, "ok": 1, "\u00e9" * 4: 1}
    ms.wait_counts(exp, settle=0.5)
    m = ms.wait_metric(lambda m: _malformed(m, "word_too_long") >= 1, "word_too_long >= 1")
    assert _malformed(m, "word_too_long") == 1, _malformed(m, "word_too_long")


def test_empty_file(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    p = os.path.join(in_dir, "empty.txt")
    write_file(p, b"")
    exp = collections.Counter()
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=0.5)
    m = ms.metrics()
    for reason in ("binary", "unreadable", "vanished"):
        assert _rejected(m, reason) == 0, "empty file rejected as %s" % reason
    append_file(p, "now words\n")
    exp.update(["now", "words"])
    ms.wait_counts(exp, settle=0.5, what="empty file that grew")
    no_crash(ms)


def test_file_vanished_after_plan(t):
    """Deterministic 'deleted before it is read': the batch plan (which names
    the file) is persisted, the process dies at after_plan, the file is
    deleted, and the restarted engine re-runs the plan without it."""
    in_dir, chk = t.dirs()
    write_file(os.path.join(in_dir, "keep.txt"), "kept words kept\n")
    write_file(os.path.join(in_dir, "gone.txt"), "ghost ghost\n")
    ms = t.mstream(in_dir, chk)
    ms.start(wait=None, env={"MSTREAM_FAILPOINT": "after_plan"})
    rc = ms.wait_exit(30)
    assert rc == -9, "failpoint after_plan should SIGKILL the process, rc %r\n%s" % (rc, ms.describe())
    os.unlink(os.path.join(in_dir, "gone.txt"))
    ms.start()
    exp = collections.Counter(words("kept words kept"))
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=1.0, what="planned batch re-run without the deleted file")
    m = ms.metrics()
    assert _rejected(m, "vanished") >= 1, "vanished file not counted: %s" % _rejected(m, "vanished")
    no_crash(ms)


def test_files_deleted_right_after_creation(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    for i in range(40):
        p = os.path.join(in_dir, "flash-%d.txt" % i)
        write_file(p, "flash\n")
        os.unlink(p)
    exp = collections.Counter()
    t.sentinel(in_dir, exp)

    last = {}

    def ok():
        ms.check_alive()
        got = ms.results()
        flashes = got.pop("flash", 0)
        assert flashes <= 40, "more flash words than files: %d" % flashes
        last["got"] = got
        return got == exp

    def describe():
        # Which side differs, and the engine's own view, to diagnose a rare
        # failure seen once under ASan with the suite running in parallel.
        try:
            status = str(ms.get("/api/v1/status")[1])[:4000]
        except Exception as e:  # the engine may be gone
            status = repr(e)
        return "expected %r, got %r\nstatus: %s\n%s" % (exp, last.get("got"), status,
                                                        ms.describe())
    mstest.wait_for(ok, 30, "sentinel after 40 create+delete", interval=0.1, on_timeout=describe)
    no_crash(ms)


def test_unreadable_file(t):
    env = shim_env(MSFAILIO_OPEN_EACCES="secret-")
    in_dir, chk = t.dirs()
    write_file(os.path.join(in_dir, "secret-1.txt"), "hidden treasure\n")
    ms = t.mstream(in_dir, chk, env=env)
    ms.start()
    write_file(os.path.join(in_dir, "public.txt"), "public words\n")
    write_file(os.path.join(in_dir, "secret-2.txt"), "more treasure\n")
    exp = collections.Counter(words("public words"))
    t.sentinel(in_dir, exp)
    ms.wait_counts(exp, settle=1.0, what="readable files counted, unreadable not")
    ms.wait_metric(lambda m: _rejected(m, "unreadable") >= 1,
                   "mstream_source_files_rejected_total{reason=\"unreadable\"} >= 1")
    no_crash(ms)


def test_missing_input_dir(t):
    missing = os.path.join(t.dir, "does-not-exist")
    chk = os.path.join(t.dir, "chk")
    ms = t.mstream(missing, chk)
    ms.start(wait=None)
    rc = ms.wait_exit(15)
    assert rc == 2, "non-existent --input-dir: exit %r, want 2\n%s" % (rc, ms.describe())
    assert missing in ms.stderr(), "message does not name the input dir:\n" + ms.stderr()
    no_crash(ms)


def test_input_dir_is_a_file(t):
    f = os.path.join(t.dir, "plainfile")
    write_file(f, "x\n")
    ms = t.mstream(f, os.path.join(t.dir, "chk"))
    ms.start(wait=None)
    rc = ms.wait_exit(15)
    assert rc == 2, "--input-dir is a regular file: exit %r, want 2\n%s" % (rc, ms.describe())
    assert f in ms.stderr(), ms.stderr()
    no_crash(ms)


def test_unwritable_checkpoint_dir(t):
    in_dir, _ = t.dirs()
    write_file(os.path.join(in_dir, "a.txt"), "a b\n")
    regular = os.path.join(t.dir, "regular-file")
    write_file(regular, "not a directory\n")
    candidates = [
        os.path.join(regular, "chk"),        # ENOTDIR, even for root
        regular,                             # the checkpoint "dir" is a file
        "/proc/mstest-chk-%d" % os.getpid(),  # procfs refuses mkdir, even for root
    ]
    if os.path.isfile("/etc/hostname"):
        candidates.append("/etc/hostname/chk")
    for chk in candidates:
        ms = t.mstream(in_dir, chk, name="chk-%d" % candidates.index(chk))
        ms.start(wait=None)
        rc = ms.wait_exit(30)
        err = ms.stderr()
        assert rc is not None and rc > 0, "checkpoint %s: exit %r (want a non-zero status, no signal)\n%s" % (
            chk, rc, ms.describe())
        assert rc in (1, 2), "checkpoint %s: exit %r, want 1 or 2\n%s" % (chk, rc, ms.describe())
        assert chk in err, "message does not name the checkpoint path %s:\n%s" % (chk, err)
        no_crash(ms)
    assert not os.path.exists(candidates[2])


if __name__ == "__main__":
    mstest.run(globals())
