#!/usr/bin/env python3
"""Query files end to end: --query NAME|PATH, the built-in word count with no
queries/ directory at all, parse errors refused with a caret (exit 2, nothing
touched), a checkpoint bound to its query (a changed query refused, a changed
alias/comment/TOPIC accepted), the json sink's files idempotent across crashes
between writing them and committing, and the console sink's table."""
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import atomic_write, oracle  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

TASKS = (b"0,,1,0,,0,u,2,9,0.1,0.2,0,0\n"
         b"600000000,,1,0,5,1,u,2,9,0.1,0.2,0,0\n"
         b"4000000000,,2,0,6,0,v,0,1,,,,\n")


def _write_query(t, name, text):
    path = os.path.join(t.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _run_to_exit(t, argv, timeout=60, env=None):
    ms = t.raw(argv + ["--metrics-addr", "127.0.0.1:0"], env=env)
    ms.start(wait=None)
    rc = ms.wait_exit(timeout)
    return ms, rc


def test_builtin_wordcount_without_queries_dir(t):
    """A copy of the binary far from any queries/ directory still runs the
    word count (embedded), with the same results as queries/wordcount.sql."""
    bindir = t.mkdir("bin/sub")
    exe = os.path.join(bindir, "mstream")
    shutil.copy2(mstest.MSTREAM, exe)
    in_dir, chk = t.dirs()
    data = b"to be or not to be\n"
    atomic_write(os.path.join(in_dir, "a.txt"), data)
    ms = mstest.Mstream(t, [exe, "--inputDir", in_dir, "--checkpointDir", chk,
                            "--triggerSec", "0.2", "--metrics-addr", "127.0.0.1:0"], name="embedded")
    assert not os.path.exists(os.path.join(t.dir, "queries"))
    ms.start()
    ms.wait_counts(oracle([data]), settle=0)
    assert ms.term() == 0
    # The same checkpoint accepts the shipped file: same canonical text.
    ms2 = t.mstream(in_dir, chk, "--query", os.path.join(REPO, "queries", "wordcount.sql"),
                    name="file")
    ms2.start()
    ms2.wait_counts(oracle([data]), settle=0)
    assert ms2.term() == 0


def test_query_by_name_and_unknown_name(t):
    in_dir, chk = t.dirs()
    atomic_write(os.path.join(in_dir, "t.csv"), TASKS)
    ms = t.mstream(in_dir, chk, "--query", "task_events_by_class", name="byname")
    ms.start()
    mstest.wait_for(lambda: ms.metrics().get("mstream_task_events_by_class_events_total",
                                             scheduling_class="2", event_type="SUBMIT") == 1.0,
                    what="task_events_by_class counted")
    st = ms.status()
    assert [q["name"] for q in st["queries"]] == ["task_events_by_class"], st
    assert st["queries"][0]["canonical"].startswith('CREATE QUERY "task_events_by_class"')
    assert ms.term() == 0
    in2, chk2 = t.dirs()
    ms, rc = _run_to_exit(t, ["--input-dir", in2, "--checkpoint-dir", chk2, "--query", "nosuch"])
    assert rc == 2, ms.describe()
    assert "unknown query 'nosuch'" in ms.stderr() and "queries/nosuch.sql" in ms.stderr(), \
        ms.describe()
    assert not os.path.exists(chk2)


def test_parse_error_refused_with_caret(t):
    in_dir, chk = t.dirs()
    bad = _write_query(t, "bad.sql", "SELECT word, COUNT(*)\n  FORM words GROUP BY word;\n")
    ms, rc = _run_to_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--query", bad])
    assert rc == 2, "parse error: exit %r\n%s" % (rc, ms.describe())
    err = ms.stderr()
    assert re.search(r"bad\.sql:2:3: error: .*FORM", err), err
    lines = err.splitlines()
    i = next(k for k, l in enumerate(lines) if "FORM words" in l and "error" not in l)
    assert lines[i + 1].strip().startswith("^"), err
    assert lines[i + 1].index("^") == lines[i].index("FORM"), err
    assert "serving" not in err, "the query must be refused before anything starts"
    assert not os.path.exists(chk), "a refused query must not create the checkpoint"


def test_changed_query_refused_alias_accepted(t):
    in_dir, chk = t.dirs()
    q1 = _write_query(t, "counts.sql",
                      "SELECT word, COUNT(*) AS count FROM words GROUP BY word;\n")
    b1 = b"alpha beta alpha\n"
    atomic_write(os.path.join(in_dir, "1.txt"), b1)
    ms = t.mstream(in_dir, chk, "--query", q1, name="v1")
    ms.start()
    mstest.wait_for(lambda: ms.metrics().get("mstream_counts_count_total", word="alpha") == 2.0,
                    what="alpha counted twice")
    assert ms.term() == 0

    # Another WHERE: another state; refused, naming both texts and the checkpoint.
    q2 = _write_query(t, "counts2.sql", "-- filtered\nCREATE QUERY counts AS SELECT word, "
                      "COUNT(*) AS count FROM words WHERE word <> 'beta' GROUP BY word;\n")
    ms2, rc = _run_to_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--query", q2])
    assert rc == 2, "changed query: exit %r\n%s" % (rc, ms2.describe())
    err = ms2.stderr()
    assert "was made for another query" in err and chk in err, err
    assert "checkpoint: CREATE QUERY \"counts\" AS SELECT \"word\", COUNT(*) FROM words GROUP" \
        in err, err
    assert "WHERE" in err, err

    # Only the alias, a comment, layout and TOPIC changed: accepted, state kept.
    q3 = _write_query(t, "counts3.sql", "/* renamed output */ CREATE QUERY counts AS\n"
                      "select word,\n count(*) as n from words TOPIC 'x' group by word\n")
    ms3 = t.mstream(in_dir, chk, "--query", q3, name="v3")
    ms3.start()
    atomic_write(os.path.join(in_dir, "2.txt"), b"alpha\n")
    mstest.wait_for(lambda: ms3.metrics().get("mstream_counts_n_total", word="alpha") == 3.0,
                    what="alpha counted three times under the new alias")
    st, body = ms3.get("/api/v1/results?query=counts")
    j = json.loads(body)
    assert j["columns"] == ["word", "n"], j
    assert sorted(map(tuple, j["rows"])) == [("alpha", 3), ("beta", 1)], j
    assert ms3.term() == 0


def _sink_files(d):
    out = {}
    for root, _, fns in os.walk(d):
        for fn in fns:
            with open(os.path.join(root, fn), "rb") as f:
                out[os.path.relpath(os.path.join(root, fn), d)] = f.read()
    return out


CLUSTER = """CREATE QUERY hourly AS
  SELECT window_start, window_end, event_type, COUNT(*) AS events
  FROM task_events WATERMARK FOR time AS time - INTERVAL '10' MINUTE
  GROUP BY TUMBLE(time, INTERVAL '1' HOUR), event_type EMIT APPEND;
CREATE QUERY totals AS
  SELECT event_type, COUNT(*) AS events FROM task_events GROUP BY event_type EMIT UPDATE;
CREATE QUERY everything AS
  SELECT scheduling_class, COUNT(*) AS events, MAX(time) AS last FROM task_events
  GROUP BY scheduling_class;
"""


def _trace_files(n):
    """n files of task events, one hour of trace time each, in time order."""
    files = []
    for k in range(n):
        lines = []
        for i in range(30):
            tm = k * 3600_000_000 + i * 120_000_000 + 1  # never 0: no sentinel
            lines.append("%d,,%d,%d,,%d,u,%d,0,,,,\n" % (tm, k, i, (i * 7 + k) % 9, i % 4))
        files.append(("part-%05d.csv" % k, "".join(lines).encode()))
    return files


def _sink_run(t, failpoint=None, runs_expected=None):
    in_dir, chk = t.dirs()
    sink = os.path.join(t.dir, "sink-%s" % (failpoint or "clean").replace(":", "_"))
    for name, data in _trace_files(5):
        with open(os.path.join(in_dir, name), "wb") as f:
            f.write(data)
    q = _write_query(t, "cl.sql", CLUSTER)
    argv = ["--input-dir", in_dir, "--checkpoint-dir", chk, "--query", q, "--available-now",
            "--max-files-per-trigger", "1", "--sink", "json:" + sink]
    crashes = 0
    if failpoint:
        ms, rc = _run_to_exit(t, argv, env={"MSTREAM_FAILPOINT": failpoint})
        assert rc == -9, "failpoint %s: exit %r\n%s" % (failpoint, rc, ms.describe())
        crashes += 1
    ms, rc = _run_to_exit(t, argv)
    assert rc == 0, ms.describe()
    return _sink_files(sink), crashes


def test_json_sink_idempotent_across_crashes(t):
    clean, _ = _sink_run(t)
    # 5 batches x 3 statements, every file present even when empty.
    assert len(clean) == 15, sorted(clean)
    assert clean["totals/batch-00000000000000000000.json"], "update output of batch 0"
    # Append: hour 0 closes in batch 1 (watermark = 1h58m - 10m).
    h = [json.loads(l) for l in clean["hourly/batch-00000000000000000001.json"].splitlines()]
    assert {r["window_start"] for r in h} == {"1970-01-01T00:00:00.000000Z"}, h
    assert sum(r["events"] for r in h) == 30, h
    assert clean["hourly/batch-00000000000000000000.json"] == b""
    # Complete: the last file holds every group.
    last = [json.loads(l) for l in clean["everything/batch-00000000000000000004.json"].splitlines()]
    assert sum(r["events"] for r in last) == 150, last
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["last"]) for r in last)
    for fp in ("after_read:2", "after_sink:1", "after_sink:3", "after_commit:2", "after_plan:4"):
        got, _ = _sink_run(t, failpoint=fp)
        assert got == clean, "failpoint %s: sink files differ from a run without crash: %s" % (
            fp, sorted(k for k in set(got) | set(clean) if got.get(k) != clean.get(k)))
        leftovers = [k for k in got if os.path.basename(k).startswith(".")]
        assert not leftovers, leftovers


def test_console_sink(t):
    in_dir, chk = t.dirs()
    data = b"spark spark spark flink\n" + b" ".join(b"w%02d" % i for i in range(25)) + b"\n" + \
        b"a-very-long-word-of-more-than-twenty-characters\n" * 4
    atomic_write(os.path.join(in_dir, "a.txt"), data)
    ms, rc = _run_to_exit(t, ["--input-dir", in_dir, "--checkpoint-dir", chk, "--available-now",
                              "--sink", "console"])
    assert rc == 0, ms.describe()
    with open(ms.log_path.replace(".stderr", ".stdout"), encoding="utf-8") as f:
        out = f.read()
    lines = out.splitlines()
    assert lines[:3] == ["-------------------------------------------", "Batch: 0",
                         "-------------------------------------------"], out
    assert lines[3] == lines[5] and re.fullmatch(r"\+-+\+-+\+", lines[3]), out
    assert re.fullmatch(r"\| +word\|count\|", lines[4]), out
    # Spark's show(): cells over 20 characters cut to 17 + "..."
    assert re.fullmatch(r"\|a-very-long-word-\.\.\.\| +4\|", lines[6]), out
    assert re.fullmatch(r"\| +spark\| +3\|", lines[7]), out
    rows = [l for l in lines[6:] if l.startswith("|")]
    assert len(rows) == 20, "console shows 20 rows:\n" + out
    assert "only showing top 20 rows" in out, out
    assert all(len(l) == len(lines[3]) for l in lines[3:27] if l.startswith(("|", "+"))), out


if __name__ == "__main__":
    mstest.run(globals())
