"""Normalising many entries at once: the unit of work that normalisation workers run. Pure.

Results leave as :class:`EncodedItem` (id, the item's JSON, its publication time) rather than as
models: that is what the publisher sends, and it crosses a process boundary for a fraction of the
cost of pickling a model. Every function here is a top-level function of plain arguments, so a
process pool can run it; run in-process it gives the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from pydantic import ValidationError

from schemas.codec import encode
from schemas.raw_items import RawItemV1
from services.ingest.replay_reader import AcceptedLine, RejectedLine, parse_line
from services.ingest.submission import ItemSubmission, Origin, SubmissionRejected, normalise


class EncodedItem(NamedTuple):
    """A normalised item ready to send: its id (the Kafka key) and its ``RawItemV1`` JSON.

    ``published_to_ingested_s`` is ``ingested_at - published_at`` in seconds, at least 0 (clock
    skew), or None when the source gave no publication time (the stage latency skips it).
    """

    id: str
    value: bytes
    published_at: datetime
    published_to_ingested_s: float | None = None


def encoded(item: RawItemV1) -> EncodedItem:
    lag = None
    if not item.published_at_missing:
        lag = max(0.0, (item.ingested_at - item.published_at).total_seconds())
    return EncodedItem(item.id, encode(item), item.published_at, lag)


@dataclass(frozen=True)
class EntryError:
    """Why one entry of a batch was refused; ``index`` is None for a single (unbatched) item."""

    index: int | None
    field: str
    message: str


@dataclass(frozen=True)
class EncodedLine:
    line_number: int
    item: EncodedItem


def validation_errors(exc: ValidationError, index: int | None) -> list[EntryError]:
    """One error per failing field, without the input values (they may be huge or secret)."""
    return [
        EntryError(index, ".".join(str(p) for p in e["loc"]) or "<item>", e["msg"])
        for e in exc.errors(include_input=False, include_url=False)
    ]


def normalise_entries(
    entries: Sequence[object],
    *,
    first_index: int,
    single: bool,
    origin: Origin,
    now: datetime,
    future_tolerance: timedelta | None,
) -> tuple[list[EncodedItem], list[EntryError]]:
    """Validate and normalise decoded JSON entries; the i-th entry is reported as ``first_index + i``.

    Returns the items of the valid entries and the errors of the others (callers decide whether
    one error refuses the whole batch).
    """
    items: list[EncodedItem] = []
    errors: list[EntryError] = []
    for offset, entry in enumerate(entries):
        at = None if single else first_index + offset
        if not isinstance(entry, dict):
            errors.append(EntryError(at, "<item>", "expected a JSON object"))
            continue
        try:
            submission = ItemSubmission.model_validate(entry)
            item = normalise(submission, origin=origin, now=now, future_tolerance=future_tolerance)
        except ValidationError as exc:
            errors.extend(validation_errors(exc, at))
        except SubmissionRejected as exc:
            errors.append(EntryError(at, exc.field, exc.message))
        else:
            items.append(encoded(item))
    return items, errors


def parse_replay_chunk(
    lines: Sequence[tuple[int, bytes]], now: datetime, future_tolerance: timedelta | None
) -> list[EncodedLine | RejectedLine]:
    """Parse numbered, non-blank replay lines in order (see :func:`replay_reader.parse_line`)."""
    out: list[EncodedLine | RejectedLine] = []
    for number, raw in lines:
        outcome = parse_line(raw, number, now, future_tolerance)
        if isinstance(outcome, AcceptedLine):
            out.append(EncodedLine(number, encoded(outcome.item)))
        else:
            out.append(outcome)
    return out


def warm_up() -> None:
    """Import and exercise the normalisation path once (worker start-up, not per request)."""
    from datetime import UTC

    normalise_entries(
        [
            {
                "source": "warm-up",
                "title": "Warm-up item for the normalisation path",
                "url": "https://w.example/",
            }
        ],
        first_index=0,
        single=True,
        origin="push",
        now=datetime.now(UTC),
        future_tolerance=None,
    )
