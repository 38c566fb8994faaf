"""The classifier's Prometheus metrics (conventions in services/common/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.common import Label
from services.common.metrics import LATENCY_BUCKETS, register_build_info

OUTCOMES = ("ok", "dead_lettered")
REASON_CLASSES = ("none", "decode", "validation", "processing")
BATCH_STAGES = ("process", "deliver")
# Stages of the pipeline whose latency the classifier observes (the family spans every service).
PIPELINE_STAGES = ("ingested_to_tagged",)


@dataclass(frozen=True)
class ClassifierMetrics:
    items: Counter
    tagging_seconds: Histogram
    labels: Counter
    pipeline_latency_seconds: Histogram
    incident_updates: Counter
    stories_indexed: Gauge
    batch_size: Histogram
    stage_seconds: Histogram
    send_retries: Counter
    consumer_lag: Gauge


def create_metrics(
    registry: CollectorRegistry, lag_partitions: tuple[str, int] | None = None, **build: str
) -> ClassifierMetrics:
    """``lag_partitions`` (topic, partition count) pre-initialises the consumer-lag series."""
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
        # ingested_to_tagged: from the item's ingest time to its tagged event being acknowledged.
        pipeline_latency_seconds=Histogram(
            "borderwatch_classifier_pipeline_latency_seconds",
            "Seconds between pipeline stages (ingested_to_tagged: ingest to tagged-event ack).",
            ["stage"],
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
        # Per batch: deciding the outputs (decode, tag, stories, incidents) and delivering them.
        stage_seconds=Histogram(
            "borderwatch_classifier_batch_stage_seconds",
            "Time per batch in each stage.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        # Outputs sent again because the broker did not acknowledge them.
        send_retries=Counter(
            "borderwatch_classifier_send_retries_total",
            "Outputs re-sent after a failed send.",
            registry=registry,
        ),
        # Messages on the raw-items topic not yet committed by the classifier, per partition.
        consumer_lag=Gauge(
            "borderwatch_classifier_consumer_lag_messages",
            "High-water mark minus committed offset.",
            ["topic", "partition"],
            registry=registry,
        ),
    )
    for stage in BATCH_STAGES:
        m.stage_seconds.labels(stage)
    for stage in PIPELINE_STAGES:
        m.pipeline_latency_seconds.labels(stage)
    m.items.labels("ok", "none")
    for reason in REASON_CLASSES[1:]:
        m.items.labels("dead_lettered", reason)
    for label in Label:
        m.labels.labels(label.value)
        m.incident_updates.labels(label.value)
    if lag_partitions is not None:
        topic, count = lag_partitions
        for partition in range(count):
            m.consumer_lag.labels(topic, str(partition))
    register_build_info(registry, "classifier", **build)
    return m
