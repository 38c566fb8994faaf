"""Rule evaluation: tagged events, incident updates and the clock in; decided alerts out.

Pure: the state lives behind :class:`~services.notifier.state_store.RuleStateStore` (Redis in
production, dicts in tests and dry runs), so the same engine serves both. Every alert the engine
returns has already been queued in the store's outbox in the same atomic step as the state change
that decided it; a crash before that step leaves nothing decided (the event is redelivered), a
crash after it loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.alerts import AlertEvent, AlertV1
from schemas.common import Label, severity_rank
from schemas.incidents import IncidentV1
from schemas.tagged_events import TaggedEventV1
from services.notifier import state_rules
from services.notifier.rules import (
    Rule,
    RuleSet,
    alert_id,
    group_hash,
    groups_of,
    matches,
    resolved_id,
    window_start,
)
from services.notifier.state_store import (
    COOLING_DOWN,
    FIRED,
    Claim,
    InMemoryRuleState,
    RuleStateStore,
    WindowRecord,
    WindowView,
)

__all__ = ["InMemoryRuleState", "RuleEngine", "RuleStateStore", "WindowUpdate", "plan_updates"]

_MAX_EVIDENCE = 3
_NEVER = 2**31  # a min_count no window reaches: flatline windows only count
_STATE_TTL = timedelta(days=120)
_MAX_FLATLINE_WINDOWS = 48
_CAS_ATTEMPTS = 8


def ts(at: datetime) -> float:
    return at.timestamp()


def at_time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True)
class WindowUpdate:
    """One event counted in one (rule, group, window); ``alert_id`` names the alert it may fire."""

    rule: Rule
    group: dict[str, str]
    window_start: datetime
    window_end: datetime
    alert_id: str


def plan_updates(rules: RuleSet, event: TaggedEventV1) -> list[WindowUpdate]:
    """The windows of ``any``/``count``/``sum``/``spike``/``flatline`` rules the event falls in."""
    updates = []
    for rule in rules.rules:
        if rule.type not in {"any", "count", "sum", "spike", "flatline"} or not matches(rule, event):
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
    figure: float | None = None,
    summary: str | None = None,
    **extra: Any,
) -> AlertV1:
    # An ungrouped single-event alert is best described by the report itself.
    where = ", ".join(group[k] for k in sorted(group)) or (events[0].title if len(events) == 1 else "all")
    sources = len({e.source for e in events})
    if summary is None:
        summary = f"{rule.title}: {where} ({len(events)} report(s) from {sources} source(s))"
    return AlertV1(
        alert_id=ident,
        rule_id=rule.id,
        severity=rule.severity_for(figure if figure is not None else len(events)),
        summary=summary,
        group=group,
        window_start=window[0],
        window_end=window[1],
        fired_at=fired_at,
        event_count=len(events),
        source_count=sources,
        events=list(events),
        **extra,
    )


def state_ttl(rule: Rule) -> timedelta:
    """How long window state is kept: window and lateness plus a margin for replayed events."""
    return rule.window * 2 + rule.lateness + timedelta(days=14)


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def _member(group: dict[str, str]) -> str:
    return json.dumps(group, sort_keys=True)


class RuleEngine:
    """Evaluates every rule of ``rules`` against events, incident updates and the clock.

    ``RuleEngine(rules, store)`` is all the process needs: ``store`` is a
    :class:`~services.notifier.rule_state.RedisRuleState` (production) or an
    :class:`~services.notifier.state_store.InMemoryRuleState` (dry runs, tests). The optional
    hooks count what the engine skips, for metrics: ``on_late(rule_id)`` for an event older than
    the rule's watermark minus its lateness (not counted), ``on_cooldown(rule_id)`` for an alert
    held back by the rule's cooldown. Call :meth:`tick` about once a second: time-driven rules
    (flatline, state hold-down and ceasefire quiet time) fire there.
    """

    def __init__(
        self,
        rules: RuleSet,
        store: RuleStateStore,
        *,
        on_late: Callable[[str], None] | None = None,
        on_cooldown: Callable[[str], None] | None = None,
    ) -> None:
        self._rules = rules
        self._store = store
        self._on_late = on_late or (lambda _rule: None)
        self._on_cooldown = on_cooldown or (lambda _rule: None)

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self._rules.rules if r.id == rule_id), None)

    # -- tagged events ---------------------------------------------------------------------
    async def observe(self, event: TaggedEventV1, now: datetime) -> list[AlertV1]:
        """Count the event in every window and state it concerns; return the alerts it caused.

        Idempotent by event id: a redelivered event changes nothing and fires nothing again.
        """
        return await self.observe_many([event], now)

    async def observe_many(self, events: Sequence[TaggedEventV1], now: datetime) -> list[AlertV1]:
        """:meth:`observe` for a batch, in order, with the window rules' state calls batched.

        Every window of the batch is counted in one store call, then the windows that reached
        their condition are claimed in a second one (Redis: two round trips for the batch). The
        outcome is the one of observing the events one by one: counting is in event order, and a
        window that more than one event of the batch completes is claimed by the first of them
        (the later claims find it fired). State and new-term rules follow, event by event.
        """
        summaries = [alert_event(e) for e in events]
        planned = [
            (u, e, s) for e, s in zip(events, summaries, strict=True) for u in plan_updates(self._rules, e)
        ]
        views = await self._store.record_many([self._window_record(u, e, s) for u, e, s in planned])
        claims: list[tuple[Claim, AlertV1]] = []
        for (update, event, _), view in zip(planned, views, strict=True):
            alert = self._window_alert(update, view, now)
            if alert is not None:
                claims.append(
                    (
                        self._claim_of(
                            update.rule, update.group, f"fired:{update.alert_id}", alert, event.published_at
                        ),
                        alert,
                    )
                )
        outcomes = await self._store.claim_many([c for c, _ in claims]) if claims else []
        fired: list[AlertV1] = []
        for (claim, alert), outcome in zip(claims, outcomes, strict=True):
            fired += self._claimed(claim, alert, outcome)
        for event, summary in zip(events, summaries, strict=True):
            for rule in self._rules.rules:
                if rule.type == "state" and matches(rule, event):
                    fired += await self._observe_state(rule, event, summary, now)
                elif rule.type == "new_term" and matches(rule, event):
                    fired += await self._observe_terms(rule, event, summary, now)
        return fired

    def _window_record(self, update: WindowUpdate, event: TaggedEventV1, summary: AlertEvent) -> WindowRecord:
        rule = update.rule
        value = 0.0
        if rule.type == "sum" and rule.figure is not None:
            value = float(getattr(event.figures, rule.figure) or 0)
        table: dict[str, dict[str, Any]] = {
            "any": {},  # fires on every event: the window is the event itself
            "count": {"min_count": rule.threshold},
            "sum": {"min_total": float(rule.threshold)},
            "spike": {"min_count": rule.threshold, "factor": rule.factor or 0.0},
            "flatline": {"min_count": _NEVER},
        }
        conditions = table[rule.type]
        previous = None
        if rule.type == "spike":
            previous = f"win:{alert_id(rule.id, update.group, update.window_start - rule.window)}"
        ttl = _seconds(state_ttl(rule))
        return WindowRecord(
            window_key=f"win:{update.alert_id}",
            total_key=f"sum:{update.alert_id}",
            watermark_key=f"wm:{rule.id}",
            fired_key=f"fired:{update.alert_id}",
            event=summary,
            at=ts(event.published_at),
            lateness_s=_seconds(rule.lateness),
            ttl_s=ttl,
            value=value,
            previous_key=previous,
            members_key=f"groups:{rule.id}" if rule.type == "flatline" else None,
            member=_member(update.group),
            **conditions,
        )

    def _window_alert(self, update: WindowUpdate, view: WindowView, now: datetime) -> AlertV1 | None:
        rule = update.rule
        if view.late:
            self._on_late(rule.id)
            return None
        if view.events is None:
            return None
        figure = view.total if rule.type == "sum" else float(view.count)
        return build_alert(
            rule,
            ident=update.alert_id,
            group=update.group,
            window=(update.window_start, update.window_end),
            fired_at=now,
            events=view.events,
            figure=figure,
        )

    def _claim_of(
        self, rule: Rule, group: dict[str, str], fired_key: str, alert: AlertV1, at: datetime
    ) -> Claim:
        return Claim(
            fired_key=fired_key,
            ttl_s=_seconds(state_ttl(rule)),
            alert=alert,
            at=ts(at),
            cooldown_key=f"cool:{group_hash(rule.id, group)}",
            cooldown_s=_seconds(rule.cooldown),
        )

    def _claimed(self, claim: Claim, alert: AlertV1, outcome: int) -> list[AlertV1]:
        if outcome == COOLING_DOWN:
            self._on_cooldown(alert.rule_id)
        return [alert] if outcome == FIRED else []

    async def _claim(
        self, rule: Rule, group: dict[str, str], fired_key: str, alert: AlertV1, at: datetime
    ) -> list[AlertV1]:
        claim = self._claim_of(rule, group, fired_key, alert, at)
        return self._claimed(claim, alert, await self._store.claim(claim))

    async def _observe_terms(
        self, rule: Rule, event: TaggedEventV1, summary: AlertEvent, now: datetime
    ) -> list[AlertV1]:
        m = rule.match
        if rule.term == "place":
            terms = sorted(
                {
                    p.name
                    for p in event.places
                    if (not m.places or p.name in m.places) and (not m.place_kinds or p.kind in m.place_kinds)
                }
            )
        else:
            terms = sorted(set(event.actors) & set(m.actors) if m.actors else set(event.actors))
        fired = []
        horizon = _seconds(rule.horizon)
        for term in terms:
            group = {str(rule.term): term}
            ident = alert_id(rule.id, group, event.published_at)
            alert = build_alert(
                rule,
                ident=ident,
                group=group,
                window=(event.published_at - rule.horizon, event.published_at),
                fired_at=now,
                events=[summary],
                summary=f"{rule.title}: {term} (not reported in the previous {rule.horizon.days} day(s))",
            )
            claim = Claim(
                fired_key=f"fired:{ident}", ttl_s=horizon + 86400, alert=alert, at=ts(event.published_at)
            )
            if await self._store.first_sight(
                f"seen:{rule.id}", term, ts(event.published_at), horizon, horizon * 2 + 86400, claim
            ):
                fired.append(alert)
        return fired

    # -- state rules -----------------------------------------------------------------------
    def _signals(self, rule: Rule, event: TaggedEventV1) -> list[tuple[dict[str, str], str]]:
        if rule.state == "crossing":
            wanted = rule.match.crossings
            return [
                ({"crossing": c.name}, state_rules.CROSSING_SIGNAL[c.state])
                for c in event.crossings
                if not wanted or c.name in wanted
            ]
        if Label.CEASEFIRE_VIOLATION in event.labels:
            return [({"region": str(event.region)}, "violated")]
        return []

    async def _observe_state(
        self, rule: Rule, event: TaggedEventV1, summary: AlertEvent, now: datetime
    ) -> list[AlertV1]:
        fired = []
        evidence = summary.model_dump(mode="json")
        for group, signal in self._signals(rule, event):
            await self._store.add_member(f"groups:{rule.id}", _member(group), _seconds(_STATE_TTL))
            fired += await self._update_state(
                rule,
                group,
                now,
                lambda doc, s=signal: state_rules.observe(  # type: ignore[misc]
                    rule, doc, s, ts(event.published_at), evidence
                ),
            )
        return fired

    async def _update_state(
        self,
        rule: Rule,
        group: dict[str, str],
        now: datetime,
        step: Callable[[dict[str, Any]], list[state_rules.Transition]],
    ) -> list[AlertV1]:
        key = f"state:{group_hash(rule.id, group)}"
        for _ in range(_CAS_ATTEMPTS):
            (found,) = await self._store.load([key])
            version, doc = found if found is not None else (0, state_rules.new_doc(rule))
            before = json.dumps(doc, sort_keys=True)
            alerts = [self._state_alert(rule, group, doc, t, now) for t in step(doc)]
            if json.dumps(doc, sort_keys=True) == before:
                return []
            kept = [a for a in alerts if a is not None]
            if await self._store.save(key, version, doc, _seconds(_STATE_TTL), kept):
                return kept
        raise RuntimeError(f"state of rule {rule.id} kept changing under concurrent writers")

    def _state_alert(
        self,
        rule: Rule,
        group: dict[str, str],
        doc: dict[str, Any],
        change: state_rules.Transition,
        now: datetime,
    ) -> AlertV1 | None:
        subject = ", ".join(group.values())
        events = [AlertEvent.model_validate(change.evidence)] if change.evidence else []
        window = (at_time(change.since), at_time(max(change.at, change.since)))
        if not state_rules.is_normal(rule, change.state):
            ident = alert_id(rule.id, group, at_time(change.since))
            doc["firing"] = ident
            return build_alert(
                rule,
                ident=ident,
                group=group,
                window=window,
                fired_at=now,
                events=events,
                summary=f"{rule.title}: {subject} is {_words(change.state)} (was {_words(change.previous)})",
                state=change.state,
            )
        firing = doc.get("firing")
        doc["firing"] = None
        if not firing:
            return None
        return build_alert(
            rule,
            ident=resolved_id(firing),
            group=group,
            window=window,
            fired_at=now,
            events=events,
            summary=f"{rule.title}: {subject} is {_words(change.state)} again",
            status="resolved",
            resolves=firing,
            state=change.state,
        )

    # -- incident updates ------------------------------------------------------------------
    async def observe_incident(self, update: IncidentV1, now: datetime) -> list[AlertV1]:
        """Evaluate ``corroborated`` and ``revision`` rules on one incident revision.

        Idempotent: an incident fires a ``corroborated`` rule once, and a revision already seen
        (or older than the last one seen) changes nothing.
        """
        fired: list[AlertV1] = []
        for rule in self._rules.rules:
            if rule.type not in {"corroborated", "revision"} or not _incident_matches(rule, update):
                continue
            group = _incident_group(rule, update)
            if rule.type == "corroborated":
                if update.source_count < rule.threshold:
                    continue
                ident = alert_id(rule.id, {**group, "incident": update.incident_id}, at_time(0))
                alert = self._incident_alert(rule, update, group, ident, now, float(update.source_count))
                fired += await self._claim(rule, group, f"fired:{ident}", alert, update.last_published_at)
            else:
                fired += await self._revise(rule, update, group, now)
        return fired

    async def _revise(
        self, rule: Rule, update: IncidentV1, group: dict[str, str], now: datetime
    ) -> list[AlertV1]:
        figure = getattr(update, str(rule.figure)).highest
        if figure is None:
            return []
        key = f"rev:{rule.id}:{update.incident_id}"
        for _ in range(_CAS_ATTEMPTS):
            (found,) = await self._store.load([key])
            fresh: dict[str, Any] = {"base": None, "revision": 0}
            version, doc = found if found is not None else (0, fresh)
            if update.revision <= doc["revision"]:
                return []
            base = doc["base"]
            alerts = []
            if base is not None and _revised_up(rule, base, figure):
                ident = alert_id(rule.id, {**group, "incident": update.incident_id}, at_time(update.revision))
                alerts.append(self._incident_alert(rule, update, group, ident, now, float(figure), base))
            if base is None or alerts:
                base = figure
            new = {"base": base, "revision": update.revision}
            if await self._store.save(key, version, new, _seconds(_STATE_TTL), alerts):
                return alerts
        raise RuntimeError(f"revision state of rule {rule.id} kept changing under concurrent writers")

    def _incident_alert(
        self,
        rule: Rule,
        update: IncidentV1,
        group: dict[str, str],
        ident: str,
        now: datetime,
        figure: float,
        base: int | None = None,
    ) -> AlertV1:
        if rule.type == "revision":
            text = f"{rule.figure} revised from {base} to {int(figure)}"
        else:
            text = f"{update.source_count} independent source(s), {update.report_count} report(s)"
        return AlertV1(
            alert_id=ident,
            rule_id=rule.id,
            severity=rule.severity_for(figure),
            summary=f"{rule.title}: {update.place}, {update.day.isoformat()} ({text})",
            group=group,
            window_start=update.first_published_at,
            window_end=update.last_published_at,
            fired_at=now,
            event_count=update.report_count,
            source_count=update.source_count,
            incident_id=update.incident_id,
        )

    # -- the clock -------------------------------------------------------------------------
    async def tick(self, now: datetime) -> list[AlertV1]:
        """Fire what time alone decides: flatline windows that closed (after their lateness),
        state changes that outlived their hold-down, ceasefires quiet for long enough."""
        fired: list[AlertV1] = []
        for rule in self._rules.rules:
            if rule.type == "flatline":
                fired += await self._tick_flatline(rule, now)
            elif rule.type == "state":
                fired += await self._tick_state(rule, now)
        return fired

    async def _tick_state(self, rule: Rule, now: datetime) -> list[AlertV1]:
        members = await self._store.members(f"groups:{rule.id}")
        groups = [json.loads(m) for m in members]
        keys = [f"state:{group_hash(rule.id, g)}" for g in groups]
        fired: list[AlertV1] = []
        for group, found in zip(groups, await self._store.load(keys), strict=True):
            if found is None or not state_rules.pending(rule, found[1]):
                continue
            fired += await self._update_state(
                rule, group, now, lambda doc: state_rules.advance(rule, doc, ts(now))
            )
        return fired

    async def _tick_flatline(self, rule: Rule, now: datetime) -> list[AlertV1]:
        key = f"cursor:{rule.id}"
        (found,) = await self._store.load([key])
        step = rule.window.total_seconds()
        if found is None:
            # Start with the window in progress: earlier windows predate what we watched.
            start = ts(window_start(rule, now))
            await self._store.save(key, 0, {"next": start}, _seconds(_STATE_TTL))
            return []
        version, cursor = found
        closed_before = ts(now) - rule.lateness.total_seconds()
        start = max(
            cursor["next"], ts(window_start(rule, at_time(closed_before))) - step * _MAX_FLATLINE_WINDOWS
        )
        if start + step > closed_before:
            return []
        groups = [json.loads(m) for m in await self._store.members(f"groups:{rule.id}")]
        expected = [{"source": s} for s in rule.match.sources] if rule.group_by == ["source"] else [{}]
        for group in expected:
            if group not in groups:
                groups.append(group)
        fired: list[AlertV1] = []
        while start + step <= closed_before:
            begin = at_time(start)
            idents = [alert_id(rule.id, g, begin) for g in groups]
            counts = await self._store.counts([f"win:{i}" for i in idents])
            for group, ident, count in zip(groups, idents, counts, strict=True):
                if count >= rule.threshold:
                    continue
                where = ", ".join(group.values()) or "all sources"
                alert = build_alert(
                    rule,
                    ident=ident,
                    group=group,
                    window=(begin, begin + rule.window),
                    fired_at=now,
                    events=[],
                    figure=float(count),
                    summary=f"{rule.title}: {where} sent {count} item(s), fewer than {rule.threshold}",
                )
                fired += await self._claim(rule, group, f"fired:{ident}", alert, begin + rule.window)
            start += step
        await self._store.save(key, version, {"next": start}, _seconds(_STATE_TTL))
        return fired


def _words(state: str) -> str:
    return state.replace("_", " ")


def _incident_matches(rule: Rule, update: IncidentV1) -> bool:
    m = rule.match
    if m.labels and update.label not in m.labels:
        return False
    if m.region is not None and update.region != m.region:
        return False
    if m.places and update.place not in m.places:
        return False
    if m.crossing_states and update.crossing_state not in m.crossing_states:
        return False
    return m.min_severity is None or severity_rank(update.severity) >= severity_rank(m.min_severity)


def _incident_group(rule: Rule, update: IncidentV1) -> dict[str, str]:
    values = {"place": update.place, "label": str(update.label), "region": str(update.region)}
    return {f: values[f] for f in rule.group_by if f in values}


def _revised_up(rule: Rule, base: int, figure: int) -> bool:
    increase = figure - base
    if increase <= 0:
        return False
    if rule.min_increase is not None and increase >= rule.min_increase:
        return True
    return rule.min_increase_pct is not None and base > 0 and increase * 100 / base >= rule.min_increase_pct
