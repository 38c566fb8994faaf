"""Types shared by several topic models."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone (UTC expected)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 lies past datetime.max in UTC
        raise ValueError("timestamp out of range") from None


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A timezone-aware timestamp, normalised to UTC. Naive timestamps are rejected."""


class ContractModel(BaseModel):
    """Base of every topic model: unknown fields are rejected, instances are immutable.

    Rejecting unknown fields keeps producers honest; consumers of a newer minor revision
    should use the exported JSON Schema, which documents every optional field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Label(StrEnum):
    """What a tagged event reports."""

    CEASEFIRE_VIOLATION = "ceasefire_violation"
    CLOSURE = "closure"
    CASUALTIES = "casualties"


class CrossingState(StrEnum):
    CLOSED = "closed"
    REOPENED = "reopened"
    PARTIALLY_OPEN = "partially_open"


class Region(StrEnum):
    AF_PAK = "af-pak"
    OTHER = "other"


class Severity(StrEnum):
    """Ordered severities; compare with :func:`severity_rank`."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


_SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


def severity_rank(severity: Severity) -> int:
    """0 for info up to 4 for critical."""
    return _SEVERITY_ORDER[severity]
