"""Subscribers: who hears about which alerts, on which channels, immediately or in a digest.

Pure. Loaded from YAML (``config/subscribers.yaml``) and validated at start-up with file, line
and field in errors. Secrets never sit in the file: a Slack incoming-webhook URL, a generic
webhook URL and its signing secret are given as the NAME of an environment variable, and
:func:`resolve_secrets` looks them up in the mapping the wiring passes in (``os.environ``).

A rule's ``routes`` name subscribers or groups of subscribers; :func:`check_routes` makes sure
every route of every rule exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from schemas.alerts import AlertV1
from schemas.common import Label, Region, Severity, severity_rank
from services.common.yaml_config import ConfigError, load_yaml_model

_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ENV = r"^[A-Z_][A-Z0-9_]{0,127}$"
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """A token bucket: ``per_second`` sustained, ``burst`` at once."""

    per_second: float = Field(gt=0, le=100)
    burst: int = Field(ge=1, le=100)


class ConsoleTarget(_Strict):
    type: Literal["console"]
    name: str = Field(default="console", pattern=_NAME)


class WebhookTarget(_Strict):
    type: Literal["webhook"]
    name: str = Field(default="webhook", pattern=_NAME)
    url_env: str = Field(pattern=_ENV, description="Environment variable holding the URL.")
    secret_env: str | None = Field(default=None, pattern=_ENV, description="HMAC-SHA256 signing secret.")
    required: bool = Field(default=True, description="False: skip this channel when the variable is unset.")
    rate_limit: RateLimit | None = None


class SlackTarget(_Strict):
    type: Literal["slack"]
    name: str = Field(default="slack", pattern=_NAME)
    webhook_env: str = Field(pattern=_ENV, description="Environment variable holding the webhook URL.")
    required: bool = True
    # Slack documents about one message per second per incoming webhook, with short bursts.
    rate_limit: RateLimit = Field(default_factory=lambda: RateLimit(per_second=1.0, burst=3))


class EmailTarget(_Strict):
    type: Literal["email"]
    name: str = Field(default="email", pattern=_NAME)
    to: list[str] = Field(min_length=1, max_length=50)
    rate_limit: RateLimit | None = None

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"not an e-mail address: {address!r}")
        return value


Target = Annotated[ConsoleTarget | WebhookTarget | SlackTarget | EmailTarget, Field(discriminator="type")]


class Filters(_Strict):
    """All given conditions must hold; a list holds when any of its values is present."""

    labels: list[Label] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)
    places: list[str] = Field(default_factory=list, description="Group values (place or crossing).")
    min_severity: Severity | None = None


class Digest(_Strict):
    at: time = Field(description="Local time of day, e.g. '08:00'.")
    timezone: str = Field(default="UTC")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Subscriber(_Strict):
    id: str = Field(pattern=_NAME)
    channels: list[Target] = Field(min_length=1)
    filters: Filters = Field(default_factory=Filters)
    mode: Literal["immediate", "digest"] = "immediate"
    digest: Digest | None = None

    @model_validator(mode="after")
    def _check(self) -> Subscriber:
        if self.mode == "digest" and self.digest is None:
            raise ValueError("mode 'digest' needs 'digest: {at: HH:MM, timezone: Area/City}'")
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValueError("two channels of one subscriber share a name: give them distinct 'name's")
        return self


class SubscriberFile(_Strict):
    version: int = Field(ge=1)
    subscribers: list[Subscriber] = Field(min_length=1)
    groups: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> SubscriberFile:
        ids = [s.id for s in self.subscribers]
        if len(set(ids)) != len(ids):
            raise ValueError("a subscriber id is used twice")
        for group, members in self.groups.items():
            if not re.match(_NAME, group):
                raise ValueError(f"group name {group!r} must match {_NAME}")
            if group in ids:
                raise ValueError(f"group {group!r} has the same name as a subscriber")
            missing = [m for m in members if m not in ids]
            if missing:
                raise ValueError(f"group {group!r} names unknown subscriber(s): {', '.join(missing)}")
        return self

    def subscriber(self, subscriber_id: str) -> Subscriber | None:
        return next((s for s in self.subscribers if s.id == subscriber_id), None)

    def expand(self, routes: list[str]) -> list[Subscriber]:
        """The subscribers behind route names (each once, in order of first mention)."""
        seen: dict[str, Subscriber] = {}
        for route in routes:
            for member in self.groups.get(route, [route]):
                sub = self.subscriber(member)
                if sub is not None and sub.id not in seen:
                    seen[sub.id] = sub
        return list(seen.values())


def load_subscribers(path: str | Path) -> SubscriberFile:
    """Load and validate a subscribers file; raises ``ConfigError`` naming file, line and field."""
    return load_yaml_model(path, SubscriberFile)


def check_routes(
    subscribers: SubscriberFile, routes_by_rule: dict[str, list[str]], rules_file: str | Path
) -> None:
    """Raise ``ConfigError`` when a rule routes to a name that is neither subscriber nor group."""
    known = {s.id for s in subscribers.subscribers} | set(subscribers.groups)
    for index, (rule_id, routes) in enumerate(routes_by_rule.items()):
        for route in routes:
            if route not in known:
                raise ConfigError(
                    str(rules_file),
                    f"rule {rule_id!r} routes to {route!r}, which is no subscriber or group",
                    field=f"rules.{index}.routes",
                )


@dataclass(frozen=True)
class ResolvedTarget:
    """A channel of a subscriber with its secrets looked up."""

    subscriber: str
    target: ConsoleTarget | WebhookTarget | SlackTarget | EmailTarget
    url: SecretStr | None = None
    secret: SecretStr | None = None

    @property
    def key(self) -> str:
        return f"{self.subscriber}/{self.target.name}"


def resolve_secrets(
    subscribers: SubscriberFile, env: dict[str, str], path: str | Path
) -> tuple[list[ResolvedTarget], list[str]]:
    """Every usable channel with its secrets, and notes on optional channels left out.

    A required channel whose variable is unset raises ``ConfigError`` naming the variable (never
    a value).
    """
    resolved: list[ResolvedTarget] = []
    skipped: list[str] = []
    for s_index, sub in enumerate(subscribers.subscribers):
        for c_index, target in enumerate(sub.channels):
            field = f"subscribers.{s_index}.channels.{c_index}"
            if isinstance(target, ConsoleTarget | EmailTarget):
                resolved.append(ResolvedTarget(sub.id, target))
                continue
            var = target.url_env if isinstance(target, WebhookTarget) else target.webhook_env
            url = env.get(var, "")
            if not url:
                if target.required:
                    raise ConfigError(str(path), f"environment variable {var} is not set", field=field)
                skipped.append(f"{sub.id}/{target.name} (environment variable {var} is not set)")
                continue
            secret = None
            if isinstance(target, WebhookTarget) and target.secret_env:
                value = env.get(target.secret_env, "")
                if not value:
                    raise ConfigError(
                        str(path), f"environment variable {target.secret_env} is not set", field=field
                    )
                secret = SecretStr(value)
            resolved.append(ResolvedTarget(sub.id, target, SecretStr(url), secret))
    return resolved, skipped


def wants(subscriber: Subscriber, alert: AlertV1) -> bool:
    """Whether the alert passes the subscriber's filters."""
    f = subscriber.filters
    if f.min_severity is not None and severity_rank(alert.severity) < severity_rank(f.min_severity):
        return False
    if f.labels:
        labels = {lb for e in alert.events for lb in e.labels} | {alert.group.get("label", "")}
        if not {str(lb) for lb in f.labels} & {str(lb) for lb in labels}:
            return False
    if f.regions:
        region = alert.group.get("region")
        if region is not None and region not in {str(r) for r in f.regions}:
            return False
    if f.places:
        values = {alert.group.get("place"), alert.group.get("crossing")} - {None}
        if not set(f.places) & values:
            return False
    return True


def next_digest_at(after: datetime, digest: Digest) -> datetime:
    """The first digest time strictly after ``after`` (aware), in UTC-aware form.

    Local wall-clock time in the subscriber's zone; on a DST gap the time that does not exist
    is taken in the offset before the change (zoneinfo's fold=0 rule).
    """
    zone = ZoneInfo(digest.timezone)
    local = after.astimezone(zone)
    candidate = datetime.combine(local.date(), digest.at, tzinfo=zone)
    while candidate <= after:
        candidate = datetime.combine(candidate.date() + timedelta(days=1), digest.at, tzinfo=zone)
    return candidate.astimezone(after.tzinfo)


def previous_digest_at(now: datetime, digest: Digest) -> datetime:
    """The latest digest time at or before ``now``."""
    zone = ZoneInfo(digest.timezone)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), digest.at, tzinfo=zone)
    while candidate > now:
        candidate = datetime.combine(candidate.date() - timedelta(days=1), digest.at, tzinfo=zone)
    return candidate.astimezone(now.tzinfo)
