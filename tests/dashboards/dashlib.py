"""dashlib — helpers of the dashboard, compose and status-page tests.

Builds on tests/integration/mstest.py (process tracking, bounded waits, temp
dirs, the Prometheus wrapper).  What it adds:

  * repo paths and the dashboards / provisioning files;
  * RepoPrometheus: a real Prometheus started with the repository's
    prometheus/prometheus.yml, only the target list of job "mstream" (the line
    marked "mstream-targets") replaced by loopback addresses;
  * Feeder: a thread that delivers generated input (trace rows in time order,
    word-count text) into watched directories a chunk at a time, atomically,
    so rates, batch durations and hourly windows keep moving while the test
    checks; bounded in chunks and time, stopped by the test.
"""
import json
import os
import random
import re
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import mstest  # noqa: E402

DASH_DIR = os.path.join(ROOT, "grafana", "dashboards")
DS_PROVISIONING = os.path.join(ROOT, "grafana", "provisioning", "datasources", "prometheus.yml")
PROM_CONFIG = os.path.join(ROOT, "prometheus", "prometheus.yml")
PROM_RULES = os.path.join(ROOT, "prometheus", "alerts.yml")
TARGETS_MARK = "# mstream-targets"


def load_dashboards():
    """{file name: parsed JSON} of every grafana/dashboards/*.json; a file
    that is not well-formed JSON fails with its name and the parser's words."""
    out = {}
    for name in sorted(os.listdir(DASH_DIR)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(DASH_DIR, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            out[name] = json.loads(text)
        except ValueError as e:
            raise AssertionError("%s is not well-formed JSON: %s" % (path, e))
    assert out, "no dashboards in %s" % DASH_DIR
    return out


def provisioned_uid():
    """The uid of the provisioned Prometheus data source (a plain YAML line;
    the test suite uses the standard library only)."""
    with open(DS_PROVISIONING, encoding="utf-8") as f:
        text = f.read()
    uids = re.findall(r"^\s*uid:\s*['\"]?([A-Za-z0-9._-]+)['\"]?\s*$", text, re.M)
    types = re.findall(r"^\s*type:\s*['\"]?([a-z]+)['\"]?\s*$", text, re.M)
    assert len(uids) == 1 and types == ["prometheus"], (
        "%s: expected one prometheus data source with a uid, got uids %r types %r"
        % (DS_PROVISIONING, uids, types))
    return uids[0]


def all_panels(dash):
    """Every panel, including those nested in (collapsed) rows."""
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []) or [])
    return out


def prom_config_for(targets):
    """prometheus/prometheus.yml with the mstream target list replaced."""
    with open(PROM_CONFIG, encoding="utf-8") as f:
        lines = f.read().split("\n")
    marked = [i for i, l in enumerate(lines) if l.rstrip().endswith(TARGETS_MARK)]
    assert len(marked) == 1, "%s: expected exactly one line ending in %r" % (PROM_CONFIG, TARGETS_MARK)
    i = marked[0]
    m = re.match(r"^(\s*- targets:\s*)\[[^\]]*\](\s*" + re.escape(TARGETS_MARK) + r")$", lines[i])
    assert m, "%s line %d is not '- targets: [...]  %s'" % (PROM_CONFIG, i + 1, TARGETS_MARK)
    lines[i] = m.group(1) + "[" + ", ".join("'%s'" % t for t in targets) + "]" + m.group(2)
    return "\n".join(lines)


def rule_files(config_text):
    """The entries of the rule_files list of a Prometheus configuration."""
    m = re.search(r"^rule_files:\s*\n((?:\s+- .*\n)+)", config_text, re.M)
    return re.findall(r"^\s+- ['\"]?([^'\"\s]+)", m.group(1), re.M) if m else []


class RepoPrometheus(mstest.Prometheus):
    """mstest's Prometheus wrapper, run with the repository's configuration
    (the rule files it names copied beside it, as compose mounts them)."""

    def __init__(self, t, targets):
        super().__init__(t, targets)
        text = prom_config_for(targets)
        cfg = os.path.join(self.dir, "prometheus.yml")
        mstest.write_file(cfg, text)
        for rf in rule_files(text):
            with open(os.path.join(os.path.dirname(PROM_CONFIG), rf), "rb") as f:
                mstest.write_file(os.path.join(self.dir, rf), f.read())
        self.config_text = text
        m = re.search(r"^\s*scrape_interval:\s*(\d+)s", text, re.M)
        self.scrape_interval = int(m.group(1)) if m else 15

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)

    def series(self, match):
        return self.api("/api/v1/series", **{"match[]": match})

    def alerts(self):
        """Active alerts (pending or firing) as [(alertname, state, labels)]."""
        return [(a["labels"]["alertname"], a["state"], a["labels"])
                for a in self.api("/api/v1/alerts")["alerts"]]


# --------------------------------------------------------------------------
# input

def gen_trace(tracegen, out, days=5, jobs=200):
    """ms_tracegen --plain into OUT; returns {table: [lines in time order]}."""
    p = subprocess.run([tracegen, "--out", out, "--days", str(days), "--jobs", str(jobs),
                        "--plain", "--force"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=mstest.scaled(120))
    assert p.returncode == 0, "ms_tracegen failed:\n" + p.stdout.decode("utf-8", "replace")
    rows = {}
    for table in ("task_events", "job_events"):
        d = os.path.join(out, table)
        lines = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                lines.extend(f.read().splitlines(keepends=True))
        assert lines, "ms_tracegen wrote no %s rows" % table
        rows[table] = lines
    return rows


def word_lines(n, seed=7):
    """N deterministic lines of Zipf-distributed words (a few very frequent)."""
    rnd = random.Random(seed)
    vocab = ["spark", "stream", "kafka", "batch", "window", "state", "commit", "offset",
             "watermark", "trigger", "query", "checkpoint", "rocksdb", "grafana", "prometheus"]
    vocab += ["w%03d" % i for i in range(300)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    return [(" ".join(rnd.choices(vocab, weights, k=12)) + "\n").encode() for _ in range(n)]


class Feeder(threading.Thread):
    """Delivers chunks to watched directories, one round every `interval`
    seconds: round k writes chunk k of each stream as a new file (temporary
    name, then rename).  streams: [(dir, prefix, [bytes lines], lines per chunk)].
    Stops after the last chunk of every stream, after max_rounds, or on stop()."""

    def __init__(self, streams, interval=0.5, max_rounds=2000):
        super().__init__(daemon=True)
        self.streams = streams
        self.interval = interval
        self.max_rounds = max_rounds
        self.rounds = 0
        self._stop_ev = threading.Event()
        self.error = None

    def deliver_round(self):
        more = False
        k = self.rounds
        for d, prefix, lines, per in self.streams:
            chunk = lines[k * per:(k + 1) * per]
            if chunk:
                mstest.atomic_write(os.path.join(d, "%s-%05d.txt" % (prefix, k)), b"".join(chunk))
            more |= (k + 1) * per < len(lines)
        self.rounds += 1
        return more

    def run(self):
        try:
            while self.rounds < self.max_rounds and not self._stop_ev.is_set():
                if not self.deliver_round():
                    break
                self._stop_ev.wait(self.interval)
        except Exception as e:  # reported by the test through .error
            self.error = e

    def stop(self):
        self._stop_ev.set()
        if self.is_alive():
            self.join(timeout=10)
