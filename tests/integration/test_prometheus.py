"""A real Prometheus (Debian's package, via scripts/prometheus.sh) scraping the running services.

The three services run as subprocesses under a fresh namespace; Prometheus runs on a free
loopback port with its own data directory and a 1 s scrape interval. Items pushed through the
ingest API must move each service's key series; then every PromQL expression of the Grafana
dashboard and every rule of deploy/prometheus/rules must evaluate without error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", self.service],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
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


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Prometheus, HttpSink, int]]:
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
            yield prometheus, sink, ports["ingest"]
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


def test_each_service_is_scraped_and_its_key_series_move_when_items_flow(
    stack: tuple[Prometheus, HttpSink, int],
) -> None:
    prometheus, sink, ingest_port = stack
    wait_until(
        lambda: prometheus.value('sum(up{job=~"ingest|classifier|notifier"})') == 3,
        60,
        "Prometheus does not scrape all three services",
        on_fail=lambda: json.dumps(prometheus.api("targets"), indent=1),
    )
    for job in ("ingest", "classifier", "notifier"):
        assert prometheus.query(f'{{job="{job}", __name__=~"borderwatch_{job}_build_info"}}'), job
    before = {name: prometheus.value(expr) for name, expr in KEY_SERIES.items()}
    assert all(v == v for v in before.values()), f"key series missing before traffic: {before}"

    _push(ingest_port, 5)
    wait_until(lambda: len(sink.snapshot()) >= 5, 90, "alerts of the pushed items did not arrive")
    wait_until(
        lambda: all(prometheus.value(expr) >= before[name] + 5 for name, expr in KEY_SERIES.items()),
        30,
        "key series did not move by the pushed items",
        on_fail=lambda: str({name: prometheus.value(expr) for name, expr in KEY_SERIES.items()}),
    )
    latency = prometheus.value("sum(borderwatch_notifier_ingest_to_delivery_seconds_count)")
    assert latency >= 5


def _dashboard_expressions() -> list[str]:
    found: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            found.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
            walk(panel.get("panels", []))

    walk(json.loads(DASHBOARD.read_text())["panels"])
    return found


def test_every_dashboard_expression_evaluates(stack: tuple[Prometheus, HttpSink, int]) -> None:
    prometheus, _, _ = stack
    expressions = _dashboard_expressions()
    assert len(expressions) >= 20
    for expr in expressions:
        # Grafana's $__rate_interval is at least four scrape intervals.
        answer = prometheus.api("query", query=expr.replace("$__rate_interval", "1m"))
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"


def test_recording_and_alerting_rules_are_loaded_and_healthy(stack: tuple[Prometheus, HttpSink, int]) -> None:
    prometheus, _, _ = stack

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
    }
    unhealthy = {r["name"]: r.get("lastError") for r in loaded if r["health"] != "ok"}
    assert not unhealthy
    # The services are up: the service-down alert must not even be pending.
    assert not [
        a
        for a in prometheus.api("alerts")["data"]["alerts"]
        if a["labels"]["alertname"] == "BorderwatchServiceDown"
    ]
