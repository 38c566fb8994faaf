"""Counters and stage latencies whose code paths need the real Redis or broker.

- the notifier's rule outcomes (fired, resolved, suppressed_cooldown) and tagged_to_alerted,
  through the consumer's record handling and the tick loop on the Redis rule state;
- suppressed_dedup and suppressed_inhibit through the dispatcher on the Redis outbox;
- the notifier's consumer-lag gauge from real partitions;
- ingest's replay: dead letters, and published_to_ingested for what the broker acknowledged.

Each test checks the series it drives and that the neighbouring ones stayed put.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from schemas import AlertV1, DeadLetterV1, TopicKey, decode_as, encode, topic_name
from services.common.kafka_admin import ensure_topics
from services.ingest.app import replay
from services.ingest.metrics import create_metrics as create_ingest_metrics
from services.ingest.settings import IngestSettings
from services.notifier.app import Notifier, NotifierSettings
from services.notifier.delivery import DeliveryPolicy
from services.notifier.metrics import ALERT_OUTCOMES, create_metrics
from services.notifier.outbox import DeliveryKeys, Outbox
from services.notifier.rules import Rule, RuleSet
from services.notifier.subscribers import load_subscribers
from tests.integration.kafka_helpers import produce_raw, read_topic
from tests.sinks import HttpSink
from tests.unit.notifier.dispatch_cases import HOOK_SUBSCRIBERS, webhook_dispatcher
from tests.unit.notifier.rule_cases import T0, ev, incident
from tests.unit.notifier.test_metrics_calls import (
    RecordingProducer,
    make_alert,
    record,
    sample,
    wait_for,
)

pytestmark = pytest.mark.integration

RULE_SPECS: dict[str, dict[str, Any]] = {
    "truce": {"type": "state", "state": "ceasefire", "match": {"region": "af-pak"}, "quiet_for": "2d"},
    "violation": {"type": "any", "match": {"labels": ["ceasefire_violation"]}, "cooldown": "2h"},
    "corroborated": {
        "type": "corroborated",
        "match": {"labels": ["casualties"]},
        "group_by": ["place"],
        "threshold": 3,
    },
}
RULES = RuleSet(
    version=1,
    rules=[
        Rule.model_validate({"id": rule_id, "title": rule_id, "severity": "high", "routes": ["hook"], **spec})
        for rule_id, spec in RULE_SPECS.items()
    ],
)


class SettableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def forget(redis: Redis, namespace: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"bw:{namespace}:*")]
    if keys:
        await redis.delete(*keys)


def outcomes(registry: CollectorRegistry, rule: str) -> dict[str, float]:
    return {
        o: sample(registry, "borderwatch_notifier_alerts_total", rule=rule, outcome=o) for o in ALERT_OUTCOMES
    }


def zero_but(**moved: float) -> dict[str, float]:
    return {o: 0.0 for o in ALERT_OUTCOMES} | moved


def stage(registry: CollectorRegistry, service: str, name: str) -> tuple[float, float]:
    metric = f"borderwatch_{service}_pipeline_latency_seconds"
    return sample(registry, f"{metric}_count", stage=name), sample(registry, f"{metric}_sum", stage=name)


def build_notifier(
    namespace: str,
    redis: Redis,
    tmp_path: Path,
    clock: Callable[[], datetime],
    bootstrap: str = "127.0.0.1:9092",
) -> tuple[Notifier, CollectorRegistry]:
    path = tmp_path / "subscribers.yaml"
    path.write_text(HOOK_SUBSCRIBERS)
    registry = CollectorRegistry()
    notifier = Notifier(
        NotifierSettings(topic_namespace=namespace, kafka_bootstrap_servers=bootstrap, notifier_tick_s=0.05),
        redis=redis,
        producer=cast(AIOKafkaProducer, RecordingProducer()),
        channels={},
        rules=RULES,
        subscribers=load_subscribers(path),
        targets=[],
        metrics=create_metrics(registry),
        clock=clock,
    )
    return notifier, registry


async def test_rule_outcomes_and_tagged_to_alerted_on_the_redis_rule_state(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    redis = Redis.from_url(redis_url)
    clock = SettableClock(T0 + timedelta(seconds=4))
    notifier, registry = build_notifier(namespace, redis, tmp_path, clock)
    try:
        # A violation: the truce state fires at once, and so does the per-event rule.
        first = ev("a", T0, labels=["ceasefire_violation"])
        await notifier.handle_records([record(TopicKey.TAGGED_EVENTS, encode(first), 0, namespace)])
        assert outcomes(registry, "truce") == zero_but(fired=1)
        assert outcomes(registry, "violation") == zero_but(fired=1)
        assert stage(registry, "notifier", "tagged_to_alerted") == (2, 8.0)  # tagged at T0, decided +4 s

        # Within the cooldown: the per-event rule holds the alert back; the truce stays violated.
        clock.now = T0 + timedelta(hours=1, seconds=1)
        second = ev("b", T0 + timedelta(hours=1), labels=["ceasefire_violation"])
        await notifier.handle_records([record(TopicKey.TAGGED_EVENTS, encode(second), 1, namespace)])
        assert outcomes(registry, "violation") == zero_but(fired=1, suppressed_cooldown=1)
        assert outcomes(registry, "truce") == zero_but(fired=1)
        assert stage(registry, "notifier", "tagged_to_alerted") == (2, 8.0)

        # An incident revision with enough sources: its revision time stands in for tagged_at.
        update = incident("i1", 2, sources=3)
        clock.now = update.updated_at + timedelta(seconds=5)
        await notifier.handle_records([record(TopicKey.INCIDENTS, encode(update), 0, namespace)])
        assert outcomes(registry, "corroborated") == zero_but(fired=1)
        assert stage(registry, "notifier", "tagged_to_alerted") == (3, 13.0)

        # Quiet for long enough: the tick loop resolves the truce (time-driven: no stage latency).
        clock.now = T0 + timedelta(days=3)
        ticking = asyncio.create_task(notifier.tick())
        try:
            await wait_for(lambda: outcomes(registry, "truce")["resolved"] == 1)
        finally:
            notifier.stop()
            await asyncio.wait_for(ticking, 5)
        assert outcomes(registry, "truce") == zero_but(fired=1, resolved=1)
        assert outcomes(registry, "violation") == zero_but(fired=1, suppressed_cooldown=1)
        assert stage(registry, "notifier", "tagged_to_alerted") == (3, 13.0)
        assert sample(registry, "borderwatch_notifier_redis_errors_total") == 0
    finally:
        await forget(redis, namespace)
        await redis.aclose()


async def test_dedup_and_inhibition_on_the_redis_outbox_count_for_their_rules(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    redis = Redis.from_url(redis_url)
    keys = DeliveryKeys(namespace)
    registry = CollectorRegistry()
    metrics = create_metrics(registry, rules=["repeat", "r-critical", "r-lower"])
    published: list[str] = []

    async def enqueue(alert: AlertV1) -> None:
        await redis.xadd(keys.outbox, {"alert_id": alert.alert_id, "alert": alert.model_dump_json()})

    try:
        with HttpSink() as sink:
            async with httpx.AsyncClient() as http:
                dispatcher = webhook_dispatcher(
                    tmp_path,
                    Outbox(redis, keys, group="g", consumer="c1"),
                    http,
                    sink.url,
                    metrics=metrics,
                    published=published,
                    policy=DeliveryPolicy(rescan_s=0.5),
                )
                task = asyncio.create_task(dispatcher.run())
                try:
                    repeat = make_alert(f"{namespace}-repeat", "repeat")
                    await enqueue(repeat)
                    await wait_for(lambda: len(published) == 1)
                    await enqueue(repeat)  # the same decision queued again (a replay, another instance)
                    await wait_for(lambda: len(published) == 2)
                    assert outcomes(registry, "repeat") == zero_but(suppressed_dedup=1)

                    group = {"crossing": "Torkham"}
                    await enqueue(
                        make_alert(f"{namespace}-crit", "r-critical", severity="critical", group=group)
                    )
                    await wait_for(lambda: len(published) == 3)
                    await enqueue(make_alert(f"{namespace}-low", "r-lower", severity="high", group=group))
                    await wait_for(lambda: len(published) == 4)
                finally:
                    dispatcher.stop()
                    await asyncio.wait_for(task, 5)
            delivered = [b["alert_id"] for b in sink.snapshot()]
        assert delivered == [f"{namespace}-repeat", f"{namespace}-crit"]
        assert outcomes(registry, "r-lower") == zero_but(suppressed_inhibit=1)
        assert outcomes(registry, "r-critical") == zero_but()
        assert outcomes(registry, "repeat") == zero_but(suppressed_dedup=1)
        assert sample(registry, "borderwatch_notifier_muted_total", reason="inhibited") == 1
        assert sample(registry, "borderwatch_notifier_muted_total", reason="silenced") == 0
        # Two sends were accepted by the webhook: each one observed the delivery stage once.
        assert stage(registry, "notifier", "alerted_to_delivered")[0] == 2
    finally:
        await forget(redis, namespace)
        await redis.aclose()


async def test_consumer_lag_is_set_from_the_partitions_the_consumer_reads(
    kafka_bootstrap: str, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    redis = Redis.from_url(redis_url)
    notifier, registry = build_notifier(namespace, redis, tmp_path, lambda: T0, kafka_bootstrap)
    await asyncio.to_thread(ensure_topics, notifier.settings)
    topic = topic_name(TopicKey.TAGGED_EVENTS, namespace)
    events = [encode(ev(f"lag-{i}", labels=["closure"])) for i in range(7)]
    await asyncio.to_thread(produce_raw, kafka_bootstrap, topic, events, b"one-partition")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{namespace}-lag",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    reporting: asyncio.Task[None] | None = None
    try:
        taken: list[Any] = []
        deadline = time.monotonic() + 30
        while not taken and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=2)).values():
                taken += records
        assert len(taken) == 2
        partition = str(taken[0].partition)
        reporting = asyncio.create_task(notifier.report_lag(consumer, interval_s=0.05))

        def lag() -> float | None:
            return registry.get_sample_value(
                "borderwatch_notifier_consumer_lag_messages",
                {"topic": "tagged-events", "partition": partition},
            )

        await wait_for(lambda: lag() == 5, timeout_s=20)
        assert (
            registry.get_sample_value(
                "borderwatch_notifier_consumer_lag_messages", {"topic": "incidents", "partition": partition}
            )
            is None
        )  # not subscribed here
    finally:
        notifier.stop()
        if reporting is not None:
            await asyncio.wait_for(reporting, 5)
        await consumer.stop()
        await redis.aclose()


def test_replay_counts_dead_letters_and_the_published_to_ingested_stage(
    kafka_bootstrap: str, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    now = datetime(2025, 10, 12, 7, 0, tzinfo=UTC)
    lines = [
        {
            "source": "wire",
            "title": "Torkham closed",
            "url": f"https://e.org/{namespace}/1",
            "published_at": (now - timedelta(minutes=10)).isoformat(),
        },
        {
            "source": "wire",
            "title": "Chaman closed",
            "url": f"https://e.org/{namespace}/2",
            "published_at": (now - timedelta(minutes=12)).isoformat(),
        },
        {"source": "wire", "title": "No date on this one", "url": f"https://e.org/{namespace}/3"},
    ]
    path = tmp_path / "replay.jsonl"
    path.write_text("\n".join([*map(json.dumps, lines), '{"source": "wire"}']) + "\n")
    settings = IngestSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        redis_url=redis_url,
        topic_namespace=namespace,
        ingest_normalise_workers=0,
    )
    registry = CollectorRegistry()
    summary = replay(settings, str(path), clock=lambda: now, metrics=create_ingest_metrics(registry))
    assert (summary.accepted, summary.invalid) == (3, 1)

    def dead(reason_class: str) -> float:
        return sample(
            registry, "borderwatch_ingest_dead_letters_total", topic="raw-items", reason_class=reason_class
        )

    assert [dead(r) for r in ("input", "decode", "validation", "processing")] == [1, 0, 0, 0]
    letters = read_topic(kafka_bootstrap, topic_name(TopicKey.RAW_ITEMS_DLQ, namespace), min_count=1)
    assert [decode_as(DeadLetterV1, r.value).line_number for r in letters] == [4]
    # Two dated items acknowledged by the broker; the undated one is left out.
    assert stage(registry, "ingest", "published_to_ingested") == (2, 600.0 + 720.0)
    bucket = "borderwatch_ingest_pipeline_latency_seconds_bucket"
    assert sample(registry, bucket, stage="published_to_ingested", le="300.0") == 0
    assert sample(registry, bucket, stage="published_to_ingested", le="900.0") == 2
    assert sample(registry, "borderwatch_ingest_redis_errors_total") == 0
    assert sample(registry, "borderwatch_ingest_broker_errors_total") == 0

    # Again: every item is a duplicate now, so nothing more is observed.
    registry = CollectorRegistry()
    again = replay(settings, str(path), clock=lambda: now, metrics=create_ingest_metrics(registry))
    assert (again.accepted, again.duplicates) == (0, 3)
    assert stage(registry, "ingest", "published_to_ingested") == (0, 0)
    asyncio.run(_forget(redis_url, namespace))


async def _forget(redis_url: str, namespace: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await forget(redis, namespace)
    finally:
        await redis.aclose()
