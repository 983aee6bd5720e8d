#!/usr/bin/env python3
"""Citations of the design document: every `docs/design.md §n` in the tree
names a section that docs/design.md has, and nothing cites the old,
unshipped "DESIGN §n" or docs/grafana-readme.md.

    design_citations.py --source-dir SRC           check (ctest docs.citations)
    design_citations.py --source-dir SRC --fix     rewrite the old citations first

--fix turns "DESIGN §n" into "docs/design.md §n" in every file git tracks
(docs/design.md keeps the contract's section numbers for exactly this), with
the few refinements below, and docker-compose.yml's docs/grafana-readme.md
into docs/monitoring.md.  It only edits comments' text because that is the
only place the old forms appear; run it again after merging work that still
cites "DESIGN §n", then check.  A section that docs/design.md lacks (the
contract's §3a or §9, say) is reported, not invented: write that section.

Exit status: 0 every citation resolves, 1 some do not (listed), 2 usage.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

# Citations whose better target is a subsection, applied before the general rule.
REFINE = [
    ("DESIGN §2 step 4; Spark's output sinks", "docs/design.md §6.3; Spark's output sinks"),
    ("Result families (DESIGN §6)", "Result families (docs/design.md §6.1)"),
    ("Name rules of DESIGN §3", "Name rules of docs/design.md §3.1"),
]
GENERAL = [
    ("DESIGN §", "docs/design.md §"),
    ("docs/grafana-readme.md", "docs/monitoring.md"),
]
OLD = re.compile(r"DESIGN §|DESIGN\.md|grafana-readme\.md")
CITE = re.compile(r"docs/design\.md ((?:§[0-9]+[a-z]?(?:\.[0-9]+)*(?:, | and |,? ?))+)")
SECTION = re.compile(r"^#{2,4} §([0-9]+[a-z]?(?:\.[0-9]+)*)\s", re.M)
SKIP = ("tests/docs/design_citations.py",)


def tracked_files(src):
    out = subprocess.run(["git", "-C", src, "ls-files", "-z"], stdout=subprocess.PIPE,
                         check=True).stdout.decode()
    files = []
    for rel in out.split("\0"):
        if not rel or rel in SKIP or rel.startswith("tests/fuzz/corpus") or \
                rel.startswith("tests/kafka/corpus"):
            continue
        path = os.path.join(src, rel)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue
        try:
            files.append((rel, path, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--fix", action="store_true")
    a = ap.parse_args()
    src = os.path.abspath(a.source_dir)
    files = tracked_files(src)
    if a.fix:
        changed = 0
        for rel, path, text in files:
            new = text
            for old, rep in REFINE + GENERAL:
                new = new.replace(old, rep)
            if new != text:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
                changed += 1
                print("fixed %s" % rel)
        print("%d file(s) rewritten" % changed)
        # A longer citation may push a comment past the column limit: let the
        # committed .clang-format reflow the C files that changed.
        c_files = [p for rel, p, text in files if rel.endswith((".c", ".h")) and
                   open(p, encoding="utf-8").read() != text]
        if c_files and shutil.which("clang-format"):
            subprocess.run(["clang-format", "-i"] + c_files, check=True)
        files = tracked_files(src)

    design = open(os.path.join(src, "docs", "design.md"), encoding="utf-8").read()
    sections = set(SECTION.findall(design))
    problems, cites = [], 0
    for rel, _, text in files:
        for m in OLD.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            problems.append("%s:%d: cites %r, which is not in the repository (run with --fix)"
                            % (rel, line, m.group(0)))
        for m in CITE.finditer(text):
            for sec in re.findall(r"§([0-9]+[a-z]?(?:\.[0-9]+)*)", m.group(1)):
                cites += 1
                if sec not in sections:
                    line = text.count("\n", 0, m.start()) + 1
                    problems.append("%s:%d: cites docs/design.md §%s, a section docs/design.md "
                                    "does not have (it has %s)"
                                    % (rel, line, sec, ", ".join(sorted(sections))))
    for p in problems:
        print(p)
    print("%d citation(s) of docs/design.md checked, %d problem(s)" % (cites, len(problems)))
    ok = not problems
    print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
