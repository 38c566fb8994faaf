"""Publication times in the formats feeds and partners really use, turned into UTC.

Pure. Accepts ISO 8601 (with ``Z``, an offset, or none), RFC 822 / RFC 2822 as RSS uses it
(``Sun, 12 Oct 2025 07:00:00 GMT``, ``+0500``, obsolete zone names), and a ``time.struct_time``
as feedparser returns it (always UTC). A time without a zone is taken as UTC.
"""

from __future__ import annotations

import calendar
import email.utils
import time
from datetime import UTC, datetime, timedelta


class DateError(ValueError):
    """A time that could not be read, or that lies too far in the future."""


def parse_published(value: str | datetime | time.struct_time) -> datetime:
    """The UTC time ``value`` stands for; raises :class:`DateError` when it cannot be read."""
    if isinstance(value, time.struct_time):
        try:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise DateError("date out of range") from None
    if isinstance(value, datetime):
        return _as_utc(value)
    text = value.strip()
    if not text:
        raise DateError("empty date")
    try:
        return _as_utc(datetime.fromisoformat(text.replace("z", "Z")))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        raise DateError(f"unrecognised date format: {text[:60]!r}")
    return _as_utc(parsed)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # past datetime.min/max once moved to UTC
        raise DateError("date out of range") from None


def check_not_future(published: datetime, now: datetime, tolerance: timedelta) -> None:
    """Raise :class:`DateError` when ``published`` is later than ``now`` plus ``tolerance``.

    The tolerance absorbs clock skew and feeds that label local time as UTC.
    """
    if published > now + tolerance:
        raise DateError(f"published time {published.isoformat()} is in the future (now {now.isoformat()})")
