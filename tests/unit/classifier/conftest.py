from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1
from services.classifier.evaluate import load_row_files, load_rows, to_raw_item
from services.classifier.tagger import Tagger, load_tagger
from services.ingest.replay_reader import AcceptedLine, read_replay_lines

ROOT = Path(__file__).resolve().parents[3]
# The held-out style set, in parts (each file stays small enough to review).
HELDOUT_FILES = sorted((ROOT / "tests" / "data" / "classifier_heldout").glob("*.jsonl"))
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


def known_items() -> list[RawItemV1]:
    """Every item of the held-out set, the development set (when present) and the samples."""
    items = [to_raw_item(r) for r in load_row_files(HELDOUT_FILES)]
    dev = ROOT.parent / "shared" / "eval" / "dev.jsonl"
    if dev.is_file():
        items += [to_raw_item(r) for r in load_rows(dev)]
    with open(ROOT / "samples" / "items.jsonl", "rb") as fh:
        items += [o.item for o in read_replay_lines(fh, lambda: NOW) if isinstance(o, AcceptedLine)]
    return items
