#!/usr/bin/env python3
"""State-store benchmark: restart after kill -9, the cost of a small batch
over a large state, memory per state entry.  Standard library only.

Phases (--phases, default all):

  restart   For each state size in --keys: a state of N distinct 8-letter
            words is built (--available-now, --max-bytes-per-trigger 64M).
            "cold": an engine is started with a large batch waiting
            (--big-words words, half of them keys of the state), killed with
            SIGKILL while that batch is being read, and restarted: the time
            from spawn to /readyz 200 (and the engine's own "recovered ...
            in" figure, and the write-ahead log the kill left: here the
            build's last commit, millions of keys).  "steady": the same in a
            running stream: an engine (--max-bytes-per-trigger 16M) first
            commits warm-up batches until its log is short, then the large
            batch arrives and it is killed while reading it.  With
            --baseline-mstream the cold case for that binary (another build,
            e.g. main's) up to --baseline-max-keys.
  onebatch  A state of --onebatch-keys groups, then one-line files, one
            batch each (--trigger-sec 0), against the same with an empty
            state; both engines run at once and their batches alternate.
            Measured once RocksDB is quiet (no flush or compaction running
            or pending: the build's background work is not the batch's):
            the batch durations (triggerExecution of /api/v1/status, and
            its parts) and their ratio, which must stay <= 2 (the only
            assertion: a ratio in the same run, never a wall-clock figure).
  memory    --memory-keys distinct keys through --available-now: peak RSS
            per state entry against the raw bytes of a key and a count (8 +
            8), with the default bound and with --state-memory-small.
  bound     (not in the default phases) The Zipf word count of
            ms_gencorpus (--bound-bytes) with --state-memory at
            --bound-fraction of the distinct keys' bytes plus 8 per count:
            lines, words and MB per second and the cache hit rate over
            --bound-seconds of the run.

Everything happens under a new directory of $TMPDIR (removed unless
--keep).  Results as a table on stdout and JSON with --out.
Exit status: 0, 1 if a run failed or the onebatch ratio exceeds 2, 2 usage.
"""
import argparse
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

ALPHA = b"abcdefghijklmnopqrstuvwxyz"
SPACE = 26 ** 8
MULT = 2654435761


def log(msg):
    print("[state_bench] " + msg, file=sys.stderr, flush=True)


def word(i, seed=1):
    x = (i * MULT + seed) % SPACE
    w = bytearray(8)
    for j in range(8):
        w[j] = ALPHA[x % 26]
        x //= 26
    return bytes(w)


def write_words(path, indices, per_line=10):
    with open(path + ".tmp", "wb") as f:
        buf, line = [], []
        for i in indices:
            line.append(word(i))
            if len(line) == per_line:
                buf.append(b" ".join(line) + b"\n")
                line = []
                if len(buf) >= 10000:
                    f.write(b"".join(buf))
                    buf = []
        if line:
            buf.append(b" ".join(line) + b"\n")
        f.write(b"".join(buf))
    os.rename(path + ".tmp", path)


def gen_state(d, n):
    """n distinct words in files of at most 2M words."""
    os.makedirs(d, exist_ok=True)
    step = 2000000
    for k, lo in enumerate(range(0, n, step)):
        write_words(os.path.join(d, "state-%03d.txt" % k), range(lo, min(n, lo + step)))


SERVING = re.compile(rb"serving http://([0-9.]+):(\d+)/metrics")
RECOVERED = re.compile(rb"recovered from .* in ([0-9.]+)s")


STARTED = []  # every engine started: the ones still running are killed at exit


class Engine:
    def __init__(self, binary, in_dir, chk, extra, log_path):
        self.argv = [binary, "--input-dir", in_dir, "--checkpoint-dir", chk,
                     "--metrics-addr", "127.0.0.1:0"] + extra
        self.log_path = log_path
        self.t0 = time.monotonic()
        self.err = open(log_path, "wb")
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=self.err)
        STARTED.append(self.p)
        self.port = None

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def wait_port(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = SERVING.search(self.text())
            if m:
                self.port = int(m.group(2))
                return
            if self.p.poll() is not None:
                raise RuntimeError("exited %s: %s" % (self.p.returncode, self.text()[-2000:]))
            time.sleep(0.002)
        raise RuntimeError("no serving line")

    def get(self, path, timeout=30):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                    timeout=timeout) as r:
            return r.status, r.read()

    def wait_ready(self, timeout):
        """Seconds from spawn to /readyz 200."""
        self.wait_port(timeout)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if self.get("/readyz", 5)[0] == 200:
                    return time.monotonic() - self.t0
            except OSError:
                pass
            if self.p.poll() is not None:
                raise RuntimeError("exited %s" % self.p.returncode)
            time.sleep(0.005)
        raise RuntimeError("not ready within %ss" % timeout)

    def status(self):
        return json.loads(self.get("/api/v1/status")[1])

    def kill9(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait(60)
        self.err.close()

    def term(self, timeout=600):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout)
        self.err.close()
        return rc

    def recovered_sec(self):
        m = RECOVERED.search(self.text())
        return float(m.group(1)) if m else None


def run_to_end(binary, in_dir, chk, extra, log_path, timeout=3600):
    argv = [binary, "--input-dir", in_dir, "--checkpoint-dir", chk, "--metrics-addr",
            "127.0.0.1:0", "--available-now"] + extra
    t0 = time.monotonic()
    with open(log_path, "wb") as err:
        rc = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err, timeout=timeout)
    wall = time.monotonic() - t0
    with open(log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    summ = {}
    for line in text.splitlines():
        if line.startswith("summary ") and not line.startswith("summary query="):
            summ.update(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        if line.startswith("summary query="):
            summ.update({"q_" + k: v for k, v in
                         (kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)})
    if rc != 0:
        raise RuntimeError("%s exited %s:\n%s" % (binary, rc, text[-3000:]))
    return wall, summ


def wal_bytes(chk):
    return sum(os.path.getsize(os.path.join(chk, n)) for n in os.listdir(chk) if n.endswith(".log"))


def dir_bytes(d):
    total = 0
    for root, _, files in os.walk(d):
        for n in files:
            total += os.path.getsize(os.path.join(root, n))
    return total


# ------------------------------------------------------------------ restart

def wait_short_wal(chk, limit, timeout=120):
    """Until the checkpoint's write-ahead log is below limit bytes (its
    memtables flushed); returns its size."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        w = wal_bytes(chk)
        if w < limit:
            return w
        time.sleep(0.1)
    return wal_bytes(chk)


def steady_restart(args, binary, d, in_dir, chk, n, r):
    """Kill -9 in the middle of a large batch of a running stream."""
    e = Engine(binary, in_dir, chk, ["--trigger-sec", "0", "--max-bytes-per-trigger", "16M"],
               os.path.join(d, "steady%d.err" % r))
    e.wait_ready(600)
    for k in range(3):  # warm-up: commits that switch and flush what the log held
        write_words(os.path.join(in_dir, "zz-%d-warm%d.txt" % (r, k)),
                    [(j * 104729 + k) % n for j in range(100000)])
        time.sleep(0.5)
    wait_short_wal(chk, 8 << 20)
    write_words(os.path.join(in_dir, "zz-%d-steady-big.txt" % r),
                [(k * 7919 + r) % n if k % 2 else n + r * args.big_words + k
                 for k in range(args.big_words)])
    time.sleep(args.kill_after + 0.2)
    e.kill9()
    wal = wal_bytes(chk)
    e = Engine(binary, in_dir, chk, [], os.path.join(d, "steady-restart%d.err" % r))
    ready = e.wait_ready(600)
    rec = e.recovered_sec()
    e.kill9()
    return {"ready_sec": round(ready, 4), "recovered_sec": rec, "wal_bytes": wal}


def restart_one(args, binary, tag, n, work, steady=True):
    d = os.path.join(work, "%s-%d" % (tag, n))
    in_dir, chk = os.path.join(d, "in"), os.path.join(d, "chk")
    log("%s: building a state of %d keys" % (tag, n))
    gen_state(in_dir, n)
    wall, summ = run_to_end(binary, in_dir, chk, ["--max-bytes-per-trigger", "64M"],
                            os.path.join(d, "build.err"))
    out = {"keys": n, "build_sec": round(wall, 3), "build_peak_rss_kb": int(summ.get("peak_rss_kb", 0)),
           "checkpoint_bytes": dir_bytes(chk), "runs": []}
    big = [(k * 7919) % n if k % 2 else n + k for k in range(args.big_words)]
    write_words(os.path.join(in_dir, "zz-big.txt"), big)
    for r in range(args.runs):
        e = Engine(binary, in_dir, chk, [], os.path.join(d, "crash%d.err" % r))
        e.wait_ready(600)
        time.sleep(args.kill_after)
        in_batch = e.p.poll() is None
        e.kill9()
        wal = wal_bytes(chk)
        e = Engine(binary, in_dir, chk, [], os.path.join(d, "restart%d.err" % r))
        ready = e.wait_ready(600)
        rec = e.recovered_sec()
        groups = None
        try:
            groups = e.status().get("stateEntries")
        except (OSError, ValueError):
            pass
        e.kill9()
        out["runs"].append({"ready_sec": round(ready, 4), "recovered_sec": rec, "wal_bytes": wal,
                            "killed_in_batch": in_batch, "state_entries": groups})
        log("%s %d keys: cold run %d: ready in %.3f s (engine: %s s), WAL %.1f MB at the kill"
            % (tag, n, r + 1, ready, rec, wal / 1e6))
    out["ready_sec_median"] = statistics.median(x["ready_sec"] for x in out["runs"])
    if steady:
        out["steady"] = []
        for r in range(args.runs):
            x = steady_restart(args, binary, d, in_dir, chk, n, r)
            out["steady"].append(x)
            log("%s %d keys: steady run %d: ready in %.3f s (engine: %s s), WAL %.1f MB at the "
                "kill" % (tag, n, r + 1, x["ready_sec"], x["recovered_sec"], x["wal_bytes"] / 1e6))
        out["steady_ready_sec_median"] = statistics.median(x["ready_sec"] for x in out["steady"])
    shutil.rmtree(d, ignore_errors=True)
    return out


def phase_restart(args, work):
    res = []
    for n in args.keys:
        row = {"keys": n, "mstream": restart_one(args, args.mstream, "mstream", n, work)}
        if args.baseline_mstream and n <= args.baseline_max_keys:
            row["baseline"] = restart_one(args, args.baseline_mstream, "baseline", n, work,
                                          steady=False)
        res.append(row)
    return res


# ------------------------------------------------------------------ onebatch

def batch_durations(e, in_dir, count, tag):
    """Writes `count` one-line files, one at a time; the durationMs of each
    batch that read one (triggerExecution and its parts)."""
    got = []
    for i in range(count):
        before = e.status()["lastBatchId"]
        name = "line-%s-%04d.txt" % (tag, i)
        with open(os.path.join(in_dir, name + ".tmp"), "wb") as f:
            f.write(b"spark streaming %s %d\n" % (tag.encode(), i))
        os.rename(os.path.join(in_dir, name + ".tmp"), os.path.join(in_dir, name))
        end = time.monotonic() + 60
        found = None
        while time.monotonic() < end and found is None:
            st = e.status()
            if st["lastBatchId"] > before:
                for b in st["recentProgress"]:
                    for s in b.get("sources", []):
                        if any(f.get("name") == name for f in s.get("files", [])):
                            found = b["durationMs"]
            time.sleep(0.01)
        if found is None:
            raise RuntimeError("the batch of %s did not show up" % name)
        got.append(found)
    return got


def cpu_sec(pid):
    """User and system CPU seconds of a process, all its threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(e, in_dir, chk, tag, timeout=300, quiet_for=5.0):
    """One-line batches every half second until, for quiet_for seconds on
    end, RocksDB has had no flush or compaction running or pending and the
    write-ahead log was short (the build's and the restart's background
    work done, including the compaction RocksDB starts on its own once no
    snapshot holds the bulk-loaded file): the seconds it took, or None if
    it never was."""
    t0 = time.monotonic()
    since = None
    for i in range(100000):
        batch_durations(e, in_dir, 1, "%s-quiet%d" % (tag, i))
        k = e.status().get("checkpointStore", {})
        now = time.monotonic()
        if (k.get("backgroundJobs", 0) == 0 and k.get("pendingCompactionBytes", 0) == 0
                and wal_bytes(chk) < (1 << 20)):
            since = now if since is None else since
            if now - since >= quiet_for:
                return now - t0
        else:
            since = None
        if now - t0 > timeout:
            return None
        time.sleep(0.5)
    return None


PARTS = ("planSync", "addBatch", "commit", "triggerExecution")


def onebatch(args, binary, tag, work):
    """Both engines run at once; their batches alternate, so that whatever
    the disk does meanwhile falls on both alike."""
    d = os.path.join(work, "onebatch-" + tag)
    full_in, empty_in = os.path.join(d, "full"), os.path.join(d, "empty")
    os.makedirs(empty_in)
    gen_state(full_in, args.onebatch_keys)
    run_to_end(binary, full_in, os.path.join(d, "chk-full"), ["--max-bytes-per-trigger", "64M"],
               os.path.join(d, "build.err"))
    eng = {}
    res = {}
    for name, in_dir in (("empty", empty_in), ("full", full_in)):
        chk = os.path.join(d, "chk-" + name)
        eng[name] = (Engine(binary, in_dir, chk, ["--trigger-sec", "0"],
                            os.path.join(d, name + ".err")), in_dir, chk)
    for name, (e, in_dir, chk) in eng.items():
        e.wait_ready(600)
        res[name] = {"quiet_after_sec": wait_quiet(e, in_dir, chk, name)}
    runs = {"empty": [], "full": []}
    cpu0 = {name: cpu_sec(eng[name][0].p.pid) for name in eng}
    for i in range(args.onebatch_batches):
        for name in ("empty", "full"):
            e, in_dir, _ = eng[name]
            runs[name] += batch_durations(e, in_dir, 1, "%s-%04d" % (name, i))
    for name, (e, _, _) in eng.items():
        cpu = (cpu_sec(e.p.pid) - cpu0[name]) * 1e3 / args.onebatch_batches
        e.term()
        ms = [r["triggerExecution"] for r in runs[name]]
        res[name].update({"batch_ms": ms, "median_ms": statistics.median(ms),
                          "cpu_ms_per_batch": cpu,
                          "median_parts_ms": {p: statistics.median(r.get(p, 0) for r in runs[name])
                                              for p in PARTS}})
    res["ratio"] = res["full"]["median_ms"] / res["empty"]["median_ms"]
    log("%s: RocksDB quiet after %s s (full) / %s s (empty); process CPU per batch (with "
        "the status polls) %.2f / %.2f ms" % (
            tag, res["full"]["quiet_after_sec"], res["empty"]["quiet_after_sec"],
            res["full"]["cpu_ms_per_batch"], res["empty"]["cpu_ms_per_batch"]))
    log("%s: one-line batch %.2f ms with %d keys in state, %.2f ms empty: ratio %.2f (medians "
        "full/empty: %s)" % (
            tag, res["full"]["median_ms"], args.onebatch_keys, res["empty"]["median_ms"],
            res["ratio"], ", ".join("%s %.2f/%.2f" % (p, res["full"]["median_parts_ms"][p],
                                                      res["empty"]["median_parts_ms"][p])
                                    for p in PARTS[:-1])))
    shutil.rmtree(d, ignore_errors=True)
    return res


def phase_onebatch(args, work):
    out = {"keys": args.onebatch_keys, "mstream": onebatch(args, args.mstream, "mstream", work)}
    if args.baseline_mstream:
        out["baseline"] = onebatch(args, args.baseline_mstream, "baseline", work)
    return out


# ------------------------------------------------------------------ memory

def phase_memory(args, work):
    d = os.path.join(work, "memory")
    in_dir = os.path.join(d, "in")
    gen_state(in_dir, args.memory_keys)
    empty = os.path.join(d, "empty")
    os.makedirs(empty)
    _, idle = run_to_end(args.mstream, empty, os.path.join(d, "chk-idle"), [],
                         os.path.join(d, "idle.err"))
    idle_kb = int(idle.get("peak_rss_kb", 0))
    res = {"keys": args.memory_keys, "raw_bytes_per_entry": 16, "idle_rss_kb": idle_kb, "runs": []}
    for label, extra in (("default", ["--max-bytes-per-trigger", "64M"]),
                         ("small", ["--state-memory", args.state_memory_small,
                                    "--max-bytes-per-trigger", args.small_batch])):
        wall, summ = run_to_end(args.mstream, in_dir, os.path.join(d, "chk-" + label), extra,
                                os.path.join(d, label + ".err"))
        peak = int(summ.get("peak_rss_kb", 0))
        r = {"bound": "default" if label == "default" else extra[1], "wall_sec": round(wall, 3),
             "peak_rss_kb": peak,
             "bytes_per_entry": round((peak - idle_kb) * 1024.0 / args.memory_keys, 1),
             "in_memory": int(summ.get("q_state_in_memory", 0)),
             "state_memory_bytes": int(summ.get("q_state_memory_bytes", 0)),
             "checkpoint_bytes": dir_bytes(os.path.join(d, "chk-" + label))}
        r["state_memory_bytes_per_entry"] = round(r["state_memory_bytes"] / max(1, r["in_memory"]), 1)
        res["runs"].append(r)
        log("memory %s: %d keys, peak RSS %.0f MiB, %.1f bytes per entry beside an idle process "
            "(raw 16), %d in memory" % (r["bound"], args.memory_keys, peak / 1024.0,
                                        r["bytes_per_entry"], r["in_memory"]))
    shutil.rmtree(d, ignore_errors=True)
    return res


# --------------------------------------------------------------------- bound

def find_stmt_state(status, name):
    for q in status.get("queries", []):
        if q.get("name") == name:
            return q.get("state", {}), q
    return {}, {}


def phase_bound(args, work):
    """The Zipf word count with a bound at --bound-fraction of the distinct
    keys' bytes (letters plus an 8-byte count each): rows/s and the cache
    hit rate over --bound-seconds of a run through --bound-bytes."""
    d = os.path.join(work, "bound")
    corpus = os.path.join(d, "corpus")
    os.makedirs(d)
    out = subprocess.run([args.gencorpus, "--out", corpus, "--bytes", args.bound_bytes],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    info = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    vocab, vbytes = int(info["vocab"]), int(info["vocab_bytes"])
    raw = vbytes + 8 * vocab
    bound = max(1 << 20, int(raw * args.bound_fraction))
    e = Engine(args.mstream, corpus, os.path.join(d, "chk"),
               ["--state-memory", "%dK" % (bound // 1024), "--max-bytes-per-trigger",
                args.bound_batch, "--trigger-sec", "0"], os.path.join(d, "engine.err"))
    e.wait_ready(600)
    t0 = time.monotonic()
    first = e.status()
    time.sleep(args.bound_seconds)
    st = e.status()
    wall = time.monotonic() - t0
    e.term()
    state, q = find_stmt_state(st, "wordcount")
    state0, q0 = find_stmt_state(first, "wordcount")
    words = q.get("inputRows", 0) - q0.get("inputRows", 0)
    lookups = state.get("cacheLookups", 0) - state0.get("cacheLookups", 0)
    misses = state.get("cacheMisses", 0) - state0.get("cacheMisses", 0)
    res = {"corpus": args.bound_bytes, "fraction": args.bound_fraction, "vocab": vocab,
           "raw_key_bytes": raw, "bound_bytes": bound,
           "max_bytes_per_trigger": args.bound_batch, "seconds": round(wall, 1),
           "lines": st["inputRows"] - first["inputRows"],
           "bytes": st["inputBytes"] - first["inputBytes"], "words": words,
           "groups": state.get("groups"), "groups_in_memory": state.get("groupsInMemory"),
           "hit_rate": round(1 - misses / lookups, 4) if lookups else None}
    res["lines_per_sec"] = round(res["lines"] / wall)
    res["words_per_sec"] = round(words / wall)
    res["mb_per_sec"] = round(res["bytes"] / 1e6 / wall, 2)
    log("bound %d bytes (%.3g of %d bytes of distinct keys and counts): %d lines/s, %d words/s, "
        "%.2f MB/s, cache hit rate %s, %s groups, %s in memory" % (
            bound, args.bound_fraction, raw, res["lines_per_sec"], res["words_per_sec"],
            res["mb_per_sec"], res["hit_rate"], res["groups"], res["groups_in_memory"]))
    shutil.rmtree(d, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mstream", required=True)
    ap.add_argument("--baseline-mstream")
    ap.add_argument("--phases", default="restart,onebatch,memory")
    ap.add_argument("--keys", default="1000000,10000000",
                    help="state sizes of the restart phase (comma-separated)")
    ap.add_argument("--baseline-max-keys", type=int, default=1000000)
    ap.add_argument("--big-words", type=int, default=1000000,
                    help="words of the batch being read when the engine is killed")
    ap.add_argument("--kill-after", type=float, default=0.3,
                    help="seconds after /readyz before the kill (the big batch is being read)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--onebatch-keys", type=int, default=1000000)
    ap.add_argument("--onebatch-batches", type=int, default=20)
    ap.add_argument("--memory-keys", type=int, default=10000000)
    ap.add_argument("--gencorpus", default="build/tests/bench/ms_gencorpus",
                    help="ms_gencorpus binary (the bound phase's Zipf corpus)")
    ap.add_argument("--bound-bytes", default="1G")
    ap.add_argument("--bound-fraction", type=float, default=0.1)
    ap.add_argument("--bound-batch", default="48K",
                    help="--max-bytes-per-trigger of the bound phase: a batch's changed groups "
                    "must fit the bound until their commit")
    ap.add_argument("--bound-seconds", type=float, default=120)
    ap.add_argument("--state-memory-small", default="64M")
    ap.add_argument("--small-batch", default="1M",
                    help="--max-bytes-per-trigger with --state-memory-small (its changes must fit)")
    ap.add_argument("--no-check-ratio", action="store_true",
                    help="report the onebatch ratio without failing on it (smoke runs)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    args.keys = [int(x) for x in args.keys.split(",") if x]
    phases = set(args.phases.split(","))
    work = tempfile.mkdtemp(prefix="msstatebench.")
    results = {"config": vars(args).copy(), "loadavg_start": os.getloadavg()}
    results["config"]["phases"] = sorted(phases)
    rc = 0
    try:
        if "restart" in phases:
            results["restart"] = phase_restart(args, work)
        if "onebatch" in phases:
            results["onebatch"] = phase_onebatch(args, work)
            if results["onebatch"]["mstream"]["ratio"] > 2.0 and not args.no_check_ratio:
                log("FAILED: a one-line batch over %d keys costs %.2f times one over none (> 2)"
                    % (args.onebatch_keys, results["onebatch"]["mstream"]["ratio"]))
                rc = 1
        if "memory" in phases:
            results["memory"] = phase_memory(args, work)
        if "bound" in phases:
            results["bound"] = phase_bound(args, work)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        log("FAILED: %s" % e)
        results["error"] = str(e)
        rc = 1
    finally:
        for p in STARTED:  # exactly the processes this run started
            if p.poll() is None:
                p.kill()
                p.wait(60)
        results["loadavg_end"] = os.getloadavg()
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=2)
        if args.keep:
            log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_report(results)
    return rc


def print_report(r):
    print()
    for row in r.get("restart", []):
        for tag in ("mstream", "baseline"):
            x = row.get(tag)
            if x:
                print("restart after kill -9, cold,   %-8s %11s keys: ready in %.3f s (median of "
                      "%d; engine recovery %s s; WAL at the kill %s MB; checkpoint %.0f MB)" % (
                          tag, "{:,}".format(x["keys"]), x["ready_sec_median"], len(x["runs"]),
                          "/".join("%s" % y["recovered_sec"] for y in x["runs"]),
                          "/".join("%.1f" % (y["wal_bytes"] / 1e6) for y in x["runs"]),
                          x["checkpoint_bytes"] / 1e6))
                if x.get("steady"):
                    print("restart after kill -9, steady, %-8s %11s keys: ready in %.3f s (median "
                          "of %d; engine recovery %s s; WAL at the kill %s MB)" % (
                              tag, "{:,}".format(x["keys"]), x["steady_ready_sec_median"],
                              len(x["steady"]),
                              "/".join("%s" % y["recovered_sec"] for y in x["steady"]),
                              "/".join("%.1f" % (y["wal_bytes"] / 1e6) for y in x["steady"])))
    o = r.get("onebatch")
    if o:
        for tag in ("mstream", "baseline"):
            x = o.get(tag)
            if x:
                print("one-line batch, %-8s: %.2f ms over %s keys, %.2f ms over none: ratio %.2f"
                      " (medians full/empty: %s)" % (
                          tag, x["full"]["median_ms"], "{:,}".format(o["keys"]),
                          x["empty"]["median_ms"], x["ratio"],
                          ", ".join("%s %.2f/%.2f" % (p, x["full"]["median_parts_ms"][p],
                                                      x["empty"]["median_parts_ms"][p])
                                    for p in PARTS[:-1])))
    m = r.get("memory")
    if m:
        for x in m["runs"]:
            print("memory, %s keys, bound %-7s: peak RSS %.0f MiB = %.1f bytes per entry beside an "
                  "idle process (%d KiB; raw key+count 16 bytes); %s in memory, %.1f bytes each in "
                  "the state's own accounting" % (
                      "{:,}".format(m["keys"]), x["bound"], x["peak_rss_kb"] / 1024.0,
                      x["bytes_per_entry"], m["idle_rss_kb"], "{:,}".format(x["in_memory"]),
                      x["state_memory_bytes_per_entry"]))
    b = r.get("bound")
    if b:
        print("word count, %s Zipf corpus, bound %d bytes = %.3g of the distinct keys' %d bytes "
              "(+8 per count), --max-bytes-per-trigger %s: %s lines/s, %s words/s, %.2f MB/s, "
              "cache hit rate %s (over %.0f s)" % (
                  b["corpus"], b["bound_bytes"], b["fraction"], b["raw_key_bytes"],
                  b["max_bytes_per_trigger"], "{:,}".format(b["lines_per_sec"]),
                  "{:,}".format(b["words_per_sec"]), b["mb_per_sec"], b["hit_rate"], b["seconds"]))
    if r.get("error"):
        print("FAILED: " + r["error"])
    print("loadavg at start %s, at end %s" % (
        "/".join("%.2f" % v for v in r["loadavg_start"]),
        "/".join("%.2f" % v for v in r["loadavg_end"])))


if __name__ == "__main__":
    sys.exit(main())
