#!/usr/bin/env python3
"""--clean-source archive under kill -9: every file archived exactly once,
never before the commit that read it.

A writer delivers text and .gz files into the input directory and into
subdirectories it creates as it goes (--recursive): most moved in complete
(a .tmp name, then a rename), some written in place in pieces (no piece but
the last ends a line, so a file is never read to its end before it is
complete).  mstream runs with --clean-source archive and is SIGKILLed at
random moments (MSTREAM_CRASH_KILLS, default 20), some runs with a
failpoint armed inside plan..commit, and restarted.  After every kill the
restarted engine's results (its durable state) hold every word of every
file found in the archive: nothing was archived before its commit.  At the
end the results equal the oracle (Python's gzip module for .gz files),
the input directory holds no file, and the archive holds every file
exactly once, under its path, with its bytes.  (Random kills rarely land
between a plan that archives and the commit it waits for; test_files.py's
test_archive_waits_for_a_failed_commit stages that moment exactly.)
Reproduce with MSTREAM_CRASH_SEED=<seed printed>.
"""
import collections
import gzip
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import append_file, count_words, diff_counts, write_file  # noqa: E402

VOCAB = [b"alpha", b"beta", b"gamma", b"delta", b"eps", b"zeta", b"eta", b"theta", b"\xce\xbb"]


def file_counts(rel, data):
    return count_words(gzip.decompress(data) if rel.endswith(".gz") else data)


def tree(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


class Writer:
    def __init__(self, rng, in_dir):
        self.rng = rng
        self.dir = in_dir
        self.files = {}       # rel -> final bytes
        self.pending = {}     # rel -> bytes still to write
        self.dirs = [""]
        self.seq = 0
        self.ops = collections.Counter()

    def text(self):
        lines = [b" ".join(self.rng.choice(VOCAB) + b"%d" % self.rng.randrange(40)
                           for _ in range(self.rng.randint(1, 6)))
                 for _ in range(self.rng.randint(1, 60))]
        return b"\n".join(lines) + b"\n"

    def op(self):
        r = self.rng.random()
        if r < 0.1 and len(self.dirs) < 12:
            parent = self.rng.choice(self.dirs)
            self.seq += 1
            d = os.path.join(parent, "d%03d" % self.seq)
            os.makedirs(os.path.join(self.dir, d))
            self.dirs.append(d)
            self.ops["mkdir"] += 1
            return
        self.seq += 1
        gz = self.rng.random() < 0.4
        rel = os.path.join(self.rng.choice(self.dirs), "f%05d.%s" % (self.seq, "csv.gz" if gz else "txt"))
        text = self.text()
        data = gzip.compress(text, mtime=0) if gz else text
        self.files[rel] = data
        p = os.path.join(self.dir, rel)
        if r < 0.8 or gz:
            write_file(p + ".tmp", data)
            os.rename(p + ".tmp", p)
            self.ops["atomic"] += 1
        else:
            self.pending[rel] = data
            self.write_some(rel)
            self.ops["in-place"] += 1

    def write_some(self, rel):
        data = self.pending[rel]
        done = len(self.files[rel]) - len(data)
        # Cut where no line ends: the file is not read to its end before
        # its last piece (a file finished early would be archived early).
        cuts = [i for i in range(1, len(data)) if self.files[rel][done + i - 1:done + i] != b"\n"]
        cut = self.rng.choice(cuts) if cuts and self.rng.random() < 0.7 else len(data)
        append_file(os.path.join(self.dir, rel), data[:cut])
        if cut == len(data):
            del self.pending[rel]
        else:
            self.pending[rel] = data[cut:]

    def some_piece(self):
        if self.pending:
            self.write_some(self.rng.choice(sorted(self.pending)))
            self.ops["piece"] += 1

    def finish(self):
        while self.pending:
            rel = sorted(self.pending)[0]
            append_file(os.path.join(self.dir, rel), self.pending.pop(rel))

    def oracle(self):
        total = collections.Counter()
        for rel, data in self.files.items():
            total.update(file_counts(rel, data))
        return total


def _below(got, floor):
    return {w: (got.get(w, 0), c) for w, c in floor.items() if got.get(w, 0) < c}


def test_archive_kill9_loop(t):
    seed = int(os.environ.get("MSTREAM_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    kills = int(os.environ.get("MSTREAM_CRASH_KILLS") or 20)
    print("archive crashloop: MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d" % (seed, kills),
          flush=True)
    rng = random.Random(seed)
    in_dir, chk = t.dirs()
    arch = t.mkdir("archive")
    w = Writer(rng, in_dir)
    args = ["--recursive", "--clean-source", "archive", "--source-archive-dir", arch]
    deaths = collections.Counter()
    checked = 0
    try:
        for k in range(kills):
            for _ in range(rng.choice([0, 1, 3])):
                w.op()
            extra = rng.choice([[], [], ["--max-files-per-trigger", "2"],
                                ["--max-bytes-per-trigger", "2K"], ["--trigger-sec", "0.05"]])
            fp = None
            if rng.random() < 0.3:
                fp = "%s:%d" % (rng.choice(["after_plan", "after_read", "after_commit"]),
                                rng.randint(1, 3))
            ms = t.mstream(in_dir, chk, *(args + extra), name="run%02d" % k)
            ms.start(wait=None if fp else "ready", env={"MSTREAM_FAILPOINT": fp} if fp else None)
            if not fp:
                # What the previous runs archived is in this run's state,
                # which is what the checkpoint holds: nothing was archived
                # before the commit that read it.
                archived = collections.Counter()
                for rel, data in tree(arch).items():
                    archived.update(file_counts(rel, data))
                got = ms.results()
                early = _below(got, archived)
                assert not early, "run %d: archived files not in the committed counts: %r" % (
                    k, dict(list(early.items())[:10]))
                checked += 1
            deadline = time.monotonic() + rng.uniform(0.1, 1.0) * mstest.SCALE
            while time.monotonic() < deadline and (fp is None or ms.alive()):
                w.op() if rng.random() < 0.6 else w.some_piece()
                time.sleep(rng.uniform(0, 0.03))
            if not ms.alive():
                assert fp and ms.proc.returncode == -9, (
                    "mstream died on its own (rc %s, failpoint %s)\n%s"
                    % (ms.proc.returncode, fp, ms.describe()))
                deaths["failpoint"] += 1
                continue
            assert ms.kill9() == -9, ms.describe()
            deaths["kill9"] += 1
        w.finish()
        expected = w.oracle()
        ms = t.mstream(in_dir, chk, *args, name="final")
        ms.start()
        ms.wait_counts(expected, timeout=120, settle=1.0, what="final results == oracle")

        def left():
            return sorted(tree(in_dir))
        mstest.wait_for(lambda: not left(), 60, "the input directory emptied",
                        on_timeout=lambda: "left: %r\n%s" % (left()[:20], ms.describe()))
        got = tree(arch)
        assert sorted(got) == sorted(w.files), (
            "archive differs: missing %r, extra %r" % (sorted(set(w.files) - set(got))[:10],
                                                       sorted(set(got) - set(w.files))[:10]))
        bad = [rel for rel in w.files if got[rel] != w.files[rel]]
        assert not bad, "archived bytes differ: %r" % bad[:10]
        m = ms.metrics()
        assert m.get("mstream_source_clean_failures_total", source="dir") == 0, m.text
        assert ms.term() == 0
        assert checked >= kills // 3, "only %d restarts were checked" % checked
        print("archive crashloop: %d kills (%s), ops %s, %d files archived once each, %d checks, "
              "%d words" % (kills, dict(deaths), dict(w.ops), len(w.files), checked,
                            sum(expected.values())), flush=True)
    except AssertionError as e:
        raise AssertionError("%s\n(reproduce with MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d)"
                             % (e, seed, kills)) from None


if __name__ == "__main__":
    mstest.main(globals())
