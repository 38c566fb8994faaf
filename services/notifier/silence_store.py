"""Silences persisted in Redis (one hash under ``bw:<ns>:silences``), with a short-lived cache.

Silences are few; the dispatcher reads them from :class:`SilenceCache`, refreshed about once a
second, so muting costs no round trip per alert.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from services.notifier.silences import Silence

log = logging.getLogger(__name__)
# Expired silences are kept this long for the audit trail, then dropped from listings.
RETAIN_EXPIRED = timedelta(days=7)


class RedisSilenceStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self._key = f"bw:{namespace}:silences"

    async def put(self, silence: Silence) -> None:
        await self._redis.hset(self._key, silence.id, silence.model_dump_json())

    async def get(self, silence_id: str) -> Silence | None:
        raw: Any = await self._redis.hget(self._key, silence_id)
        return None if raw is None else Silence.model_validate_json(raw)

    async def all(self, now: datetime) -> list[Silence]:
        raw: dict[Any, Any] = await self._redis.hgetall(self._key)
        silences = []
        for value in raw.values():
            try:
                silence = Silence.model_validate_json(value)
            except ValidationError:
                log.error("ignoring an unreadable silence record")
                continue
            if silence.ends_at + RETAIN_EXPIRED > now:
                silences.append(silence)
        return sorted(silences, key=lambda s: (s.starts_at, s.id))


class SilenceCache:
    """The silences in force, refreshed by :meth:`refresh` (the process calls it every second)."""

    def __init__(self, store: RedisSilenceStore) -> None:
        self._store = store
        self._silences: list[Silence] = []

    def current(self) -> list[Silence]:
        return self._silences

    async def refresh(self, now: datetime) -> int:
        self._silences = [s for s in await self._store.all(now) if s.ends_at > now]
        return sum(1 for s in self._silences if s.active(now))
