"""Ingest over hostile input: the normaliser, the replay line parser and the feed parser.

Each bad input ends as a clear refusal (``EntryError``, ``RejectedLine`` with its line number,
``FeedError`` with a bounded reason, or a ``RejectedEntry``), never as another exception, and
never by expanding an entity or reading a local file.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import decode_as
from schemas.raw_items import RawItemV1
from services.ingest.batches import normalise_entries
from services.ingest.feed_parse import FEED_ERROR_REASONS, FeedError, ParsedFeed, parse_feed
from services.ingest.replay_reader import AcceptedLine, RejectedLine, parse_line
from tests.fuzz.cases import ran
from tests.fuzz.hostile import hostile_json, hostile_strings, nested, to_bytes
from tests.integration.ingest_helpers import BOMB, GOOD_RSS

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
TOLERANCE = timedelta(hours=1)
FIELDS = ["source", "title", "body", "url", "guid", "published_at", "language"]
VALID = {
    "source": "fuzz",
    "title": "Torkham crossing closed after clashes",
    "body": "Trucks stranded on both sides.",
    "url": "https://news.example/a",
    "published_at": "2025-11-20T10:00:00Z",
}


@contextmanager
def no_hang(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: a hostile input must not stall the parser (a generous bound)."""

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- normaliser (push API and feeds share it) ------------------------------------------------


@given(
    entry=st.one_of(
        hostile_json,
        st.dictionaries(st.sampled_from(FIELDS), st.one_of(hostile_strings, hostile_json), max_size=7),
        st.builds(
            lambda field, value: {**VALID, field: value},
            st.sampled_from(FIELDS),
            st.one_of(hostile_strings, hostile_json),
        ),
    )
)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_normalise_entries_refuses_bad_entries_with_field_errors(entry: Any) -> None:
    ran("ingest: normaliser entries")
    items, errors = normalise_entries(
        [entry], first_index=0, single=False, origin="push", now=NOW, future_tolerance=TOLERANCE
    )
    assert len(items) + (1 if errors else 0) == 1
    assert all(e.index == 0 and e.field and e.message for e in errors)
    assert all(len(e.message) < 1000 for e in errors)
    for item in items:  # what is accepted is a valid contract message
        model = decode_as(RawItemV1, item.value)
        assert model.id == item.id and model.published_at <= NOW + TOLERANCE
        assert "\x00" not in model.title


# -- replay lines ----------------------------------------------------------------------------


@given(
    raw=st.one_of(
        st.binary(max_size=300),
        hostile_json.map(to_bytes),
        st.builds(
            lambda field, value: to_bytes({**VALID, field: value}),
            st.sampled_from(FIELDS),
            st.one_of(hostile_strings, hostile_json),
        ),
    )
)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_replay_lines_are_accepted_or_rejected_with_their_line_number(raw: bytes) -> None:
    ran("ingest: replay lines")
    outcome = parse_line(raw, 7, NOW, TOLERANCE)
    assert isinstance(outcome, AcceptedLine | RejectedLine)
    assert outcome.line_number == 7
    if isinstance(outcome, RejectedLine):
        assert outcome.reason.startswith("line 7: ") and outcome.raw == raw


@pytest.mark.parametrize(
    "raw",
    [
        nested(100_000),
        nested(20_000, "object"),
        b'{"source": "x", "title": 1e400}',
        b'{"source": "x", "title": "t", "published_at": ' + b"9" * 5000 + b"}",
        b'{"source": "x", "title": "t", "url": "https://a.example/", '
        b'"published_at": "9999-12-31T23:59:59-05:00"}',
        b'{"source": "x", "title": "t", "url": "https://a.example/", '
        b'"published_at": "0001-01-01T00:00:00+05:00"}',
        b'{"source": "x", "title": "t", "url": "https://a.example/", '
        b'"published_at": "Mon, 01 Jan 99999999999 00:00:00 +0500"}',
        b'{"source": "x", "title": "t", "url": "https://a.example/", '
        b'"published_at": "Fri, 31 Dec 9999 23:59:59 -0500"}',
        b'{"source": "x", "title": "\xff\xfe"}',
        b'{"source": "x", "title": "' + b"x" * 2_000_000 + b'"}',
    ],
    ids=lambda r: repr(r[:40]),
)
def test_pathological_replay_lines_are_rejected(raw: bytes) -> None:
    ran("ingest: pathological replay lines")
    outcome = parse_line(raw, 3, NOW, TOLERANCE)
    assert isinstance(outcome, RejectedLine), outcome
    assert outcome.reason.startswith("line 3: ")


# -- feeds -----------------------------------------------------------------------------------

XML_FRAGMENTS = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<?xml version="1.0" encoding="x-bogus"?>',
    '<rss version="2.0">',
    "</rss>",
    "<channel>",
    "</channel>",
    "<item>",
    "</item>",
    "<title>",
    "</title>",
    "<link>",
    "</link>",
    "<guid>",
    "</guid>",
    "<pubDate>",
    "</pubDate>",
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    "<entry>",
    "</entry>",
    "https://x.example/a",
    "javascript:alert(1)",
    "Fri, 31 Dec 9999 23:59:59 -0500",
    "Torkham closed",
    "&amp;",
    "&bogus;",
    "&#0;",
    "&#x110000;",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE rss>",
    '<!ENTITY e "x">',
    "\x00",
    "\ud800",
    "<script>alert(1)</script>",
]


@given(
    document=st.one_of(
        st.binary(max_size=400),
        st.lists(st.sampled_from(XML_FRAGMENTS), max_size=40).map(
            lambda parts: "".join(parts).encode("utf-8", "surrogatepass")
        ),
        st.lists(st.sampled_from(XML_FRAGMENTS), max_size=40).map(
            lambda parts: "".join(parts).encode("utf-16", "surrogatepass")
        ),
        hostile_json.map(
            lambda items: to_bytes({"version": "https://jsonfeed.org/version/1.1", "items": items})
        ),
        st.lists(hostile_json, max_size=3).map(
            lambda items: to_bytes({"version": "https://jsonfeed.org/version/1.1", "items": items})
        ),
    ),
    content_type=st.sampled_from(
        ["", "application/rss+xml", "application/json", "text/html; charset=latin-1"]
    ),
)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_feed_documents_parse_or_raise_a_feed_error(document: bytes, content_type: str) -> None:
    ran("ingest: feed documents")
    try:
        parsed = parse_feed(
            document, source="fuzz", url="https://feeds.example/f.xml", content_type=content_type
        )
    except FeedError as exc:
        assert exc.reason in FEED_ERROR_REASONS and exc.message
        return
    assert isinstance(parsed, ParsedFeed)
    for submission in parsed.submissions:
        assert submission.title.strip()
        assert submission.url is None or submission.url.lower().startswith(("http://", "https://"))


def _external_entity(secret_file: Path) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret_file}">]>'
        '<rss version="2.0"><channel><item><title>a &xxe; b</title>'
        "<link>https://x.example/1</link></item></channel></rss>"
    ).encode()


def _billion_laughs(levels: int = 10) -> bytes:
    entities = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, levels)
    ]
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(entities)}]><rss version="2.0"><channel><item>'
        f"<title>&l{levels - 1};</title><link>https://x.example/1</link></item></channel></rss>"
    ).encode()


def _quadratic_blowup() -> bytes:
    big = "A" * 50_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{big}">]><rss version="2.0"><channel><item>'
        f"<title>{'&a;' * 5000}</title><link>https://x.example/1</link></item></channel></rss>"
    ).encode()


HOSTILE_FEEDS = {
    "small bomb": BOMB,
    "billion laughs": _billion_laughs(),
    "quadratic blowup": _quadratic_blowup(),
    "parameter entities": (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p "<!ENTITY e \'boom\'>"> %p;]>'
        b'<rss version="2.0"><channel><item><title>&e;</title><link>https://x.example/1</link></item>'
        b"</channel></rss>"
    ),
    "external DTD": (
        b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">'
        b'<rss version="2.0"><channel><item><title>t</title><link>https://x.example/1</link></item>'
        b"</channel></rss>"
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE_FEEDS))
def test_entity_expansion_is_refused(name: str) -> None:
    ran("ingest: hostile XML")
    with no_hang(30):
        try:
            parsed = parse_feed(HOSTILE_FEEDS[name], source="fuzz", url="https://feeds.example/f.xml")
        except FeedError as exc:
            assert exc.reason in ("unsafe", "malformed", "not_a_feed")
            return
    for submission in parsed.submissions:  # read at all, then with nothing expanded
        assert "lol" not in submission.title and "AAAA" not in submission.title
        assert "boom" not in submission.title


def test_external_entities_never_read_local_files(tmp_path: Path) -> None:
    ran("ingest: hostile XML")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    with no_hang(30):
        try:
            parsed = parse_feed(_external_entity(secret), source="fuzz", url="https://feeds.example/f.xml")
        except FeedError as exc:
            assert exc.reason == "unsafe"
            return
    assert all("TOP-SECRET" not in (s.title + s.body) for s in parsed.submissions)


@pytest.mark.parametrize(
    ("name", "document"),
    [
        (
            "deeply nested",
            b'<rss version="2.0"><channel>' + b"<x>" * 50_000 + b"</x>" * 50_000 + b"</channel></rss>",
        ),
        ("cut short", GOOD_RSS[: len(GOOD_RSS) // 2]),
        ("latin-1 declared utf-8", GOOD_RSS.replace(b"Frontier", b"Fr\xf6ntier\xff")),
        ("utf-16 without declaration", GOOD_RSS.decode().replace('encoding="utf-8"', "").encode("utf-16")),
        ("unknown encoding", GOOD_RSS.replace(b'encoding="utf-8"', b'encoding="x-klingon"')),
        ("NUL bytes", GOOD_RSS.replace(b"Torkham", b"Tork\x00ham")),
        ("HTML page", b"<!doctype html><html><body><h1>Not a feed</h1></body></html>"),
        ("empty", b""),
        ("JSON bomb", b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + nested(50_000) + b"}"),
        ("JSON not UTF-8", b'{"version": "\xff"}'),
    ],
)
def test_malformed_and_non_utf8_feeds_fail_alone(name: str, document: bytes) -> None:
    ran("ingest: malformed feeds")
    with no_hang(30):
        try:
            parsed = parse_feed(document, source="fuzz", url="https://feeds.example/f.xml")
        except FeedError as exc:
            assert exc.reason in FEED_ERROR_REASONS
            return
    assert isinstance(parsed, ParsedFeed)


def test_an_enormous_feed_is_read_entry_by_entry() -> None:
    ran("ingest: enormous feed")
    items = "".join(
        f"<item><title>Report {i} from the frontier</title><link>https://x.example/{i}</link>"
        f"<description>{'word ' * 100}</description></item>"
        for i in range(10_000)
    )
    document = f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()
    assert len(document) > 5_000_000
    with no_hang(120):
        parsed = parse_feed(document, source="fuzz", url="https://feeds.example/f.xml")
    assert len(parsed.submissions) == 10_000 and not parsed.rejected


def test_json_feed_items_with_hostile_values_are_rejected_alone() -> None:
    ran("ingest: malformed feeds")
    items: list[Any] = [
        {"id": 1, "title": "Good", "url": "https://x.example/1"},
        {"id": 2, "title": {"nested": True}},
        {
            "id": 3,
            "title": "Bad date",
            "url": "https://x.example/3",
            "date_published": "9999-12-31T23:59:59-05:00",
        },
        "not an object",
        {"id": 10**40, "title": "Huge id", "url": "https://x.example/4"},
    ]
    document = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()
    parsed = parse_feed(document, source="fuzz", url="https://feeds.example/f.json")
    assert [s.title for s in parsed.submissions] == ["Good", "Huge id"]
    assert {r.index for r in parsed.rejected} == {1, 2, 3}
