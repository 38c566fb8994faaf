"""Alert rules: their YAML form, validation, and which events and groups they concern.

Pure: no Kafka, Redis or HTTP. A rule decides *what* to count and *when* a group fires; the rule
state store (:mod:`services.notifier.state_store`) keeps the windows, states and cooldowns.

Rule types (see config/rules.yaml for worked examples):

- ``any``: every matching event; ``count``: at least ``threshold`` matching events in a window;
  ``sum``: the ``figure`` summed over a window reaches ``threshold``;
- ``spike``: a window's count is at least ``factor`` times the previous window's and at least
  ``threshold``; ``flatline``: fewer than ``threshold`` items from a source in a window;
- ``state``: a crossing's status or a region's ceasefire status changes (fires, then resolves);
- ``corroborated``: an incident reaches ``threshold`` independent sources; ``revision``: an
  incident's toll is revised upward by ``min_increase`` or ``min_increase_pct``;
- ``new_term``: a place or actor not seen in the last ``horizon``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas.common import CrossingState, Label, Region, Severity, severity_rank
from schemas.tagged_events import TaggedEventV1
from services.common.yaml_config import load_yaml_model

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_duration(value: object) -> object:
    if isinstance(value, str):
        found = _DURATION.match(value)
        if not found:
            raise ValueError("duration must look like '30m', '6h' or '1d'")
        return timedelta(seconds=int(found.group(1)) * _UNIT_SECONDS[found.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
PlaceKind = Literal["crossing", "city", "district", "province", "region", "country"]
GroupField = Literal["crossing", "place", "label", "region", "source"]
RuleType = Literal[
    "any", "count", "sum", "spike", "flatline", "state", "corroborated", "revision", "new_term"
]
FigureName = Literal["killed", "injured", "civilians_killed"]
RouteName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
_WINDOWED = {"count", "sum", "spike", "flatline"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    """All given conditions must hold; a list condition holds when any of its values is present."""

    labels: list[Label] = Field(default_factory=list)
    region: Region | None = None
    places: list[str] = Field(default_factory=list, description="Canonical gazetteer names.")
    place_kinds: list[PlaceKind] = Field(
        default_factory=list, description="Only places of these kinds match and form groups."
    )
    crossings: list[str] = Field(default_factory=list, description="Canonical crossing names.")
    crossing_states: list[CrossingState] = Field(default_factory=list)
    actors: list[str] = Field(default_factory=list)
    sources: list[str] = Field(
        default_factory=list,
        description="Source names; for flatline rules also the sources expected to report.",
    )
    min_severity: Severity | None = None


class Escalation(_Strict):
    """Raise the alert's severity once the rule's figure (count, sum or toll) reaches ``at_least``."""

    at_least: float = Field(gt=0)
    severity: Severity


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    type: RuleType
    match: Match = Field(default_factory=Match)
    group_by: list[GroupField] = Field(default_factory=list)
    window: Duration = Field(default=timedelta(days=1), description="Tumbling, on event time.")
    lateness: Duration = Field(
        default=timedelta(hours=1), description="Events older than the rule's watermark minus this are late."
    )
    cooldown: Duration = Field(
        default=timedelta(0), description="After a group fired, it does not fire again for this long."
    )
    threshold: int = Field(default=1, ge=1)
    figure: FigureName | None = None
    factor: float | None = Field(default=None, gt=1)
    state: Literal["crossing", "ceasefire"] | None = None
    hold_down: Duration = Field(
        default=timedelta(0), description="A new state must persist this long before it fires or resolves."
    )
    quiet_for: Duration = Field(
        default=timedelta(days=3), description="Ceasefire: holding again after this long without a violation."
    )
    min_increase: int | None = Field(default=None, ge=1)
    min_increase_pct: float | None = Field(default=None, gt=0)
    term: Literal["place", "actor"] | None = None
    horizon: Duration = Field(default=timedelta(days=30), description="new_term: 'not seen in the last'.")
    escalate: list[Escalation] = Field(default_factory=list)
    severity: Severity
    routes: list[RouteName] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.type == "any" and self.threshold != 1:
            raise ValueError("rule type 'any' fires on every matching event: leave threshold out")
        if self.window <= timedelta(0) or self.window > timedelta(days=31):
            raise ValueError("window must be between 1s and 31d")
        if self.lateness > timedelta(days=90):
            raise ValueError("lateness must be at most 90d")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError("group_by lists a field twice")
        needs: dict[str, tuple[str, ...]] = {
            "sum": ("figure",),
            "spike": ("factor",),
            "state": ("state",),
            "revision": ("figure",),
            "new_term": ("term",),
        }
        for name in needs.get(self.type, ()):
            if getattr(self, name) is None:
                raise ValueError(f"rule type {self.type!r} needs {name!r}")
        if self.type == "revision" and self.min_increase is None and self.min_increase_pct is None:
            raise ValueError("rule type 'revision' needs min_increase or min_increase_pct")
        if self.type == "corroborated" and self.threshold < 2:
            raise ValueError("rule type 'corroborated' needs threshold >= 2 (independent sources)")
        if self.type == "flatline" and self.group_by not in ([], ["source"]):
            raise ValueError("rule type 'flatline' groups by source only")
        if self.type in {"state", "new_term"} and self.group_by:
            raise ValueError(f"rule type {self.type!r} groups by its own subject: leave group_by out")
        return self

    @property
    def windowed(self) -> bool:
        return self.type in _WINDOWED

    def severity_for(self, figure: float) -> Severity:
        """The rule's severity, raised by every escalation step that ``figure`` reaches."""
        best = self.severity
        for step in self.escalate:
            if figure >= step.at_least and severity_rank(step.severity) > severity_rank(best):
                best = step.severity
        return best


class RuleSet(_Strict):
    version: int = Field(ge=1)
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return self


def load_rules(path: str | Path) -> RuleSet:
    """Load and validate a rules file; raises ``ConfigError`` naming file, line and field."""
    return load_yaml_model(path, RuleSet)


def matches(rule: Rule, event: TaggedEventV1) -> bool:
    m = rule.match
    if m.labels and not set(m.labels) & set(event.labels):
        return False
    if m.region is not None and event.region != m.region:
        return False
    if m.places and not set(m.places) & {p.name for p in event.places}:
        return False
    if m.place_kinds and not set(m.place_kinds) & {p.kind for p in event.places}:
        return False
    if m.crossings and not set(m.crossings) & {c.name for c in event.crossings}:
        return False
    if m.crossing_states and not set(m.crossing_states) & {c.state for c in event.crossings}:
        return False
    if m.actors and not set(m.actors) & set(event.actors):
        return False
    if m.sources and event.source not in m.sources:
        return False
    return m.min_severity is None or severity_rank(event.severity) >= severity_rank(m.min_severity)


def _values(rule: Rule, event: TaggedEventV1, field: GroupField) -> list[str]:
    m = rule.match
    if field == "crossing":
        return sorted(
            {
                c.name
                for c in event.crossings
                if (not m.crossing_states or c.state in m.crossing_states)
                and (not m.crossings or c.name in m.crossings)
            }
        )
    if field == "place":
        return sorted(
            {
                p.name
                for p in event.places
                if (not m.places or p.name in m.places) and (not m.place_kinds or p.kind in m.place_kinds)
            }
        )
    if field == "label":
        return sorted({str(lb) for lb in event.labels if not m.labels or lb in m.labels})
    if field == "region":
        return [str(event.region)]
    return [event.source]


def groups_of(rule: Rule, event: TaggedEventV1) -> list[dict[str, str]]:
    """Every group the event belongs to under ``rule`` (one per combination of values).

    An event without a value for a ``group_by`` field belongs to no group of that rule.
    """
    value_lists = [_values(rule, event, f) for f in rule.group_by]
    return [dict(zip(rule.group_by, combo, strict=True)) for combo in itertools.product(*value_lists)]


def window_start(rule: Rule, at: datetime) -> datetime:
    """Tumbling windows on event time, aligned to the Unix epoch (so '1d' is a UTC day)."""
    seconds = int(rule.window.total_seconds())
    elapsed = int((at - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=elapsed - elapsed % seconds)


def group_token(group: dict[str, str]) -> str:
    return ",".join(f"{k}={group[k]}" for k in sorted(group))


def alert_id(rule_id: str, group: dict[str, str], start: datetime) -> str:
    """The same rule, group and window always give the same id, in every process."""
    basis = f"{rule_id}|{group_token(group)}|{start.isoformat()}"
    return hashlib.blake2b(basis.encode("utf-8"), digest_size=12).hexdigest()


def resolved_id(firing_alert_id: str) -> str:
    """The id of the resolve notice of a firing alert (differs from it, stable everywhere)."""
    return hashlib.blake2b(f"{firing_alert_id}|resolved".encode(), digest_size=12).hexdigest()


def group_hash(rule_id: str, group: dict[str, str]) -> str:
    """A short stable name for a rule's group, used in state keys."""
    return hashlib.blake2b(f"{rule_id}|{group_token(group)}".encode(), digest_size=10).hexdigest()
