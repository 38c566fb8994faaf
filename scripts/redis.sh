#!/usr/bin/env bash
# Local Redis on 127.0.0.1 with our own config (AOF on), for development and CI.
#
# Usage: scripts/redis.sh {setup|start|stop|status}
#   setup   install Debian's redis-server with apt when it is missing, and stop the system
#           service the package may start, so that our instance owns the port
#   start   setup, write the config, start redis-server in the background, wait for PING -> PONG;
#           reuses a Redis that already answers on the port
#   stop    stop the instance this script started (TERM = clean shutdown, then KILL)
#   status  exit 0 when a Redis answers PING on the port, 1 otherwise
#
# Environment:
#   BW_REDIS_PORT           port                                   (default 6379)
#   BW_VAR_DIR              state root; ours is $BW_VAR_DIR/redis  (default <repo>/var)
#   BW_REDIS_START_TIMEOUT  seconds to wait for readiness          (default 60)
#
# Redis never inherits the caller's stdin/stdout/stderr: a background process holding CI's
# output pipe open would keep the CI step from ever finishing.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${BW_VAR_DIR:-$REPO_DIR/var}/redis
DATA_DIR=$STATE_DIR/data
CONFIG=$STATE_DIR/redis.conf
PID_FILE=$STATE_DIR/redis.pid
LOG_FILE=$STATE_DIR/redis.log
LOCK_FILE=$STATE_DIR/.lock

PORT=${BW_REDIS_PORT:-6379}
START_TIMEOUT=${BW_REDIS_START_TIMEOUT:-60}
# The Debian package's own instance (started by its postinst on machines that allow it).
SYSTEM_PID_FILE=/run/redis/redis-server.pid

log() { printf 'redis: %s\n' "$*"; }
die() { printf 'redis: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
source "$REPO_DIR/scripts/lib.sh"
REDIS_MATCH='redis-server'
is_redis() { process_matches "$1" "$REDIS_MATCH"; }
running_pid() { pid_from_file "$PID_FILE" "$REDIS_MATCH"; }

[[ $PORT =~ ^[0-9]+$ ]] || die "BW_REDIS_PORT must be a number (got '$PORT')"

# Succeeds only when a Redis on 127.0.0.1:$1 answers PING with PONG. While it is still loading
# the AOF it answers -LOADING, which does not count as ready.
probe() {
    python3 - "$1" <<'PY'
import socket, sys

try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as sock:
        sock.settimeout(3)
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
    sys.exit(0 if reply.startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}

# The package's postinst starts redis-server on 127.0.0.1:6379 where the init system lets it
# (not in containers whose policy-rc.d forbids it). That instance has Debian's config, not ours
# (no AOF), and would hold our default port, so stop it and keep it from starting at boot.
stop_system_redis() {
    local pid
    log "stopping and disabling the system redis-server service (ours runs with its own config)"
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
    elif command -v service >/dev/null; then
        service redis-server stop >/dev/null 2>&1 || true
        update-rc.d redis-server disable >/dev/null 2>&1 || true
    fi
    # Whatever started it, the package's instance writes this pid file.
    if [[ -f $SYSTEM_PID_FILE ]]; then
        pid=$(<"$SYSTEM_PID_FILE")
        if [[ $pid =~ ^[0-9]+$ ]] && is_redis "$pid"; then
            log "stopping the leftover system redis-server (pid $pid)"
            terminate "$pid" "$REDIS_MATCH" 30
        fi
    fi
}

setup() {
    local sudo=()
    command -v redis-server >/dev/null && return 0
    ((EUID == 0)) || sudo=(sudo)
    log "installing redis-server with apt"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q </dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends redis-server </dev/null
    stop_system_redis
    command -v redis-server >/dev/null || die "redis-server is still missing after apt-get install"
}

write_config() {
    mkdir -p "$DATA_DIR"
    cat >"$CONFIG" <<EOF
# Written by scripts/redis.sh on every start; edit the script, not this file.
bind 127.0.0.1
port $PORT
protected-mode yes
# Run in the foreground: the script backgrounds it and owns the pid.
daemonize no
supervised no
pidfile $PID_FILE
logfile $LOG_FILE
loglevel notice
dir $DATA_DIR
# Durable enough for dedup/outbox state: at most about 1 s of writes lost on a crash.
appendonly yes
appendfsync everysec
appendfilename "appendonly.aof"
dbfilename dump.rdb
# Containers often cap net.core.somaxconn at 128; asking for more only logs a warning.
tcp-backlog 128
EOF
}

start() {
    local pid aof
    if probe "$PORT"; then
        if pid=$(running_pid); then
            log "reusing our redis already answering on 127.0.0.1:$PORT (pid $pid)"
        else
            aof=$(redis_config_get appendonly)
            log "reusing a redis on 127.0.0.1:$PORT not started by this script (appendonly=${aof:-unknown})"
        fi
        return 0
    fi
    take_lock "$LOCK_FILE"
    if pid=$(running_pid); then
        if ! grep -qx "port $PORT" "$CONFIG" 2>/dev/null; then
            die "the redis in $STATE_DIR (pid $pid) uses another port; set another BW_VAR_DIR"
        fi
        log "redis pid $pid is already starting; waiting"
    else
        setup
        ! port_open "$PORT" || die "127.0.0.1:$PORT is taken by something that does not answer PING"
        write_config
        log "starting redis-server on 127.0.0.1:$PORT, data $DATA_DIR, log $LOG_FILE"
        spawn_server "$PID_FILE" "$LOG_FILE" redis-server "$CONFIG"
        pid=$(<"$PID_FILE")
    fi
    await_ready redis-server "$pid" "$REDIS_MATCH" "$PID_FILE" "$LOG_FILE" "$START_TIMEOUT" 0.2 40 \
        "127.0.0.1:$PORT" probe "$PORT"
}

# Prints the value of a config key of the Redis on $PORT (empty if redis-cli is missing).
redis_config_get() {
    command -v redis-cli >/dev/null || return 0
    redis-cli -h 127.0.0.1 -p "$PORT" CONFIG GET "$1" 2>/dev/null | sed -n 2p || true
}

stop() {
    stop_server "$LOCK_FILE" "$PID_FILE" "$REDIS_MATCH" 30 \
        report_not_ours redis "$STATE_DIR" "127.0.0.1:$PORT" probe "$PORT"
}

status() {
    server_status "$PID_FILE" "$REDIS_MATCH" "127.0.0.1:$PORT" probe "$PORT"
}

run_server_command "$LOCK_FILE" "" "$@"
