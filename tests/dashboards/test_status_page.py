#!/usr/bin/env python3
"""The status page at / of a running mstream, rendered by headless Chromium.

  * GET / answers 200 text/html, self-contained (no script, style or image
    from another origin);
  * a word-count mstream and a task_events_hourly mstream get input in several
    batches; Chromium (Debian's chromium, headless) loads each page, runs its
    script against /api/v1/status and /api/v1/results, and dumps the DOM:
    the page reached data-state "ok"; every chart (input rate, processing rate,
    input rows, batch duration, state rows, state memory) drew one point or bar
    per batch of /api/v1/status's "history" (the last 10 minutes, more batches
    than the 20 full records of recentProgress: the word-count run has 24), on
    a wall-clock axis: data-x0/data-x1 are the times of the first and last
    batch, the tick labels read HH:MM:SS of those times (Chromium runs with
    TZ=UTC), and no axis counts batch ids; the results table lists the
    top rows of /api/v1/results exactly (values and order); the statements
    table shows the canonical query text and, for the windowed query, the
    watermark the engine reports;
  * the INFO progress line (src/engine/ms_progress.c): with --progress-sec 0
    one line per batch (batch id, rows, the watermark the status reports);
    with --progress-sec 3600 only the first batch's line in the whole run;
  * a screenshot of each page is kept as a test artifact in
    $MS_ARTIFACT_DIR (build/tests/dashboards/artifacts/status-page-*.png) and
    checked to be a PNG of the requested size.
The test is skipped (exit 77) when Chromium is not installed.
"""
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashlib  # noqa: E402
from dashlib import mstest  # noqa: E402

CHARTS = ["input-rate", "processing-rate", "input-rows", "batch-duration", "state-rows",
          "state-memory"]
WIDTH, HEIGHT = 1400, 1500


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    raise mstest.Skip("chromium not installed (Debian package chromium)")


def _run_chromium(t, url, *extra):
    profile = t.mkdir("chromium-profile")
    argv = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-extensions", "--disable-sync",
            "--hide-scrollbars", "--user-data-dir=" + profile,
            "--virtual-time-budget=%d" % int(mstest.scaled(6000))] + list(extra) + [url]
    # A tracked child (killed with the test); bounded in time.
    out_path = os.path.join(t.dir, "chromium.out")
    env = dict(os.environ, TZ="UTC")
    with open(out_path, "wb") as out, open(os.path.join(t.dir, "chromium.err"), "ab") as err:
        p = mstest.spawn(argv, env=env, stdout=out, stderr=err)
        try:
            rc = p.wait(timeout=mstest.scaled(90))
        except subprocess.TimeoutExpired:
            raise AssertionError("chromium did not finish within %.0fs: %s"
                                 % (mstest.scaled(90), " ".join(argv)))
    with open(out_path, "rb") as f:
        data = f.read().decode("utf-8", "replace")
    if rc != 0:
        with open(os.path.join(t.dir, "chromium.err"), "rb") as f:
            tail = f.read().decode("utf-8", "replace")[-3000:]
        raise AssertionError("chromium exited %d\n%s" % (rc, tail))
    return data


def _attr(tag_text, name):
    m = re.search(r'\b%s="([^"]*)"' % re.escape(name), tag_text)
    return html.unescape(m.group(1)) if m else None


def _element(dom, pattern):
    """The text of the first element whose start tag matches pattern, up to
    its closing tag (the page nests no element of the same kind)."""
    m = re.search(r"<(\w+)\b[^>]*%s[^>]*>" % pattern, dom)
    assert m, "no element matching %r in the rendered page" % pattern
    end = dom.find("</%s>" % m.group(1), m.end())
    return m.group(0), dom[m.end():end]


def _rows(table_html):
    body = re.search(r"<tbody>(.*?)</tbody>", table_html, re.S)
    out = []
    for tr in re.findall(r"<tr\b[^>]*>(.*?)</tr>", body.group(1) if body else "", re.S):
        out.append([html.unescape(re.sub(r"<[^>]*>", "", c)).strip()
                    for c in re.findall(r"<td\b[^>]*>(.*?)</td>", tr, re.S)])
    return out


def _fmt(v):
    return "{:,}".format(v) if isinstance(v, int) else "%.3f" % v


def _check_page(t, ms, query, min_batches):
    st, body = ms.get("/")
    assert st == 200, "GET / -> %d" % st
    page = body.decode("utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>"), page[:100]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I), \
        "the status page loads something from another origin"
    import urllib.request
    with urllib.request.urlopen(ms.url + "/", timeout=mstest.scaled(10)) as r:
        assert r.headers.get("Content-Type", "").startswith("text/html"), r.headers

    dom = _run_chromium(t, ms.url + "/", "--dump-dom")
    btag = re.search(r"<body\b[^>]*>", dom).group(0)
    state, updates = _attr(btag, "data-state"), int(_attr(btag, "data-updates") or 0)
    assert state == "ok" and updates >= 1, \
        "page state %r after %d updates:\n%s" % (state, updates, _element(dom, 'id="error"')[1])
    # The charts show the history of the last 10 minutes: every batch here.
    after = ms.status()
    hist = after["history"]
    cols = hist["columns"]
    times = [r[cols.index("time")] for r in hist["rows"]]
    ids = [r[cols.index("batchId")] for r in hist["rows"]]
    nb = len(hist["rows"])
    assert nb >= min_batches and ids == list(range(ids[0], ids[0] + nb)), \
        "history of %d batches %r, expected at least %d" % (nb, ids, min_batches)
    assert len(after["recentProgress"]) == min(nb, 20), len(after["recentProgress"])
    for name in CHARTS:
        tag, inner = _element(dom, 'data-chart="%s"' % name)
        pts = int(_attr(tag, "data-points"))
        assert pts == nb, "chart %s drew %d points, /api/v1/status's history has %d batches" % (
            name, pts, nb)
        shape = "<rect" if name == "batch-duration" else "<polyline"
        assert shape in inner, "chart %s has no %s" % (name, shape)
        assert "no batches yet" not in inner, name
        x0, x1 = int(_attr(tag, "data-x0")), int(_attr(tag, "data-x1"))
        assert (x0, x1) == (round(times[0] * 1000), round(times[-1] * 1000)), \
            "chart %s: time axis %r, batches from %r to %r" % (name, (x0, x1), times[0], times[-1])
        ticks = re.findall(r'<text\b[^>]*class="x-tick"[^>]*>([^<]*)</text>', inner)
        want = [time.strftime("%H:%M:%S", time.gmtime(x // 1000))
                for x in (x0, (x0 + x1) // 2, x1)]
        assert ticks == want, "chart %s: x ticks %r, want %r" % (name, ticks, want)
        assert not re.search(r">batch \d", inner), "chart %s still counts batch ids" % name

    # Results: the top rows, exactly as the API lists them.
    tag, table = _element(dom, 'id="results"')
    assert _attr(tag, "data-query") == query, tag
    st, rb = ms.get("/api/v1/results?query=%s&limit=20" % query)
    api = json.loads(rb)
    rows = _rows(table)
    assert int(_attr(tag, "data-rows")) == len(rows) == len(api["rows"]) > 0, \
        (tag, len(rows), len(api["rows"]))
    for got, want in zip(rows, api["rows"]):
        exp = [("NULL" if v is None else _fmt(v) if isinstance(v, (int, float)) else v)
               for v in want]
        assert got[:len(exp)] == exp, "results row %r, API row %r" % (got, want)
    heads = [html.unescape(h) for h in re.findall(r"<th\b[^>]*>([^<]*)</th>", table)]
    assert heads[:len(api["columns"])] == api["columns"], heads

    _, qt = _element(dom, 'id="queries"')
    qrows = _rows(qt)
    for q in after["queries"]:
        row = [r for r in qrows if r and r[0].startswith(q["name"])]
        assert row, "statement %s missing from the statements table" % q["name"]
    return dom, after


def _progress_lines(ms):
    """The INFO progress lines of an engine's stderr, as {key: value}."""
    out = []
    for line in ms.stderr().splitlines():
        m = re.search(r" INFO  progress (batch=.*)$", line)
        if m:
            out.append(dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv))
    return out


def _screenshot(t, ms, name):
    art = os.environ.get("MS_ARTIFACT_DIR") or t.mkdir("artifacts")
    os.makedirs(art, exist_ok=True)
    path = os.path.join(art, "status-page-%s.png" % name)
    if os.path.exists(path):
        os.remove(path)
    _run_chromium(t, ms.url + "/", "--screenshot=" + path, "--window-size=%d,%d" % (WIDTH, HEIGHT))
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %s" % path
    w, h = struct.unpack(">II", head[16:24])
    assert (w, h) == (WIDTH, HEIGHT), (w, h)
    assert os.path.getsize(path) > 20000, "screenshot %s is nearly empty" % path
    print("  screenshot: %s (%dx%d, %d bytes)" % (path, w, h, os.path.getsize(path)))
    return path


def test_status_page_wordcount(t):
    _chromium()
    d, chk = t.dirs()
    ms = t.mstream(d, chk, "--trigger-sec", "0.3", "--progress-sec", "3600",
                   name="wordcount").start()
    lines = dashlib.word_lines(600)
    for k in range(24):
        mstest.atomic_write(os.path.join(d, "part-%d.txt" % k), b"".join(lines[k * 25:(k + 1) * 25]))
        mstest.wait_for(lambda: ms.status()["lastBatchId"] >= k, 30, "batch %d" % k)
    ms.wait_counts(mstest.oracle(lines), settle=0)
    dom, _ = _check_page(t, ms, "wordcount", 24)
    assert "SELECT" in html.unescape(dom) and "wordcount" in dom
    lines = _progress_lines(ms)
    assert len(lines) == 1 and lines[0]["batch"] == "0" and lines[0]["batches"] == "1" \
        and lines[0]["rows"] == "25" and lines[0]["watermark"] == "none", \
        "--progress-sec 3600: expected the first batch's line only, got %r" % lines
    _screenshot(t, ms, "wordcount")
    assert ms.term() == 0


def test_status_page_windowed(t):
    tracegen = os.environ.get("MS_TRACEGEN")
    _chromium()
    if not tracegen:
        raise mstest.Skip("MS_TRACEGEN not set (the CMake glue sets it)")
    rows = dashlib.gen_trace(tracegen, t.mkdir("trace"), days=2, jobs=60)["task_events"]
    d, chk = t.dirs()
    ms = t.mstream(d, chk, "--query", "task_events_hourly", "--trigger-sec", "0.3",
                   "--progress-sec", "0", name="hourly").start()
    per = -(-len(rows) // 5)
    for k in range(5):
        mstest.atomic_write(os.path.join(d, "part-%d.csv" % k), b"".join(rows[k * per:(k + 1) * per]))
        mstest.wait_for(lambda: ms.status()["lastBatchId"] >= k, 30, "batch %d" % k)
    dom, status = _check_page(t, ms, "task_events_hourly", 5)
    q = status["queries"][0]
    assert q["watermark"], "no watermark after 2 days of trace: %r" % q
    _, qt = _element(dom, 'id="queries"')
    shown = q["watermark"][:19].replace("T", " ")        # 1970-01-02 23:21:37
    cells = [c for r in _rows(qt) for c in r]
    assert any(c.startswith(shown) for c in cells), \
        "watermark %s not shown in the statements table: %r" % (shown, cells)
    # The watermark's partitions (the directory is one) and the backlog card.
    assert [p["partition"] for p in q["partitions"]] == ["dir"], q["partitions"]
    assert any("dir " in c for c in cells), "partition not shown: %r" % cells
    assert status["backlog"]["files"] == 0, status["backlog"]
    assert "backlog" in dom, "no backlog card"
    lines = _progress_lines(ms)
    nb = status["lastBatchId"] + 1
    assert [int(p["batch"]) for p in lines] == list(range(nb)), \
        "--progress-sec 0: expected a line per batch 0..%d, got %r" % (nb - 1, lines)
    assert all(p["batches"] == "1" for p in lines), lines
    assert sum(int(p["rows"]) for p in lines) == len(rows), (lines, len(rows))
    assert lines[-1]["watermark"] == q["watermark"], (lines[-1], q["watermark"])
    _screenshot(t, ms, "hourly")
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
