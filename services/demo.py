"""``borderwatch demo`` and ``borderwatch alerts watch``: show alerts as the stack delivers them."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import typer
from kafka import KafkaConsumer, TopicPartition

from schemas.alerts import AlertV1
from schemas.codec import InvalidMessage, decode_as
from schemas.topics import TopicKey
from services.common.lag import group_lag
from services.common.settings import CommonSettings
from services.ingest.app import IngestSettings, replay
from services.notifier.channels import ingest_to_delivery_seconds


def _alerts_consumer(settings: CommonSettings, *, from_beginning: bool) -> KafkaConsumer:
    topic = settings.topic(TopicKey.ALERTS)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_list,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=-1,
    )
    partitions = consumer.partitions_for_topic(topic) or {0}
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    if from_beginning:
        consumer.seek_to_beginning(*tps)
    else:
        for tp, end in consumer.end_offsets(tps).items():
            consumer.seek(tp, end)
    return consumer


def _describe(alert: AlertV1) -> str:
    latency = ingest_to_delivery_seconds(alert, alert.delivered_at) if alert.delivered_at else None
    shown = f"{latency:.3f}s" if latency is not None else "n/a"
    return (
        f"[{alert.severity.upper():8}] {alert.rule_id}: {alert.summary}\n"
        f"           window {alert.window_start:%Y-%m-%d}  ingest->delivery {shown}"
    )


def _poll_alerts(consumer: KafkaConsumer, timeout_ms: int) -> list[AlertV1]:
    alerts = []
    for records in consumer.poll(timeout_ms=timeout_ms).values():
        for record in records:
            try:
                alerts.append(decode_as(AlertV1, record.value))
            except InvalidMessage as exc:
                typer.echo(f"(skipping an unreadable alert: {exc.reason})", err=True)
    return alerts


def watch_alerts(settings: CommonSettings, *, from_beginning: bool, idle_exit_s: float) -> None:
    consumer = _alerts_consumer(settings, from_beginning=from_beginning)
    last = time.monotonic()
    try:
        while idle_exit_s <= 0 or time.monotonic() - last < idle_exit_s:
            for alert in _poll_alerts(consumer, 500):
                typer.echo(_describe(alert))
                last = time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _pipeline_caught_up(settings: IngestSettings) -> bool:
    from services.classifier.app import ClassifierSettings
    from services.notifier.app import NotifierSettings

    classifier_group = ClassifierSettings().classifier_group_id
    notifier_group = NotifierSettings().notifier_group_id
    raw_lag = group_lag(settings.bootstrap_list, classifier_group, settings.topic(TopicKey.RAW_ITEMS))
    tagged_lag = group_lag(settings.bootstrap_list, notifier_group, settings.topic(TopicKey.TAGGED_EVENTS))
    return raw_lag == 0 and tagged_lag == 0


def run_demo(settings: IngestSettings, path: str, *, timeout_s: float, settle_s: float = 3.0) -> int:
    """Replay ``path`` and print each alert it causes; return 0 once the pipeline is idle."""
    consumer = _alerts_consumer(settings, from_beginning=False)
    try:
        started = time.monotonic()
        summary = replay(settings, path)
        typer.echo(summary.render())
        typer.echo(f"waiting for alerts (at most {timeout_s:.0f}s)...")
        shown = 0
        first_at: float | None = None
        quiet_since: float | None = None
        latencies: list[float] = []
        while time.monotonic() - started < timeout_s:
            alerts = _poll_alerts(consumer, 500)
            for alert in alerts:
                shown += 1
                first_at = first_at or time.monotonic()
                typer.echo(_describe(alert))
                if alert.delivered_at:
                    value = ingest_to_delivery_seconds(alert, alert.delivered_at)
                    if value is not None:
                        latencies.append(value)
            if alerts:
                quiet_since = None
            elif _pipeline_caught_up(settings):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle_s:
                    break
        else:
            typer.echo(
                f"gave up after {timeout_s:.0f}s: the pipeline is still busy or a service is down "
                "(see var/log/)",
                err=True,
            )
            return 1
        if shown == 0:
            typer.echo(
                "no new alerts: every alert for these items was delivered before "
                "(alerts are de-duplicated across runs)"
            )
        elif first_at is not None:
            typer.echo(
                f"{shown} alert(s); first alert {first_at - started:.1f}s after the replay started; "
                f"ingest->delivery max {max(latencies, default=0):.3f}s at {datetime.now(UTC):%H:%M:%S} UTC"
            )
        return 0
    finally:
        consumer.close()
