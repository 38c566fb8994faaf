"""Where the classifier's core runs: in the event loop, or half of it in a tagging process.

Decoding, tagging, story ids and encoding (:class:`~services.classifier.batch_core.StoryTagger`)
cost most of the CPU per item. With :class:`ProcessCore` they run in a child process, so the
event loop sends one batch's outputs, takes its acknowledgements, counts its incidents
(:class:`~services.classifier.batch_core.IncidentDesk`) and fetches the next batch while the
child tags the batch after it. Each call carries one batch of raw bytes one way and encoded
events with their incident reports the other (no model objects cross the pipe).

The child is forked before the faust worker starts (no threads yet, and the validated tagger is
shared with it copy-on-write). It ignores SIGINT (a terminal's Ctrl-C reaches the whole process
group; the service decides when to stop) and ends when the service closes the pipe or dies. If
the child dies, the call raises :class:`CoreFailed` and the service halts without committing the
batch, which is then decided again after a restart (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, Protocol

from services.classifier.batch_core import (
    BatchOutcome,
    ClassifierCore,
    Item,
    StoryTagger,
    TableChange,
    TaggedBatch,
)

_CHUNK = 50  # values decided between two turns of the event loop when the core runs in it


class CoreFailed(RuntimeError):
    """The tagging process died or stopped answering."""


class CoreRunner(Protocol):
    async def decide(self, values: Sequence[bytes | None], now: datetime) -> BatchOutcome: ...

    async def load_state(
        self, stories: dict[str, bytes], incidents: dict[str, bytes]
    ) -> tuple[int, int, list[TableChange]]: ...

    def close(self) -> None: ...


class InlineCore:
    """The whole core in the event loop: yields to it every ``_CHUNK`` values."""

    def __init__(self, core: ClassifierCore) -> None:
        self.core = core
        self._one_at_a_time = asyncio.Lock()

    async def decide(self, values: Sequence[bytes | None], now: datetime) -> BatchOutcome:
        async with self._one_at_a_time:  # batches are decided whole and in order
            return await self._decide(values, now)

    async def _decide(self, values: Sequence[bytes | None], now: datetime) -> BatchOutcome:
        tagger, desk = self.core.tagger, self.core.desk
        items: list[Item] = []
        halted: str | None = None
        for start in range(0, len(values), _CHUNK):
            counted, halted = desk.count(tagger.tag(values[start : start + _CHUNK], now, start), now)
            items.extend(counted)
            if halted is not None:
                break
            await asyncio.sleep(0)
        story_changes, indexed = tagger.flush()
        return self.core.outcome(items, halted, TaggedBatch(items, story_changes, indexed), now)

    async def load_state(
        self, stories: dict[str, bytes], incidents: dict[str, bytes]
    ) -> tuple[int, int, list[TableChange]]:
        return self.core.load_state(stories, incidents)

    def close(self) -> None:
        pass


def _serve(conn: Connection, parent_end: Connection, tagger: StoryTagger) -> None:
    """The child's loop: one request, one answer, until the pipe closes (the service stopped or
    died: the child holds no copy of the service's end, so it sees the end of file)."""
    parent_end.close()
    # Ctrl-C in a terminal reaches the whole process group: the service decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        result: Any
        if op == "tag":
            result = tagger.tag_batch(*args)
        elif op == "load":
            result = tagger.load(*args)
        else:
            result = ValueError(f"unknown request {op!r}")
        conn.send(result)


class ProcessCore:
    """The :class:`StoryTagger` in a forked child process (calls run one at a time, off the event
    loop); the :class:`IncidentDesk` in the event loop."""

    def __init__(self, core: ClassifierCore) -> None:
        self._core = core
        self._previous: asyncio.Future[None] | None = None  # the last decide's completion
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe()
        gc.freeze()  # what exists now stays shared with the child instead of being copied by the GC
        self._process = context.Process(
            target=_serve,
            args=(child_conn, self._conn, core.tagger),
            name="borderwatch-classifier-core",
            daemon=True,
        )
        self._process.start()
        child_conn.close()
        self._calls = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier-core")

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _call(self, op: str, args: tuple[Any, ...]) -> Any:
        try:
            self._conn.send((op, args))
            result = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise CoreFailed(
                f"the tagging process (pid {self._process.pid}) is gone: exit code {self._process.exitcode}"
            ) from exc
        if isinstance(result, Exception):
            raise CoreFailed(f"the tagging process failed: {result}")
        return result

    async def _run(self, op: str, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._calls, self._call, op, args)

    async def decide(self, values: Sequence[bytes | None], now: datetime) -> BatchOutcome:
        """Several calls may overlap: the child tags their batches in call order (one queue), and
        each batch's incidents are counted after the previous batch's."""
        previous = self._previous
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._previous = done
        try:
            tagged: TaggedBatch = await self._run("tag", values, now)
            if previous is not None:
                await previous
            return self._core.complete(tagged, now)
        finally:
            done.set_result(None)

    async def load_state(
        self, stories: dict[str, bytes], incidents: dict[str, bytes]
    ) -> tuple[int, int, list[TableChange]]:
        story_count, story_changes = await self._run("load", stories)
        incident_count, incident_changes = self._core.desk.load(incidents)
        return story_count, incident_count, story_changes + incident_changes

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._calls.shutdown(wait=False)


def make_runner(core: ClassifierCore, processes: int) -> CoreRunner:
    """``processes`` 0: the core runs in the event loop; 1: in a tagging process."""
    return InlineCore(core) if processes == 0 else ProcessCore(core)
