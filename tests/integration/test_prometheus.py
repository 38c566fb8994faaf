"""A real Prometheus (Debian's package, via scripts/prometheus.sh) scraping the running services.

The three services run as subprocesses under a fresh namespace; Prometheus runs on a free
loopback port with its own data directory and a 1 s scrape interval. Items pushed through the
ingest API must move each service's key series, every stage of the pipeline latency and the
test rule's alert count; malformed messages produced straight to the input topics must move the
dead-letter counts; series that only move on failures must exist at zero. Then every PromQL
expression of the Grafana dashboard and every rule of deploy/prometheus/rules must evaluate
without error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from schemas.topics import TopicKey, topic_name
from services.classifier import metrics as classifier_metrics
from services.ingest import metrics as ingest_metrics
from services.notifier import metrics as notifier_metrics
from tests.integration.kafka_helpers import produce_raw
from tests.integration.processes import ROOT, ServiceProcess, free_port, service_env, wait_until
from tests.services import unavailable
from tests.sinks import HttpSink

pytestmark = pytest.mark.integration

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "borderwatch.json"
TOKEN = uuid.uuid4().hex
RULES = """\
version: 1
rules:
  - id: every-item
    title: Every item
    type: any
    severity: low
    routes: [webhook]
"""
SUBSCRIBERS = """\
version: 1
subscribers:
  - id: webhook
    channels:
      - type: webhook
        url_env: BW_WEBHOOK_URL
"""


class HttpServiceProcess(ServiceProcess):
    """A service that is ready when its ``/healthz`` answers (it prints no start-up marker)."""

    def __init__(self, service: str, env: dict[str, str], log_path: Path, port: int) -> None:
        super().__init__(service, env, log_path)
        self.port = port

    def start(self, timeout_s: float = 90.0) -> HttpServiceProcess:
        self.spawn()
        wait_until(
            lambda: _get(f"http://127.0.0.1:{self.port}/healthz") is not None,
            timeout_s,
            f"{self.service} did not answer /healthz",
            on_fail=self.log,
            alive=self.alive,
        )
        return self


def _get(url: str, timeout: float = 3.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bytes(response.read())
    except OSError:
        return None


class Prometheus:
    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.env = env

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROOT / "scripts" / "prometheus.sh"), command],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.api("query", query=expr)
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else float("nan")


@dataclass(frozen=True)
class Stack:
    prometheus: Prometheus
    sink: HttpSink
    ingest_port: int
    namespace: str
    kafka: str


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("prometheus") is None:
        unavailable("Debian's prometheus is not installed (run scripts/prometheus.sh setup)")
    namespace = f"prom-{uuid.uuid4().hex[:10]}"
    workdir = tmp_path_factory.mktemp("prometheus")
    (workdir / "rules.yaml").write_text(RULES)
    (workdir / "subscribers.yaml").write_text(SUBSCRIBERS)
    (workdir / "feeds.yaml").write_text("version: 1\nfeeds: []\n")
    ports = {"ingest": free_port(), "notifier": free_port(), "prometheus": free_port()}
    with HttpSink() as sink:
        env = service_env(
            kafka=kafka_bootstrap,
            redis=redis_url,
            namespace=namespace,
            workdir=workdir,
            BW_WEBHOOK_URL=sink.url,
            BW_RULES_FILE=str(workdir / "rules.yaml"),
            BW_NOTIFIER_SUBSCRIBERS_FILE=str(workdir / "subscribers.yaml"),
            BW_NOTIFIER_API_PORT=str(ports["notifier"]),
            BW_NOTIFIER_CONSOLE="false",
            BW_INGEST_API_PORT=str(ports["ingest"]),
            BW_INGEST_FEEDS_FILE=str(workdir / "feeds.yaml"),
            BW_INGEST_API_TOKENS=json.dumps([{"name": "test", "token": TOKEN, "scopes": ["push"]}]),
        )
        services = [
            ServiceProcess("classifier", env, workdir / "classifier.log"),
            ServiceProcess("notifier", env, workdir / "notifier.log"),
            HttpServiceProcess("ingest", env, workdir / "ingest.log", ports["ingest"]),
        ]
        prometheus = Prometheus(
            ports["prometheus"],
            {
                **os.environ,
                **env,
                "BW_VAR_DIR": str(workdir / "var"),
                "BW_PROMETHEUS_PORT": str(ports["prometheus"]),
                "BW_PROMETHEUS_SCRAPE_INTERVAL": "1s",
            },
        )
        try:
            for service in services:
                service.start()
            started = prometheus.run("start")
            assert started.returncode == 0, started.stdout + started.stderr
            yield Stack(prometheus, sink, ports["ingest"], namespace, kafka_bootstrap)
        finally:
            stopped = prometheus.run("stop")
            for service in reversed(services):
                service.stop()
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def _push(port: int, count: int) -> None:
    run = uuid.uuid4().hex[:8]
    items = [
        {
            "source": "prometheus-test",
            "title": f"Torkham crossing closed to trade for a third day ({run} {i})",
            "body": "Officials said the Torkham crossing remained closed; three people were killed in Khost.",
            "url": f"https://news.example/{run}/{i}",
            "published_at": "2025-11-20T10:00:00Z",
        }
        for i in range(count)
    ]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/items",
        data=json.dumps(items).encode(),
        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


KEY_SERIES = {
    "ingest": 'sum(borderwatch_ingest_items_total{outcome="accepted"})',
    "classifier": 'sum(borderwatch_classifier_items_total{outcome="ok"})',
    "notifier": 'sum(borderwatch_notifier_consumed_total{outcome="ok"})',
    "deliveries": 'sum(borderwatch_notifier_deliveries_total{channel="webhook", outcome="ok"})',
}
# Every stage of the pipeline latency family, each observed by the service that ends it.
STAGES = ("published_to_ingested", "ingested_to_tagged", "tagged_to_alerted", "alerted_to_delivered")
STAGE_COUNTS = (
    'sum by (stage) ({__name__=~"borderwatch_(ingest|classifier|notifier)_pipeline_latency_seconds_count"})'
)
# Consumer lag is labelled by the logical input topic (no namespace, no version) in every service.
CONSUMER_LAG = {
    "classifier": ("raw-items",),
    "notifier": ("tagged-events", "incidents"),
}


def _wait_scraped(prometheus: Prometheus) -> None:
    wait_until(
        lambda: prometheus.value('sum(up{job=~"ingest|classifier|notifier"})') == 3,
        60,
        "Prometheus does not scrape all three services",
        on_fail=lambda: json.dumps(prometheus.api("targets"), indent=1),
    )


def _by(prometheus: Prometheus, expr: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in prometheus.query(expr)}


def _push_and_wait_for_alerts(stack: Stack, count: int) -> None:
    delivered = len(stack.sink.snapshot())
    _push(stack.ingest_port, count)
    wait_until(
        lambda: len(stack.sink.snapshot()) >= delivered + count,
        90,
        "alerts of the pushed items did not arrive",
    )


def test_each_service_is_scraped_and_its_key_series_move_when_items_flow(stack: Stack) -> None:
    prometheus = stack.prometheus
    _wait_scraped(prometheus)
    for job in ("ingest", "classifier", "notifier"):
        assert prometheus.query(f'{{job="{job}", __name__=~"borderwatch_{job}_build_info"}}'), job
    before = {name: prometheus.value(expr) for name, expr in KEY_SERIES.items()}
    assert all(v == v for v in before.values()), f"key series missing before traffic: {before}"

    _push_and_wait_for_alerts(stack, 5)
    wait_until(
        lambda: all(prometheus.value(expr) >= before[name] + 5 for name, expr in KEY_SERIES.items()),
        30,
        "key series did not move by the pushed items",
        on_fail=lambda: str({name: prometheus.value(expr) for name, expr in KEY_SERIES.items()}),
    )
    latency = prometheus.value("sum(borderwatch_notifier_ingest_to_delivery_seconds_count)")
    assert latency >= 5


def test_stage_latencies_alert_outcomes_and_consumer_lag_follow_the_items(stack: Stack) -> None:
    prometheus = stack.prometheus
    _wait_scraped(prometheus)
    fired = 'borderwatch_notifier_alerts_total{rule="every-item", outcome="fired"}'
    # The test rule's outcomes exist from the start (the rule ids are known at start-up).
    outcomes = _by(prometheus, 'borderwatch_notifier_alerts_total{rule="every-item"}', "outcome")
    assert set(outcomes) == set(notifier_metrics.ALERT_OUTCOMES)
    stages_before = _by(prometheus, STAGE_COUNTS, "stage")
    fired_before = prometheus.value(fired)

    _push_and_wait_for_alerts(stack, 3)

    def moved() -> bool:
        stages = _by(prometheus, STAGE_COUNTS, "stage")
        return prometheus.value(fired) >= fired_before + 3 and all(
            stages.get(stage, 0.0) > stages_before.get(stage, 0.0) for stage in STAGES
        )

    wait_until(
        moved,
        30,
        "stage latency counts or the fired alerts did not move",
        on_fail=lambda: f"stages {_by(prometheus, STAGE_COUNTS, 'stage')}, fired {prometheus.value(fired)}",
    )
    # Each stage has a quantile to show (the dashboard's stage panel, over a window with the items).
    p99 = _by(
        prometheus,
        "histogram_quantile(0.99, sum by (le, stage) "
        '(rate({__name__=~"borderwatch_(ingest|classifier|notifier)_pipeline_latency_seconds_bucket"}[5m])))',
        "stage",
    )
    assert {stage for stage, value in p99.items() if value == value and value >= 0} >= set(STAGES), p99

    # Consumer lag of each input topic: present, and back at 0 once the items are handled.
    classifier_lag = 'borderwatch_classifier_consumer_lag_messages{topic="raw-items"}'
    notifier_lag = 'borderwatch_notifier_consumer_lag_messages{topic="tagged-events"}'
    for expr in (classifier_lag, notifier_lag):
        _wait_lag_caught_up(prometheus, expr)
    # One form of topic label across services: the logical key, never the namespaced topic name.
    lag_topics = {
        (r["metric"]["service"], r["metric"]["topic"])
        for r in prometheus.query('{__name__=~"borderwatch_[a-z]+_consumer_lag_messages"}')
    }
    assert {(s, t) for s, t in lag_topics if t not in CONSUMER_LAG.get(s, ())} == set(), lag_topics


def _wait_lag_caught_up(prometheus: Prometheus, expr: str) -> None:
    wait_until(
        lambda: bool(prometheus.query(expr)) and prometheus.value(f"max({expr})") == 0,
        30,
        f"{expr} is missing or does not come back to 0",
        on_fail=lambda: json.dumps(prometheus.query(expr)),
    )


def test_failure_counters_exist_at_zero_and_dead_letters_count_through_prometheus(stack: Stack) -> None:
    prometheus = stack.prometheus
    _wait_scraped(prometheus)
    # Nothing failed while items flowed: the failure-only series are there, at 0.
    zero = {
        "borderwatch_notifier_redis_errors_total": None,
        "borderwatch_notifier_broker_errors_total": None,
        "borderwatch_ingest_redis_errors_total": None,
        "borderwatch_ingest_broker_errors_total": None,
        "borderwatch_classifier_broker_errors_total": None,
    }
    for name in zero:
        assert prometheus.query(name), f"{name} is not exported"
        assert prometheus.value(f"sum({name})") == 0, name
    assert _by(prometheus, "borderwatch_notifier_delivery_retries_total", "channel") == dict.fromkeys(
        notifier_metrics.CHANNEL_KINDS, 0.0
    )
    assert _by(prometheus, "borderwatch_ingest_dead_letters_total", "reason_class") == dict.fromkeys(
        ingest_metrics.REASON_CLASSES, 0.0
    )
    notifier_letters = _dead_letters(prometheus, "notifier")
    assert set(notifier_letters) == {
        (t, c) for t in notifier_metrics.DEAD_LETTER_TOPICS for c in notifier_metrics.REASON_CLASSES
    }
    classifier_letters = _dead_letters(prometheus, "classifier")
    assert set(classifier_letters) == {
        (t, c)
        for t in classifier_metrics.DEAD_LETTER_TOPICS
        for c in classifier_metrics.DEAD_LETTER_REASON_CLASSES
    }

    # A tagged event that breaks the contract goes straight to the notifier's input topic, and an
    # undecodable raw item to the classifier's: each service dead-letters it.
    produce_raw(
        stack.kafka,
        topic_name(TopicKey.TAGGED_EVENTS, stack.namespace),
        [json.dumps({"event_id": "not-a-tagged-event"}).encode()],
    )
    produce_raw(stack.kafka, topic_name(TopicKey.RAW_ITEMS, stack.namespace), [b"\xff not json"])
    notifier_expr = (
        'borderwatch_notifier_dead_letters_total{topic="tagged-events", reason_class="validation"}'
    )
    classifier_expr = 'borderwatch_classifier_dead_letters_total{topic="raw-items", reason_class="decode"}'
    wait_until(
        lambda: (
            prometheus.value(notifier_expr) == notifier_letters[("tagged-events", "validation")] + 1
            and prometheus.value(classifier_expr) == classifier_letters[("raw-items", "decode")] + 1
        ),
        60,
        "the dead letters did not show in Prometheus",
        on_fail=lambda: f"{prometheus.query(notifier_expr)} {prometheus.query(classifier_expr)}",
    )
    # The dashboard's dead-letter panel shows both, by service, topic and reason class.
    panel = next(
        expr
        for expr in _dashboard_expressions()
        if "dead_letters_total" in expr and "by (service, topic, reason_class)" in expr
    )
    shown = {
        (r["metric"].get("service"), r["metric"].get("topic"), r["metric"].get("reason_class"))
        for r in prometheus.query(panel.replace("$__rate_interval", "5m"))
        if float(r["value"][1]) > 0
    }
    assert {("notifier", "tagged-events", "validation"), ("classifier", "raw-items", "decode")} <= shown


def _dead_letters(prometheus: Prometheus, service: str) -> dict[tuple[str, str], float]:
    return {
        (r["metric"]["topic"], r["metric"]["reason_class"]): float(r["value"][1])
        for r in prometheus.query(f"borderwatch_{service}_dead_letters_total")
    }


def _dashboard_expressions() -> list[str]:
    found: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            found.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
            walk(panel.get("panels", []))

    walk(json.loads(DASHBOARD.read_text())["panels"])
    return found


def test_every_dashboard_expression_evaluates(stack: Stack) -> None:
    prometheus = stack.prometheus
    expressions = _dashboard_expressions()
    assert len(expressions) >= 20
    for expr in expressions:
        # Grafana's $__rate_interval is at least four scrape intervals.
        answer = prometheus.api("query", query=expr.replace("$__rate_interval", "1m"))
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
    # Stage latency panels show data; the one over the whole family shows every stage.
    stage_exprs = [
        expr.replace("$__rate_interval", "1m") for expr in expressions if "pipeline_latency" in expr
    ]
    assert all(prometheus.query(expr) for expr in stage_exprs), stage_exprs
    by_stage = [expr for expr in stage_exprs if "by (le, stage)" in expr]
    assert by_stage
    for expr in by_stage:
        shown = _by(prometheus, expr, "stage")
        assert set(shown) >= set(STAGES), f"{expr}: {shown}"


def test_recording_and_alerting_rules_are_loaded_and_healthy(stack: Stack) -> None:
    prometheus = stack.prometheus

    def rules() -> list[dict[str, Any]]:
        groups = prometheus.api("rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    wait_until(
        lambda: all(r.get("lastEvaluation", "").startswith("20") for r in rules()), 30, "rules not run"
    )
    loaded = rules()
    assert {r["name"] for r in loaded if r["type"] == "alerting"} >= {
        "BorderwatchServiceDown",
        "BorderwatchDeadLettersHigh",
        "BorderwatchConsumerLagGrowing",
        "BorderwatchFeedStale",
        "BorderwatchDeliveriesFailing",
        "BorderwatchNothingIngested",
        "BorderwatchRedisErrors",
        "BorderwatchBrokerErrors",
    }
    unhealthy = {r["name"]: r.get("lastError") for r in loaded if r["health"] != "ok"}
    assert not unhealthy
    # The services are up and reach Redis and the broker: none of these may even be pending.
    quiet = {"BorderwatchServiceDown", "BorderwatchRedisErrors", "BorderwatchBrokerErrors"}
    assert not [a for a in prometheus.api("alerts")["data"]["alerts"] if a["labels"]["alertname"] in quiet]
