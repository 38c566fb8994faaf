"""The classifier's Prometheus metrics (conventions in services/common/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.common import Label
from services.common.metrics import LATENCY_BUCKETS, register_build_info

OUTCOMES = ("ok", "dead_lettered")
REASON_CLASSES = ("none", "decode", "validation", "processing")


@dataclass(frozen=True)
class ClassifierMetrics:
    items: Counter
    tagging_seconds: Histogram
    labels: Counter
    publish_to_tagged_seconds: Histogram
    incident_updates: Counter
    stories_indexed: Gauge
    batch_size: Histogram


def create_metrics(registry: CollectorRegistry, **build: str) -> ClassifierMetrics:
    m = ClassifierMetrics(
        # Raw items handled, by outcome and (for dead letters) the reason class.
        items=Counter(
            "borderwatch_classifier_items_total",
            "Raw items handled, by outcome and reason class.",
            ["outcome", "reason_class"],
            registry=registry,
        ),
        # Time spent in the pure tagger per item.
        tagging_seconds=Histogram(
            "borderwatch_classifier_tagging_seconds",
            "Time to tag one item.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        # Labels assigned to published tagged events.
        labels=Counter(
            "borderwatch_classifier_labels_total", "Labels on tagged events.", ["label"], registry=registry
        ),
        # From the item's ingest time to its tagged event being acknowledged by the broker.
        publish_to_tagged_seconds=Histogram(
            "borderwatch_classifier_ingest_to_tagged_seconds",
            "Ingest to tagged-event acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        # Incident revisions published (re-statements after redelivery included).
        incident_updates=Counter(
            "borderwatch_classifier_incident_updates_total",
            "Incident revisions published.",
            ["label"],
            registry=registry,
        ),
        # Items in the story index's time window.
        stories_indexed=Gauge(
            "borderwatch_classifier_story_index_items", "Items in the story window.", registry=registry
        ),
        # Items per processed batch (how well batching amortises per-event costs).
        batch_size=Histogram(
            "borderwatch_classifier_batch_items",
            "Items per processed batch.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
            registry=registry,
        ),
    )
    m.items.labels("ok", "none")
    for reason in REASON_CLASSES[1:]:
        m.items.labels("dead_lettered", reason)
    for label in Label:
        m.labels.labels(label.value)
        m.incident_updates.labels(label.value)
    register_build_info(registry, "classifier", **build)
    return m
