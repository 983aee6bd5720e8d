#!/usr/bin/env python3
"""The Grafana dashboards against a real Prometheus scraping real mstream runs.

test_dashboard_files (no processes): every grafana/dashboards/*.json is
well-formed JSON and what grafana/gen_dashboards.py generates; dashboard uids
and titles are unique, panel ids unique per dashboard; every data source
reference (panels, targets, template variables) is the `datasource` template
variable (type datasource, Prometheus), and no data source uid is written
anywhere, so the files import into any Grafana; every panel has a title, a
unit, a description and PromQL targets; every dashboard has the template
variables `datasource`, `job`, `instance` and `query`, and every variable an
expression uses is defined; no expression names a job (`job="..."`); rate(),
irate() and increase() are applied to counters only (*_total, histogram
series); points in time (watermark, window start) are shown as dates
(dateTimeAsIso, value * 1000), never as durations.

test_every_expression_returns_data: generated input (ms_tracegen trace rows
in time order, Zipf word-count text) is fed chunk by chunk into four real
mstream processes over the directory source -- cluster_events,
task_events_hourly, job_events_hourly and the word count -- while a real
Prometheus scrapes them with the repository's prometheus/prometheus.yml (only
the target list substituted).  Every template variable query is resolved
through the Prometheus HTTP API (it must find values), every PromQL expression
of every dashboard is run with the variables substituted as Grafana does
(multi-value "All" = a regex alternation of the values; $__rate_interval = 1m)
and must return at least one series with a finite value.  The expressions
that need the Kafka source (KAFKA_ONLY) are checked only when `mstream --help`
lists --kafka (then a real broker, the producer and a fifth mstream reading
Kafka are started); otherwise they are printed as not checked, with the reason.
Finally, with the feeding stopped, the totals panels must equal the rows
delivered (task and job events) and the distinct words panel the distinct
words delivered.
"""
import math
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashlib  # noqa: E402
from dashlib import mstest  # noqa: E402

# (dashboard file, panel title) of the panels whose expressions only have
# data when mstream reads Kafka (mstream_kafka_partition_* series).
KAFKA_ONLY = {
    ("engine.json", "Kafka lag per partition"),
    ("engine.json", "Kafka messages/s per partition"),
}
# (dashboard file, panel title) of the panels whose expressions only have
# data in group mode (mstream_group_* series): checked with two instances of
# one --application-id reading the Kafka run's topics.
GROUP_ONLY = {
    ("engine.json", "Partitions owned per instance"),
    ("engine.json", "Rebalances/s by event"),
    ("engine.json", "Transactions/s by outcome"),
    ("engine.json", "Transaction commit latency percentiles"),
    ("engine.json", "Restore"),
    ("engine.json", "Internal topic bytes/s by role"),
}
BUILTIN_VARS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m",
                "__interval_ms": "15000", "__range_s": "300"}
VAR_RE = re.compile(r"\$\{?(\w+)\}?")
RATE_RE = re.compile(r"\b(rate|irate|increase)\(\s*([a-zA-Z_:][\w:]*)")
COUNTER_RE = re.compile(r"(_total|_bucket|_count|_sum)$")
TIME_POINT_RE = re.compile(r"\b(mstream_watermark_seconds|mstream_query_last_closed_window_"
                           r"(start|end)_seconds)\b")
REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


def _expressions(dashes):
    """[(file, panel title, refId, expr)] of every panel target."""
    out = []
    for name, d in dashes.items():
        for p in dashlib.all_panels(d):
            if p.get("type") == "row":
                continue
            for tg in p.get("targets", []):
                out.append((name, p.get("title"), tg.get("refId"), tg.get("expr", "")))
    return out


def _walk_datasources(obj, path, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "datasource":
                out.append((path + "." + k, v))
            else:
                _walk_datasources(v, path + "." + k, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _walk_datasources(v, "%s[%d]" % (path, i), out)


def test_dashboard_files(t):
    del t
    gen = subprocess.run([sys.executable, os.path.join(dashlib.ROOT, "grafana", "gen_dashboards.py"),
                          "--check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert gen.returncode == 0, "grafana/gen_dashboards.py --check:\n" + gen.stdout.decode()
    dashes = dashlib.load_dashboards()
    assert set(dashes) >= {"engine.json", "cluster-events.json", "wordcount.json"}, sorted(dashes)
    uid = dashlib.provisioned_uid()
    uids, titles = {}, {}
    ds_ref = {"type": "prometheus", "uid": "${datasource}"}
    for name, d in dashes.items():
        assert d.get("uid") and d.get("title"), "%s: no uid or title" % name
        assert d["uid"] not in uids, "uid %r in %s and %s" % (d["uid"], name, uids.get(d["uid"]))
        assert d["title"] not in titles, "title %r used twice" % d["title"]
        uids[d["uid"]] = name
        titles[d["title"]] = name
        refs = []
        _walk_datasources(d, name, refs)
        assert refs, "%s: no data source references" % name
        for where, ds in refs:
            if where.startswith(name + ".annotations"):
                continue          # Grafana's built-in annotations
            assert ds == ds_ref, "%s: data source %r is not the variable %r" % (where, ds, ds_ref)
        with open(os.path.join(dashlib.DASH_DIR, name), encoding="utf-8") as f:
            assert uid not in f.read(), "%s names the data source uid %s" % (name, uid)
        dsv = [v for v in d.get("templating", {}).get("list", []) if v["name"] == "datasource"]
        assert len(dsv) == 1 and dsv[0]["type"] == "datasource" and \
            dsv[0]["query"] == "prometheus" and "datasource" not in dsv[0], \
            "%s: no `datasource` variable of type datasource (prometheus): %r" % (name, dsv)
        ids = set()
        for p in dashlib.all_panels(d):
            what = "%s panel %r" % (name, p.get("title"))
            assert p.get("id") not in ids, "%s: panel id %r repeats" % (name, p.get("id"))
            ids.add(p.get("id"))
            assert p.get("title"), "%s: a panel without a title" % name
            gp = p.get("gridPos", {})
            assert all(isinstance(gp.get(k), int) for k in "xywh") and gp["x"] + gp["w"] <= 24, \
                "%s: bad gridPos %r" % (what, gp)
            if p.get("type") == "row":
                continue
            assert (p.get("description") or "").strip(), "%s has no description" % what
            unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
            assert unit, "%s has no unit" % what
            assert p.get("targets") and all(tg.get("expr") for tg in p["targets"]), \
                "%s has no PromQL target" % what
            for tg in p["targets"]:
                e = tg["expr"]
                assert not re.search(r'\bjob\s*=\s*"', e), "%s names a job: %s" % (what, e)
                for fn, metric in RATE_RE.findall(e):
                    assert COUNTER_RE.search(metric), \
                        "%s: %s() of %s, which is not a counter" % (what, fn, metric)
                if TIME_POINT_RE.search(e.split(" and ")[0]):    # not as a mere filter
                    assert unit.startswith("dateTime") and e.rstrip().endswith("* 1000"), \
                        "%s shows a point in time (%s) with unit %r" % (what, e, unit)
            assert unit not in ("dtdurations", "dthms") or not any(
                TIME_POINT_RE.search(tg["expr"].split(" and ")[0]) for tg in p["targets"]), what
        names = [v["name"] for v in d.get("templating", {}).get("list", [])]
        assert {"datasource", "job", "instance", "query"} <= set(names), \
            "%s: variables %r" % (name, names)
        for v in d["templating"]["list"]:
            assert v.get("description"), "%s: variable %s has no description" % (name, v["name"])
        for _, title, _, expr in _expressions({name: d}):
            for var in VAR_RE.findall(expr):
                assert var in names or var in BUILTIN_VARS, \
                    "%s panel %r uses undefined variable $%s" % (name, title, var)
    kafka = {(n, ti) for n, ti, _, e in _expressions(dashes) if "mstream_kafka_" in e}
    assert kafka == KAFKA_ONLY, "Kafka-only panels changed: %r (update KAFKA_ONLY)" % sorted(kafka)
    group = {(n, ti) for n, ti, _, e in _expressions(dashes) if "mstream_group_" in e}
    assert group == GROUP_ONLY, "group-mode panels changed: %r (update GROUP_ONLY)" % sorted(group)
    print("  %d dashboards, %d expressions, data source uid %s" %
          (len(dashes), len(_expressions(dashes)), uid))


# --------------------------------------------------------------------------
# live check

def _regex_alt(values):
    """Grafana's Prometheus formatting of a multi-value variable: each value
    regex-escaped (backslashes doubled for the PromQL string), joined by |."""
    esc = [REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), v.replace("\\", "\\\\\\\\"))
           for v in values]
    return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"


def _substitute(expr, values):
    def rep(m):
        name = m.group(1)
        if name in BUILTIN_VARS:
            return BUILTIN_VARS[name]
        return values[name]
    return VAR_RE.sub(rep, expr)


def _resolve_variables(prom, dash):
    """Values of the dashboard's variables, resolved the way Grafana does;
    a query variable that finds nothing is an error."""
    values = {}
    for v in dash["templating"]["list"]:
        if v["type"] == "custom":
            values[v["name"]] = v["current"]["value"]
            continue
        if v["type"] == "datasource":
            continue      # the one Prometheus of the test; expressions never use it
        assert v["type"] == "query", v
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.match(r"^label_values\((.+),\s*(\w+)\)$", q.strip())
        assert m, "%s: variable query %r is not label_values(selector, label)" % (dash["uid"], q)
        selector = _substitute(m.group(1), values)
        found = sorted({s.get(m.group(2)) for s in prom.series(selector) if m.group(2) in s})
        if v.get("regex"):
            rx = re.compile(v["regex"].strip("/"))
            found = [x for x in found if rx.search(x)]
        if not found:
            return None, "variable $%s (%s) found no values" % (v["name"], selector)
        values[v["name"]] = _regex_alt(found)
    return values, None


def _finite(res):
    vals = []
    if res["resultType"] == "vector":
        vals = [r["value"][1] for r in res["result"]]
    elif res["resultType"] == "scalar":
        vals = [res["result"][1]]
    return any(math.isfinite(float(x)) for x in vals)


def _kafka_supported():
    p = subprocess.run([mstest.MSTREAM, "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    return "--kafka" in p.stdout.decode("utf-8", "replace")


class KafkaRun:
    """A real broker (tests/kafka/kafka_broker.sh, its own state file), the
    producer loading the generated trace, and an mstream reading it."""

    def __init__(self, t, trace_dir):
        self.t = t
        self.state = os.path.join(t.dir, "kafka.state")
        self.script = os.path.join(dashlib.ROOT, "tests", "kafka", "kafka_broker.sh")
        self.trace_dir = trace_dir
        self.started = False

    def start(self):
        env = dict(os.environ, MS_KAFKA_STATE=self.state)
        p = subprocess.run([self.script, "start", "--fresh", "--state", self.state], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=mstest.scaled(900))
        self.started = True
        out = p.stdout.decode("utf-8", "replace")
        m = re.search(r"bootstrap=(\S+)", out)
        assert p.returncode == 0 and m, "kafka_broker.sh start failed:\n" + out
        self.bootstrap = m.group(1)
        producer = os.environ.get("MS_PRODUCER")
        assert producer and os.access(producer, os.X_OK), "MS_PRODUCER not set"
        pp = subprocess.run([producer, "--brokers", self.bootstrap, "--no-pacing",
                             "--progress-sec", "0",
                             "--task-events", os.path.join(self.trace_dir, "task_events"),
                             "--job-events", os.path.join(self.trace_dir, "job_events")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=mstest.scaled(300))
        assert pp.returncode == 0, "producer failed:\n" + pp.stdout.decode("utf-8", "replace")
        chk = os.path.join(self.t.dir, "chk-kafka")
        self.ms = self.t.raw(["--kafka", self.bootstrap, "--topics", "task-events,job-events",
                              "--query", "cluster_events", "--starting-offsets", "earliest",
                              "--checkpoint-dir", chk, "--trigger-sec", "0.5",
                              "--metrics-addr", "127.0.0.1:0"], name="kafka")
        self.ms.start()
        # The trace again, looping, for the rest of the run: the group has
        # transactions to commit while Prometheus scrapes it.
        self.loop = subprocess.Popen(
            [producer, "--brokers", self.bootstrap, "--rate", "300", "--loop", "--progress-sec",
             "0", "--task-events", os.path.join(self.trace_dir, "task_events"),
             "--job-events", os.path.join(self.trace_dir, "job_events")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Group mode: two instances of one application share the topics.
        self.group = []
        for i in range(2):
            g = self.t.raw(["--kafka", self.bootstrap, "--query", "cluster_events",
                            "--application-id", "dash-group", "--starting-offsets", "earliest",
                            "--checkpoint-dir", os.path.join(self.t.dir, "chk-group%d" % i),
                            "--trigger-sec", "0.5", "--metrics-addr", "127.0.0.1:0"],
                           name="group%d" % i)
            g.start()
            self.group.append(g)
        return self

    def stop(self):
        if getattr(self, "loop", None) is not None:
            self.loop.terminate()
            try:
                self.loop.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.loop.kill()
                self.loop.wait()
            self.loop = None
        if self.started:
            subprocess.run([self.script, "stop", "--state", self.state],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=mstest.scaled(120))
            self.started = False


def test_every_expression_returns_data(t):
    if not (shutil.which("prometheus") or os.path.exists("/usr/bin/prometheus")):
        raise mstest.Skip("prometheus not installed (Debian package prometheus)")
    tracegen = os.environ.get("MS_TRACEGEN")
    assert tracegen and os.access(tracegen, os.X_OK), \
        "MS_TRACEGEN must name the ms_tracegen binary (the CMake glue sets it)"
    dashes = dashlib.load_dashboards()
    exprs = _expressions(dashes)
    kafka_ok = _kafka_supported()

    rows = dashlib.gen_trace(tracegen, t.mkdir("trace"))
    words = dashlib.word_lines(1200)
    rounds = 200
    per = {k: -(-len(v) // rounds) for k, v in rows.items()}

    def ms(query, name):
        d, chk = t.dirs()
        return d, t.mstream(d, chk, "--query", query, "--trigger-sec", "0.5", name=name)

    d_cluster, cluster = ms("cluster_events", "cluster")
    d_thour, thour = ms("task_events_hourly", "task_hourly")
    d_jhour, jhour = ms("job_events_hourly", "job_hourly")
    d_words, wc = ms("wordcount", "wordcount")
    engines = [cluster, thour, jhour, wc]
    for e in engines:
        e.start()
    streams = [(d_cluster, "task", rows["task_events"], per["task_events"]),
               (d_cluster, "job", rows["job_events"], per["job_events"]),
               (d_thour, "task", rows["task_events"], per["task_events"]),
               (d_jhour, "job", rows["job_events"], per["job_events"]),
               (d_words, "words", words, -(-len(words) // rounds))]
    feeder = dashlib.Feeder(streams, interval=0.5, max_rounds=rounds)
    kafka = None
    try:
        feeder.start()
        if kafka_ok:
            kafka = KafkaRun(t, os.path.join(t.dir, "trace"))
            kafka.start()
            engines.append(kafka.ms)
            engines.extend(kafka.group)
        group = kafka.group if kafka is not None else []
        for e in engines:
            if e in group:  # the group commits as a whole: one instance may find nothing left
                e.wait_ready()
                continue
            e.wait_metric(lambda m: (m.get("mstream_batches_total") or 0) >= 1,
                          "first batch committed (%s)" % e.name, timeout=60)
        if group:
            mstest.wait_for(lambda: sum(g.metrics().get("mstream_batches_total") or 0
                                        for g in group) >= 1, 60,
                            "a batch committed by the group",
                            on_timeout=lambda: "\n".join(g.describe() for g in group))
        targets = ["127.0.0.1:%d" % e.port for e in engines]
        prom = dashlib.RepoPrometheus(t, targets)
        promtool = shutil.which("promtool")
        if promtool:
            cfg = os.path.join(prom.dir, "prometheus.yml")
            p = subprocess.run([promtool, "check", "config", cfg], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            assert p.returncode == 0, "promtool check config:\n" + p.stdout.decode()
        prom.start()

        def targets_up():
            act = prom.api("/api/v1/targets", state="active")["activeTargets"]
            up = {a["labels"]["instance"] for a in act
                  if a["health"] == "up" and a["labels"].get("job") == "mstream"}
            return up >= set(targets)
        mstest.wait_for(targets_up, 60, "every mstream target up in Prometheus", interval=0.5,
                        on_timeout=prom.log_tail)

        unchecked = []
        todo = []
        for name, title, ref, expr in exprs:
            if (name, title) in KAFKA_ONLY | GROUP_ONLY and not kafka_ok:
                unchecked.append((name, title, ref, expr))
            else:
                todo.append((name, title, ref, expr))
        state = {"fail": todo}

        def check_all():
            for e in engines:
                e.check_alive()
            if feeder.error:
                raise AssertionError("feeder failed: %r" % feeder.error)
            vals = {}
            for name, d in dashes.items():
                vals[name], why = _resolve_variables(prom, d)
                if why:
                    state["why"] = "%s: %s" % (name, why)
                    return False
            fail = []
            for name, title, ref, expr in state["fail"]:
                q = _substitute(expr, vals[name])
                res = prom.query(q)
                if not _finite(res):
                    fail.append((name, title, ref, expr))
                    state["last"] = (q, res)
            state["fail"] = fail
            state["vals"] = vals
            return not fail

        def report():
            lines = ["expressions without data:"]
            for name, title, ref, expr in state["fail"]:
                lines.append("  %s / %s / %s: %s" % (name, title, ref, expr))
            if "why" in state:
                lines.append("  " + state["why"])
            if "last" in state:
                lines.append("  last query %s -> %r" % (state["last"][0], state["last"][1]))
            return "\n".join(lines) + "\n" + prom.log_tail()
        mstest.wait_for(check_all, 150, "every dashboard expression to return data",
                        interval=2.0, on_timeout=report)
        print("  checked %d expressions of %d dashboards: each returned data"
              % (len(todo), len(dashes)))
        for name, d in sorted(state["vals"].items()):
            print("  variables of %s: %s" % (name, ", ".join("$%s=%s" % kv for kv in d.items())))
        if unchecked:
            print("  NOT CHECKED (requires the Kafka source; `mstream --help` does not list "
                  "--kafka yet):")
            for name, title, ref, expr in unchecked:
                print("    %s / %s / %s: %s" % (name, title, ref, expr))

        if kafka is not None:
            # The lag panel shows the partitions of both topics the engine reads.
            expr = [e for n_, ti, _, e in exprs if ti == "Kafka lag per partition"][0]
            res = prom.query(_substitute(expr, state["vals"]["engine.json"]))["result"]
            topics = {r["metric"].get("topic") for r in res}
            assert topics >= {"task-events", "job-events"}, res
            print("  Kafka lag panel: %d partitions of %s" % (len(res), ", ".join(sorted(topics))))

        # The totals panels show the truth: stop feeding, wait until every
        # delivered row is counted, then Prometheus must agree exactly.
        feeder.stop()
        n = feeder.rounds
        delivered_task = min(len(rows["task_events"]), n * per["task_events"])
        delivered_job = min(len(rows["job_events"]), n * per["job_events"])
        distinct = len({w for ln in words[:n * streams[4][3]] for w in ln.split()})

        def totals():
            m = cluster.metrics()
            return (m.get("mstream_query_rows_total", query="task_events_by_class") == delivered_task
                    and m.get("mstream_query_rows_total", query="job_events_by_class") == delivered_job)
        mstest.wait_for(totals, 60, "cluster_events to count every delivered row",
                        on_timeout=cluster.describe)
        # Each totals panel read for the one process that got those rows (a
        # Kafka run, when there is one, exports the same families).
        vals = {name: dict(v) for name, v in state["vals"].items()}
        vals["cluster-events.json"]["instance"] = _regex_alt(["127.0.0.1:%d" % cluster.port])
        vals["wordcount.json"]["instance"] = _regex_alt(["127.0.0.1:%d" % wc.port])
        want = {
            ("cluster-events.json", "Task events counted"): delivered_task,
            ("cluster-events.json", "Job events counted"): delivered_job,
            ("wordcount.json", "Distinct words"): distinct,
        }
        got = {}

        def panels_agree():
            for (name, title), v in want.items():
                expr = [e for n_, ti, _, e in exprs if n_ == name and ti == title][0]
                res = prom.query(_substitute(expr, vals[name]))["result"]
                got[(name, title)] = res and float(res[0]["value"][1])
            return all(got[k] == float(v) for k, v in want.items())
        mstest.wait_for(panels_agree, 60, "totals panels == rows delivered", interval=1.0,
                        on_timeout=lambda: "want %r\ngot %r" % (want, got))
        print("  totals panels: %d task events, %d job events, %d distinct words (exact)"
              % (delivered_task, delivered_job, distinct))
        prom.stop()
        for e in engines:
            assert e.term() == 0, e.describe()
    finally:
        feeder.stop()
        if kafka is not None:
            kafka.stop()


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = mstest.main(globals())
    sys.exit(rc)
