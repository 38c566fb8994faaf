#!/usr/bin/env bash
# start|stop|status the borderwatch services (classifier, notifier, ingest) in the background.
# Logs go to $BW_VAR_DIR/log/<service>.log and pid files to $BW_VAR_DIR/run/<service>.pid.
# The broker and Redis are started separately (scripts/kafka.sh, scripts/redis.sh).
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR=${BW_VAR_DIR:-$REPO_DIR/var}
BIN=${BW_BIN:-$REPO_DIR/.venv/bin/borderwatch}
SERVICES=(classifier notifier ingest)

log() { printf 'services: %s\n' "$*"; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
source "$REPO_DIR/scripts/lib.sh"
mkdir -p "$VAR/log" "$VAR/run"

# Each service prints this once it is consuming.
ready_marker() {
    case $1 in
        classifier) echo "Ready" ;;
        notifier) echo "consuming" ;;
        ingest) echo "serving push API" ;;
    esac
}

match() { echo "borderwatch $1"; }

start_one() {
    local svc=$1 log_file=$VAR/log/$1.log pid
    if pid=$(pid_from_file "$VAR/run/$svc.pid" "$(match "$svc")"); then
        log "$svc already running (pid $pid)"
        return 0
    fi
    : >"$log_file"
    (cd "$REPO_DIR" && exec nohup "$BIN" "$svc" </dev/null >>"$log_file" 2>&1 9>&-) &
    echo $! >"$VAR/run/$svc.pid"
    local marker
    marker=$(ready_marker "$svc")
    for _ in $(seq "${BW_SERVICE_START_TIMEOUT:-90}"); do
        if grep -q "$marker" "$log_file"; then
            log "$svc ready (pid $(<"$VAR/run/$svc.pid"), log $log_file)"
            return 0
        fi
        pid_from_file "$VAR/run/$svc.pid" "$(match "$svc")" >/dev/null || break
        sleep 1
    done
    printf 'services: %s failed to start; last lines of %s:\n' "$svc" "$log_file" >&2
    tail -n 40 "$log_file" >&2
    return 1
}

stop_one() {
    local svc=$1 pid
    if ! pid=$(pid_from_file "$VAR/run/$svc.pid" "$(match "$svc")"); then
        rm -f "$VAR/run/$svc.pid"
        return 0
    fi
    terminate "$pid" "$(match "$svc")" 30
    rm -f "$VAR/run/$svc.pid"
    log "$svc stopped"
}

case ${1:-status} in
    start) for s in "${SERVICES[@]}"; do start_one "$s"; done ;;
    stop) for s in "${SERVICES[@]}"; do stop_one "$s"; done ;;
    status)
        rc=0
        for s in "${SERVICES[@]}"; do
            if pid=$(pid_from_file "$VAR/run/$s.pid" "$(match "$s")"); then
                log "$s up (pid $pid)"
            else
                log "$s down"
                rc=1
            fi
        done
        exit $rc
        ;;
    *) die "usage: $0 start|stop|status" ;;
esac
