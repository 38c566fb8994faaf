"""Reading a JSONL replay file into raw items or rejected lines, one per line.

Pure apart from reading the given byte lines; it never raises on bad content.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from schemas.codec import describe_validation_error
from schemas.raw_items import RawItemV1
from services.ingest.submission import (
    DEFAULT_FUTURE_TOLERANCE,
    ItemSubmission,
    SubmissionRejected,
    normalise,
)


@dataclass(frozen=True)
class AcceptedLine:
    line_number: int
    item: RawItemV1


@dataclass(frozen=True)
class RejectedLine:
    line_number: int
    reason: str
    raw: bytes


def read_replay_lines(
    lines: Iterable[bytes],
    now: Callable[[], datetime],
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
) -> Iterator[AcceptedLine | RejectedLine]:
    """Yield one outcome per non-blank line, numbered from 1 as an editor shows them."""
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        yield parse_line(stripped, number, now(), future_tolerance)


def parse_line(
    raw: bytes,
    line_number: int,
    now: datetime,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
) -> AcceptedLine | RejectedLine:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RejectedLine(line_number, f"line {line_number}: not UTF-8 at byte {exc.start}", raw)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return RejectedLine(
            line_number, f"line {line_number}: not JSON: {exc.msg} at column {exc.colno}", raw
        )
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        return RejectedLine(
            line_number, f"line {line_number}: not usable JSON (too deep or a number too long)", raw
        )
    if not isinstance(data, dict):
        return RejectedLine(
            line_number, f"line {line_number}: expected a JSON object, got {type(data).__name__}", raw
        )
    try:
        submission = ItemSubmission.model_validate(data)
    except ValidationError as exc:
        return RejectedLine(line_number, f"line {line_number}: {describe_validation_error(exc)}", raw)
    try:
        item = normalise(submission, origin="replay", now=now, future_tolerance=future_tolerance)
    except SubmissionRejected as exc:
        return RejectedLine(line_number, f"line {line_number}: {exc}", raw)
    return AcceptedLine(line_number, item)
