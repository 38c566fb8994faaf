"""Story ids, incidents and the dead-letter stop-switch: the pure parts of the classifier's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import Crossing, Figures, IncidentV1, Place, TaggedEventV1
from schemas.common import CrossingState, Label, Region, Severity
from services.classifier.dlq_limit import DeadLetterLimitExceeded, DlqLimit, DlqLimitConfig
from services.classifier.incidents import IncidentBook, IncidentConfig, incident_id
from services.classifier.stories import StoryConfig, StoryIndex, band_layout

T0 = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)
BODY = (
    "Pakistani authorities closed the Torkham border crossing on Monday after exchanges of fire with "
    "Afghan forces overnight, officials said. Long queues of trucks formed on the highway to Peshawar "
    "as traders waited for news about when the gate would open again."
)
OTHER = "Wheat prices were steady in Kabul markets this week as supplies arrived by rail from the north."


def test_copies_and_light_rewrites_share_a_story_and_unrelated_items_do_not() -> None:
    index = StoryIndex({})
    a = index.assign("a", "Torkham closed after firing", BODY, T0, T0)
    b = index.assign("b", "Torkham closed after firing", BODY, T0 + timedelta(hours=1), T0)
    c = index.assign("c", "Pakistan closes Torkham", BODY.replace("on Monday", "early on Monday"), T0, T0)
    d = index.assign("d", "Markets", OTHER, T0, T0)
    assert a == b == c != d
    assert index.assign("b", "anything", "else", T0, T0) == a  # same item id, same story


def test_the_window_is_bounded_in_event_time_and_in_size() -> None:
    store: dict[str, bytes] = {}
    index = StoryIndex(store, StoryConfig(window=timedelta(hours=6), max_items=3))
    first = index.assign("a", "Torkham closed", BODY, T0, T0 + timedelta(days=2))
    later = T0 + timedelta(hours=7)
    assert index.assign("b", "Torkham closed", BODY, later, later) != first  # outside the window
    assert "a" not in store
    for i in range(5):
        index.assign(f"x{i}", f"item {i}", f"{OTHER} {i} {'word ' * i}", later, later)
    assert len(store) == len(index) == 3


def test_the_index_is_rebuilt_from_its_store_after_a_restart() -> None:
    store: dict[str, bytes] = {}
    story = StoryIndex(store).assign("a", "Torkham closed", BODY, T0, T0)
    restarted = StoryIndex(store)
    assert restarted.rebuild() == 1
    assert restarted.assign("b", "Torkham closed", BODY, T0, T0) == story


def _event(
    n: int,
    source: str,
    *,
    story: str | None = None,
    killed: int | None = None,
    minutes: int = 0,
    labels: tuple[Label, ...] = (Label.CLOSURE, Label.CASUALTIES),
) -> TaggedEventV1:
    published = T0 + timedelta(minutes=minutes)
    return TaggedEventV1(
        event_id=f"e{n}",
        item_id=f"i{n}",
        source=source,
        title="t",
        published_at=published,
        ingested_at=published,
        tagged_at=published,
        labels=list(labels),
        figures=Figures(killed=killed),
        crossings=[Crossing(name="Torkham", state=CrossingState.CLOSED)],
        places=[Place(name="Torkham", mention="Torkham", kind="crossing", country="PK")],
        region=Region.AF_PAK,
        severity=Severity.HIGH,
        classifier_version="test",
        taxonomy_version="test",
        story_id=story or f"s{n}",
    )


def _casualties(updates: list[IncidentV1]) -> IncidentV1:
    return next(u for u in updates if u.label is Label.CASUALTIES)


def test_sources_count_once_per_outlet_and_per_story_and_figures_are_reconciled() -> None:
    book = IncidentBook({})
    u1 = _casualties(book.apply(_event(1, "wire", story="s1", killed=5), T0))
    u2 = _casualties(book.apply(_event(2, "copy", story="s1", killed=5, minutes=1), T0))
    u3 = _casualties(book.apply(_event(3, "kabul", story="s3", killed=4, minutes=2), T0))
    u4 = _casualties(book.apply(_event(4, "wire", story="s4", killed=9, minutes=3), T0))
    assert [u.revision for u in (u1, u2, u3, u4)] == [1, 2, 3, 4]
    assert [u.source_count for u in (u1, u2, u3, u4)] == [1, 1, 2, 2]
    assert u1.changes == ["opened"]
    assert u2.changes == ["new_report"]
    assert u3.changes == ["new_report", "corroborated", "figures_revised_down"]
    assert u4.changes == ["new_report", "figures_revised_up"]
    assert u4.killed.model_dump() == {
        "lowest": 4,
        "highest": 9,
        "latest": 9,
        "by_source": {"wire": 9, "copy": 5, "kabul": 4},
    }
    assert u4.incident_id == incident_id(Label.CASUALTIES, "Torkham", T0.date())


def test_a_redelivered_event_restates_the_incident_without_a_new_revision() -> None:
    book = IncidentBook({})
    first = book.apply(_event(1, "wire", killed=3), T0)
    again = book.apply(_event(1, "wire", killed=3), T0)
    assert [(u.incident_id, u.revision) for u in again] == [(u.incident_id, u.revision) for u in first]


def test_incidents_survive_a_restart_and_old_days_are_forgotten() -> None:
    store: dict[str, bytes] = {}
    IncidentBook(store).apply(_event(1, "wire", labels=(Label.CLOSURE,)), T0)
    book = IncidentBook(store, IncidentConfig(retention=timedelta(days=2)))
    assert book.rebuild() == 1
    (update,) = book.apply(_event(2, "kabul", labels=(Label.CLOSURE,)), T0)
    assert (update.revision, update.source_count, update.crossing_state) == (2, 2, CrossingState.CLOSED)
    later = T0 + timedelta(days=3)
    book.apply(_event(3, "wire", labels=(Label.CLOSURE,), minutes=3 * 24 * 60), later)
    assert len(store) == 1  # the first day's incident expired


@pytest.mark.parametrize(
    ("config", "outcomes", "trips_at"),
    [
        (DlqLimitConfig(max_consecutive=3, min_messages=1000), "ok ok bad bad bad", 4),
        (DlqLimitConfig(max_consecutive=3, min_messages=1000), "bad bad ok bad bad ok bad bad", None),
        (DlqLimitConfig(max_ratio=0.5, max_consecutive=100, min_messages=4), "ok bad ok bad bad", 4),
        (DlqLimitConfig(max_ratio=0.5, max_consecutive=100, min_messages=10), "ok bad ok bad bad", None),
    ],
)
def test_the_stop_switch_trips_on_consecutive_or_ratio_limits(
    config: DlqLimitConfig, outcomes: str, trips_at: int | None
) -> None:
    limit = DlqLimit(config)
    tripped = None
    for i, outcome in enumerate(outcomes.split()):
        try:
            limit.record_ok(float(i)) if outcome == "ok" else limit.check_dead_letter(float(i))
        except DeadLetterLimitExceeded:
            tripped = i
            break
    assert tripped == trips_at


def test_the_ratio_is_over_a_sliding_window() -> None:
    limit = DlqLimit(DlqLimitConfig(max_ratio=0.5, max_consecutive=100, window_s=10, min_messages=2))
    limit.check_dead_letter(0.0)
    limit.record_ok(0.5)
    with pytest.raises(DeadLetterLimitExceeded):
        limit.check_dead_letter(1.0)
    limit.check_dead_letter(20.0)  # the earlier outcomes left the window; this one alone does not trip


def test_deferred_writes_reach_the_store_once_per_flush() -> None:
    store: dict[str, bytes] = {}
    book = IncidentBook(store, defer_writes=True)
    book.apply(_event(1, "wire", killed=3), T0)
    book.apply(_event(2, "kabul", killed=4), T0)
    assert store == {}
    assert book.flush() == 2  # closure and casualties at Torkham
    restarted = IncidentBook(store)
    restarted.rebuild()
    (update,) = [u for u in restarted.apply(_event(3, "hill", killed=5), T0) if u.label is Label.CASUALTIES]
    assert (update.revision, update.killed.highest) == (3, 5)


def test_a_batch_yields_one_revision_per_incident_with_changes_against_the_last_published() -> None:
    book = IncidentBook({})
    (first,) = [u for u in book.apply(_event(1, "wire", killed=3), T0) if u.label is Label.CASUALTIES]
    for n, (source, killed) in enumerate([("kabul", 5), ("hill", 4), ("wire", 6)], start=2):
        book.add(_event(n, source, story=f"s{n}", killed=killed, minutes=n), T0)
    updates = book.take_updates(T0)
    assert sorted(u.label.value for u in updates) == ["casualties", "closure"]  # one per incident
    (toll,) = [u for u in updates if u.label is Label.CASUALTIES]
    assert (first.revision, toll.revision, toll.report_count) == (1, 2, 4)
    assert toll.changes == ["new_report", "corroborated", "figures_revised_up"]
    assert book.take_updates(T0) == []  # nothing touched since


def test_a_redelivered_event_is_recognised_however_many_reports_came_since() -> None:
    store: dict[str, bytes] = {}
    book = IncidentBook(store)
    book.apply(_event(0, "wire", labels=(Label.CLOSURE,)), T0)
    for n in range(1, 300):
        book.add(_event(n, f"outlet-{n}", labels=(Label.CLOSURE,)), T0)
    (latest,) = book.take_updates(T0)
    (again,) = book.apply(_event(0, "wire", labels=(Label.CLOSURE,)), T0)
    assert (again.revision, again.report_count) == (latest.revision, 300)
    restarted = IncidentBook(store)
    restarted.rebuild()
    (after_restart,) = restarted.apply(_event(0, "wire", labels=(Label.CLOSURE,)), T0)
    assert (after_restart.revision, after_restart.report_count) == (latest.revision, 300)


def test_story_writes_are_deferred_to_flush_and_entries_of_an_older_signature_keep_their_story() -> None:
    store: dict[str, bytes] = {}
    index = StoryIndex(store, defer_writes=True)
    story = index.assign("a", "Torkham closed", BODY, T0, T0)
    assert store == {}
    assert index.flush() == 1 and set(store) == {"a"}
    store["old"] = b'{"story":"st-old","t":%f,"sig":"00"}' % T0.timestamp()  # no signature version
    restarted = StoryIndex(store)
    assert restarted.rebuild() == 2
    assert restarted.assign("old", "anything", "else", T0, T0) == "st-old"
    assert restarted.assign("b", "Torkham closed", BODY, T0, T0) == story


def test_a_word_for_word_copy_takes_the_story_directly_also_after_a_restart() -> None:
    store: dict[str, bytes] = {}
    index = StoryIndex(store)
    story = index.assign("a", "Torkham closed after firing", BODY, T0, T0)
    curly = BODY.replace("officials said.", "officials said \u2014 \u201cuntil further notice\u201d.")
    straight = BODY.replace("officials said.", 'officials said - "until further notice".')
    rewrite = index.assign("b", "Torkham closed after firing", curly, T0, T0)
    # Punctuation, typographic or not, is no part of the words: this is a copy of "b".
    assert index.assign("c", "Torkham closed after firing", straight, T0, T0) == rewrite
    assert b'"sig"' in store["b"] and b'"sig"' not in store["c"]  # a copy was never MinHashed
    restarted = StoryIndex(store)
    restarted.rebuild()
    assert restarted.assign("e", "Torkham closed after firing", BODY, T0 + timedelta(hours=1), T0) == story
    assert b'"sig"' not in store["e"]


def test_a_copy_outside_the_window_starts_a_new_story() -> None:
    index = StoryIndex({}, StoryConfig(window=timedelta(hours=6)))
    first = index.assign("a", "Torkham closed", BODY, T0, T0)
    later = T0 + timedelta(hours=7)
    assert index.assign("b", "Torkham closed", BODY, later, later) != first


@pytest.mark.parametrize("num_perm", [8, 16, 32, 64, 128])
def test_the_band_layout_is_the_one_datasketch_chooses(num_perm: int) -> None:
    from datasketch.lsh import _optimal_param

    for threshold in [t / 100 for t in range(5, 100, 5)]:
        assert band_layout(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)
