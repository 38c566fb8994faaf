"""RawItemsConsumer counts the Kafka errors it catches, and a failed commit commits nothing.

The consumer runs as the mode service it is, on a stand-in for aiokafka's consumer that fails a
fetch or every commit; the counter is the classifier's real one on a fresh registry.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from services.classifier.app import RawItemsConsumer, _Decided
from services.classifier.metrics import create_metrics

TOPIC = "unit.raw-items.v1"
TP = TopicPartition(TOPIC, 0)


class StandInConsumer:
    """Hands out ``batches`` one fetch at a time (an exception in the list is raised instead),
    then empty fetches; ``commit`` raises ``commit_error`` when one is given."""

    def __init__(self, batches: list[Any], commit_error: Exception | None = None) -> None:
        self.batches = batches
        self.commit_error = commit_error
        self.fetches = 0
        self.commits: list[dict[TopicPartition, int]] = []

    def subscribe(self, topics: list[str], listener: Any) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        self.fetches += 1
        if not self.batches:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        return batch

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        if self.commit_error is not None:
            raise self.commit_error


def record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, None, b"{}", None, 0, 2, [])


async def run_until(
    stand_in: StandInConsumer, registry: CollectorRegistry, done: Any, timeout_s: float = 10.0
) -> RawItemsConsumer:
    metrics = create_metrics(registry)

    async def decide(batch: list[Any]) -> _Decided:
        return _Decided([], [])

    async def deliver(decided: _Decided) -> bool:
        return True

    async def ready() -> None:
        return None

    consumer = RawItemsConsumer(
        lambda: cast(AIOKafkaConsumer, stand_in),
        TOPIC,
        decide,
        deliver,
        ready,
        batch_max=10,
        wait_ms=10,
        on_committed=lambda: None,
        on_broker_error=metrics.broker_errors.inc,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            while not done():  # noqa: ASYNC110 - the service's own task moves the stand-in
                await asyncio.sleep(0.01)
    finally:
        await consumer.stop()
    return consumer


def broker_errors(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("borderwatch_classifier_broker_errors_total")


async def test_a_failed_fetch_counts_a_broker_error_and_the_consumer_fetches_again() -> None:
    registry = CollectorRegistry()
    stand_in = StandInConsumer([KafkaConnectionError(), {TP: [record(0), record(1)]}])
    consumer = await run_until(stand_in, registry, lambda: bool(stand_in.commits))
    assert broker_errors(registry) == 1
    assert stand_in.commits[0] == {TP: 2}
    assert consumer.committed == {TP: 2}


async def test_a_failed_commit_counts_a_broker_error_and_commits_nothing() -> None:
    registry = CollectorRegistry()
    stand_in = StandInConsumer([{TP: [record(0)]}], commit_error=CommitFailedError())
    consumer = await run_until(stand_in, registry, lambda: bool(stand_in.commits))
    assert broker_errors(registry) == 1
    assert consumer.committed == {}


async def test_fetches_and_commits_that_succeed_count_no_broker_error() -> None:
    registry = CollectorRegistry()
    stand_in = StandInConsumer([{TP: [record(0)]}, {TP: [record(1)]}])
    consumer = await run_until(stand_in, registry, lambda: len(stand_in.commits) >= 2)
    assert broker_errors(registry) == 0
    assert consumer.committed == {TP: 2}
