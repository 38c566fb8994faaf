"""Every operational series of the services exists at zero from the start."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from services.classifier import metrics as classifier_metrics
from services.ingest import metrics as ingest_metrics
from services.notifier import metrics as notifier_metrics

REASON_CLASSES = ("decode", "validation", "processing", "input")


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_notifier_alert_outcomes_start_at_zero_for_every_configured_rule() -> None:
    registry = CollectorRegistry()
    metrics = notifier_metrics.create_metrics(registry, rules=["closure", "casualties"])
    metrics.register_rules(["ceasefire"])
    outcomes = {
        "fired",
        "resolved",
        "suppressed_dedup",
        "suppressed_silence",
        "suppressed_inhibit",
        "suppressed_cooldown",
    }
    assert set(notifier_metrics.ALERT_OUTCOMES) == outcomes
    for rule in ("closure", "casualties", "ceasefire"):
        for outcome in outcomes:
            assert value(registry, "borderwatch_notifier_alerts_total", rule=rule, outcome=outcome) == 0
    assert value(registry, "borderwatch_notifier_alerts_total", rule="other", outcome="fired") is None


def test_notifier_alert_decided_counts_by_status() -> None:
    registry = CollectorRegistry()
    metrics = notifier_metrics.create_metrics(registry, rules=["closure"])
    metrics.alert_decided("closure", "firing")
    metrics.alert_decided("closure", "firing")
    metrics.alert_decided("closure", "resolved")
    assert value(registry, "borderwatch_notifier_alerts_total", rule="closure", outcome="fired") == 2
    assert value(registry, "borderwatch_notifier_alerts_total", rule="closure", outcome="resolved") == 1


def test_notifier_error_retry_and_dead_letter_series_start_at_zero() -> None:
    registry = CollectorRegistry()
    notifier_metrics.create_metrics(registry)
    for channel in ("console", "webhook", "slack", "email"):
        assert value(registry, "borderwatch_notifier_delivery_retries_total", channel=channel) == 0
    for topic in ("tagged-events", "incidents", "alerts"):
        for reason_class in REASON_CLASSES:
            assert (
                value(
                    registry,
                    "borderwatch_notifier_dead_letters_total",
                    topic=topic,
                    reason_class=reason_class,
                )
                == 0
            )
    assert value(registry, "borderwatch_notifier_redis_errors_total") == 0
    assert value(registry, "borderwatch_notifier_broker_errors_total") == 0


def test_notifier_consumer_lag_gauge_is_labelled_by_topic_and_partition() -> None:
    registry = CollectorRegistry()
    metrics = notifier_metrics.create_metrics(registry)
    metrics.consumer_lag.labels("tagged-events", "0").set(12)
    assert (
        value(registry, "borderwatch_notifier_consumer_lag_messages", topic="tagged-events", partition="0")
        == 12
    )


@pytest.mark.parametrize("reason_class", REASON_CLASSES)
def test_ingest_dead_letter_series_start_at_zero(reason_class: str) -> None:
    registry = CollectorRegistry()
    ingest_metrics.create_metrics(registry)
    assert (
        value(registry, "borderwatch_ingest_dead_letters_total", topic="raw-items", reason_class=reason_class)
        == 0
    )


def test_ingest_error_counters_start_at_zero() -> None:
    registry = CollectorRegistry()
    ingest_metrics.create_metrics(registry)
    assert value(registry, "borderwatch_ingest_redis_errors_total") == 0
    assert value(registry, "borderwatch_ingest_broker_errors_total") == 0


@pytest.mark.parametrize("reason_class", ("decode", "validation", "processing"))
def test_classifier_dead_letter_series_start_at_zero(reason_class: str) -> None:
    registry = CollectorRegistry()
    classifier_metrics.create_metrics(registry)
    name = "borderwatch_classifier_dead_letters_total"
    assert value(registry, name, topic="raw-items", reason_class=reason_class) == 0
    assert value(registry, name, topic="raw-items", reason_class="input") is None  # ingest's class only


def test_classifier_broker_errors_start_at_zero() -> None:
    registry = CollectorRegistry()
    classifier_metrics.create_metrics(registry)
    assert value(registry, "borderwatch_classifier_broker_errors_total") == 0


def test_classifier_consumer_lag_starts_at_zero_per_partition_of_the_logical_topic() -> None:
    registry = CollectorRegistry()
    classifier_metrics.create_metrics(registry, lag_partitions=3)
    name = "borderwatch_classifier_consumer_lag_messages"
    for partition in ("0", "1", "2"):
        assert value(registry, name, topic="raw-items", partition=partition) == 0
    assert value(registry, name, topic="raw-items", partition="3") is None


@pytest.mark.parametrize(
    ("service", "stages"),
    [
        ("ingest", ("published_to_ingested",)),
        ("classifier", ("ingested_to_tagged",)),
        ("notifier", ("tagged_to_alerted", "alerted_to_delivered")),
    ],
)
def test_each_service_has_its_pipeline_stage_latencies_at_zero(service: str, stages: tuple[str, ...]) -> None:
    registry = CollectorRegistry()
    {"ingest": ingest_metrics, "classifier": classifier_metrics, "notifier": notifier_metrics}[
        service
    ].create_metrics(registry)
    name = f"borderwatch_{service}_pipeline_latency_seconds"
    for stage in stages:
        assert value(registry, f"{name}_count", stage=stage) == 0
        assert value(registry, f"{name}_bucket", stage=stage, le="+Inf") == 0
    assert value(registry, f"{name}_count", stage="elsewhere") is None


def test_published_to_ingested_has_buckets_for_feeds_hours_behind() -> None:
    registry = CollectorRegistry()
    ingest_metrics.create_metrics(registry)
    for le in ("0.25", "1.0", "60.0", "300.0", "900.0", "3600.0", "21600.0", "86400.0"):
        assert (
            value(
                registry,
                "borderwatch_ingest_pipeline_latency_seconds_bucket",
                stage="published_to_ingested",
                le=le,
            )
            == 0
        )


def test_the_classifier_ingest_to_tagged_histogram_is_gone() -> None:
    registry = CollectorRegistry()
    classifier_metrics.create_metrics(registry)
    assert value(registry, "borderwatch_classifier_ingest_to_tagged_seconds_count") is None
