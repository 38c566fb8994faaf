"""Alert rules: their YAML form, validation, and which events and groups they concern.

Pure: no Kafka, Redis or HTTP. A rule decides *what* to count; the rule state store decides
*when* a window reaches its threshold.
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
Channel = Literal["console", "webhook"]


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
    min_severity: Severity | None = None


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    type: Literal["any", "count"]
    match: Match = Field(default_factory=Match)
    group_by: list[GroupField] = Field(default_factory=list)
    window: Duration = Field(default=timedelta(days=1))
    threshold: int = Field(default=1, ge=1)
    severity: Severity
    routes: list[Channel] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.type == "any" and self.threshold != 1:
            raise ValueError("rule type 'any' fires on every matching event: leave threshold out")
        if self.window <= timedelta(0) or self.window > timedelta(days=31):
            raise ValueError("window must be between 1s and 31d")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError("group_by lists a field twice")
        return self


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
