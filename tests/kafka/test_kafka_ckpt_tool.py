"""`mstream checkpoint describe|state` on the checkpoint of a Kafka source
that a running engine holds (docs/operations.md, "Inspecting a checkpoint"),
against the real broker of the ctest fixture `kafka`:

  generated trace -> producer -> two topics -> mstream (cluster_events' two
  statements) -> describe: the source names both topics, the Kafka
  positions equal the topics' end offsets, the last batch is the engine's;
  state (JSON lines) of each statement equals /api/v1/results.

Run: ctest --test-dir build -R kafka.ckpt_tool --output-on-failure
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkatest as kt  # noqa: E402
import kwtest as kw  # noqa: E402
import mstest  # noqa: E402


def tool_ok(*args):
    p = subprocess.run([mstest.MSTREAM, "checkpoint"] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=mstest.scaled(60))
    assert p.returncode == 0, "mstream checkpoint %s: exit %d\n%s" % (
        " ".join(map(str, args)), p.returncode, p.stderr.decode())
    return p.stdout.decode("utf-8")


def test_kafka_checkpoint_while_held(t):
    b = kt.broker().bootstrap
    base = "ckpt-tool-%d-%d" % (os.getpid(), int(mstest.time.time() * 1000) % 10 ** 6)
    tt, jt = "te-" + base, "je-" + base
    trace = kw.tracegen(t, "trace", "--days", "2", "--jobs", "200", "--seed", "5")
    oracle = kw.cluster_oracle(trace)
    q = kw.cluster_query(t, tt, jt)
    kw.produce(t, b, trace, tt, jt, "--no-pacing")
    chk = os.path.join(t.dir, "chk")
    ms = kw.kafka_mstream(t, b, chk, "--query", q, "--starting-offsets", "earliest",
                          "--trigger-sec", "0.2", "--max-offsets-per-trigger", "500")
    ms.start()
    kw.wait_results(ms, oracle, timeout=60)
    box = {"prev": None}

    def stable():
        cur = ms.status()["lastBatchId"]
        same = cur == box["prev"] and cur >= 1
        box["prev"] = cur
        return same
    mstest.wait_for(stable, 30, "the last batch committed and published",
                    interval=mstest.scaled(0.5))
    last = box["prev"]

    desc = json.loads(tool_ok("describe", chk, "--json"))
    assert desc["source"] == "kafka:" + ",".join(sorted([tt, jt])), desc["source"]
    assert desc["lastBatch"]["id"] == last, (desc["lastBatch"], last)
    assert desc["files"] == [], desc["files"]
    want = {(tp, p): o for tp in (tt, jt) for p, o in kw.topic_ends(b, tp).items()}
    got = {(k["topic"], k["partition"]): k["offset"] for k in desc["kafka"]}
    assert set(got) <= set(want), (got, want)
    assert {k: o for k, o in got.items() if o} == {k: o for k, o in want.items() if o}, (got, want)
    assert sorted(s["name"] for s in desc["statements"]) == sorted(oracle), desc["statements"]
    text = tool_ok("describe", chk)
    assert "Kafka positions (next offset, topic [partition]):" in text, text
    for (tp, p), o in want.items():
        if o:
            assert "%14d  %s [%d]" % (o, tp, p) in text, (tp, p, o, text)

    for query in oracle:
        rows = [json.loads(l) for l in tool_ok("state", chk, "--query", query,
                                               "--format", "json").splitlines()]
        state = {}
        for r in rows:
            vals = list(r.values())
            state[tuple(vals[:-1])] = vals[-1]
        res = kw.results(ms, query)
        assert state == res, "%s:\n%s" % (query, kw.diff(res, state))
        assert state == dict(oracle[query]), "%s:\n%s" % (query, kw.diff(dict(oracle[query]), state))
    assert ms.term() == 0


if __name__ == "__main__":
    mstest.run(globals())
