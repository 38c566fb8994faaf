"""The classifier's Prometheus metrics (conventions in services/common/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.common import Label
from schemas.topics import TopicKey
from services.common.metrics import LATENCY_BUCKETS, register_build_info

OUTCOMES = ("ok", "dead_lettered")
REASON_CLASSES = ("none", "decode", "validation", "processing")
# The topic the classifier reads (and dead-letters from), labelled by its logical key: no
# namespace, no version, as in the other services' topic labels.
INPUT_TOPIC = TopicKey.RAW_ITEMS.value
DEAD_LETTER_TOPICS = (INPUT_TOPIC,)
DEAD_LETTER_REASON_CLASSES = ("decode", "validation", "processing")
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
    dead_letters: Counter
    broker_errors: Counter


def create_metrics(registry: CollectorRegistry, lag_partitions: int = 0, **build: str) -> ClassifierMetrics:
    """``lag_partitions`` (the input topic's partition count) pre-initialises the consumer-lag series."""
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
            "High-water mark minus committed offset, by input topic and partition.",
            ["topic", "partition"],
            registry=registry,
        ),
        # Messages written to a dead-letter topic, by the topic they came from and reason class.
        dead_letters=Counter(
            "borderwatch_classifier_dead_letters_total",
            "Dead letters, by source topic and reason class.",
            ["topic", "reason_class"],
            registry=registry,
        ),
        # Kafka errors caught: failed fetches, batches of sends not acknowledged, failed commits.
        broker_errors=Counter(
            "borderwatch_classifier_broker_errors_total", "Kafka errors caught.", registry=registry
        ),
    )
    for stage in BATCH_STAGES:
        m.stage_seconds.labels(stage)
    for stage in PIPELINE_STAGES:
        m.pipeline_latency_seconds.labels(stage)
    m.items.labels("ok", "none")
    for reason in DEAD_LETTER_REASON_CLASSES:
        m.items.labels("dead_lettered", reason)
    for label in Label:
        m.labels.labels(label.value)
        m.incident_updates.labels(label.value)
    for topic in DEAD_LETTER_TOPICS:
        for reason_class in DEAD_LETTER_REASON_CLASSES:
            m.dead_letters.labels(topic, reason_class)
    for partition in range(lag_partitions):
        m.consumer_lag.labels(INPUT_TOPIC, str(partition))
    register_build_info(registry, "classifier", **build)
    return m
