#!/usr/bin/env bash
# mstream developer entry point.  On a fresh Debian/Ubuntu machine:
#
#   ./dev.sh run     install what is missing, build, and run
#                    mstream --inputDir tmp/stream_in --checkpointDir tmp/chk --triggerSec 5
#   ./dev.sh test    install what is missing, build, run the whole suite (ctest),
#                    then build with AddressSanitizer+UBSan and run the suite again
#
# Other commands: deps, build, asan, bench, format, clean.
# Extra arguments after `run` are passed to mstream.
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: compiler and build tools, the C libraries, and what the tests run
# (python3 for the integration tests, prometheus for promtool and a real scrape,
# Java + Maven for the real Kafka broker the Kafka tests start, kcat as an
# independent Kafka client, chromium for the status-page test, docker-compose
# to validate docker-compose.yml, man-db to render the man page, file for
# cpack's dpkg-shlibdeps step, iproute2 for the docs tests' private loopback).
PKGS=(build-essential cmake ninja-build pkg-config
      librdkafka-dev librocksdb-dev libmicrohttpd-dev libcmocka-dev zlib1g-dev libxxhash-dev
      python3 curl)
TEST_PKGS=(prometheus clang-format openjdk-17-jre-headless maven kcat chromium docker-compose
           man-db file iproute2)

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_missing() {
  local missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # The prometheus package enables a system service; the tests start their own
  # Prometheus on a free loopback port, so leave no service running behind.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
}

njobs() { nproc 2>/dev/null || echo 2; }

build() { # build DIR [cmake args...]
  local dir=$1; shift
  say "building in $dir"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$(njobs)"
}

run_tests() { # run_tests DIR [ctest args...]
  local dir=$1; shift
  say "running the test suite in $dir"
  (cd "$dir" && ctest --output-on-failure -j "$(njobs)" "$@")
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  deps)
    install_missing "${PKGS[@]}" "${TEST_PKGS[@]}"
    ;;
  build)
    install_missing "${PKGS[@]}"
    build build
    ;;
  run)
    install_missing "${PKGS[@]}"
    build build
    mkdir -p tmp/stream_in tmp/chk
    say "starting: mstream --inputDir tmp/stream_in --checkpointDir tmp/chk --triggerSec 5 $*"
    say "drop text files into tmp/stream_in; counts at http://127.0.0.1:4040/metrics; Ctrl-C stops"
    exec build/mstream --inputDir tmp/stream_in --checkpointDir tmp/chk --triggerSec 5 "$@"
    ;;
  test)
    install_missing "${PKGS[@]}" "${TEST_PKGS[@]}"
    build build
    run_tests build "$@"
    build build-asan -DMS_SANITIZE=ON
    say "the same suite under AddressSanitizer + UndefinedBehaviorSanitizer"
    MS_TEST_TIMEOUT_SCALE=4 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_tests build-asan -E '^bench_' --timeout 1200 "$@"
    ;;
  asan)
    install_missing "${PKGS[@]}" "${TEST_PKGS[@]}"
    build build-asan -DMS_SANITIZE=ON
    MS_TEST_TIMEOUT_SCALE=4 run_tests build-asan -E '^bench_' "$@"
    ;;
  bench)
    install_missing "${PKGS[@]}"
    build build
    exec tests/bench/run_bench.sh "$@"
    ;;
  format)
    install_missing clang-format
    git ls-files '*.c' '*.h' | xargs clang-format -i
    ;;
  clean)
    rm -rf build build-asan
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
