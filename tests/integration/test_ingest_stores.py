"""The seen-set contract on Redis and in memory: only marked ids are seen, and they expire."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from services.ingest.stores import MARK_CHUNK, MemorySeenStore, RedisSeenStore

pytestmark = pytest.mark.integration


def test_redis_seen_set_marks_in_chunks_with_a_ttl(redis_url: str, namespace: str) -> None:
    async def run() -> None:
        client = Redis.from_url(redis_url)
        store = RedisSeenStore(client, namespace, ttl_s=120)
        ids = [uuid.uuid4().hex for _ in range(MARK_CHUNK + 5)]  # more than one script call
        try:
            assert await store.seen(ids) == set()
            await store.mark(ids[:-1])
            assert await store.seen(ids) == set(ids[:-1])
            ttl = await client.ttl(f"bw:{namespace}:ingest:seen:{ids[0]}")
            assert 0 < ttl <= 120
            await store.mark([])
        finally:
            keys = [k async for k in client.scan_iter(f"bw:{namespace}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()

    asyncio.run(run())


def test_memory_seen_set_forgets_after_its_ttl() -> None:
    clock = [0.0]
    store = MemorySeenStore(ttl_s=10, now=lambda: clock[0])

    async def run() -> list[set[str]]:
        await store.mark(["a"])
        first = await store.seen(["a", "b"])
        clock[0] = 11
        return [first, await store.seen(["a"])]

    assert asyncio.run(run()) == [{"a"}, set()]
