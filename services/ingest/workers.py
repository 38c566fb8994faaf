"""Normalisation in worker processes, so that it runs beside the Kafka producer, not in turn with it.

Normalising an item (validation, HTML to text, URL canonicalisation, language detection) costs
about as much CPU as kafka-python spends sending it; in one process both share one interpreter
lock. A small process pool takes the normalisation; the service process keeps the producer, the
seen-set and the HTTP server. Small batches (a feed poll, a single pushed item) stay in-process:
the round trip to a worker would cost more than it saves.

Workers are spawned (not forked: the parent runs producer and executor threads) and warmed up
before they get work; until then (and with ``workers=0``) batches are normalised in-process, with
the same result. If a worker dies, the pool is replaced and the call raises :class:`NormaliseFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import ParamSpec, TypeVar

from services.ingest.batches import warm_up

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
# Batches smaller than this are normalised in the calling process.
MIN_POOLED_BATCH = 64


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group; the service decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_up()


class NormaliseFailed(RuntimeError):
    """A normalisation worker died (the pool was replaced); the batch was not normalised."""


class NormalisePool:
    """Runs batch functions of :mod:`services.ingest.batches` on ``workers`` processes (0: in-process)."""

    def __init__(self, workers: int, *, min_batch: int = MIN_POOLED_BATCH) -> None:
        self.workers = workers
        self.min_batch = min_batch
        self._executor: ProcessPoolExecutor | None = None
        self._starting: asyncio.Task[None] | None = None
        self._ready = False

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )

    async def start(self) -> None:
        """Start the workers and wait until each has imported and run the normalisation path."""
        if self.workers <= 0:
            return
        if self._starting is None:
            self._starting = asyncio.create_task(self._start(), name="normalise-pool-start")
        await asyncio.shield(self._starting)

    def start_soon(self) -> None:
        """Start the workers in the background; batches run in-process until they are ready."""
        if self.workers > 0 and self._starting is None:
            self._starting = asyncio.create_task(self._start(), name="normalise-pool-start")

    async def _start(self) -> None:
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, warm_up) for _ in range(self.workers)))
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    async def run(self, size: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a worker; here when ``size`` (items) is below ``min_batch`` or
        the workers are not ready yet."""
        executor = self._executor
        if not self._ready or executor is None or size < self.min_batch:
            return fn(*args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, partial(fn, *args, **kwargs))
        except BrokenProcessPool:
            log.error("a normalisation worker died; starting a new pool")
            if self._executor is executor:
                self._executor = self._new_executor()
                executor.shutdown(wait=False, cancel_futures=True)
            raise NormaliseFailed("a normalisation worker died") from None

    async def aclose(self) -> None:
        """Stop the workers (after a start in progress has finished)."""
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._ready = False
