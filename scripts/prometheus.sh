#!/usr/bin/env bash
# Local Prometheus on 127.0.0.1 scraping the borderwatch services, with the project's alerting
# rules (deploy/prometheus/rules/), for development and the integration tests.
#
# Usage: scripts/prometheus.sh {setup|start|stop|status|config}
#   setup   install Debian's prometheus package (prometheus and promtool) with apt when it is
#           missing, and stop the system service the package may start
#   start   setup, write the config, start prometheus in the background, wait for /-/ready;
#           reuses our instance when it already answers on the port
#   stop    stop the instance this script started (TERM, then KILL)
#   status  exit 0 when our Prometheus answers /-/ready on the port, 1 otherwise
#   config  write the config and print its path (nothing is started)
#
# Environment:
#   BW_PROMETHEUS_PORT             web/API port                                (default 9090)
#   BW_PROMETHEUS_SCRAPE_INTERVAL  scrape and rule evaluation interval         (default 5s)
#   BW_PROMETHEUS_RETENTION        how long samples are kept                   (default 2d)
#   BW_VAR_DIR                     state root; ours is $BW_VAR_DIR/prometheus  (default <repo>/var)
#   BW_PROMETHEUS_START_TIMEOUT    seconds to wait for readiness               (default 60)
#   BW_INGEST_API_PORT, BW_CLASSIFIER_WEB_PORT, BW_NOTIFIER_API_PORT
#                                  where the services serve /metrics on 127.0.0.1 (the same
#                                  variables the services read; defaults 8088, 6066, 8082)
#
# Prometheus never inherits the caller's stdin/stdout/stderr: a background process holding CI's
# output pipe open would keep the CI step from ever finishing.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${BW_VAR_DIR:-$REPO_DIR/var}/prometheus
DATA_DIR=$STATE_DIR/data
CONFIG=$STATE_DIR/prometheus.yml
PID_FILE=$STATE_DIR/prometheus.pid
LOG_FILE=$STATE_DIR/prometheus.log
LOCK_FILE=$STATE_DIR/.lock
RULES_DIR=$REPO_DIR/deploy/prometheus/rules

PORT=${BW_PROMETHEUS_PORT:-9090}
INTERVAL=${BW_PROMETHEUS_SCRAPE_INTERVAL:-5s}
RETENTION=${BW_PROMETHEUS_RETENTION:-2d}
START_TIMEOUT=${BW_PROMETHEUS_START_TIMEOUT:-60}
INGEST_PORT=${BW_INGEST_API_PORT:-8088}
CLASSIFIER_PORT=${BW_CLASSIFIER_WEB_PORT:-6066}
NOTIFIER_PORT=${BW_NOTIFIER_API_PORT:-8082}

log() { printf 'prometheus: %s\n' "$*"; }
die() { printf 'prometheus: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
source "$REPO_DIR/scripts/lib.sh"
# Our instance is the prometheus process reading our config file (other instances, e.g. a
# test's own, read theirs).
PROM_MATCH="prometheus --config.file=$CONFIG"
running_pid() { pid_from_file "$PID_FILE" "$PROM_MATCH"; }

for value in "$PORT" "$INGEST_PORT" "$CLASSIFIER_PORT" "$NOTIFIER_PORT" "$START_TIMEOUT"; do
    [[ $value =~ ^[0-9]+$ ]] || die "ports and timeouts must be numbers (got '$value')"
done
[[ $INTERVAL =~ ^[0-9]+(ms|s|m)$ ]] || die "BW_PROMETHEUS_SCRAPE_INTERVAL must look like 1s, 500ms or 1m"

# Succeeds only when a Prometheus on 127.0.0.1:$1 answers /-/ready with 200 (it answers 503
# while it replays its write-ahead log).
probe() {
    python3 - "$1" <<'PY'
import sys
import urllib.request

try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/-/ready", timeout=3) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
PY
}

# Our instance answering /-/ready; another Prometheus on the port (a test's own) does not count.
probe_ours() { running_pid >/dev/null && probe "$PORT"; }

# The package's postinst starts prometheus on :9090 where the init system lets it. That
# instance scrapes only itself, would hold our default port, and is not ours to run.
stop_system_prometheus() {
    log "stopping and disabling the system prometheus service (ours runs with its own config)"
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
    elif command -v service >/dev/null; then
        service prometheus stop >/dev/null 2>&1 || true
        update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
}

setup() {
    local sudo=()
    command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
    ((EUID == 0)) || sudo=(sudo)
    log "installing prometheus (and promtool) with apt"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q </dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends prometheus </dev/null
    stop_system_prometheus
    command -v promtool >/dev/null || die "promtool is still missing after apt-get install"
}

write_config() {
    mkdir -p "$DATA_DIR"
    cat >"$CONFIG" <<EOF
# Written by scripts/prometheus.sh on every start; edit the script, not this file.
# deploy/prometheus/prometheus.yml is the same configuration for the docker-compose stack.
global:
  scrape_interval: $INTERVAL
  evaluation_interval: $INTERVAL
  scrape_timeout: $INTERVAL
  external_labels:
    deployment: local
rule_files:
  - $RULES_DIR/*.yml
scrape_configs:
  - job_name: ingest
    static_configs:
      - targets: ["127.0.0.1:$INGEST_PORT"]
        labels: {service: ingest}
  - job_name: classifier
    static_configs:
      - targets: ["127.0.0.1:$CLASSIFIER_PORT"]
        labels: {service: classifier}
  - job_name: notifier
    static_configs:
      - targets: ["127.0.0.1:$NOTIFIER_PORT"]
        labels: {service: notifier}
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
EOF
}

start() {
    local pid
    if pid=$(running_pid) && probe "$PORT"; then
        log "reusing our prometheus already answering on 127.0.0.1:$PORT (pid $pid)"
        return 0
    fi
    take_lock "$LOCK_FILE"
    if pid=$(running_pid); then
        log "prometheus pid $pid is already starting; waiting"
    else
        setup
        ! port_open "$PORT" || die "127.0.0.1:$PORT is taken by another process; set BW_PROMETHEUS_PORT"
        write_config
        promtool check config "$CONFIG" >>"$LOG_FILE" 2>&1 || {
            tail -n 20 "$LOG_FILE" >&2
            die "promtool rejects $CONFIG"
        }
        log "starting prometheus on 127.0.0.1:$PORT (scrape every $INTERVAL), data $DATA_DIR, log $LOG_FILE"
        spawn_server "$PID_FILE" "$LOG_FILE" prometheus --config.file="$CONFIG" \
            --storage.tsdb.path="$DATA_DIR" \
            --storage.tsdb.retention.time="$RETENTION" \
            --web.listen-address="127.0.0.1:$PORT" \
            --web.enable-lifecycle
        pid=$(<"$PID_FILE")
    fi
    # Any Prometheus answering counts here: the port was free when ours started.
    await_ready prometheus "$pid" "$PROM_MATCH" "$PID_FILE" "$LOG_FILE" "$START_TIMEOUT" 0.2 40 \
        "http://127.0.0.1:$PORT" probe "$PORT"
}

stop() {
    stop_server "$LOCK_FILE" "$PID_FILE" "$PROM_MATCH" 30 log "not running (no pid of ours in $STATE_DIR)"
}

status() {
    server_status "$PID_FILE" "$PROM_MATCH" "http://127.0.0.1:$PORT" probe_ours
}

config() {
    write_config
    echo "$CONFIG"
}

run_server_command "$LOCK_FILE" config "$@"
