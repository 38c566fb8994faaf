"""The notifier's counters move where the code handles each case, and only those series move.

Each test drives a real code path (the consumer's record handling, the tick loop, the
dispatcher with a real webhook channel against a local HTTP server) on a fresh registry. Paths
that need the real Redis or broker (rule outcomes, dedup, inhibition, consumer lag) are in
tests/integration/test_metrics_calls.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError

from schemas import AlertV1, TopicKey, decode, encode, topic_name
from services.notifier.app import Notifier, NotifierSettings
from services.notifier.delivery import DeliveryPolicy
from services.notifier.metrics import ALERT_OUTCOMES, CHANNEL_KINDS, create_metrics
from services.notifier.silences import Matcher, Silence, SilenceRequest
from services.notifier.subscribers import load_subscribers
from tests.integration.processes import free_port
from tests.sinks import HttpSink
from tests.unit.notifier.dispatch_cases import (
    HOOK_SUBSCRIBERS,
    MemoryOutbox,
    run_until_published,
    webhook_dispatcher,
)
from tests.unit.notifier.rule_cases import T0, ev, ruleset

ROOT = Path(__file__).resolve().parents[3]
ALERT_EXAMPLE = ROOT / "schemas" / "examples" / "alerts" / "v1" / "count-fired.json"
NAMESPACE = "unit-metrics"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, f"{name}{labels} does not exist"
    return value


def make_alert(alert_id: str, rule_id: str, **update: Any) -> AlertV1:
    model = decode(TopicKey.ALERTS, ALERT_EXAMPLE.read_bytes())
    assert isinstance(model, AlertV1)
    data = {**model.model_dump(), "alert_id": alert_id, "rule_id": rule_id, **update}
    return AlertV1.model_validate(data)


# -- the consumer: dead letters, broker and Redis errors --------------------------------------


class RecordingProducer:
    """Takes the place of the Kafka producer: records each send, or fails every send."""

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.error = error

    async def send_and_wait(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None
    ) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((topic, value))


def record(
    key: TopicKey, value: bytes, offset: int = 0, namespace: str = NAMESPACE
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic_name(key, namespace), 0, offset, 0, 0, None, value, None, 0, len(value), [])


def notifier_for(
    tmp_path: Path, producer: RecordingProducer, redis: Redis, clock: Callable[[], datetime] | None = None
) -> tuple[Notifier, CollectorRegistry]:
    path = tmp_path / "subscribers.yaml"
    path.write_text(HOOK_SUBSCRIBERS)
    registry = CollectorRegistry()
    notifier = Notifier(
        NotifierSettings(topic_namespace=NAMESPACE, notifier_tick_s=0.05),
        redis=redis,
        producer=cast(AIOKafkaProducer, producer),
        channels={},
        rules=ruleset({"type": "any", "match": {"labels": ["closure"]}}),
        subscribers=load_subscribers(path),
        targets=[],
        metrics=create_metrics(registry),
        clock=clock or (lambda: T0),
    )
    return notifier, registry


@pytest.fixture
async def closed_redis() -> AsyncIterator[Redis]:
    """A Redis client whose server is not there: every command raises ConnectionError."""
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    yield client
    await client.aclose()


def dead_letters(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (topic, reason): sample(
            registry, "borderwatch_notifier_dead_letters_total", topic=topic, reason_class=reason
        )
        for topic in ("tagged-events", "incidents", "alerts")
        for reason in ("decode", "validation", "processing", "input")
    }


async def test_undecodable_and_invalid_inputs_count_dead_letters_by_topic_and_reason_class(
    tmp_path: Path, closed_redis: Redis
) -> None:
    producer = RecordingProducer()
    notifier, registry = notifier_for(tmp_path, producer, closed_redis)
    await notifier.handle_records(
        [
            record(TopicKey.TAGGED_EVENTS, b"\xff not json", 0),
            record(TopicKey.TAGGED_EVENTS, b'{"schema_version": 1, "event_id": "only-this"}', 1),
            record(TopicKey.INCIDENTS, b"{truncated", 0),
        ]
    )
    counted = dead_letters(registry)
    moved = {k: v for k, v in counted.items() if v}
    assert moved == {
        ("tagged-events", "decode"): 1,
        ("tagged-events", "validation"): 1,
        ("incidents", "decode"): 1,
    }
    assert [topic for topic, _ in producer.sent] == [topic_name(TopicKey.TAGGED_EVENTS_DLQ, NAMESPACE)] * 3
    assert sample(registry, "borderwatch_notifier_broker_errors_total") == 0
    assert sample(registry, "borderwatch_notifier_redis_errors_total") == 0  # nothing to count in Redis


async def test_a_dead_letter_the_broker_refuses_counts_a_broker_error_not_a_dead_letter(
    tmp_path: Path, closed_redis: Redis
) -> None:
    notifier, registry = notifier_for(tmp_path, RecordingProducer(KafkaTimeoutError()), closed_redis)
    with pytest.raises(KafkaTimeoutError):
        await notifier.handle_records([record(TopicKey.TAGGED_EVENTS, b"not json")])
    assert sample(registry, "borderwatch_notifier_broker_errors_total") == 1
    assert not any(dead_letters(registry).values())
    assert sample(registry, "borderwatch_notifier_redis_errors_total") == 0


async def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_redis_errors_while_counting_events_are_counted_on_every_retry(
    tmp_path: Path, closed_redis: Redis
) -> None:
    notifier, registry = notifier_for(tmp_path, RecordingProducer(), closed_redis)
    event = ev("closed-redis", labels=["closure"])
    task = asyncio.create_task(notifier.handle_records([record(TopicKey.TAGGED_EVENTS, encode(event))]))
    try:
        # Transient: the batch is evaluated again after a backoff (0.2 s, then 0.4 s).
        await wait_for(lambda: sample(registry, "borderwatch_notifier_redis_errors_total") >= 2)
        assert not task.done()
    finally:
        notifier.stop()
    with pytest.raises(RedisError):  # once stopping, the error ends the batch (left uncommitted)
        await asyncio.wait_for(task, 5)
    assert sample(registry, "borderwatch_notifier_consumed_total", topic="tagged-events", outcome="ok") == 0
    assert sample(registry, "borderwatch_notifier_broker_errors_total") == 0
    assert sample(registry, "borderwatch_notifier_alerts_total", rule="r", outcome="fired") == 0


async def test_redis_errors_in_the_tick_loop_are_counted_and_the_loop_goes_on(
    tmp_path: Path, closed_redis: Redis
) -> None:
    notifier, registry = notifier_for(tmp_path, RecordingProducer(), closed_redis)
    task = asyncio.create_task(notifier.tick())
    try:
        await wait_for(lambda: sample(registry, "borderwatch_notifier_redis_errors_total") >= 2)
        assert not task.done()
    finally:
        notifier.stop()
        await asyncio.wait_for(task, 5)
    assert sample(registry, "borderwatch_notifier_broker_errors_total") == 0


# -- the dispatcher: silences, retries and the delivery stage latency --------------------------


async def deliver(
    tmp_path: Path,
    alerts: Sequence[AlertV1],
    http: httpx.AsyncClient,
    hook_url: str,
    *,
    silences: Sequence[Silence] = (),
    clock: Callable[[], datetime] = lambda: T0,
) -> CollectorRegistry:
    """Run a dispatcher with one webhook subscriber until every alert was published."""
    registry = CollectorRegistry()
    published: list[str] = []
    dispatcher = webhook_dispatcher(
        tmp_path,
        MemoryOutbox(alerts),
        http,
        hook_url,
        metrics=create_metrics(registry, rules={a.rule_id for a in alerts}),
        published=published,
        silences=lambda: list(silences),
        policy=DeliveryPolicy(backoff_base_s=0.05, backoff_cap_s=0.2, rescan_s=60),
        clock=clock,
    )
    await run_until_published(dispatcher, published, len(alerts))
    return registry


def outcomes(registry: CollectorRegistry, rule: str) -> dict[str, float]:
    return {
        o: sample(registry, "borderwatch_notifier_alerts_total", rule=rule, outcome=o) for o in ALERT_OUTCOMES
    }


async def test_a_silenced_alert_counts_suppressed_silence_for_its_rule_only(tmp_path: Path) -> None:
    silence = Silence.create(
        SilenceRequest(
            matchers=[Matcher(name="rule_id", value="noisy")],
            ends_at=T0 + timedelta(hours=1),
            created_by="test",
            comment="maintenance",
        ),
        T0 - timedelta(minutes=1),
    )
    alerts = [make_alert("a-noisy", "noisy"), make_alert("a-other", "other")]
    with HttpSink() as sink:
        async with httpx.AsyncClient() as http:
            registry = await deliver(tmp_path, alerts, http, sink.url, silences=[silence])
        assert [b["alert_id"] for b in sink.snapshot()] == ["a-other"]
    assert outcomes(registry, "noisy") == {o: 0 for o in ALERT_OUTCOMES} | {"suppressed_silence": 1}
    assert outcomes(registry, "other") == {o: 0 for o in ALERT_OUTCOMES}
    assert sample(registry, "borderwatch_notifier_muted_total", reason="silenced") == 1
    assert sample(registry, "borderwatch_notifier_muted_total", reason="inhibited") == 0


async def test_retryable_answers_count_delivery_retries_for_the_channel_kind(tmp_path: Path) -> None:
    answers = [(500, {}), (429, {"Retry-After": "0"})]

    def respond(body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        return answers.pop(0) if answers else (200, {})

    with HttpSink(respond) as sink:
        async with httpx.AsyncClient() as http:
            registry = await deliver(tmp_path, [make_alert("a-1", "r")], http, sink.url)
        assert len(sink.snapshot()) == 1
    assert sample(registry, "borderwatch_notifier_delivery_retries_total", channel="webhook") == 2
    for kind in set(CHANNEL_KINDS) - {"webhook"}:
        assert sample(registry, "borderwatch_notifier_delivery_retries_total", channel=kind) == 0
    assert sample(registry, "borderwatch_notifier_deliveries_total", channel="webhook", outcome="retry") == 2
    assert sample(registry, "borderwatch_notifier_deliveries_total", channel="webhook", outcome="ok") == 1


def histogram(registry: CollectorRegistry, service: str, stage: str) -> tuple[float, float]:
    name = f"borderwatch_{service}_pipeline_latency_seconds"
    return sample(registry, f"{name}_count", stage=stage), sample(registry, f"{name}_sum", stage=stage)


def bucket(registry: CollectorRegistry, service: str, stage: str, le: str) -> float:
    return sample(registry, f"borderwatch_{service}_pipeline_latency_seconds_bucket", stage=stage, le=le)


async def test_each_delivered_alert_observes_alerted_to_delivered_on_the_injected_clock(
    tmp_path: Path,
) -> None:
    fired_at = T0 - timedelta(seconds=2)
    alerts = [make_alert(f"a-{i}", "r", fired_at=fired_at) for i in range(3)]
    with HttpSink() as sink:
        async with httpx.AsyncClient() as http:
            registry = await deliver(tmp_path, alerts, http, sink.url, clock=lambda: T0)
        assert len(sink.snapshot()) == 3
    assert histogram(registry, "notifier", "alerted_to_delivered") == (3, 6.0)
    assert bucket(registry, "notifier", "alerted_to_delivered", "2.5") == 3
    assert bucket(registry, "notifier", "alerted_to_delivered", "1.0") == 0
    assert histogram(registry, "notifier", "tagged_to_alerted") == (0, 0)


async def test_a_failed_send_observes_no_delivery_latency(tmp_path: Path) -> None:
    dead: list[str] = []
    published: list[str] = []
    registry = CollectorRegistry()
    with HttpSink(lambda body: (404, {})) as sink:
        async with httpx.AsyncClient() as http:
            dispatcher = webhook_dispatcher(
                tmp_path,
                MemoryOutbox([make_alert("a-404", "r")]),
                http,
                sink.url,
                metrics=create_metrics(registry, rules=["r"]),
                published=published,
                dead=dead,
                clock=lambda: T0,
            )
            await run_until_published(dispatcher, published, 1)
    assert len(dead) == 1
    assert histogram(registry, "notifier", "alerted_to_delivered") == (0, 0)
    assert sample(registry, "borderwatch_notifier_delivery_retries_total", channel="webhook") == 0


def test_tagged_to_alerted_uses_the_newest_supporting_event_of_the_batch() -> None:
    registry = CollectorRegistry()
    metrics = create_metrics(registry)
    alert = make_alert("a-1", "r", fired_at=T0)
    events = alert.events
    assert events, "the example alert carries its events"
    tagged = {events[0].event_id: T0 - timedelta(seconds=3), "unrelated": T0 - timedelta(seconds=1)}
    metrics.observe_alerted([alert], tagged)
    assert histogram(registry, "notifier", "tagged_to_alerted") == (1, 3.0)
    # No supporting event in the batch and no fallback: nothing to measure.
    metrics.observe_alerted([alert], {"unrelated": T0})
    assert histogram(registry, "notifier", "tagged_to_alerted") == (1, 3.0)
    # An incident alert has no events: the incident revision's time stands in; skew counts as 0.
    metrics.observe_alerted([make_alert("a-2", "r", events=[], fired_at=T0)], {}, T0 + timedelta(seconds=5))
    assert histogram(registry, "notifier", "tagged_to_alerted") == (2, 3.0)
    assert histogram(registry, "notifier", "alerted_to_delivered") == (0, 0)
