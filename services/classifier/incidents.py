"""Incidents: tagged events grouped by label, place and UTC day, with reconciled figures.

Pure: state lives in a ``MutableMapping[str, bytes]`` given by the caller (a faust table backed by
its changelog topic in the service, a dict in tests), one JSON document per incident id.

Contract of :meth:`IncidentBook.apply`:
- a new event that belongs to an incident adds a report and yields the next revision;
- an event already counted (redelivered) changes nothing and yields the incident at its current
  revision again, so an update lost with a crash is published on redelivery (consumers
  de-duplicate by ``(incident_id, revision)``);
- independent sources: reports from the same outlet, or sharing a story id, count once;
- figures: per outlet the figure of its most recently published report; lowest and highest over
  those; latest from the most recently published report that stated it.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import CrossingState, Label, Region, Severity, severity_rank
from schemas.incidents import FigureReconciliation, IncidentChange, IncidentV1
from schemas.tagged_events import TaggedEventV1

_FIGURES = ("killed", "injured", "civilians_killed")
_SPECIFIC_KINDS = ("crossing", "district", "city", "province")
MAX_REPORTS = 200  # reports kept per incident; later ones still count in report_count
_MAX_LISTED = 50


class Report(BaseModel):
    """What an incident keeps of one tagged event."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    source: str
    story_id: str
    published_at: datetime
    killed: int | None = None
    injured: int | None = None
    civilians_killed: int | None = None
    crossing_state: CrossingState | None = None


class IncidentState(BaseModel):
    """The stored state of one incident (not a topic model: it never leaves the classifier)."""

    incident_id: str
    label: Label
    place: str
    day: date
    region: Region
    severity: Severity
    revision: int = 0
    report_count: int = 0
    reports: list[Report] = Field(default_factory=list)


@dataclass(frozen=True)
class IncidentConfig:
    """Incidents whose day is older than ``retention`` before the newest day seen are forgotten."""

    retention: timedelta = timedelta(days=7)


def incident_id(label: Label, place: str, day: date) -> str:
    key = f"{label.value}\x1f{place.casefold()}\x1f{day.isoformat()}".encode()
    return hashlib.blake2b(key, digest_size=8).hexdigest()


def incident_places(event: TaggedEventV1, label: Label) -> list[str]:
    """Where an event's label happened: the crossings for a closure, else its most specific place."""
    if label is Label.CLOSURE and event.crossings:
        return list(dict.fromkeys(c.name for c in event.crossings))
    for place in event.places:
        if place.kind in _SPECIFIC_KINDS:
            return [place.name]
    if event.places:
        return [event.places[0].name]
    return [event.region.value]


def _crossing_state(event: TaggedEventV1, place: str) -> CrossingState | None:
    return next((c.state for c in event.crossings if c.name == place), None)


def independent_sources(reports: list[Report]) -> int:
    """Connected groups of reports, linking those from the same outlet or of the same story."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in reports:
        a, b = find("o:" + r.source), find("s:" + r.story_id)
        if a != b:
            parent[a] = b
    return len({find("o:" + r.source) for r in reports})


def reconcile(reports: list[Report], figure: str) -> FigureReconciliation:
    stated = sorted(
        ((r.published_at, r.event_id, r.source, getattr(r, figure)) for r in reports),
        key=lambda t: (t[0], t[1]),
    )
    stated = [t for t in stated if t[3] is not None]
    if not stated:
        return FigureReconciliation()
    by_source = {source: value for _, _, source, value in stated}  # later reports overwrite
    values = list(by_source.values())
    return FigureReconciliation(
        lowest=min(values), highest=max(values), latest=stated[-1][3], by_source=by_source
    )


def render(state: IncidentState, changes: list[IncidentChange], event_id: str, now: datetime) -> IncidentV1:
    reports = state.reports
    ordered = sorted(reports, key=lambda r: (r.published_at, r.event_id))
    states = [r for r in ordered if r.crossing_state is not None]
    return IncidentV1(
        incident_id=state.incident_id,
        revision=state.revision,
        changes=changes,
        label=state.label,
        place=state.place,
        day=state.day,
        region=state.region,
        severity=state.severity,
        crossing_state=states[-1].crossing_state if states else None,
        first_published_at=ordered[0].published_at,
        last_published_at=ordered[-1].published_at,
        updated_at=now,
        report_count=state.report_count,
        source_count=independent_sources(reports),
        sources=list(dict.fromkeys(r.source for r in ordered))[:_MAX_LISTED],
        story_ids=list(dict.fromkeys(r.story_id for r in ordered))[:_MAX_LISTED],
        latest_event_id=event_id,
        **{f: reconcile(reports, f) for f in _FIGURES},
    )


def _changes(before: IncidentV1 | None, after: IncidentV1) -> list[IncidentChange]:
    if before is None:
        return ["opened"]
    changes: list[IncidentChange] = ["new_report"]
    if after.source_count > before.source_count:
        changes.append("corroborated")
    up = down = False
    for f in _FIGURES:
        old, new = getattr(before, f).highest, getattr(after, f).highest
        old_latest, new_latest = getattr(before, f).latest, getattr(after, f).latest
        if new is not None and (old is None or new > old):
            up = True
        elif old_latest is not None and new_latest is not None and new_latest < old_latest:
            down = True
    if up:
        changes.append("figures_revised_up")
    if down:
        changes.append("figures_revised_down")
    if after.crossing_state != before.crossing_state:
        changes.append("state_changed")
    return changes


class IncidentBook:
    """Applies tagged events to incidents kept in ``store`` (incident id → JSON state)."""

    def __init__(self, store: MutableMapping[str, bytes], config: IncidentConfig | None = None) -> None:
        self.store = store
        self.config = config or IncidentConfig()
        self._days: dict[str, date] = {}  # incident id → day, for expiry without decoding the store
        self._newest_day: date | None = None
        self._expired_for: date | None = None

    def rebuild(self) -> int:
        """Re-read the store (after a restart) so that expiry knows every incident; returns the count."""
        self._days = {}
        for key, raw in list(self.store.items()):
            if raw is not None:
                self._note_day(key, IncidentState.model_validate_json(raw).day)
        self._expire()
        return len(self._days)

    def apply(self, event: TaggedEventV1, now: datetime) -> list[IncidentV1]:
        """The incident revisions this event causes (or, when already counted, re-states)."""
        updates: list[IncidentV1] = []
        day = event.published_at.date()
        story = event.story_id or event.item_id
        for label in event.labels:
            for place in incident_places(event, label):
                updates.append(self._apply_one(event, label, place, day, story, now))
        self._expire()
        return updates

    def _apply_one(
        self, event: TaggedEventV1, label: Label, place: str, day: date, story: str, now: datetime
    ) -> IncidentV1:
        key = incident_id(label, place, day)
        raw = self.store.get(key)
        if raw is None:
            state = IncidentState(
                incident_id=key,
                label=label,
                place=place,
                day=day,
                region=event.region,
                severity=event.severity,
            )
            before = None
        else:
            state = IncidentState.model_validate_json(raw)
            before = render(state, [], "", now)
            if any(r.event_id == event.event_id for r in state.reports):
                return before.model_copy(update={"latest_event_id": event.event_id})
        report = Report(
            event_id=event.event_id,
            source=event.source,
            story_id=story,
            published_at=event.published_at,
            crossing_state=_crossing_state(event, place) if label is Label.CLOSURE else None,
            **({f: getattr(event.figures, f) for f in _FIGURES} if label is Label.CASUALTIES else {}),
        )
        if len(state.reports) < MAX_REPORTS:
            state.reports.append(report)
        state.report_count += 1
        state.revision += 1
        if severity_rank(event.severity) > severity_rank(state.severity):
            state.severity = event.severity
        after = render(state, [], event.event_id, now)
        self.store[key] = state.model_dump_json().encode()
        self._note_day(key, min(day, now.date()))
        return after.model_copy(update={"changes": _changes(before, after)})

    def _note_day(self, key: str, day: date) -> None:
        self._days[key] = day
        if self._newest_day is None or day > self._newest_day:
            self._newest_day = day

    def _expire(self) -> None:
        # Runs in full only when the newest day moved: once a day of event time, not per event.
        if self._newest_day is None or self._newest_day == self._expired_for:
            return
        self._expired_for = self._newest_day
        horizon = self._newest_day - self.config.retention
        for key in [k for k, d in self._days.items() if d < horizon]:
            del self._days[key]
            self.store.pop(key, None)
