#!/usr/bin/env python3
"""Exactly-once under crashes, with the state larger than memory.

test_kill9_loop_small_memory: test_crashloop's random input (odd bytes,
appends split anywhere, renames, .tmp deliveries), but over a vocabulary of
tens of thousands of words, with --state-memory 1M (the minimum: a cache of
a few thousand groups) and small batches, so that cache misses (reads of
RocksDB, the deferred MultiGet of the word count), evictions, commits and
kill -9 (random, and failpoints inside plan..commit) interleave.  Published
results never exceed what was written, a restart never shows less than
was published, and the drained results equal the oracle.
Reproduce a failure with MSTREAM_CRASH_SEED=<seed printed>.
"""
import collections
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import oracle_dir  # noqa: E402
from test_crashloop import Feeder, _below, _within  # noqa: E402


class WideFeeder(Feeder):
    """Most words from a vocabulary far larger than the cache."""

    def word(self):
        if self.rng.random() < 0.7:
            return b"v%d" % self.rng.randrange(40000)
        return Feeder.word(self)


def test_kill9_loop_small_memory(t):
    seed = int(os.environ.get("MSTREAM_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    kills = int(os.environ.get("MSTREAM_CRASH_KILLS") or 20)
    print("state_crashloop: MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d" % (seed, kills), flush=True)
    rng = random.Random(seed)
    in_dir, chk = t.dirs()
    feed = WideFeeder(rng, in_dir)
    small = ["--state-memory", "1M", "--max-bytes-per-trigger", "4K"]
    # A state much larger than the cache before the first kill.
    for _ in range(60):
        feed.op()
    published = {}
    killed_at = collections.Counter()
    evictions = reads = 0
    try:
        for k in range(kills):
            for _ in range(rng.choice([0, 1, 3])):
                feed.op()
            wait = rng.choice(["ready", "ready", "serving", None])
            fp = None
            if rng.random() < 0.3:
                fp = "%s:%d" % (rng.choice(["after_plan", "after_read", "after_commit"]),
                                rng.randint(1, 3))
                wait = None
            ms = t.mstream(in_dir, chk, *small, name="run%02d" % k)
            ms.start(wait=wait, env={"MSTREAM_FAILPOINT": fp} if fp else None)
            if wait == "ready":
                got = ms.results()
                lost = _below(got, published)
                assert not lost, "after restart %d counts went down: %r" % (
                    k, dict(list(lost.items())[:20]))
            deadline = time.monotonic() + rng.uniform(0.2, 1.0) * mstest.SCALE
            while time.monotonic() < deadline and (fp is None or ms.alive()):
                feed.op()
                time.sleep(rng.uniform(0, 0.03))
                if wait and rng.random() < 0.1:
                    got = ms.results()
                    over = _within(got, feed.expected())
                    assert not over, "run %d: counted more than was written: %r" % (
                        k, dict(list(over.items())[:20]))
                    published = got
            if not ms.alive():
                assert fp is not None and ms.proc.returncode == -9, (
                    "mstream died on its own (rc %s, failpoint %s) in run %d\n%s"
                    % (ms.proc.returncode, fp, k, ms.describe()))
                killed_at["failpoint"] += 1
                continue
            if wait:
                try:
                    published = ms.results()
                    s = ms.status()["queries"][0]["state"]
                    evictions += s["cacheEvictions"]
                    reads += s["stateReads"]
                except Exception:
                    pass
            assert ms.kill9() == -9
            killed_at["kill9"] += 1
        feed.finish()
        # Words the state has never seen, several times what the cache
        # holds: the final run must evict (short runs between kills may
        # not have filled the cache).
        fresh = b"".join(b"fresh%05d\n" % i for i in range(30000))
        mstest.write_file(os.path.join(in_dir, "fresh-words.txt"), fresh)
        feed.files["fresh-words.txt"] = fresh
        expected = feed.expected()
        assert oracle_dir(in_dir) == expected, "test bug: tracked input differs from the files"
        ms = t.mstream(in_dir, chk, *small, name="final")
        ms.start()
        ms.wait_counts(expected, timeout=180, settle=2.0, what="drained results == oracle")
        s = ms.status()["queries"][0]["state"]
        evictions += s["cacheEvictions"]
        reads += s["stateReads"]
        assert not s["allInMemory"] and s["groups"] > 4 * s["groupsInMemory"], s
        assert evictions > 0 and reads > 0, "the cache never missed or evicted: %r" % s
        assert ms.term() == 0
        print("state_crashloop: %d kills (%s), %d distinct words, cache evictions %d, state "
              "reads %d seen" % (kills, dict(killed_at), len(expected), evictions, reads), flush=True)
    except AssertionError as e:
        raise AssertionError("%s\n(reproduce with MSTREAM_CRASH_SEED=%d MSTREAM_CRASH_KILLS=%d)"
                             % (e, seed, kills)) from None


if __name__ == "__main__":
    mstest.run(globals())
