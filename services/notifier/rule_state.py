"""Rule state in Redis: windows, watermarks, cooldowns, state documents, seen terms.

Each :class:`~services.notifier.state_store.RuleStateStore` operation is one Lua script, so it is
one round trip and atomic: deciding an alert and queueing it in the outbox stream
(``bw:<namespace>:outbox``, entry fields ``alert_id`` and ``alert``) can never be separated by a
crash, and two notifier processes never decide the same alert twice. Behaviour matches
:class:`~services.notifier.state_store.InMemoryRuleState` (one contract test runs on both).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from schemas.alerts import AlertEvent, AlertV1
from services.notifier.state_store import Claim, Doc, WindowRecord, WindowView

# KEYS: window hash, window total, watermark, fired, previous window, members set.
# ARGV: event id, event JSON, at, lateness, value, ttl, min count, min total, factor,
#       has previous (0/1), member ('' = none).
_RECORD = """
local at = tonumber(ARGV[3])
local mark = redis.call('GET', KEYS[3])
if mark and at < tonumber(mark) - tonumber(ARGV[4]) then
  return {1}
end
if (not mark) or at > tonumber(mark) then
  redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[6])
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('INCRBYFLOAT', KEYS[2], ARGV[5])
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
if ARGV[11] ~= '' then
  redis.call('SADD', KEYS[6], ARGV[11])
  redis.call('EXPIRE', KEYS[6], ARGV[6])
end
local count = redis.call('HLEN', KEYS[1])
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
local previous = 0
if ARGV[10] == '1' then previous = redis.call('HLEN', KEYS[5]) end
local events = {}
if count >= tonumber(ARGV[7]) and total >= tonumber(ARGV[8]) and count >= tonumber(ARGV[9]) * previous
   and redis.call('EXISTS', KEYS[4]) == 0 then
  events = redis.call('HVALS', KEYS[1])
end
return {0, count, tostring(total), previous, events}
"""

# The claim step, shared by _CLAIM and _FIRST_SIGHT.
# KEYS: fired, cooldown, outbox. ARGV (from `base`): ttl, at, cooldown s, alert id, alert JSON.
_CLAIM_BODY = """
local function claim(base)
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  local at = tonumber(ARGV[base + 1])
  local cooldown = tonumber(ARGV[base + 2])
  if cooldown > 0 then
    local last = redis.call('GET', KEYS[2])
    if last and math.abs(at - tonumber(last)) < cooldown then return 2 end
    if (not last) or at > tonumber(last) then
      redis.call('SET', KEYS[2], ARGV[base + 1], 'EX', math.max(tonumber(ARGV[base]), cooldown))
    end
  end
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[base])
  redis.call('XADD', KEYS[3], '*', 'alert_id', ARGV[base + 3], 'alert', ARGV[base + 4])
  return 1
end
"""
_CLAIM = _CLAIM_BODY + "return claim(1)\n"

# KEYS: fired, cooldown, outbox, seen zset. ARGV: claim args (1-5), member, at, horizon, ttl.
_FIRST_SIGHT = (
    _CLAIM_BODY
    + """
local at = tonumber(ARGV[7])
local last = redis.call('ZSCORE', KEYS[4], ARGV[6])
if (not last) or at > tonumber(last) then redis.call('ZADD', KEYS[4], ARGV[7], ARGV[6]) end
redis.call('EXPIRE', KEYS[4], ARGV[9])
if last and at - tonumber(last) <= tonumber(ARGV[8]) then return 0 end
return claim(1)
"""
)

# KEYS: document hash, outbox. ARGV: expected version, JSON, ttl, then alert id/JSON pairs.
_SAVE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', current + 1, 'd', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[2], '*', 'alert_id', ARGV[i], 'alert', ARGV[i + 1])
end
return 1
"""


class _Prefixed(Protocol):
    prefix: str


class RedisRuleState:
    """:class:`~services.notifier.state_store.RuleStateStore` under ``bw:<namespace>:``.

    ``namespace`` is the topic namespace, or any key helper whose ``prefix`` is ``bw:<ns>:``.
    """

    def __init__(self, redis: Redis, namespace: str | _Prefixed) -> None:
        self._redis = redis
        self.prefix = f"bw:{namespace}:" if isinstance(namespace, str) else namespace.prefix
        self.outbox_key = f"{self.prefix}outbox"
        self._record = redis.register_script(_RECORD)
        self._claim = redis.register_script(_CLAIM)
        self._first_sight = redis.register_script(_FIRST_SIGHT)
        self._save = redis.register_script(_SAVE)

    def _k(self, key: str) -> str:
        return self.prefix + key

    async def _eval_many(
        self, script: AsyncScript, calls: Sequence[tuple[list[str], list[Any]]], *, together: bool = False
    ) -> list[Any]:
        """Run ``script`` once per (keys, args), in order, in one round trip.

        EVALSHA is sent directly: a pipeline of registered scripts would first ask SCRIPT EXISTS,
        a second round trip on every call. A NOSCRIPT reply (Redis restarted or flushed its
        script cache) fails every call of the pipeline alike, so loading and resending is safe.
        ``together`` wraps the calls in MULTI/EXEC: a dispatcher blocked on the outbox then wakes
        once for all the alerts queued, not once per alert.
        """
        if not calls:
            return []
        for attempt in (1, 2):
            pipe = self._redis.pipeline(transaction=together)
            for keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            try:
                return list(await pipe.execute())
            except NoScriptError:
                if attempt == 2:
                    raise
                await self._redis.script_load(script.script)
        raise AssertionError("unreachable")  # pragma: no cover

    async def record(self, rec: WindowRecord) -> WindowView:
        return (await self.record_many([rec]))[0]

    async def record_many(self, recs: Sequence[WindowRecord]) -> list[WindowView]:
        replies = await self._eval_many(self._record, [self._record_args(rec) for rec in recs])
        return [_window_view(raw) for raw in replies]

    def _record_args(self, rec: WindowRecord) -> tuple[list[str], list[Any]]:
        keys = [
            self._k(rec.window_key),
            self._k(rec.total_key),
            self._k(rec.watermark_key),
            self._k(rec.fired_key),
            self._k(rec.previous_key or rec.window_key),
            self._k(rec.members_key or rec.window_key),
        ]
        args: list[Any] = [
            rec.event.event_id,
            rec.event.model_dump_json(),
            repr(rec.at),
            rec.lateness_s,
            repr(rec.value),
            rec.ttl_s,
            rec.min_count,
            repr(rec.min_total),
            repr(rec.factor),
            "1" if rec.previous_key else "0",
            rec.member if rec.members_key and rec.member else "",
        ]
        return keys, args

    def _claim_args(self, claim: Claim) -> tuple[list[str], list[Any]]:
        keys = [
            self._k(claim.fired_key),
            self._k(claim.cooldown_key or claim.fired_key),
            self.outbox_key,
        ]
        cooldown = claim.cooldown_s if claim.cooldown_key else 0
        args: list[Any] = [
            claim.ttl_s,
            repr(claim.at),
            cooldown,
            claim.alert.alert_id,
            claim.alert.model_dump_json(),
        ]
        return keys, args

    async def claim(self, claim: Claim) -> int:
        return (await self.claim_many([claim]))[0]

    async def claim_many(self, claims: Sequence[Claim]) -> list[int]:
        calls = [self._claim_args(c) for c in claims]
        return [int(r) for r in await self._eval_many(self._claim, calls, together=len(calls) > 1)]

    async def load(self, keys: Sequence[str]) -> list[tuple[int, Doc] | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(self._k(key), ["v", "d"])
            replies: list[Any] = await pipe.execute()
        return [None if v is None else (int(v), json.loads(d)) for v, d in replies]

    async def save(
        self, key: str, version: int, doc: Doc, ttl_s: int, alerts: Sequence[AlertV1] = ()
    ) -> bool:
        args: list[Any] = [version, json.dumps(doc, sort_keys=True), ttl_s]
        for alert in alerts:
            args += [alert.alert_id, alert.model_dump_json()]
        return bool(await self._save(keys=[self._k(key), self.outbox_key], args=args))

    async def first_sight(
        self, key: str, member: str, at: float, horizon_s: int, ttl_s: int, claim: Claim
    ) -> bool:
        keys, args = self._claim_args(claim)
        keys.append(self._k(key))
        args += [member, repr(at), horizon_s, ttl_s]
        return int(await self._first_sight(keys=keys, args=args)) == 1

    async def add_member(self, key: str, member: str, ttl_s: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._k(key), member)
            pipe.expire(self._k(key), ttl_s)
            await pipe.execute()

    async def members(self, key: str) -> list[str]:
        raw: set[bytes | str] = await self._redis.smembers(self._k(key))
        return sorted(m.decode() if isinstance(m, bytes) else m for m in raw)

    async def counts(self, keys: Sequence[str]) -> list[int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hlen(self._k(key))
            replies: list[Any] = await pipe.execute()
        return [int(r) for r in replies]


def _window_view(raw: Any) -> WindowView:
    if int(raw[0]) == 1:
        return WindowView(late=True)
    events = None
    if raw[4]:
        parsed = [AlertEvent.model_validate_json(v) for v in raw[4]]
        events = sorted(parsed, key=lambda e: (e.published_at, e.event_id))
    return WindowView(False, int(raw[1]), float(raw[2]), int(raw[3]), events)
