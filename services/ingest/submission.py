"""Turning a submitted item into a :class:`RawItemV1`: validation, normalisation, stable ids.

Pure: no I/O; the clock is passed in.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.raw_items import RawItemV1

Origin = Literal["replay", "feed", "push"]

_TRACKING_PARAMS = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid)$", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
MAX_TITLE = 1000
MAX_BODY = 100_000


class ItemSubmission(BaseModel):
    """What a replay line or a push request carries. Unknown fields are rejected."""

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
        if value is not None and urlsplit(value.strip()).scheme.lower() not in ("http", "https"):
            raise ValueError("url must be an http(s) URL")
        return value

    @field_validator("title")
    @classmethod
    def _title_present(cls, value: str) -> str:
        if not clean_text(value):
            raise ValueError("title must not be empty")
        return value


def clean_text(text: str) -> str:
    """Unicode NFC with runs of whitespace collapsed to one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no fragment, no tracking parameters, no default port."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not (
        (parts.scheme.lower() == "http" and port == 80) or (parts.scheme.lower() == "https" and port == 443)
    ):
        host = f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    )
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", query, ""))


def item_id(*, url: str | None, guid: str | None, source: str, title: str) -> str:
    """A stable id: from the canonical URL, else the guid, else source and title."""
    if url:
        basis = "url:" + canonical_url(url)
    elif guid:
        basis = "guid:" + guid.strip()
    else:
        basis = "text:" + source.strip().lower() + "\n" + clean_text(title).lower()
    return hashlib.blake2b(basis.encode("utf-8"), digest_size=12).hexdigest()


def normalise(submission: ItemSubmission, *, origin: Origin, now: datetime) -> RawItemV1:
    """Build the raw item; a missing publication time becomes ``now`` with a flag."""
    published = submission.published_at
    missing = published is None
    if published is None:
        published = now
    elif published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    url = canonical_url(submission.url) if submission.url else None
    title = clean_text(submission.title)[:MAX_TITLE]
    return RawItemV1(
        id=item_id(url=submission.url, guid=submission.guid, source=submission.source, title=title),
        source=clean_text(submission.source),
        url=url,
        title=title,
        body=clean_text(submission.body)[:MAX_BODY],
        published_at=published.astimezone(UTC),
        published_at_missing=missing,
        ingested_at=now,
        language=submission.language,
        origin=origin,
    )
