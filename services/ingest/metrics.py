"""Prometheus metrics of the ingest service (see services/common/metrics.py for the conventions).

The ``feed`` label takes the ids of the configured feeds: a bounded set chosen by the operator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS, register_build_info
from services.ingest.batches import EncodedItem
from services.ingest.feed_parse import FEED_ERROR_REASONS

ORIGINS = ("replay", "feed", "push")
ITEM_OUTCOMES = ("accepted", "duplicate", "invalid")
API_STATUSES = ("202", "400", "401", "403", "413", "429", "503")
POLL_OUTCOMES = ("ok", "not_modified", "error")
DEAD_LETTER_TOPICS = ("raw-items",)
REASON_CLASSES = ("decode", "validation", "processing", "input")
# Stages of the pipeline whose latency ingest observes (the family spans every service).
PIPELINE_STAGES = ("published_to_ingested",)
# Feeds publish minutes to hours before a poll sees the item: the latency goals' edges and beyond.
PUBLISHED_TO_INGESTED_BUCKETS: tuple[float, ...] = (*LATENCY_BUCKETS, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
FEED_ERROR_KINDS = (
    *FEED_ERROR_REASONS,
    "http_status",
    "timeout",
    "too_large",
    "redirects",
    "network",
    "publish",
)


@dataclass(frozen=True)
class IngestMetrics:
    # Items by how they entered and what became of them.
    items: Counter
    # Seconds from sending a batch to the broker until every message of it was acknowledged.
    publish_seconds: Histogram
    # Messages sent to the broker and not yet acknowledged.
    inflight_messages: Gauge
    # 1 while the broker takes messages, 0 after a failed send until one succeeds again.
    broker_available: Gauge
    # Push API responses by status code.
    api_requests: Counter
    # Seconds to answer a push request.
    api_request_seconds: Histogram
    # Feed polls by outcome.
    feed_polls: Counter
    # Failed feed polls by kind of failure.
    feed_errors: Counter
    # Entries read from each feed (new or not).
    feed_items_seen: Counter
    # Unix time of the last successful poll (200 or 304) of each feed.
    feed_last_success: Gauge
    # Unix time of the last failed poll of each feed.
    feed_last_error: Gauge
    # Messages written to a dead-letter topic, by the topic they were meant for and reason class.
    dead_letters: Counter
    # Redis errors caught (the seen-set).
    redis_errors: Counter
    # Broker errors caught (sends not acknowledged).
    broker_errors: Counter
    # Per accepted item (broker acknowledged): its ingest time minus its publication time, by stage.
    pipeline_latency_seconds: Histogram

    def observe_ingested(self, items: Sequence[EncodedItem], acked: Sequence[str]) -> None:
        """Observe published_to_ingested for the ``items`` whose ids the broker acknowledged."""
        stage = self.pipeline_latency_seconds.labels(stage="published_to_ingested")
        taken = None if len(acked) == len(items) else set(acked)
        for item in items:
            lag = item.published_to_ingested_s
            if lag is not None and (taken is None or item.id in taken):
                stage.observe(lag)

    def register_feeds(self, feed_ids: Iterable[str]) -> None:
        """Create every series of the configured feeds at zero."""
        for feed in feed_ids:
            for outcome in POLL_OUTCOMES:
                self.feed_polls.labels(feed=feed, outcome=outcome)
            for kind in FEED_ERROR_KINDS:
                self.feed_errors.labels(feed=feed, kind=kind)
            self.feed_items_seen.labels(feed=feed)
            self.feed_last_success.labels(feed=feed)
            self.feed_last_error.labels(feed=feed)


def create_metrics(registry: CollectorRegistry) -> IngestMetrics:
    metrics = IngestMetrics(
        items=Counter(
            "borderwatch_ingest_items_total",
            "Items by origin and outcome (accepted, duplicate, invalid).",
            ["origin", "outcome"],
            registry=registry,
        ),
        publish_seconds=Histogram(
            "borderwatch_ingest_publish_seconds",
            "Seconds from sending a batch until the broker acknowledged all of it.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        inflight_messages=Gauge(
            "borderwatch_ingest_inflight_messages",
            "Messages sent to the broker and not yet acknowledged.",
            registry=registry,
        ),
        broker_available=Gauge(
            "borderwatch_ingest_broker_available",
            "1 while the broker takes messages, 0 after a failed send.",
            registry=registry,
        ),
        api_requests=Counter(
            "borderwatch_ingest_api_requests_total",
            "Push API responses by status code.",
            ["status"],
            registry=registry,
        ),
        api_request_seconds=Histogram(
            "borderwatch_ingest_api_request_seconds",
            "Seconds to answer a push API request.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        feed_polls=Counter(
            "borderwatch_ingest_feed_polls_total",
            "Feed polls by feed and outcome (ok, not_modified, error).",
            ["feed", "outcome"],
            registry=registry,
        ),
        feed_errors=Counter(
            "borderwatch_ingest_feed_errors_total",
            "Failed feed polls by feed and kind of failure.",
            ["feed", "kind"],
            registry=registry,
        ),
        feed_items_seen=Counter(
            "borderwatch_ingest_feed_items_seen_total",
            "Entries read from each feed, new or already seen.",
            ["feed"],
            registry=registry,
        ),
        feed_last_success=Gauge(
            "borderwatch_ingest_feed_last_success_timestamp_seconds",
            "Unix time of the last successful poll of each feed.",
            ["feed"],
            registry=registry,
        ),
        feed_last_error=Gauge(
            "borderwatch_ingest_feed_last_error_timestamp_seconds",
            "Unix time of the last failed poll of each feed.",
            ["feed"],
            registry=registry,
        ),
        dead_letters=Counter(
            "borderwatch_ingest_dead_letters_total",
            "Dead letters, by topic and reason class.",
            ["topic", "reason_class"],
            registry=registry,
        ),
        redis_errors=Counter(
            "borderwatch_ingest_redis_errors_total", "Redis errors caught.", registry=registry
        ),
        broker_errors=Counter(
            "borderwatch_ingest_broker_errors_total", "Kafka errors caught.", registry=registry
        ),
        pipeline_latency_seconds=Histogram(
            "borderwatch_ingest_pipeline_latency_seconds",
            "Seconds between pipeline stages (published_to_ingested: publication to ingest).",
            ["stage"],
            buckets=PUBLISHED_TO_INGESTED_BUCKETS,
            registry=registry,
        ),
    )
    for stage in PIPELINE_STAGES:
        metrics.pipeline_latency_seconds.labels(stage=stage)
    for topic in DEAD_LETTER_TOPICS:
        for reason_class in REASON_CLASSES:
            metrics.dead_letters.labels(topic=topic, reason_class=reason_class)
    for origin in ORIGINS:
        for outcome in ITEM_OUTCOMES:
            metrics.items.labels(origin=origin, outcome=outcome)
    for status in API_STATUSES:
        metrics.api_requests.labels(status=status)
    metrics.broker_available.set(1)
    register_build_info(registry, "ingest")
    return metrics
