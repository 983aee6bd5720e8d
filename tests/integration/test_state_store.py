#!/usr/bin/env python3
"""State larger than memory: RocksDB holds the state, memory is a cache
bounded by --state-memory (query/ms_exec.h, state/ms_table.h).

test_state_larger_than_memory: 2,000,000 distinct words (half under ASan; and a quarter as many more
of 1,000 "hot" ones) through --state-memory 16M in small batches; the whole
table, paged in key order through /api/v1/results?order=key, equals the
oracle exactly, and the peak RSS stays within the bound plus the
documented fixed overhead (docs/design.md §2.5: 32 MiB).

test_memory_bound_stops_the_engine: a batch that changes more groups than
the bound holds stops mstream with exit 1 and a sentence that names the
query and the bound and says what to do; the same plan fails again on a
restart with the same bound; a larger bound runs it, exactly.

test_kill9_mid_large_batch: a large batch over a state of 300,000 groups,
killed after it was read (failpoint) and in the middle of its read (kill
-9); each restart is ready, then the counts are exact.

The oracle never holds the two million words: a word's index is recovered
from its spelling (the generator is a bijection), so each row is checked
on its own, in key order (which also proves there are no duplicates).
"""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import write_file  # noqa: E402

ALPHA = b"abcdefghijklmnopqrstuvwxyz"
SPACE = 26 ** 8
MULT = 2654435761          # odd and not a multiple of 13: a bijection mod 26^8
INV = pow(MULT, -1, SPACE)
FIXED_OVERHEAD_MIB = 32    # docs/design.md §2.5: peak RSS <= --state-memory + 32 MiB


def word(i, seed=1):
    x = (i * MULT + seed) % SPACE
    w = bytearray(8)
    for j in range(8):
        w[j] = ALPHA[x % 26]
        x //= 26
    return bytes(w)


def index_of(w, seed=1):
    """The i with word(i) == w, or None for a word that is not 8 letters."""
    if len(w) != 8 or any(c not in ALPHA for c in w):
        return None
    x = 0
    for c in reversed(w):
        x = x * 26 + (c - 97)
    return ((x - seed) * INV) % SPACE


def write_words(path, indices, per_line=10):
    with open(path + ".tmp", "wb") as f:
        line = []
        for i in indices:
            line.append(word(i))
            if len(line) == per_line:
                f.write(b" ".join(line) + b"\n")
                line = []
        if line:
            f.write(b" ".join(line) + b"\n")
    os.rename(path + ".tmp", path)
    return os.path.getsize(path)


def wait_file(ms, name, timeout=300):
    """Until a committed (published) batch has read file `name`, the last
    one written: then every input before it is committed too."""
    def done():
        ms.check_alive()
        st = ms.status()
        for b in st.get("recentProgress", []):
            for src in b.get("sources", []):
                if any(f.get("name") == name for f in src.get("files", [])):
                    return st
        return None
    return mstest.wait_for(done, mstest.scaled(timeout), "a committed batch that read " + name,
                           interval=0.2, on_timeout=ms.describe)


def write_last(in_dir, hot):
    """A last file (newest mtime: read last) of one word the state has."""
    write_file(os.path.join(in_dir, "zz-last.txt"), word(0) + b"\n")
    hot[0] = hot.get(0, 0) + 1


def check_key_order(ms, nkeys, hot, query="wordcount"):
    """Pages the whole table in key order: exactly the words 0..nkeys-1,
    each with count 1 + hot.get(index, 0)."""
    after, rows, prev, batch = None, 0, None, None
    for _page in range(100000):
        path = "/api/v1/results?query=%s&order=key&limit=10000" % query
        if after:
            path += "&after=" + after
        st, body = ms.get(path, timeout=60)
        assert st == 200, "/api/v1/results returned %s: %r" % (st, body[:300])
        j = json.loads(body)
        if batch is None:
            batch = j["batchId"]
            assert j["total"] == nkeys, "total %r, want %d" % (j["total"], nkeys)
        assert j["batchId"] == batch, "the batch changed while paging"
        assert j["order"] == "key"
        for w, c in j["rows"]:
            b = w.encode()
            assert prev is None or b > prev, "not in key order (or a duplicate): %r then %r" % (prev, b)
            prev = b
            i = index_of(b)
            assert i is not None and i < nkeys, "a word that was never written: %r" % w
            assert c == 1 + hot.get(i, 0), "%r: count %d, want %d" % (w, c, 1 + hot.get(i, 0))
            rows += 1
        after = j["next"]
        if after is None:
            break
    assert rows == nkeys, "%d rows in the table, want %d" % (rows, nkeys)


def sanitized():
    """An AddressSanitizer build: its shadow memory and quarantine make RSS
    say nothing about mstream's own memory."""
    try:
        out = subprocess.run(["ldd", mstest.MSTREAM], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return b"libasan" in out


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def test_state_larger_than_memory(t):
    in_dir, chk = t.dirs()
    # Under AddressSanitizer (several times slower, RSS not checked) half
    # the words against half the bound: still 10 times the cache.
    asan = sanitized()
    nkeys = 1000000 if asan else 2000000
    memory = "8M" if asan else "16M"
    rng = random.Random(7)
    hot_idx = [rng.randrange(1000) for _ in range(nkeys // 4)]
    hot = {}
    for i in hot_idx:
        hot[i] = hot.get(i, 0) + 1
    write_words(os.path.join(in_dir, "keys.txt"), range(nkeys))
    write_words(os.path.join(in_dir, "hot.txt"), hot_idx)
    write_last(in_dir, hot)
    ms = t.mstream(in_dir, chk, "--state-memory", memory, "--max-bytes-per-trigger", "128K",
                   name="bounded")
    ms.start()
    st = wait_file(ms, "zz-last.txt")
    q = st["queries"][0]["state"]
    assert q["groups"] == nkeys, q
    assert not q["allInMemory"] and q["groupsInMemory"] < nkeys // 10, q
    assert q["cacheEvictions"] > 0 and q["stateReads"] > 0, q
    assert q["memoryBytes"] <= q["memoryLimitBytes"], q
    check_key_order(ms, nkeys, hot)
    # The top of /metrics: the hot words, exactly.
    top = ms.metrics().words()
    want = sorted(((1 + c, word(i).decode()) for i, c in hot.items()), key=lambda x: (-x[0], x[1]))
    assert len(top) == 100
    assert all(top[w] == c for c, w in want[:100]), "top-K on /metrics differs from the oracle"
    hwm = vm_hwm_kb(ms.pid)
    assert ms.term(60) == 0
    bound = 16 + FIXED_OVERHEAD_MIB
    print("state_larger_than_memory: %d groups, peak RSS %.1f MiB (bound %d MiB), cache %s"
          % (nkeys, hwm / 1024.0, bound, q), flush=True)
    if asan:
        print("state_larger_than_memory: AddressSanitizer build, peak RSS not checked", flush=True)
        return
    assert hwm <= bound * 1024, "peak RSS %.1f MiB > %d MiB (--state-memory 16M + %d MiB)" % (
        hwm / 1024.0, bound, FIXED_OVERHEAD_MIB)


def test_memory_bound_stops_the_engine(t):
    in_dir, chk = t.dirs()
    nkeys = 200000
    write_words(os.path.join(in_dir, "many.txt"), range(nkeys))
    for run in range(2):
        ms = t.mstream(in_dir, chk, "--state-memory", "4M", "--available-now",
                       name="small%d" % run)
        ms.start(wait=None)
        rc = ms.wait_exit(120)
        err = ms.stderr()
        assert rc == 1, "exit %s, want 1 (memory bound)\n%s" % (rc, ms.describe())
        assert "batch 0 not committed: query wordcount:" in err, ms.describe()
        for phrase in ("--state-memory", "--max-bytes-per-trigger", "instead of swapping",
                       "re-runs it exactly"):
            assert phrase in err, "%r missing from the message\n%s" % (phrase, ms.describe())
        if run:
            assert "re-running batch 0 exactly as planned" in err, ms.describe()
    ms = t.mstream(in_dir, chk, "--state-memory", "256M", name="large")
    ms.start()
    wait_file(ms, "many.txt")
    check_key_order(ms, nkeys, {})
    assert ms.term() == 0


def test_kill9_mid_large_batch(t):
    in_dir, chk = t.dirs()
    base = 300000
    write_words(os.path.join(in_dir, "a-state.txt"), range(base))
    ms = t.mstream(in_dir, chk, "--state-memory", "512M", "--available-now", name="state")
    ms.start(wait=None)
    assert ms.wait_exit(120) == 0, ms.describe()
    # The large batch: 1,200,000 words, half of them on keys the state has.
    rng = random.Random(11)
    big = [rng.randrange(base) if k % 2 else base + k // 2 for k in range(1200000)]
    write_words(os.path.join(in_dir, "b-big.txt"), big)
    hot = {}
    for i in big:
        if i < base:
            hot[i] = hot.get(i, 0) + 1
    nkeys = base + 600000
    # Killed once the batch is read, before its commit ...
    ms = t.mstream(in_dir, chk, "--state-memory", "512M", name="after-read")
    ms.start(wait=None, env={"MSTREAM_FAILPOINT": "after_read"})
    assert ms.wait_exit(120) == -9, ms.describe()
    # ... then in the middle of reading it again ...
    ms = t.mstream(in_dir, chk, "--state-memory", "512M", name="mid-read")
    ms.start()
    time.sleep(0.2)
    assert ms.kill9() == -9
    # ... and the next start is ready, with the top-K of /metrics (read
    # from the checkpoint's totals, not from the state), then exact.
    write_last(in_dir, hot)
    ms = t.mstream(in_dir, chk, "--state-memory", "512M", name="final")
    ms.start()
    top = ms.metrics().words()
    assert len(top) == 100, "no top-K on /metrics right after the restart: %d series" % len(top)
    for w, c in top.items():
        i = index_of(w.encode())
        assert i is not None and 1 <= c <= 1 + hot.get(i, 0), "top-K row %r = %r" % (w, c)
    wait_file(ms, "zz-last.txt")
    check_key_order(ms, nkeys, hot)
    assert ms.term() == 0


def test_pages_of_one_batch_while_batches_go_on(t):
    """A client pages a table of several pages while newer batches are
    committed: the first page pins its batch, the next ones name its
    batchId and come from it (the table as of that batch, not a mix);
    a batch no longer kept answers 410, a bad batchId 400."""
    in_dir, chk = t.dirs()
    first = [b"p%05d" % i for i in range(2500)]
    write_file(os.path.join(in_dir, "first.txt"), b"\n".join(first) + b"\n")
    ms = t.mstream(in_dir, chk, "--trigger-sec", "0")
    ms.start()
    ms.wait_counts({w.decode(): 1 for w in first}, what="the first file")
    st, body = ms.get("/api/v1/results?query=wordcount&offset=0&limit=1000")
    assert st == 200, body
    j = json.loads(body)
    pinned, rows = j["batchId"], j["rows"]
    assert j["total"] == 2500, j["total"]
    # Newer batches: every word of the first file once more, and new words.
    for k in range(3):
        write_file(os.path.join(in_dir, "more-%d.txt" % k),
                   b"\n".join(first + [b"q%d-%05d" % (k, i) for i in range(500)]) + b"\n")
        mstest.wait_for(lambda: json.loads(ms.get("/api/v1/status")[1])["lastBatchId"] > pinned + k,
                        30, "batch %d committed" % (pinned + k + 1))
    st, body = ms.get("/api/v1/results?query=wordcount&offset=0&limit=10")
    assert json.loads(body)["batchId"] > pinned and json.loads(body)["total"] == 4000, body[:300]
    offset = len(rows)
    while offset < 2500:
        st, body = ms.get("/api/v1/results?query=wordcount&offset=%d&limit=1000&batchId=%d"
                          % (offset, pinned))
        assert st == 200, (st, body[:300])
        j = json.loads(body)
        assert j["batchId"] == pinned and j["total"] == 2500, (j["batchId"], j["total"])
        rows.extend(j["rows"])
        offset += len(j["rows"])
    assert sorted(rows) == sorted([w.decode(), 1] for w in first), \
        "pages of batch %d are not the table as of that batch" % pinned
    st, body = ms.get("/api/v1/results?query=wordcount&batchId=%d" % (pinned + 100000))
    assert st == 410 and b"no longer kept" in body, (st, body)
    st, body = ms.get("/api/v1/results?query=wordcount&batchId=x1")
    assert st == 400, (st, body)
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
