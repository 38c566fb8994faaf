"""Ingest's error counters and its stage latency move where the publisher handles each case.

The publisher runs with an in-memory producer (or one that fails), the in-memory seen-set, or a
Redis client whose server is not there; each test checks the series it drives and that the
others stayed put. The replay path on the real broker and Redis (dead letters included) is in
tests/integration/test_metrics_calls.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from schemas.raw_items import RawItemV1
from services.ingest.metrics import PUBLISHED_TO_INGESTED_BUCKETS, create_metrics
from services.ingest.publisher import Producer, Publisher, PublishUnavailable, SeenStore
from services.ingest.schedule import BrokerGate
from services.ingest.stores import MemorySeenStore, RedisSeenStore
from services.ingest.submission import ItemSubmission, normalise
from tests.integration.processes import free_port
from tests.unit.ingest.memory_producer import MemoryProducer

NOW = datetime(2025, 10, 12, 7, 0, tzinfo=UTC)
STAGE = "published_to_ingested"


def item(n: int, published_before: timedelta | None) -> RawItemV1:
    published = None if published_before is None else NOW - published_before
    submission = ItemSubmission(
        source="s", title=f"Item {n}", url=f"https://e.org/{n}", published_at=published
    )
    return normalise(submission, origin="push", now=NOW)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    assert found is not None, f"{name}{labels} does not exist"
    return found


def latency(registry: CollectorRegistry) -> tuple[float, float]:
    name = "borderwatch_ingest_pipeline_latency_seconds"
    return value(registry, f"{name}_count", stage=STAGE), value(registry, f"{name}_sum", stage=STAGE)


def bucket(registry: CollectorRegistry, le: float) -> float:
    return value(registry, "borderwatch_ingest_pipeline_latency_seconds_bucket", stage=STAGE, le=str(le))


def errors(registry: CollectorRegistry) -> tuple[float, float]:
    return (
        value(registry, "borderwatch_ingest_redis_errors_total"),
        value(registry, "borderwatch_ingest_broker_errors_total"),
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def publisher_for(registry: CollectorRegistry) -> Iterator[Any]:
    made: list[Publisher] = []

    def make(producer: Producer, seen: SeenStore | None = None) -> Publisher:
        publisher = Publisher(
            producer,
            seen or MemorySeenStore(ttl_s=60, now=lambda: 0.0),
            topic="t",
            metrics=create_metrics(registry),
            gate=BrokerGate(retry_after_s=5, now=lambda: 0.0),
        )
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


def test_the_stage_has_the_extended_buckets_for_feeds_that_publish_hours_earlier() -> None:
    assert PUBLISHED_TO_INGESTED_BUCKETS[-5:] == (300.0, 900.0, 3600.0, 21600.0, 86400.0)
    registry = CollectorRegistry()
    create_metrics(registry)
    assert bucket(registry, 86400.0) == 0 and bucket(registry, 0.25) == 0
    assert latency(registry) == (0, 0)


async def test_acknowledged_items_observe_ingest_minus_publication(
    registry: CollectorRegistry, publisher_for: Any
) -> None:
    late, hourly = item(1, timedelta(minutes=10)), item(2, timedelta(hours=2))
    result = await publisher_for(MemoryProducer()).publish([late, hourly], origin="feed")
    assert result.accepted == [late.id, hourly.id]
    assert latency(registry) == (2, 600.0 + 7200.0)
    assert bucket(registry, 300.0) == 0
    assert bucket(registry, 900.0) == 1
    assert bucket(registry, 21600.0) == 2
    assert errors(registry) == (0, 0)


async def test_items_without_a_publication_time_and_duplicates_are_not_observed_and_skew_is_zero(
    registry: CollectorRegistry, publisher_for: Any
) -> None:
    undated = item(1, None)
    assert undated.published_at_missing
    ahead = item(2, timedelta(minutes=-5))  # the source's clock runs ahead of ours (within tolerance)
    publisher = publisher_for(MemoryProducer())
    await publisher.publish([undated, ahead], origin="push")
    assert latency(registry) == (1, 0.0)
    again = await publisher.publish([ahead], origin="push")  # a duplicate: accepted before
    assert again.duplicates == [ahead.id]
    assert latency(registry) == (1, 0.0)


async def test_unacknowledged_items_count_a_broker_error_and_only_the_acknowledged_are_observed(
    registry: CollectorRegistry, publisher_for: Any
) -> None:
    taken, refused = item(1, timedelta(seconds=30)), item(2, timedelta(seconds=40))
    publisher = publisher_for(MemoryProducer(refuse={refused.id.encode()}))
    with pytest.raises(PublishUnavailable) as caught:
        await publisher.publish([taken, refused], origin="push")
    assert caught.value.accepted == [taken.id]
    assert errors(registry) == (0, 1)
    assert latency(registry) == (1, 30.0)
    assert value(registry, "borderwatch_ingest_broker_available") == 0


async def test_a_send_that_cannot_even_start_counts_a_broker_error(
    registry: CollectorRegistry, publisher_for: Any
) -> None:
    publisher = publisher_for(MemoryProducer(blocked=True))
    with pytest.raises(PublishUnavailable):
        await publisher.publish([item(1, timedelta(seconds=5))], origin="replay")
    assert errors(registry) == (0, 1)
    assert latency(registry) == (0, 0)


async def test_a_dead_letter_the_broker_refuses_counts_a_broker_error(
    registry: CollectorRegistry, publisher_for: Any
) -> None:
    publisher = publisher_for(MemoryProducer(blocked=True))
    with pytest.raises(PublishUnavailable):
        await publisher.send_raw("t.dlq", b"bad line", [])
    assert errors(registry) == (0, 1)


@pytest.fixture
async def closed_redis() -> AsyncIterator[Redis]:
    """A Redis client whose server is not there: every command raises ConnectionError."""
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    yield client
    await client.aclose()


async def test_an_unreachable_seen_set_counts_a_redis_error_and_sends_nothing(
    registry: CollectorRegistry, publisher_for: Any, closed_redis: Redis
) -> None:
    producer = MemoryProducer()
    publisher = publisher_for(producer, RedisSeenStore(closed_redis, "unit-metrics", ttl_s=60))
    with pytest.raises(PublishUnavailable):
        await publisher.publish([item(1, timedelta(seconds=5))], origin="push")
    assert producer.sent == []
    assert errors(registry) == (1, 0)
    assert latency(registry) == (0, 0)


class _MarkFails(MemorySeenStore):
    async def mark(self, ids: Any) -> None:
        raise ConnectionError("seen-set went away")


async def test_a_seen_set_write_failure_after_the_ack_counts_a_redis_error_and_still_accepts(
    registry: CollectorRegistry, publisher_for: Any
) -> None:
    publisher = publisher_for(MemoryProducer(), _MarkFails(ttl_s=60, now=lambda: 0.0))
    result = await publisher.publish([item(1, timedelta(seconds=5))], origin="push")
    assert len(result.accepted) == 1
    assert errors(registry) == (1, 0)
    assert latency(registry) == (1, 5.0)
