#!/usr/bin/env bash
# bench_smoke: run the bench on a tiny corpus; pass iff it exits 0 (all runs completed,
# all correctness checks passed) and printed the table with the engine/baseline ratio.
# Timings are never asserted.
# usage: smoke.sh PYTHON RUN_BENCH_PY [run_bench args...]
set -u
py=$1 script=$2
shift 2
out=$(mktemp "${TMPDIR:-/tmp}/bench_smoke.XXXXXX")
trap 'rm -f "$out"' EXIT
"$py" "$script" --bytes 5M --files 4 --runs 1 --verify-bytes 2M --timeout 300 "$@" >"$out"
rc=$?
cat "$out"
if [ "$rc" -ne 0 ]; then
  echo "bench_smoke: run_bench.py exited $rc" >&2
  exit 1
fi
for pat in '^MB/s +[0-9.,]+ +[0-9.,]+$' '^engine/baseline ratio \(MB/s\): [0-9]+\.[0-9]+$' '^checks: all passed$'; do
  if ! grep -Eq "$pat" "$out"; then
    echo "bench_smoke: output lacks a line matching: $pat" >&2
    exit 1
  fi
done
echo "bench_smoke: ok"
