#!/usr/bin/env bash
# Full benchmark: mstream vs. the bare-loop baseline. See tests/bench/README.md.
#   tests/bench/run_bench.sh [run_bench.py options]    e.g. --bytes 256M --runs 3 --out r.json
# Binaries default to build/mstream and build/tests/bench/ms_{gencorpus,baseline}
# (MSTREAM_BUILD_DIR=DIR for another build dir, or --mstream/--baseline/--gencorpus).
# Environment: BENCH_BYTES (default 1G), BENCH_RUNS (3), BENCH_VERIFY_BYTES (8M), BENCH_OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/run_bench.py" "$@"
