#!/usr/bin/env bash
# A real single-node Elasticsearch 8.19 for tests, run in-JVM from the Maven Central jars (no Docker).
#
#   bash scripts/es.sh start  [--port 9250]   build if needed, start in the background, wait for health
#   bash scripts/es.sh stop   [--port 9250]   SIGTERM, wait (then SIGKILL after ES_STOP_TIMEOUT s)
#   bash scripts/es.sh status [--port 9250]   exit 0 when up and yellow/green, 3 when not running
#   bash scripts/es.sh env    [--port 9250]   print ES_URL=... for `eval`
#
# Environment: JAVA_HOME (a JDK 17+; default: java on PATH), ES_HEAP (max heap, >= 256m; default 1g),
# ES_WORK_DIR (pid, log and data; default ${TMPDIR:-/tmp}/eastwatch-es-PORT), ES_START_TIMEOUT (120),
# ES_STOP_TIMEOUT (30), ES_KEEP_DATA=1 to keep the previous data directory on start.
# Every start wipes the data directory unless ES_KEEP_DATA=1: tests want a known empty cluster.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE="$ROOT/test/elasticsearch"
CP_FILE="$MODULE/target/classpath.txt"
BUILT_STAMP="$MODULE/target/.eastwatch-built"
MAIN_CLASS="org.elasticsearch.node.EastwatchTestNode"

usage() { echo "usage: $0 start|stop|status|env [--port N]" >&2; exit 2; }

CMD="${1:-}"; [ -n "$CMD" ] || usage; shift
PORT="${ES_PORT:-9250}"
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || usage; PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#--port=}"; shift ;;
    *) usage ;;
  esac
done
case "$PORT" in ''|*[!0-9]*) echo "es: --port must be a number, got '$PORT'" >&2; exit 2 ;; esac

WORK="${ES_WORK_DIR:-${TMPDIR:-/tmp}/eastwatch-es-$PORT}"
PID_FILE="$WORK/es.pid"
LOG_FILE="$WORK/es.log"
HOME_DIR="$WORK/home"
URL="http://127.0.0.1:$PORT"

log() { echo "es: $*" >&2; }

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; else command -v java; fi
}

# Feature version of a java binary: "17.0.15" -> 17, "1.8.0_x" -> 8, "25.0.3" -> 25.
java_feature() {
  local v; v="$("$1" -version 2>&1 | head -n 1 | sed -E 's/^[^"]*"([^"]*)".*/\1/')"
  case "$v" in 1.*) v="${v#1.}" ;; esac
  echo "${v%%[.+-]*}"
}

find_libzstd() {
  local f
  f="$(ldconfig -p 2>/dev/null | awk '/libzstd\.so\.1 .*x86-64|libzstd\.so\.1 .*AArch64/ {print $NF; exit}')"
  [ -n "$f" ] && [ -e "$f" ] && { echo "$f"; return 0; }
  for f in /usr/lib/x86_64-linux-gnu/libzstd.so.1 /lib/x86_64-linux-gnu/libzstd.so.1 /usr/lib/aarch64-linux-gnu/libzstd.so.1 /usr/lib64/libzstd.so.1; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

# GET a path on the node; prints the body. curl when present, else bash's /dev/tcp (HTTP/1.0, no keep-alive).
http_get() {
  if command -v curl >/dev/null 2>&1; then
    curl -s --max-time 5 "$URL$1"
  else
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
    sed '1,/^\r$/d' <&3
    exec 3<&-
  fi
}

healthy() {
  local body
  body="$(http_get '/_cluster/health' 2>/dev/null)" || return 1
  case "$body" in *'"status":"green"'*|*'"status":"yellow"'*) return 0 ;; *) return 1 ;; esac
}

# The pid file is trusted only while that pid is still our launcher (pids get reused).
running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid; pid="$(cat "$PID_FILE" 2>/dev/null)"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$MAIN_CLASS" || return 1
  echo "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

build() {
  command -v mvn >/dev/null 2>&1 || { log "mvn not found (Maven 3.8+ is needed to build test/elasticsearch)"; exit 1; }
  # Rebuild only when the sources or the pom changed since the last good build. A stamp of our own:
  # maven-dependency-plugin leaves classpath.txt untouched when its content did not change.
  if [ -s "$CP_FILE" ] && [ -f "$BUILT_STAMP" ] && [ -d "$MODULE/target/classes/org" ] \
     && [ -z "$(find "$MODULE/pom.xml" "$MODULE/src" -newer "$BUILT_STAMP" -print -quit)" ]; then
    return 0
  fi
  rm -f "$BUILT_STAMP"
  local goals=(compile dependency:build-classpath "-Dmdep.outputFile=$CP_FILE")
  if ! (cd "$MODULE" && mvn -q -o "${goals[@]}") >"$WORK/mvn.log" 2>&1; then
    log "first build: downloading the Elasticsearch 8.19 jars and Maven plugins into ~/.m2 (about 65 MB, once)"
    if ! (cd "$MODULE" && mvn -q -B "${goals[@]}") >"$WORK/mvn.log" 2>&1; then
      log "build failed; mvn output:"; tail -n 40 "$WORK/mvn.log" >&2; rm -f "$CP_FILE"; exit 1
    fi
  fi
  [ -s "$CP_FILE" ] || { log "build produced no classpath file ($CP_FILE)"; exit 1; }
  touch "$BUILT_STAMP"
}

start() {
  mkdir -p "$WORK"
  local pid
  if pid="$(running_pid)"; then
    if healthy; then log "already running (pid $pid) on $URL"; echo "$URL"; return 0; fi
    log "pid $pid is running but not healthy yet; waiting"
  else
    rm -f "$PID_FILE"
    if port_busy; then log "port $PORT is already in use by another process"; exit 1; fi
    build
    local java; java="$(java_bin)" || { log "no java found (set JAVA_HOME to a JDK 17+)"; exit 1; }
    local jv; jv="$(java_feature "$java")"
    if [ "$jv" -lt 17 ]; then log "$java is Java $jv; Elasticsearch 8.19 needs 17+ (set JAVA_HOME)"; exit 1; fi
    local jdk_flags=()
    if [ "$jv" -ge 21 ]; then
      # On 21+ ES uses its JDK (Panama) native provider, which loads libzstd.so from es.nativelibs.path
      # (the distribution ships one; Maven Central does not). Without it zstd is null and every shard
      # using best_compression (index.codec, and logsdb by default) fails. Java 17 uses the embedded
      # JNA provider, which finds the system libzstd.so.1 by itself.
      local zstd; zstd="$(find_libzstd)" || true
      mkdir -p "$WORK/native"
      if [ -n "$zstd" ]; then ln -sf "$zstd" "$WORK/native/libzstd.so"; else log "warning: no libzstd.so.1 found (apt-get install libzstd1); best_compression indices will fail on Java $jv"; fi
      # libvec.so (ES's SIMD vector functions) is not on Maven Central either, and failing to load it
      # disables the whole native provider, zstd included: switch it off explicitly.
      jdk_flags+=("-Des.nativelibs.path=$WORK/native" -Dorg.elasticsearch.nativeaccess.enableVectorLibrary=false --enable-native-access=ALL-UNNAMED)
    fi
    if [ "${ES_KEEP_DATA:-0}" != "1" ]; then rm -rf "$HOME_DIR"; fi
    mkdir -p "$HOME_DIR"
    log "starting on $URL with $("$java" -version 2>&1 | head -n 1) (log: $LOG_FILE)"
    # setsid + nohup: the node must outlive this shell and ignore the caller's Ctrl-C / SIGHUP.
    # The -D flags are those of the ES distribution's launcher that still matter without it.
    setsid nohup "$java" \
      -Xms256m "-Xmx${ES_HEAP:-1g}" -XX:+UseG1GC \
      -Des.set.netty.runtime.available.processors=false \
      -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
      -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true \
      -Dfile.encoding=UTF-8 -Djava.locale.providers=SPI,CLDR -Djava.awt.headless=true \
      "-Djava.io.tmpdir=$WORK" ${jdk_flags[@]+"${jdk_flags[@]}"} \
      -cp "$MODULE/target/classes:$(cat "$CP_FILE")" \
      "$MAIN_CLASS" --port "$PORT" --home "$HOME_DIR" \
      >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi
  local deadline=$(( SECONDS + ${ES_START_TIMEOUT:-120} ))
  while [ $SECONDS -lt $deadline ]; do
    if healthy; then log "up (pid $pid) on $URL after ${SECONDS}s"; echo "$URL"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the JVM exited during startup; last lines of $LOG_FILE:"; tail -n 60 "$LOG_FILE" >&2
      rm -f "$PID_FILE"; exit 1
    fi
    sleep 0.5
  done
  log "not healthy after ${ES_START_TIMEOUT:-120}s; stopping it. Last lines of $LOG_FILE:"; tail -n 60 "$LOG_FILE" >&2
  stop_pid "$pid"; exit 1
}

stop_pid() {
  local pid="$1" deadline=$(( SECONDS + ${ES_STOP_TIMEOUT:-30} ))
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "pid $pid still alive after SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PID_FILE"
}

stop() {
  local pid
  if pid="$(running_pid)"; then stop_pid "$pid"; log "stopped (pid $pid)"; else rm -f "$PID_FILE"; log "not running"; fi
}

status() {
  local pid
  if ! pid="$(running_pid)"; then log "not running"; exit 3; fi
  if healthy; then log "running (pid $pid) on $URL, $(http_get '/_cluster/health' | grep -o '"status":"[a-z]*"')"; echo "$URL"; return 0; fi
  log "pid $pid alive but $URL/_cluster/health is not yellow/green"; exit 1
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "ES_URL=$URL" ;;
  *) usage ;;
esac
