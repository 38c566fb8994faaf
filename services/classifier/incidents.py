"""Incidents: tagged events grouped by label, place and UTC day, with reconciled figures.

Pure: state lives in a ``MutableMapping[str, bytes]`` given by the caller (a faust table backed by
its changelog topic in the service, a dict in tests), one JSON document per incident id.

Contract (:meth:`IncidentBook.add` for each event of a batch, then :meth:`IncidentBook.take_updates`):
- the events of a batch that belong to one incident add their reports, and the incident yields
  one revision for the whole batch (the next revision number; ``changes`` compares it with the
  previously published revision), so a burst of copies costs one message, not one per copy;
- an event already counted (redelivered, however long ago within the incident's life) changes
  nothing; an incident touched only by such events yields its current revision again, so an
  update lost with a crash is published on redelivery (consumers de-duplicate by
  ``(incident_id, revision)``);
- independent sources: reports from the same outlet, or sharing a story id, count once;
- figures: per outlet the figure of its most recently published report; lowest and highest over
  those; latest from the most recently published report that stated it.

:meth:`IncidentBook.apply` is ``add`` and ``take_updates`` for one event. The book reads an event
through its :class:`IncidentReport` (:func:`report_of`): the few fields incidents need, small
enough to cross from the tagging process to the service's event loop at little cost.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from pydantic import AliasChoices, BaseModel, Field

from schemas.common import CrossingState, Label, Region, Severity, severity_rank
from schemas.incidents import FigureReconciliation, IncidentChange, IncidentV1
from schemas.tagged_events import TaggedEventV1

_FIGURES = ("killed", "injured", "civilians_killed")
_SPECIFIC_KINDS = ("crossing", "district", "city", "province")
_MAX_LISTED = 50
# Enum members by value: a report carries plain values (it crosses between processes).
_LABELS = {label.value: label for label in Label}
_SEVERITIES = {severity.value: severity for severity in Severity}
_CROSSING_STATES = {state.value: state for state in CrossingState}


class FigureState(BaseModel):
    """One figure: each outlet's latest stated value, and the latest stated value overall."""

    by_source: dict[str, tuple[float, int]] = Field(default_factory=dict)  # source → (published, value)
    latest: tuple[float, str, int] | None = None  # (published, event id, value)

    def add(self, source: str, published: float, event_id: str, value: int | None) -> None:
        if value is None:
            return
        known = self.by_source.get(source)
        if known is None or published >= known[0]:
            self.by_source[source] = (published, value)
        if self.latest is None or (published, event_id) >= self.latest[:2]:
            self.__dict__["latest"] = (published, event_id, value)  # no validation on assignment

    def reconcile(self) -> FigureReconciliation:
        if self.latest is None:
            return FigureReconciliation()
        values = [v for _, v in self.by_source.values()]
        return FigureReconciliation(
            lowest=min(values),
            highest=max(values),
            latest=self.latest[2],
            by_source={s: v for s, (_, v) in self.by_source.items()},
        )


class IncidentState(BaseModel):
    """The stored state of one incident (not a topic model: it never leaves the classifier).

    Every part is updated in place per report, so applying an event costs the same for the
    first report as for the hundredth.
    """

    incident_id: str
    label: Label
    place: str
    day: date
    region: Region
    severity: Severity
    revision: int = 0
    report_count: int = 0
    # Every counted event id, to recognise a redelivery: bounded by the incident's life (one day
    # of reports, kept for the retention period). Older states stored the last 200 as
    # ``recent_event_ids``.
    event_ids: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("event_ids", "recent_event_ids")
    )
    first_published_at: datetime | None = None
    last_published_at: datetime | None = None
    crossing_state: tuple[float, str, CrossingState] | None = None
    sources: list[str] = Field(default_factory=list)
    story_ids: list[str] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)  # union-find over "o:<outlet>" and "s:<story>"
    figures: dict[str, FigureState] = Field(default_factory=lambda: {f: FigureState() for f in _FIGURES})

    def _find(self, node: str) -> str:
        parent = self.links
        root = parent.setdefault(node, node)
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression keeps later finds short
            parent[node], node = root, parent[node]
        return root

    def link(self, source: str, story: str) -> None:
        a, b = self._find("o:" + source), self._find("s:" + story)
        if a != b:
            self.links[a] = b

    def independent_sources(self) -> int:
        """Groups of reports linked by a shared outlet or a shared story."""
        return len({self._find("o:" + s) for s in self.sources})


@dataclass(frozen=True)
class IncidentConfig:
    """Incidents whose day is older than ``retention`` before the newest day seen are forgotten."""

    retention: timedelta = timedelta(days=7)


@functools.lru_cache(maxsize=8192)  # a few places a day, looked up for every report
def incident_id(label: Label, place: str, day: date) -> str:
    key = f"{label.value}\x1f{place.casefold()}\x1f{day.isoformat()}".encode()
    return hashlib.blake2b(key, digest_size=8).hexdigest()


class IncidentReport(NamedTuple):
    """What incidents read of one tagged event. ``places`` pairs each label with its incident
    places (:func:`incident_places`); ``crossings`` pairs crossing names with their state;
    ``figures`` follows ``_FIGURES``. Plain values only (enums by value), so it pickles cheaply."""

    event_id: str
    source: str
    story: str
    published_at: datetime
    region: str
    severity: str
    places: tuple[tuple[str, tuple[str, ...]], ...]
    crossings: tuple[tuple[str, str], ...]
    figures: tuple[int | None, int | None, int | None]


def report_of(event: TaggedEventV1) -> IncidentReport:
    return IncidentReport(
        event.event_id,
        event.source,
        event.story_id or event.item_id,
        event.published_at,
        event.region.value,
        event.severity.value,
        tuple((label.value, tuple(incident_places(event, label))) for label in event.labels),
        tuple((c.name, c.state.value) for c in event.crossings),
        (event.figures.killed, event.figures.injured, event.figures.civilians_killed),
    )


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


class Members(NamedTuple):
    """An incident's outlets and stories as sets (its lists keep their order of arrival)."""

    sources: set[str]
    stories: set[str]

    @classmethod
    def of(cls, state: IncidentState) -> Members:
        return cls(set(state.sources), set(state.story_ids))


def add_report(state: IncidentState, report: IncidentReport, members: Members | None = None) -> None:
    """Count one new report in ``state`` (the caller checked that it is new; the revision is not
    advanced here: one revision may carry several reports). ``members``, when the caller keeps
    them, are ``state``'s outlets and stories as sets (updated here too)."""
    if members is None:
        members = Members.of(state)
    # IncidentState never validates on assignment: its scalars are written to its __dict__
    # directly (pydantic's __setattr__ costs about a microsecond per field, per report).
    fields = state.__dict__
    published = report.published_at
    ts = published.timestamp()
    story = report.story
    fields["report_count"] += 1
    state.event_ids.append(report.event_id)
    first, last = fields["first_published_at"], fields["last_published_at"]
    if first is None or published < first:
        fields["first_published_at"] = published
    if last is None or published > last:
        fields["last_published_at"] = published
    severity = _SEVERITIES[report.severity]
    if severity_rank(severity) > severity_rank(fields["severity"]):
        fields["severity"] = severity
    if report.source not in members.sources:
        members.sources.add(report.source)
        state.sources.append(report.source)
    if story not in members.stories:
        members.stories.add(story)
        state.story_ids.append(story)
    state.link(report.source, story)
    label = fields["label"]
    if label is Label.CLOSURE:
        crossing = next((c for name, c in report.crossings if name == state.place), None)
        current = fields["crossing_state"]
        if crossing is not None and (current is None or (ts, report.event_id) >= current[:2]):
            fields["crossing_state"] = (ts, report.event_id, _CROSSING_STATES[crossing])
    elif label is Label.CASUALTIES:
        for f, value in zip(_FIGURES, report.figures, strict=True):
            if value is not None:
                state.figures[f].add(report.source, ts, report.event_id, value)


def render(state: IncidentState, changes: list[IncidentChange], event_id: str, now: datetime) -> IncidentV1:
    if state.first_published_at is None or state.last_published_at is None:
        raise ValueError("an incident without reports cannot be rendered")
    return IncidentV1(
        incident_id=state.incident_id,
        revision=state.revision,
        changes=changes,
        label=state.label,
        place=state.place,
        day=state.day,
        region=state.region,
        severity=state.severity,
        crossing_state=None if state.crossing_state is None else state.crossing_state[2],
        first_published_at=state.first_published_at,
        last_published_at=state.last_published_at,
        updated_at=now,
        report_count=state.report_count,
        source_count=state.independent_sources(),
        sources=state.sources[:_MAX_LISTED],
        story_ids=state.story_ids[:_MAX_LISTED],
        latest_event_id=event_id,
        **{f: state.figures[f].reconcile() for f in _FIGURES},
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

    def __init__(
        self,
        store: MutableMapping[str, bytes],
        config: IncidentConfig | None = None,
        *,
        defer_writes: bool = False,
    ) -> None:
        """With ``defer_writes``, changed incidents reach ``store`` only on :meth:`flush` (once per
        batch instead of once per event: each write is a changelog record)."""
        self.store = store
        self._defer = defer_writes
        self._dirty: set[str] = set()
        self.config = config or IncidentConfig()
        self._days: dict[str, date] = {}  # incident id → day, for expiry without decoding the store
        # Decoded states, their counted event ids and their last published revision: the store is
        # written on every change, read once.
        self._states: dict[str, IncidentState] = {}
        self._seen: dict[str, set[str]] = {}
        self._members: dict[str, Members] = {}
        self._published: dict[str, IncidentV1] = {}
        # Incidents touched since the last take_updates: id → (latest event id, changed).
        self._touched: dict[str, tuple[str, bool]] = {}
        self._newest_day: date | None = None
        self._expired_for: date | None = None

    def rebuild(self) -> int:
        """Re-read the store (after a restart) so that expiry knows every incident; returns the count."""
        self._days = {}
        self._states = {}
        self._seen = {}
        self._members = {}
        self._published = {}
        self._touched = {}
        for key, raw in list(self.store.items()):
            if raw is not None:
                self._note_day(key, IncidentState.model_validate_json(raw).day)
        self._expire()
        return len(self._days)

    def apply(self, event: TaggedEventV1, now: datetime) -> list[IncidentV1]:
        """The incident revisions this one event causes (or, when already counted, re-states)."""
        self.add(event, now)
        return self.take_updates(now)

    def add(self, event: TaggedEventV1, now: datetime) -> None:
        """Count the event in its incidents; the revisions come from :meth:`take_updates`."""
        self.add_report(report_of(event), now)

    def add_report(self, report: IncidentReport, now: datetime) -> None:
        """:meth:`add` for an event already reduced to its :class:`IncidentReport`."""
        day = report.published_at.date()
        for label, places in report.places:
            for place in places:
                self._add_one(report, _LABELS[label], place, day, now)
        self._expire()

    def take_updates(self, now: datetime) -> list[IncidentV1]:
        """One revision per incident touched since the last call, in the order first touched."""
        touched, self._touched = self._touched, {}
        updates: list[IncidentV1] = []
        for key, (event_id, changed) in touched.items():
            state = self._states.get(key)
            if state is None:  # expired meanwhile
                continue
            before = self._published.get(key)
            if not changed:
                if before is None:
                    before = render(state, [], event_id, now)
                    self._published[key] = before
                updates.append(before.model_copy(update={"latest_event_id": event_id}))
                continue
            state.revision += 1
            after = render(state, [], event_id, now)
            self._published[key] = after
            self._mark_dirty(key, state)
            updates.append(after.model_copy(update={"changes": _changes(before, after)}))
        return updates

    def _add_one(self, report: IncidentReport, label: Label, place: str, day: date, now: datetime) -> None:
        key = incident_id(label, place, day)
        state: IncidentState | None = self._states.get(key)
        if state is None:
            raw = self.store.get(key)
            state = None if raw is None else IncidentState.model_validate_json(raw)
        if state is None:
            state = IncidentState(
                incident_id=key,
                label=label,
                place=place,
                day=day,
                region=Region(report.region),
                severity=_SEVERITIES[report.severity],
            )
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = set(state.event_ids)
        self._states[key] = state
        self._note_day(key, min(day, now.date()))
        changed = self._touched.get(key, ("", False))[1]
        if report.event_id in seen:
            self._touched[key] = (report.event_id, changed)
            return
        if self._published.get(key) is None and state.revision > 0:
            # First touch since a restart: what consumers last saw, for this revision's changes.
            self._published[key] = render(state, [], "", now)
        seen.add(report.event_id)
        members = self._members.get(key)
        if members is None:
            members = self._members[key] = Members.of(state)
        add_report(state, report, members)
        self._touched[key] = (report.event_id, True)

    def _mark_dirty(self, key: str, state: IncidentState) -> None:
        if self._defer:
            self._dirty.add(key)
        else:
            self.store[key] = state.model_dump_json().encode()

    def flush(self) -> int:
        """Write the incidents changed since the last flush; returns how many."""
        dirty, self._dirty = self._dirty, set()
        for key in dirty:
            state = self._states.get(key)
            if state is not None:
                self.store[key] = state.model_dump_json().encode()
        return len(dirty)

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
            self._states.pop(key, None)
            self._seen.pop(key, None)
            self._members.pop(key, None)
            self._published.pop(key, None)
            self._touched.pop(key, None)
            self._dirty.discard(key)
            self.store.pop(key, None)
