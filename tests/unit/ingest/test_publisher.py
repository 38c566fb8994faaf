"""The publisher's contract with an in-memory producer: ack first, then seen; failures are not seen."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.ingest.metrics import create_metrics
from services.ingest.publisher import Publisher, PublishUnavailable
from services.ingest.schedule import BrokerGate
from services.ingest.stores import MemorySeenStore
from services.ingest.submission import ItemSubmission, normalise
from tests.unit.ingest.memory_producer import MemoryProducer

NOW = datetime(2025, 10, 12, 7, 0, tzinfo=UTC)


def item(n: int) -> Any:
    return normalise(
        ItemSubmission(source="s", title=f"Item {n}", url=f"https://e.org/{n}"), origin="push", now=NOW
    )


def make(producer: MemoryProducer) -> tuple[Publisher, MemorySeenStore, BrokerGate]:
    seen = MemorySeenStore(ttl_s=60, now=lambda: 0.0)
    gate = BrokerGate(retry_after_s=5, now=lambda: 0.0)
    metrics = create_metrics(CollectorRegistry())
    return Publisher(producer, seen, topic="t", metrics=metrics, gate=gate), seen, gate


async def test_new_items_are_sent_once_and_marked_seen_after_the_ack() -> None:
    producer = MemoryProducer()
    publisher, seen, _ = make(producer)
    try:
        first = await publisher.publish([item(1), item(2), item(1)], origin="push")
        assert first.accepted == [item(1).id, item(2).id] and first.duplicates == [item(1).id]
        assert await seen.seen([item(1).id, item(2).id]) == {item(1).id, item(2).id}
        again = await publisher.publish([item(2), item(3)], origin="push")
        assert again.accepted == [item(3).id] and again.duplicates == [item(2).id]
        assert [key for _, key, _ in producer.sent] == [item(n).id.encode() for n in (1, 2, 3)]
    finally:
        publisher.close()


async def test_items_the_broker_did_not_acknowledge_are_not_seen_and_close_the_gate() -> None:
    producer = MemoryProducer(refuse={item(2).id.encode()})
    publisher, seen, gate = make(producer)
    try:
        with pytest.raises(PublishUnavailable) as caught:
            await publisher.publish([item(1), item(2)], origin="push")
        assert caught.value.accepted == [item(1).id]
        assert await seen.seen([item(1).id, item(2).id]) == {item(1).id}
        assert not gate.allow()
        with pytest.raises(PublishUnavailable):  # refused at once while the gate is closed
            await publisher.publish([item(3)], origin="push")
        assert len(producer.sent) == 1
    finally:
        publisher.close()


async def test_concurrent_sends_of_the_same_item_produce_it_once() -> None:
    producer = MemoryProducer()
    publisher, _, _ = make(producer)
    try:
        results = await asyncio.gather(*(publisher.publish([item(7)], origin="push") for _ in range(5)))
        assert sum(len(r.accepted) for r in results) == 1
        assert sum(len(r.duplicates) for r in results) == 4
        assert len(producer.sent) == 1
    finally:
        publisher.close()
