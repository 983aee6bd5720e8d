"""kafkatest — helpers for the producer-side tests (Python 3 stdlib only).

Builds on tests/integration/mstest.py (process tracking with PDEATHSIG,
bounded waits, timeout scaling) and adds what the Kafka tests need:

  * the broker started by the ctest fixture `kafka`: its state file is named by
    $MS_KAFKA_STATE (key=value lines written by kafka_broker.sh: bootstrap,
    pid, dir, port, status); Broker.restart() stops it keeping its data and
    starts it again on the same port (for "broker restart" fault tests),
    Broker.down() does the same around a `with` block;
  * consume(): every message of a topic, with partition, offset, key, value
    and timestamp, read with `kcat -C -e` (bounded in time);
  * trace helpers: the rows of a table directory (.csv or .csv.gz, name
    order) and the order in which the producer must send them;
  * a runner like mstest.main: test_* functions get a context T with a temp
    dir; everything a test starts is killed when it ends, also on failure.

A test script does
    import kafkatest as kt
    def test_x(t): ...
    if __name__ == "__main__": kt.run_tests(globals())
and is run as  python3 test_x.py --producer P --tracegen G --feeder F [-k SUBSTR].
"""

import contextlib
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import mstest  # noqa: E402

scaled = mstest.scaled
wait_for = mstest.wait_for
free_port = mstest.free_port
Skip = mstest.Skip

HERE = os.path.dirname(os.path.abspath(__file__))
BROKER_SH = os.path.join(HERE, "kafka_broker.sh")
TIME_MAX = 2 ** 63 - 1

BIN = {"producer": None, "tracegen": None, "feeder": None}


# --------------------------------------------------------------------------
# the broker of the ctest fixture

def read_state(path=None):
    path = path or os.environ.get("MS_KAFKA_STATE")
    if not path:
        raise AssertionError("MS_KAFKA_STATE is not set: run through ctest (fixture 'kafka') "
                             "or start a broker with tests/kafka/kafka_broker.sh start --state FILE "
                             "and export MS_KAFKA_STATE=FILE")
    if not os.path.exists(path):
        raise AssertionError("broker state file %s does not exist: the kafka_broker_start "
                             "fixture did not run or failed" % path)
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                out[k] = v
    return out


class Broker:
    """The fixture's broker, described by its state file."""

    def __init__(self, state_path=None):
        self.state_path = state_path or os.environ.get("MS_KAFKA_STATE")
        st = read_state(self.state_path)
        if st.get("status") != "running":
            raise AssertionError("broker in %s is not running (status=%s)"
                                 % (self.state_path, st.get("status")))
        self.bootstrap = st["bootstrap"]
        self.pid = int(st["pid"])
        self.dir = st["dir"]

    def _script(self, *args, timeout=180):
        r = subprocess.run([BROKER_SH] + list(args) + ["--state", self.state_path],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=scaled(timeout))
        if r.returncode != 0:
            raise AssertionError("kafka_broker.sh %s failed (%d):\n%s"
                                 % (" ".join(args), r.returncode, r.stderr))
        return r.stdout

    def stop_keep(self):
        """Stop the broker; its data dir and port stay for restart()."""
        self._script("stop", "--keep")

    def start_reuse(self):
        self._script("start", "--reuse")
        st = read_state(self.state_path)
        assert st["bootstrap"] == self.bootstrap, "broker came back on another address"
        self.pid = int(st["pid"])

    def restart(self):
        self.stop_keep()
        self.start_reuse()

    @contextlib.contextmanager
    def down(self):
        """The broker stopped (data and port kept) inside the `with` block,
        started again when the block ends, also when it fails, so a failing
        test never leaves the fixture's broker down for the next one."""
        self.stop_keep()
        try:
            yield self
        finally:
            self.start_reuse()


def broker():
    return Broker()


class BenchBroker:
    """For the benchmarks: the fixture's broker when $MS_KAFKA_STATE names one,
    else a private one started in `tmp` and stopped when the block ends.

        with kt.BenchBroker(tmp) as bootstrap: ...
    """

    def __init__(self, tmp):
        self.tmp, self.own = tmp, None

    def __enter__(self):
        state = os.environ.get("MS_KAFKA_STATE")
        if not state or not os.path.exists(state):
            self.own = state = os.path.join(self.tmp, "broker.state")
            r = subprocess.run([BROKER_SH, "start", "--state", state], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                self.own = None
                raise SystemExit("could not start a broker:\n" + r.stderr)
        return read_state(state)["bootstrap"]

    def __exit__(self, *exc):
        if self.own:
            subprocess.run([BROKER_SH, "stop", "--state", self.own], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=300)
        return False


# --------------------------------------------------------------------------
# consuming

def consume(bootstrap, topic, timeout=60):
    """Every message of `topic` as dicts {p, o, k, v, ts}, in (partition,
    offset) order.  A topic that does not exist yields []."""
    kcat = shutil.which("kcat")
    if not kcat:
        raise AssertionError("kcat is not installed (Debian package kcat); the Kafka tests need it")
    argv = [kcat, "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-o", "beginning",
            "-f", "%p\t%o\t%T\t%k\t%s\n"]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=scaled(timeout))
    err = r.stderr.decode("utf-8", "replace")
    if r.returncode != 0:
        if "Unknown topic" in err or "UNKNOWN_TOPIC" in err:
            return []
        raise AssertionError("kcat -C %s failed (%d): %s" % (topic, r.returncode, err))
    msgs = []
    for line in r.stdout.decode("utf-8", "surrogateescape").split("\n"):
        if not line:
            continue
        p, o, ts, k, v = line.split("\t", 4)
        msgs.append({"p": int(p), "o": int(o), "ts": int(ts), "k": k, "v": v})
    msgs.sort(key=lambda m: (m["p"], m["o"]))
    return msgs


# --------------------------------------------------------------------------
# trace files

def table_lines(d):
    """Lines of the part files of one table directory, in name order."""
    names = sorted(n for n in os.listdir(d)
                   if n.startswith("part-") and (n.endswith(".csv") or n.endswith(".csv.gz")))
    out = []
    for n in names:
        p = os.path.join(d, n)
        opener = gzip.open if n.endswith(".gz") else open
        with opener(p, "rb") as f:
            data = f.read().decode("utf-8", "surrogateescape")
        parts = data.split("\n")
        if parts and parts[-1] == "":
            parts.pop()              # the last line needs no '\n'
        out.extend(l[:-1] if l.endswith("\r") else l for l in parts)
    return out


def row_time(line):
    f = line.split(",", 1)[0]
    if not f or not f.isdigit() or len(f) > 19 or int(f) > TIME_MAX:
        return None
    return int(f)


def row_key(line):
    f = line.split(",")
    return f[2] if len(f) > 2 and f[2] else None


def expected_order(task_lines, job_lines):
    """[(table, line)] in the order the producer sends them: merged by time,
    a job row before a task row of the same time, bad rows left out."""
    def good(lines, table):
        return [(row_time(l), table, l) for l in lines
                if l and row_time(l) is not None and row_key(l) is not None]
    a, b = good(task_lines, "task"), good(job_lines, "job")
    out, i, j = [], 0, 0
    while i < len(a) or j < len(b):
        if j < len(b) and (i >= len(a) or b[j][0] <= a[i][0]):
            out.append((b[j][1], b[j][2]))
            j += 1
        else:
            out.append((a[i][1], a[i][2]))
            i += 1
    return out


def summary(stderr_text, prefix="summary "):
    lines = [l for l in stderr_text.splitlines() if l.startswith(prefix)]
    if not lines:
        raise AssertionError("no '%s' line on stderr:\n%s" % (prefix.strip(), stderr_text[-3000:]))
    out = {}
    for kv in lines[-1].split()[1:]:
        k, _, v = kv.partition("=")
        out[k] = v
    return out


# --------------------------------------------------------------------------
# processes

class Proc:
    """A tracked child process with stdout/stderr in files of the test dir."""

    def __init__(self, t, argv, name):
        self.t = t
        self.argv = [str(a) for a in argv]
        base = os.path.join(t.dir, "%s-%d" % (name, len(t.procs) + 1))
        self.out_path, self.err_path = base + ".stdout", base + ".stderr"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = mstest.spawn(self.argv, stdout=out, stderr=err, cwd=t.dir)
        self.started = time.monotonic()
        self.ended = None
        t.procs.append(self)

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait(self, timeout=120):
        try:
            rc = self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.0fs\n%s"
                                 % (self.argv[0], scaled(timeout), self.describe()))
        if self.ended is None:
            self.ended = time.monotonic()
        return rc

    def wall(self):
        return (self.ended or time.monotonic()) - self.started

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def describe(self, n=40):
        tail = self.stderr().splitlines()[-n:]
        return "  %s\n  stderr tail:\n%s" % (" ".join(self.argv),
                                             "\n".join("    | " + l for l in tail))

    def kill(self):
        mstest._kill_proc(self.proc)


def run(t, argv, name, timeout=120, expect=None):
    """Run to completion; returns (rc, stdout, stderr).  `expect`: the exit
    status required (checked with the stderr shown on failure)."""
    p = Proc(t, argv, name)
    rc = p.wait(timeout)
    if expect is not None and rc != expect:
        raise AssertionError("%s exited %d, expected %d\n%s" % (name, rc, expect, p.describe()))
    return rc, p.stdout(), p.stderr()


class T:
    def __init__(self, root, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=root)
        self.procs = []
        self._n = 0

    def mkdir(self, name):
        p = os.path.join(self.dir, name)
        os.makedirs(p, exist_ok=True)
        return p

    def topic(self, what):
        """A topic name no other test (or run) uses."""
        self._n += 1
        return "%s-%s-%d-%d-%d" % (what, self.name.replace("_", "-"), os.getpid(),
                                   int(time.time() * 1000) % 1000000, self._n)

    def tracegen(self, out, *args):
        rc, so, se = run(self, [BIN["tracegen"], "--out", out] + list(args), "tracegen",
                         timeout=300)
        assert rc == 0, "ms_tracegen failed (%d): %s" % (rc, se)
        return summary(so, "tracegen ")

    def producer(self, *args):
        return Proc(self, [BIN["producer"]] + [str(a) for a in args], "producer")

    def feeder(self, *args):
        return Proc(self, [BIN["feeder"]] + [str(a) for a in args], "feeder")

    def close(self):
        for p in self.procs:
            p.kill()


def main(namespace):
    import argparse
    ap = argparse.ArgumentParser()
    for k in BIN:
        ap.add_argument("--" + k)
    ap.add_argument("-k", dest="pattern")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    for k in BIN:
        v = getattr(args, k)
        BIN[k] = os.path.abspath(v) if v else None
    tests = mstest.select_tests(namespace, args.pattern)
    if args.list:
        for n, _ in tests:
            print(n)
        return 0
    for k, v in BIN.items():
        if v and not os.access(v, os.X_OK):
            print("kafkatest: --%s %s is not an executable" % (k, v))
            return 2
    if not tests:
        print("kafkatest: no test selected")
        return 1
    return mstest.run_suite(tests, T, "kafkatest", "",
                            lambda t: "\n".join(p.describe() for p in t.procs[-3:]))


def run_tests(namespace):
    sys.exit(main(namespace))
