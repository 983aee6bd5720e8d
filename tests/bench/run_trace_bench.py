#!/usr/bin/env python3
"""Windowed trace benchmark: mstream --query task_events_hourly vs a bare loop.

Generates a deterministic trace (ms_tracegen --plain), warms it into the page
cache, then runs, alternately and --runs times each:

  baseline  ms_trace_baseline TRACE   (read + split + count per hour/class/type
                                       in a flat array: no parser of the general
                                       kind, no engine, no checkpoint, no watermark)
  engine    mstream --input-dir TRACE/task_events --checkpoint-dir FRESH
                    --available-now --query task_events_hourly --sink json:OUT
                    --max-bytes-per-trigger 64M

and reports rows/s for both, the ratio, the engine's state entries at the end
(bounded by the watermark: only the open windows remain), windows closed, late
rows and peak RSS.

Check (a benchmark of a wrong engine is worthless): every (window, class,
type) row the engine emitted through the json sink equals the count the
baseline computed for that hour. Timings are never asserted. Standard library only.
"""
import argparse
import collections
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HOUR_US = 3600 * 1000000


def kv(text):
    return {m.group(1): m.group(2) for m in re.finditer(r"(\w+)=(\S+)", text)}


def run_baseline(args, trace):
    t0 = time.perf_counter()
    r = subprocess.run([args.baseline, trace], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    wall = time.perf_counter() - t0
    d = kv(r.stdout.decode())
    return {"wall": wall, "rows": int(d["rows"]), "counted": int(d["counted"]),
            "skipped": int(d["skipped"]), "groups": int(d["groups"])}


def baseline_counts(trace):
    """Counts per (hour start us, class, type name) straight from the files (for the check)."""
    names = ["SUBMIT", "SCHEDULE", "EVICT", "FAIL", "FINISH", "KILL", "LOST",
             "UPDATE_PENDING", "UPDATE_RUNNING"]
    c = collections.Counter()
    for path in sorted(glob.glob(os.path.join(trace, "task_events", "*.csv"))):
        with open(path, "rb") as f:
            for line in f:
                fs = line.rstrip(b"\n").split(b",")
                try:
                    t, ty, cl = int(fs[0]), int(fs[5]), int(fs[7])
                except (ValueError, IndexError):
                    continue
                if t in (0, 2**63 - 1) or not 0 <= ty < 9:  # sentinels: no event time
                    continue
                c[(t // HOUR_US * HOUR_US, cl, names[ty])] += 1
    return c


def run_engine(args, trace, work, i, use_time):
    chk = os.path.join(work, "chk.%d" % i)
    sink = os.path.join(work, "sink.%d" % i)
    argv = [args.mstream, "--input-dir", os.path.join(trace, "task_events"),
            "--checkpoint-dir", chk, "--available-now", "--query", args.query,
            "--metrics-addr", "127.0.0.1:0", "--sink", "json:" + sink,
            "--max-bytes-per-trigger", args.max_bytes_per_trigger]
    if use_time:
        argv = ["/usr/bin/time", "-v"] + argv
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    err = r.stderr.decode(errors="replace")
    if r.returncode != 0:
        raise SystemExit("mstream failed (%d):\n%s" % (r.returncode, err[-3000:]))
    eng, q = {}, {}
    for line in err.splitlines():
        if line.startswith("summary query="):
            q = kv(line)
        elif line.startswith("summary "):
            eng = kv(line)
    rss = None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    if m:
        rss = int(m.group(1))
    elif "peak_rss_kb" in eng:
        rss = int(eng["peak_rss_kb"])
    emitted = collections.Counter()
    for path in glob.glob(os.path.join(sink, "*", "batch-*.json")):
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    emitted[(row["window_start"], row["scheduling_class"], row["event_type"])] += row["events"]
    shutil.rmtree(chk, ignore_errors=True)
    shutil.rmtree(sink, ignore_errors=True)
    return {"wall": wall, "engine": eng, "query": q, "rss_kb": rss, "emitted": emitted}


def iso_to_us(s):
    # "1970-01-01T01:00:00.000000Z"
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z$", s)
    import calendar
    sec = calendar.timegm(tuple(int(m.group(k)) for k in range(1, 7)) + (0, 0, 0))
    return sec * 1000000 + int((m.group(7) or "0").ljust(6, "0"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mstream", required=True)
    ap.add_argument("--tracegen", required=True)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--query", default="task_events_hourly")
    ap.add_argument("--jobs", type=int, default=20000, help="jobs to generate (default 20000: ~10 M task events)")
    ap.add_argument("--days", type=int, default=29)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--max-bytes-per-trigger", default="64M",
                    help="engine batch size (default 64M: many batches, so the watermark closes "
                         "windows as it goes and the state stays bounded)")
    ap.add_argument("--trace", help="use this existing --plain trace directory (kept)")
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()

    work = args.workdir or tempfile.mkdtemp(prefix="ms_trace_bench.")
    os.makedirs(work, exist_ok=True)
    try:
        trace = args.trace
        if not trace:
            trace = os.path.join(work, "trace")
            t0 = time.perf_counter()
            r = subprocess.run([args.tracegen, "--out", trace, "--days", str(args.days), "--jobs", str(args.jobs),
                                "--parts", str(args.parts), "--plain"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, check=True)
            print("[bench] ms_tracegen %.1f s: %s" % (time.perf_counter() - t0, r.stdout.decode().strip()),
                  file=sys.stderr)
        # The directory source takes files oldest first (by mtime, as Spark's
        # file source does): make the parts "arrive" in name order, which is
        # time order, as a trace replayed into a directory would.
        now = time.time()
        parts = sorted(glob.glob(os.path.join(trace, "task_events", "*.csv")))
        for k, p in enumerate(parts):
            os.utime(p, (now - len(parts) + k, now - len(parts) + k))
        nbytes = 0
        for p in parts:
            with open(p, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    nbytes += len(b)
        use_time = os.access("/usr/bin/time", os.X_OK)
        base, eng = [], []
        for i in range(args.runs):
            base.append(run_baseline(args, trace))
            eng.append(run_engine(args, trace, work, i, use_time))
            print("[bench] run %d: baseline %.2f s, mstream %.2f s" % (i, base[-1]["wall"], eng[-1]["wall"]),
                  file=sys.stderr)

        # Check: every emitted window row equals the baseline's count.
        truth = baseline_counts(trace)
        problems = []
        for e in eng:
            for (ws, cl, ty), n in e["emitted"].items():
                want = truth.get((iso_to_us(ws), cl, ty), 0)
                if n != want:
                    problems.append("window %s class %s %s: engine %d, baseline %d" % (ws, cl, ty, n, want))
        rows = base[0]["rows"]
        bw = statistics.median(b["wall"] for b in base)
        ew = statistics.median(e["wall"] for e in eng)
        q = eng[-1]["query"]
        res = {
            "trace_rows": rows, "trace_bytes": nbytes,
            "baseline_wall_s": round(bw, 3), "engine_wall_s": round(ew, 3),
            "baseline_rows_per_s": round(rows / bw), "engine_rows_per_s": round(rows / ew),
            "ratio": round(bw / ew, 3),
            "engine_peak_rss_kb": eng[-1]["rss_kb"],
            "engine_summary": eng[-1]["engine"], "query_summary": q,
            "emitted_rows": sum(len(e["emitted"]) for e in eng[-1:]),
            "problems": problems[:20],
        }
        print()
        print("windowed trace benchmark — %s task events (%.1f MB), query %s, median of %d run(s)"
              % ("{:,}".format(rows), nbytes / 1e6, args.query, args.runs))
        print("%-34s %16s %16s" % ("", "baseline", "mstream"))
        print("%-34s %16s %16s" % ("rows/s", "{:,}".format(res["baseline_rows_per_s"]),
                                   "{:,}".format(res["engine_rows_per_s"])))
        print("%-34s %16.3f %16.3f" % ("wall s", bw, ew))
        print("%-34s %16s %16s" % ("peak RSS MiB", "-", "%.1f" % ((res["engine_peak_rss_kb"] or 0) / 1024)))
        for k in sorted(q):
            if k != "query":
                print("%-34s %16s %16s" % ("engine " + k, "", q[k]))
        print("%-34s %16s %16s" % ("window rows emitted (json sink)", "", res["emitted_rows"]))
        print()
        print("engine/baseline ratio (rows/s): %.3f" % res["ratio"])
        print("check (emitted window rows == baseline counts): %s" % ("PASS" if not problems else "FAIL"))
        for p in problems[:10]:
            print("  " + p)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(res, f, indent=1)
        return 1 if problems else 0
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
