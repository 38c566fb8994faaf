from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.ingest.replay_reader import AcceptedLine, RejectedLine, parse_line, read_replay_lines
from services.ingest.submission import ItemSubmission, canonical_url, clean_text, item_id, normalise

NOW = datetime(2025, 10, 12, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://News.Example.ORG/a/b?utm_source=x&id=3#top", "https://news.example.org/a/b?id=3"),
        ("http://example.org:80/x?fbclid=1", "http://example.org/x"),
        ("https://example.org:8443/x", "https://example.org:8443/x"),
        ("https://example.org", "https://example.org/"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_item_id_is_stable_under_tracking_parameters_and_case() -> None:
    a = item_id(url="https://ex.org/story?utm_medium=rss", guid=None, source="s", title="t")
    b = item_id(url="HTTPS://EX.org/story#comments", guid=None, source="other", title="different")
    assert a == b
    assert a != item_id(url="https://ex.org/another", guid=None, source="s", title="t")


def test_item_id_falls_back_to_guid_then_text() -> None:
    assert item_id(url=None, guid="g-1", source="s", title="t") == item_id(
        url=None, guid="g-1", source="x", title="y"
    )
    assert item_id(url=None, guid=None, source="s", title="A  title") == item_id(
        url=None, guid=None, source="S", title="a title"
    )


def test_clean_text_is_idempotent_nfc_and_collapses_whitespace() -> None:
    text = "Cafe\u0301 \n\t  closed"
    assert clean_text(text) == "Caf\u00e9 closed"
    assert clean_text(clean_text(text)) == clean_text(text)


def test_normalise_flags_missing_time_and_assumes_utc_for_naive() -> None:
    missing = normalise(ItemSubmission(source="s", title="t"), origin="replay", now=NOW)
    assert missing.published_at == NOW and missing.published_at_missing
    naive = normalise(
        ItemSubmission(source="s", title="t", published_at=datetime(2025, 10, 1, 9)), origin="replay", now=NOW
    )
    assert naive.published_at == datetime(2025, 10, 1, 9, tzinfo=UTC) and not naive.published_at_missing


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"source": "s", "title": ', "not JSON"),
        (b"[1, 2, 3]", "expected a JSON object, got list"),
        (b'{"source": "s"}', "title: Field required"),
        (b'{"source": "s", "title": "   "}', "title must not be empty"),
        (b'{"source": "s", "title": "t", "url": "javascript:alert(1)"}', "http(s) URL"),
        (b'{"source": "s", "title": "t", "colour": "red"}', "colour: Extra inputs are not permitted"),
        (b'{"source": "s", "title": "t", "published_at": "yesterday"}', "published_at"),
    ],
)
def test_bad_lines_are_rejected_with_line_number_and_reason(raw: bytes, fragment: str) -> None:
    outcome = parse_line(raw, 7, NOW)
    assert isinstance(outcome, RejectedLine)
    assert outcome.reason.startswith("line 7: ")
    assert fragment in outcome.reason
    assert outcome.raw == raw


def test_read_replay_lines_numbers_lines_like_an_editor_and_skips_blank_ones() -> None:
    good = json.dumps({"source": "s", "title": "Torkham closed", "url": "https://e.org/1"}).encode()
    outcomes = list(read_replay_lines([good + b"\n", b"\n", b"oops\n", good], lambda: NOW))
    assert [type(o) for o in outcomes] == [AcceptedLine, RejectedLine, AcceptedLine]
    assert [o.line_number for o in outcomes] == [1, 3, 4]
    first = outcomes[0]
    assert isinstance(first, AcceptedLine) and first.item.origin == "replay" and first.item.ingested_at == NOW


def test_ingest_settings_refuse_a_delivery_timeout_shorter_than_a_request() -> None:
    from pydantic import ValidationError

    from services.ingest.app import IngestSettings

    with pytest.raises(ValidationError, match="DELIVERY_TIMEOUT"):
        IngestSettings(producer_request_timeout_ms=20_000, producer_delivery_timeout_ms=10_000)
