"""Tagged-event-to-delivery latency through Kafka and Redis, and Redis round trips per alert.

At a fixed offered rate (200 tagged events/s) every event fires an ``any`` rule routed to one
webhook subscriber on a local HTTP server (TCP_NODELAY). The notifier's own loops run
(:class:`~services.notifier.app.Notifier`: batched consume, rules engine, outbox dispatcher,
publication on the alerts topic). Latency is from handing the event to the producer to the
server receiving the alert. The same-run baseline is the floor: raw aiokafka produce → consume
latency at the same rate. Redis round trips are counted on the notifier's own connections (rules
engine and delivery on separate clients), per delivered (and published) alert; the goal is for
the whole path. The pure rule engine's evaluation rate (in-memory state) is reported too.

Run: ``python -m bench.bench_notifier`` (prints the results).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from bench.report import BenchResult
from schemas.codec import decode_as
from schemas.tagged_events import TaggedEventV1
from schemas.topics import TopicKey, topic_name
from services.common.kafka_admin import ensure_topics
from services.common.settings import CommonSettings
from services.notifier.app import Notifier, NotifierSettings, build_channels, load_config
from services.notifier.evaluate import RuleEngine
from services.notifier.metrics import create_metrics
from services.notifier.rules import load_rules
from services.notifier.state_store import InMemoryRuleState
from tests.sinks import HttpSink

ROOT = Path(__file__).resolve().parents[1]
RATE = 200.0
GOAL_P99_S = 0.25
GOAL_ROUND_TRIPS = 3.0
EVENT = json.loads((ROOT / "schemas/examples/tagged-events/v1/casualties-and-closure.json").read_text())
RULES = """\
version: 1
rules:
  - id: bench-any
    title: Casualties reported
    type: any
    match: {labels: [casualties]}
    severity: high
    routes: [hook]
"""
SUBSCRIBERS = """\
version: 1
subscribers:
  - id: hook
    channels:
      - {type: webhook, url_env: BW_BENCH_HOOK}
"""


def _sink_main(url_queue: Any, stop: Any, results: Any) -> None:
    received: dict[str, float] = {}

    def responder(body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        received[body["events"][0]["item_id"]] = time.monotonic()
        return 200, {}

    with HttpSink(responder) as sink:
        url_queue.put(sink.url)
        stop.wait()
    results.put(received)


def _counting_connection(counter: list[int]) -> type[Connection]:
    class Counting(Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            counter[0] += 1
            await super().send_packed_command(command, check_health)

    return Counting


def _events(n: int) -> list[tuple[str, bytes]]:
    out = []
    for _ in range(n):
        item = uuid.uuid4().hex[:24]
        out.append((item, json.dumps({**EVENT, "event_id": uuid.uuid4().hex, "item_id": item}).encode()))
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _offer(
    producer: AIOKafkaProducer, topic: str, events: list[tuple[str, bytes]], sent: dict[str, float]
) -> None:
    start = time.monotonic()
    for i, (item, value) in enumerate(events):
        delay = start + i / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[item] = time.monotonic()
        await producer.send(topic, value, key=item.encode())
    await producer.flush()


async def _baseline(bootstrap: str, namespace: str, seconds: float) -> list[float]:
    topic = topic_name(TopicKey.TAGGED_EVENTS, namespace)
    events = _events(int(RATE * seconds))
    sent: dict[str, float] = {}
    got: list[float] = []
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"{namespace}-base", auto_offset_reset="latest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        await asyncio.sleep(0.5)

        async def consume() -> None:
            while len(got) < len(events):
                batch = await consumer.getmany(timeout_ms=100)
                now = time.monotonic()
                for records in batch.values():
                    got.extend(
                        now - sent[r.key.decode()] for r in records if r.key and r.key.decode() in sent
                    )

        task = asyncio.create_task(consume())
        await _offer(producer, topic, events, sent)
        await asyncio.wait_for(task, seconds + 30)
    finally:
        await producer.stop()
        await consumer.stop()
    return got


async def _system(
    bootstrap: str, redis_url: str, namespace: str, seconds: float
) -> tuple[list[float], float, float, int]:
    """The notifier's own loops (:class:`Notifier`): consume → rules → outbox → webhook → alerts topic."""
    tmp = Path(tempfile.mkdtemp())
    (tmp / "rules.yaml").write_text(RULES)
    (tmp / "subscribers.yaml").write_text(SUBSCRIBERS)
    # The sink runs in its own process, as a real receiver would (CLOCK_MONOTONIC is system-wide).
    ctx = multiprocessing.get_context("spawn")
    stop_sink, results = ctx.Event(), ctx.Queue()
    url_queue = ctx.Queue()
    sink_process = ctx.Process(target=_sink_main, args=(url_queue, stop_sink, results), daemon=True)
    sink_process.start()
    sink_url = url_queue.get(timeout=30)

    engine_rt, delivery_rt = [0], [0]
    redis_engine = Redis.from_url(redis_url, connection_class=_counting_connection(engine_rt))
    redis_delivery = Redis.from_url(redis_url, connection_class=_counting_connection(delivery_rt))
    topic = topic_name(TopicKey.TAGGED_EVENTS, namespace)
    events = _events(int(RATE * seconds))
    sent: dict[str, float] = {}
    registry = CollectorRegistry()
    try:
        settings = NotifierSettings(
            topic_namespace=namespace,
            kafka_bootstrap_servers=bootstrap,
            rules_file=tmp / "rules.yaml",
            notifier_subscribers_file=tmp / "subscribers.yaml",
            notifier_group_id=f"{namespace}-n",
            notifier_api_port=0,
            notifier_console=False,
            retry_interval_s=3600,
        )
        rules, subscribers, targets = load_config(settings, {"BW_BENCH_HOOK": sink_url})
        http = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
        notifier = Notifier(
            settings,
            redis=redis_engine,
            delivery_redis=redis_delivery,
            producer=producer,
            channels=build_channels(settings, targets, http),
            rules=rules,
            subscribers=subscribers,
            targets=targets,
            metrics=create_metrics(registry),
        )
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=settings.notifier_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        offer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        await consumer.start()
        await producer.start()
        await offer.start()
        loops = [
            asyncio.create_task(notifier.consume(consumer)),
            asyncio.create_task(notifier.dispatcher.run()),
        ]

        def published() -> int:
            value = registry.get_sample_value(
                "borderwatch_notifier_alerts_published_total", {"status": "firing"}
            )
            return int(value or 0)

        try:
            while not consumer.assignment():  # noqa: ASYNC110 - polled client state, no event to await
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            engine_rt[0] = delivery_rt[0] = 0
            await _offer(offer, topic, events, sent)
            deadline = time.monotonic() + 30
            while published() < len(events) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            delivered = published()
            engine_trips, delivery_trips = engine_rt[0], delivery_rt[0]
        finally:
            notifier.stop()
            await asyncio.gather(*loops, return_exceptions=True)
            await consumer.stop()
            await producer.stop()
            await offer.stop()
            await http.aclose()
    finally:
        stop_sink.set()
        received: dict[str, float] = results.get(timeout=30)
        sink_process.join(10)
    latencies = [received[i] - sent[i] for i in sent if i in received]
    await redis_engine.aclose()
    await redis_delivery.aclose()
    per = max(1, delivered)
    return latencies, delivery_trips / per, engine_trips / per, delivered


async def _engine_rate(budget_s: float) -> float:
    tmp = Path(tempfile.mkdtemp())
    (tmp / "rules.yaml").write_text(RULES)
    engine = RuleEngine(load_rules(tmp / "rules.yaml"), InMemoryRuleState())
    events = [decode_as(TaggedEventV1, v) for _, v in _events(2000)]
    now = events[0].tagged_at
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < budget_s:
        for e in events:
            await engine.observe(e, now)
        n += len(events)
    return n / (time.perf_counter() - start)


def run(bootstrap: str, redis_url: str, budget_s: float) -> list[BenchResult]:
    seconds = max(2.0, min(10.0, (budget_s - 10) / 3))
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    ensure_topics(CommonSettings(kafka_bootstrap_servers=bootstrap, topic_namespace=namespace))
    ensure_topics(CommonSettings(kafka_bootstrap_servers=bootstrap, topic_namespace=f"{namespace}-s"))
    base = asyncio.run(_baseline(bootstrap, namespace, seconds))
    latencies, delivery_rt, engine_rt, delivered = asyncio.run(
        _system(bootstrap, redis_url, f"{namespace}-s", seconds)
    )
    rate = asyncio.run(_engine_rate(min(3.0, budget_s / 10)))
    p50, p99 = _pct(latencies, 0.5), _pct(latencies, 0.99)
    total_rt = delivery_rt + engine_rt
    b50, b99 = _pct(base, 0.5), _pct(base, 0.99)
    return [
        BenchResult.against(
            "notifier event->delivery p99", p99, "s", baseline="aiokafka produce->consume p99",
            baseline_value=b99, goal_ratio=None, higher_is_better=False,
        ),
        BenchResult.absolute("notifier event->delivery p99 (absolute)", p99, "s",
                             goal=f"<= {GOAL_P99_S} s at {RATE:g} events/s", met=p99 <= GOAL_P99_S),
        BenchResult.against(
            "notifier event->delivery p50", p50, "s", baseline="aiokafka produce->consume p50",
            baseline_value=b50, higher_is_better=False,
        ),
        BenchResult.absolute("notifier alerts delivered", float(delivered), "alerts",
                             goal=f"{int(RATE * seconds)} offered", met=delivered == int(RATE * seconds)),
        BenchResult.absolute("notifier Redis round trips per delivered alert (whole path)",
                             total_rt, "round trips",
                             goal=f"<= {GOAL_ROUND_TRIPS:g}", met=total_rt <= GOAL_ROUND_TRIPS),
        BenchResult.absolute("notifier delivery Redis round trips per alert", delivery_rt, "round trips"),
        BenchResult.absolute("notifier rules-engine Redis round trips per alert", engine_rt, "round trips"),
        BenchResult.absolute("notifier rule evaluation (pure, in-memory state)", rate, "events/s"),
    ]  # fmt: skip


if __name__ == "__main__":
    for result in run(
        os.environ.get("BW_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        os.environ.get("BW_REDIS_URL", "redis://127.0.0.1:6379/0"),
        float(os.environ.get("BW_BENCH_BUDGET_S", "60")),
    ):
        print(result)
