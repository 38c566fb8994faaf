"""Ingest state in Redis: the seen-set of published item ids and each feed's poll state.

Keys live under ``bw:<namespace>:ingest:``. The seen-set is one key per id with a TTL (so each
id expires on its own), read with one MGET and written with one script call per batch (a pipeline
of one SET per id costs more in client-side packing and reply parsing than the rest of ingest);
feed state is one hash per feed, readable by ``borderwatch feeds status`` from another process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis


def key_prefix(namespace: str) -> str:
    return f"bw:{namespace}:ingest:"


# Marks every key of KEYS as seen for ARGV[1] seconds; one round trip and one reply per batch.
_MARK_SEEN = """
for _, key in ipairs(KEYS) do
    redis.call('SET', key, '1', 'EX', ARGV[1])
end
return #KEYS
"""
# Keys per script call: bounds the time one call holds Redis (Lua runs without interleaving).
MARK_CHUNK = 1000


class RedisSeenStore:
    def __init__(self, client: Redis, namespace: str, ttl_s: int) -> None:
        self._client = client
        self._prefix = key_prefix(namespace) + "seen:"
        self._ttl_s = ttl_s
        self._mark_seen = client.register_script(_MARK_SEEN)

    async def seen(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        values = await self._client.mget([self._prefix + i for i in ids])
        return {i for i, v in zip(ids, values, strict=True) if v is not None}

    async def mark(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), MARK_CHUNK):
            keys = [self._prefix + i for i in ids[start : start + MARK_CHUNK]]
            await self._mark_seen(keys=keys, args=[self._ttl_s])


class MemorySeenStore:
    """The same contract in memory (unit tests, benchmarks of the pure path)."""

    def __init__(self, ttl_s: float, now: Callable[[], float]) -> None:
        self._expires: dict[str, float] = {}
        self._ttl_s = ttl_s
        self._now = now

    async def seen(self, ids: Sequence[str]) -> set[str]:
        t = self._now()
        return {i for i in ids if self._expires.get(i, -1.0) > t}

    async def mark(self, ids: Sequence[str]) -> None:
        t = self._now()
        for item_id in ids:
            self._expires[item_id] = t + self._ttl_s


@dataclass(frozen=True)
class FeedState:
    etag: str | None = None
    last_modified: str | None = None
    last_success_at: str | None = None
    last_error_at: str | None = None
    last_error: str | None = None
    items_seen: int = 0
    items_new: int = 0
    consecutive_failures: int = 0
    next_poll_at: str | None = None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class FeedStateStore:
    def __init__(self, client: Redis, namespace: str) -> None:
        self._client = client
        self._prefix = key_prefix(namespace) + "feed:"

    async def get(self, feed_id: str) -> FeedState:
        raw = await self._client.hgetall(self._prefix + feed_id)
        data = {_text(k): _text(v) for k, v in raw.items()}
        return FeedState(
            etag=data.get("etag") or None,
            last_modified=data.get("last_modified") or None,
            last_success_at=data.get("last_success_at"),
            last_error_at=data.get("last_error_at"),
            last_error=data.get("last_error"),
            items_seen=int(data.get("items_seen", 0)),
            items_new=int(data.get("items_new", 0)),
            consecutive_failures=int(data.get("consecutive_failures", 0)),
            next_poll_at=data.get("next_poll_at"),
        )

    async def record_success(
        self, feed_id: str, *, at: datetime, etag: str | None, last_modified: str | None, seen: int, new: int
    ) -> None:
        """Called only after every new item of the response was acknowledged (see the poller)."""
        key = self._prefix + feed_id
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "etag": etag or "",
                    "last_modified": last_modified or "",
                    "last_success_at": _iso(at),
                    "consecutive_failures": 0,
                },
            )
            pipe.hincrby(key, "items_seen", seen)
            pipe.hincrby(key, "items_new", new)
            await pipe.execute()

    async def record_failure(self, feed_id: str, *, at: datetime, error: str) -> int:
        key = self._prefix + feed_id
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"last_error_at": _iso(at), "last_error": error[:500]})
            pipe.hincrby(key, "consecutive_failures", 1)
            results = await pipe.execute()
        return int(results[-1])

    async def record_next_poll(self, feed_id: str, at: datetime) -> None:
        await self._client.hset(self._prefix + feed_id, "next_poll_at", _iso(at))
