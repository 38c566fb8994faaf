"""The classifier's whole per-batch decision, free of Kafka and faust: raw message values in,
encoded outputs and state changes out.

Three parts, in message order:

- :class:`StoryDesk` gives each value its story id (story signatures are its state);
- :class:`BatchTagger` decodes and tags each value with its story id and encodes the tagged event;
  it also reduces the event to the :class:`~services.classifier.incidents.IncidentReport` that
  incidents need. It has no state;
- :class:`IncidentDesk` applies the stop-switch in message order and counts each report in its
  incidents (incidents are its state); once per batch it takes the incident revisions.

:class:`ClassifierCore` runs the three one after the other. The service can instead run the
:class:`BatchTagger` in a tagging process beside its event loop, and the two desks in the loop
(:mod:`services.classifier.core_process`): tagging is most of the cost per item, and what
crosses between them is bytes, strings and numbers.

State writes are recorded as :class:`TableChange` s: the service applies them to its faust
tables, whose changelogs make them durable, and loads the tables' content back after a restart.

Per-value isolation: undecodable input and any exception while tagging one value become that
value's dead-letter reason; the batch goes on. When one more dead letter would break the
stop-switch's limits (:mod:`~services.classifier.dlq_limit`), the batch stops at that value and
reports why (the service then halts without committing it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from datetime import datetime
from typing import NamedTuple

from schemas.codec import encode
from services.classifier.batch_tagger import (
    BatchTagger,
    Decoded,
    FailedItem,
    Item,
    Story,
    decode_all,
    failure,
)
from services.classifier.dlq_limit import DeadLetterLimitExceeded, DlqLimit, DlqLimitConfig
from services.classifier.incidents import IncidentBook, IncidentConfig
from services.classifier.process import ItemTagger
from services.classifier.stories import StoryConfig, StoryIndex

STORIES = "stories"
INCIDENTS = "incidents"
TABLES = (STORIES, INCIDENTS)


class TableChange(NamedTuple):
    """One state write: ``value`` None deletes ``key``."""

    table: str
    key: str
    value: bytes | None


class IncidentRevision(NamedTuple):
    key: bytes
    value: bytes
    label: str


class BatchOutcome(NamedTuple):
    items: list[Item]  # up to the stop-switch, in message order
    incidents: list[IncidentRevision]
    changes: list[TableChange]
    stories_indexed: int
    halted: str | None  # the stop-switch's reason when it stopped the batch


class RecordedMapping(MutableMapping[str, bytes]):
    """A dict whose writes are also recorded, in order, as table changes."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.data: dict[str, bytes] = {}
        self.changes: list[TableChange] = []

    def __getitem__(self, key: str) -> bytes:
        return self.data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.data[key] = value
        self.changes.append(TableChange(self.table, key, value))

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.changes.append(TableChange(self.table, key, None))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.data))

    def __len__(self) -> int:
        return len(self.data)

    def load(self, content: dict[str, bytes]) -> None:
        self.data = dict(content)
        self.changes = []

    def take_changes(self) -> list[TableChange]:
        changes, self.changes = self.changes, []
        return changes


class StoryDesk:
    """Story ids, in message order; story signatures are its state.

    Redelivering an item gives it the story id it had (incidents then re-state, not advance, what
    they already counted)."""

    def __init__(self, config: StoryConfig) -> None:
        self._store = RecordedMapping(STORIES)
        self.index = StoryIndex(self._store, config, defer_writes=True)

    def load(self, stories: dict[str, bytes]) -> tuple[int, list[TableChange]]:
        """Replace the state with the table's content; returns the entries kept and the writes the
        rebuild made (entries that left the window while the service was down)."""
        self._store.load(stories)
        return self.index.rebuild(), self._store.take_changes()

    def assign(self, decoded: Sequence[Decoded], now: datetime, start: int = 0) -> list[Story]:
        """Each decoded value's story id (:func:`~services.classifier.batch_tagger.decode_all`); a
        value that could not be decoded, or fails here, gets its :class:`FailedItem` instead and
        is not tagged."""
        stories: list[Story] = []
        for offset, item in enumerate(decoded):
            if isinstance(item, FailedItem):
                stories.append(item)
                continue
            try:
                stories.append(self.index.assign(item.id, item.title, item.body, item.published_at, now))
            except Exception as exc:  # per-value isolation: never let one item stop the stream
                stories.append(failure(start + offset, exc))
        return stories

    def flush(self) -> tuple[list[TableChange], int]:
        """The story writes since the last flush, and the entries in the window."""
        self.index.flush()
        return self._store.take_changes(), len(self.index)


class IncidentDesk:
    """The stop-switch and the incidents, in message order; incidents are its state."""

    def __init__(
        self,
        incidents: IncidentConfig,
        dlq: DlqLimitConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = RecordedMapping(INCIDENTS)
        self.book = IncidentBook(self._store, incidents, defer_writes=True)
        self.limit = DlqLimit(dlq)
        self._monotonic = monotonic

    def load(self, incidents: dict[str, bytes]) -> tuple[int, list[TableChange]]:
        self._store.load(incidents)
        return self.book.rebuild(), self._store.take_changes()

    def count(self, items: list[Item], now: datetime) -> tuple[list[Item], str | None]:
        """The items to send, in order: all, or those before the value at which the stop-switch
        tripped (then its reason is the second result)."""
        for index, item in enumerate(items):
            if isinstance(item, FailedItem):
                try:
                    self.limit.check_dead_letter(self._monotonic())
                except DeadLetterLimitExceeded as exc:
                    return items[:index], str(exc)
                continue
            self.limit.record_ok(self._monotonic())
            self.book.add_report(item.report, now)
        return items, None

    def finish(self, now: datetime) -> tuple[list[IncidentRevision], list[TableChange]]:
        """The batch's incident revisions (one per touched incident) and its incident writes."""
        revisions = [
            IncidentRevision(update.incident_id.encode(), encode(update), update.label.value)
            for update in self.book.take_updates(now)
        ]
        self.book.flush()
        return revisions, self._store.take_changes()


class ClassifierCore:
    """The three parts in one process: story ids, tagging, incidents."""

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
        self.stories = StoryDesk(stories)
        self.tagger = BatchTagger(tagger, timer=timer)
        self.desk = IncidentDesk(incidents, dlq, monotonic=monotonic)

    def load_state(
        self, stories: dict[str, bytes], incidents: dict[str, bytes]
    ) -> tuple[int, int, list[TableChange]]:
        """Replace the state with the tables' content (after recovery) and rebuild the indexes;
        returns the story entries and incidents kept, and the writes the rebuild made."""
        story_count, story_changes = self.stories.load(stories)
        incident_count, incident_changes = self.desk.load(incidents)
        return story_count, incident_count, story_changes + incident_changes

    def decide(self, values: Sequence[bytes | None], now: datetime) -> BatchOutcome:
        items = self.tag(values, now)
        return self.complete(items, self.stories.flush(), now)

    def tag(self, values: Sequence[bytes | None], now: datetime, start: int = 0) -> list[Item]:
        """Story ids and tagging for ``values`` (positions from ``start``), each value decoded once;
        the story writes stay for :meth:`StoryDesk.flush`."""
        decoded = decode_all(values, start)
        return self.tagger.tag_decoded(decoded, self.stories.assign(decoded, now, start), now, start)

    def complete(
        self, items: list[Item], story_writes: tuple[list[TableChange], int], now: datetime
    ) -> BatchOutcome:
        """The :class:`IncidentDesk` part for a tagged batch (also after the stop-switch tripped:
        what was decided goes out with the batch's revisions and writes); ``story_writes`` is what
        :meth:`StoryDesk.flush` returned after the batch's story ids."""
        counted, halted = self.desk.count(items, now)
        return self.outcome(counted, halted, story_writes, now)

    def outcome(
        self,
        items: list[Item],
        halted: str | None,
        story_writes: tuple[list[TableChange], int],
        now: datetime,
    ) -> BatchOutcome:
        """The batch's outcome once its items are counted: with its incident revisions and the
        story and incident writes."""
        revisions, changes = self.desk.finish(now)
        story_changes, indexed = story_writes
        return BatchOutcome(items, revisions, story_changes + changes, indexed, halted)
