"""Running rules over tagged events without Kafka, Redis or delivery (``rules test``, tests).

Events are replayed in event-time order and the engine's clock is the replay's event time: the
engine ticks at every event's publication time before the event is observed, so time-driven
rules (hold-downs, ceasefire quiet time, flatline windows) fire as they would have live.
Incident rules (``corroborated``, ``revision``) need incident updates and do not fire here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.alerts import AlertV1
from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1
from services.ingest.replay_reader import RejectedLine, parse_line
from services.notifier.evaluate import RuleEngine
from services.notifier.rules import RuleSet
from services.notifier.state_store import InMemoryRuleState


async def dry_run(rules: RuleSet, events: Iterable[TaggedEventV1]) -> list[AlertV1]:
    """The alerts that would fire, in the order they would fire."""
    engine = RuleEngine(rules, InMemoryRuleState())
    fired: list[AlertV1] = []
    for event in sorted(events, key=lambda e: (e.published_at, e.item_id)):
        fired += await engine.tick(event.published_at)
        fired += await engine.observe(event, event.published_at)
    return fired


class EventsFileError(ValueError):
    """A line of the events file is neither a tagged event nor a raw item."""


def read_events(
    path: Path, tag: Callable[[RawItemV1], TaggedEventV1] | None, now: datetime
) -> Iterator[TaggedEventV1]:
    """Tagged events from a JSON-lines file; raw items (the replay format) are normalised as
    ingest does and tagged with ``tag`` on the fly. Raises :class:`EventsFileError` naming the
    file and line of the first unusable line."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                data: Any = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise EventsFileError(f"{path}:{number}: not JSON ({exc})") from None
            if isinstance(data, dict) and "event_id" in data:
                try:
                    yield TaggedEventV1.model_validate(data)
                except ValidationError as exc:
                    raise EventsFileError(f"{path}:{number}: not a tagged event: {_first(exc)}") from None
                continue
            outcome = parse_line(raw.strip(), number, now, future_tolerance=None)
            if isinstance(outcome, RejectedLine):
                raise EventsFileError(
                    f"{path}:{number}: neither a tagged event nor a raw item: {outcome.reason}"
                )
            if tag is None:
                raise EventsFileError(f"{path}:{number}: a raw item, and no tagger is available")
            yield tag(outcome.item)


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "line"
    return f"{where}: {error['msg']}"


def alert_line(alert: AlertV1) -> dict[str, Any]:
    """The ``rules test --json`` form of an alert."""
    return {
        "rule": alert.rule_id,
        "group": alert.group,
        "status": alert.status,
        "at": alert.fired_at.isoformat().replace("+00:00", "Z"),
        "severity": str(alert.severity),
        "events": [e.event_id for e in alert.events],
    }


def alert_text(alert: AlertV1) -> str:
    at = alert.fired_at.isoformat().replace("+00:00", "Z")
    return f"{at} [{alert.status:<8}] [{alert.severity.upper():<8}] {alert.rule_id}: {alert.summary}"
