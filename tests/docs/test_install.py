#!/usr/bin/env python3
"""The installed layout, the man page and the Debian package (docs/install.md).

    test_install.py --source-dir SRC --build-dir BUILD install|deb

install  `cmake --install BUILD --prefix /usr/local` with DESTDIR a temp dir:
         every shipped file is where docs/install.md says (the lists come from
         the source tree, so a new query or doc is expected automatically);
         the installed mstream, run from a directory with no queries/ near
         it, finds `--query task_events_by_class` under share/mstream/queries
         and counts hand-made trace rows exactly (and fails with exit 2 once
         that file is removed, so the name was really resolved there); the
         man page renders with `man -l` (or groff) without warnings, lists
         exactly the options of `mstream --help` with their aliases, names no
         option that --help does not know, and carries the binary's version.
deb      `cpack -G DEB` from BUILD into a temp dir: the package's Depends names
         the Debian runtime libraries of RocksDB, librdkafka, libmicrohttpd,
         zlib and libc (xxHash is inlined: no run-time library); its files are the same layout under /usr; the
         extracted binary runs a query found by name.

Every process is started with subprocess.run and a timeout (which kills
exactly that child); nothing else is signalled.  Exit 0 on success, 1 on a
failed check (with what differs), 2 on usage errors.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SCALE = float(os.environ.get("MS_TEST_TIMEOUT_SCALE") or
              os.environ.get("MS_TEST_TIMEOUT_SCALE_DEFAULT") or 1)
TOOLS = ("mstream", "producer", "ms_tracegen", "ms_feeder")


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def run(argv, timeout=60, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, timeout=timeout * SCALE, text=True, **kw)


def expected_files(src):
    """Paths relative to the prefix that an install must hold."""
    files = {"bin/" + t for t in TOOLS}
    files.add("share/man/man1/mstream.1")
    for q in glob.glob(os.path.join(src, "queries", "*.sql")):
        files.add("share/mstream/queries/" + os.path.basename(q))
    for d in ("provisioning", "dashboards"):
        top = os.path.join(src, "grafana", d)
        for root, _, names in os.walk(top):
            for n in names:
                rel = os.path.relpath(os.path.join(root, n), os.path.join(src, "grafana"))
                files.add("share/mstream/grafana/" + rel)
    files.add("share/mstream/prometheus/prometheus.yml")
    for f in ["README.md", "LICENSE"] + [os.path.relpath(p, src) for p in
                                         glob.glob(os.path.join(src, "docs", "*.md")) +
                                         glob.glob(os.path.join(src, "docs", "*.png"))]:
        files.add("share/doc/mstream/" + os.path.basename(f))
    return files


def check_layout(prefix_dir, src):
    missing = sorted(f for f in expected_files(src)
                     if not os.path.isfile(os.path.join(prefix_dir, f)))
    check(not missing, "not installed under %s: %s" % (prefix_dir, ", ".join(missing)))
    for t in TOOLS:
        p = os.path.join(prefix_dir, "bin", t)
        check(os.access(p, os.X_OK), "%s is not executable" % p)
        r = run([p, "--version"])
        check(r.returncode == 0 and r.stdout.strip(),
              "%s --version: exit %d, %r %r" % (p, r.returncode, r.stdout, r.stderr))
    print("layout ok: %d files under %s" % (len(expected_files(src)), prefix_dir))


# Hand-made task_events rows (13 columns): time, missing, job, task, machine,
# event type, user, scheduling class, priority, cpu, mem, disk, constraint.
ROWS = [
    (1000000, 0, 1), (2000000, 0, 1), (3000000, 1, 1), (4000000, 0, 3), (5000000, 4, 2),
]


def run_query_by_name(prefix_dir, work):
    """The installed binary, from a directory with no queries/ anywhere near."""
    binary = os.path.join(prefix_dir, "bin", "mstream")
    inp = os.path.join(work, "in")
    os.makedirs(inp)
    with open(os.path.join(inp, "part-00000-of-00001.csv"), "w") as f:
        for t, etype, cls in ROWS:
            f.write("%d,,6000,0,7,%d,user,%d,2,0.1,0.1,0.0,0\n" % (t, etype, cls))

    def mstream(chk, out):
        return run([binary, "--input-dir", inp, "--checkpoint-dir", os.path.join(work, chk),
                    "--query", "task_events_by_class", "--available-now",
                    "--metrics-addr", "127.0.0.1:0", "--sink", "json:" + os.path.join(work, out)],
                   timeout=60, cwd=work)

    r = mstream("chk1", "out1")
    check(r.returncode == 0, "installed mstream --query task_events_by_class: exit %d\n%s"
          % (r.returncode, r.stderr))
    sink = os.path.join(work, "out1", "task_events_by_class", "batch-%020d.json" % 0)
    got = {}
    for line in open(sink):
        row = json.loads(line)
        got[(row["scheduling_class"], row["event_type"])] = row["events"]
    want = {(1, "SUBMIT"): 2, (1, "SCHEDULE"): 1, (3, "SUBMIT"): 1, (2, "FINISH"): 1}
    check(got == want, "task_events_by_class counted %r, expected %r" % (got, want))
    # Without the installed file the same name must not resolve: the first run
    # found it under share/mstream/queries.
    q = os.path.join(prefix_dir, "share", "mstream", "queries", "task_events_by_class.sql")
    saved = q + ".moved"
    os.rename(q, saved)
    try:
        r = mstream("chk2", "out2")
    finally:
        os.rename(saved, q)
    check(r.returncode == 2 and "task_events_by_class" in r.stderr,
          "with %s removed, expected exit 2 naming the query; got %d\n%s"
          % (q, r.returncode, r.stderr))
    print("query by name ok: %s found under share/mstream/queries" % "task_events_by_class")


def help_options(binary):
    """(names, aliases) of `binary --help`: names as printed (--x, -X)."""
    r = run([binary, "--help"])
    check(r.returncode == 0, "%s --help: exit %d" % (binary, r.returncode))
    names, aliases = [], []
    section = r.stdout.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    for line in section.split("\n"):
        m = re.match(r"^ +\(alias (--[A-Za-z0-9]+)\)$", line)
        if m:
            aliases.append(m.group(1))
            continue
        m = re.match(r"^  ((?:-[A-Za-z], )?--[a-z0-9-]+|-[A-Za-z])\b", line)
        check(m, "cannot read this --help line: %r" % line)
        names.append(m.group(1).split(", ")[-1])
    check(len(names) >= 10, "only %d options in %s --help" % (len(names), binary))
    return names, aliases


def render_man(page):
    env = dict(os.environ, MANWIDTH="200", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
    if shutil.which("man"):
        r = run(["man", "-l", page], env=env)
        how = "man -l"
    elif shutil.which("groff"):
        r = run(["groff", "-man", "-Tutf8", "-rLL=200n", page], env=env)
        how = "groff"
    else:
        r = run(["mandoc", "-Tutf8", page], env=env)
        how = "mandoc"
    check(r.returncode == 0 and r.stdout,
          "%s %s: exit %d\n%s" % (how, page, r.returncode, r.stderr))
    text = re.sub(r".\x08", "", r.stdout)  # overstrike bold/underline, if any
    if shutil.which("groff"):
        w = run(["groff", "-man", "-Tutf8", "-ww", "-z", page], env=env)
        check(w.returncode == 0 and not w.stderr.strip(),
              "groff warns about %s:\n%s" % (page, w.stderr))
    return how, text


def check_man(prefix_dir):
    page = os.path.join(prefix_dir, "share", "man", "man1", "mstream.1")
    binary = os.path.join(prefix_dir, "bin", "mstream")
    how, text = render_man(page)
    names, aliases = help_options(binary)
    check("MSTREAM(1)" in text, "%s does not render a MSTREAM(1) page" % how)
    sections = re.split(r"\n(?=[A-Z][A-Z ]+\n)", text)
    opts = [s for s in sections if s.startswith("OPTIONS\n")]
    check(opts, "the rendered page has no OPTIONS section")
    headers = re.findall(r"^ {7}((?:-[A-Za-z], )?--?[A-Za-z0-9-]+)", opts[0], re.M)
    shown = [h.split(", ")[-1] for h in headers]
    check(shown == names, "man page options %r differ from --help %r" % (shown, names))
    shown_alias = re.findall(r"Alias: (--[A-Za-z0-9]+)", opts[0])
    check(shown_alias == aliases, "man page aliases %r differ from --help %r"
          % (shown_alias, aliases))
    known = set(names) | set(aliases) | {"--help", "--version"}
    named = set(re.findall(r"(?<![\w-])(--[a-zA-Z][a-zA-Z0-9-]*)", text))
    unknown = sorted(named - known)
    check(not unknown, "the man page names options that --help does not know: %s" % unknown)
    version = run([binary, "--version"]).stdout.split(" (")[0].strip()
    check(version in text.strip().split("\n")[-1],
          "the man page footer does not carry %r:\n%s" % (version, text.strip()[-200:]))
    print("man page ok (%s): %d options, %d aliases, %s" % (how, len(names), len(aliases), version))


def test_install(src, build, work):
    dest = os.path.join(work, "dest")
    env = dict(os.environ, DESTDIR=dest)
    r = run(["cmake", "--install", build, "--prefix", "/usr/local"], env=env, timeout=120)
    check(r.returncode == 0, "cmake --install: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    prefix_dir = dest + "/usr/local"
    check_layout(prefix_dir, src)
    run_query_by_name(prefix_dir, os.path.join(work, "run"))
    check_man(prefix_dir)


DEB_DEPENDS = ("librocksdb", "librdkafka", "libmicrohttpd", "zlib1g", "libc6")


def test_deb(src, build, work):
    out = os.path.join(work, "pkg")
    r = run(["cpack", "-G", "DEB", "-B", out, "--config",
             os.path.join(build, "CPackConfig.cmake")], timeout=600)
    check(r.returncode == 0, "cpack -G DEB: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    debs = glob.glob(os.path.join(out, "*.deb"))
    check(len(debs) == 1, "cpack made %r, expected one .deb" % debs)
    deb = debs[0]
    fields = {f: run(["dpkg-deb", "-f", deb, f]).stdout.strip()
              for f in ("Package", "Version", "Depends", "Architecture")}
    print("package: %s" % fields)
    check(fields["Package"] == "mstream", "Package is %r" % fields["Package"])
    deps = [d.strip().split(" ")[0] for d in fields["Depends"].split(",")]
    for lib in DEB_DEPENDS:
        check(any(d.startswith(lib) for d in deps),
              "Depends %r names no %s* package" % (fields["Depends"], lib))
    root = os.path.join(work, "root")
    r = run(["dpkg-deb", "-x", deb, root])
    check(r.returncode == 0, "dpkg-deb -x: %s" % r.stderr)
    check_layout(os.path.join(root, "usr"), src)
    run_query_by_name(os.path.join(root, "usr"), os.path.join(work, "run"))
    check_man(os.path.join(root, "usr"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("what", choices=("install", "deb"))
    a = ap.parse_args()
    src, build = os.path.abspath(a.source_dir), os.path.abspath(a.build_dir)
    work = tempfile.mkdtemp(prefix="ms-install-")
    ok = False
    try:
        (test_install if a.what == "install" else test_deb)(src, build, work)
        ok = True
    except Fail as e:
        print("FAILED: %s" % e)
    except subprocess.TimeoutExpired as e:
        print("FAILED: %s timed out after %.0f s" % (e.cmd, e.timeout))
    finally:
        if a.keep or not ok:
            print("work dir kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (ok, not ok))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
