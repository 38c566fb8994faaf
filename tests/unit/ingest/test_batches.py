"""Batch normalisation: the same outcome in-process and on a worker process, errors in batch order."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

from schemas.codec import decode_as
from schemas.raw_items import RawItemV1
from services.ingest.app import BrokerProbe
from services.ingest.batches import EncodedLine, normalise_entries, parse_replay_chunk
from services.ingest.replay_reader import RejectedLine
from services.ingest.submission import ItemSubmission, normalise
from services.ingest.text import detect_language
from services.ingest.workers import NormalisePool

NOW = datetime(2025, 10, 12, 7, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _entry(n: int) -> dict[str, object]:
    return {
        "source": "partner",
        "title": f"Report {n}: <b>shelling</b> near Angoor Adda",
        "url": f"https://partner.example/{n}?utm_source=x",
    }


def test_entries_become_the_items_normalise_makes_and_errors_keep_their_batch_index() -> None:
    entries: list[object] = [_entry(1), {"source": "s"}, 7, _entry(2)]
    items, errors = normalise_entries(
        entries, first_index=10, single=False, origin="push", now=NOW, future_tolerance=HOUR
    )
    expected = normalise(ItemSubmission.model_validate(_entry(1)), origin="push", now=NOW)
    assert decode_as(RawItemV1, items[0].value) == expected
    assert (items[0].id, items[0].published_at) == (expected.id, expected.published_at)
    assert [i.id for i in items][1:] == [
        normalise(ItemSubmission.model_validate(_entry(2)), origin="push", now=NOW).id
    ]
    assert [(e.index, e.field) for e in errors] == [(11, "title"), (12, "<item>")]
    _, single = normalise_entries(
        [{"source": "s", "title": "t", "published_at": "2999-01-01T00:00:00Z"}],
        first_index=0,
        single=True,
        origin="push",
        now=NOW,
        future_tolerance=HOUR,
    )
    assert [(e.index, e.field) for e in single] == [(None, "published_at")]


def test_replay_chunks_keep_line_numbers_and_reasons() -> None:
    out = parse_replay_chunk([(3, b'{"source": "s", "title": "Torkham"}'), (5, b"{oops")], NOW, HOUR)
    assert isinstance(out[0], EncodedLine) and out[0].line_number == 3
    assert isinstance(out[1], RejectedLine) and out[1].reason.startswith("line 5: not JSON")


def test_a_worker_process_gives_the_same_result_as_in_process() -> None:
    entries: list[object] = [*(_entry(n) for n in range(80)), {"source": "s"}]

    async def run() -> tuple[object, object]:
        pool = NormalisePool(1, min_batch=10)
        try:
            here = await pool.run(len(entries), normalise_entries, entries, first_index=0, single=False,
                                  origin="push", now=NOW, future_tolerance=HOUR)  # fmt: skip
            assert not pool.ready  # not started: in-process
            await pool.start()
            assert pool.ready
            there = await pool.run(len(entries), normalise_entries, entries, first_index=0, single=False,
                                   origin="push", now=NOW, future_tolerance=HOUR)  # fmt: skip
            return here, there
        finally:
            await pool.aclose()

    here, there = asyncio.run(run())
    assert here == there


def test_language_of_frontier_news() -> None:
    samples = {
        "en": "Pakistan closes the Torkham border crossing after overnight clashes",
        "ur": "طورخم سرحد پر جھڑپوں کے بعد گزرگاہ بند کر دی گئی، حکام کا کہنا ہے",
        "ps": "د تورخم په پوله د نښتو وروسته لاره وتړل شوه، چارواکو وویل",
        "fa": "گذرگاه مرزی تورخم پس از درگیری‌ها بسته شد، مقامات می‌گویند",  # noqa: RUF001
    }
    assert {code: detect_language(text, "") for code, text in samples.items()} == {c: c for c in samples}
    assert detect_language("1234 5678 " * 30, "") is None  # long, but no letters to judge
    assert detect_language("Torkham \ud800 closed after clashes between border forces", "") is None


def test_broker_probe_is_false_for_a_closed_port_and_caches_its_answer() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ttl_s = 30.0
    clock = [100.0]
    probe = BrokerProbe([f"127.0.0.1:{port}"], timeout_s=1.0, ttl_s=ttl_s, now=lambda: clock[0])
    calls = 0
    original = probe._probe

    async def counted() -> bool:
        nonlocal calls
        calls += 1
        return await original()

    probe._probe = counted  # type: ignore[method-assign]

    async def run() -> list[bool]:
        first = await probe.ready()
        second = await probe.ready()
        clock[0] += ttl_s
        third = await probe.ready()
        return [first, second, third]

    assert asyncio.run(run()) == [False, False, False]
    assert calls == 2
