#!/usr/bin/env python3
"""Exactly-once over .gz input under kill -9.

A writer delivers gzip files the ways they arrive in practice: moved in
complete (a .tmp name, then a rename), written in place in pieces cut
anywhere (the engine sees truncated members), grown by whole members
appended later (`gzip -c more >> f.gz`, also in pieces), some members
ending inside a line that a later member ends, and now and then a damaged
file (a flipped byte) or a plain text named .gz, which must add nothing.
Meanwhile mstream is SIGKILLed at random moments (MSTREAM_CRASH_KILLS,
default 25), some runs with a failpoint armed inside plan..commit, and
restarted with random per-trigger caps.  Published counts never exceed the
text of the members written completely, a restart never shows less than
was published before the kill, and at the end the results equal an oracle
computed with Python's gzip module from the files on disk.
Reproduce with MSTREAM_CRASH_SEED=<seed printed>.
"""
import collections
import gzip
import os
import random
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import append_file, count_words, diff_counts, write_file  # noqa: E402

VOCAB = [b"task", b"job", b"evict", b"fail", b"finish", b"kill", b"lost", b"submit",
         b"schedule", b"caf\xc3\xa9", b"\xff", b"x\\y", b"0", b"1", b"2", b"3"]


def gz_member(text, level):
    return gzip.compress(text, compresslevel=level, mtime=0)


def gz_oracle(data):
    """What mstream counts of a file: the text of its gzip members, whole
    lines only; a file that is not valid gzip counts nothing."""
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return collections.Counter()
    return count_words(text)


class Writer:
    def __init__(self, rng, in_dir):
        self.rng = rng
        self.dir = in_dir
        self.files = {}           # name -> bytes on disk
        self.pending = {}         # name -> bytes still to write (a member in pieces)
        self.expected = collections.Counter()   # text of every member written whole
        self.open_line = {}       # name -> text of members that end inside a line
        self.seq = 0
        self.ops = collections.Counter()

    def text(self, lines):
        out = []
        for _ in range(lines):
            out.append(b" ".join(self.rng.choice(VOCAB) for _ in range(self.rng.randint(1, 6))))
        return b"\n".join(out) + b"\n"

    def _name(self):
        self.seq += 1
        return "part-%05d-of-00500.csv.gz" % self.seq

    def _counted(self, name, text):
        self.expected.update(count_words(text))

    def op(self):
        r = self.rng.random()
        if r < 0.35 or not self.files:
            name = self._name()
            text = self.text(self.rng.randint(1, 400))
            data = gz_member(text, self.rng.choice([1, 6, 9]))
            if self.rng.random() < 0.2:      # several members at once
                extra = self.text(self.rng.randint(1, 50))
                data += gz_member(extra, 1)
                text += extra
            p = os.path.join(self.dir, name)
            write_file(p + ".tmp", data)
            os.rename(p + ".tmp", p)
            self.files[name] = data
            self._counted(name, text)
            self.ops["atomic"] += 1
        elif r < 0.55:
            name = self._name()
            text = self.text(self.rng.randint(50, 600))
            self.files[name] = b""
            self.pending[name] = (gz_member(text, 6), text)
            self.write_some(name)
            self.ops["in-place"] += 1
        elif r < 0.75 and self.pending:
            self.write_some(self.rng.choice(sorted(self.pending)))
            self.ops["piece"] += 1
        elif r < 0.88:
            done = [n for n in self.files if n not in self.pending and n.startswith("part-")]
            if not done:
                return
            name = self.rng.choice(sorted(done))
            if self.rng.random() < 0.3 and name not in self.open_line:
                # A member whose text ends inside a line: nothing of it counts
                # until a later member ends the line.
                head = self.text(self.rng.randint(1, 5)) + b"half"
                self.open_line[name] = head
                data = gz_member(head, 6)
                append_file(os.path.join(self.dir, name), data)
                self.files[name] += data
                self.ops["open-line"] += 1
                return
            text = self.text(self.rng.randint(1, 100))
            head = self.open_line.pop(name, b"")
            self.pending[name] = (gz_member(text, 1), head + text)
            self.write_some(name)
            self.ops["append-member"] += 1
        elif r < 0.93:
            name = "broken-%05d.gz" % self.seq
            self.seq += 1
            data = bytearray(gz_member(self.text(200), 6))
            data[self.rng.randrange(12, len(data) - 8)] ^= 1 << self.rng.randrange(8)
            p = os.path.join(self.dir, name)
            write_file(p + ".tmp", bytes(data))
            os.rename(p + ".tmp", p)
            self.files[name] = bytes(data)
            self.expected.update(gz_oracle(bytes(data)))  # almost always nothing
            self.ops["damaged"] += 1
        else:
            name = "text-%05d.gz" % self.seq
            self.seq += 1
            p = os.path.join(self.dir, name)
            data = self.text(3)
            write_file(p + ".tmp", data)
            os.rename(p + ".tmp", p)
            self.files[name] = data
            self.ops["not-gzip"] += 1

    def write_some(self, name):
        data, text = self.pending[name]
        cut = self.rng.randint(1, len(data))
        append_file(os.path.join(self.dir, name), data[:cut])
        self.files[name] += data[:cut]
        if cut == len(data):
            del self.pending[name]
            self._counted(name, text)
        else:
            self.pending[name] = (data[cut:], text)

    def finish(self):
        for name in sorted(self.open_line):      # end the lines left open
            if name not in self.pending:
                self.pending[name] = (gz_member(b" end\n", 1), self.open_line.pop(name) + b" end\n")
        while self.pending:
            name = sorted(self.pending)[0]
            data, text = self.pending.pop(name)
            append_file(os.path.join(self.dir, name), data)
            self.files[name] += data
            self._counted(name, text)

    def oracle(self):
        total = collections.Counter()
        for name in sorted(os.listdir(self.dir)):
            if mstest.is_ignored_name(name):
                continue
            with open(os.path.join(self.dir, name), "rb") as f:
                data = f.read()
            assert data == self.files[name], "test bug: %s differs from what was written" % name
            total.update(gz_oracle(data))
        return total


def _over(got, allowed):
    return {w: (c, allowed.get(w, 0)) for w, c in got.items() if c > allowed.get(w, 0)}


def _below(got, floor):
    return {w: (got.get(w, 0), c) for w, c in floor.items() if got.get(w, 0) < c}


def test_gz_kill9_loop(t):
    seed = int(os.environ.get("MSTREAM_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    kills = int(os.environ.get("MSTREAM_CRASH_KILLS") or 25)
    print("gz crashloop: MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d" % (seed, kills), flush=True)
    rng = random.Random(seed)
    in_dir, chk = t.dirs()
    w = Writer(rng, in_dir)
    published = {}
    deaths = collections.Counter()
    try:
        for k in range(kills):
            for _ in range(rng.choice([0, 1, 3])):          # while down
                w.op()
            extra = rng.choice([[], [], ["--max-bytes-per-trigger", "3K"],
                                ["--max-files-per-trigger", "1"], ["--trigger-sec", "0.05"]])
            fp = None
            if rng.random() < 0.3:
                fp = "%s:%d" % (rng.choice(["after_plan", "after_read", "after_commit"]),
                                rng.randint(1, 3))
            ms = t.mstream(in_dir, chk, *extra, name="run%02d" % k)
            ms.start(wait=None if fp else "ready", env={"MSTREAM_FAILPOINT": fp} if fp else None)
            if not fp:
                got = ms.results()
                lost = _below(got, published)
                assert not lost, "restart %d lost published counts: %r" % (k, dict(list(lost.items())[:10]))
            deadline = time.monotonic() + rng.uniform(0.1, 1.0) * mstest.SCALE
            while time.monotonic() < deadline and (fp is None or ms.alive()):
                w.op()
                time.sleep(rng.uniform(0, 0.03))
                if not fp and rng.random() < 0.3:
                    got = ms.results()
                    over = _over(got, w.expected)
                    assert not over, "run %d counted more than was written: %r" % (
                        k, dict(list(over.items())[:10]))
                    published = got
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
        assert expected == w.expected, "test bug: oracle and writer disagree:\n" + diff_counts(
            w.expected, expected)
        ms = t.mstream(in_dir, chk, name="final")
        ms.start()
        ms.wait_counts(expected, timeout=120, settle=2.0, what="final results == gzip oracle")
        assert ms.term() == 0
        assert w.ops["atomic"] and w.ops["in-place"] and w.ops["append-member"], dict(w.ops)
        print("gz crashloop: %d kills (%s), ops %s, %d files, %d distinct words, %d words"
              % (kills, dict(deaths), dict(w.ops), len(w.files), len(expected),
                 sum(expected.values())), flush=True)
    except AssertionError as e:
        raise AssertionError("%s\n(reproduce with MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d)"
                             % (e, seed, kills)) from None


if __name__ == "__main__":
    mstest.main(globals())
