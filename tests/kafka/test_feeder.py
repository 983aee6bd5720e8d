"""ms_feeder: atomic delivery of text files into a watched directory."""
import gzip
import os
import signal
import threading
import time

import kafkatest as kt


def visible(d):
    return sorted(n for n in os.listdir(d) if not (n.startswith(".") or n.endswith(".tmp")))


def make_input(t, nlines=95):
    p = os.path.join(t.dir, "words.txt")
    lines = ["line %d %s\n" % (i, "w%d " % (i % 7) * (i % 5)) for i in range(nlines)]
    with open(p, "w") as f:
        f.writelines(lines)
    return p, lines


def test_split_into_files_of_n_lines(t):
    src, lines = make_input(t)
    out = os.path.join(t.dir, "out")
    rc, _, err = kt.run(t, [kt.BIN["feeder"], "--out", out, "--from", src, "--lines-per-file", "10"],
                        "feeder", expect=0)
    names = os.listdir(out)
    assert sorted(names) == ["words-%06d.txt" % i for i in range(1, 11)], names
    data = ""
    for n in sorted(names):
        with open(os.path.join(out, n)) as f:
            part = f.read()
        assert part.count("\n") == (10 if n != "words-000010.txt" else 5), (n, part)
        data += part
    assert data == "".join(lines)
    s = kt.summary(err)
    assert s["files"] == "10" and s["lines"] == "95" and s["bytes"] == str(len(data)), s


def test_files_are_never_seen_partial(t):
    # A reader polls the directory while the feeder works: every visible
    # file must already hold its complete content.
    src, lines = make_input(t, 400)
    out = t.mkdir("out")
    expected = {"words-%06d.txt" % (i // 4 + 1): "".join(lines[i:i + 4]) for i in range(0, 400, 4)}
    seen, bad = set(), []
    stop = threading.Event()

    def watch():
        deadline = time.monotonic() + kt.scaled(60)
        while not stop.is_set() and time.monotonic() < deadline:
            for n in visible(out):
                if n in seen:
                    continue
                with open(os.path.join(out, n)) as f:
                    got = f.read()
                if got != expected.get(n):
                    bad.append((n, got))
                seen.add(n)
    th = threading.Thread(target=watch)
    th.start()
    try:
        p = t.feeder("--out", out, "--from", src, "--lines-per-file", "4", "--rate", "200")
        assert p.wait(60) == 0, p.describe()
    finally:
        stop.set()
        th.join(kt.scaled(70))
    assert not bad, "partial or wrong files seen: %r" % bad[:3]
    assert set(visible(out)) == set(expected)
    assert len(seen) > 0
    assert [n for n in os.listdir(out) if n.startswith(".")] == [], "temporary files left"


def test_rate_uses_absolute_deadlines(t):
    src, _ = make_input(t, 20)
    out = os.path.join(t.dir, "out")
    p = t.feeder("--out", out, "--from", src, "--lines-per-file", "1", "--rate", "40")
    assert p.wait(60) == 0, p.describe()
    s = kt.summary(p.stderr())
    # 20 files at 40/s: the last is due 19/40 s after the first.
    el = float(s["elapsed_s"])
    assert 0.475 <= el <= 0.475 + kt.scaled(2.0), s
    mt = sorted(os.stat(os.path.join(out, n)).st_mtime for n in visible(out))
    assert len(mt) == 20


def test_directory_input_gz_and_ignored_names(t):
    src = t.mkdir("src")
    with open(os.path.join(src, "a.txt"), "w") as f:
        f.write("alpha beta\ngamma\n")
    with gzip.open(os.path.join(src, "b.txt.gz"), "wb") as f:
        f.write(b"delta\nepsilon")                 # no final newline: kept as is
    for ignored in (".hidden.txt", "_tmp.txt", "c.txt.tmp"):
        with open(os.path.join(src, ignored), "w") as f:
            f.write("ignored\n")
    open(os.path.join(src, "empty.txt"), "w").close()
    out = os.path.join(t.dir, "out")
    rc, _, err = kt.run(t, [kt.BIN["feeder"], "--out", out, "--from", src, "--prefix", "run1"],
                        "feeder", expect=0)
    assert visible(out) == ["run1-a.txt", "run1-b.txt", "run1-empty.txt"], os.listdir(out)
    with open(os.path.join(out, "run1-b.txt")) as f:
        assert f.read() == "delta\nepsilon"
    with open(os.path.join(out, "run1-empty.txt")) as f:
        assert f.read() == ""
    # Never replaces a file: a second run into the same names fails clearly.
    with open(os.path.join(out, "run1-a.txt")) as f:
        before = f.read()
    rc, _, err = kt.run(t, [kt.BIN["feeder"], "--out", out, "--from", src, "--prefix", "run1"],
                        "again")
    assert rc == 2 and "already exists" in err, (rc, err)
    with open(os.path.join(out, "run1-a.txt")) as f:
        assert f.read() == before
    assert not [n for n in os.listdir(out) if n.startswith(".")]


def test_sigint_stops_cleanly(t):
    src, lines = make_input(t, 200)
    out = t.mkdir("out")
    p = t.feeder("--out", out, "--from", src, "--lines-per-file", "2", "--rate", "20")
    kt.wait_for(lambda: len(visible(out)) >= 3, 30, "3 files delivered")
    p.signal(signal.SIGINT)
    assert p.wait(30) == 0, p.describe()
    s = kt.summary(p.stderr())
    n = len(visible(out))
    assert s["interrupted"] == "1" and int(s["files"]) == n and 3 <= n < 100, (s, n)
    for i, name in enumerate(visible(out)):
        with open(os.path.join(out, name)) as f:
            assert f.read() == "".join(lines[2 * i:2 * i + 2]), name
    assert not [x for x in os.listdir(out) if x.startswith(".")], "temporary file left"


def test_loop_with_max_files(t):
    # --loop: the input again and again, pass K's files named pK-...; here
    # 3 files per pass, --max-files 7 ends it in the third pass.
    src, lines = make_input(t, 6)
    out = os.path.join(t.dir, "out")
    rc, _, err = kt.run(t, [kt.BIN["feeder"], "--out", out, "--from", src, "--lines-per-file", "2",
                            "--loop", "--max-files", "7"], "feeder", expect=0)
    want = ["p%06d-words-%06d.txt" % (k, j) for k in (1, 2, 3) for j in (1, 2, 3)][:7]
    assert visible(out) == want, visible(out)
    for name in want:
        j = int(name[-10:-4])
        with open(os.path.join(out, name)) as f:
            assert f.read() == "".join(lines[2 * (j - 1):2 * j]), name
    s = kt.summary(err)
    assert s["files"] == "7" and s["passes"] == "3" and s["deleted"] == "0", s


def test_loop_keeps_feeding_and_keep_files_bounds_the_directory(t):
    # An endless --loop at 50 files/s with --keep-files 4: it is still
    # feeding in its third pass, the directory never holds more than the 4
    # newest files (plus the one being published), and SIGINT stops it.
    src, lines = make_input(t, 6)
    out = t.mkdir("out")
    p = t.feeder("--out", out, "--from", src, "--lines-per-file", "2", "--loop", "--rate", "50",
                 "--keep-files", "4")
    most = [0]

    def third_pass():
        names = visible(out)
        most[0] = max(most[0], len(names))
        return any(n.startswith("p000003-") for n in names)
    kt.wait_for(third_pass, 60, "files of the third pass", interval=0.01, on_timeout=p.describe)
    assert p.proc.poll() is None, "the feeder stopped by itself:\n" + p.describe()
    p.signal(signal.SIGINT)
    assert p.wait(30) == 0, p.describe()
    s = kt.summary(p.stderr())
    names = visible(out)
    assert s["interrupted"] == "1" and int(s["passes"]) >= 3, s
    assert len(names) == 4 and most[0] <= 5, (names, most[0])
    assert int(s["deleted"]) == int(s["files"]) - 4, s
    # the four kept are the newest: the last ones delivered, in name order
    order = ["p%06d-words-%06d.txt" % (k, j) for k in range(1, int(s["passes"]) + 1)
             for j in (1, 2, 3)][:int(s["files"])]
    assert names == order[-4:], (names, order[-6:])
    for name in names:
        j = int(name[-10:-4])
        with open(os.path.join(out, name)) as f:
            assert f.read() == "".join(lines[2 * (j - 1):2 * j]), name
    assert not [x for x in os.listdir(out) if x.startswith(".")], "temporary file left"


def test_usage(t):
    F = kt.BIN["feeder"]
    rc, out, _ = kt.run(t, [F, "--help"], "help")
    assert rc == 0 and "--lines-per-file" in out and "--rate" in out
    assert "--loop" in out and "--keep-files" in out, out
    for argv, msg in (([], "are required"),
                      (["--out", t.dir, "--from", t.dir, "--loop"], "--loop needs --rate"),
                      (["--out", t.dir, "--from", os.path.join(t.dir, "nope")], "No such file"),
                      (["--out", t.dir, "--from", t.dir, "--rate", "-1"], "between")):
        rc, _, err = kt.run(t, [F] + argv, "usage")
        assert rc == 2 and msg in err, (argv, rc, err)


if __name__ == "__main__":
    kt.run_tests(globals())
