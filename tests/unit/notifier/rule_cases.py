"""Table of rule scenarios: inline rule config, a script of events, incidents and clock ticks,
and the alerts expected after each step. Run on the in-memory store (unit tests) and on Redis
(the store contract test), so both stores are held to the same behaviour."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas import Crossing, CrossingState, Label, Place, Region, Severity, TaggedEventV1
from schemas.alerts import AlertV1
from schemas.incidents import FigureReconciliation, IncidentV1
from services.notifier.evaluate import RuleEngine
from services.notifier.rules import Rule, RuleSet

T0 = datetime(2025, 10, 12, 6, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def ev(
    item: str,
    at: datetime = T0,
    *,
    labels: Sequence[str] = (),
    crossings: Sequence[tuple[str, str]] = (),
    places: Sequence[str] = (),
    actors: Sequence[str] = (),
    source: str = "wire",
    killed: int | None = None,
    severity: str = "medium",
    region: str = "af-pak",
) -> TaggedEventV1:
    return TaggedEventV1(
        event_id=f"ev-{item}",
        item_id=item,
        source=source,
        title=f"title {item}",
        published_at=at,
        ingested_at=at,
        tagged_at=at,
        labels=[Label(lb) for lb in labels],
        figures={"killed": killed},
        crossings=[Crossing(name=n, state=CrossingState(s)) for n, s in crossings],
        places=[Place(name=p, mention=p, kind="district") for p in places],
        actors=list(actors),
        region=Region(region),
        severity=Severity(severity),
        classifier_version="t",
        taxonomy_version="t",
    )


def incident(
    ident: str, revision: int, *, sources: int = 1, killed: int | None = None, place: str = "Kurram"
) -> IncidentV1:
    return IncidentV1(
        incident_id=ident,
        revision=revision,
        label=Label.CASUALTIES,
        place=place,
        day=dt.date(2025, 10, 12),
        region=Region.AF_PAK,
        severity=Severity.HIGH,
        first_published_at=T0,
        last_published_at=T0 + revision * H,
        updated_at=T0 + revision * H,
        report_count=max(revision, sources),
        source_count=sources,
        killed=FigureReconciliation(lowest=killed, highest=killed, latest=killed),
        latest_event_id=f"ev-{ident}-{revision}",
    )


@dataclass(frozen=True)
class Tick:
    at: datetime


Step = tuple[TaggedEventV1 | IncidentV1 | Tick, list[str]]
"""An input and the alerts it must yield, each as ``"status group-values [severity]"``."""


@dataclass(frozen=True)
class Case:
    name: str
    rule: dict[str, object]
    steps: list[Step] = field(default_factory=list)


def describe(alert: AlertV1) -> str:
    group = ",".join(alert.group[k] for k in sorted(alert.group)) or "-"
    return f"{alert.status} {group} {alert.severity}"


def ruleset(rule: dict[str, object]) -> RuleSet:
    base: dict[str, object] = {"id": "r", "title": "T", "severity": "high", "routes": ["ops"]}
    return RuleSet(version=1, rules=[Rule.model_validate({**base, **rule})])


async def run_step(engine: RuleEngine, item: TaggedEventV1 | IncidentV1 | Tick) -> list[AlertV1]:
    if isinstance(item, Tick):
        return await engine.tick(item.at)
    if isinstance(item, IncidentV1):
        return await engine.observe_incident(item, item.updated_at)
    return await engine.observe(item, item.published_at)


CLOSED = {"labels": ["closure"], "crossing_states": ["closed"]}
TORKHAM_CLOSED = [("Torkham", "closed")]

CASES = [
    Case(
        "any: every event once; min_severity filters; cooldown on event time",
        {
            "type": "any",
            "match": {"labels": ["ceasefire_violation"], "min_severity": "medium"},
            "cooldown": "2h",
        },
        [
            (ev("a", labels=["ceasefire_violation"]), ["firing - high"]),
            (ev("a", labels=["ceasefire_violation"]), []),  # redelivered
            (ev("b", T0 + H, labels=["ceasefire_violation"]), []),  # cooling down
            (ev("c", T0 + 3 * H, labels=["ceasefire_violation"], severity="low"), []),  # below min
            (ev("d", T0 + 3 * H, labels=["ceasefire_violation"]), ["firing - high"]),
        ],
    ),
    Case(
        "count: N events in a window per group; late events are not counted",
        {"type": "count", "match": CLOSED, "group_by": ["crossing"], "threshold": 2, "lateness": "1h"},
        [
            (ev("a", T0, labels=["closure"], crossings=TORKHAM_CLOSED), []),
            (ev("x", T0 + 5 * H, labels=["closure"], crossings=[("Chaman", "closed")]), []),
            (ev("b", T0 + H, labels=["closure"], crossings=TORKHAM_CLOSED), []),  # late: 4h behind
            (ev("c", T0 + 5 * H, labels=["closure"], crossings=TORKHAM_CLOSED), ["firing Torkham high"]),
            (ev("d", T0 + 6 * H, labels=["closure"], crossings=TORKHAM_CLOSED), []),  # once per window
            (ev("e", T0 + D, labels=["closure"], crossings=TORKHAM_CLOSED), []),  # a new day
        ],
    ),
    Case(
        "count: cooldown spans windows",
        {"type": "count", "match": CLOSED, "threshold": 1, "window": "1h", "cooldown": "3h"},
        [
            (ev("a", T0, labels=["closure"], crossings=TORKHAM_CLOSED), ["firing - high"]),
            (ev("b", T0 + H, labels=["closure"], crossings=TORKHAM_CLOSED), []),
            (ev("c", T0 + 3 * H, labels=["closure"], crossings=TORKHAM_CLOSED), ["firing - high"]),
        ],
    ),
    Case(
        "sum: a figure summed over the window; escalation raises severity",
        {
            "type": "sum",
            "match": {"labels": ["casualties"]},
            "group_by": ["place"],
            "figure": "killed",
            "threshold": 10,
            "escalate": [{"at_least": 20, "severity": "critical"}],
        },
        [
            (ev("a", labels=["casualties"], places=["Kurram"], killed=4), []),
            (ev("a", labels=["casualties"], places=["Kurram"], killed=4), []),  # counted once
            (ev("b", labels=["casualties"], places=["Khost"], killed=9), []),
            (ev("c", labels=["casualties"], places=["Kurram"], killed=21), ["firing Kurram critical"]),
        ],
    ),
    Case(
        "spike: X times the previous window, with a minimum",
        {"type": "spike", "match": {"labels": ["casualties"]}, "window": "1h", "factor": 2, "threshold": 2},
        [
            (ev("a", T0, labels=["casualties"]), []),
            (ev("b", T0 + H, labels=["casualties"]), []),  # 1 vs 1
            (ev("c", T0 + H + timedelta(minutes=1), labels=["casualties"]), ["firing - high"]),  # 2 vs 1
            (ev("d", T0 + 2 * H, labels=["casualties"]), []),
            (ev("e", T0 + 2 * H, labels=["casualties"]), []),  # 2 vs 2: no spike
        ],
    ),
    Case(
        "flatline: fewer than N items from a source in a closed window (after lateness)",
        {
            "type": "flatline",
            "match": {"sources": ["wire", "daily"]},
            "group_by": ["source"],
            "window": "1h",
            "lateness": "10m",
            "threshold": 2,
        },
        [
            (Tick(T0), []),  # starts watching the window in progress
            (ev("a", T0 + timedelta(minutes=5), source="wire"), []),
            (ev("b", T0 + timedelta(minutes=9), source="wire"), []),
            (ev("c", T0 + timedelta(minutes=9), source="daily"), []),
            (Tick(T0 + H + timedelta(minutes=5)), []),  # still within lateness
            (Tick(T0 + H + timedelta(minutes=10)), ["firing daily high"]),
            (Tick(T0 + H + timedelta(minutes=11)), []),
            (Tick(T0 + 2 * H + timedelta(minutes=10)), ["firing daily high", "firing wire high"]),
        ],
    ),
    Case(
        "state (crossing): fires on change after the hold-down, resolves on return",
        {"type": "state", "state": "crossing", "hold_down": "30m"},
        [
            (ev("a", T0, crossings=TORKHAM_CLOSED), []),
            (Tick(T0 + timedelta(minutes=29)), []),
            (Tick(T0 + timedelta(minutes=30)), ["firing Torkham high"]),
            (Tick(T0 + timedelta(minutes=31)), []),
            (ev("b", T0 + 2 * H, crossings=[("Torkham", "partially_open")]), []),
            (ev("c", T0 + 3 * H, crossings=[("Torkham", "reopened")]), ["firing Torkham high"]),
            (ev("d", T0 + 4 * H, crossings=[("Torkham", "reopened")]), ["resolved Torkham high"]),
        ],
    ),
    Case(
        "state (crossing): a flap shorter than the hold-down never alerts; older reports are ignored",
        {"type": "state", "state": "crossing", "hold_down": "1h"},
        [
            (ev("a", T0, crossings=TORKHAM_CLOSED), []),
            (ev("b", T0 + timedelta(minutes=20), crossings=[("Torkham", "reopened")]), []),
            (ev("old", T0 - H, crossings=TORKHAM_CLOSED), []),
            (Tick(T0 + 3 * H), []),
        ],
    ),
    Case(
        "state (ceasefire): a violation fires; quiet_for without violations resolves",
        {"type": "state", "state": "ceasefire", "match": {"region": "af-pak"}, "quiet_for": "2d"},
        [
            (ev("a", T0, labels=["ceasefire_violation"]), ["firing af-pak high"]),
            (ev("b", T0 + D, labels=["ceasefire_violation"]), []),  # extends the violation
            (Tick(T0 + 2 * D), []),
            (Tick(T0 + 3 * D), ["resolved af-pak high"]),
            (ev("c", T0 + 4 * D, labels=["ceasefire_violation"]), ["firing af-pak high"]),
            (ev("z", T0 + 4 * D, labels=["ceasefire_violation"], region="other"), []),
        ],
    ),
    Case(
        "corroborated: once per incident when N independent sources report it",
        {"type": "corroborated", "match": {"labels": ["casualties"]}, "group_by": ["place"], "threshold": 3},
        [
            (incident("i1", 1, sources=2), []),
            (incident("i1", 2, sources=3), ["firing Kurram high"]),
            (incident("i1", 3, sources=4), []),
            (incident("i2", 1, sources=3, place="Khost"), ["firing Khost high"]),
        ],
    ),
    Case(
        "revision: a toll revised upward by N or X% (against the last alerted figure)",
        {"type": "revision", "figure": "killed", "min_increase": 10, "min_increase_pct": 50},
        [
            (incident("i1", 1, killed=10), []),
            (incident("i1", 2, killed=14), []),  # +4, +40%
            (incident("i1", 2, killed=14), []),  # the same revision again
            (incident("i1", 3, killed=15), ["firing - high"]),  # +5, +50%
            (incident("i1", 4, killed=24), ["firing - high"]),  # +9, but +60%
            (incident("i1", 5, killed=25), []),
            (incident("i1", 4, killed=99), []),  # an older revision arriving late
        ],
    ),
    Case(
        "new_term: a place not seen in the last D days",
        {"type": "new_term", "term": "place", "horizon": "7d"},
        [
            (ev("a", T0, places=["Kurram"]), ["firing Kurram high"]),
            (ev("b", T0 + D, places=["Kurram", "Khost"]), ["firing Khost high"]),
            (ev("b", T0 + D, places=["Kurram", "Khost"]), []),
            (ev("c", T0 + 9 * D, places=["Kurram"]), ["firing Kurram high"]),
        ],
    ),
]
