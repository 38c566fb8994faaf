#!/usr/bin/env bash
# start|stop|status the borderwatch services (classifier, notifier) in the background.
# Logs go to $BW_VAR_DIR/log/<service>.log and pid files to $BW_VAR_DIR/run/<service>.pid.
# The broker and Redis are started separately (scripts/kafka.sh, scripts/redis.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${BW_VAR_DIR:-$ROOT/var}
BIN=${BW_BIN:-$ROOT/.venv/bin/borderwatch}
SERVICES=(classifier notifier)
mkdir -p "$VAR/log" "$VAR/run"

# Each service prints a line like this once it is consuming.
ready_marker() {
  case $1 in
    classifier) echo "Ready" ;;
    notifier) echo "consuming" ;;
  esac
}

alive() {
  local pidf=$VAR/run/$1.pid
  [[ -f $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null
}

start_one() {
  local svc=$1 log=$VAR/log/$1.log
  if alive "$svc"; then echo "$svc already running (pid $(cat "$VAR/run/$svc.pid"))"; return 0; fi
  : >"$log"
  (cd "$ROOT" && exec nohup "$BIN" "$svc" </dev/null >>"$log" 2>&1) &
  echo $! >"$VAR/run/$svc.pid"
  local marker; marker=$(ready_marker "$svc")
  for _ in $(seq "${BW_SERVICE_START_TIMEOUT:-90}"); do
    if grep -q "$marker" "$log"; then echo "$svc ready (pid $(cat "$VAR/run/$svc.pid"), log $log)"; return 0; fi
    if ! alive "$svc"; then break; fi
    sleep 1
  done
  echo "$svc failed to start; last lines of $log:" >&2
  tail -n 40 "$log" >&2
  return 1
}

stop_one() {
  local svc=$1 pidf=$VAR/run/$1.pid
  if ! alive "$svc"; then rm -f "$pidf"; return 0; fi
  local pid; pid=$(cat "$pidf")
  kill -TERM "$pid"
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -f "$pidf"
  echo "$svc stopped"
}

case ${1:-status} in
  start) for s in "${SERVICES[@]}"; do start_one "$s"; done ;;
  stop) for s in "${SERVICES[@]}"; do stop_one "$s"; done ;;
  status)
    rc=0
    for s in "${SERVICES[@]}"; do
      if alive "$s"; then echo "$s up (pid $(cat "$VAR/run/$s.pid"))"; else echo "$s down"; rc=1; fi
    done
    exit $rc ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
