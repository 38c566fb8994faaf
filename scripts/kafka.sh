#!/usr/bin/env bash
# Local single-node Kafka (KRaft, broker+controller) on 127.0.0.1, run from Maven Central jars.
#
# Usage: scripts/kafka.sh {setup|start|stop|status}
#   setup   resolve the broker jars into deploy/kafka/libs/ (mvn; only when missing or pom changed)
#   start   setup, format storage once, start the broker in the background, wait until it serves
#           Metadata with >= 1 broker; reuses a broker that already answers on the port
#   stop    stop the broker this script started (TERM, then KILL after a grace period)
#   status  exit 0 when a broker answers on the port, 1 otherwise
#
# Environment:
#   BW_KAFKA_PORT             client (PLAINTEXT) port            (default 9092)
#   BW_KAFKA_CONTROLLER_PORT  KRaft controller port              (default 9093)
#   BW_VAR_DIR                state root; ours is $BW_VAR_DIR/kafka (default <repo>/var)
#   BW_KAFKA_HEAP_OPTS        JVM heap flags                     (default -Xms256m -Xmx768m)
#   BW_KAFKA_START_TIMEOUT    seconds to wait for readiness      (default 120)
# A second broker (e.g. for a test) needs other ports AND its own BW_VAR_DIR.
#
# The broker never inherits the caller's stdin/stdout/stderr: CI pipes our output, and a
# background process holding that pipe open would keep the CI step from ever finishing.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_DIR=$REPO_DIR/deploy/kafka
POM=$KAFKA_DIR/pom.xml
LIBS=$KAFKA_DIR/libs
LIBS_MARKER=$LIBS/.pom.sha256

STATE_DIR=${BW_VAR_DIR:-$REPO_DIR/var}/kafka
DATA_DIR=$STATE_DIR/data
LOG_DIR=$STATE_DIR/logs
CONFIG=$STATE_DIR/server.properties
PID_FILE=$STATE_DIR/kafka.pid
VERSION_FILE=$STATE_DIR/kafka.version
LOCK_FILE=$STATE_DIR/.lock
BROKER_LOG=$LOG_DIR/kafka.out

PORT=${BW_KAFKA_PORT:-9092}
CONTROLLER_PORT=${BW_KAFKA_CONTROLLER_PORT:-9093}
START_TIMEOUT=${BW_KAFKA_START_TIMEOUT:-120}
# Kafka's own scripts default to a 1 GiB heap; a local broker with test traffic needs far less.
read -r -a HEAP_OPTS <<<"${BW_KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
JVM_OPTS=(
    "${HEAP_OPTS[@]}"
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties"
    "-Dkafka.logs.dir=$LOG_DIR"
)
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

log() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
source "$REPO_DIR/scripts/lib.sh"
BROKER_MATCH='kafka\.Kafka'
running_pid() { pid_from_file "$PID_FILE" "$BROKER_MATCH"; }

for port in "$PORT" "$CONTROLLER_PORT"; do
    [[ $port =~ ^[0-9]+$ ]] || die "ports must be numbers (got '$port')"
done
[[ $PORT != "$CONTROLLER_PORT" ]] || die "BW_KAFKA_PORT and BW_KAFKA_CONTROLLER_PORT must differ"

kafka_version() {
    sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1
}

# Succeeds only when a Kafka broker on 127.0.0.1:$1 answers a Metadata request listing >= 1
# broker. An open socket is not enough: a KRaft broker is usable only once it has registered.
# Metadata v4 is supported by every broker since 1.0 and by all of 4.x.
probe() {
    python3 - "$1" <<'PY'
import socket, struct, sys

port = int(sys.argv[1])
client_id = b"bw-probe"
# header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id
# body v4: topics=[] (empty array, not null: no topic list wanted), allow_auto_topic_creation=false
request = struct.pack(">hhih", 3, 4, 4242, len(client_id)) + client_id + struct.pack(">ib", 0, 0)

def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf

try:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.settimeout(5)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", read_exact(sock, 4))
        body = read_exact(sock, size)
        # response v4: correlation_id, throttle_time_ms, brokers array length, ...
        correlation_id, _throttle, brokers = struct.unpack(">iii", body[:12])
        sys.exit(0 if correlation_id == 4242 and brokers >= 1 else 1)
except (OSError, struct.error):
    sys.exit(1)
PY
}

setup() {
    local want have
    command -v "$JAVA" >/dev/null || die "java not found (need Java 17+; set JAVA_HOME)"
    want=$(sha256sum "$POM" | cut -d' ' -f1)
    have=$(cat "$LIBS_MARKER" 2>/dev/null || true)
    if [[ $want == "$have" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (needed once to fetch the broker jars)"
    log "resolving Kafka $(kafka_version) jars with Maven into $LIBS"
    # Resolve into a scratch dir and swap it in, so an interrupted download never leaves a
    # half-filled libs/ that looks complete. Maven's output goes to a log, shown on failure
    # (even with -q, Maven 3.8 prints stray ANSI reset codes).
    rm -rf "$LIBS.tmp"
    mkdir -p "$LOG_DIR"
    if ! mvn -B -q -Dstyle.color=never -f "$POM" -Dkafka.libs.dir="$LIBS.tmp" \
        dependency:copy-dependencies </dev/null >"$LOG_DIR/mvn.out" 2>&1; then
        cat "$LOG_DIR/mvn.out" >&2
        die "mvn failed to resolve the broker jars (log: $LOG_DIR/mvn.out)"
    fi
    echo "$want" >"$LIBS.tmp/.pom.sha256"
    rm -rf "$LIBS"
    mv "$LIBS.tmp" "$LIBS"
}

render_config() {
    local text
    text=$(<"$KAFKA_DIR/server.properties.in")
    text=${text//@PORT@/"$PORT"}
    text=${text//@CONTROLLER_PORT@/"$CONTROLLER_PORT"}
    text=${text//@DATA_DIR@/"$DATA_DIR"}
    printf '%s\n' "$text" >"$CONFIG"
}

# Format the KRaft storage once per data dir. KRaft data written by one Kafka version is not
# guaranteed to be readable by another (4.4's is not readable by older ones), so a version
# change wipes the data: it only ever holds local test traffic.
prepare_storage() {
    local version cluster_id
    version=$(kafka_version)
    mkdir -p "$DATA_DIR" "$LOG_DIR"
    if [[ -e $DATA_DIR/meta.properties && "$(cat "$VERSION_FILE" 2>/dev/null || true)" != "$version" ]]; then
        log "Kafka version changed to $version: wiping $DATA_DIR"
        rm -rf "$DATA_DIR"
        mkdir -p "$DATA_DIR"
    fi
    render_config
    if [[ ! -e $DATA_DIR/meta.properties ]]; then
        # Same shape as Kafka's Uuid.randomUuid(): 16 random bytes, base64url, no padding,
        # never starting with '-' (it would read as a command-line flag).
        cluster_id=$(python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not s.startswith("-"):
        print(s)
        break')
        log "formatting storage in $DATA_DIR (cluster id $cluster_id)"
        "$JAVA" "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties" -cp "$LIBS/*" \
            kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" --ignore-formatted \
            </dev/null >"$LOG_DIR/format.out" 2>&1 ||
            { cat "$LOG_DIR/format.out" >&2; die "formatting storage failed"; }
    fi
    echo "$version" >"$VERSION_FILE"
}

start() {
    local pid
    if probe "$PORT"; then
        pid=$(running_pid || true)
        log "reusing the broker already answering on 127.0.0.1:$PORT${pid:+ (pid $pid)}"
        return 0
    fi
    take_lock "$LOCK_FILE"
    if pid=$(running_pid); then
        # Ours, but not answering yet: still starting, or started on other ports.
        if ! grep -q "^listeners=PLAINTEXT://127.0.0.1:$PORT," "$CONFIG" 2>/dev/null; then
            die "the broker in $STATE_DIR (pid $pid) uses other ports; set another BW_VAR_DIR"
        fi
        log "broker pid $pid is already starting; waiting"
    else
        for port in "$PORT" "$CONTROLLER_PORT"; do
            ! port_open "$port" || die "127.0.0.1:$port is taken by something that is not a ready Kafka broker"
        done
        setup
        prepare_storage
        log "starting Kafka $(kafka_version) on 127.0.0.1:$PORT (controller $CONTROLLER_PORT), log $BROKER_LOG"
        # Keep the previous run's log for post-mortems; one generation is enough.
        [[ ! -f $BROKER_LOG ]] || mv -f "$BROKER_LOG" "$BROKER_LOG.1"
        spawn_server "$PID_FILE" "$BROKER_LOG" "$JAVA" "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$CONFIG"
        pid=$(<"$PID_FILE")
    fi
    await_ready broker "$pid" "$BROKER_MATCH" "$PID_FILE" "$BROKER_LOG" "$START_TIMEOUT" 0.5 60 \
        "127.0.0.1:$PORT" probe "$PORT"
}

stop() {
    # A single-node KRaft broker shuts down in a few seconds; allow for a slow disk.
    stop_server "$LOCK_FILE" "$PID_FILE" "$BROKER_MATCH" 60 \
        report_not_ours broker "$STATE_DIR" "127.0.0.1:$PORT" probe "$PORT"
}

status() {
    server_status "$PID_FILE" "$BROKER_MATCH" "127.0.0.1:$PORT" probe "$PORT"
}

run_server_command "$LOCK_FILE" "" "$@"
