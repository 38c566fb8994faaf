"""Decoding, tagging and encoding a batch of raw values: the stateless part of the classifier's
core, which can run in a tagging process of its own (:mod:`services.classifier.tagging_process`).

Kept free of the stateful parts (stories, incidents) and of their libraries, so that a tagging
process imports little more than the tagger.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from schemas.codec import InvalidMessage, decode_as, encode
from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1
from services.classifier.incidents import IncidentReport, report_of
from services.classifier.process import ItemTagger, cloudevent_headers


class TaggedItem(NamedTuple):
    """A value that became a tagged event (``position``: its index in the batch): the encoded
    event, keyed by ``key`` with CloudEvents ``headers``, and what metrics and incidents need."""

    position: int
    event: bytes
    key: bytes
    headers: list[tuple[str, bytes]]
    labels: tuple[str, ...]
    ingested_at: float
    tagging_seconds: float
    report: IncidentReport


class FailedItem(NamedTuple):
    """A value to dead-letter; ``detail`` carries the traceback of an unexpected failure."""

    position: int
    reason: str
    reason_class: str
    detail: str | None = None


Item = TaggedItem | FailedItem


Story = str | FailedItem  # a value's story id, or why the value failed before tagging


Decoded = RawItemV1 | FailedItem  # a decoded value, or why it could not be decoded


def failure(position: int, exc: Exception) -> FailedItem:
    reason = f"tagging failed: {type(exc).__name__}: {exc}"
    return FailedItem(position, reason, "processing", traceback.format_exc(limit=8))


def decode(value: bytes | None, position: int) -> Decoded:
    """A raw-items value decoded, or the :class:`FailedItem` that says why it could not be."""
    try:
        return decode_as(RawItemV1, value)
    except InvalidMessage as exc:
        return FailedItem(position, exc.reason, exc.reason_class)
    except Exception as exc:  # per-value isolation: never let one item stop the stream
        return failure(position, exc)


def decode_all(values: Sequence[bytes | None], start: int = 0) -> list[Decoded]:
    return [decode(value, start + offset) for offset, value in enumerate(values)]


class BatchTagger:
    """Decode, tag and encode the values given their story ids; no state of its own, so it can run
    in a tagging process beside the event loop.

    The work goes in phases over the whole slice (decode all, then tag all, then encode all): each
    phase keeps its own tables and code hot, where one value at a time through every step would
    swap them in and out of the processor's caches."""

    def __init__(self, tagger: ItemTagger, *, timer: Callable[[], float] = time.perf_counter) -> None:
        self._tagger = tagger
        self._timer = timer

    def tag(
        self, values: Sequence[bytes | None], stories: Sequence[Story], now: datetime, start: int = 0
    ) -> list[Item]:
        """The values' items, in order (``stories`` from :meth:`StoryDesk.assign` on the same
        values). The values are decoded here again: only bytes cross to a tagging process."""
        decoded = [
            story if isinstance(story, FailedItem) else decode(value, start + offset)
            for offset, (value, story) in enumerate(zip(values, stories, strict=True))
        ]
        return self.tag_decoded(decoded, stories, now, start)

    def tag_decoded(
        self, decoded: Sequence[Decoded], stories: Sequence[Story], now: datetime, start: int = 0
    ) -> list[Item]:
        """:meth:`tag` for values already decoded (in the process that gave their story ids)."""
        slots: list[Item | None] = [None] * len(decoded)  # each is filled by one of the phases
        todo: list[tuple[int, RawItemV1, str]] = []
        for offset, (item, story) in enumerate(zip(decoded, stories, strict=True)):
            if isinstance(story, FailedItem):
                slots[offset] = story
            elif isinstance(item, FailedItem):
                slots[offset] = item
            else:
                todo.append((offset, item, story))
        tagged: list[tuple[int, TaggedEventV1, float]] = []
        timer, tagger = self._timer, self._tagger
        for offset, item, story in todo:
            try:
                started = timer()
                event = tagger.tag(item, now, story)
                tagged.append((offset, event, timer() - started))
            except Exception as exc:
                slots[offset] = failure(start + offset, exc)
        for offset, event, took in tagged:
            try:
                slots[offset] = TaggedItem(
                    start + offset,
                    encode(event),
                    event.item_id.encode(),
                    cloudevent_headers(event),
                    tuple(label.value for label in event.labels),
                    event.ingested_at.timestamp(),
                    took,
                    report_of(event),
                )
            except Exception as exc:
                slots[offset] = failure(start + offset, exc)
        return [slot for slot in slots if slot is not None]
