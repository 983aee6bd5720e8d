#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft mode, one node) for mstream's tests.
#
#   kafka_broker.sh start  [--state FILE] [--fresh] [--reuse]
#   kafka_broker.sh stop   [--state FILE] [--keep]
#   kafka_broker.sh status [--state FILE]
#   kafka_broker.sh create-topics [--state FILE] [--partitions N] TOPIC...
#   kafka_broker.sh jars                       resolve the jars only (prints the lib dir)
#
# start   resolves the Kafka jars with Maven into a cache outside the repository
#         (${MS_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mstream}/kafka-VERSION/lib,
#         reused across runs), formats KRaft storage in a fresh temp dir, starts
#         kafka.Kafka on 127.0.0.1 (free ports for the broker and the controller),
#         waits until it serves metadata (kcat -L, bounded in polls and time), then
#         prints `bootstrap=127.0.0.1:PORT` and writes the state file:
#             bootstrap=127.0.0.1:PORT   pid=PID   dir=TEMPDIR   port=...
#             controller_port=...   version=...   status=running|kept
#         If the state file names a broker that is still running, start reuses it
#         (prints its bootstrap, exit 0); with --fresh it stops that broker first and
#         starts a new one.  A state file left by a dead broker is cleaned up.
# stop    TERM to exactly the pid of the state file (after checking that pid is
#         still our java with our temp dir), waits (bounded), then KILL; removes
#         the temp dir and the state file.  With --keep the data dir, the ports and
#         the state file (status=kept) stay, and `start --reuse` brings the same
#         broker back (same data, same port): a "broker restart" for fault tests.
# create-topics  creates each TOPIC that does not exist yet on the running broker
#         (N partitions, default $MS_KAFKA_PARTITIONS; replication factor 1) with
#         Kafka's own TopicCommand, then prints `topic=NAME partitions=P` for each
#         (an existing topic keeps its partitions: P shows what it has).
#
# The state file defaults to $MS_KAFKA_STATE, else tmp/kafka-broker.state in this
# checkout (gitignored), so brokers started from two checkouts never share one.
# Environment: MS_KAFKA_VERSION (default 3.7.2), MS_KAFKA_HEAP (default 512m),
# MS_KAFKA_START_TIMEOUT (seconds, default 120), MS_KAFKA_PARTITIONS (default 4).
#
# Exit status: 0 ok, 1 failure (with a message saying what is missing or what
# went wrong), 2 usage error.  Nothing is ever skipped: a machine without Java,
# Maven or kcat gets an error naming the Debian packages to install.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=${MS_KAFKA_VERSION:-3.7.2}
HEAP=${MS_KAFKA_HEAP:-512m}
START_TIMEOUT=${MS_KAFKA_START_TIMEOUT:-120}
PARTITIONS=${MS_KAFKA_PARTITIONS:-4}
CACHE_ROOT=${MS_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mstream}
LIB=$CACHE_ROOT/kafka-$VERSION/lib
STATE=${MS_KAFKA_STATE:-$(cd "$HERE/../.." && pwd)/tmp/kafka-broker.state}

say() { printf 'kafka_broker: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

need_tools() { # need_tools TOOL... : fail with the Debian package names of what is missing
  local missing=() pkgs=()
  for t in "$@"; do
    if ! command -v "$t" >/dev/null 2>&1; then
      missing+=("$t")
      case $t in
        java) pkgs+=(default-jre-headless) ;;
        mvn) pkgs+=(maven) ;;
        kcat) pkgs+=(kcat) ;;
        python3) pkgs+=(python3) ;;
        *) pkgs+=("$t") ;;
      esac
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    die "missing: ${missing[*]}. The Kafka tests need them; on Debian/Ubuntu: sudo apt-get install ${pkgs[*]} (./dev.sh deps installs everything the tests use)"
  fi
}

# ---------------------------------------------------------------------------
# jars

jars_complete() { # the broker's jars and Kafka's command-line tools (TopicCommand)
  [ -f "$LIB/.complete" ] && [ -f "$LIB/kafka-tools-$VERSION.jar" ]
}

resolve_jars() {
  if jars_complete; then
    return 0
  fi
  need_tools java mvn
  mkdir -p "$CACHE_ROOT"
  local tmp
  tmp=$(mktemp -d "$CACHE_ROOT/.kafka-$VERSION.XXXXXX")
  say "resolving Apache Kafka $VERSION jars from Maven Central into $LIB (first run only)"
  if ! mvn -B -q -f "$HERE/pom.xml" -Dkafka.version="$VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" \
      >"$tmp/mvn.log" 2>&1; then
    tail -n 40 "$tmp/mvn.log" >&2 || true
    rm -rf "$tmp"
    die "mvn could not resolve org.apache.kafka:kafka_2.13:$VERSION (log above)"
  fi
  if ! ls "$tmp/lib/kafka_2.13-$VERSION.jar" "$tmp/lib/kafka-tools-$VERSION.jar" >/dev/null 2>&1; then
    rm -rf "$tmp"
    die "mvn finished but kafka_2.13-$VERSION.jar or kafka-tools-$VERSION.jar is not in the resolved jars"
  fi
  touch "$tmp/lib/.complete"
  mkdir -p "$CACHE_ROOT/kafka-$VERSION"
  if [ -f "$LIB/.complete" ]; then
    # A lib dir from before the tools jar was added (or another start won the
    # race): only add what it lacks, never replace jars a running broker uses.
    cp -n "$tmp"/lib/*.jar "$LIB"/
    rm -rf "$tmp"
  else
    rm -rf "$LIB"
    mv "$tmp/lib" "$LIB"
    rm -rf "$tmp"
  fi
}

# ---------------------------------------------------------------------------
# state file

state_get() { # state_get KEY -> value or empty
  [ -f "$STATE" ] || return 0
  sed -n "s/^$1=//p" "$STATE" | tail -n 1
}

write_state() { # write_state STATUS
  local tmp="$STATE.tmp.$$"
  {
    echo "bootstrap=127.0.0.1:$PORT"
    echo "pid=$PID"
    echo "dir=$DIR"
    echo "port=$PORT"
    echo "controller_port=$CPORT"
    echo "version=$VERSION"
    echo "status=$1"
  } >"$tmp"
  mv "$tmp" "$STATE"
}

is_our_broker() { # is_our_broker PID DIR: PID is alive and is kafka.Kafka with DIR's config
  local pid=$1 dir=$2
  [ -n "$pid" ] && [ -n "$dir" ] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *kafka.Kafka* && $cmd == *"$dir/server.properties"* ]]
}

serves_metadata() { # serves_metadata ADDR
  local out
  out=$(kcat -L -b "$1" -m 2 2>/dev/null) || return 1
  [[ $out == *"1 brokers:"* ]]
}

# ---------------------------------------------------------------------------
# ports

free_ports() { # prints two distinct free loopback TCP ports
  python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

port_free() { # port_free PORT: nothing listens on 127.0.0.1:PORT
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------
# configuration of one broker

write_config() {
  mkdir -p "$DIR/data" "$DIR/logs"
  cat >"$DIR/server.properties" <<EOF
# Written by kafka_broker.sh: one KRaft node that is broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=$PARTITIONS
default.replication.factor=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
# Small segments and retention suit tests (a few hundred MB at most on disk).
log.segment.bytes=16777216
log.retention.bytes=268435456
log.retention.hours=2
log.retention.check.interval.ms=60000
log.flush.interval.messages=9223372036854775807
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
message.max.bytes=4194304
EOF
  cat >"$DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/logs/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
EOF
}

java_opts() {
  echo "-Xmx$HEAP -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true" \
       "-Dlog4j.configuration=file:$DIR/log4j.properties -Dkafka.logs.dir=$DIR/logs"
}

format_storage() {
  local id
  # shellcheck disable=SC2046
  id=$(java $(java_opts) -cp "$LIB/*" kafka.tools.StorageTool random-uuid 2>>"$DIR/logs/format.log") \
    || die "kafka.tools.StorageTool random-uuid failed (see $DIR/logs/format.log)"
  # shellcheck disable=SC2046
  java $(java_opts) -cp "$LIB/*" kafka.tools.StorageTool format -t "$id" \
      -c "$DIR/server.properties" >>"$DIR/logs/format.log" 2>&1 \
    || { tail -n 20 "$DIR/logs/format.log" >&2; die "formatting KRaft storage in $DIR/data failed"; }
}

launch() { # starts kafka.Kafka in its own session; sets PID
  # stdin/stdout/stderr are files: the broker must not hold ctest's pipes open.
  # shellcheck disable=SC2046
  setsid java $(java_opts) -cp "$LIB/*" kafka.Kafka "$DIR/server.properties" \
    </dev/null >>"$DIR/logs/stdout.log" 2>&1 9>&- &
  PID=$!
  # setsid execs in place when it is not a group leader (always the case in a
  # non-interactive script), so $! is the JVM itself; make sure of it.
  local i
  for i in $(seq 1 50); do
    if is_our_broker "$PID" "$DIR"; then
      return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
  die "could not start kafka.Kafka (pid $PID is not the broker); see $DIR/logs/stdout.log"
}

log_tail() {
  say "last lines of $DIR/logs/server.log and stdout.log:"
  tail -n 25 "$DIR/logs/server.log" 2>/dev/null | sed 's/^/  | /' >&2 || true
  tail -n 10 "$DIR/logs/stdout.log" 2>/dev/null | sed 's/^/  | /' >&2 || true
}

wait_ready() { # bounded in polls and time; fails if the JVM dies
  local deadline=$((SECONDS + START_TIMEOUT)) polls=$((START_TIMEOUT * 4 + 10)) i
  for ((i = 0; i < polls; i++)); do
    if ! kill -0 "$PID" 2>/dev/null; then
      log_tail
      return 1
    fi
    if serves_metadata "127.0.0.1:$PORT"; then
      return 0
    fi
    [ $SECONDS -ge $deadline ] && break
    sleep 0.25
  done
  log_tail
  say "the broker did not serve metadata on 127.0.0.1:$PORT within ${START_TIMEOUT}s"
  return 2
}

terminate() { # terminate PID DIR: TERM, bounded wait, KILL; only if it is our broker
  local pid=$1 dir=$2 i
  if ! is_our_broker "$pid" "$dir"; then
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do # 30 s: a clean KRaft shutdown takes a few seconds
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "broker pid $pid did not stop within 30 s of SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "broker pid $pid survived SIGKILL"
}

remove_dir() { # only directories this script created (name pattern) are removed
  local d=$1
  case $d in
    */mstream-kafka.*) rm -rf -- "$d" ;;
    "") ;;
    *) say "not removing $d: not a directory made by kafka_broker.sh" ;;
  esac
}

# ---------------------------------------------------------------------------
# commands

cmd_start() {
  local fresh=0 reuse=0
  while [ $# -gt 0 ]; do
    case $1 in
      --state) STATE=$2; shift 2 ;;
      --state=*) STATE=${1#*=}; shift ;;
      --fresh) fresh=1; shift ;;
      --reuse) reuse=1; shift ;;
      *) say "start: unknown argument '$1'"; usage ;;
    esac
  done
  need_tools java python3 kcat
  mkdir -p "$(dirname "$STATE")"
  STATE=$(cd "$(dirname "$STATE")" && pwd)/$(basename "$STATE")
  # One start at a time per state file.
  exec 9>"$STATE.lock"
  flock -w 600 9 || die "another kafka_broker.sh holds $STATE.lock"

  local opid odir ostatus
  opid=$(state_get pid) odir=$(state_get dir) ostatus=$(state_get status)
  if [ -n "$odir" ]; then
    if is_our_broker "$opid" "$odir" && [ "$fresh" -eq 0 ]; then
      if serves_metadata "$(state_get bootstrap)"; then
        say "reusing the running broker pid $opid ($STATE)"
        echo "bootstrap=$(state_get bootstrap)"
        return 0
      fi
      say "broker pid $opid is alive but does not serve metadata; restarting it"
      fresh=1
    fi
    if [ "$reuse" -eq 1 ] && [ "$ostatus" = kept ] && [ -d "$odir/data" ]; then
      # Same data dir, same ports: the broker comes back as it was.
      DIR=$odir PORT=$(state_get port) CPORT=$(state_get controller_port)
      VERSION=$(state_get version) LIB=$CACHE_ROOT/kafka-$VERSION/lib
      resolve_jars
      port_free "$PORT" || die "port $PORT of the kept broker is taken by another process"
      launch
      write_state running
      if ! wait_ready; then
        terminate "$PID" "$DIR"
        write_state kept
        die "the kept broker in $DIR did not come back"
      fi
      say "restarted broker pid $PID on 127.0.0.1:$PORT with the data of $DIR"
      echo "bootstrap=127.0.0.1:$PORT"
      return 0
    fi
    if [ "$reuse" -eq 1 ]; then
      die "--reuse: $STATE does not describe a stopped (kept) broker with its data dir"
    fi
    if [ "$ostatus" = kept ] && [ "$fresh" -eq 0 ]; then
      die "$STATE describes a stopped broker kept in $odir: use 'start --reuse' to restart it, 'start --fresh' to discard it, or 'stop' to remove it"
    fi
    # Stale (dead) or --fresh: stop exactly that broker and remove its dir.
    terminate "$opid" "$odir"
    remove_dir "$odir"
    rm -f "$STATE"
  elif [ "$reuse" -eq 1 ]; then
    die "--reuse: no kept broker in $STATE"
  fi

  resolve_jars
  local attempt
  for attempt in 1 2 3; do
    read -r PORT CPORT < <(free_ports)
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/mstream-kafka.XXXXXX")
    write_config
    format_storage
    launch
    write_state running
    local rc=0
    wait_ready || rc=$?
    if [ $rc -eq 0 ]; then
      say "broker pid $PID serving on 127.0.0.1:$PORT (dir $DIR, state $STATE)"
      echo "bootstrap=127.0.0.1:$PORT"
      return 0
    fi
    terminate "$PID" "$DIR"
    rm -f "$STATE"
    if [ $rc -eq 1 ] && grep -q "Address already in use" "$DIR/logs/server.log" "$DIR/logs/stdout.log" 2>/dev/null \
       && [ "$attempt" -lt 3 ]; then
      say "port race (address in use); trying other ports"
      remove_dir "$DIR"
      continue
    fi
    remove_dir "$DIR"
    die "the broker did not start"
  done
}

cmd_stop() {
  local keep=0
  while [ $# -gt 0 ]; do
    case $1 in
      --state) STATE=$2; shift 2 ;;
      --state=*) STATE=${1#*=}; shift ;;
      --keep) keep=1; shift ;;
      *) say "stop: unknown argument '$1'"; usage ;;
    esac
  done
  if [ ! -f "$STATE" ]; then
    say "nothing to stop ($STATE does not exist)"
    return 0
  fi
  local pid dir
  pid=$(state_get pid) dir=$(state_get dir)
  terminate "$pid" "$dir"
  if [ "$keep" -eq 1 ]; then
    PID=$pid DIR=$dir PORT=$(state_get port) CPORT=$(state_get controller_port)
    VERSION=$(state_get version)
    write_state kept
    say "stopped broker pid $pid; data kept in $dir ('start --reuse' restarts it)"
  else
    remove_dir "$dir"
    rm -f "$STATE" "$STATE.lock"
    say "stopped broker pid ${pid:-?} and removed ${dir:-nothing}"
  fi
}

cmd_status() {
  while [ $# -gt 0 ]; do
    case $1 in
      --state) STATE=$2; shift 2 ;;
      --state=*) STATE=${1#*=}; shift ;;
      *) usage ;;
    esac
  done
  [ -f "$STATE" ] || { say "no broker ($STATE does not exist)"; return 1; }
  cat "$STATE"
  if is_our_broker "$(state_get pid)" "$(state_get dir)"; then
    if serves_metadata "$(state_get bootstrap)"; then echo "alive=serving"; else echo "alive=not-serving"; fi
  else
    echo "alive=no"
    return 1
  fi
}

cmd_create_topics() {
  local partitions=$PARTITIONS topics=()
  while [ $# -gt 0 ]; do
    case $1 in
      --state) STATE=$2; shift 2 ;;
      --state=*) STATE=${1#*=}; shift ;;
      --partitions) partitions=$2; shift 2 ;;
      --partitions=*) partitions=${1#*=}; shift ;;
      -*) say "create-topics: unknown argument '$1'"; usage ;;
      *) topics+=("$1"); shift ;;
    esac
  done
  [ ${#topics[@]} -gt 0 ] || { say "create-topics: name at least one topic"; usage; }
  [[ $partitions =~ ^[1-9][0-9]{0,4}$ ]] || { say "create-topics: --partitions must be 1..99999, not '$partitions'"; usage; }
  need_tools java kcat
  [ -f "$STATE" ] || die "no broker: $STATE does not exist (run 'kafka_broker.sh start' first)"
  local bootstrap t out
  bootstrap=$(state_get bootstrap)
  is_our_broker "$(state_get pid)" "$(state_get dir)" && serves_metadata "$bootstrap" \
    || die "the broker of $STATE is not running (run 'kafka_broker.sh start')"
  VERSION=$(state_get version) LIB=$CACHE_ROOT/kafka-$VERSION/lib
  resolve_jars
  local log4j="$CACHE_ROOT/kafka-$VERSION/tools-log4j.properties"
  if [ ! -f "$log4j" ]; then
    printf '%s\n' 'log4j.rootLogger=WARN, stderr' \
      'log4j.appender.stderr=org.apache.log4j.ConsoleAppender' \
      'log4j.appender.stderr.Target=System.err' \
      'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout' \
      'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n' >"$log4j.$$"
    mv "$log4j.$$" "$log4j"
  fi
  for t in "${topics[@]}"; do
    java -Xmx256m "-Dlog4j.configuration=file:$log4j" -cp "$LIB/*" org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$t" \
      --partitions "$partitions" --replication-factor 1 >&2 \
      || die "could not create topic '$t' on $bootstrap"
  done
  for t in "${topics[@]}"; do
    out=$(kcat -L -b "$bootstrap" -t "$t" -m 10 2>/dev/null) || die "no metadata for topic '$t'"
    [[ $out =~ topic\ \"$t\"\ with\ ([0-9]+)\ partitions ]] || die "topic '$t' is not in the metadata of $bootstrap"
    echo "topic=$t partitions=${BASH_REMATCH[1]}"
  done
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  create-topics) shift; cmd_create_topics "$@" ;;
  jars) resolve_jars; echo "$LIB" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
