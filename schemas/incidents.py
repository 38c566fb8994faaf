"""Topic ``incidents``: tagged events grouped by label, place and day, with reconciled figures.

Each message is one revision of one incident. Kafka key: ``incident_id``; revisions of an
incident are published in order, and the same ``(incident_id, revision)`` may be published more
than once after a redelivery (consumers de-duplicate by that pair). This topic is consumed by
other systems: only add optional fields in a minor revision.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from schemas.common import ContractModel, CrossingState, Label, Region, Severity, UtcDatetime

IncidentChange = Literal[
    "opened", "new_report", "corroborated", "figures_revised_up", "figures_revised_down", "state_changed"
]


class FigureReconciliation(ContractModel):
    """One casualty figure as reported over time; ``None`` while no report stated it.

    ``by_source`` holds each outlet's most recent figure (by publication time), so a source that
    revises its own toll counts once, with its latest value.
    """

    lowest: int | None = Field(default=None, ge=0)
    highest: int | None = Field(default=None, ge=0)
    latest: int | None = Field(default=None, ge=0, description="From the most recently published report.")
    by_source: dict[str, int] = Field(default_factory=dict)


class IncidentV1(ContractModel):
    """One revision of an incident. Kafka key: ``incident_id``.

    ``incident_id`` is derived from label, place and day, so every classifier instance and every
    restart computes the same id. ``revision`` starts at 1 and grows by one with every change.
    """

    schema_version: Literal[1] = 1
    incident_id: str
    revision: int = Field(ge=1)
    changes: list[IncidentChange] = Field(
        default_factory=list, description="What this revision changed compared with the previous one."
    )
    label: Label
    place: str = Field(description="Canonical gazetteer name, or the region when no place was named.")
    day: dt.date = Field(description="UTC publication day of the reports.")
    region: Region
    severity: Severity = Field(description="Highest severity among the reports.")
    crossing_state: CrossingState | None = Field(
        default=None, description="For closures: the state named by the most recently published report."
    )
    first_published_at: UtcDatetime
    last_published_at: UtcDatetime
    updated_at: UtcDatetime = Field(description="When the classifier made this revision.")
    report_count: int = Field(ge=1, description="Tagged events (distinct items) in the incident.")
    source_count: int = Field(
        ge=1,
        description="Independent sources: reports from the same outlet or of the same story count once.",
    )
    sources: list[str] = Field(default_factory=list, description="Outlets that reported it (at most 50).")
    story_ids: list[str] = Field(default_factory=list, description="Stories that reported it (at most 50).")
    killed: FigureReconciliation = Field(default_factory=FigureReconciliation)
    injured: FigureReconciliation = Field(default_factory=FigureReconciliation)
    civilians_killed: FigureReconciliation = Field(default_factory=FigureReconciliation)
    latest_event_id: str = Field(description="The tagged event that led to this revision.")
