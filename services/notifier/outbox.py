"""The consumer side of the outbox stream and the delivery records, in Redis.

The rules engine queues each decided alert in the stream ``bw:<ns>:outbox`` (fields ``alert_id``
and ``alert``) atomically with its decision. Notifier processes read it through one consumer group,
so two processes share the entries and each entry is worked on by one process at a time.

Exactly one message per (alert, subscriber, channel): before sending, :meth:`Outbox.precheck_many`
reads the "sent" markers of a batch of entries' deliveries (and applies inhibition, in entry
order) in one round trip; after channels accepted messages, :meth:`Outbox.record` writes their
markers at once, together with the acknowledgements of entries finished earlier. An entry is
acknowledged only once all its deliveries are done and the alert is published. The one window
for a repeat is a crash (or a Redis failover losing the last second of AOF) between a channel
accepting a message and its marker being written: one round trip.

Round trips per batch of entries, however many alerts it holds: the read (with pending acks),
the precheck, the marker write (with pending acks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

OutboxEntry = tuple[str, dict[str, str]]


@dataclass(frozen=True)
class Precheck:
    """One entry's deliveries to check; ``inhibit_mode`` is 'set', 'check' or 'none'."""

    delivery_keys: Sequence[str]
    inhibit_mode: str
    inhibit_token: str
    alert_id: str


# KEYS: inhibition key ('' when unused), then the sent markers.
# ARGV: mode ('set' | 'check' | 'none'), inhibition ttl, alert id.
# Returns {inhibited (0/1), sent flag per marker...}.
_PRECHECK = """
local inhibited = 0
if ARGV[1] == 'set' then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
elseif ARGV[1] == 'check' then
  inhibited = redis.call('EXISTS', KEYS[1])
end
local out = {inhibited}
for i = 2, #KEYS do
  out[#out + 1] = redis.call('EXISTS', KEYS[i])
end
return out
"""


class DeliveryKeys:
    """Every key lives under ``bw:<namespace>:`` so deployments and tests do not collide."""

    def __init__(self, namespace: str) -> None:
        self.prefix = f"bw:{namespace}:"

    @property
    def outbox(self) -> str:
        return f"{self.prefix}outbox"

    def sent(self, delivery_key: str) -> str:
        return f"{self.prefix}sent:{delivery_key}"

    def inhibition(self, group_token: str) -> str:
        return f"{self.prefix}inhibit:{group_token}"

    @property
    def silences(self) -> str:
        return f"{self.prefix}silences"

    def digest(self, target_key: str) -> str:
        return f"{self.prefix}digest:{target_key}"

    def digest_slot(self, target_key: str) -> str:
        return f"{self.prefix}digest-slot:{target_key}"

    def digest_lock(self, target_key: str) -> str:
        return f"{self.prefix}digest-lock:{target_key}"


class Outbox:
    """Outbox reads, acknowledgements, sent markers and digest queues for one consumer."""

    def __init__(self, redis: Redis, keys: DeliveryKeys, group: str, consumer: str) -> None:
        self._redis = redis
        self.keys = keys
        self._group = group
        self._consumer = consumer
        self._precheck = redis.register_script(_PRECHECK)

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.keys.outbox, self._group, id="0", mkstream=True)
        except ResponseError as exc:  # BUSYGROUP: the group exists already
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(
        self, *, ack: Sequence[str] = (), pending: bool = False, count: int = 100, block_ms: int = 500
    ) -> list[OutboxEntry]:
        """New entries (or, with ``pending``, those this consumer took and never acknowledged).

        ``ack`` entries are acknowledged in the same round trip, before reading.
        """
        pipe = self._redis.pipeline(transaction=False)
        if ack:
            pipe.xack(self.keys.outbox, self._group, *ack)
        pipe.xreadgroup(
            self._group,
            self._consumer,
            {self.keys.outbox: "0" if pending else ">"},
            count=count,
            block=None if pending else block_ms,
        )
        replies: list[Any] = await pipe.execute()
        return _entries(replies[-1])

    async def claim_stale(self, min_idle_ms: int, count: int = 100) -> list[OutboxEntry]:
        """Take over entries another (crashed) consumer left pending for too long."""
        reply = await self._redis.xautoclaim(
            self.keys.outbox, self._group, self._consumer, min_idle_time=min_idle_ms, count=count
        )
        items: list[Any] = list(reply[1]) if reply else []
        return [(_text(i), {_text(k): _text(v) for k, v in f.items()}) for i, f in items if f]

    async def touch(self, entry_ids: Sequence[str]) -> None:
        """Reset the idle time of entries this consumer still works on (retries, rate limits),
        so that :meth:`claim_stale` in another process does not take them over."""
        if entry_ids:
            await self._redis.xclaim(
                self.keys.outbox, self._group, self._consumer, 0, list(entry_ids), justid=True
            )

    async def ack(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self._redis.xack(self.keys.outbox, self._group, *entry_ids)

    async def pending_count(self) -> int:
        info = await self._redis.xpending(self.keys.outbox, self._group)
        return int(info["pending"]) if info else 0

    async def precheck(
        self,
        delivery_keys: Sequence[str],
        inhibit_mode: str,
        inhibit_token: str,
        inhibit_ttl_s: int,
        alert_id: str,
    ) -> tuple[bool, list[bool]]:
        """Apply inhibition and read the sent markers, in one round trip."""
        checks = [Precheck(delivery_keys, inhibit_mode, inhibit_token, alert_id)]
        return (await self.precheck_many(checks, inhibit_ttl_s))[0]

    async def precheck_many(
        self, checks: Sequence[Precheck], inhibit_ttl_s: int
    ) -> list[tuple[bool, list[bool]]]:
        """:meth:`precheck` for each entry, in order (an inhibition set by one entry applies to
        the later ones), in one round trip: (inhibited, sent flag per delivery key) each."""
        if not checks:
            return []
        for attempt in (1, 2):
            # EVALSHA directly: a pipeline of registered scripts would first send SCRIPT EXISTS.
            pipe = self._redis.pipeline(transaction=False)
            for c in checks:
                inhibit_key = (
                    self.keys.inhibition(c.inhibit_token) if c.inhibit_mode != "none" else self.keys.prefix
                )
                keys = [inhibit_key, *(self.keys.sent(k) for k in c.delivery_keys)]
                pipe.evalsha(self._precheck.sha, len(keys), *keys, c.inhibit_mode, inhibit_ttl_s, c.alert_id)
            try:
                replies: list[Any] = await pipe.execute()
            except NoScriptError:  # Redis restarted or flushed its scripts: every call failed alike
                if attempt == 2:
                    raise
                await self._redis.script_load(self._precheck.script)
                continue
            return [(bool(r[0]), [bool(v) for v in r[1:]]) for r in replies]
        raise AssertionError("unreachable")  # pragma: no cover

    async def mark_sent(self, delivery_keys: Sequence[str], ttl_s: int) -> None:
        await self.record(delivery_keys, ttl_s)

    async def record(self, delivery_keys: Sequence[str], ttl_s: int, ack: Sequence[str] = ()) -> None:
        """Write sent markers and acknowledge finished entries, in one round trip."""
        if not delivery_keys and not ack:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in delivery_keys:
            pipe.set(self.keys.sent(key), "1", ex=ttl_s)
        if ack:
            pipe.xack(self.keys.outbox, self._group, *ack)
        await pipe.execute()

    async def queue_digest(self, target_key: str, delivery_key: str, alert_json: str, ttl_s: int) -> None:
        """Add an alert to a subscriber's digest and mark the delivery done, atomically."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.rpush(self.keys.digest(target_key), alert_json)
        pipe.set(self.keys.sent(delivery_key), "1", ex=ttl_s)
        await pipe.execute()

    async def take_digest(self, target_key: str, slot: str, lock_ttl_s: int) -> list[str] | None:
        """The queued alerts of a digest slot not yet sent, or None (sent, or another process has it)."""
        if (await self._redis.get(self.keys.digest_slot(target_key))) in (slot, slot.encode()):
            return None
        if not await self._redis.set(self.keys.digest_lock(target_key), slot, nx=True, ex=lock_ttl_s):
            return None
        items: list[Any] = await self._redis.lrange(self.keys.digest(target_key), 0, -1)
        return [_text(i) for i in items]

    async def finish_digest(self, target_key: str, slot: str, count: int) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.ltrim(self.keys.digest(target_key), count, -1)
        pipe.set(self.keys.digest_slot(target_key), slot)
        pipe.delete(self.keys.digest_lock(target_key))
        await pipe.execute()

    async def release_digest(self, target_key: str) -> None:
        await self._redis.delete(self.keys.digest_lock(target_key))


def _entries(reply: Any) -> list[OutboxEntry]:
    entries: list[OutboxEntry] = []
    # RESP2 reply: [[stream, [[id, {field: value}], ...]]]; RESP3: {stream: [[id, {...}], ...]}
    streams = reply.items() if isinstance(reply, dict) else (reply or [])
    for _stream, items in streams:
        for entry_id, fields in items:
            if fields:  # an acknowledged-then-trimmed entry reads back as empty
                entries.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
    return entries


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
