"""Where the classifier's core runs: in the event loop, or half of it in a tagging process.

Decoding, tagging and encoding (:class:`~services.classifier.batch_core.BatchTagger`) cost most
of the CPU per item. With :class:`ProcessCore` they run in a child process, so the event loop
gives a batch its story ids, sends another batch's outputs, takes their acknowledgements, counts
incidents (the two desks of :mod:`~services.classifier.batch_core`, which hold all the state)
and fetches the next batch while the child tags. Each call carries one batch of raw bytes with
their story ids one way and encoded events with their incident reports the other (no model
objects cross the pipe).

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
from typing import Protocol

from services.classifier.batch_core import (
    BatchOutcome,
    BatchTagger,
    ClassifierCore,
    Item,
    Story,
    TableChange,
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
        core = self.core
        items: list[Item] = []
        halted: str | None = None
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            tagged = core.tagger.tag(chunk, core.stories.assign(chunk, now, start), now, start)
            counted, halted = core.desk.count(tagged, now)
            items.extend(counted)
            if halted is not None:
                break
            await asyncio.sleep(0)
        return core.outcome(items, halted, core.stories.flush(), now)

    async def load_state(
        self, stories: dict[str, bytes], incidents: dict[str, bytes]
    ) -> tuple[int, int, list[TableChange]]:
        return self.core.load_state(stories, incidents)

    def close(self) -> None:
        pass


def _serve(conn: Connection, parent_end: Connection, tagger: BatchTagger) -> None:
    """The child's loop: one batch in, its items out, until the pipe closes (the service stopped
    or died: the child holds no copy of the service's end, so it sees the end of file)."""
    parent_end.close()
    # Ctrl-C in a terminal reaches the whole process group: the service decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            values, stories, now = conn.recv()
        except (EOFError, OSError):
            return
        result: list[Item] | Exception
        try:
            result = tagger.tag(values, stories, now)
        except Exception as exc:  # each value is isolated inside; this would be a bug, reported whole
            result = exc
        conn.send(result)


class ProcessCore:
    """The :class:`~services.classifier.batch_core.BatchTagger` in a forked child process (calls
    run one at a time, off the event loop); the story and incident desks in the event loop."""

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

    def _call(self, values: Sequence[bytes | None], stories: list[Story], now: datetime) -> list[Item]:
        try:
            self._conn.send((values, stories, now))
            result: list[Item] | Exception = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise CoreFailed(
                f"the tagging process (pid {self._process.pid}) is gone: exit code {self._process.exitcode}"
            ) from exc
        if isinstance(result, Exception):
            raise CoreFailed(f"the tagging process failed: {result}")
        return result

    async def decide(self, values: Sequence[bytes | None], now: datetime) -> BatchOutcome:
        """Several calls may overlap: story ids are given in call order (before the first await),
        the child tags the batches in call order (one queue), and each batch's incidents are
        counted after the previous batch's."""
        stories = self._core.stories.assign(values, now)
        story_writes = self._core.stories.flush()
        previous = self._previous
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._previous = done
        try:
            loop = asyncio.get_running_loop()
            items = await loop.run_in_executor(self._calls, self._call, values, stories, now)
            if previous is not None:
                await previous
            return self._core.complete(items, story_writes, now)
        finally:
            done.set_result(None)

    async def load_state(
        self, stories: dict[str, bytes], incidents: dict[str, bytes]
    ) -> tuple[int, int, list[TableChange]]:
        return self._core.load_state(stories, incidents)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._calls.shutdown(wait=False)


def tagging_processes(configured: int | None, cpus: int) -> int:
    """How many tagging processes to run: as configured, else one when there is a second CPU for
    it (the event loop keeps the other; on one CPU a tagging process only adds copying)."""
    if configured is not None:
        return configured
    return 1 if cpus >= 2 else 0


def make_runner(core: ClassifierCore, processes: int) -> CoreRunner:
    """``processes`` 0: the core runs in the event loop; 1: in a tagging process."""
    return InlineCore(core) if processes == 0 else ProcessCore(core)
