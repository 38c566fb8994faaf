"""The tagger assembles its events without validating them again: exactly the validated events.

Every item of the corpora (development set when present, held-out set, samples, generated
benchmark items and sentences of all of them recombined) is tagged twice, once with the events
assembled and once validated by pydantic; the two must be equal in every respect a consumer can
see: value, JSON, the fields counted as set, and types.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, field_validator

from bench.bench_tagger import make_items
from schemas.raw_items import RawItemV1
from schemas.tagged_events import Evidence, Place, TaggedEventV1
from services.classifier.tagger import Tagger, unvalidated_build_applies
from tests.unit.classifier.conftest import NOW, known_items, make_item


def _corpus() -> list[RawItemV1]:
    items = known_items()
    rng = random.Random(11)
    sentences = [s for item in items for s in re.split(r"(?<=[.!?])\s+", item.body) if s]
    titles = [item.title for item in items]
    for i in range(400):
        body = " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 7)))
        title = rng.choice(titles) if rng.random() < 0.8 else rng.choice(sentences)
        items.append(make_item(title, body, item_id=f"mixed-{i}"))
    return items + make_items(200)


def _validating(tagger: Tagger) -> Tagger:
    return Tagger(tagger.taxonomy, tagger.gazetteer, validate_events=True)


def _fields_set(model: BaseModel) -> list[object]:
    """The fields counted as set, of the model and of every model inside it."""
    out: list[object] = [type(model), sorted(model.model_fields_set)]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for part in value if isinstance(value, list) else [value]:
            if isinstance(part, BaseModel):
                out.extend(_fields_set(part))
    return out


def test_the_models_are_still_the_ones_assembled() -> None:
    """When a schema changes, this fails: update ``_SHAPES`` in tagger.py (and this test)."""
    assert unvalidated_build_applies()


def test_assembled_events_equal_validated_events(tagger: Tagger) -> None:
    validating = _validating(tagger)
    items = _corpus()
    assert len(items) > 700
    labelled = 0
    for n, item in enumerate(items):
        story = f"story-{n}" if n % 2 else None  # given by the story index, or not
        fast = tagger.tag(item, NOW, story)
        slow = validating.tag(item, NOW, story)
        assert fast.story_id == story
        assert fast == slow, item.id
        assert fast.model_dump_json() == slow.model_dump_json(), item.id
        assert fast.model_dump_json(exclude_unset=True) == slow.model_dump_json(exclude_unset=True)
        assert _fields_set(fast) == _fields_set(slow), item.id
        assert TaggedEventV1.model_validate_json(fast.model_dump_json()) == fast
        labelled += bool(fast.labels and fast.places and fast.crossings and fast.evidence)
    assert labelled > 20  # the corpora exercise every nested model


def test_shared_places_are_equal_and_immutable(tagger: Tagger) -> None:
    first = tagger.tag(make_item("Torkham crossing closed", "", item_id="a"), NOW)
    second = tagger.tag(make_item("Torkham crossing closed again", "", item_id="b"), NOW)
    assert first.places and first.places == second.places
    assert isinstance(first.places[0], Place) and isinstance(first.evidence[0], Evidence)
    with pytest.raises(ValueError, match="frozen"):
        first.places[0].name = "elsewhere"  # type: ignore[misc]


def test_times_outside_utc_are_validated_as_before(tagger: Tagger) -> None:
    """A clock in another zone gets the validated event: the time converted to UTC."""
    item = make_item("Torkham crossing closed", "")
    karachi = NOW.astimezone(timezone(timedelta(hours=5)))
    event = tagger.tag(item, karachi)
    assert event.tagged_at == NOW and event.tagged_at.tzinfo is UTC
    assert event == _validating(tagger).tag(item, NOW)
    with pytest.raises(ValueError, match="timezone"):
        tagger.tag(item, datetime(2025, 11, 20, 12, 0))  # naive: refused, as by validation


def test_a_model_with_a_validator_is_not_assembled() -> None:
    class Checked(Evidence):
        @field_validator("sentence")
        @classmethod
        def _strip(cls, value: str) -> str:
            return value.strip()

    assert not unvalidated_build_applies({Checked: tuple(Evidence.model_fields)})
    assert unvalidated_build_applies({Evidence: tuple(Evidence.model_fields)})
    assert not unvalidated_build_applies({Evidence: ("supports", "field")})
