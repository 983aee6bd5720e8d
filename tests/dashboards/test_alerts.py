#!/usr/bin/env python3
"""The alerting rules of prometheus/alerts.yml.

test_rules_check_and_unit_tests (no processes): `promtool check rules`
accepts the file; `promtool test rules prometheus/alerts_test.yml` passes
(every rule fires on a staged series and stays quiet on the healthy ones next
to it); every rule of alerts.yml has a firing case there; prometheus.yml
loads the file (rule_files) and compose mounts it beside prometheus.yml.

test_alerts_fire_against_real_mstream: a real Prometheus started with the
repository's prometheus.yml (target list substituted, alerts.yml beside it)
scrapes three real mstream processes:
  * `healthy` (word count) gets words all along;
  * `malformed` (task_events_by_class) gets, once Prometheus has scraped it,
    a file every second holding trace rows and lines that are not trace rows;
  * `killed` (word count) is killed with SIGKILL, by its PID, once scraped.
Within a bounded wait MstreamMalformedRowsRising must fire for `malformed`
(query task_events_by_class, reason wrong_column_count) and MstreamDown for
`killed`; at no point may an alert fire for `healthy` (nor be pending, but
for MstreamDown after a scrape that timed out on a loaded machine).
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashlib  # noqa: E402
from dashlib import mstest, ROOT  # noqa: E402

RULES = dashlib.PROM_RULES
RULES_TEST = os.path.join(ROOT, "prometheus", "alerts_test.yml")


def _promtool():
    p = shutil.which("promtool")
    if not p:
        raise mstest.Skip("promtool not installed (Debian package prometheus)")
    return p


def _alertnames(path):
    with open(path, encoding="utf-8") as f:
        return re.findall(r"^\s*-?\s*alert(?:name)?:\s*(\w+)\s*$", f.read(), re.M)


def test_rules_check_and_unit_tests(t):
    del t
    promtool = _promtool()
    p = subprocess.run([promtool, "check", "rules", RULES], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    rules = _alertnames(RULES)
    assert p.returncode == 0 and "SUCCESS: %d rules found" % len(rules) in out, out
    p = subprocess.run([promtool, "test", "rules", RULES_TEST], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0 and "SUCCESS" in out, "promtool test rules:\n" + out
    # every rule has a test in which it fires
    with open(RULES_TEST, encoding="utf-8") as f:
        tests = f.read()
    firing = set()
    for block in re.split(r"\n\s*- eval_time:", tests)[1:]:
        name = re.search(r"alertname:\s*(\w+)", block).group(1)
        if re.search(r"exp_alerts:\s*\n\s*- exp_labels", block):
            firing.add(name)
    assert set(rules) == firing and len(rules) >= 5, \
        "rules %r, rules with a firing unit test %r" % (sorted(rules), sorted(firing))
    assert {"MstreamDown", "MstreamNoBatchCommitted", "MstreamKafkaLagGrowing",
            "MstreamMalformedRowsRising", "MstreamLateRowsRising"} <= set(rules), rules
    with open(dashlib.PROM_CONFIG, encoding="utf-8") as f:
        cfg = f.read()
    assert dashlib.rule_files(cfg) == ["alerts.yml"], dashlib.rule_files(cfg)
    with open(os.path.join(ROOT, "docker-compose.yml"), encoding="utf-8") as f:
        compose = f.read()
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in compose, \
        "docker-compose.yml does not mount prometheus/alerts.yml beside prometheus.yml"
    print("  promtool: %d rules checked, unit tests pass: %s" % (len(rules), ", ".join(rules)))


TRACE_ROWS = [b"%d,,%d,0,,%d,u,%d,9,0.1,0.2,0,0\n" % (600000000 + i * 1000, 100 + i, i % 9, i % 4)
              for i in range(400)]
BAD_ROWS = [b"this is not a trace row\n", b"1,2,3\n"]


def test_alerts_fire_against_real_mstream(t):
    if not (shutil.which("prometheus") or os.path.exists("/usr/bin/prometheus")):
        raise mstest.Skip("prometheus not installed (Debian package prometheus)")
    d_ok, chk = t.dirs()
    healthy = t.mstream(d_ok, chk, "--trigger-sec", "0.5", name="healthy").start()
    d_bad, chk = t.dirs()
    malformed = t.mstream(d_bad, chk, "--query", "task_events_by_class", "--trigger-sec", "0.5",
                          name="malformed").start()
    d_k, chk = t.dirs()
    killed = t.mstream(d_k, chk, "--trigger-sec", "0.5", name="killed").start()
    engines = {"healthy": healthy, "malformed": malformed, "killed": killed}
    inst = {n: "127.0.0.1:%d" % e.port for n, e in engines.items()}
    words = dashlib.word_lines(2000)
    feeder = dashlib.Feeder([(d_ok, "words", words, 10)], interval=1.0, max_rounds=200)
    bad_feeder = None
    try:
        feeder.start()
        prom = dashlib.RepoPrometheus(t, sorted(inst.values()))
        p = subprocess.run([_promtool(), "check", "config", os.path.join(prom.dir, "prometheus.yml")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        assert p.returncode == 0, "promtool check config:\n" + p.stdout.decode()
        prom.start()
        rules = prom.api("/api/v1/rules")["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} == set(_alertnames(RULES)), rules

        def scraped():
            act = prom.api("/api/v1/targets", state="active")["activeTargets"]
            up = {a["labels"]["instance"] for a in act if a["health"] == "up"}
            return up >= set(inst.values())
        mstest.wait_for(scraped, 60, "all three targets up", interval=0.5, on_timeout=prom.log_tail)
        # Stage the faults only now: a counter that rises under Prometheus's
        # eyes, a target that was up and goes away.
        rows = []
        for i in range(0, len(TRACE_ROWS), 4):
            rows += TRACE_ROWS[i:i + 4] + BAD_ROWS
        bad_feeder = dashlib.Feeder([(d_bad, "mixed", rows, 6)], interval=1.0, max_rounds=300)
        bad_feeder.start()
        assert killed.kill9() == -9
        seen = {"healthy": []}
        state = {}

        def fired():
            for e in (healthy, malformed):
                e.check_alive()
            for f in (feeder, bad_feeder):
                if f.error:
                    raise AssertionError("feeder failed: %r" % f.error)
            alerts = prom.alerts()
            state["alerts"] = alerts
            seen["healthy"] += [a for a in alerts if a[2].get("instance") == inst["healthy"]]
            firing = {(n, l.get("instance")) for n, s, l in alerts if s == "firing"}
            return ({("MstreamMalformedRowsRising", inst["malformed"]),
                     ("MstreamDown", inst["killed"])} <= firing)
        mstest.wait_for(fired, 240, "MstreamMalformedRowsRising and MstreamDown firing",
                        interval=2.0, on_timeout=lambda: "alerts %r\n%s" % (state.get("alerts"),
                                                                           prom.log_tail()))
        # Healthy means nothing fires; a single scrape that times out on a
        # loaded machine may make MstreamDown pending for a moment, nothing else.
        assert not [a for a in seen["healthy"] if a[1] == "firing" or a[0] != "MstreamDown"], \
            "alerts for the healthy engine: %r" % seen["healthy"]
        by = {(n, l.get("instance")): l for n, s, l in state["alerts"] if s == "firing"}
        lab = by[("MstreamMalformedRowsRising", inst["malformed"])]
        assert lab["query"] == "task_events_by_class" and lab["reason"] == "wrong_column_count" \
            and lab["severity"] == "warning" and lab["job"] == "mstream", lab
        assert by[("MstreamDown", inst["killed"])]["severity"] == "critical"
        others = sorted(k for k in by if k not in {("MstreamMalformedRowsRising", inst["malformed"]),
                                                   ("MstreamDown", inst["killed"])})
        assert not others, "unexpected alerts firing: %r" % others
        m = malformed.metrics()
        assert m.get("mstream_malformed_rows_total", query="task_events_by_class",
                     reason="wrong_column_count") > 0
        print("  firing: MstreamMalformedRowsRising{instance=%s, query=task_events_by_class, "
              "reason=wrong_column_count}, MstreamDown{instance=%s}; none for the healthy %s"
              % (inst["malformed"], inst["killed"], inst["healthy"]))
        prom.stop()
        feeder.stop()
        bad_feeder.stop()
        assert healthy.term() == 0 and malformed.term() == 0
    finally:
        feeder.stop()
        if bad_feeder is not None:
            bad_feeder.stop()


if __name__ == "__main__":
    mstest.run(globals())
