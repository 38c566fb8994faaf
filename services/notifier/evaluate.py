"""Rule evaluation: which windows an event updates, and the alert a fired window becomes.

Pure: the state of the windows lives behind :class:`RuleStateStore` (Redis in production,
a dict in tests and dry runs), so the same engine serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from schemas.alerts import AlertEvent, AlertV1
from schemas.tagged_events import TaggedEventV1
from services.notifier.rules import Rule, RuleSet, alert_id, groups_of, matches, window_start

_MAX_EVIDENCE = 3


@dataclass(frozen=True)
class WindowUpdate:
    """One event counted in one (rule, group, window); ``alert_id`` names the alert it may fire."""

    rule: Rule
    group: dict[str, str]
    window_start: datetime
    window_end: datetime
    alert_id: str

    @property
    def window_key(self) -> str:
        return self.alert_id


class RuleStateStore(Protocol):
    """Window state and the delivery outbox.

    Deciding is two steps so that the alert can carry every event of its window:
    :meth:`record` counts an event and, once the window has reached its threshold and has not
    fired yet, returns the window's events; :meth:`claim` then marks the window fired AND queues
    the complete alert for delivery in one atomic step. A crash between the two leaves the
    window unclaimed; the event's offset is not committed, so redelivery claims it then.
    """

    async def record(self, update: WindowUpdate, event: AlertEvent) -> list[AlertEvent] | None:
        """Count ``event`` (idempotently, by event id); the window's events, oldest first, when
        it has reached its threshold and not fired yet, else None."""
        ...

    async def claim(self, update: WindowUpdate, alert: AlertV1) -> bool:
        """Mark the window fired and queue ``alert``; False when it had fired already."""
        ...


def plan_updates(rules: RuleSet, event: TaggedEventV1) -> list[WindowUpdate]:
    updates = []
    for rule in rules.rules:
        if not matches(rule, event):
            continue
        for group in groups_of(rule, event):
            if rule.type == "any":
                # Every matching event is its own alert; its id follows the item, so a
                # replayed item does not alert twice.
                start = end = event.published_at
                ident = alert_id(rule.id, {**group, "item": event.item_id}, start)
            else:
                start = window_start(rule, event.published_at)
                end = start + rule.window
                ident = alert_id(rule.id, group, start)
            updates.append(WindowUpdate(rule, group, start, end, ident))
    return updates


def alert_event(event: TaggedEventV1) -> AlertEvent:
    label_evidence = [e.sentence for e in event.evidence if e.supports in {str(lb) for lb in event.labels}]
    return AlertEvent(
        event_id=event.event_id,
        item_id=event.item_id,
        source=event.source,
        url=event.url,
        title=event.title,
        published_at=event.published_at,
        ingested_at=event.ingested_at,
        labels=list(event.labels),
        killed=event.figures.killed,
        injured=event.figures.injured,
        evidence=list(dict.fromkeys(label_evidence))[:_MAX_EVIDENCE],
    )


def build_alert(
    rule: Rule,
    *,
    ident: str,
    group: dict[str, str],
    window: tuple[datetime, datetime],
    fired_at: datetime,
    events: Sequence[AlertEvent],
) -> AlertV1:
    # An ungrouped single-event alert is best described by the report itself.
    where = ", ".join(group[k] for k in sorted(group)) or (events[0].title if len(events) == 1 else "all")
    sources = len({e.source for e in events})
    summary = f"{rule.title}: {where} ({len(events)} report(s) from {sources} source(s))"
    return AlertV1(
        alert_id=ident,
        rule_id=rule.id,
        severity=rule.severity,
        summary=summary,
        group=group,
        window_start=window[0],
        window_end=window[1],
        fired_at=fired_at,
        event_count=len(events),
        source_count=sources,
        events=list(events),
    )


class RuleEngine:
    """Feeds each tagged event to every rule; returns the windows that fired because of it."""

    def __init__(self, rules: RuleSet, store: RuleStateStore) -> None:
        self._rules = rules
        self._store = store

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self._rules.rules if r.id == rule_id), None)

    async def observe(self, event: TaggedEventV1, now: datetime) -> list[AlertV1]:
        """Count the event in every window it belongs to; return the alerts it caused."""
        summary = alert_event(event)
        fired = []
        for update in plan_updates(self._rules, event):
            events = await self._store.record(update, summary)
            if events is None:
                continue
            alert = build_alert(
                update.rule,
                ident=update.alert_id,
                group=update.group,
                window=(update.window_start, update.window_end),
                fired_at=now,
                events=events,
            )
            if await self._store.claim(update, alert):
                fired.append(alert)
        return fired


class InMemoryRuleState:
    """A :class:`RuleStateStore` in a dict, for dry runs and unit tests."""

    def __init__(self) -> None:
        self._windows: dict[str, dict[str, AlertEvent]] = {}
        self._fired: set[str] = set()
        self.outbox: list[AlertV1] = []

    async def record(self, update: WindowUpdate, event: AlertEvent) -> list[AlertEvent] | None:
        window = self._windows.setdefault(update.window_key, {})
        window.setdefault(event.event_id, event)
        if len(window) >= update.rule.threshold and update.alert_id not in self._fired:
            return sorted(window.values(), key=lambda e: (e.published_at, e.event_id))
        return None

    async def claim(self, update: WindowUpdate, alert: AlertV1) -> bool:
        if update.alert_id in self._fired:
            return False
        self._fired.add(update.alert_id)
        self.outbox.append(alert)
        return True


def state_ttl(rule: Rule) -> timedelta:
    """How long window state is kept: the window plus a margin for late and replayed events."""
    return rule.window + timedelta(days=14)
