# shellcheck shell=bash
# Shared helpers for scripts/kafka.sh, scripts/redis.sh and scripts/services.sh (sourced).
# Callers define log() and die() before sourcing.

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
