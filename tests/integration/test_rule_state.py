"""One contract for both rule state stores: the in-memory one (dry runs) and Redis (production).

Every rule scenario of tests/unit/notifier/rule_cases.py runs on both, and so do checks of the
store operations themselves; the Redis half runs on the real Redis under a uuid key prefix.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from schemas.alerts import AlertV1
from services.notifier.evaluate import RuleEngine, alert_event
from services.notifier.rule_state import RedisRuleState
from services.notifier.state_store import (
    ALREADY_FIRED,
    COOLING_DOWN,
    FIRED,
    Claim,
    InMemoryRuleState,
    RuleStateStore,
    WindowRecord,
)
from tests.unit.notifier.rule_cases import CASES, T0, Case, describe, ev, ruleset, run_step

pytestmark = pytest.mark.integration


def _alert(ident: str) -> AlertV1:
    return AlertV1(
        alert_id=ident,
        rule_id="r",
        severity="high",
        summary="s",
        window_start=T0,
        window_end=T0,
        fired_at=T0,
        event_count=0,
        source_count=0,
    )


def _record(item: str, at_offset_s: float = 0, **kw: object) -> WindowRecord:
    event = alert_event(ev(item, T0 + timedelta(seconds=at_offset_s)))
    base: dict[str, object] = {
        "window_key": "win:w",
        "total_key": "sum:w",
        "watermark_key": "wm:r",
        "fired_key": "fired:w",
        "event": event,
        "at": T0.timestamp() + at_offset_s,
        "lateness_s": 60,
        "ttl_s": 3600,
    }
    return WindowRecord(**{**base, **kw})  # type: ignore[arg-type]


class RuleStateContract:
    """Behaviour every :class:`RuleStateStore` must show; subclasses provide ``store``."""

    @pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
    async def test_rule_scenarios(self, store: RuleStateStore, case: Case) -> None:
        engine = RuleEngine(ruleset(case.rule), store)
        for number, (item, expected) in enumerate(case.steps, start=1):
            fired = await run_step(engine, item)
            assert sorted(describe(a) for a in fired) == sorted(expected), f"{case.name}: step {number}"
        assert [a.alert_id for a in await self.queued(store)] == [
            a.alert_id for a in await self.replay_queue(case)
        ]

    async def test_record_counts_once_sums_and_refuses_late_events(self, store: RuleStateStore) -> None:
        first = await store.record(_record("a", 0, value=2.5, min_count=2))
        assert (first.late, first.count, first.total, first.events) == (False, 1, 2.5, None)
        again = await store.record(_record("a", 0, value=2.5, min_count=2))
        assert (again.count, again.total) == (1, 2.5)
        ahead = await store.record(_record("b", 600, value=1, min_count=2))
        assert ahead.count == 2 and ahead.total == 3.5
        assert ahead.events is not None and [e.event_id for e in ahead.events] == ["ev-a", "ev-b"]
        late = await store.record(_record("c", 500, value=1))
        assert late.late
        edge = await store.record(_record("d", 540, value=1, min_count=9))
        assert not edge.late and edge.count == 3

    async def test_previous_window_and_members(self, store: RuleStateStore) -> None:
        await store.record(
            _record("a", 0, window_key="win:p", total_key="sum:p", member="x", members_key="g")
        )
        view = await store.record(
            _record("b", 1, previous_key="win:p", factor=2.0, min_count=1, members_key="g", member="y")
        )
        assert view.previous == 1 and view.events is None  # 1 < 2 x 1
        assert await store.members("g") == ["x", "y"]
        assert await store.counts(["win:p", "win:w", "win:none"]) == [1, 1, 0]

    async def test_claim_once_and_cooldown(self, store: RuleStateStore) -> None:
        def claim(ident: str, at: float) -> Claim:
            return Claim(f"fired:{ident}", 3600, _alert(ident), at, "cool:g", 100)

        assert await store.claim(claim("a", 1000)) == FIRED
        assert await store.claim(claim("a", 1000)) == ALREADY_FIRED
        assert await store.claim(claim("b", 1099)) == COOLING_DOWN
        assert await store.claim(claim("c", 901)) == COOLING_DOWN  # out of order, still close
        assert await store.claim(claim("d", 1100)) == FIRED
        assert await store.claim(claim("b", 1150)) == COOLING_DOWN  # 'b' was not marked fired
        assert [a.alert_id for a in await self.queued(store)] == ["a", "d"]

    async def test_save_is_compare_and_set_with_its_alerts(self, store: RuleStateStore) -> None:
        assert await store.load(["d"]) == [None]
        assert await store.save("d", 0, {"n": 1}, 3600, [_alert("x")])
        assert not await store.save("d", 0, {"n": 2}, 3600, [_alert("y")])  # lost the race
        assert await store.load(["d", "e"]) == [(1, {"n": 1}), None]
        assert await store.save("d", 1, {"n": 3}, 3600)
        assert await store.load(["d"]) == [(2, {"n": 3})]
        assert [a.alert_id for a in await self.queued(store)] == ["x"]

    async def test_first_sight_within_horizon(self, store: RuleStateStore) -> None:
        def sight(member: str, at: float, ident: str) -> Awaitable[bool]:
            return store.first_sight(
                "seen", member, at, 100, 1000, Claim(f"fired:{ident}", 1000, _alert(ident), at)
            )

        assert await sight("Kurram", 1000, "a")
        assert not await sight("Kurram", 1100, "b")
        assert not await sight("Kurram", 900, "c")  # older than the last sighting
        assert await sight("Kurram", 1201, "d")
        assert await sight("Khost", 1201, "e")
        assert [a.alert_id for a in await self.queued(store)] == ["a", "d", "e"]

    # -- provided by each store's test class -----------------------------------------------
    async def queued(self, store: RuleStateStore) -> list[AlertV1]:
        raise NotImplementedError

    async def replay_queue(self, case: Case) -> list[AlertV1]:
        """What the in-memory store queued for the same scenario (the reference)."""
        reference = InMemoryRuleState()
        engine = RuleEngine(ruleset(case.rule), reference)
        for item, _expected in case.steps:
            await run_step(engine, item)
        return reference.outbox


class TestInMemoryRuleState(RuleStateContract):
    @pytest.fixture
    def store(self) -> InMemoryRuleState:
        return InMemoryRuleState()

    async def queued(self, store: RuleStateStore) -> list[AlertV1]:
        assert isinstance(store, InMemoryRuleState)
        return store.outbox


class TestRedisRuleState(RuleStateContract):
    @pytest_asyncio.fixture(loop_scope="function")
    async def store(self, redis_url: str, namespace: str) -> AsyncIterator[RedisRuleState]:
        redis = Redis.from_url(redis_url)
        try:
            yield RedisRuleState(redis, namespace)
        finally:
            keys = [k async for k in redis.scan_iter(match=f"bw:{namespace}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

    async def queued(self, store: RuleStateStore) -> list[AlertV1]:
        assert isinstance(store, RedisRuleState)
        redis: Redis = store._redis
        entries: Any = await redis.xrange(store.outbox_key)
        out = []
        for _entry_id, fields in entries:
            alert = AlertV1.model_validate_json(fields[b"alert"])
            assert fields[b"alert_id"].decode() == alert.alert_id
            out.append(alert)
        return out


def test_outbox_entries_are_complete_alert_json() -> None:
    # The delivery side reads exactly these two fields; keep them stable.
    assert json.loads(_alert("x").model_dump_json())["alert_id"] == "x"
