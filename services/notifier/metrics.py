"""The notifier's Prometheus metrics (conventions in services/common/metrics.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.alerts import AlertV1
from services.common.metrics import LATENCY_BUCKETS, register_build_info

CHANNEL_KINDS = ("console", "webhook", "slack", "email")
DELIVERY_OUTCOMES = ("ok", "retry", "permanent")
CONSUMED_TOPICS = ("tagged-events", "incidents")
CONSUME_OUTCOMES = ("ok", "dead_lettered")
ALERT_STATUSES = ("firing", "resolved")
MUTE_REASONS = ("silenced", "inhibited")
ALERT_OUTCOMES = (
    "fired",
    "resolved",
    "suppressed_dedup",
    "suppressed_silence",
    "suppressed_inhibit",
    "suppressed_cooldown",
)
# Logical topics whose messages the notifier dead-letters (alerts: undeliverable alerts).
DEAD_LETTER_TOPICS = ("tagged-events", "incidents", "alerts")
REASON_CLASSES = ("decode", "validation", "processing", "input")
# Stages of the pipeline whose latency the notifier observes (the family spans every service).
PIPELINE_STAGES = ("tagged_to_alerted", "alerted_to_delivered")


@dataclass(frozen=True)
class NotifierMetrics:
    consumed: Counter
    alerts_decided: Counter
    alerts_published: Counter
    deliveries: Counter
    send_seconds: Histogram
    ingest_to_delivery_seconds: Histogram
    muted: Counter
    digests: Counter
    outbox_held: Gauge
    silences_active: Gauge
    alerts: Counter
    consumer_lag: Gauge
    delivery_retries: Counter
    dead_letters: Counter
    redis_errors: Counter
    broker_errors: Counter
    pipeline_latency_seconds: Histogram

    def register_rules(self, rule_ids: Iterable[str]) -> None:
        """Create the alert series of the configured rules at zero."""
        for rule in rule_ids:
            for outcome in ALERT_OUTCOMES:
                self.alerts.labels(rule, outcome)

    def alert_decided(self, rule: str, status: str) -> None:
        self.alerts.labels(rule, "fired" if status == "firing" else "resolved").inc()

    def observe_alerted(
        self,
        alerts: Iterable[AlertV1],
        tagged_at: Mapping[str, datetime],
        fallback: datetime | None = None,
    ) -> None:
        """tagged_to_alerted for alerts an input decided: ``fired_at`` minus the ``tagged_at`` of the
        newest supporting event found in ``tagged_at`` (event id to tagged time), else ``fallback``
        (an incident revision's time); an alert with neither is not observed. Negatives count as 0.
        """
        stage = self.pipeline_latency_seconds.labels("tagged_to_alerted")
        for alert in alerts:
            times = [tagged_at[e.event_id] for e in alert.events if e.event_id in tagged_at]
            newest = max(times) if times else fallback
            if newest is not None:
                stage.observe(max(0.0, (alert.fired_at - newest).total_seconds()))

    def observe_delivered(self, alert: AlertV1, delivered_at: datetime) -> None:
        """alerted_to_delivered: a channel accepted ``alert`` at ``delivered_at`` (negatives: 0)."""
        seconds = (delivered_at - alert.fired_at).total_seconds()
        self.pipeline_latency_seconds.labels("alerted_to_delivered").observe(max(0.0, seconds))


def create_metrics(
    registry: CollectorRegistry, *, rules: Iterable[str] = (), **build: str
) -> NotifierMetrics:
    m = NotifierMetrics(
        # Messages read from the input topics, by topic and outcome.
        consumed=Counter(
            "borderwatch_notifier_consumed_total",
            "Messages consumed, by topic and outcome.",
            ["topic", "outcome"],
            registry=registry,
        ),
        # Alerts the rules decided (and queued in the outbox), by status.
        alerts_decided=Counter(
            "borderwatch_notifier_alerts_decided_total", "Alerts decided.", ["status"], registry=registry
        ),
        # Alerts published on the alerts topic after their deliveries were done.
        alerts_published=Counter(
            "borderwatch_notifier_alerts_published_total",
            "Alerts published to the alerts topic.",
            ["status"],
            registry=registry,
        ),
        # Send attempts per channel kind and outcome (a digest counts once).
        deliveries=Counter(
            "borderwatch_notifier_deliveries_total",
            "Send attempts, by channel kind and outcome.",
            ["channel", "outcome"],
            registry=registry,
        ),
        # Duration of one send attempt.
        send_seconds=Histogram(
            "borderwatch_notifier_send_seconds",
            "Duration of one send attempt.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        # From the latest event's ingest time to a channel accepting the alert.
        ingest_to_delivery_seconds=Histogram(
            "borderwatch_notifier_ingest_to_delivery_seconds",
            "Ingest of the newest supporting event to delivery.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        # Alerts not delivered because a silence or an inhibition muted them.
        muted=Counter(
            "borderwatch_notifier_muted_total", "Alerts muted, by reason.", ["reason"], registry=registry
        ),
        # Digest messages sent: rate-limited bursts and scheduled digests.
        digests=Counter(
            "borderwatch_notifier_digests_total",
            "Digest messages sent, by kind.",
            ["kind"],
            registry=registry,
        ),
        # Outbox entries this process holds (waiting for a retry or a token).
        outbox_held=Gauge(
            "borderwatch_notifier_outbox_held_entries", "Outbox entries held for retry.", registry=registry
        ),
        # Silences in force.
        silences_active=Gauge(
            "borderwatch_notifier_silences_active", "Silences in force.", registry=registry
        ),
        # What became of each alert a rule produced: fired/resolved, or why it was held back.
        alerts=Counter(
            "borderwatch_notifier_alerts_total",
            "Alerts by rule and outcome (fired, resolved, suppressed_*).",
            ["rule", "outcome"],
            registry=registry,
        ),
        # Messages not yet read per input partition (high watermark minus position).
        consumer_lag=Gauge(
            "borderwatch_notifier_consumer_lag_messages",
            "Messages behind the high watermark, by input topic and partition.",
            ["topic", "partition"],
            registry=registry,
        ),
        # Sends rescheduled for another attempt (retryable failure or an unexpected error).
        delivery_retries=Counter(
            "borderwatch_notifier_delivery_retries_total",
            "Sends rescheduled, by channel kind.",
            ["channel"],
            registry=registry,
        ),
        # Messages written to a dead-letter topic, by the topic they came from and reason class.
        dead_letters=Counter(
            "borderwatch_notifier_dead_letters_total",
            "Dead letters, by source topic and reason class.",
            ["topic", "reason_class"],
            registry=registry,
        ),
        redis_errors=Counter(
            "borderwatch_notifier_redis_errors_total", "Redis errors caught.", registry=registry
        ),
        broker_errors=Counter(
            "borderwatch_notifier_broker_errors_total", "Kafka errors caught.", registry=registry
        ),
        # tagged_to_alerted: an input-driven alert's decision after its newest event was tagged
        # (time-driven alerts are left out: their wait is by design); alerted_to_delivered: a
        # channel accepting an alert after its decision, per send (scheduled digests left out).
        pipeline_latency_seconds=Histogram(
            "borderwatch_notifier_pipeline_latency_seconds",
            "Seconds between pipeline stages (tagged_to_alerted, alerted_to_delivered).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
    )
    m.register_rules(rules)
    for stage in PIPELINE_STAGES:
        m.pipeline_latency_seconds.labels(stage)
    for topic in DEAD_LETTER_TOPICS:
        for reason_class in REASON_CLASSES:
            m.dead_letters.labels(topic, reason_class)
    for topic in CONSUMED_TOPICS:
        for outcome in CONSUME_OUTCOMES:
            m.consumed.labels(topic, outcome)
    for status in ALERT_STATUSES:
        m.alerts_decided.labels(status)
        m.alerts_published.labels(status)
    for kind in CHANNEL_KINDS:
        m.send_seconds.labels(kind)
        m.ingest_to_delivery_seconds.labels(kind)
        for outcome in DELIVERY_OUTCOMES:
            m.deliveries.labels(kind, outcome)
        m.delivery_retries.labels(kind)
    for reason in MUTE_REASONS:
        m.muted.labels(reason)
    for kind in ("burst", "scheduled"):
        m.digests.labels(kind)
    register_build_info(registry, "notifier", **build)
    return m
