"""Running rules over tagged events without Kafka, Redis or delivery (``rules test``, tests)."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.alerts import AlertV1
from schemas.tagged_events import TaggedEventV1
from services.notifier.evaluate import InMemoryRuleState, RuleEngine
from services.notifier.rules import RuleSet


async def dry_run(rules: RuleSet, events: Iterable[TaggedEventV1]) -> list[AlertV1]:
    """The alerts that would fire, in event-time order of the events that fired them."""
    engine = RuleEngine(rules, InMemoryRuleState())
    fired: list[AlertV1] = []
    for event in sorted(events, key=lambda e: (e.published_at, e.item_id)):
        fired += await engine.observe(event, event.tagged_at)
    return fired
