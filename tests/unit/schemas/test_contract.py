"""The topic contract: examples validate, the export is current, the codec is strict."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from schemas import TOPICS, InvalidMessage, RawItemV1, TopicKey, decode, encode
from schemas.export import JSONSCHEMA_DIR, rendered_schemas

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"


def _examples() -> list[tuple[TopicKey, Path]]:
    found = []
    for key, spec in TOPICS.items():
        folder = EXAMPLES / spec.base_name.replace(".v1", "") / "v1"
        found += [(key, path) for path in sorted(folder.glob("*.json"))]
    return found


def test_every_topic_has_examples() -> None:
    covered = {key for key, _ in _examples()}
    assert covered == set(TOPICS)


@pytest.mark.parametrize(("key", "path"), _examples(), ids=lambda v: getattr(v, "name", str(v)))
def test_example_decodes_and_matches_exported_schema(key: TopicKey, path: Path) -> None:
    model = decode(key, path.read_bytes())
    assert decode(key, encode(model)) == model
    schema = json.loads((JSONSCHEMA_DIR / f"{TOPICS[key].model.__name__}.json").read_text())
    jsonschema.validate(json.loads(encode(model)), schema)


def test_exported_json_schema_is_current() -> None:
    for name, text in rendered_schemas().items():
        path = JSONSCHEMA_DIR / name
        assert path.exists(), f"{path} is missing: run python -m schemas.export"
        assert path.read_text() == text, f"{path} is stale: run python -m schemas.export"


def test_every_topic_names_an_existing_dlq() -> None:
    for spec in TOPICS.values():
        if spec.dlq is not None:
            assert spec.dlq in TOPICS
            assert TOPICS[spec.dlq].name().startswith(spec.name())


@pytest.mark.parametrize(
    ("raw", "reason_class", "fragment"),
    [
        (None, "decode", "empty message"),
        (b"\xff\xfe", "decode", "not UTF-8"),
        (b"{not json", "decode", "not JSON"),
        (b"[1, 2]", "validation", "validation error"),
        (b'{"id": "x"}', "validation", "source: Field required"),
    ],
)
def test_codec_turns_every_problem_into_invalid_message(
    raw: bytes | None, reason_class: str, fragment: str
) -> None:
    with pytest.raises(InvalidMessage) as info:
        decode(TopicKey.RAW_ITEMS, raw)
    assert info.value.reason_class == reason_class
    assert fragment in info.value.reason


def test_validation_reason_does_not_echo_values() -> None:
    secret = "hunter2-very-secret-token"
    with pytest.raises(InvalidMessage) as info:
        decode(
            TopicKey.RAW_ITEMS, json.dumps({"id": "x", "source": "s", "title": secret, "origin": 5}).encode()
        )
    assert secret not in info.value.reason


def test_naive_timestamps_are_rejected_and_offsets_normalised_to_utc() -> None:
    base = {"id": "a", "source": "s", "title": "t", "ingested_at": "2025-10-12T06:30:00Z", "origin": "replay"}
    with pytest.raises(InvalidMessage, match="timezone"):
        decode(TopicKey.RAW_ITEMS, json.dumps({**base, "published_at": "2025-10-12T06:30:00"}).encode())
    item = decode(
        TopicKey.RAW_ITEMS, json.dumps({**base, "published_at": "2025-10-12T11:30:00+05:00"}).encode()
    )
    assert isinstance(item, RawItemV1)
    assert item.published_at == datetime(2025, 10, 12, 6, 30, tzinfo=UTC)
    assert item.published_at.tzinfo == UTC
