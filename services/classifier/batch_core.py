"""The classifier's whole per-batch decision, free of Kafka and faust: raw message values in,
encoded outputs and state changes out.

:class:`ClassifierCore` decodes and tags each value, gives it its story id, counts it in its
incidents and encodes the tagged event; once per batch it takes the incident revisions and the
state writes. Its state (story signatures, incidents) lives in two plain mappings whose writes
are recorded as :class:`TableChange` s: the service applies them to its faust tables, whose
changelogs make them durable, and loads the tables' content back with :meth:`load_state` after
a restart. Everything that crosses this boundary is bytes, strings and numbers, so the same core
runs in the service's event loop or in a tagging process beside it
(:mod:`services.classifier.core_process`) with the same results.

Per-value isolation: undecodable input and any exception while tagging one value become that
value's dead-letter reason; the batch goes on. The stop-switch (:mod:`~services.classifier.
dlq_limit`) is applied here, in message order: when one more dead letter would break its limits,
the batch stops at that value and reports why (the service then halts).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from datetime import datetime
from typing import NamedTuple

from schemas.codec import InvalidMessage, encode
from services.classifier.dlq_limit import DeadLetterLimitExceeded, DlqLimit, DlqLimitConfig
from services.classifier.incidents import IncidentBook, IncidentConfig
from services.classifier.process import ItemTagger, classify, cloudevent_headers
from services.classifier.stories import StoryConfig, StoryIndex

STORIES = "stories"
INCIDENTS = "incidents"
TABLES = (STORIES, INCIDENTS)


class TableChange(NamedTuple):
    """One state write: ``value`` None deletes ``key``."""

    table: str
    key: str
    value: bytes | None


class ItemOutcome(NamedTuple):
    """What became of one value of a batch (``position``: its index in the batch).

    Tagged: ``event`` holds the encoded tagged event, keyed by ``key`` with CloudEvents
    ``headers``. Dead-lettered: ``reason`` and ``reason_class`` are set and ``event`` is None;
    ``detail`` carries the traceback of an unexpected failure, for the log.
    """

    position: int
    event: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes]]
    labels: tuple[str, ...]
    ingested_at: float
    tagging_seconds: float
    reason: str | None = None
    reason_class: str | None = None
    detail: str | None = None


class IncidentRevision(NamedTuple):
    key: bytes
    value: bytes
    label: str


class BatchOutcome(NamedTuple):
    items: list[ItemOutcome]
    incidents: list[IncidentRevision]
    changes: list[TableChange]
    stories_indexed: int
    halted: str | None  # the stop-switch's reason when it stopped the batch


class RecordedMapping(MutableMapping[str, bytes]):
    """A dict whose writes are also recorded, in order, as table changes."""

    def __init__(self, table: str, changes: list[TableChange]) -> None:
        self.table = table
        self.data: dict[str, bytes] = {}
        self._changes = changes

    def __getitem__(self, key: str) -> bytes:
        return self.data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.data[key] = value
        self._changes.append(TableChange(self.table, key, value))

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self._changes.append(TableChange(self.table, key, None))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.data))

    def __len__(self) -> int:
        return len(self.data)


class ClassifierCore:
    def __init__(
        self,
        tagger: ItemTagger,
        stories: StoryConfig,
        incidents: IncidentConfig,
        dlq: DlqLimitConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._tagger = tagger
        self._changes: list[TableChange] = []
        self._story_store = RecordedMapping(STORIES, self._changes)
        self._incident_store = RecordedMapping(INCIDENTS, self._changes)
        self.stories = StoryIndex(self._story_store, stories, defer_writes=True)
        self.book = IncidentBook(self._incident_store, incidents, defer_writes=True)
        self.limit = DlqLimit(dlq)
        self._monotonic = monotonic
        self._timer = timer

    def load_state(
        self, stories: dict[str, bytes], incidents: dict[str, bytes]
    ) -> tuple[int, int, list[TableChange]]:
        """Replace the state with the tables' content (after recovery) and rebuild the indexes;
        returns the story entries and incidents kept, and the writes the rebuild made (entries that
        left the window or the retention while the service was down)."""
        self._story_store.data = dict(stories)
        self._incident_store.data = dict(incidents)
        story_count = self.stories.rebuild()
        incident_count = self.book.rebuild()
        return story_count, incident_count, self._take_changes()

    def process(
        self, values: Sequence[bytes | None], now: datetime, start: int = 0
    ) -> tuple[list[ItemOutcome], str | None]:
        """Decide each value (``start``: the index of the first in its batch); the second result is
        the stop-switch's reason when it stopped before the end, else None."""
        outcomes: list[ItemOutcome] = []
        for offset, value in enumerate(values):
            index = start + offset
            try:
                tagged, took = classify(value, self._tagger, self.stories, self.book, now, self._timer)
            except InvalidMessage as exc:
                failed = self._dead_letter(index, exc.reason, exc.reason_class, None)
            except Exception as exc:  # per-value isolation: never let one item stop the stream
                failed = self._dead_letter(
                    index,
                    f"tagging failed: {type(exc).__name__}: {exc}",
                    "processing",
                    traceback.format_exc(limit=8),
                )
            else:
                self.limit.record_ok(self._monotonic())
                outcomes.append(
                    ItemOutcome(
                        index,
                        encode(tagged),
                        tagged.item_id.encode(),
                        cloudevent_headers(tagged),
                        tuple(label.value for label in tagged.labels),
                        tagged.ingested_at.timestamp(),
                        took,
                    )
                )
                continue
            if isinstance(failed, str):
                return outcomes, failed
            outcomes.append(failed)
        return outcomes, None

    def finish(self, now: datetime) -> tuple[list[IncidentRevision], list[TableChange]]:
        """The batch's incident revisions (one per touched incident) and its state writes."""
        revisions = [
            IncidentRevision(update.incident_id.encode(), encode(update), update.label.value)
            for update in self.book.take_updates(now)
        ]
        self.stories.flush()
        self.book.flush()
        return revisions, self._take_changes()

    def decide(self, values: Sequence[bytes | None], now: datetime) -> BatchOutcome:
        """A whole batch: :meth:`process` then :meth:`finish` (also after the stop-switch tripped:
        what was decided goes out with the batch's revisions and writes)."""
        items, halted = self.process(values, now)
        revisions, changes = self.finish(now)
        return BatchOutcome(items, revisions, changes, len(self.stories), halted)

    def _dead_letter(
        self, index: int, reason: str, reason_class: str, detail: str | None
    ) -> ItemOutcome | str:
        try:
            self.limit.check_dead_letter(self._monotonic())
        except DeadLetterLimitExceeded as exc:
            return str(exc)
        return ItemOutcome(index, None, None, [], (), 0.0, 0.0, reason, reason_class, detail)

    def _take_changes(self) -> list[TableChange]:
        changes = list(self._changes)
        self._changes.clear()
        return changes
