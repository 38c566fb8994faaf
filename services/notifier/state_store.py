"""What rule evaluation asks of its state store, and the in-memory store for dry runs and tests.

Pure: no Redis here. The Redis store (:mod:`services.notifier.rule_state`) implements the same
protocol with one Lua script per operation, so every operation is one round trip and atomic.
Every operation that *decides* an alert also queues it in the outbox in the same atomic step, so
a decision is never made without its outbox entry (and never queued twice).

Keys are logical names (``win:<alert id>``, ``wm:<rule>``, ...); the Redis store prefixes them
with ``bw:<namespace>:``. Times are event times in Unix seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.alerts import AlertEvent, AlertV1

Doc = dict[str, Any]


@dataclass(frozen=True)
class WindowRecord:
    """Count ``event`` in a window, unless it is late; report whether the window's condition holds.

    The condition is ``count >= min_count and total >= min_total and count >= factor * previous``
    (``previous`` = the count of ``previous_key``'s window); ``total`` sums ``value`` once per
    event id. Late = ``at`` older than the watermark at ``watermark_key`` minus ``lateness_s``.
    """

    window_key: str
    total_key: str
    watermark_key: str
    fired_key: str
    event: AlertEvent
    at: float
    lateness_s: int
    ttl_s: int
    value: float = 0.0
    min_count: int = 1
    min_total: float = 0.0
    factor: float = 0.0
    previous_key: str | None = None
    members_key: str | None = None
    member: str | None = None


@dataclass(frozen=True)
class WindowView:
    late: bool
    count: int = 0
    total: float = 0.0
    previous: int = 0
    events: list[AlertEvent] | None = None
    """The window's events (oldest first) when the condition holds and it has not fired yet."""


@dataclass(frozen=True)
class Claim:
    """Fire ``alert`` once: mark ``fired_key`` and queue the alert, unless fired or cooling down.

    Cooling down: ``cooldown_key`` holds the event time of the group's last alert and ``at`` is
    within ``cooldown_s`` of it (either side: events arrive out of order).
    """

    fired_key: str
    ttl_s: int
    alert: AlertV1
    at: float
    cooldown_key: str | None = None
    cooldown_s: int = 0


FIRED, ALREADY_FIRED, COOLING_DOWN = 1, 0, 2


class RuleStateStore(Protocol):
    """Rule state (windows, watermarks, cooldowns, states, terms) and the outbox."""

    async def record(self, rec: WindowRecord) -> WindowView: ...

    async def record_many(self, recs: Sequence[WindowRecord]) -> list[WindowView]:
        """:meth:`record` for each, in order (Redis: one round trip for all)."""
        ...

    async def claim(self, claim: Claim) -> int:
        """``FIRED`` (queued now), ``ALREADY_FIRED`` or ``COOLING_DOWN``."""
        ...

    async def claim_many(self, claims: Sequence[Claim]) -> list[int]:
        """:meth:`claim` for each, in order (Redis: one round trip for all)."""
        ...

    async def load(self, keys: Sequence[str]) -> list[tuple[int, Doc] | None]:
        """Version and content of each document (None when absent)."""
        ...

    async def save(
        self, key: str, version: int, doc: Doc, ttl_s: int, alerts: Sequence[AlertV1] = ()
    ) -> bool:
        """Store ``doc`` as version ``version + 1`` and queue ``alerts`` if the stored version is
        still ``version`` (0 = absent); False, changing nothing, when another writer came first."""
        ...

    async def first_sight(
        self, key: str, member: str, at: float, horizon_s: int, ttl_s: int, claim: Claim
    ) -> bool:
        """Note ``member`` seen at ``at``; when it was not seen within ``horizon_s`` before,
        fire ``claim`` (as :meth:`claim`) in the same step and return True."""
        ...

    async def add_member(self, key: str, member: str, ttl_s: int) -> None: ...

    async def members(self, key: str) -> list[str]: ...

    async def counts(self, keys: Sequence[str]) -> list[int]:
        """How many events each window holds."""
        ...


class InMemoryRuleState:
    """:class:`RuleStateStore` in dicts, for dry runs and unit tests (TTLs are not applied)."""

    def __init__(self) -> None:
        self._windows: dict[str, dict[str, AlertEvent]] = {}
        self._totals: dict[str, float] = {}
        self._values: dict[str, float] = {}
        self._docs: dict[str, tuple[int, str]] = {}
        self._sets: dict[str, set[str]] = {}
        self._scores: dict[str, dict[str, float]] = {}
        self.outbox: list[AlertV1] = []

    async def record(self, rec: WindowRecord) -> WindowView:
        mark = self._values.get(rec.watermark_key)
        if mark is not None and rec.at < mark - rec.lateness_s:
            return WindowView(late=True)
        if mark is None or rec.at > mark:
            self._values[rec.watermark_key] = rec.at
        window = self._windows.setdefault(rec.window_key, {})
        if rec.event.event_id not in window:
            window[rec.event.event_id] = rec.event
            self._totals[rec.total_key] = self._totals.get(rec.total_key, 0.0) + rec.value
        if rec.members_key is not None and rec.member is not None:
            self._sets.setdefault(rec.members_key, set()).add(rec.member)
        count = len(window)
        total = self._totals.get(rec.total_key, 0.0)
        previous = len(self._windows.get(rec.previous_key, {})) if rec.previous_key else 0
        events = None
        if (
            count >= rec.min_count
            and total >= rec.min_total
            and count >= rec.factor * previous
            and rec.fired_key not in self._values
        ):
            events = sorted(window.values(), key=lambda e: (e.published_at, e.event_id))
        return WindowView(False, count, total, previous, events)

    async def record_many(self, recs: Sequence[WindowRecord]) -> list[WindowView]:
        return [await self.record(rec) for rec in recs]

    async def claim_many(self, claims: Sequence[Claim]) -> list[int]:
        return [await self.claim(c) for c in claims]

    async def claim(self, claim: Claim) -> int:
        if claim.fired_key in self._values:
            return ALREADY_FIRED
        if claim.cooldown_key is not None and claim.cooldown_s > 0:
            last = self._values.get(claim.cooldown_key)
            if last is not None and abs(claim.at - last) < claim.cooldown_s:
                return COOLING_DOWN
            self._values[claim.cooldown_key] = claim.at if last is None else max(last, claim.at)
        self._values[claim.fired_key] = 1.0
        self.outbox.append(claim.alert)
        return FIRED

    async def load(self, keys: Sequence[str]) -> list[tuple[int, Doc] | None]:
        found = [self._docs.get(k) for k in keys]
        return [None if f is None else (f[0], json.loads(f[1])) for f in found]

    async def save(
        self, key: str, version: int, doc: Doc, ttl_s: int, alerts: Sequence[AlertV1] = ()
    ) -> bool:
        current = self._docs.get(key, (0, ""))[0]
        if current != version:
            return False
        self._docs[key] = (version + 1, json.dumps(doc, sort_keys=True))
        self.outbox.extend(alerts)
        return True

    async def first_sight(
        self, key: str, member: str, at: float, horizon_s: int, ttl_s: int, claim: Claim
    ) -> bool:
        scores = self._scores.setdefault(key, {})
        last = scores.get(member)
        scores[member] = at if last is None else max(last, at)
        if last is not None and at - last <= horizon_s:
            return False
        return await self.claim(claim) == FIRED

    async def add_member(self, key: str, member: str, ttl_s: int) -> None:
        self._sets.setdefault(key, set()).add(member)

    async def members(self, key: str) -> list[str]:
        return sorted(self._sets.get(key, set()))

    async def counts(self, keys: Sequence[str]) -> list[int]:
        return [len(self._windows.get(k, {})) for k in keys]
