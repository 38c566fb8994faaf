"""Topic ``alerts``: every alert the notifier fired, with what supports it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.common import ContractModel, Label, Severity, UtcDatetime


class AlertEvent(ContractModel):
    """One tagged event that contributed to an alert."""

    event_id: str
    item_id: str
    source: str
    url: str | None = None
    title: str
    published_at: UtcDatetime
    ingested_at: UtcDatetime
    labels: list[Label] = Field(default_factory=list)
    killed: int | None = None
    injured: int | None = None
    evidence: list[str] = Field(default_factory=list, description="Sentences that support the labels.")


class AlertV1(ContractModel):
    """An alert decided by a rule for one group and window. Kafka key: ``alert_id``.

    ``alert_id`` is derived from rule, group and window, so the same decision made twice (after
    a restart or by two notifier processes) has the same id.
    """

    schema_version: Literal[1] = 1
    alert_id: str
    rule_id: str
    status: Literal["firing", "resolved"] = "firing"
    severity: Severity
    summary: str
    group: dict[str, str] = Field(default_factory=dict)
    window_start: UtcDatetime
    window_end: UtcDatetime
    fired_at: UtcDatetime
    event_count: int = Field(ge=0)
    source_count: int = Field(ge=0, description="Number of distinct sources among the events.")
    events: list[AlertEvent] = Field(default_factory=list)
    delivered_at: UtcDatetime | None = Field(
        default=None, description="When the first channel accepted the alert (set on publication)."
    )
    resolves: str | None = Field(
        default=None, description="For a resolve notice (status 'resolved'): the firing alert's id."
    )
    state: str | None = Field(
        default=None,
        description="State rules: the state now in force (closed, partially_open, open, violated, holding).",
    )
    incident_id: str | None = Field(
        default=None, description="For incident rules (corroborated, revision): the incident concerned."
    )
