"""Feed documents (RSS 0.9x/1.0/2.0, Atom, JSON Feed) as bytes in, item submissions out.

Pure: the service fetched the bytes itself (feedparser never touches the network here).
XML is checked with defusedxml before feedparser sees it, so entity expansion (billion laughs)
and external entities are refused rather than expanded. A document that cannot be read at all
raises :class:`FeedError`; an entry that cannot be used becomes a :class:`RejectedEntry` while the
other entries go on.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as defused_fromstring
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.codec import describe_validation_error
from services.ingest.dates import DateError, parse_published
from services.ingest.submission import ItemSubmission

FeedErrorReason = Literal["malformed", "unsafe", "not_a_feed", "encoding"]
FEED_ERROR_REASONS: tuple[FeedErrorReason, ...] = ("malformed", "unsafe", "not_a_feed", "encoding")
# feedparser flags these although the document itself is fine.
_BENIGN = frozenset({"NonXMLContentType", "CharacterEncodingOverride"})


class FeedError(ValueError):
    """A feed document that yields nothing; ``reason`` is a bounded class for metrics."""

    def __init__(self, reason: FeedErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class RejectedEntry:
    index: int
    reason: str


@dataclass
class ParsedFeed:
    submissions: list[ItemSubmission] = field(default_factory=list)
    rejected: list[RejectedEntry] = field(default_factory=list)
    warning: str | None = None

    @property
    def entries_seen(self) -> int:
        return len(self.submissions) + len(self.rejected)


def parse_feed(data: bytes, *, source: str, url: str, content_type: str = "") -> ParsedFeed:
    """Entries of the feed document ``data`` fetched from ``url``; raises :class:`FeedError`."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{") or "json" in content_type.lower():
        return _parse_json_feed(data, source=source)
    return _parse_xml_feed(data, source=source, url=url, content_type=content_type)


def _check_xml_is_safe(data: bytes) -> None:
    try:
        defused_fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FeedError("unsafe", f"unsafe XML refused: {type(exc).__name__}") from None
    except LookupError:
        # An encoding Python does not know: the safety check cannot read it, so nothing may.
        raise FeedError("encoding", "feed declares an unknown encoding") from None
    except (ParseError, ValueError):
        # Not well-formed (e.g. an HTML entity like &nbsp; that XML does not define):
        # feedparser's lenient parser may still read it, and it expands no custom entities.
        pass


def _parse_xml_feed(data: bytes, *, source: str, url: str, content_type: str) -> ParsedFeed:
    _check_xml_is_safe(data)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers, sanitize_html=False)
    except Exception as exc:
        # feedparser's lenient parser trips over some hostile bytes (an out-of-range character
        # reference, a NUL in an encoding name): that document is unreadable, not a crash.
        raise FeedError("malformed", f"feed cannot be parsed: {type(exc).__name__}") from None
    entries = parsed.get("entries") or []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if problem is not None and type(problem).__name__ in _BENIGN:
        problem = None
    if not entries and problem is None and not parsed.get("version"):
        raise FeedError("not_a_feed", "not an RSS, Atom or JSON feed")
    result = ParsedFeed(warning=f"feed is not well-formed: {_describe(problem)}" if problem else None)
    for index, entry in enumerate(entries):
        _add(result, index, _entry_fields(entry, source))
    if problem is not None and not result.submissions:
        # A broken document with nothing usable in it is an error, not an empty feed.
        kind: FeedErrorReason = "encoding" if "encoding" in type(problem).__name__.lower() else "malformed"
        raise FeedError(kind, f"malformed feed: {_describe(problem)}")
    return result


def _describe(exc: object) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _entry_fields(entry: Any, source: str) -> dict[str, Any] | str:
    title = entry.get("title") or ""
    link = entry.get("link") or None
    guid = entry.get("id") or None
    if not title.strip():
        return "entry has no title"
    if not link and not guid:
        return "entry has neither a link nor a guid"
    body = ""
    contents = entry.get("content") or []
    if contents:
        body = contents[0].get("value") or ""
    body = body or entry.get("summary") or ""
    published: Any = entry.get("published_parsed") or entry.get("updated_parsed")
    if published is None:
        raw = entry.get("published") or entry.get("updated")
        if raw:
            try:
                published = parse_published(raw)
            except DateError as exc:
                return f"entry date: {exc}"
    elif isinstance(published, time.struct_time):
        published = parse_published(published)
    if link and not str(link).lower().startswith(("http://", "https://")):
        link = None  # e.g. a tag: URI used as a link; the guid identifies the item then
    return {
        "source": source,
        "title": title,
        "body": body,
        "url": link,
        "guid": guid,
        "published_at": published,
    }


def _add(result: ParsedFeed, index: int, fields: dict[str, Any] | str) -> None:
    if isinstance(fields, str):
        result.rejected.append(RejectedEntry(index, fields))
        return
    try:
        result.submissions.append(ItemSubmission.model_validate(fields))
    except ValidationError as exc:
        result.rejected.append(RejectedEntry(index, describe_validation_error(exc)))


class _JsonFeedItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | int | None = None
    url: str | None = None
    external_url: str | None = None
    title: str | None = None
    content_text: str | None = None
    content_html: str | None = None
    summary: str | None = None
    date_published: str | None = None
    date_modified: str | None = None


class _JsonFeed(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str
    items: list[Any]  # each item is checked alone, so one bad item does not drop the others


def _parse_json_feed(data: bytes, *, source: str) -> ParsedFeed:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FeedError("encoding", f"JSON feed is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FeedError("malformed", f"JSON feed is not JSON: {exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        raise FeedError("malformed", "JSON feed is not usable JSON (too deep or a number too long)") from None
    try:
        feed = _JsonFeed.model_validate(document)
    except ValidationError as exc:
        raise FeedError("not_a_feed", f"not a JSON Feed: {describe_validation_error(exc)}") from None
    if not feed.version.startswith("https://jsonfeed.org/version/"):
        raise FeedError("not_a_feed", "not a JSON Feed: unknown version")
    result = ParsedFeed()
    for index, raw in enumerate(feed.items):
        try:
            item = _JsonFeedItem.model_validate(raw)
        except ValidationError as exc:
            result.rejected.append(RejectedEntry(index, describe_validation_error(exc)))
            continue
        link = item.url or item.external_url
        guid = None if item.id is None else str(item.id)
        if not (item.title or "").strip():
            result.rejected.append(RejectedEntry(index, "entry has no title"))
            continue
        if not link and not guid:
            result.rejected.append(RejectedEntry(index, "entry has neither a link nor a guid"))
            continue
        fields = {
            "source": source,
            "title": item.title,
            "body": item.content_html or item.content_text or item.summary or "",
            "url": link,
            "guid": guid,
            "published_at": item.date_published or item.date_modified,
        }
        _add(result, index, fields)
    return result
