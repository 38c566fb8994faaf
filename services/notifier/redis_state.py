"""The delivery outbox in Redis (rule state moved to :mod:`services.notifier.rule_state`).

The outbox is a Redis stream read through a consumer group: an entry stays pending until every
channel delivered it. ``RedisRuleState`` is re-exported here for existing imports.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from services.notifier.rule_state import RedisRuleState

__all__ = ["Outbox", "OutboxEntry", "RedisKeys", "RedisRuleState"]


class RedisKeys:
    """Every key lives under ``bw:<namespace>:`` so deployments and tests do not collide."""

    def __init__(self, namespace: str) -> None:
        self.prefix = f"bw:{namespace}:"

    def window(self, alert_id: str) -> str:
        return f"{self.prefix}win:{alert_id}"

    def fired(self, alert_id: str) -> str:
        return f"{self.prefix}fired:{alert_id}"

    def sent(self, alert_id: str, channel: str) -> str:
        return f"{self.prefix}sent:{alert_id}:{channel}"

    @property
    def outbox(self) -> str:
        return f"{self.prefix}outbox"


OutboxEntry = tuple[str, dict[str, str]]


class Outbox:
    """The consumer-group side of the outbox stream."""

    def __init__(self, redis: Redis, keys: RedisKeys, group: str, consumer: str) -> None:
        self._redis = redis
        self._keys = keys
        self._group = group
        self._consumer = consumer

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._keys.outbox, self._group, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: the group exists already
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, *, pending: bool, count: int = 50, block_ms: int = 1000) -> list[OutboxEntry]:
        """``pending=True`` re-reads entries this consumer took but never acknowledged."""
        stream_id = "0" if pending else ">"
        # RESP2 reply: [[stream, [[id, {field: value}], ...]]]
        reply: Any = await self._redis.xreadgroup(
            self._group,
            self._consumer,
            {self._keys.outbox: stream_id},
            count=count,
            block=None if pending else block_ms,
        )
        entries: list[OutboxEntry] = []
        for _stream, items in reply or []:
            for entry_id, fields in items:
                if fields:  # an acknowledged-then-trimmed entry reads back as empty
                    entries.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
        return entries

    async def claim_stale(self, min_idle_ms: int, count: int = 50) -> list[OutboxEntry]:
        """Take over entries another (crashed) consumer left pending for too long."""
        reply = await self._redis.xautoclaim(
            self._keys.outbox, self._group, self._consumer, min_idle_time=min_idle_ms, count=count
        )
        # XAUTOCLAIM answers [next-cursor, [[id, {field: value}], ...], deleted-ids].
        items: list[tuple[bytes | str, dict[bytes | str, bytes | str]]] = list(reply[1]) if reply else []
        return [(_text(i), {_text(k): _text(v) for k, v in f.items()}) for i, f in items if f]

    async def ack(self, entry_id: str) -> None:
        await self._redis.xack(self._keys.outbox, self._group, entry_id)

    async def pending_count(self) -> int:
        info = await self._redis.xpending(self._keys.outbox, self._group)
        return int(info["pending"]) if info else 0

    async def was_sent(self, alert_id: str, channel: str) -> bool:
        return bool(await self._redis.exists(self._keys.sent(alert_id, channel)))

    async def mark_sent(self, alert_id: str, channel: str, ttl_s: int) -> None:
        await self._redis.set(self._keys.sent(alert_id, channel), "1", ex=ttl_s)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
