"""mstest — shared helpers for the mstream integration and fault tests.

Python 3 standard library only.  Every test script does

    import mstest
    def test_something(t): ...
    if __name__ == "__main__":
        mstest.main(globals())

and is run as  python3 test_x.py --mstream PATH [--shim PATH] [-k SUBSTR] [--list].

What this module guarantees:
  * every process it starts (mstream, prometheus) is tracked by PID; each
    test kills the ones it started in a finally block, an atexit hook and a
    SIGTERM/SIGINT handler kill any left over, and every child also gets
    PR_SET_PDEATHSIG=SIGKILL so it dies if this interpreter is SIGKILLed by
    ctest.  Only those PIDs are ever signalled.
  * all waits are bounded both in number of polls and in time; the time is
    multiplied by MS_TEST_TIMEOUT_SCALE (default 1; the CMake glue passes a
    larger default for sanitizer builds through MS_TEST_TIMEOUT_SCALE_DEFAULT).
  * temporary files live under one tempfile.mkdtemp() directory per script,
    removed at the end (kept if MSTEST_KEEP=1).
  * no assertion is ever made on wall-clock durations.
"""

import atexit
import collections
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request


# --------------------------------------------------------------------------
# configuration

def _read_scale():
    for var in ("MS_TEST_TIMEOUT_SCALE", "MS_TEST_TIMEOUT_SCALE_DEFAULT"):
        v = os.environ.get(var, "").strip()
        if v:
            try:
                f = float(v)
            except ValueError:
                continue
            if f > 0:
                return f
    return 1.0


SCALE = _read_scale()


def scaled(seconds):
    """A timeout, scaled for slow (sanitizer) builds."""
    return seconds * SCALE


MSTREAM = os.environ.get("MSTREAM_BIN")      # set by main() from --mstream
SHIM = os.environ.get("MSFAILIO_LIB")        # set by main() from --shim

SERVING_RE = re.compile(rb"serving http://([0-9.]+):(\d+)/metrics")
DEFAULT_WAIT = 30.0        # seconds (scaled) for counts to appear
POLL = 0.05                # seconds between polls


class Skip(Exception):
    """Raised by a test that cannot run here (missing tool)."""


# --------------------------------------------------------------------------
# process tracking

_started = []            # every subprocess.Popen this interpreter started
_libc = None


def _preexec():
    # Runs in the child between fork and exec: die with the test runner.
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG


def _kill_proc(p):
    if p.poll() is None:
        try:
            p.kill()                 # SIGKILL to exactly p.pid
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


def kill_all_started():
    for p in list(_started):
        _kill_proc(p)


def _on_signal(signum, _frame):
    kill_all_started()
    raise SystemExit(128 + signum)


atexit.register(kill_all_started)
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


def spawn(argv, env=None, cwd=None, stdout=None, stderr=None):
    """Start a tracked child process."""
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=stdout, stderr=stderr, preexec_fn=_preexec,
                         close_fds=True)
    _started.append(p)
    return p


# --------------------------------------------------------------------------
# waiting

def wait_for(pred, timeout=DEFAULT_WAIT, what="condition", interval=POLL, on_timeout=None):
    """Poll pred() until it returns a truthy value; bounded in polls and time.

    Returns that value.  On timeout raises AssertionError naming `what` and,
    if given, the text returned by on_timeout().
    """
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    max_polls = int(limit / interval) + 20
    last_exc = None
    for _ in range(max_polls):
        try:
            v = pred()
            if v:
                return v
        except AssertionError:
            raise
        except Exception as e:  # transient (connection refused etc.)
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    msg = "timed out after %.1fs waiting for %s" % (limit, what)
    if last_exc is not None:
        msg += "\n  last error: %r" % (last_exc,)
    if on_timeout is not None:
        try:
            msg += "\n" + on_timeout()
        except Exception as e:
            msg += "\n  (on_timeout failed: %r)" % (e,)
    raise AssertionError(msg)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def http_get(url, timeout=10.0):
    """GET url -> (status, body bytes).  HTTP errors return their status."""
    try:
        with urllib.request.urlopen(url, timeout=scaled(timeout)) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# --------------------------------------------------------------------------
# words, display form and the oracle

def is_ignored_name(name):
    return name.startswith(".") or name.startswith("_") or name.endswith(".tmp")


def display(word):
    """Display form of a raw word (bytes), as the contract defines it:
    valid printable UTF-8 as is, backslash as two backslashes, every control
    byte (0x00-0x1f, 0x7f) and every byte of an invalid UTF-8 sequence as
    \\xNN with lower-case hex.  C1 controls (U+0080..U+009F) are control
    characters too: each of their two bytes is shown as \\xNN."""
    out = []
    for ch in word.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append("\\x%02x" % (o - 0xDC00))
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        elif 0x80 <= o <= 0x9F:          # C1 controls: each UTF-8 byte escaped
            out.extend("\\x%02x" % b for b in ch.encode("utf-8"))
        else:
            out.append(ch)
    return "".join(out)


def count_words(data, max_word_bytes=1024):
    """Counter of display-form words of the complete lines of one file."""
    c = collections.Counter()
    if b"\0" in data[:8192]:
        return c                       # rejected as binary
    end = data.rfind(b"\n")
    if end < 0:
        return c                       # no complete line yet
    for w in data[:end + 1].split():
        if len(w) <= max_word_bytes:
            c[display(w)] += 1
    return c


def oracle(contents, max_word_bytes=1024):
    total = collections.Counter()
    for data in contents:
        total.update(count_words(data, max_word_bytes))
    return total


def oracle_dir(path, max_word_bytes=1024):
    datas = []
    for name in sorted(os.listdir(path)):
        p = os.path.join(path, name)
        if is_ignored_name(name) or not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            datas.append(f.read())
    return oracle(datas, max_word_bytes)


def words(text):
    """Expected counts for plain ASCII text: Counter of its words."""
    return collections.Counter(text.split())


def diff_counts(expected, actual, limit=60):
    keys = sorted(set(expected) | set(actual))
    lines = []
    for k in keys:
        e, a = expected.get(k, 0), actual.get(k, 0)
        if e != a:
            lines.append("  %-40r expected %d, got %d" % (k, e, a))
    if not lines:
        return "  (no difference)"
    more = len(lines) - limit
    lines = lines[:limit]
    if more > 0:
        lines.append("  ... and %d more differences" % more)
    return "\n".join(lines)


# --------------------------------------------------------------------------
# file helpers

def write_file(path, data, mode="wb"):
    if isinstance(data, str):
        data = data.encode()
    with open(path, mode) as f:
        f.write(data)
        f.flush()


def append_file(path, data):
    write_file(path, data, "ab")


def atomic_write(path, data):
    """Write to PATH.tmp, then rename to PATH (atomic delivery)."""
    tmp = path + ".tmp"
    write_file(tmp, data)
    os.rename(tmp, path)


# --------------------------------------------------------------------------
# Prometheus text exposition parsing

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LNAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESC = {"\\": "\\", '"': '"', "n": "\n"}


def parse_metrics(text):
    """Parse text format 0.0.4 into {(name, ((label, value), ...)): float}.
    Raises ValueError on anything malformed."""
    samples = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _NAME_RE.match(line)
        if not m:
            raise ValueError("line %d: bad metric name: %r" % (lineno, line[:200]))
        name, i, labels = m.group(0), m.end(), {}
        if i < len(line) and line[i] == "{":
            i += 1
            while True:
                while i < len(line) and line[i] == " ":
                    i += 1
                if i < len(line) and line[i] == "}":
                    i += 1
                    break
                lm = _LNAME_RE.match(line, i)
                if not lm or line[lm.end():lm.end() + 2] != '="':
                    raise ValueError("line %d: bad label: %r" % (lineno, line[:200]))
                i = lm.end() + 2
                val = []
                while True:
                    if i >= len(line):
                        raise ValueError("line %d: unterminated label value" % lineno)
                    ch = line[i]
                    if ch == '"':
                        i += 1
                        break
                    if ch == "\\":
                        nxt = line[i + 1:i + 2]
                        if nxt not in _ESC:
                            raise ValueError("line %d: bad escape \\%s" % (lineno, nxt))
                        val.append(_ESC[nxt])
                        i += 2
                        continue
                    val.append(ch)
                    i += 1
                labels[lm.group(0)] = "".join(val)
                if i < len(line) and line[i] == ",":
                    i += 1
        rest = line[i:].split()
        if not rest or len(rest) > 2:
            raise ValueError("line %d: bad value part: %r" % (lineno, line[:200]))
        value = float(rest[0])
        key = (name, tuple(sorted(labels.items())))
        if key in samples:
            raise ValueError("line %d: duplicate series %r" % (lineno, key))
        samples[key] = value
    return samples


class Metrics:
    def __init__(self, text):
        self.text = text
        self.samples = parse_metrics(text)

    def get(self, name, default=None, **labels):
        """Value of the series `name` with exactly these labels, or else of
        the one series whose labels include them (engine series may carry
        extra labels such as query="wordcount"); default if none."""
        v = self.samples.get((name, tuple(sorted(labels.items()))))
        if v is not None:
            return v
        hits = [val for lab, val in self.series(name)
                if all(lab.get(k) == x for k, x in labels.items())]
        if len(hits) > 1:
            raise AssertionError("%d series of %s match %r" % (len(hits), name, labels))
        return hits[0] if hits else default

    def series(self, name):
        return [(dict(l), v) for (n, l), v in self.samples.items() if n == name]

    def sum(self, name, **match):
        tot = 0.0
        for labels, v in self.series(name):
            if all(labels.get(k) == val for k, val in match.items()):
                tot += v
        return tot

    def words(self):
        out = {}
        for labels, v in self.series("mstream_wordcount_count_total"):
            out[labels["word"]] = v
        return out


# --------------------------------------------------------------------------
# mstream process wrapper

class Mstream:
    """One mstream configuration; start() may be called again after a stop."""

    def __init__(self, t, argv, env=None, name="ms"):
        self.t = t
        self.argv = list(argv)
        self.env = env
        self.name = name
        self.proc = None
        self.port = None
        self.runs = 0
        self.log_path = None
        self.last_batch_id = None
        t._engines.append(self)

    # -- lifecycle --------------------------------------------------------
    def start(self, wait="ready", env=None):
        """wait: 'ready' (serving + /readyz 200), 'serving', or None."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        base = os.path.join(self.t.dir, "%s-%d" % (self.name, self.runs))
        self.log_path = base + ".stderr"
        e = dict(os.environ)
        e.pop("MSTREAM_FAILPOINT", None)
        if self.env:
            e.update(self.env)
        if env:
            e.update(env)
        e = {k: v for k, v in e.items() if v is not None}
        with open(self.log_path, "wb") as err, open(base + ".stdout", "wb") as out:
            self.proc = spawn(self.argv, env=e, cwd=self.t.dir, stdout=out, stderr=err)
        self.port = None
        if wait in ("serving", "ready"):
            self.wait_serving()
        if wait == "ready":
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_tail(self, n=40):
        lines = self.stderr().splitlines()
        return "\n".join("    | " + l[:300] for l in lines[-n:])

    def describe(self):
        rc = None if self.proc is None else self.proc.poll()
        return "%s run %d pid %s rc %s argv %s\n  stderr (%s) tail:\n%s" % (
            self.name, self.runs, self.proc.pid if self.proc else None, rc,
            " ".join(self.argv), self.log_path, self.stderr_tail())

    def wait_serving(self, timeout=30):
        def port():
            with open(self.log_path, "rb") as f:
                m = SERVING_RE.search(f.read())
            if m:
                return int(m.group(2))
            if self.proc.poll() is not None:
                raise AssertionError("mstream exited with %s before serving\n%s"
                                     % (self.proc.returncode, self.describe()))
            return None
        self.port = wait_for(port, timeout, "mstream 'serving' line on stderr",
                             on_timeout=self.describe)
        return self.port

    def wait_ready(self, timeout=60):
        def ready():
            self.check_alive()
            return self.get("/readyz")[0] == 200
        wait_for(ready, timeout, "/readyz == 200", on_timeout=self.describe)

    def check_alive(self):
        if not self.alive():
            raise AssertionError("mstream died (rc %s)\n%s" % (self.proc.returncode, self.describe()))

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError("mstream did not exit within %.1fs\n%s"
                                 % (scaled(timeout), self.describe()))

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=scaled(30))

    def term(self, timeout=30):
        """SIGTERM; wait for exit; return the exit status."""
        self.check_alive()
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def summary(self):
        """key=value pairs of the last engine 'summary ' line of stderr (the
        per-query lines 'summary query=NAME ...' that follow it: query_summary)."""
        lines = [l for l in self.stderr().splitlines()
                 if l.startswith("summary ") and not l.startswith("summary query=")]
        if not lines:
            raise AssertionError("no 'summary ' line on stderr\n" + self.describe())
        out = {}
        for kv in lines[-1].split()[1:]:
            k, _, v = kv.partition("=")
            out[k] = v
        return out

    def query_summary(self):
        """{query: {key: value}} from the last run's 'summary query=NAME' lines."""
        out = {}
        for l in self.stderr().splitlines():
            if l.startswith("summary query="):
                kv = dict(x.partition("=")[::2] for x in l.split()[1:])
                out[kv.pop("query")] = kv
        return out

    # -- HTTP -------------------------------------------------------------
    @property
    def url(self):
        assert self.port, "mstream has no port (not started with wait)"
        return "http://127.0.0.1:%d" % self.port

    def get(self, path, timeout=10.0):
        return http_get(self.url + path, timeout)

    def metrics_text(self):
        st, body = self.get("/metrics")
        assert st == 200, "/metrics returned %s" % st
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise AssertionError("/metrics is not valid UTF-8: %s" % e)

    def metrics(self):
        return Metrics(self.metrics_text())

    def status(self):
        st, body = self.get("/api/v1/status")
        assert st == 200, "/api/v1/status returned %s" % st
        return json.loads(body)

    def results(self, query="wordcount", page=10000):
        """All pages of /api/v1/results as {word: count}; checks paging and order."""
        for _attempt in range(20):
            rows, offset, batch, total = [], 0, None, None
            consistent = True
            for _page in range(100000):
                # The first page pins its batch; the next ones name it, so
                # every page comes from that batch while newer ones commit.
                pin = "" if batch is None else "&batchId=%d" % batch
                st, body = self.get("/api/v1/results?query=%s&offset=%d&limit=%d%s"
                                    % (urllib.parse.quote(query), offset, page, pin))
                if st == 410 and batch is not None:
                    consistent = False  # no longer kept: start again
                    break
                assert st == 200, "/api/v1/results returned %s: %r" % (st, body[:200])
                j = json.loads(body.decode("utf-8"))
                assert j.get("query") == query, j.get("query")
                assert j.get("columns") == ["word", "count"], j.get("columns")
                if batch is None:
                    batch, total = j["batchId"], j["total"]
                elif j["batchId"] != batch or j["total"] != total:
                    consistent = False
                    break
                assert j.get("offset") == offset, "page offset %r, asked %d" % (j.get("offset"), offset)
                assert len(j["rows"]) <= page, "page of %d rows for limit %d" % (len(j["rows"]), page)
                rows.extend(j["rows"])
                offset += len(j["rows"])
                if offset >= total or not j["rows"]:
                    break
            if not consistent:
                continue
            assert len(rows) == total, "results: total %d but %d rows" % (total, len(rows))
            out = {}
            prev = None
            for r in rows:
                assert len(r) == 2 and isinstance(r[0], str) and isinstance(r[1], int), r
                assert r[0] not in out, "word %r listed twice in results" % r[0]
                assert r[1] > 0, "non-positive count in results: %r" % (r,)
                if prev is not None:
                    assert prev[1] >= r[1], "results not sorted by count desc: %r then %r" % (prev, r)
                    if prev[1] == r[1] and re.fullmatch(r"[A-Za-z0-9]+", prev[0]) \
                            and re.fullmatch(r"[A-Za-z0-9]+", r[0]):
                        assert prev[0] < r[0], "results not sorted by word asc: %r then %r" % (prev, r)
                out[r[0]] = r[1]
                prev = r
            self.last_batch_id = batch
            return out
        raise AssertionError("results kept changing between pages")

    def wait_counts(self, expected, timeout=DEFAULT_WAIT, settle=1.0, what="word counts"):
        """Wait until /api/v1/results equals `expected` exactly; then, after
        `settle` seconds (scaled), check it still does (nothing counted late)."""
        expected = dict(expected)
        last = {}

        def equal():
            nonlocal last
            self.check_alive()
            last = self.results()
            return last == expected
        wait_for(equal, timeout, what, interval=0.1,
                 on_timeout=lambda: "difference (expected vs got):\n%s\n%s"
                 % (diff_counts(expected, last), self.describe()))
        if settle:
            time.sleep(scaled(settle))
            self.check_alive()
            got = self.results()
            assert got == expected, ("counts changed after they were reached (%s):\n%s\n%s"
                                     % (what, diff_counts(expected, got), self.describe()))
        return last

    def wait_metric(self, pred, what, timeout=DEFAULT_WAIT):
        """Wait until pred(Metrics) is truthy."""
        box = {}

        def ok():
            self.check_alive()
            box["m"] = self.metrics()
            return pred(box["m"])
        wait_for(ok, timeout, what, interval=0.1, on_timeout=self.describe)
        return box["m"]


# --------------------------------------------------------------------------
# Prometheus server

class Prometheus:
    def __init__(self, t, targets, scrape_interval="1s"):
        self.t = t
        self.dir = t.mkdir("prometheus")
        self.port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        write_file(cfg, (
            "global:\n"
            "  scrape_interval: %s\n"
            "  scrape_timeout: %s\n"
            "  evaluation_interval: %s\n"
            "scrape_configs:\n"
            "  - job_name: mstream\n"
            "    static_configs:\n"
            "      - targets: [%s]\n"
        ) % (scrape_interval, scrape_interval, scrape_interval,
             ", ".join("'%s'" % x for x in targets)))
        self.argv = [shutil.which("prometheus") or "/usr/bin/prometheus",
                     "--config.file=" + cfg,
                     "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                     "--web.listen-address=127.0.0.1:%d" % self.port,
                     "--log.level=warn"]
        self.log_path = os.path.join(self.dir, "prometheus.stderr")
        self.proc = None
        t._others.append(self)

    def start(self):
        with open(self.log_path, "wb") as err:
            self.proc = spawn(self.argv, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=err)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited: %s\n%s" % (self.proc.returncode, self.log_tail()))
            return http_get(self.url + "/-/ready")[0] == 200
        wait_for(ready, 60, "prometheus /-/ready", interval=0.2, on_timeout=self.log_tail)
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def api(self, path, **params):
        q = urllib.parse.urlencode(params)
        st, body = http_get(self.url + path + ("?" + q if q else ""))
        assert st == 200, "prometheus %s -> %s %r" % (path, st, body[:300])
        j = json.loads(body)
        assert j.get("status") == "success", j
        return j["data"]

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "  prometheus stderr tail:\n" + "\n".join("    | " + l for l in lines[-n:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(20))
            except subprocess.TimeoutExpired:
                _kill_proc(self.proc)

    def describe(self):
        return self.log_tail()


# --------------------------------------------------------------------------
# the per-test context and the runner

class T:
    """Handed to each test function: temp dirs, engines, helpers."""

    def __init__(self, root, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=root)
        self._engines = []
        self._others = []
        self._seq = 0

    def mkdir(self, name):
        p = os.path.join(self.dir, name)
        os.makedirs(p, exist_ok=True)
        return p

    def dirs(self):
        """Fresh (input_dir, checkpoint_dir); the checkpoint dir is not created."""
        self._seq += 1
        return self.mkdir("in%d" % self._seq), os.path.join(self.dir, "chk%d" % self._seq)

    def mstream(self, in_dir, chk, *extra, camel=False, env=None, name=None,
                metrics_addr="127.0.0.1:0"):
        if camel:
            argv = [MSTREAM, "--inputDir", in_dir, "--checkpointDir", chk]
            if metrics_addr:
                argv += ["--metricsAddr", metrics_addr]
        else:
            argv = [MSTREAM, "--input-dir", in_dir, "--checkpoint-dir", chk]
            if metrics_addr:
                argv += ["--metrics-addr", metrics_addr]
        argv += [str(x) for x in extra]
        return Mstream(self, argv, env=env, name=name or "ms%d" % (len(self._engines) + 1))

    def raw(self, argv, env=None, name=None):
        """An mstream with an arbitrary argument list (argv excludes the binary)."""
        return Mstream(self, [MSTREAM] + [str(x) for x in argv], env=env,
                       name=name or "ms%d" % (len(self._engines) + 1))

    def sentinel(self, in_dir, expected=None):
        """Write a file with one unique word; return the word.  Once it is
        counted, everything the engine saw before it has been processed."""
        self._seq += 1
        word = "sentinel%d" % self._seq
        atomic_write(os.path.join(in_dir, "zz-sentinel-%d.txt" % self._seq), word + "\n")
        if expected is not None:
            expected[word] = expected.get(word, 0) + 1
        return word

    def close(self):
        for e in self._engines:
            if e.proc is not None:
                _kill_proc(e.proc)
        for o in self._others:
            try:
                o.stop()
            finally:
                if o.proc is not None:
                    _kill_proc(o.proc)

    def describe_all(self):
        started = [e for e in self._engines if e.proc is not None]
        parts = [e.describe() for e in started[-6:]]
        if len(started) > 6:
            parts.insert(0, "(%d earlier engine runs not shown; logs under %s)" % (len(started) - 6, self.dir))
        parts += [o.describe() for o in self._others]
        return "\n".join(parts)


def require_shim():
    if not SHIM or not os.path.exists(SHIM):
        raise Skip("msfailio shim not available (pass --shim PATH)")
    return SHIM


def shim_env(**kv):
    """Environment that preloads the msfailio shim (ASan-safe)."""
    env = {"LD_PRELOAD": require_shim()}
    asan = os.environ.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    env.update({k: str(v) for k, v in kv.items()})
    return env


def main(namespace):
    """Runs the test_* functions of a script and exits with the suite's
    status (1 if any failed): a script that only calls main() must fail
    ctest when a test fails."""
    sys.exit(_main(namespace))


def _main(namespace):
    global MSTREAM, SHIM
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--mstream", default=MSTREAM)
    ap.add_argument("--shim", default=SHIM)
    ap.add_argument("-k", dest="pattern", default=None, help="run tests whose name contains this")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    MSTREAM = args.mstream and os.path.abspath(args.mstream)
    SHIM = args.shim and os.path.abspath(args.shim)
    tests = select_tests(namespace, args.pattern)
    if args.list:
        for n, _ in tests:
            print(n)
        return 0
    if not MSTREAM or not os.access(MSTREAM, os.X_OK):
        print("mstest: mstream binary not found (pass --mstream PATH): %r" % MSTREAM)
        return 2
    return run_suite(tests, T, "mstest", "binary %s, " % MSTREAM,
                     lambda t: "  engines of this test:\n" + t.describe_all())


def select_tests(namespace, pattern):
    """The test_* functions of a script, in source order, those whose name
    contains pattern (if given)."""
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    tests.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    return [(n, f) for n, f in tests if not pattern or pattern in n]


def run_suite(tests, make_t, tag, about, describe):
    """Runs each test with a fresh context make_t(root, name) (closed after
    it, also on failure) under a temp root removed at the end (kept with
    MSTEST_KEEP=1); on a failure prints describe(t); kills everything
    started.  Exit status: 1 if any failed, 77 (skip) if all skipped, else 0."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    root = tempfile.mkdtemp(prefix=tag + "-")
    print("%s: %stimeout scale %g, temp %s" % (tag, about, SCALE, root), flush=True)
    failed, skipped, passed = [], [], []
    try:
        for name, fn in tests:
            t = make_t(root, name)
            t0 = time.monotonic()
            print("--- %s" % name, flush=True)
            try:
                fn(t)
            except Skip as s:
                skipped.append(name)
                print("SKIP %s: %s" % (name, s), flush=True)
            except BaseException as exc:
                failed.append(name)
                print("FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)
                try:
                    print(describe(t), flush=True)
                except Exception:
                    pass
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
            else:
                passed.append(name)
                print("ok   %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
            finally:
                t.close()
    finally:
        kill_all_started()
        if os.environ.get("MSTEST_KEEP") == "1":
            print("%s: kept %s" % (tag, root))
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("%s: %d passed, %d failed, %d skipped%s" % (
        tag, len(passed), len(failed), len(skipped),
        (": " + ", ".join(failed)) if failed else ""), flush=True)
    if failed:
        return 1
    if skipped and not passed:
        return 77
    return 0


def run(namespace):
    main(namespace)
