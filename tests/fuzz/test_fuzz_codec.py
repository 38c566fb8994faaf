"""The codec over hostile bytes: every message either decodes or raises ``InvalidMessage``.

Nothing else may escape ``decode`` (a consumer would crash or skip an offset): not an
``OverflowError`` from a date past ``datetime.max`` in UTC, not a ``RecursionError`` from deeply
nested JSON, not a ``UnicodeError`` from a lone surrogate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import InvalidMessage, decode, encode
from schemas.topics import TOPICS, TopicKey
from tests.fuzz.cases import ran
from tests.fuzz.hostile import NUMBER_OVERFLOWS, hostile_json, leaf_paths, nested, replaced, to_bytes

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
TOPIC_KEYS = list(TOPICS)


def _examples() -> list[tuple[TopicKey, Any]]:
    out = []
    for key in TOPIC_KEYS:
        for path in sorted((EXAMPLES / str(key) / "v1").glob("*.json")):
            out.append((key, json.loads(path.read_text())))
    return out


EXAMPLE_DOCS = _examples()


def _decode_or_invalid(key: TopicKey, raw: bytes | None) -> None:
    """Decode; a success must round-trip, a failure must be InvalidMessage with a bounded reason."""
    try:
        model = decode(key, raw)
    except InvalidMessage as exc:
        assert exc.reason and len(exc.reason) <= 2000
        assert exc.reason_class in ("decode", "validation")
        return
    assert decode(key, encode(model)) == model


@given(key=st.sampled_from(TOPIC_KEYS), raw=st.binary(max_size=300))
@settings(max_examples=400, deadline=None)
def test_arbitrary_bytes_decode_or_raise_invalid_message(key: TopicKey, raw: bytes) -> None:
    ran("codec: arbitrary bytes")
    _decode_or_invalid(key, raw)


@given(data=st.data())
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_examples_with_one_hostile_field_decode_or_raise_invalid_message(data: st.DataObject) -> None:
    key, document = data.draw(st.sampled_from(EXAMPLE_DOCS))
    path = data.draw(st.sampled_from(leaf_paths(document)))
    value = data.draw(hostile_json)
    ran("codec: examples with a hostile field")
    _decode_or_invalid(key, to_bytes(replaced(document, path, value)))


@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_invalid_utf8_inside_a_valid_message_is_a_decode_error(data: st.DataObject) -> None:
    key, document = data.draw(st.sampled_from(EXAMPLE_DOCS))
    raw = to_bytes(document)
    at = data.draw(st.integers(0, len(raw)))
    bad = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
    ran("codec: invalid UTF-8")
    with pytest.raises(InvalidMessage) as caught:
        decode(key, raw[:at] + bad + raw[at:])
    assert caught.value.reason_class == "decode"


@pytest.mark.parametrize("key", TOPIC_KEYS)
@pytest.mark.parametrize(
    "raw",
    [
        nested(100_000),
        nested(20_000, "object"),
        b"[" * 1_000_000,
        *(b'{"schema_version": ' + n + b"}" for n in NUMBER_OVERFLOWS),
        b"\x00" * 1000,
        b"",
        b"null",
        b'"' + b"x" * 2_000_000 + b'"',
    ],
    ids=lambda r: repr(r[:12]) if isinstance(r, bytes) else str(r),
)
def test_pathological_documents_are_invalid_messages(key: TopicKey, raw: bytes) -> None:
    ran("codec: pathological documents")
    with pytest.raises(InvalidMessage):
        decode(key, raw)


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-05:00",  # past datetime.max once in UTC
        "0001-01-01T00:00:00+05:00",  # before datetime.min once in UTC
        "99999-01-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        1e300,
        10**30,
        -(10**20),
    ],
)
def test_out_of_range_dates_are_validation_errors(when: object) -> None:
    ran("codec: out-of-range dates")
    document = next(doc for k, doc in EXAMPLE_DOCS if k == TopicKey.RAW_ITEMS)
    with pytest.raises(InvalidMessage) as caught:
        decode(TopicKey.RAW_ITEMS, to_bytes({**document, "published_at": when}))
    assert caught.value.reason_class == "validation"
    assert "published_at" in caught.value.reason


def test_a_huge_field_is_refused_without_echoing_it() -> None:
    ran("codec: huge field")
    document = next(doc for k, doc in EXAMPLE_DOCS if k == TopicKey.RAW_ITEMS)
    with pytest.raises(InvalidMessage) as caught:
        decode(TopicKey.RAW_ITEMS, to_bytes({**document, "body": "secret-ish " * 100_000}))
    assert "secret-ish" not in caught.value.reason and len(caught.value.reason) < 500
