"""Turning a submitted item into a :class:`RawItemV1`: validation, normalisation, stable ids.

Pure: no I/O; the clock is passed in. The same rules apply to replayed lines, pushed items and
feed entries, so an item gets the same id whichever way it arrives.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.raw_items import RawItemV1
from services.ingest.dates import DateError, check_not_future, parse_published
from services.ingest.text import clean_text, detect_language, html_to_text

Origin = Literal["replay", "feed", "push"]

_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|ocid|cmpid|igshid|_ga|yclid|ref_src)$",
    re.IGNORECASE,
)
MAX_TITLE = 1000
MAX_BODY = 100_000
DEFAULT_FUTURE_TOLERANCE = timedelta(hours=1)

__all__ = [
    "DEFAULT_FUTURE_TOLERANCE",
    "ItemSubmission",
    "SubmissionRejected",
    "canonical_url",
    "clean_text",
    "item_id",
    "normalise",
]


class SubmissionRejected(ValueError):
    """An item that passed the shape checks but cannot be accepted (e.g. a future date)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ItemSubmission(BaseModel):
    """What a replay line, a push request or a feed entry carries. Unknown fields are rejected.

    ``published_at`` accepts ISO 8601 and RFC 822 strings; a time without a zone is UTC.
    """

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200)
    title: str = Field(max_length=MAX_TITLE * 4)
    body: str = Field(default="", max_length=MAX_BODY * 4)
    url: str | None = Field(default=None, max_length=2048)
    guid: str | None = Field(default=None, max_length=2048)
    published_at: datetime | None = None
    language: str | None = Field(default=None, max_length=16)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            canonical = canonical_url(value)  # cached: normalisation uses it again
        except ValueError:
            if urlsplit(value.strip()).scheme.lower() not in ("http", "https"):
                raise ValueError("url must be an http(s) URL") from None
            raise  # a bad host or port
        if not canonical.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        return value

    @field_validator("title")
    @classmethod
    def _title_present(cls, value: str) -> str:
        if not html_to_text(value):
            raise ValueError("title must not be empty")
        return value

    @field_validator("source")
    @classmethod
    def _source_present(cls, value: str) -> str:
        if not clean_text(value):
            raise ValueError("source must not be empty")
        return value

    @field_validator("published_at", mode="before")
    @classmethod
    def _readable_time(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return parse_published(value)
            except DateError as exc:
                raise ValueError(str(exc)) from None
        return value


@lru_cache(maxsize=1024)  # an item's URL is canonicalised by validation, id and normalisation alike
def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no fragment, user info or default port, no tracking parameters.

    Raises ``ValueError`` for a URL without a host or with a malformed port.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("url has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("url has an invalid port") from None
    if ":" in host:
        host = f"[{host}]"
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def item_id(*, url: str | None, guid: str | None, source: str, title: str) -> str:
    """A stable id: from the canonical URL, else the guid, else source and title."""
    if url:
        basis = "url:" + canonical_url(url)
    elif guid and guid.strip():
        basis = "guid:" + guid.strip()
    else:
        basis = "text:" + clean_text(source).lower() + "\n" + html_to_text(title).lower()
    return hashlib.blake2b(basis.encode("utf-8"), digest_size=12).hexdigest()


def normalise(
    submission: ItemSubmission,
    *,
    origin: Origin,
    now: datetime,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
) -> RawItemV1:
    """Build the raw item; a missing publication time becomes ``now`` with a flag.

    Raises :class:`SubmissionRejected` for a publication time later than ``now`` plus
    ``future_tolerance`` (``None`` accepts any time).
    """
    published = submission.published_at
    missing = published is None
    published = now if published is None else parse_published(published)
    if future_tolerance is not None:
        try:
            check_not_future(published, now, future_tolerance)
        except DateError as exc:
            raise SubmissionRejected("published_at", str(exc)) from None
    url = canonical_url(submission.url) if submission.url else None
    title = html_to_text(submission.title)[:MAX_TITLE]
    body = html_to_text(submission.body)[:MAX_BODY]
    language = submission.language.strip().lower() if submission.language else None
    return RawItemV1(
        id=item_id(url=submission.url, guid=submission.guid, source=submission.source, title=title),
        source=clean_text(submission.source),
        url=url,
        title=title,
        body=body,
        published_at=published,
        published_at_missing=missing,
        ingested_at=now,
        language=language or detect_language(title, body),
        origin=origin,
    )
