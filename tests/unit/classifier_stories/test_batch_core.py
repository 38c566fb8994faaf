"""The classifier's per-batch core: outputs in message order, per-value isolation, the stop-switch,
state that survives a reload, and the same results in the event loop and in a tagging process."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import IncidentV1, RawItemV1, TaggedEventV1, decode_as, encode
from services.classifier.batch_core import (
    INCIDENTS,
    STORIES,
    BatchOutcome,
    ClassifierCore,
    TableChange,
)
from services.classifier.batch_tagger import FailedItem, TaggedItem
from services.classifier.core_process import CoreFailed, InlineCore, ProcessCore, tagging_processes
from services.classifier.dlq_limit import DlqLimitConfig
from services.classifier.incidents import IncidentConfig
from services.classifier.stories import StoryConfig
from services.classifier.tagger import Tagger, load_tagger

ROOT = Path(__file__).resolve().parents[3]
TAXONOMY, GAZETTEER = ROOT / "config" / "taxonomy.yaml", ROOT / "config" / "gazetteer"
NOW = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)
BODY = (
    "Pakistani authorities closed the Torkham border crossing on Monday after exchanges of fire with "
    "Afghan forces overnight, officials said. Long queues of trucks formed on the highway to Peshawar "
    "as traders waited for news about when the gate would open again."
)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return load_tagger(TAXONOMY, GAZETTEER)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def _core(tagger: Tagger, *, max_consecutive: int = 200) -> ClassifierCore:
    return ClassifierCore(
        tagger,
        StoryConfig(),
        IncidentConfig(),
        DlqLimitConfig(max_consecutive=max_consecutive, min_messages=1000),
        monotonic=_Clock(),
    )


def _process_core(tagger: Tagger) -> ProcessCore:
    return ProcessCore(_core(tagger), TAXONOMY, GAZETTEER, taxonomy_version=tagger.taxonomy.version)


def _raw(item_id: str, source: str, title: str = "Pakistan shuts Torkham crossing", minute: int = 0) -> bytes:
    published = NOW + timedelta(minutes=minute)
    return encode(
        RawItemV1(
            id=item_id,
            source=source,
            title=title,
            body=BODY,
            published_at=published,
            ingested_at=published,
            origin="push",
        )
    )


class _Exploding:
    """A tagger that fails on one item id: per-value isolation must contain it."""

    def __init__(self, tagger: Tagger, bad_id: str) -> None:
        self._tagger, self._bad = tagger, bad_id

    def tag(self, item: RawItemV1, now: datetime, story_id: str | None = None) -> TaggedEventV1:
        if item.id == self._bad:
            raise RuntimeError("boom")
        return self._tagger.tag(item, now, story_id)


def _apply(tables: dict[str, dict[str, bytes]], changes: list[TableChange]) -> None:
    for change in changes:
        if change.value is None:
            tables[change.table].pop(change.key, None)
        else:
            tables[change.table][change.key] = change.value


def test_a_batch_keeps_message_order_and_isolates_bad_values(tagger: Tagger) -> None:
    core = ClassifierCore(
        _Exploding(tagger, "bad-item"), StoryConfig(), IncidentConfig(), DlqLimitConfig(), monotonic=_Clock()
    )
    values = [_raw("a", "wire"), b"{not json", _raw("bad-item", "x"), None, _raw("b", "post", minute=5)]
    outcome = core.decide(values, NOW)
    assert outcome.halted is None
    assert [item.position for item in outcome.items] == [0, 1, 2, 3, 4]
    ok = [item for item in outcome.items if isinstance(item, TaggedItem)]
    tagged = [decode_as(TaggedEventV1, item.event) for item in ok]
    assert [event.item_id for event in tagged] == ["a", "b"]
    assert tagged[0].story_id == tagged[1].story_id  # copies of one report: one story
    assert ok[0].key == b"a" and ("ce_id", tagged[0].event_id.encode()) in ok[0].headers
    assert ok[0].labels == tuple(label.value for label in tagged[0].labels)
    assert "closure" in ok[0].labels and ok[0].report.story == tagged[0].story_id
    bad_json, exploded, tombstone = outcome.items[1], outcome.items[2], outcome.items[3]
    assert isinstance(bad_json, FailedItem) and bad_json.reason_class == "decode"
    assert isinstance(exploded, FailedItem) and isinstance(tombstone, FailedItem)
    assert exploded.reason == "tagging failed: RuntimeError: boom" and exploded.reason_class == "processing"
    assert exploded.detail is not None and "RuntimeError: boom" in exploded.detail
    assert tombstone.reason_class == "decode"
    # One revision per touched incident for the whole batch, with both sources counted.
    closure = [decode_as(IncidentV1, r.value) for r in outcome.incidents if r.label == "closure"]
    assert len(closure) == 1 and closure[0].report_count == 2
    assert {c.table for c in outcome.changes} == {STORIES, INCIDENTS}


def test_the_stop_switch_stops_the_batch_at_the_value_that_would_break_it(tagger: Tagger) -> None:
    core = _core(tagger, max_consecutive=3)
    values = [_raw("a", "wire"), b"x", b"y", b"z", _raw("b", "post")]
    outcome = core.decide(values, NOW)
    assert outcome.halted is not None and "3 consecutive messages" in outcome.halted
    # The value that tripped it and everything after it stay undecided (uncommitted).
    assert [item.position for item in outcome.items] == [0, 1, 2]
    assert outcome.incidents  # what was decided still goes out with its revisions


def test_state_reloaded_from_the_tables_gives_redeliveries_the_same_story_and_no_new_report(
    tagger: Tagger,
) -> None:
    tables: dict[str, dict[str, bytes]] = {STORIES: {}, INCIDENTS: {}}
    first = _core(tagger)
    before = first.decide([_raw("a", "wire"), _raw("b", "post", minute=3)], NOW)
    _apply(tables, before.changes)

    restarted = _core(tagger)
    stories, incidents, changes = restarted.load_state(tables[STORIES], tables[INCIDENTS])
    assert (stories, incidents) == (2, len(tables[INCIDENTS])) and changes == []
    again = restarted.decide([_raw("a", "wire")], NOW)
    first_before, first_again = before.items[0], again.items[0]
    assert isinstance(first_before, TaggedItem) and isinstance(first_again, TaggedItem)
    event_before = decode_as(TaggedEventV1, first_before.event)
    event_again = decode_as(TaggedEventV1, first_again.event)
    assert (event_again.event_id, event_again.story_id) == (event_before.event_id, event_before.story_id)
    revision_before = max(decode_as(IncidentV1, r.value).revision for r in before.incidents)
    restated = [decode_as(IncidentV1, r.value) for r in again.incidents if r.label == "closure"]
    assert restated and restated[0].revision == revision_before and restated[0].report_count == 2


def test_a_reload_drops_entries_that_left_the_window_and_says_so(tagger: Tagger) -> None:
    tables: dict[str, dict[str, bytes]] = {STORIES: {}, INCIDENTS: {}}
    core = ClassifierCore(
        tagger,
        StoryConfig(window=timedelta(hours=1)),
        IncidentConfig(),
        DlqLimitConfig(),
        monotonic=_Clock(),
    )
    _apply(tables, core.decide([_raw("old", "wire"), _raw("new", "post", minute=0)], NOW).changes)
    tables[STORIES]["new"] = tables[STORIES]["new"].replace(
        str(NOW.timestamp()).encode(), str((NOW + timedelta(hours=3)).timestamp()).encode()
    )
    _, _, changes = core.load_state(tables[STORIES], tables[INCIDENTS])
    assert TableChange(STORIES, "old", None) in changes


def _outcome_bytes(outcome: BatchOutcome) -> tuple[object, ...]:
    return (
        [i._replace(tagging_seconds=0.0) if isinstance(i, TaggedItem) else i for i in outcome.items],
        outcome.incidents,
        outcome.changes,
        outcome.stories_indexed,
        outcome.halted,
    )


def test_the_tagging_process_decides_exactly_like_the_event_loop(tagger: Tagger) -> None:
    batches = [
        [_raw("a", "wire"), b"{", _raw("b", "post", minute=2)],
        [_raw("c", "daily", title="Torkham crossing stays shut", minute=20), _raw("a", "wire")],
    ]

    async def run(runner: InlineCore | ProcessCore) -> list[tuple[object, ...]]:
        try:
            loaded = await runner.load_state({}, {})
            return [loaded, *[_outcome_bytes(await runner.decide(b, NOW)) for b in batches]]
        finally:
            runner.close()

    # Tagging durations differ between runs; everything the service sends must not.
    inline = asyncio.run(run(InlineCore(_core(tagger))))
    forked = asyncio.run(run(_process_core(tagger)))
    assert forked == inline


def test_a_dead_tagging_process_fails_the_call_instead_of_hanging(tagger: Tagger) -> None:
    runner = _process_core(tagger)
    try:
        assert runner.pid is not None
        os.kill(runner.pid, signal.SIGKILL)
        with pytest.raises(CoreFailed, match="is gone"):
            asyncio.run(runner.decide([_raw("a", "wire")], NOW))
    finally:
        runner.close()


def test_the_tagging_process_ends_when_the_service_closes_it(tagger: Tagger) -> None:
    runner = _process_core(tagger)
    pid = runner.pid
    assert pid is not None and asyncio.run(runner.decide([_raw("a", "wire")], NOW)).items
    runner.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_overlapping_calls_to_the_tagging_process_decide_like_calls_one_after_the_other(
    tagger: Tagger,
) -> None:
    # The second batch holds a copy of the first batch's item: its story id must come from the
    # first batch, whose story ids are given before the second call's.
    batches = [[_raw("a", "wire")], [_raw("b", "post", minute=1), _raw("c", "daily", minute=2)]]

    async def overlapping() -> list[BatchOutcome]:
        runner = _process_core(tagger)
        try:
            return list(await asyncio.gather(*(runner.decide(b, NOW) for b in batches)))
        finally:
            runner.close()

    async def in_turn() -> list[BatchOutcome]:
        runner = InlineCore(_core(tagger))
        return [await runner.decide(b, NOW) for b in batches]

    forked, inline = asyncio.run(overlapping()), asyncio.run(in_turn())
    assert [_outcome_bytes(o) for o in forked] == [_outcome_bytes(o) for o in inline]
    stories = {
        decode_as(TaggedEventV1, i.event).story_id
        for o in forked
        for i in o.items
        if isinstance(i, TaggedItem)
    }
    assert len(stories) == 1


def test_a_failure_while_giving_a_story_id_fails_that_value_only(
    tagger: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = _core(tagger)
    assign = core.stories.index.assign

    def failing(item_id: str, *args: object) -> str:
        if item_id == "bad":
            raise KeyError("lost signature")
        return assign(item_id, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(core.stories.index, "assign", failing)
    outcome = core.decide([_raw("a", "wire"), _raw("bad", "post"), _raw("b", "daily")], NOW)
    failed = outcome.items[1]
    assert isinstance(failed, FailedItem) and failed.reason == "tagging failed: KeyError: 'lost signature'"
    assert [type(i) for i in outcome.items] == [TaggedItem, FailedItem, TaggedItem]


@pytest.mark.parametrize(
    ("configured", "cpus", "expected"),
    [(None, 1, 0), (None, 2, 1), (None, 16, 1), (0, 8, 0), (1, 1, 1)],
)
def test_the_tagging_process_runs_by_default_only_with_a_second_cpu(
    configured: int | None, cpus: int, expected: int
) -> None:
    assert tagging_processes(configured, cpus) == expected


def test_a_tagging_process_that_cannot_load_the_tagger_fails_the_start_with_the_reason(
    tagger: Tagger, tmp_path: Path
) -> None:
    with pytest.raises(CoreFailed, match=r"could not start: loading the tagger failed: .*missing\.yaml"):
        ProcessCore(_core(tagger), tmp_path / "missing.yaml", GAZETTEER)


def test_a_tagging_process_with_another_taxonomy_version_fails_the_start(tagger: Tagger) -> None:
    with pytest.raises(
        CoreFailed, match=f"loaded taxonomy {tagger.taxonomy.version}, the service 1999.01.01"
    ):
        ProcessCore(_core(tagger), TAXONOMY, GAZETTEER, taxonomy_version="1999.01.01")
