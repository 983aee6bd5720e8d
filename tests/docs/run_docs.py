#!/usr/bin/env python3
"""Runs the shell examples of a Markdown document, so the docs cannot rot.

    run_docs.py --source-dir SRC --build-dir BUILD [--keep] [--list] DOC.md...

The convention (docs/testing.md, "Documentation examples"):

  ```sh            run by this script (also ```bash and ```shell)
  ```sh no-run     shown, never run: the surrounding text says why (docker,
                   the whole test suite, a 1 GB benchmark, a server in the
                   foreground); this script only checks the fence
  ```text output   the expected stdout of the ```sh block just above it:
                   lines compare exactly (trailing blanks ignored), a line
                   that is only `...` matches any number of lines, and `...`
                   inside a line matches any text there
  ```console, ```text, ```sql, ... are never run

Each document runs in its own scratch copy of the source tree (SRC without
.git, build*/ and tmp/), with `build` a symbolic link to BUILD, TMPDIR inside
the scratch directory and MS_KAFKA_STATE unset, so its commands run exactly
as written from a checkout.  All runnable blocks of a document run in order
in ONE bash session (`set -eo pipefail`), so a variable or a background job
of one block is there in the next, as in a reader's terminal.  A block
fails when a command in it fails, when its output does not match its
`text output` block, or when it runs longer than its timeout (`sh
timeout=SECONDS`, default 120).

Isolation: where the kernel allows it (root, or unprivileged user
namespaces), the session runs in a private network namespace with only a
loopback interface, so the documented fixed port 4040 cannot clash with
anything else on the machine.  The session is the leader of its own
process group: at the end (or on failure, timeout or SIGTERM) that group
gets SIGTERM, then SIGKILL after a bounded wait, and a Kafka broker the
document started with tests/kafka/kafka_broker.sh (which detaches it into
its own session) is stopped through that script's state file.  Nothing
else is ever signalled.

A document whose runnable blocks start a Kafka broker must say so on a line
of its own, `<!-- docs-test: kafka -->`, so ctest gives its test the kafka
fixture (jars resolved) and the broker lock (tests/docs/CMakeLists.txt).

Static checks on every document: fences are closed, info strings are known,
every `text output` block follows a runnable block, and every relative link
`[...](path)` names a file or directory of the repository.

Exit status: 0 all blocks passed, 1 a check failed, 2 usage error.
"""
import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

RUN_LANGS = {"sh", "bash", "shell"}
KNOWN_ATTRS = {"no-run", "output"}
DEFAULT_TIMEOUT = 120.0
KAFKA_MARKER = "<!-- docs-test: kafka -->"
FENCE = re.compile(r"^( *)(`{3,}|~{3,})\s*(.*)$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
DONE = "__MS_DOCS_BLOCK_DONE__"


class DocError(Exception):
    pass


class Block:
    def __init__(self, doc, line, lang, attrs, text):
        self.doc, self.line, self.lang, self.attrs, self.text = doc, line, lang, attrs, text
        self.expected = None  # lines of the `text output` block that follows, if any

    @property
    def runnable(self):
        return self.lang in RUN_LANGS and "no-run" not in self.attrs

    @property
    def timeout(self):
        scale = float(os.environ.get("MS_TEST_TIMEOUT_SCALE") or
                      os.environ.get("MS_TEST_TIMEOUT_SCALE_DEFAULT") or 1)
        return float(self.attrs.get("timeout", DEFAULT_TIMEOUT)) * scale

    def where(self):
        return "%s:%d" % (self.doc, self.line)


def parse_blocks(path, rel):
    """Every fenced block of a Markdown file, with the info string parsed."""
    blocks = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    prev_runnable = None
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3).strip()
        start = i + 1
        body = []
        i += 1
        while i < len(lines):
            c = re.match(r"^ *(%s%s*)\s*$" % (re.escape(fence[0]), re.escape(fence[0])), lines[i])
            if c and len(c.group(1)) >= len(fence):
                break
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        else:
            raise DocError("%s:%d: the fenced block opened here is never closed" % (rel, start))
        i += 1
        words = info.split()
        lang = words[0] if words else ""
        attrs = {}
        for w in words[1:]:
            k, _, v = w.partition("=")
            attrs[k] = v
        if lang in RUN_LANGS or "output" in attrs:
            unknown = set(attrs) - KNOWN_ATTRS - {"timeout"}
            if unknown:
                raise DocError("%s:%d: unknown attribute(s) %s in '```%s' (known: no-run, "
                               "timeout=SECONDS, and 'text output')"
                               % (rel, start, ", ".join(sorted(unknown)), info))
            if "timeout" in attrs:
                try:
                    float(attrs["timeout"])
                except ValueError:
                    raise DocError("%s:%d: timeout=%s is not a number of seconds"
                                   % (rel, start, attrs["timeout"]))
        b = Block(rel, start, lang, attrs, "\n".join(body) + "\n")
        if "output" in attrs:
            if lang != "text":
                raise DocError("%s:%d: an expected output block is written '```text output'"
                               % (rel, start))
            if prev_runnable is None:
                raise DocError("%s:%d: '```text output' must follow a runnable ```sh block"
                               % (rel, start))
            prev_runnable.expected = body
            prev_runnable = None
        elif b.runnable:
            prev_runnable = b
        else:
            prev_runnable = None
        blocks.append(b)
    return blocks


def check_links(path, rel, src):
    """Relative links must name something in the repository."""
    errors = []
    text = open(path, encoding="utf-8").read()
    # Links inside fenced blocks are code, not links.
    text = re.sub(r"(?ms)^ *(`{3,}|~{3,}).*?^ *\1 *$", "", text)
    for m in LINK.finditer(text):
        target = m.group(1) or m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        target = target.split("#", 1)[0]
        full = os.path.normpath(os.path.join(os.path.dirname(path), target))
        if not os.path.exists(full):
            line = text.count("\n", 0, m.start()) + 1
            errors.append("%s: link to %s, which is not in the repository (near line %d)"
                          % (rel, target, line))
    return errors


def match_output(expected, actual):
    """Doctest-like: exact lines, `...` lines match any run of lines, `...` in a
    line matches any text.  Returns None when it matches, else a message."""
    exp = [line.rstrip() for line in expected]
    act = [line.rstrip() for line in actual.split("\n")]
    while exp and not exp[-1]:
        exp.pop()
    while act and not act[-1]:
        act.pop()

    def line_re(e):
        return re.compile("^" + ".*".join(re.escape(p) for p in e.split("...")) + "$")

    pats = [None if e.strip() == "..." else line_re(e) for e in exp]
    memo = {}

    def m(i, j):
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(pats):
            r = j == len(act)
        elif pats[i] is None:
            r = any(m(i + 1, k) for k in range(j, len(act) + 1))
        else:
            r = j < len(act) and bool(pats[i].match(act[j])) and m(i + 1, j + 1)
        memo[key] = r
        return r

    if m(0, 0):
        return None
    return ("expected output:\n" + "\n".join("  | " + e for e in exp) +
            "\nactual output:\n" + "\n".join("  | " + a for a in act))


def can_unshare_net():
    try:
        r = subprocess.run(["unshare", "--net", "--", "ip", "link", "set", "lo", "up"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=20)
        if r.returncode == 0:
            return ["unshare", "--net", "--"]
        r = subprocess.run(["unshare", "--net", "--map-root-user", "--", "ip", "link", "set",
                            "lo", "up"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=20)
        if r.returncode == 0:
            return ["unshare", "--net", "--map-root-user", "--"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return None


def scratch_copy(src, dest, build):
    def ignore(d, names):
        top = os.path.abspath(d) == os.path.abspath(src)
        out = {n for n in names if n in (".git", "__pycache__") or n.endswith(".pyc")}
        if top:
            out |= {n for n in names if n.startswith("build") or n == "tmp"}
        return out

    shutil.copytree(src, dest, symlinks=True, ignore=ignore)
    os.symlink(os.path.abspath(build), os.path.join(dest, "build"))
    for d in ("tmp/stream_in", "tmp/chk"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)


class Session:
    """One bash process that runs the blocks of a document in order."""

    def __init__(self, workdir, scratch, netns):
        self.workdir, self.scratch = workdir, scratch
        env = {k: v for k, v in os.environ.items()
               if k not in ("MS_KAFKA_STATE", "BASH_ENV", "ENV", "CDPATH")}
        env["TMPDIR"] = os.path.join(scratch, "tmpdir")
        os.makedirs(env["TMPDIR"], exist_ok=True)
        cmd = ["bash", "--noprofile", "--norc"]
        if netns:
            cmd = netns + ["bash", "-c", "ip link set lo up && exec bash --noprofile --norc"]
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pgid = self.proc.pid
        self.buf = b""
        self.send("set -eo pipefail\n")

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, n, block):
        bdir = os.path.join(self.scratch, "blocks")
        os.makedirs(bdir, exist_ok=True)
        script = os.path.join(bdir, "%02d.sh" % n)
        out, err = script[:-3] + ".out", script[:-3] + ".err"
        with open(script, "w") as f:
            f.write(block.text)
        self.send("source %s >%s 2>%s </dev/null\necho %s %d\n" % (script, out, err, DONE, n))
        deadline = time.monotonic() + block.timeout
        status = None
        while status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                status = "timed out after %.0f s" % block.timeout
                break
            r, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    self.proc.wait(timeout=30)
                    status = "a command failed (the session exited with status %d)" % \
                        self.proc.returncode
                    break
                self.buf += chunk
                if ("%s %d\n" % (DONE, n)).encode() in self.buf:
                    self.buf = b""
                    status = "ok"
        read = lambda p: open(p, errors="replace").read() if os.path.exists(p) else ""
        return status, read(out), read(err)

    def close(self):
        """SIGTERM to the session's process group, bounded wait, then SIGKILL."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.pgid, 0)
                except ProcessLookupError:
                    break
                if self.proc.poll() is None:
                    try:
                        self.proc.wait(timeout=0.1)
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    time.sleep(0.1)
            else:
                continue
            break
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


def stop_kafka(workdir, netns):
    """A broker the document started: stop exactly it, through its state file."""
    state = os.path.join(workdir, "tmp", "kafka-broker.state")
    if not os.path.exists(state):
        return
    print("docs: stopping the Kafka broker of %s" % state, flush=True)
    cmd = [os.path.join(workdir, "tests", "kafka", "kafka_broker.sh"), "stop", "--state", state]
    subprocess.run(cmd, cwd=workdir, stdin=subprocess.DEVNULL, timeout=120)


def run_doc(src, build, rel, keep, netns):
    path = os.path.join(src, rel)
    blocks = parse_blocks(path, rel)
    errors = check_links(path, rel, src)
    if errors:
        raise DocError("\n".join(errors))
    runnable = [b for b in blocks if b.runnable]
    text = open(path, encoding="utf-8").read()
    if any("kafka_broker.sh start" in b.text for b in runnable) and KAFKA_MARKER not in text:
        raise DocError("%s: a runnable block starts a Kafka broker; add the line %s so its "
                       "test gets the kafka fixture and the broker lock" % (rel, KAFKA_MARKER))
    skipped = sum(1 for b in blocks if b.lang in RUN_LANGS and not b.runnable)
    print("docs: %s: %d runnable block(s), %d marked no-run" % (rel, len(runnable), skipped),
          flush=True)
    if not runnable:
        return
    scratch = tempfile.mkdtemp(prefix="ms-docs-")
    workdir = os.path.join(scratch, "checkout")
    scratch_copy(src, workdir, build)
    session = Session(workdir, scratch, netns)
    ok = False
    try:
        for n, b in enumerate(runnable, 1):
            t0 = time.monotonic()
            status, out, err = session.run(n, b)
            failed = status != "ok"
            mismatch = None if failed or b.expected is None else match_output(b.expected, out)
            if failed or mismatch:
                msg = ["%s: block %d FAILED: %s" % (b.where(), n, status if failed else
                                                     "its output differs from the text output "
                                                     "block below it"),
                       "block:"] + ["  $ " + line for line in b.text.rstrip("\n").split("\n")]
                if mismatch:
                    msg.append(mismatch)
                else:
                    msg.append("stdout:")
                    msg += ["  | " + line for line in out.rstrip("\n").split("\n")[-40:]]
                msg.append("stderr (last 40 lines):")
                msg += ["  | " + line for line in err.rstrip("\n").split("\n")[-40:]]
                raise DocError("\n".join(msg))
            print("docs: %s: block %d ok (%.1f s)" % (b.where(), n, time.monotonic() - t0),
                  flush=True)
        ok = True
    finally:
        session.close()
        stop_kafka(workdir, netns)
        if keep or not ok:
            print("docs: scratch copy kept in %s" % scratch, flush=True)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the scratch copies")
    ap.add_argument("--list", action="store_true", help="list the blocks, run nothing")
    ap.add_argument("docs", nargs="+", help="documents, relative to --source-dir")
    a = ap.parse_args()
    src = os.path.abspath(a.source_dir)
    for d in a.docs:
        if not os.path.isfile(os.path.join(src, d)):
            print("run_docs: %s is not a file under %s" % (d, src), file=sys.stderr)
            return 2
    if a.list:
        for d in a.docs:
            for b in parse_blocks(os.path.join(src, d), d):
                if b.lang in RUN_LANGS:
                    print("%s %s%s" % (b.where(), "run" if b.runnable else "no-run",
                                       " (+output)" if b.expected is not None else ""))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # finally: clauses still clean up
    netns = can_unshare_net()
    if not netns:
        print("docs: no private network namespace here (unshare --net refused); the "
              "examples use the machine's loopback", flush=True)
    failed = 0
    for d in a.docs:
        try:
            run_doc(src, a.build_dir, d, a.keep, netns)
        except DocError as e:
            print(str(e), flush=True)
            failed += 1
    passed = len(a.docs) - failed
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
