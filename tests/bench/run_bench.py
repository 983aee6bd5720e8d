#!/usr/bin/env python3
"""mstream throughput benchmark: engine vs. a bare-loop baseline.

Generates a Zipf word corpus (ms_gencorpus), warms it into the page cache,
then runs, alternately and --runs times each:

  baseline  ms_baseline --input-dir CORPUS
  engine    mstream --input-dir CORPUS --checkpoint-dir FRESH --available-now
                    --metrics-addr 127.0.0.1:0 --max-bytes-per-trigger 64M

(a new, empty checkpoint directory for every engine run: checkpointing on,
real RocksDB, fsyncs included). Each run's wall time is measured around the
whole process (start-up, recovery, every batch, final commit, exit) and its
peak RSS is taken from GNU time (/usr/bin/time -v) when installed, else from
the process's own report. The figures reported are medians over the runs.

With --baseline-mstream PATH (another mstream build, e.g. main's), that
binary runs too, with the same arguments, alternating with the others, and
the table adds its column and the ratio mstream / baseline mstream (the
same-run comparison of two engines; its counts are checked like the
engine's).

Correctness checks (a benchmark of a wrong engine is worthless):
  * every engine run: summary input_bytes == baseline bytes and
    input_rows == baseline lines (the corpus is all complete lines);
  * --verify-bytes (default 8M; 0 = skip): on a separate small corpus, the
    engine is run in continuous mode and its complete /api/v1/results table
    is compared with the contract's Python oracle (collections.Counter over
    bytes.split()), and the baseline's word/distinct totals likewise.

Exit status: 0 ok, 1 a run failed or a check did not match (the table is
still printed), 2 usage/setup error. Timings are never asserted.
Standard library only.
"""
import argparse
import collections
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
GNU_TIME = "/usr/bin/time"


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def parse_size(s):
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([kKmMgG]?)(?:i?[bB])?\s*", str(s))
    if not m:
        raise argparse.ArgumentTypeError("bad size: %r" % s)
    mul = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(float(m.group(1)) * mul)


def find_binary(explicit, env, names):
    if explicit:
        return os.path.abspath(explicit)
    if os.environ.get(env):
        return os.path.abspath(os.environ[env])
    builds = [os.environ["MSTREAM_BUILD_DIR"]] if os.environ.get("MSTREAM_BUILD_DIR") else []
    builds += [os.path.join(REPO, "build")]
    for b in builds:
        for n in names:
            p = os.path.join(b, n)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return p
    return None


def kv_pairs(line):
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def num(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        try:
            return float(v)
        except (TypeError, ValueError):
            return None


def parse_gnu_time(path):
    """Peak RSS (kB) and CPU seconds from `/usr/bin/time -v -o path`."""
    out = {}
    pats = {"rss_kb": r"Maximum resident set size \(kbytes\):\s*(\d+)",
            "user_sec": r"User time \(seconds\):\s*([0-9.]+)",
            "sys_sec": r"System time \(seconds\):\s*([0-9.]+)"}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                for k, pat in pats.items():
                    m = re.search(pat, line)
                    if m:
                        out[k] = num(m.group(1))
    except OSError:
        pass
    return out


def run_timed(argv, stdout_path, stderr_path, timeout, use_time, env=None):
    """Run argv, stdout/stderr to files. Returns (rc, wall_sec, gnu-time dict)."""
    time_out = stderr_path + ".time"
    cmd = ([GNU_TIME, "-v", "-o", time_out] if use_time else []) + argv
    with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=so, stderr=se, stdin=subprocess.DEVNULL, env=env)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None, time.perf_counter() - t0, {}
        wall = time.perf_counter() - t0
    gt = parse_gnu_time(time_out) if use_time else {}
    return rc, wall, gt


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def corpus_files(d):
    names = sorted(n for n in os.listdir(d)
                   if not n.startswith((".", "_")) and not n.endswith(".tmp")
                   and os.path.isfile(os.path.join(d, n)))
    return [os.path.join(d, n) for n in names]


def warm(d):
    """Read every corpus file once so that both sides find it in the page cache."""
    total = 0
    for p in corpus_files(d):
        with open(p, "rb", buffering=0) as f:
            while True:
                b = f.read(8 << 20)
                if not b:
                    break
                total += len(b)
    return total


def gen_corpus(gen, out, nbytes, files, seed, vocab, zipf, workdir):
    argv = [gen, "--out", out, "--bytes", str(nbytes), "--files", str(files),
            "--seed", str(seed), "--vocab", str(vocab), "--zipf", str(zipf)]
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit("ms_gencorpus failed (%d): %s" % (r.returncode, r.stderr.decode(errors="replace")))
    info = {k: num(v) if num(v) is not None else v for k, v in kv_pairs(r.stdout.decode()).items()}
    info["wall_sec"] = round(wall, 3)
    info["argv"] = argv
    return info


# ---------------------------------------------------------------- runs

def run_baseline(args, corpus, workdir, i, use_time, top=0):
    so = os.path.join(workdir, "baseline.%s.out" % i)
    se = os.path.join(workdir, "baseline.%s.err" % i)
    argv = [args.baseline, "--input-dir", corpus]
    if top:
        argv += ["--top", str(top)]
    rc, wall, gt = run_timed(argv, so, se, args.timeout, use_time)
    rss = gt.get("rss_kb")
    out = read_text(so)
    lines = out.splitlines()
    res = {"rc": rc, "wall_sec": wall, "argv": argv,
           "cpu_sec": (gt["user_sec"] + gt["sys_sec"]) if "user_sec" in gt and "sys_sec" in gt else None}
    if rc != 0 or not lines:
        res["error"] = "ms_baseline exit %s: %s" % (rc, read_text(se).strip()[-2000:])
        return res
    kv = kv_pairs(lines[0])
    for k in ("files", "bytes", "lines", "words", "distinct", "malformed_long", "rejected_binary"):
        res[k] = int(kv[k])
    res["inner_sec"] = float(kv["seconds"])
    res["checksum"] = kv["checksum"]
    res["peak_rss_kb"] = rss if rss is not None else int(kv["peak_rss_kb"])
    res["rss_source"] = "gnu-time" if rss is not None else "getrusage(self)"
    if top:
        res["top"] = [(int(c), bytes.fromhex(h)) for _, c, h in
                      (l.split() for l in lines[1:] if l.startswith("top "))]
    return res


SERVING_RE = re.compile(r"serving http://([0-9.]+):(\d+)/metrics")


def parse_summary(stderr_text):
    summ = None
    for line in stderr_text.splitlines():
        if line.startswith("summary "):
            summ = line
    if summ is None:
        return None
    return {k: num(v) for k, v in kv_pairs(summ[len("summary "):]).items()}


def engine_argv(args, corpus, ckpt, available_now=True, binary=None):
    argv = [binary or args.mstream, "--input-dir", corpus, "--checkpoint-dir", ckpt,
            "--metrics-addr", "127.0.0.1:0", "--max-bytes-per-trigger", args.max_bytes_per_trigger]
    if available_now:
        argv.append("--available-now")
    return argv + args.engine_arg


def run_engine(args, corpus, workdir, i, use_time, binary=None, tag="engine"):
    ckpt = tempfile.mkdtemp(prefix="ckpt.%s." % i, dir=workdir)
    os.rmdir(ckpt)  # let the engine create it: a fresh, empty checkpoint
    so = os.path.join(workdir, "%s.%s.out" % (tag, i))
    se = os.path.join(workdir, "%s.%s.err" % (tag, i))
    argv = engine_argv(args, corpus, ckpt, binary=binary)
    rc, wall, gt = run_timed(argv, so, se, args.timeout, use_time)
    rss = gt.get("rss_kb")
    err = read_text(se)
    res = {"rc": rc, "wall_sec": wall, "argv": argv,
           "cpu_sec": (gt["user_sec"] + gt["sys_sec"]) if "user_sec" in gt and "sys_sec" in gt else None}
    try:
        res["checkpoint_bytes"] = sum(os.path.getsize(p) for p in glob.glob(os.path.join(ckpt, "**"), recursive=True)
                                      if os.path.isfile(p))
    except OSError:
        pass
    shutil.rmtree(ckpt, ignore_errors=True)
    summ = parse_summary(err)
    if rc != 0 or summ is None:
        tail = "\n".join(err.splitlines()[-20:])
        res["error"] = "mstream exit %s%s; stderr tail:\n%s" % (
            rc, "" if summ else " (no summary line)", tail)
        return res
    res["summary"] = summ
    res["peak_rss_kb"] = rss if rss is not None else summ.get("peak_rss_kb")
    res["rss_source"] = "gnu-time" if rss is not None else "summary peak_rss_kb"
    return res


# ---------------------------------------------------------------- verification

def display_form(b):
    """The contract's display form of a word: valid printable UTF-8 as is,
    backslash as \\\\, control bytes and invalid UTF-8 bytes as \\xNN."""
    out = []
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c == 0x5C:
            out.append("\\\\")
            i += 1
        elif c < 0x20 or c == 0x7F:
            out.append("\\x%02x" % c)
            i += 1
        elif c < 0x80:
            out.append(chr(c))
            i += 1
        else:
            ln = 2 if 0xC2 <= c <= 0xDF else 3 if 0xE0 <= c <= 0xEF else 4 if 0xF0 <= c <= 0xF4 else 0
            try:
                ch = b[i:i + ln].decode("utf-8") if ln and i + ln <= n else None
            except UnicodeDecodeError:
                ch = None
            if ch is None:
                out.append("\\x%02x" % c)
                i += 1
            else:
                out.append(ch)
                i += ln
    return "".join(out)


class Http:
    def __init__(self, host, port):
        self.base = "http://%s:%s" % (host, port)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, path, timeout=10):
        with self.opener.open(self.base + path, timeout=timeout) as r:
            return r.status, r.read()


def prom_value(text, name, labels=None):
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        if labels and not all('%s="%s"' % kv in (m.group(2) or "") for kv in labels.items()):
            continue
        try:
            return float(m.group(3))
        except ValueError:
            return None
    return None


def verify(args, workdir, use_time):
    """Engine (continuous mode, /api/v1/results) and baseline vs. the Python oracle."""
    vdir = os.path.join(workdir, "verify-corpus")
    info = gen_corpus(args.gencorpus, vdir, args.verify_bytes, 2, args.seed + 1, args.vocab, args.zipf, workdir)
    files = corpus_files(vdir)
    oracle = collections.Counter(w for f in files for w in open(f, "rb").read().split()
                                 if len(w) <= 1024)
    nbytes = sum(os.path.getsize(f) for f in files)
    rep = {"corpus_bytes": nbytes, "oracle_words": sum(oracle.values()), "oracle_distinct": len(oracle),
           "problems": []}
    probs = rep["problems"]

    b = run_baseline(args, vdir, workdir, "verify", use_time, top=100)
    if "error" in b:
        probs.append("baseline: " + b["error"])
    else:
        if (b["words"], b["distinct"], b["bytes"]) != (rep["oracle_words"], len(oracle), nbytes):
            probs.append("baseline words/distinct/bytes %s/%s/%s != oracle %s/%s/%s" % (
                b["words"], b["distinct"], b["bytes"], rep["oracle_words"], len(oracle), nbytes))
        want_top = sorted(oracle.items(), key=lambda kv: (-kv[1], kv[0]))[:100]
        if [(w, c) for c, w in b["top"]] != want_top:
            probs.append("baseline top-100 differs from the oracle")

    ckpt = os.path.join(workdir, "ckpt.verify")
    se_path = os.path.join(workdir, "engine.verify.err")
    argv = engine_argv(args, vdir, ckpt, available_now=False)
    rep["engine_argv"] = argv
    se = open(se_path, "wb")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=se, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + args.verify_timeout
        port = None
        while port is None and time.monotonic() < deadline and p.poll() is None:
            m = SERVING_RE.search(read_text(se_path))
            if m:
                port = (m.group(1), m.group(2))
            else:
                time.sleep(0.05)
        if port is None:
            raise RuntimeError("no 'serving http://...' line (exit %s)" % p.poll())
        http = Http(*port)
        # wait until all input is consumed and the published results are those of the last committed batch
        stable, last = 0, None
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError("timed out waiting for the engine to consume %d bytes (last state %s)" % (nbytes, last))
            if p.poll() is not None:
                raise RuntimeError("engine exited early with %s" % p.returncode)
            try:
                _, mt = http.get("/metrics")
                mt = mt.decode("utf-8", "replace")
                inb = prom_value(mt, "mstream_input_bytes_total", {"source": "dir"})
                lcb = prom_value(mt, "mstream_last_committed_batch_id")
                _, rj = http.get("/api/v1/results?query=wordcount&offset=0&limit=1")
                rb = json.loads(rj).get("batchId")
            except (OSError, ValueError) as e:
                last = "http error %s" % e
                time.sleep(0.2)
                continue
            state = (inb, lcb, rb)
            if inb is not None and inb >= nbytes and lcb is not None and rb is not None and rb == lcb:
                stable = stable + 1 if state == last else 1
                if stable >= 3:
                    break
            last = state
            time.sleep(0.3)
        rows, total, offset, batch = [], None, 0, None
        while True:
            _, body = http.get("/api/v1/results?query=wordcount&offset=%d&limit=10000" % offset, timeout=30)
            j = json.loads(body)
            if batch is None:
                batch = j.get("batchId")
            elif j.get("batchId") != batch:
                raise RuntimeError("results batchId changed while paging (%s -> %s)" % (batch, j.get("batchId")))
            total = j.get("total")
            rows.extend(j.get("rows") or [])
            offset += 10000
            if not j.get("rows") or offset >= (total or 0):
                break
        rep["engine_rows"] = len(rows)
        rep["engine_total"] = total
        rep["engine_words"] = sum(r[1] for r in rows)
        got = {r[0]: r[1] for r in rows}
        want = {display_form(w): c for w, c in oracle.items()}
        if len(got) != len(rows):
            probs.append("engine results contain duplicate words")
        if total != len(oracle):
            probs.append("engine results total=%s != oracle distinct %d" % (total, len(oracle)))
        if got != want:
            missing = [w for w in want if w not in got][:5]
            extra = [w for w in got if w not in want][:5]
            wrong = [(w, got[w], want[w]) for w in want if w in got and got[w] != want[w]][:5]
            probs.append("engine counts differ from the oracle: engine words %d vs %d, distinct %d vs %d; "
                         "missing %s extra %s wrong %s" % (rep["engine_words"], rep["oracle_words"], len(got),
                                                         len(want), missing, extra, wrong))
        want_order = sorted(want.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8")))
        if [tuple(r) for r in rows[:100]] != want_order[:100]:
            probs.append("engine results order (count desc, word asc) differs from the oracle in the first 100 rows")
    except Exception as e:  # noqa: BLE001 - reported, not raised
        probs.append("engine verify: %s" % e)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                probs.append("engine did not exit within 30 s of SIGTERM")
        se.close()
        rep["engine_exit"] = p.returncode
        if p.returncode != 0:
            probs.append("engine exit status %s after SIGTERM (want 0)" % p.returncode)
        err = read_text(se_path)
        if parse_summary(err) is None:
            probs.append("engine printed no 'summary' line on exit")
        if probs:
            rep["engine_stderr_tail"] = err.splitlines()[-20:]
        shutil.rmtree(ckpt, ignore_errors=True)
    shutil.rmtree(vdir, ignore_errors=True)
    rep["ok"] = not probs
    return rep


# ---------------------------------------------------------------- report

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, spec="{:,.1f}", none="n/a"):
    return none if v is None else spec.format(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = os.environ.get
    ap.add_argument("--bytes", type=parse_size, default=parse_size(env("BENCH_BYTES", "1G")),
                    help="corpus size (K/M/G suffix; env BENCH_BYTES; default 1G)")
    ap.add_argument("--files", type=int, default=int(env("BENCH_FILES", "8")), help="corpus files (default 8)")
    ap.add_argument("--seed", type=int, default=int(env("BENCH_SEED", "42")))
    ap.add_argument("--vocab", type=int, default=int(env("BENCH_VOCAB", "1000000")))
    ap.add_argument("--zipf", type=float, default=float(env("BENCH_ZIPF", "1.0")))
    ap.add_argument("--runs", type=int, default=int(env("BENCH_RUNS", "3")), help="runs per side (median; default 3)")
    ap.add_argument("--max-bytes-per-trigger", default=env("BENCH_MAX_BYTES_PER_TRIGGER", "64M"))
    ap.add_argument("--engine-arg", action="append", default=[], help="extra mstream argument (repeatable)")
    ap.add_argument("--verify-bytes", type=parse_size, default=parse_size(env("BENCH_VERIFY_BYTES", "8M")),
                    help="size of the separate correctness-check corpus (0 = skip; default 8M)")
    ap.add_argument("--verify-timeout", type=float, default=300.0)
    ap.add_argument("--timeout", type=float, default=float(env("BENCH_TIMEOUT", "3600")),
                    help="per-run timeout in seconds")
    ap.add_argument("--workdir", default=env("BENCH_WORKDIR"),
                    help="scratch directory (default: a new temp dir under $TMPDIR or /tmp, removed at exit)")
    ap.add_argument("--corpus", help="use this existing corpus directory instead of generating one (kept)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (corpus, logs)")
    ap.add_argument("--out", default=env("BENCH_OUT"), help="write the results as JSON to this file")
    ap.add_argument("--mstream", help="engine binary (env MSTREAM_BIN; default build/mstream)")
    ap.add_argument("--baseline", help="ms_baseline binary (env MS_BASELINE_BIN)")
    ap.add_argument("--baseline-mstream",
                    help="another mstream binary (e.g. built from main) run alternately with the same "
                         "arguments; the table adds the ratio mstream / baseline mstream")
    ap.add_argument("--gencorpus", help="ms_gencorpus binary (env MS_GENCORPUS_BIN)")
    ap.add_argument("--no-gnu-time", action="store_true", help="do not use /usr/bin/time -v for peak RSS")
    args = ap.parse_args()

    args.mstream = find_binary(args.mstream, "MSTREAM_BIN", ["mstream", "src/mstream"])
    args.baseline = find_binary(args.baseline, "MS_BASELINE_BIN", ["tests/bench/ms_baseline", "ms_baseline"])
    args.gencorpus = find_binary(args.gencorpus, "MS_GENCORPUS_BIN", ["tests/bench/ms_gencorpus", "ms_gencorpus"])
    for name in ("mstream", "baseline", "gencorpus"):
        p = getattr(args, name)
        if not p or not os.access(p, os.X_OK):
            print("run_bench: %s binary not found (%s); build first or pass --%s" % (name, p, name), file=sys.stderr)
            return 2
    if args.baseline_mstream:
        args.baseline_mstream = os.path.abspath(args.baseline_mstream)
        if not os.access(args.baseline_mstream, os.X_OK):
            print("run_bench: --baseline-mstream %s is not executable" % args.baseline_mstream, file=sys.stderr)
            return 2
    if args.runs < 1:
        print("run_bench: --runs must be >= 1", file=sys.stderr)
        return 2
    use_time = (not args.no_gnu_time) and os.access(GNU_TIME, os.X_OK)

    own_workdir = args.workdir is None
    workdir = tempfile.mkdtemp(prefix="msbench.") if own_workdir else os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    results = {"config": {k: v for k, v in vars(args).items()}, "units": {
        "MB": "10^6 bytes", "wall_sec": "whole process, measured by the bench", "rss": "kB (peak resident set)"}}
    results["host"] = {"nproc": os.cpu_count(), "loadavg_start": os.getloadavg(), "uname": " ".join(os.uname())}
    rc = 0
    try:
        if args.corpus:
            corpus = os.path.abspath(args.corpus)
            results["corpus"] = {"dir": corpus, "generated": False}
        else:
            corpus = os.path.join(workdir, "corpus")
            log("generating %d-byte corpus in %s ..." % (args.bytes, corpus))
            results["corpus"] = gen_corpus(args.gencorpus, corpus, args.bytes, args.files, args.seed,
                                           args.vocab, args.zipf, workdir)
            results["corpus"]["dir"] = corpus
            log("corpus: %s" % {k: v for k, v in results["corpus"].items() if k != "argv"})
        t0 = time.perf_counter()
        warmed = warm(corpus)
        results["corpus"]["warm_read_sec"] = round(time.perf_counter() - t0, 3)
        log("page-cache warm-up read %d bytes in %.2f s" % (warmed, time.perf_counter() - t0))

        base_runs, eng_runs, beng_runs, problems = [], [], [], []
        for i in range(args.runs):
            log("run %d/%d: baseline ..." % (i + 1, args.runs))
            b = run_baseline(args, corpus, workdir, i, use_time)
            base_runs.append(b)
            if "error" in b:
                problems.append("baseline run %d: %s" % (i + 1, b["error"]))
            else:
                log("  baseline %.2f s, %.1f MB/s, rss %s kB" % (b["wall_sec"], b["bytes"] / 1e6 / b["wall_sec"],
                                                                 b["peak_rss_kb"]))
            log("run %d/%d: mstream ..." % (i + 1, args.runs))
            e = run_engine(args, corpus, workdir, i, use_time)
            eng_runs.append(e)
            if "error" in e:
                problems.append("engine run %d: %s" % (i + 1, e["error"]))
            else:
                log("  mstream %.2f s, %.1f MB/s, rss %s kB, %s" % (
                    e["wall_sec"], e["summary"].get("input_bytes", 0) / 1e6 / e["wall_sec"], e["peak_rss_kb"],
                    " ".join("%s=%s" % kv for kv in e["summary"].items())))
            if args.baseline_mstream:
                log("run %d/%d: baseline mstream ..." % (i + 1, args.runs))
                e = run_engine(args, corpus, workdir, i, use_time, binary=args.baseline_mstream,
                               tag="base-engine")
                beng_runs.append(e)
                if "error" in e:
                    problems.append("baseline mstream run %d: %s" % (i + 1, e["error"]))
                else:
                    log("  baseline mstream %.2f s, %.1f MB/s, rss %s kB" % (
                        e["wall_sec"], e["summary"].get("input_bytes", 0) / 1e6 / e["wall_sec"],
                        e["peak_rss_kb"]))
        results["baseline_runs"] = base_runs
        results["engine_runs"] = eng_runs
        results["baseline_engine_runs"] = beng_runs

        good_b = [b for b in base_runs if "error" not in b]
        good_e = [e for e in eng_runs if "error" not in e]
        ref = good_b[0] if good_b else None
        if ref:
            if len({(b["words"], b["distinct"], b["checksum"]) for b in good_b}) != 1:
                problems.append("baseline runs disagree with each other")
            for k, e in enumerate(good_e + [e for e in beng_runs if "error" not in e]):
                s = e["summary"]
                if s.get("input_bytes") != ref["bytes"]:
                    problems.append("engine run %d: input_bytes=%s != baseline bytes %d" % (k + 1, s.get("input_bytes"), ref["bytes"]))
                if s.get("input_rows") != ref["lines"]:
                    problems.append("engine run %d: input_rows=%s != baseline lines %d" % (k + 1, s.get("input_rows"), ref["lines"]))

        summ = {}
        if ref:
            summ["corpus_bytes"] = ref["bytes"]
            summ["corpus_words"] = ref["words"]
            summ["corpus_distinct"] = ref["distinct"]
            summ["corpus_lines"] = ref["lines"]
            b_wall = med([b["wall_sec"] for b in good_b])
            summ["baseline"] = {
                "wall_sec": b_wall,
                "mb_per_s": ref["bytes"] / 1e6 / b_wall,
                "words_per_s": ref["words"] / b_wall,
                "inner_mb_per_s": ref["bytes"] / 1e6 / med([b["inner_sec"] for b in good_b]),
                "peak_rss_kb": max(b["peak_rss_kb"] for b in good_b),
                "cpu_sec": med([b.get("cpu_sec") for b in good_b]),
                "runs_wall_sec": [round(b["wall_sec"], 3) for b in good_b],
            }
        def engine_summary(good_e):
            e_wall = med([e["wall_sec"] for e in good_e])
            ebytes = good_e[0]["summary"].get("input_bytes") or 0
            sm = [e["summary"] for e in good_e]
            return {
                "wall_sec": e_wall,
                "mb_per_s": ebytes / 1e6 / e_wall,
                "words_per_s": (ref["words"] / e_wall) if ref else None,
                "inner_mb_per_s": (ebytes / 1e6 / med([s.get("elapsed_sec") for s in sm])
                                   if med([s.get("elapsed_sec") for s in sm]) else None),
                "peak_rss_kb": max((e["peak_rss_kb"] or 0) for e in good_e),
                "cpu_sec": med([e.get("cpu_sec") for e in good_e]),
                "batches": med([s.get("batches") for s in sm]),
                "commit_ms_p50": med([s.get("commit_ms_p50") for s in sm]),
                "commit_ms_p95": med([s.get("commit_ms_p95") for s in sm]),
                "commit_ms_p99": med([s.get("commit_ms_p99") for s in sm]),
                "commit_ms_max": max((s.get("commit_ms_max") or 0) for s in sm),
                "runs_wall_sec": [round(e["wall_sec"], 3) for e in good_e],
            }
        if good_e:
            summ["engine"] = engine_summary(good_e)
        good_be = [e for e in beng_runs if "error" not in e]
        if good_be:
            summ["baseline_engine"] = engine_summary(good_be)
        if "baseline" in summ and "engine" in summ:
            summ["ratio_engine_over_baseline"] = summ["engine"]["mb_per_s"] / summ["baseline"]["mb_per_s"]
        if "baseline_engine" in summ and "engine" in summ:
            summ["ratio_engine_over_baseline_engine"] = (summ["engine"]["mb_per_s"] /
                                                         summ["baseline_engine"]["mb_per_s"])

        if args.verify_bytes > 0:
            log("verifying counts on a %d-byte corpus (continuous mode, /api/v1/results vs Python oracle) ..." % args.verify_bytes)
            v = verify(args, workdir, use_time)
            results["verify"] = v
            problems += ["verify: " + p for p in v["problems"]]
        results["summary"] = summ
        results["problems"] = problems
        results["host"]["loadavg_end"] = os.getloadavg()
        rc = 1 if problems or "engine" not in summ or "baseline" not in summ or (
            args.baseline_mstream and "baseline_engine" not in summ) else 0
        print_table(args, results)
    finally:
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=2, default=lambda o: o.hex() if isinstance(o, bytes) else str(o))
            log("results written to %s" % args.out)
        if own_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            log("kept work directory %s" % workdir)
    return rc


def print_table(args, results):
    s = results["summary"]
    b, e = s.get("baseline", {}), s.get("engine", {})
    be = s.get("baseline_engine")
    print()
    print("mstream benchmark — corpus %s bytes (%.1f MiB) in %s files, %s words, %s distinct, %s lines" % (
        fmt(s.get("corpus_bytes"), "{:,}"), (s.get("corpus_bytes") or 0) / 1048576.0, args.files if not args.corpus else "?",
        fmt(s.get("corpus_words"), "{:,}"), fmt(s.get("corpus_distinct"), "{:,}"), fmt(s.get("corpus_lines"), "{:,}")))
    print("median of %d run(s) per side, files warm in page cache; MB = 10^6 bytes; wall = whole process" % args.runs)
    print("engine: mstream --available-now --max-bytes-per-trigger %s, fresh RocksDB checkpoint per run" % args.max_bytes_per_trigger)
    print()
    cols = [("baseline", b), ("mstream", e)] + ([("base mstream", be)] if be is not None else [])

    def row(label, f):
        print("%-24s" % label + "".join(" %16s" % f(c) for _, c in cols))

    row("", lambda c: [n for n, cc in cols if cc is c][0])
    row("MB/s", lambda c: fmt(c.get("mb_per_s")))
    row("words/s", lambda c: fmt(c.get("words_per_s"), "{:,.0f}"))
    row("wall s", lambda c: fmt(c.get("wall_sec"), "{:.3f}"))
    row("CPU s (user+sys)", lambda c: fmt(c.get("cpu_sec"), "{:.3f}"))
    row("MB/s (own timer)", lambda c: fmt(c.get("inner_mb_per_s")))
    row("peak RSS MiB", lambda c: fmt(c.get("peak_rss_kb") and c["peak_rss_kb"] / 1024.0))
    row("batches", lambda c: "-" if c is b else fmt(c.get("batches"), "{:.0f}"))
    for q in ("p50", "p95", "p99", "max"):
        row("commit ms " + q, lambda c, q=q: "-" if c is b else fmt(c.get("commit_ms_" + q), "{:.2f}"))
    print()
    r = s.get("ratio_engine_over_baseline")
    print("engine/baseline ratio (MB/s): %s" % fmt(r, "{:.3f}"))
    if be is not None:
        print("mstream/baseline mstream ratio (MB/s, same run): %s" % fmt(
            s.get("ratio_engine_over_baseline_engine"), "{:.3f}"))
    v = results.get("verify")
    if v is not None:
        print("verify (%s-byte corpus, continuous mode, full /api/v1/results vs Python oracle): %s" % (
            fmt(v.get("corpus_bytes"), "{:,}"), "PASS" if v.get("ok") else "FAIL"))
    else:
        print("verify: skipped (--verify-bytes 0)")
    print("checks: %s" % ("all passed" if not results["problems"] else "FAILED"))
    for p in results["problems"]:
        print("  - " + p)
    la = results["host"]
    print("host: %s cpus, loadavg at start %s, at end %s" % (la["nproc"], "/".join("%.2f" % x for x in la["loadavg_start"]),
                                                          "/".join("%.2f" % x for x in la.get("loadavg_end", (0, 0, 0)))))
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
