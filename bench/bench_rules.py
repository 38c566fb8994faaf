"""Rule evaluation speed in the pure core, and Redis round trips per decided alert.

1. Events/s through ``RuleEngine.observe`` on the in-memory store, over generated tagged events
   and a rule set with every event-driven rule type (config/rules.yaml plus sum, spike, flatline,
   state and new_term rules). Baseline, same run, same events: a loop that only calls
   ``matches()`` for every rule (the floor any engine pays). The ratio engine/baseline is the
   machine-independent figure. The engine ticks every 100 events (a process ticks once a second).
2. Redis round trips, counted by a wrapper around the client, while config/rules.yaml runs on
   ``RedisRuleState`` over the real Redis (uuid key prefix, removed afterwards): per decided alert
   in the ``observe`` calls that decided one (goal <= 3), and per event overall.

Run: ``python -m bench.bench_rules`` (prints the results).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import Pipeline

from bench.report import BenchResult
from schemas import Crossing, CrossingState, Label, Place, Region, Severity, TaggedEventV1
from services.notifier.evaluate import RuleEngine
from services.notifier.rule_state import RedisRuleState
from services.notifier.rules import Rule, RuleSet, load_rules, matches
from services.notifier.state_store import InMemoryRuleState

ROOT = Path(__file__).resolve().parents[1]
_CROSSINGS = ["Torkham", "Chaman", "Ghulam Khan", "Angoor Adda", "Kharlachi"]
_PLACES = ["Kurram", "Khost", "Bajaur", "Quetta", "Peshawar", "Paktika", "Kunar", "Zhob", "Spin Boldak"]
_SOURCES = ["frontier-wire", "kabul-daily", "dawn-like", "tolo-like", "agency"]
_STATES = list(CrossingState)
_EXTRA_RULES: list[dict[str, Any]] = [
    {"id": "killed-sum", "type": "sum", "figure": "killed", "threshold": 25, "group_by": ["place"],
     "match": {"labels": ["casualties"]}},
    {"id": "casualty-spike", "type": "spike", "factor": 3, "threshold": 4, "window": "1h",
     "match": {"labels": ["casualties"]}},
    {"id": "feed-quiet", "type": "flatline", "group_by": ["source"], "threshold": 1, "window": "6h",
     "match": {"sources": _SOURCES}},
    {"id": "crossing-state", "type": "state", "state": "crossing", "hold_down": "30m"},
    {"id": "ceasefire-state", "type": "state", "state": "ceasefire", "quiet_for": "2d"},
    {"id": "new-place", "type": "new_term", "term": "place", "horizon": "14d"},
]  # fmt: skip


def bench_rules() -> RuleSet:
    base = load_rules(ROOT / "config" / "rules.yaml")
    extra = [
        Rule.model_validate({"title": r["id"], "severity": "high", "routes": ["ops"], **r})
        for r in _EXTRA_RULES
    ]
    return RuleSet(version=1, rules=[*base.rules, *extra])


def make_events(count: int, seed: int = 11) -> list[TaggedEventV1]:
    """``count`` tagged events, about one a minute of event time, in order (deterministic)."""
    rng = random.Random(seed)
    start = datetime(2025, 10, 12, tzinfo=UTC)
    events = []
    for n in range(count):
        at = start + timedelta(seconds=60 * n + rng.randint(0, 50))
        labels = rng.sample(list(Label), rng.randint(0, 2))
        crossings = (
            [Crossing(name=rng.choice(_CROSSINGS), state=rng.choice(_STATES))]
            if Label.CLOSURE in labels
            else []
        )
        places = [Place(name=p, mention=p, kind="district") for p in rng.sample(_PLACES, rng.randint(0, 2))]
        killed = rng.randint(0, 12) if Label.CASUALTIES in labels else None
        events.append(
            TaggedEventV1(
                event_id=f"ev-{seed}-{n}",
                item_id=f"it-{seed}-{n}",
                source=rng.choice(_SOURCES),
                title=f"report {n}",
                published_at=at,
                ingested_at=at,
                tagged_at=at,
                labels=labels,
                figures={"killed": killed},
                crossings=crossings,
                places=places,
                region=Region.AF_PAK if rng.random() < 0.9 else Region.OTHER,
                severity=rng.choice(list(Severity)),
                classifier_version="bench",
                taxonomy_version="bench",
            )
        )
    return events


def _baseline_rate(rules: RuleSet, events: list[TaggedEventV1]) -> float:
    begin = time.perf_counter()
    hits = 0
    for event in events:
        for rule in rules.rules:
            hits += matches(rule, event)
    return len(events) / (time.perf_counter() - begin)


async def _engine_rate(rules: RuleSet, events: list[TaggedEventV1]) -> tuple[float, int]:
    engine = RuleEngine(rules, InMemoryRuleState())
    fired = 0
    begin = time.perf_counter()
    for n, event in enumerate(events):
        if n % 100 == 0:  # a process ticks once a second, i.e. every few hundred events
            fired += len(await engine.tick(event.published_at))
        fired += len(await engine.observe(event, event.published_at))
    return len(events) / (time.perf_counter() - begin), fired


class CountingRedis(Redis):
    """A client that counts round trips: each command, script call or pipeline execution."""

    round_trips = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = super().pipeline(transaction, shard_hint)
        run = pipe.execute

        async def execute(raise_on_error: bool = True) -> list[Any]:
            self.round_trips += 1
            return await run(raise_on_error)

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe


async def _redis_round_trips(redis_url: str, events: list[TaggedEventV1]) -> tuple[float, float, int]:
    namespace = f"bench-{uuid.uuid4().hex[:12]}"
    redis = CountingRedis(connection_pool=ConnectionPool.from_url(redis_url))
    try:
        engine = RuleEngine(load_rules(ROOT / "config" / "rules.yaml"), RedisRuleState(redis, namespace))
        deciding = alerts = 0
        for event in events:
            before = redis.round_trips
            fired = await engine.observe(event, event.published_at)
            if fired:
                alerts += len(fired)
                deciding += redis.round_trips - before
        total = redis.round_trips
        return (deciding / alerts if alerts else 0.0), total / len(events), alerts
    finally:
        keys = [k async for k in redis.scan_iter(match=f"bw:{namespace}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def run(bootstrap: str, redis_url: str, budget_s: float) -> list[BenchResult]:
    """Measure within about ``budget_s`` seconds (the Kafka address is not needed)."""
    del bootstrap
    rules = bench_rules()
    size = 2000
    probe = make_events(size)
    begin = time.perf_counter()
    asyncio.run(_engine_rate(rules, probe))
    per_event = (time.perf_counter() - begin) / size
    # Half the budget for the pure core (two passes: warm, then measured), the rest for Redis.
    count = max(size, min(200_000, int(budget_s * 0.25 / per_event)))
    events = make_events(count)
    baseline = _baseline_rate(rules, events)
    rate, fired = asyncio.run(_engine_rate(rules, events))
    redis_events = events[: max(200, min(5000, int(budget_s * 50)))]
    per_alert, per_event_rt, decided = asyncio.run(_redis_round_trips(redis_url, redis_events))
    return [
        BenchResult.against(
            f"rules.observe events/s ({len(rules.rules)} rules, {count} events, {fired} alerts)",
            rate,
            "events/s",
            baseline="matches() for every rule",
            baseline_value=baseline,
        ),
        BenchResult.absolute(
            f"redis round trips per decided alert ({decided} alerts)",
            per_alert,
            "round trips",
            goal="<= 3",
            met=per_alert <= 3,
        ),
        BenchResult.absolute(
            f"redis round trips per event ({len(redis_events)} events, config/rules.yaml)",
            per_event_rt,
            "round trips",
        ),
    ]


if __name__ == "__main__":
    from services.common.settings import CommonSettings

    settings = CommonSettings()
    for result in run(settings.kafka_bootstrap_servers, settings.redis_url.get_secret_value(), 20.0):
        print(result)
