from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1
from services.classifier.tagger import Tagger, load_tagger

ROOT = Path(__file__).resolve().parents[3]
TAXONOMY = ROOT / "config" / "taxonomy.yaml"
GAZETTEER = ROOT / "config" / "gazetteer"
NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)

TagFn = Callable[..., TaggedEventV1]


def make_item(title: str, body: str = "", item_id: str = "item-1") -> RawItemV1:
    return RawItemV1(
        id=item_id,
        source="unit-test",
        title=title,
        body=body,
        published_at=datetime(2025, 11, 20, 9, 0, tzinfo=UTC),
        ingested_at=datetime(2025, 11, 20, 9, 5, tzinfo=UTC),
        origin="replay",
    )


@pytest.fixture(scope="session")
def tagger() -> Tagger:
    return load_tagger(TAXONOMY, GAZETTEER)


@pytest.fixture(scope="session")
def tag(tagger: Tagger) -> TagFn:
    def _tag(title: str, body: str = "", item_id: str = "item-1") -> TaggedEventV1:
        return tagger.tag(make_item(title, body, item_id), NOW)

    return _tag
