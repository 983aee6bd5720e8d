#!/usr/bin/env python3
"""`mstream checkpoint describe|batches|state` (docs/operations.md, "Inspecting
a checkpoint"): read-only views of a checkpoint that a running engine holds.

  * word count over a directory, two stages of input (so two batches or more),
    words with commas, quotes and odd bytes: with the engine idle and still
    running, `state` (CSV, RFC 4180, and JSON lines) equals every row of
    /api/v1/results; `describe` names the query, the source directory, the
    engine's last committed batch (/api/v1/status) and positions equal to the
    file sizes; `batches` lists consecutive ids ending at it, newest first,
    and `--limit` cuts them; the engine keeps counting afterwards (the tools
    took no lock) and a second engine is still refused with exit 3;
  * task_events_hourly over ms_tracegen's files (several batches, windows
    closed and evicted): `state` equals /api/v1/results (all pages) column by
    column, `describe` shows the watermark /metrics exports and a closed
    window;
  * errors: missing directory, a directory that is not a checkpoint (also a
    RocksDB database without mstream's records), damaged records (m:last,
    w:, a state value, m:query) exit 1 with a sentence naming the record and
    create nothing; usage errors exit 2; --help exits 0.
"""

import csv
import datetime
import io
import json
import os
import random
import subprocess
import time

import mstest
from mstest import atomic_write, scaled, wait_for


def tool(*args, timeout=60):
    p = subprocess.run([mstest.MSTREAM, "checkpoint"] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(timeout))
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


def tool_ok(*args):
    rc, out, err = tool(*args)
    assert rc == 0, "mstream checkpoint %s: exit %d\n%s" % (" ".join(map(str, args)), rc, err)
    return out


def ckpt_edit(*args):
    edit = os.environ.get("MS_CKPT_EDIT")
    if not edit or not os.access(edit, os.X_OK):
        raise mstest.Skip("ms_ckpt_edit not available (MS_CKPT_EDIT)")
    p = subprocess.run([edit] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=scaled(60))
    assert p.returncode == 0, p.stderr
    return p.stdout


def all_results(ms, query):
    """Every row of /api/v1/results?query=..., in pages of 7, and the columns."""
    rows, offset, cols, total = [], 0, None, None
    for _page in range(100000):
        st, body = ms.get("/api/v1/results?query=%s&offset=%d&limit=7" % (query, offset))
        assert st == 200, (st, body[:300])
        j = json.loads(body)
        cols = j["columns"]
        if total is None:
            total = j["total"]
        assert j["total"] == total, "the results changed between pages (engine not idle)"
        rows.extend(j["rows"])
        offset += len(j["rows"])
        if not j["rows"] or offset >= total:
            break
    assert len(rows) == total, (len(rows), total)
    return cols, rows


def wait_idle(ms, total_bytes):
    """The engine read every byte given to it and committed; returns the last batch id."""
    wait_for(lambda: ms.check_alive() or ms.status()["inputBytes"] == total_bytes, 60,
             "every input byte read", on_timeout=ms.describe)
    box = {"prev": None}

    def stable():
        # the same last batch over two polls half a second apart: the commit
        # of the last read is published
        cur = ms.status()["lastBatchId"]
        same = cur == box["prev"] and cur >= 0
        box["prev"] = cur
        return same
    wait_for(stable, 30, "the last batch committed and published", interval=scaled(0.5))
    return box["prev"]


def dir_sizes(d):
    return {n: os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)}


def check_positions(desc, in_dir):
    sizes = dir_sizes(in_dir)
    got = {f["name"]: f["offset"] for f in desc["files"]}
    assert got == sizes, "positions %r, file sizes %r" % (got, sizes)
    assert desc["kafka"] == [], desc["kafka"]


def check_batches(chk, last):
    lines = tool_ok("batches", chk, "--json").splitlines()
    ids = [json.loads(l)["id"] for l in lines]
    assert ids and ids[0] == last, "batches %r, last committed %d" % (ids, last)
    assert ids == list(range(last, last - len(ids), -1)), ids
    assert len(ids) == min(last + 1, 20), (ids, last)
    for l in lines:
        r = json.loads(l)
        assert r["commitTime"].endswith("Z") and r["commitMs"] > 0, r
    two = [json.loads(l)["id"] for l in tool_ok("batches", chk, "--limit", "2", "--json").splitlines()]
    assert two == ids[:2], (two, ids)
    text = tool_ok("batches", chk).splitlines()
    assert text[0].split()[:2] == ["batch", "committed"], text[0]
    assert text[1].split()[0] == str(last), text[1]


# ------------------------------------------------------------ word count

WORDS1 = b"spark flink spark kafka a,b \"quoted\" x\"y\n" + b"naive caf\xc3\xa9 \xff\xfebad\n" * 3
WORDS2 = b"spark rocksdb comma,comma,  tab\there\n"


def test_wordcount_state_equals_results_while_held(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk, "--trigger-sec", "0.1")
    ms.start()
    atomic_write(os.path.join(in_dir, "one.txt"), WORDS1)
    wait_for(lambda: ms.status()["inputBytes"] == len(WORDS1), 60, "first file read")
    atomic_write(os.path.join(in_dir, "two.txt"), WORDS2)
    expected = mstest.oracle_dir(in_dir)
    ms.wait_counts(expected, settle=0.3)
    last = wait_idle(ms, len(WORDS1) + len(WORDS2))
    assert last >= 1, "expected two batches or more, last batch %d" % last

    results = ms.results()
    assert results == expected
    # CSV, parsed as RFC 4180.
    out = tool_ok("state", chk)
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0] == ["word", "count"], rows[0]
    got = {}
    for r in rows[1:]:
        assert len(r) == 2, r
        assert r[0] not in got, "word %r twice" % r[0]
        got[r[0]] = int(r[1])
    assert got == results, mstest.diff_counts(results, got)
    assert any("," in w for w in got) and any('"' in w for w in got), sorted(got)
    # JSON lines, typed as /api/v1/results' rows.
    lines = tool_ok("state", chk, "--format", "json", "--query", "wordcount").splitlines()
    got = {}
    for l in lines:
        o = json.loads(l)
        assert list(o) == ["word", "count"] and isinstance(o["count"], int), o
        got[o["word"]] = o["count"]
    assert got == results, mstest.diff_counts(results, got)

    desc = json.loads(tool_ok("describe", chk, "--json"))
    assert desc["format"] == 2, desc
    assert desc["source"] == "dir:" + os.path.realpath(in_dir), desc["source"]
    assert 'CREATE QUERY "wordcount"' in desc["query"], desc["query"]
    assert desc["lastBatch"]["id"] == last, (desc["lastBatch"], last)
    assert desc["pendingPlans"] == [], desc["pendingPlans"]
    (st,) = desc["statements"]
    assert st["name"] == "wordcount" and st["groups"] == len(results), st
    assert st["watermark"] is None and st["lastClosedWindow"] is None, st
    check_positions(desc, in_dir)
    text = tool_ok("describe", chk)
    for needle in ("source      dir:" + os.path.realpath(in_dir), "last batch  %d, committed" % last,
                   'CREATE QUERY "wordcount"', "groups             %d" % len(results),
                   "%d  one.txt" % len(WORDS1), "%d  two.txt" % len(WORDS2)):
        assert needle in text, "describe lacks %r:\n%s" % (needle, text)
    check_batches(chk, last)

    # The tools took no lock: the engine goes on, and still holds the checkpoint.
    assert ms.alive()
    other = t.mstream(in_dir, chk, name="second")
    other.start(wait=None)
    assert other.wait_exit() == 3, other.describe()
    atomic_write(os.path.join(in_dir, "three.txt"), b"after the tools\n")
    expected = mstest.oracle_dir(in_dir)
    ms.wait_counts(expected, settle=0)
    last2 = wait_idle(ms, len(WORDS1) + len(WORDS2) + len(b"after the tools\n"))
    assert last2 > last
    desc = json.loads(tool_ok("describe", chk, "--json"))
    assert desc["lastBatch"]["id"] == last2, (desc["lastBatch"], last2)
    check_positions(desc, in_dir)
    assert ms.term() == 0


# ------------------------------------------------------- windowed trace

def parse_ts(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return (d - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1)


def test_windowed_trace_state_equals_results_while_held(t):
    tracegen = os.path.join(os.path.dirname(mstest.MSTREAM), "producers", "ms_tracegen")
    if not os.access(tracegen, os.X_OK):
        raise mstest.Skip("ms_tracegen not built next to mstream")
    gen = t.mkdir("trace")
    p = subprocess.run([tracegen, "--out", gen, "--days", "2", "--jobs", "200", "--parts", "3",
                        "--plain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=scaled(120))
    assert p.returncode == 0, p.stderr
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk, "--query", "task_events_hourly", "--trigger-sec", "0.1",
                   "--max-bytes-per-trigger", "64K", name="hourly")
    ms.start()
    total = 0
    src = os.path.join(gen, "task_events")
    for n in sorted(os.listdir(src)):
        with open(os.path.join(src, n), "rb") as f:
            data = f.read()
        atomic_write(os.path.join(in_dir, n), data)
        total += len(data)
    last = wait_idle(ms, total)
    assert last >= 2, last

    cols, rows = all_results(ms, "task_events_hourly")
    assert cols == ["window_start", "window_end", "scheduling_class", "event_type", "events"], cols
    want = sorted((r[0], r[2], r[3], r[4]) for r in rows)
    assert want, "no open window in the results"

    out = tool_ok("state", chk, "--query", "task_events_hourly")
    table = list(csv.reader(io.StringIO(out, newline="")))
    head = table[0]
    for c in ("window_start", "scheduling_class", "event_type"):
        assert c in head, head
    agg = [c for c in head if c not in ("window_start", "scheduling_class", "event_type")]
    assert len(agg) == 1, head
    ix = [head.index(c) for c in ("window_start", "scheduling_class", "event_type", agg[0])]
    got = sorted((r[ix[0]], r[ix[1]], r[ix[2]], int(r[ix[3]])) for r in table[1:])
    csv_want = sorted((a, str(b) if b is not None else "", str(c) if c is not None else "", d)
                      for a, b, c, d in want)
    assert got == csv_want, "state (csv) %d rows, results %d rows" % (len(got), len(csv_want))

    js = [json.loads(l) for l in tool_ok("state", chk, "--format", "json").splitlines()]
    got = sorted((o["window_start"], o["scheduling_class"], o["event_type"], o[agg[0]]) for o in js)
    assert got == want, "state (json) %d rows, results %d rows" % (len(got), len(want))

    desc = json.loads(tool_ok("describe", chk, "--json"))
    assert desc["lastBatch"]["id"] == last, (desc["lastBatch"], last)
    (st,) = desc["statements"]
    assert st["name"] == "task_events_hourly" and st["windowed"] and st["emit"] == "APPEND", st
    assert st["groups"] == len(rows), (st["groups"], len(rows))
    wm = ms.metrics().get("mstream_watermark_seconds", query="task_events_hourly")
    assert st["watermark"] is not None and parse_ts(st["watermark"]) == round(wm * 1e6), (st, wm)
    assert st["maxEventTime"] is not None and parse_ts(st["maxEventTime"]) > parse_ts(st["watermark"])
    lc = st["lastClosedWindow"]
    assert lc is not None and parse_ts(lc["end"]) - parse_ts(lc["start"]) == 3600 * 10**6, lc
    assert parse_ts(lc["end"]) <= parse_ts(st["watermark"]), (lc, st["watermark"])
    assert [p["partition"] for p in st["partitions"]] == ["dir"], st["partitions"]
    check_positions(desc, in_dir)
    check_batches(chk, last)
    text = tool_ok("describe", chk)
    assert "query task_events_hourly (emit APPEND, windowed):" in text, text
    assert "last closed window " + lc["start"] + " .. " + lc["end"] in text, text
    assert ms.term() == 0


# ------------------------------------------------- while the engine commits

_PREFIX_CACHE = {}


def _prefix_counts(in_dir, positions):
    """Word counts of the first positions[name] bytes of every file."""
    c = {}
    for name, off in positions.items():
        key = (in_dir, name, off)
        if key not in _PREFIX_CACHE:
            with open(os.path.join(in_dir, name), "rb") as f:
                _PREFIX_CACHE[key] = mstest.count_words(f.read(off))
        for w, n in _PREFIX_CACHE[key].items():
            c[w] = c.get(w, 0) + n
    return c


def test_reads_while_the_engine_commits(t):
    """The tools open the checkpoint again and again while the engine commits
    batch after batch (a file is added before each round; its memtables are
    flushed, logs and tables deleted behind it): every read succeeds, and
    every state read lies between the positions described just before it
    and just after it, word by word."""
    rnd = random.Random(7)
    in_dir, chk = t.dirs()
    datas = []
    for i in range(24):
        lines = [" ".join("w%x" % rnd.randrange(30000) for _ in range(12)) for _ in range(300)]
        datas.append(("\n".join(lines) + "\n").encode())
    total = sum(len(d) for d in datas)
    ms = t.mstream(in_dir, chk, "--trigger-sec", "0.02", "--max-bytes-per-trigger", "8K")
    ms.start()
    final_rows = None
    prev_batch, prev_sum, moved = -1, 0, 0
    for rnd_i in range(200):
        if rnd_i < len(datas):
            atomic_write(os.path.join(in_dir, "part-%02d.txt" % rnd_i), datas[rnd_i])
        ms.check_alive()
        before = json.loads(tool_ok("describe", chk, "--json"))
        state = {}
        for r in list(csv.reader(io.StringIO(tool_ok("state", chk), newline="")))[1:]:
            state[r[0]] = int(r[1])
        after = json.loads(tool_ok("describe", chk, "--json"))
        lo = _prefix_counts(in_dir, {f["name"]: f["offset"] for f in before["files"]})
        hi = _prefix_counts(in_dir, {f["name"]: f["offset"] for f in after["files"]})
        for w in set(lo) | set(state):
            assert lo.get(w, 0) <= state.get(w, 0) <= hi.get(w, 0), \
                "word %s: %d before, %d in the state read, %d after" % (
                    w, lo.get(w, 0), state.get(w, 0), hi.get(w, 0))
        b = after["lastBatch"]["id"] if after["lastBatch"] else -1
        assert b >= prev_batch, (b, prev_batch)
        s = sum(state.values())
        assert s >= prev_sum, (s, prev_sum)
        if before["lastBatch"] != after["lastBatch"]:
            moved += 1  # the engine committed during this round's reads
        prev_batch, prev_sum = b, s
        if rnd_i >= len(datas) and sum(f["offset"] for f in after["files"]) == total \
                and before == after:
            final_rows = state
            break
        if rnd_i >= len(datas):
            time.sleep(scaled(0.1))
    assert final_rows is not None, "the engine did not finish reading (last batch %d)" % prev_batch
    print("    %d rounds, the engine committed during %d of them, last batch %d"
          % (rnd_i + 1, moved, prev_batch))
    expected = mstest.oracle(datas)
    assert final_rows == expected, mstest.diff_counts(expected, final_rows)
    assert ms.results() == expected
    assert ms.term() == 0


def test_pending_plan(t):
    """A batch planned but not committed (killed at the after_plan failpoint):
    describe lists its plan, and there is no last batch nor any state yet."""
    in_dir, chk = t.dirs()
    data = b"one two three\nfour\n"
    atomic_write(os.path.join(in_dir, "a.txt"), data)
    ms = t.mstream(in_dir, chk, "--available-now", env={"MSTREAM_FAILPOINT": "after_plan"})
    ms.start(wait=None)
    rc = ms.wait_exit(60)
    assert rc == -9, "expected the failpoint's SIGKILL, got %s\n%s" % (rc, ms.describe())
    desc = json.loads(tool_ok("describe", chk, "--json"))
    assert desc["lastBatch"] is None, desc["lastBatch"]
    assert desc["pendingPlans"] == [{"batchId": 0, "ranges": 1, "bytes": len(data)}], desc
    assert desc["files"] == [] and desc["statements"][0]["groups"] in (0, None), desc
    text = tool_ok("describe", chk)
    assert "last batch  none (no batch committed yet)" in text, text
    assert "pending plans:\n  batch 0: 1 file ranges, %d bytes\n" % len(data) in text, text
    assert tool_ok("state", chk) == "word,count\n"
    assert tool_ok("batches", chk, "--json") == ""


# --------------------------------------------------------------- errors

def test_missing_and_foreign_directories(t):
    missing = os.path.join(t.dir, "no-such-checkpoint")
    for cmd in ("describe", "batches", "state"):
        rc, out, err = tool(cmd, missing)
        assert rc == 1, (cmd, rc, err)
        assert missing in err and "No such file or directory" in err, err
        assert out == "", out
        assert not os.path.exists(missing), "the tool created %s" % missing
    plain = t.mkdir("plain")
    with open(os.path.join(plain, "notes.txt"), "w") as f:
        f.write("hello\n")
    rc, _, err = tool("describe", plain)
    assert rc == 1 and "is not an mstream checkpoint" in err and plain in err, (rc, err)
    assert os.listdir(plain) == ["notes.txt"], os.listdir(plain)
    rc, _, err = tool("state", os.path.join(plain, "notes.txt"))
    assert rc == 1 and "is not a directory" in err, (rc, err)
    # A RocksDB database that mstream never bound to a query.
    bare = os.path.join(t.dir, "bare")
    ckpt_edit(bare, "put", "x", "y")
    rc, _, err = tool("describe", bare)
    assert rc == 1 and "is not an mstream checkpoint" in err and "m:query" in err, (rc, err)


def _stopped_checkpoint(t):
    in_dir, chk = t.dirs()
    atomic_write(os.path.join(in_dir, "a.txt"), b"alpha beta beta\n")
    ms = t.mstream(in_dir, chk, "--available-now")
    ms.start(wait=None)
    assert ms.wait_exit(60) == 0, ms.describe()
    return chk


def test_damaged_records(t):
    chk = _stopped_checkpoint(t)
    assert "beta,2" in tool_ok("state", chk)
    # the last batch record
    saved = ckpt_edit(chk, "get", "m:last")
    ckpt_edit(chk, "put", "m:last", "\x01garbage-that-is-no-batch-record")
    rc, out, err = tool("describe", chk)
    assert rc == 1 and "last batch record (m:last) is corrupt" in err and chk in err, (rc, err)
    assert "Traceback" not in err and "Sanitizer" not in err, err
    ckpt_edit(chk, "delete", "m:last")
    assert "last batch  none" in tool_ok("describe", chk)
    del saved
    # the watermark record
    ckpt_edit(chk, "put", "w:wordcount", "\x7f\x7f\x7f")
    rc, _, err = tool("describe", chk, "--json")
    assert rc == 1 and "watermark record (w:) is corrupt" in err, (rc, err)
    ckpt_edit(chk, "delete", "w:wordcount")
    # a state value
    ckpt_edit(chk, "put", "s:wordcount:gamma", "not a count")
    rc, out, err = tool("state", chk, "--format", "json")
    assert rc == 1 and "corrupt state record for query wordcount" in err, (rc, err)
    ckpt_edit(chk, "delete", "s:wordcount:gamma")
    assert "beta,2" in tool_ok("state", chk)
    # the format record: a newer format is refused, not guessed at
    ckpt_edit(chk, "put", "m:format", "\x09")
    for cmd in ("describe", "state", "batches"):
        rc, _, err = tool(cmd, chk)
        assert rc == 1 and "written by a newer mstream (format 9;" in err, (cmd, rc, err)
    ckpt_edit(chk, "put", "m:format", "22")
    rc, _, err = tool("describe", chk)
    assert rc == 1 and "the format record (m:format) is corrupt" in err, (rc, err)
    ckpt_edit(chk, "put", "m:format", "\x02")
    assert "beta,2" in tool_ok("state", chk)
    # the query record
    ckpt_edit(chk, "put", "m:query", "SELEKT nothing")
    for cmd in ("describe", "state", "batches"):
        rc, _, err = tool(cmd, chk)
        assert rc == 1 and "m:query" in err and "does not parse" in err, (cmd, rc, err)


def test_open_retries_a_file_deleted_meanwhile(t):
    """A file the engine deletes between RocksDB's listing and its open (its
    MANIFEST rolled over, a log or table made obsolete; staged with the
    msfailio shim: ENOENT for the first opens of the MANIFEST) makes the tool
    open again; a file that stays missing is exit 1 with RocksDB's reason."""
    chk = _stopped_checkpoint(t)
    env = dict(os.environ, **mstest.shim_env(MSFAILIO_OPEN_ENOENT="/MANIFEST-",
                                             MSFAILIO_OPEN_ENOENT_TIMES="3"))

    def run(*args, env=env):
        p = subprocess.run([mstest.MSTREAM, "checkpoint"] + list(args), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(60))
        return p.returncode, p.stdout.decode(), p.stderr.decode()
    rc, out, err = run("state", chk)
    assert rc == 0 and "beta,2" in out, (rc, out, err)
    env["MSFAILIO_OPEN_ENOENT_TIMES"] = "1000"
    rc, out, err = run("describe", chk)
    assert rc == 1 and out == "", (rc, out, err)
    assert "opening RocksDB read-only in checkpoint %s failed" % chk in err, err
    assert "No such file or directory" in err and "MANIFEST-" in err, err


def test_usage(t):
    chk = _stopped_checkpoint(t)
    rc, out, _ = tool("--help")
    assert rc == 0 and "describe DIR" in out and "batches DIR" in out and "state DIR" in out, out
    rc, out, _ = tool("state", "--help")
    assert rc == 0 and "--format csv|json" in out, out
    for args, needle in ((["nosuch", chk], "unknown command nosuch"),
                         (["describe"], "the checkpoint directory is missing"),
                         (["describe", chk, chk], "one too many"),
                         (["state", chk, "--format", "xml"], "--format must be csv or json"),
                         (["state", chk, "--format"], "--format needs a value"),
                         (["batches", chk, "--limit", "0"], "--limit must be"),
                         (["batches", chk, "--limit", "-3"], "--limit must be"),
                         (["describe", chk, "--limit", "3"], "unknown option --limit"),
                         (["state", chk, "--query", "nosuch"], "has no query named nosuch (it has: wordcount)")):
        rc, out, err = tool(*args)
        assert rc == 2 and needle in err, (args, rc, err)
        assert out == "", (args, out)
    rc, _, err = tool()
    assert rc == 2 and "a command is missing" in err, (rc, err)
    p = subprocess.run([mstest.MSTREAM, "--help"], stdout=subprocess.PIPE, timeout=scaled(30))
    assert p.returncode == 0 and b"mstream checkpoint describe|batches|state DIR" in p.stdout


if __name__ == "__main__":
    mstest.main(globals())
