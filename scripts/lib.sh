# shellcheck shell=bash
# Shared helpers for scripts/kafka.sh, scripts/redis.sh, scripts/prometheus.sh and
# scripts/services.sh (sourced). Callers define log() and die() before sourcing.

# A port that accepts TCP connections at all (used to tell "something else owns it").
port_open() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()' "$1" 2>/dev/null
}

# True while pid $1 is alive and its command line matches the regex $2. Reading
# /proc/<pid>/cmdline rather than `kill -0` guards against a stale pid reused by an unrelated
# process, and treats a zombie (empty cmdline: nothing reaps orphans on some machines) as gone.
process_matches() {
    { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -q -- "$2"
}

# The pid in file $1, if that process is alive and matches $2.
pid_from_file() {
    local pid
    [[ -f $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && process_matches "$pid" "$2" || return 1
    echo "$pid"
}

# Serialise start/stop/setup on lock file $1 (parallel test runners may all call `start`).
# fd 9 must be closed for long-lived children (`9>&-`) so they never hold the lock.
take_lock() {
    mkdir -p "$(dirname "$1")"
    exec 9>"$1"
    flock -w 300 9 || die "timed out waiting for $1"
}

# TERM pid $1 (matching $2), wait up to $3 seconds, then KILL.
terminate() {
    local pid=$1 pattern=$2 grace=${3:-30} waited=0
    kill -TERM "$pid" 2>/dev/null || true
    while process_matches "$pid" "$pattern" && ((waited < grace * 5)); do
        sleep 0.2
        waited=$((waited + 1))
    done
    if process_matches "$pid" "$pattern"; then
        log "pid $pid still alive after ${grace}s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        while process_matches "$pid" "$pattern"; do sleep 0.2; done
    fi
}

# The lifecycle of a background server (Kafka, Redis, Prometheus) that a script starts, records
# in a pid file and stops again. Each script keeps what is its own (the readiness probe, the
# config, the command line, whether a server it did not start may be reused); these functions
# hold what is common, including every message that callers (Makefile, tests, bench) read.

# Start "$@" in the background with its output appended to log file $2, and record its pid in
# pid file $1. The server never inherits our stdin/stdout/stderr (CI pipes our output, and a
# background process holding that pipe open would keep the CI step from ever finishing) nor the
# lock on fd 9.
spawn_server() {
    local pid_file=$1 log_file=$2
    shift 2
    nohup "$@" </dev/null >>"$log_file" 2>&1 9>&- &
    echo "$!" >"$pid_file"
}

# Wait until the readiness probe "$@" succeeds for the server with pid $2 (its command line
# matching $3), polling every $7 seconds for at most $6 seconds; prints "ready on <address $9>".
# On failure prints why ($1 names the process in "<$1> exited during start-up") and the last $8
# lines of log file $5 to stderr, removes pid file $4 when the server died, and exits 1.
await_ready() {
    local noun=$1 pid=$2 pattern=$3 pid_file=$4 log_file=$5 timeout=$6 poll=$7 tail_lines=$8 address=$9
    shift 9
    SECONDS=0
    while ((SECONDS < timeout)); do
        if "$@"; then
            log "ready on $address (pid $pid, ${SECONDS}s)"
            return 0
        fi
        process_matches "$pid" "$pattern" || break
        sleep "$poll"
    done
    if process_matches "$pid" "$pattern"; then
        log "error: not ready after ${timeout}s; last lines of $log_file:" >&2
    else
        log "error: $noun exited during start-up; last lines of $log_file:" >&2
        rm -f "$pid_file"
    fi
    tail -n "$tail_lines" "$log_file" >&2 || true
    exit 1
}

# Stop the server recorded in pid file $2 (command line matching $3) under lock file $1: TERM,
# then KILL after $4 seconds. When no server of ours is alive, clears the pid file, runs "$@"
# (which says so) and succeeds: stopping a stopped server is not an error.
stop_server() {
    local lock_file=$1 pid_file=$2 pattern=$3 grace=$4 pid
    shift 4
    take_lock "$lock_file"
    if ! pid=$(pid_from_file "$pid_file" "$pattern"); then
        rm -f "$pid_file"
        "$@"
        return 0
    fi
    log "stopping pid $pid"
    terminate "$pid" "$pattern" "$grace"
    rm -f "$pid_file"
    log "stopped"
}

# For stop_server: whether a server of kind $1 that this script did not start (no live pid in
# state dir $2) still answers the probe "$@" on address $3, which is then left alone.
report_not_ours() {
    local kind=$1 state_dir=$2 address=$3
    shift 3
    if "$@"; then
        log "not started by this script (no pid in $state_dir); leaving the $kind on $address alone"
    else
        log "not running"
    fi
}

# Exit status 0 when the probe "$@" succeeds on address $3, with the pid from pid file $1 (command
# line matching $2) when the server is ours; prints "up on <address>" or "down on <host:port>".
server_status() {
    local pid_file=$1 pattern=$2 address=$3 pid
    shift 3
    if "$@"; then
        pid=$(pid_from_file "$pid_file" "$pattern" || true)
        log "up on $address${pid:+ (pid $pid)}"
        return 0
    fi
    # "down" names the bare host:port, also for a server addressed by URL.
    log "down on ${address#http://}"
    return 1
}

# Run command $3 of a server script: setup (under lock file $1), start, stop, status, or one of
# the script's own extra commands listed in $2 (space-separated); each is the script's function
# of that name. Anything else prints the usage and exits 2.
run_server_command() {
    local lock_file=$1 command=${3:-} commands known
    read -r -a commands <<<"setup start stop status $2"
    for known in "${commands[@]}"; do
        if [[ $command == "$known" ]]; then
            [[ $command != setup ]] || take_lock "$lock_file"
            "$command"
            return
        fi
    done
    local IFS='|'
    echo "usage: $0 {${commands[*]}}" >&2
    exit 2
}
