#!/usr/bin/env python3
"""Exactly-once for a consume-then-delete pipeline, under kill -9.

Files that all start with the same long header (longer than the old
256-byte head marker) arrive through a temp name and a rename; once a file
is committed (its unique token shows in the published results) it may be
deleted, rewritten in place with a new text under the same header, or
appended to.  Deleting and creating files makes the file system hand the
next file a freed inode at once, so most files reuse one.  Meanwhile
mstream is SIGKILLed at random moments (MSTREAM_CRASH_KILLS, default 25)
and restarted; files also come, go and change while it is down.

Every text that was ever a file's content is input once (a rewrite is a new
file, read from its start): published results never exceed the words of
those texts, a restart never shows less than was published before the
kill, and at the end the results equal the oracle exactly.  The oracle is
computed from the texts this script wrote (mstest.count_words).
Reproduce with MSTREAM_CRASH_SEED=<seed printed>.
"""
import collections
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import atomic_write, count_words, diff_counts  # noqa: E402

HEADER = (" ".join("column_%02d_with_a_long_descriptive_name" % i for i in range(8)) + "\n")
assert len(HEADER) > 300


class Pipeline:
    """The writer: what each file holds, and which tokens must be counted
    before the file may be touched again."""

    def __init__(self, rng, in_dir):
        self.rng = rng
        self.dir = in_dir
        self.expected = collections.Counter()
        self.files = {}        # name -> tokens that must show before the next change
        self.seq = 0
        self.inodes = set()
        self.reused = 0
        self.ops = collections.Counter()

    def _text(self, token):
        words = ["ok", "fail", "retry", "kill", "evict", "lost"]
        lines = [token + " " + " ".join(self.rng.choice(words) for _ in range(self.rng.randint(1, 6)))
                 for _ in range(self.rng.randint(1, 12))]
        return "\n".join(lines) + "\n"

    def _token(self):
        self.seq += 1
        return "tok%06d" % self.seq

    def _note_inode(self, path):
        ino = os.stat(path).st_ino
        self.reused += ino in self.inodes
        self.inodes.add(ino)

    def create(self):
        tok = self._token()
        name = "part-%06d.csv" % self.seq
        text = HEADER + self._text(tok)
        atomic_write(os.path.join(self.dir, name), text)
        self._note_inode(os.path.join(self.dir, name))
        self.expected.update(count_words(text.encode()))
        self.files[name] = [tok]
        self.ops["create"] += 1

    def confirmed(self, counts):
        """Files whose every pending token is counted (committed and published)."""
        return [n for n, toks in self.files.items() if all(counts.get(t, 0) > 0 for t in toks)]

    def change(self, counts):
        """Delete, rewrite in place or append to a committed file."""
        ready = self.confirmed(counts)
        if not ready:
            return
        name = self.rng.choice(ready)
        path = os.path.join(self.dir, name)
        r = self.rng.random()
        if r < 0.5:
            os.unlink(path)
            del self.files[name]
            self.ops["delete"] += 1
        elif r < 0.8:
            tok = self._token()
            text = HEADER + self._text(tok)
            with open(path, "w") as f:           # O_TRUNC: same inode, new text
                f.write(text)
            self.expected.update(count_words(text.encode()))
            self.files[name] = [tok]
            self.ops["rewrite"] += 1
        else:
            tok = self._token()
            text = self._text(tok)
            with open(path, "a") as f:
                f.write(text)
            self.expected.update(count_words(text.encode()))
            self.files[name].append(tok)
            self.ops["append"] += 1


def test_consume_then_delete_kill9_loop(t):
    seed = int(os.environ.get("MSTREAM_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    kills = int(os.environ.get("MSTREAM_CRASH_KILLS") or 25)
    print("edges crashloop: MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d" % (seed, kills),
          flush=True)
    rng = random.Random(seed)
    in_dir, chk = t.dirs()
    pipe = Pipeline(rng, in_dir)
    published = {}
    try:
        for k in range(kills):
            for _ in range(rng.choice([0, 1, 2])):         # while down
                pipe.create() if rng.random() < 0.6 else pipe.change(published)
            extra = rng.choice([[], [], ["--max-bytes-per-trigger", "2K"],
                                ["--max-files-per-trigger", "1"], ["--trigger-sec", "0.05"]])
            ms = t.mstream(in_dir, chk, *extra, name="run%02d" % k)
            ms.start()
            got = ms.results()
            lost = {w: (got.get(w, 0), c) for w, c in published.items() if got.get(w, 0) < c}
            assert not lost, "restart %d lost published counts: %r" % (k, dict(list(lost.items())[:10]))
            deadline = time.monotonic() + rng.uniform(0.2, 1.2) * mstest.SCALE
            while time.monotonic() < deadline:
                if rng.random() < 0.5:
                    pipe.create()
                else:
                    pipe.change(published)
                time.sleep(rng.uniform(0, 0.04))
                got = ms.results()
                over = {w: (c, pipe.expected.get(w, 0)) for w, c in got.items()
                        if c > pipe.expected.get(w, 0)}
                assert not over, "run %d counted more than was written: %r" % (
                    k, dict(list(over.items())[:10]))
                published = got
            assert ms.kill9() == -9, ms.describe()
        ms = t.mstream(in_dir, chk, name="final")
        ms.start()
        ms.wait_counts(pipe.expected, timeout=120, settle=2.0, what="final results == oracle")
        assert ms.term() == 0
        assert pipe.reused >= 5, ("only %d files reused an inode: the case is not staged"
                                  % pipe.reused)
        print("edges crashloop: %d kills, ops %s, %d files reused an inode, %d distinct words"
              % (kills, dict(pipe.ops), pipe.reused, len(pipe.expected)), flush=True)
    except AssertionError as e:
        raise AssertionError("%s\n(reproduce with MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d)"
                             % (e, seed, kills)) from None


if __name__ == "__main__":
    mstest.run(globals())
