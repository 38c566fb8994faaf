"""Evidence offsets, event id determinism and purity of the clock."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.tagged_events import TaggedEventV1
from services.classifier.tagger import CLASSIFIER_VERSION, Tagger, make_event_id
from tests.unit.classifier.conftest import NOW, TagFn, make_item

TITLE = "Truce breached in Kurram as gunfire kills four"
BODY = (
    "Dr. Khan said the clinic in Sadda was full. Four people were killed and 9 wounded when gunmen "
    "opened fire on a market despite the ceasefire agreed on Monday. "
    "The Parachinar road was closed to all traffic."
)


def _check_offsets(event: TaggedEventV1, title: str, body: str) -> None:
    assert event.evidence
    for ev in event.evidence:
        text = title if ev.field == "title" else body
        assert text[ev.start : ev.end] == ev.sentence
        assert ev.sentence.strip() == ev.sentence


def test_evidence_offsets_point_into_fields(tag: TagFn) -> None:
    event = tag(TITLE, BODY)
    _check_offsets(event, TITLE, BODY)
    supports = {ev.supports for ev in event.evidence}
    assert {"ceasefire_violation", "closure", "casualties", "killed", "injured"} <= supports
    injured = next(ev for ev in event.evidence if ev.supports == "injured")
    assert injured.field == "body"
    assert injured.sentence.startswith("Four people were killed")


def test_abbreviation_does_not_split_sentence(tag: TagFn) -> None:
    event = tag("Clinic busy in Sadda", BODY)
    sentences = {ev.sentence for ev in event.evidence}
    assert not any(s == "Dr." for s in sentences)


def test_event_id_is_deterministic(tagger: Tagger) -> None:
    item = make_item(TITLE, BODY, item_id="abc-123")
    first = tagger.tag(item, NOW)
    later = tagger.tag(item, datetime(2026, 1, 1, tzinfo=UTC))
    assert first.event_id == later.event_id
    assert first.event_id == make_event_id("abc-123", CLASSIFIER_VERSION, tagger.taxonomy.version)
    assert later.tagged_at == datetime(2026, 1, 1, tzinfo=UTC)
    other = tagger.tag(make_item(TITLE, BODY, item_id="abc-124"), NOW)
    assert other.event_id != first.event_id


def test_event_id_depends_on_versions() -> None:
    base = make_event_id("x", "0.1.0", "2025.1")
    assert base != make_event_id("x", "0.1.1", "2025.1")
    assert base != make_event_id("x", "0.1.0", "2025.2")
    assert len(base) == 20 and int(base, 16) >= 0


def test_versions_on_event(tag: TagFn, tagger: Tagger) -> None:
    event = tag("Quiet day at the border")
    assert event.classifier_version == CLASSIFIER_VERSION == "0.1.0"
    assert event.taxonomy_version == tagger.taxonomy.version


def test_headline_only_and_unicode(tag: TagFn) -> None:
    title = "Torkham — closed again; “no date” for reopening"
    event = tag(title)
    _check_offsets(event, title, "")
    assert [c.name for c in event.crossings] == ["Torkham"]
