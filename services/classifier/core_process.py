"""Where the classifier's core runs: in the event loop, or its tagging in a tagging process.

Decoding, tagging and encoding (:class:`~services.classifier.batch_tagger.BatchTagger`) cost most
of the CPU per item. With :class:`ProcessCore` they run in a tagging process
(:mod:`services.classifier.tagging_process`), so the event loop gives a batch its story ids, sends
another batch's outputs, takes their acknowledgements, counts incidents (the two desks of
:mod:`~services.classifier.batch_core`, which hold all the state) and fetches the next batch
while the tagging process tags. Each call carries one batch of raw bytes with their story ids one
way and encoded events with their incident reports the other (no model objects cross).

The tagging process is a fresh interpreter, started before the faust worker and ready (its
tagger loaded from the service's files) before the service goes on. If it dies, the call raises
:class:`CoreFailed` and the service halts without committing the batch, which is then decided
again after a restart (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

from services.classifier.batch_core import BatchOutcome, ClassifierCore, TableChange
from services.classifier.batch_tagger import Item, Story, decode_all

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
            counted, halted = core.desk.count(core.tag(values[start : start + _CHUNK], now, start), now)
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


class ProcessCore:
    """The :class:`~services.classifier.batch_tagger.BatchTagger` in a tagging process (calls run
    one at a time, off the event loop); the story and incident desks in the event loop.

    ``taxonomy_file`` and ``gazetteer_path`` are the files the service loaded its tagger from;
    with ``taxonomy_version``, a tagging process that loaded another version fails the start."""

    def __init__(
        self,
        core: ClassifierCore,
        taxonomy_file: Path,
        gazetteer_path: Path,
        *,
        taxonomy_version: str | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        self._core = core
        self._previous: asyncio.Future[None] | None = None  # the last decide's completion
        ours, theirs = socket.socketpair()
        # The project's root on the path, whether it is installed or run from a checkout.
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services.classifier.tagging_process",
                    str(theirs.fileno()),
                    str(taxonomy_file),
                    str(gazetteer_path),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._calls = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier-core")
        try:
            self._await_ready(start_timeout_s, taxonomy_version)
        except BaseException:
            self.close()
            raise

    def _await_ready(self, timeout_s: float, taxonomy_version: str | None) -> None:
        try:
            if not self._conn.poll(timeout_s):
                raise CoreFailed(
                    f"the tagging process (pid {self._process.pid}) did not start in {timeout_s:g}s"
                )
            answer = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise CoreFailed(
                f"the tagging process (pid {self._process.pid}) ended while starting: "
                f"exit code {self._process.poll()}"
            ) from exc
        if isinstance(answer, Exception):
            raise CoreFailed(f"the tagging process could not start: {answer}")
        _, version = answer
        if taxonomy_version is not None and version != taxonomy_version:
            raise CoreFailed(
                f"the tagging process loaded taxonomy {version}, the service {taxonomy_version}: "
                "the file changed while starting"
            )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _call(self, values: Sequence[bytes | None], stories: list[Story], now: datetime) -> list[Item]:
        try:
            self._conn.send((values, stories, now))
            result: list[Item] | Exception = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise CoreFailed(
                f"the tagging process (pid {self._process.pid}) is gone: exit code {self._process.poll()}"
            ) from exc
        if isinstance(result, Exception):
            raise CoreFailed(f"the tagging process failed: {result}")
        return result

    async def decide(self, values: Sequence[bytes | None], now: datetime) -> BatchOutcome:
        """Several calls may overlap: story ids are given in call order (before the first await),
        the child tags the batches in call order (one queue), and each batch's incidents are
        counted after the previous batch's."""
        stories = self._core.stories.assign(decode_all(values), now)
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
            self._conn.close()  # the tagging process sees the end of file and ends
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._calls.shutdown(wait=False)


def tagging_processes(configured: int | None, cpus: int) -> int:
    """How many tagging processes to run: as configured, else one when there is a second CPU for
    it (the event loop keeps the other; on one CPU a tagging process only adds copying)."""
    if configured is not None:
        return configured
    return 1 if cpus >= 2 else 0


def make_runner(
    core: ClassifierCore,
    processes: int,
    taxonomy_file: Path,
    gazetteer_path: Path,
    taxonomy_version: str | None = None,
) -> CoreRunner:
    """``processes`` 0: the core runs in the event loop; 1: its tagging in a tagging process,
    which loads its tagger from ``taxonomy_file`` and ``gazetteer_path``."""
    if processes == 0:
        return InlineCore(core)
    return ProcessCore(core, taxonomy_file, gazetteer_path, taxonomy_version=taxonomy_version)
