"""Silences: matchers over alert fields that mute deliveries for a while. Pure.

A matcher names a field (``rule_id``, ``severity``, ``status``, or ``group.<key>`` such as
``group.crossing``), an operator (``=``, ``!=``, ``=~`` for a full-match regular expression) and a
value. A silence mutes an alert when every matcher holds and ``starts_at <= now < ends_at``.
Expiring a silence sets ``ends_at`` to now, so the record stays for the audit trail.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.alerts import AlertV1
from schemas.common import UtcDatetime

_FIELD = re.compile(r"^(rule_id|severity|status|group\.[a-z_]{1,32})$")


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="rule_id, severity, status or group.<key>")
    op: Literal["=", "!=", "=~"] = "="
    value: str = Field(max_length=500)

    @field_validator("name")
    @classmethod
    def _field(cls, value: str) -> str:
        if not _FIELD.match(value):
            raise ValueError("matcher name must be rule_id, severity, status or group.<key>")
        return value

    @model_validator(mode="after")
    def _regex(self) -> Matcher:
        if self.op == "=~":
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return self

    def holds(self, alert: AlertV1) -> bool:
        if self.name.startswith("group."):
            actual = alert.group.get(self.name.removeprefix("group."), "")
        else:
            actual = str(getattr(alert, self.name))
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        return re.fullmatch(self.value, actual) is not None


class SilenceRequest(BaseModel):
    """What a client sends to create a silence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    matchers: list[Matcher] = Field(min_length=1, max_length=20)
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime
    created_by: str = Field(min_length=1, max_length=100)
    comment: str = Field(min_length=1, max_length=1000)


class Silence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    matchers: list[Matcher]
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    created_by: str
    comment: str
    created_at: UtcDatetime

    @classmethod
    def create(cls, request: SilenceRequest, now: datetime, new_id: str | None = None) -> Silence:
        starts = request.starts_at or now
        if request.ends_at <= starts:
            raise ValueError("ends_at must be after starts_at")
        return cls(
            id=new_id or uuid.uuid4().hex,
            matchers=request.matchers,
            starts_at=starts,
            ends_at=request.ends_at,
            created_by=request.created_by,
            comment=request.comment,
            created_at=now,
        )

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> Literal["pending", "active", "expired"]:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def mutes(self, alert: AlertV1, now: datetime) -> bool:
        return self.active(now) and all(m.holds(alert) for m in self.matchers)

    def expired(self, now: datetime) -> Silence:
        return self if now >= self.ends_at else self.model_copy(update={"ends_at": max(now, self.starts_at)})


def silenced_by(silences: Iterable[Silence], alert: AlertV1, now: datetime) -> Silence | None:
    return next((s for s in silences if s.mutes(alert, now)), None)
