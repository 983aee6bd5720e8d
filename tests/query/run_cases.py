#!/usr/bin/env python3
"""Query tests as data: every directory under tests/query/cases/ is one case.

    cases/<name>/query.sql         the query file, run as --query <tmp>/<stem>.sql, where
                                   <stem> is the one word in cases/<name>/name if
                                   present, else <name> without its "NN_" prefix (an
                                   unnamed statement is named after the file stem)
    cases/<name>/input/            files fed through the directory source, in
                                   name order (their mtimes are set in that order)
    cases/<name>/args              optional: extra mstream arguments, one line,
                                   e.g. --max-files-per-trigger 1 (one file per batch)
    cases/<name>/expected.jsonl    the final /api/v1/results of every statement:
                                   one JSON object per row, {"query": NAME, column:
                                   value, ...}; order does not matter
    cases/<name>/expected_sink/    optional: exactly the files the json sink must
                                   write, <statement>/batch-<id:020>.json, byte for byte
    cases/<name>/expected_summary  optional: lines "NAME key=value ..." that the
                                   run's per-query 'summary query=NAME' line must hold
                                   (rows_late, malformed_<reason>, state_entries, ...)
    cases/<name>/expected_metrics  optional: lines of /metrics that must appear as is
                                   (after the restart: state, results, watermark)

Each case runs the real binary twice on a fresh checkpoint:
  A. --available-now --sink json:DIR: processes everything and exits 0; the sink
     files and the per-query summary lines are checked;
  B. a restart on the same checkpoint with no new input: recovery must publish
     the same results, which /api/v1/results (every statement, all pages) and
     /metrics must show; promtool checks /metrics when it is installed; SIGTERM
     exits 0.

Besides the cases, three checks of the real binary:
  - every query of tests/query/invalid/ (the table test_sql_invalid.c checks
    against the parser) is refused by mstream itself before anything starts:
    exit 2, "FILE:LINE:COL: error: MESSAGE", the source line and a caret under
    the column, no checkpoint created;
  - a csv statement with 'header' = 'true' is refused over Kafka (exit 2);
  - a csv header is skipped once per file: lines appended after a restart are
    all data.

Run: python3 tests/query/run_cases.py --mstream build/mstream [-k CASE] [--list]
(ctest: query_cases).  MSTEST_KEEP=1 keeps the temp dirs.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import mstest  # noqa: E402

CASES = os.path.join(HERE, "cases")


def _canon(obj):
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def _read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise AssertionError("%s:%d: %s" % (path, n, e))
    return rows


def _diff(expected, actual, what):
    e = sorted(_canon(r) for r in expected)
    a = sorted(_canon(r) for r in actual)
    if e == a:
        return
    missing = [r for r in e if r not in a]
    extra = [r for r in a if r not in e]
    raise AssertionError("%s differ\n  missing: %s\n  unexpected: %s"
                         % (what, "\n           ".join(missing[:20]) or "-",
                            "\n              ".join(extra[:20]) or "-"))


def _results(ms, query):
    """Every page of /api/v1/results?query=NAME as a list of objects."""
    rows, offset, cols, total = [], 0, None, None
    for _ in range(10000):
        st, body = ms.get("/api/v1/results?query=%s&offset=%d&limit=7"
                          % (urllib.parse.quote(query), offset))
        assert st == 200, "/api/v1/results?query=%s: %s %r" % (query, st, body[:300])
        j = json.loads(body.decode("utf-8"))
        assert j["query"] == query, j
        cols = j["columns"]
        assert len(j["types"]) == len(cols), j
        total = j["total"]
        for r in j["rows"]:
            assert len(r) == len(cols), (cols, r)
            o = {"query": query}
            o.update(zip(cols, r))
            rows.append(o)
        offset += len(j["rows"])
        if offset >= total or not j["rows"]:
            break
    assert len(rows) == total, "total %d, rows %d" % (total, len(rows))
    return rows


def _case_test(name):
    cdir = os.path.join(CASES, name)

    def run(t):
        in_dir = t.mkdir("in")
        chk = os.path.join(t.dir, "chk")
        sink = os.path.join(t.dir, "sink")
        files = sorted(os.listdir(os.path.join(cdir, "input")))
        for i, fn in enumerate(files):
            dst = os.path.join(in_dir, fn)
            shutil.copyfile(os.path.join(cdir, "input", fn), dst)
            os.utime(dst, (1_000_000_000 + i, 1_000_000_000 + i))
        extra = []
        if os.path.exists(os.path.join(cdir, "args")):
            with open(os.path.join(cdir, "args")) as f:
                extra = f.read().split()
        stem = re.sub(r"^[0-9]+_", "", name)
        if os.path.exists(os.path.join(cdir, "name")):
            with open(os.path.join(cdir, "name")) as f:
                stem = f.read().strip()
        query = os.path.join(t.dir, stem + ".sql")
        shutil.copyfile(os.path.join(cdir, "query.sql"), query)

        # A: everything available, once, through the json sink.
        a = t.mstream(in_dir, chk, "--query", query, "--available-now", "--sink",
                      "json:" + sink, *extra, name="A")
        a.start(wait=None)
        rc = a.wait_exit(timeout=120)
        assert rc == 0, "run A exited %s\n%s" % (rc, a.describe())
        summ = a.query_summary()
        exp_summary = os.path.join(cdir, "expected_summary")
        if os.path.exists(exp_summary):
            with open(exp_summary) as f:
                for line in f:
                    parts = line.split()
                    if not parts or parts[0].startswith("#"):
                        continue
                    q = parts[0]
                    assert q in summ, "no summary line for query %s\n%s" % (q, a.describe())
                    for kv in parts[1:]:
                        k, _, v = kv.partition("=")
                        got = summ[q].get(k, "0")
                        assert got == v, "summary of %s: %s=%s, expected %s\n%s" % (
                            q, k, got, v, a.describe())
        exp_sink = os.path.join(cdir, "expected_sink")
        if os.path.isdir(exp_sink):
            want = {}
            for root, _, fns in os.walk(exp_sink):
                for fn in fns:
                    p = os.path.join(root, fn)
                    with open(p, "rb") as f:
                        want[os.path.relpath(p, exp_sink)] = f.read()
            got = {}
            for root, _, fns in os.walk(sink):
                for fn in fns:
                    p = os.path.join(root, fn)
                    with open(p, "rb") as f:
                        got[os.path.relpath(p, sink)] = f.read()
            assert sorted(got) == sorted(want), "sink files %s, expected %s" % (
                sorted(got), sorted(want))
            for k in want:
                assert got[k] == want[k], "sink file %s:\n%s\nexpected:\n%s" % (
                    k, got[k].decode("utf-8", "replace"), want[k].decode("utf-8", "replace"))

        # B: restart, no new input: recovered results and /metrics.
        b = t.mstream(in_dir, chk, "--query", query, "--trigger-sec", "0", *extra, name="B")
        b.start()
        status = b.status()
        names = [q["name"] for q in status["queries"]]
        assert names, status
        actual = []
        for q in names:
            actual.extend(_results(b, q))
        _diff(_read_jsonl(os.path.join(cdir, "expected.jsonl")), actual,
              "results of case %s" % name)
        text = b.metrics_text()
        mstest.parse_metrics(text)  # strict 0.0.4 parse, no duplicate series
        exp_metrics = os.path.join(cdir, "expected_metrics")
        if os.path.exists(exp_metrics):
            lines = set(text.split("\n"))
            with open(exp_metrics) as f:
                for line in f:
                    line = line.rstrip("\n")
                    if line and not line.startswith("#"):
                        assert line in lines, "/metrics has no line %r\n%s" % (
                            line, "\n".join(l for l in text.split("\n")
                                            if l.startswith(line.split("{")[0].split(" ")[0]))
                            [:2000])
        promtool = shutil.which("promtool")
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            out = p.stdout.decode("utf-8", "replace")
            assert p.returncode == 0, "promtool check metrics:\n" + out
        b.term()

    run.__name__ = "test_" + name
    return run


INVALID = os.path.join(HERE, "invalid")


def test_invalid_queries_refused_by_the_binary(t):
    """The parser's table of invalid queries, through mstream: exit 2 with the
    position, the line and a caret, before the checkpoint is touched."""
    names = sorted(n for n in os.listdir(INVALID) if n.endswith(".sql"))
    assert len(names) >= 80, names
    in_dir = t.mkdir("in")
    for i, name in enumerate(names):
        with open(os.path.join(INVALID, name), "rb") as f:
            text = f.read()
        m = re.match(rb"-- expect: (\d+):(\d+): ([^\n]*)\n", text)
        assert m, "%s: no expect line" % name
        line, col, want = int(m.group(1)), int(m.group(2)), m.group(3).decode()
        query = os.path.join(t.dir, name)
        shutil.copyfile(os.path.join(INVALID, name), query)
        chk = os.path.join(t.dir, "chk%d" % i)
        ms = t.raw(["--input-dir", in_dir, "--checkpoint-dir", chk, "--query", query,
                    "--metrics-addr", "127.0.0.1:0"], name="refuse%d" % i)
        ms.start(wait=None)
        rc = ms.wait_exit(timeout=30)
        err = ms.stderr()
        assert rc == 2, "%s: exit %r, expected 2\n%s" % (name, rc, ms.describe())
        head = "%s:%d:%d: error: " % (query, line, col)
        at = err.find(head)
        assert at >= 0, "%s: no %r in\n%s" % (name, head, err)
        first, src, caret = (err[at:].split("\n") + ["", ""])[:3]
        assert want in first, "%s: %r not in %r" % (name, want, first)
        want_src = text.split(b"\n")[line - 1].decode("utf-8", "replace")
        if want_src.isprintable() and len(want_src) <= 160:
            assert src == "  " + want_src, "%s: source line %r, expected %r" % (name, src, want_src)
            assert caret.startswith(" " * (col + 1) + "^"), "%s: caret %r under %r" % (
                name, caret, src)
        assert caret.strip().startswith("^"), "%s: no caret line in\n%s" % (name, err)
        assert "serving" not in err, "%s: refused only after starting\n%s" % (name, err)
        assert not os.path.exists(chk), "%s: a refused query created the checkpoint" % name


def test_kafka_refuses_a_csv_header(t):
    """A Kafka message is one record with no header line: 'header' is a usage
    error there (no broker needed: refused before connecting)."""
    query = os.path.join(t.dir, "sales.sql")
    with open(query, "w") as f:
        f.write("SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)\n"
                "  WITH ('header' = 'true', 'delimiter' = ';') TOPIC 'sales' GROUP BY city;\n")
    chk = os.path.join(t.dir, "chk")
    ms = t.raw(["--kafka", "127.0.0.1:9", "--query", query, "--checkpoint-dir", chk,
                "--metrics-addr", "127.0.0.1:0"], name="kafka_header")
    ms.start(wait=None)
    rc = ms.wait_exit(timeout=30)
    assert rc == 2, "exit %r\n%s" % (rc, ms.describe())
    assert "query sales: 'header' = 'true'" in ms.stderr() and "Kafka" in ms.stderr(), \
        ms.describe()
    assert not os.path.exists(chk)
    # Without the header option the same statement is accepted (it then waits
    # for the unreachable broker; SIGTERM ends it).
    with open(query, "w") as f:
        f.write("SELECT city, COUNT(*) AS n FROM csv(city STRING, amount DOUBLE)\n"
                "  WITH ('delimiter' = ';') TOPIC 'sales' GROUP BY city;\n")
    ms2 = t.raw(["--kafka", "127.0.0.1:9", "--query", query, "--checkpoint-dir", chk,
                 "--metrics-addr", "127.0.0.1:0", "--kafka-timeout-sec", "1"], name="kafka_ok")
    ms2.start(wait="serving")
    assert ms2.term() == 0, ms2.describe()


def test_csv_header_once_per_file_across_restarts(t):
    """Bytes appended to a file after a restart are read from a later offset:
    all data, none taken for a header; a new file starts with its header."""
    in_dir, chk = t.dirs()
    query = os.path.join(t.dir, "appended.sql")
    with open(query, "w") as f:
        f.write("SELECT city, COUNT(*) AS n, SUM(amount) AS total\n"
                "FROM csv(city STRING, amount BIGINT) WITH ('header' = 'true', "
                "'check-header' = 'true')\nGROUP BY city;\n")
    path = os.path.join(in_dir, "sales.csv")
    mstest.write_file(path, b"city,amount\nparis,1\noslo,2\n")

    def run(name):
        ms = t.mstream(in_dir, chk, "--query", query, "--available-now", name=name)
        ms.start(wait=None)
        rc = ms.wait_exit(timeout=60)
        assert rc == 0, ms.describe()
        return ms.query_summary()["appended"]

    s1 = run("first")
    assert s1.get("rows_in") == "2" and s1.get("malformed_bad_header", "0") == "0", s1
    mstest.append_file(path, b"paris,10\nrome,5\n")
    mstest.write_file(os.path.join(in_dir, "more.csv"), b"city,amount\nrome,7\n")
    s2 = run("second")
    # 2 rows appended, 1 in the new file; the appended 'paris,10' is a row
    # (the counters count since the checkpoint began: 2 + 3)
    assert s2.get("rows_in") == "5", s2
    for k, v in s2.items():
        if k.startswith("malformed_"):
            assert v == "0", s2
    ms = t.mstream(in_dir, chk, "--query", query, "--trigger-sec", "0", name="results")
    ms.start()
    got = {r["city"]: (r["n"], r["total"]) for r in _results(ms, "appended")}
    assert got == {"paris": (2, 11), "oslo": (1, 2), "rome": (2, 12)}, got
    assert ms.term() == 0


def main():
    ns = {}
    for f in (test_invalid_queries_refused_by_the_binary, test_kafka_refuses_a_csv_header,
              test_csv_header_once_per_file_across_restarts):
        ns[f.__name__] = f
    for name in sorted(os.listdir(CASES)):
        if os.path.isdir(os.path.join(CASES, name)):
            ns["test_" + name] = _case_test(name)
    # mstest orders tests by the line of their code: keep the name order.
    order = sorted(ns)
    for i, n in enumerate(order):
        ns[n].__code__ = ns[n].__code__.replace(co_firstlineno=i + 1)
    return mstest.main(ns)


if __name__ == "__main__":
    sys.exit(main())
