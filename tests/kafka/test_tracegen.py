"""ms_tracegen: layout, determinism and realism of the synthetic trace."""
import collections
import filecmp
import gzip
import os

import kafkatest as kt

DAY = 86400 * 10 ** 6
START = 600 * 10 ** 6


def files(d):
    out = []
    for table in ("task_events", "job_events"):
        out += [os.path.join(table, n) for n in sorted(os.listdir(os.path.join(d, table)))]
    return out


def test_same_seed_same_bytes(t):
    a, b, c = t.mkdir("a"), t.mkdir("b"), t.mkdir("c")
    args = ["--days", "2", "--jobs", "500", "--parts", "3", "--seed", "42"]
    sa = t.tracegen(a, *args)
    sb = t.tracegen(b, *args)
    t.tracegen(c, "--days", "2", "--jobs", "500", "--parts", "3", "--seed", "43")
    fa = files(a)
    assert fa == files(b) == files(c) and len(fa) == 6, fa
    for f in fa:
        assert filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False), "%s differs" % f
    assert any(not filecmp.cmp(os.path.join(a, f), os.path.join(c, f), shallow=False) for f in fa), \
        "another seed gave the same files"
    sa.pop("elapsed_s"), sb.pop("elapsed_s"), sa.pop("out"), sb.pop("out")
    assert sa == sb


def test_layout_columns_order_and_counts(t):
    d = t.mkdir("trace")
    s = t.tracegen(d, "--days", "3", "--jobs", "800", "--parts", "5", "--seed", "1")
    for table, ncols in (("task_events", 13), ("job_events", 8)):
        names = sorted(os.listdir(os.path.join(d, table)))
        assert names == ["part-%05d-of-00005.csv.gz" % i for i in range(5)], names
        lines = kt.table_lines(os.path.join(d, table))
        assert len(lines) == int(s[table]), (table, len(lines), s)
        times = []
        for l in lines:
            f = l.split(",")
            assert len(f) == ncols, "%s row with %d columns: %r" % (table, len(f), l)
            assert f[1] == "" and f[2].isdigit() and len(f[2]) == 10, l
            times.append(int(f[0]))
        assert times == sorted(times), "%s not sorted by time across parts" % table
        finite = [x for x in times if 0 < x < kt.TIME_MAX]
        assert min(finite) >= START and max(finite) < START + 3 * DAY, (min(finite), max(finite))
        assert all(x == 0 or x >= START for x in times)
    assert int(s["time0_rows"]) > 0
    tasks = kt.table_lines(os.path.join(d, "task_events"))
    assert sum(1 for l in tasks if l.startswith("0,")) > 0
    # Each part holds about 1/5 of the rows (rows are split by count).
    sizes = [sum(1 for _ in gzip.open(os.path.join(d, "task_events", n)))
             for n in sorted(os.listdir(os.path.join(d, "task_events")))]
    assert max(sizes) - min(sizes) <= 1, sizes


# Allowed next task event after each one (a task's life, docs/design.md §4).
NEXT = {
    None: {0},
    0: {1, 7},          # SUBMIT -> SCHEDULE | UPDATE_PENDING
    7: {1},             # UPDATE_PENDING -> SCHEDULE
    1: {2, 3, 4, 5, 6, 8},
    8: {2, 3, 4, 5, 6},
    2: {0}, 3: {0},     # EVICT / FAIL -> resubmitted
    4: set(), 5: set(), 6: set(),
}


def test_event_sequences_and_mix_are_plausible(t):
    d = t.mkdir("trace")
    t.tracegen(d, "--days", "4", "--jobs", "3000", "--seed", "7")
    tasks = kt.table_lines(os.path.join(d, "task_events"))
    jobs = kt.table_lines(os.path.join(d, "job_events"))
    last = {}
    types = collections.Counter()
    for l in tasks:
        f = l.split(",")
        key, ev = (f[2], f[3]), int(f[5])
        types[ev] += 1
        assert ev in NEXT[last.get(key)], "task %s: %s after %s" % (key, ev, last.get(key))
        assert (f[4] == "") == (ev in (0, 7)), "machine ID column wrong in %r" % l
        assert f[7] in "0123" and 0 <= int(f[8]) <= 11, l
        last[key] = ev
    n = sum(types.values())
    assert set(types) == set(range(9)), "event types present: %r" % sorted(types)
    assert types[0] >= types[1] >= types[4] > types[3] > types[6], types
    assert 0.15 < types[4] / n < 0.35, "FINISH share %.2f" % (types[4] / n)
    # Scheduling classes of jobs: dominated by 0 and 1, all four present.
    cls = collections.Counter(l.split(",")[5] for l in jobs if l.split(",")[3] == "0")
    assert set(cls) == {"0", "1", "2", "3"}, cls
    assert (cls["0"] + cls["1"]) / sum(cls.values()) > 0.65, cls
    assert cls["3"] < cls["2"] < cls["1"] < cls["0"], cls
    # Job events: SUBMIT, SCHEDULE, then one terminal event per job.
    jl = collections.defaultdict(list)
    for l in jobs:
        f = l.split(",")
        jl[f[2]].append(int(f[3]))
    assert len(jl) == 3000
    for j, evs in jl.items():
        assert evs[:2] == [0, 1][:len(evs)] and len(evs) <= 3 and all(e in (3, 4, 5) for e in evs[2:]), (j, evs)
    # Job IDs increase with submit time.
    subs = [(int(l.split(",")[0]), int(l.split(",")[2])) for l in jobs if l.split(",")[3] == "0"]
    ids = [i for _, i in subs]
    assert ids == sorted(ids)


def test_plain_equals_gz_and_force(t):
    gz, plain = t.mkdir("gz"), t.mkdir("plain")
    t.tracegen(gz, "--jobs", "100", "--seed", "5")
    t.tracegen(plain, "--jobs", "100", "--seed", "5", "--plain")
    for table in ("task_events", "job_events"):
        assert all(n.endswith(".csv") for n in os.listdir(os.path.join(plain, table)))
        assert kt.table_lines(os.path.join(gz, table)) == kt.table_lines(os.path.join(plain, table))
    # Regenerating into a directory with part files needs --force.
    rc, _, err = kt.run(t, [kt.BIN["tracegen"], "--out", gz, "--jobs", "10"], "again")
    assert rc == 2 and "--force" in err, (rc, err)
    t.tracegen(gz, "--jobs", "10", "--parts", "2", "--force")
    assert sorted(os.listdir(os.path.join(gz, "job_events"))) == \
        ["part-00000-of-00002.csv.gz", "part-00001-of-00002.csv.gz"]


def test_usage(t):
    G = kt.BIN["tracegen"]
    rc, out, _ = kt.run(t, [G, "--help"], "help")
    assert rc == 0 and "--seed" in out and "--tasks-per-job-max" in out
    for argv, msg in (([], "--out DIR is required"),
                      (["--out", t.dir, "--jobs", "0"], "between"),
                      (["--out", t.dir, "--days", "x"], "needs a number"),
                      (["--out", t.dir, "--parts", "1.5"], "whole number")):
        rc, _, err = kt.run(t, [G] + argv, "usage")
        assert rc == 2 and msg in err, (argv, rc, err)


if __name__ == "__main__":
    kt.run_tests(globals())
