"""The Grafana dashboard shows every operator-facing series the services export, under its real name.

Each service's ``create_metrics`` on a fresh registry is the catalogue of what it exports. A
series missing from the dashboard must be listed in ``NOT_ON_DASHBOARD`` with the reason; a
dashboard expression naming a series no service exports (a renamed or removed metric) fails.
tests/integration/test_prometheus.py evaluates the same expressions against a real Prometheus.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from services.classifier import metrics as classifier_metrics
from services.ingest import metrics as ingest_metrics
from services.notifier import metrics as notifier_metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "borderwatch.json"
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
GRID_WIDTH = 24

# Diagnostics for tuning and debugging, read from /metrics or Prometheus when needed.
NOT_ON_DASHBOARD = {
    "borderwatch_ingest_api_requests": "push API status codes: the ingest items panel shows outcomes",
    "borderwatch_ingest_api_request_seconds": "push API response time, a tuning figure",
    "borderwatch_ingest_feed_items_seen": "entries read per feed, new or not: feed polls cover health",
    "borderwatch_ingest_feed_last_error_timestamp_seconds": "feed errors by kind cover failures",
    "borderwatch_classifier_incident_updates": "incident revisions, a content figure",
    "borderwatch_classifier_story_index_items": "size of the story window, a tuning figure",
    "borderwatch_classifier_batch_items": "batch sizes, a tuning figure",
    "borderwatch_classifier_batch_stage_seconds": "per-batch stage times, a tuning figure",
}
# Series the dashboard must show (the pipeline latency family of every service among them).
REQUIRED = (
    "borderwatch_ingest_pipeline_latency_seconds_bucket",
    "borderwatch_classifier_pipeline_latency_seconds_bucket",
    "borderwatch_notifier_pipeline_latency_seconds_bucket",
    "borderwatch_notifier_alerts_total",
    "borderwatch_notifier_consumer_lag_messages",
    "borderwatch_classifier_consumer_lag_messages",
    "borderwatch_notifier_delivery_retries_total",
    "borderwatch_notifier_dead_letters_total",
    "borderwatch_ingest_dead_letters_total",
    "borderwatch_classifier_dead_letters_total",
    "borderwatch_notifier_redis_errors_total",
    "borderwatch_ingest_redis_errors_total",
    "borderwatch_notifier_broker_errors_total",
    "borderwatch_ingest_broker_errors_total",
    "borderwatch_classifier_broker_errors_total",
)
STAGE_FAMILY = '__name__=~"borderwatch_(ingest|classifier|notifier)_pipeline_latency_seconds_bucket"'
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "info": ("_info",),
}


def _families() -> dict[str, tuple[str, ...]]:
    """Every exported family, by family name, with the names of its series."""
    registry = CollectorRegistry()
    ingest_metrics.create_metrics(registry)
    classifier_metrics.create_metrics(registry)
    notifier_metrics.create_metrics(registry)
    return {
        family.name: tuple(family.name + suffix for suffix in _SUFFIXES[family.type])
        for family in registry.collect()
    }


def _recorded() -> set[str]:
    return {
        rule["record"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def _panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return panels


def _expressions() -> list[str]:
    return [t["expr"] for panel in _panels() for t in panel.get("targets", [])]


def _referenced() -> tuple[set[str], set[str]]:
    """Metric names the expressions name literally, and the ``__name__=~`` patterns they use."""
    names: set[str] = set()
    patterns: set[str] = set()
    for expr in _expressions():
        found = re.findall(r'__name__=~"([^"]+)"', expr)
        patterns.update(found)
        bare = re.sub(r'__name__=~"[^"]+"', "", expr)
        names.update(re.findall(r"\bborderwatch[_:][a-z0-9_:]+", bare))
    return names, patterns


def _shown(series: str, names: set[str], patterns: set[str]) -> bool:
    # Prometheus anchors label regexes at both ends: fullmatch.
    return series in names or any(re.fullmatch(p, series) for p in patterns)


def test_every_named_series_is_exported_by_a_service_or_recorded() -> None:
    names, patterns = _referenced()
    exported = {series for family in _families().values() for series in family}
    unknown = names - exported - _recorded()
    assert not unknown, f"the dashboard names series no service exports: {sorted(unknown)}"
    for pattern in patterns:
        assert any(re.fullmatch(pattern, s) for s in exported), f"{pattern} matches no exported series"


def test_every_exported_series_is_on_the_dashboard_or_excused() -> None:
    names, patterns = _referenced()
    families = _families()
    missing = {
        family
        for family, series in families.items()
        if family not in NOT_ON_DASHBOARD and not any(_shown(s, names, patterns) for s in series)
    }
    assert not missing, f"exported but not on the dashboard (add a panel or excuse it): {sorted(missing)}"
    stale = set(NOT_ON_DASHBOARD) - set(families)
    assert not stale, f"excused series no service exports any more: {sorted(stale)}"


def test_operator_facing_series_are_on_the_dashboard() -> None:
    names, patterns = _referenced()
    exported = {series for family in _families().values() for series in family}
    assert [s for s in REQUIRED if s not in exported] == []
    assert [s for s in REQUIRED if not _shown(s, names, patterns)] == []


def test_dead_letters_come_from_each_services_dead_letter_counter() -> None:
    # The classifier exports dead_letters_total like the others: no panel stands in its item outcomes.
    stand_ins = [
        e
        for e in _expressions()
        if 'borderwatch_classifier_items_total{outcome="dead_lettered"' in e or "label_replace" in e
    ]
    assert stand_ins == []
    (panel,) = [p for p in _panels() if p["title"] == "Dead letters by service, topic and reason class"]
    (target,) = panel["targets"]
    assert target["expr"] == (
        "sum by (service, topic, reason_class) "
        '(rate({__name__=~"borderwatch_[a-z]+_dead_letters_total"}[$__rate_interval]))'
    )


def test_stage_latency_panel_shows_p50_and_p99_by_stage_in_seconds() -> None:
    # The one panel over the whole family (the per-service latency panels pick single stages).
    (panel,) = [p for p in _panels() if any(STAGE_FAMILY in t["expr"] for t in p.get("targets", []))]
    assert panel["fieldConfig"]["defaults"]["unit"] == "s"
    quantiles = [
        q for t in panel["targets"] for q in re.findall(r"^histogram_quantile\(([0-9.]+),", t["expr"])
    ]
    assert sorted(quantiles) == ["0.5", "0.99"]
    for target in panel["targets"]:
        assert "by (le, stage)" in target["expr"] and "{{stage}}" in target["legendFormat"]


def test_panels_do_not_overlap_and_fit_the_grid() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in _panels():
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
        for y in range(grid["y"], grid["y"] + grid["h"]):
            for x in range(grid["x"], grid["x"] + grid["w"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]
