"""Publishing raw items exactly as the contract promises: acknowledged first, then marked seen.

For each batch: items already in the seen-set (or being sent right now by another request)
are duplicates; the others are sent to the broker (``acks=all``) and only once the broker
acknowledged a message is its id written to the seen-set. A crash between the two can produce a
duplicate downstream (consumers de-duplicate by id), never a loss.

The number of messages sent and not yet acknowledged is bounded (``max_inflight``); callers
wait for room. kafka-python's ``send()`` may block (missing metadata, full buffer), so sends run
on one worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.raw_items import RawItemV1
from services.ingest.batches import EncodedItem, encoded
from services.ingest.metrics import IngestMetrics
from services.ingest.schedule import BrokerGate

log = logging.getLogger(__name__)


class SeenStore(Protocol):
    async def seen(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already published; raises on a storage failure."""
        ...

    async def mark(self, ids: Sequence[str]) -> None: ...


class Producer(Protocol):
    """The part of kafka-python's ``KafkaProducer`` the publisher uses."""

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Any: ...


class PublishUnavailable(Exception):
    """The broker or the seen-set cannot take items now; retry after ``retry_after_s``.

    ``accepted`` lists the ids of this batch that the broker did acknowledge before the failure.
    """

    def __init__(self, message: str, retry_after_s: float, accepted: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.accepted = list(accepted)


@dataclass
class PublishResult:
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


class _Capacity:
    """A counting semaphore that can take several units at once (bounded in-flight messages)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = asyncio.Condition()

    async def acquire(self, n: int) -> int:
        n = min(n, self.limit)
        async with self._cond:
            await self._cond.wait_for(lambda: self.used + n <= self.limit)
            self.used += n
        return n

    async def release(self, n: int) -> None:
        async with self._cond:
            self.used -= n
            self._cond.notify_all()


class _AckTracker:
    """Counts broker acknowledgements of one batch on the producer's I/O thread.

    Wakes the event loop once, when the last message of the batch is settled (not once per
    message: at thousands of messages per second that wake-up is the bottleneck).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, keys: Sequence[str]) -> None:
        self._loop = loop
        self._remaining = len(keys)
        self._lock = threading.Lock()
        self.acked: list[str] = []
        self.error: BaseException | None = None
        self.done: asyncio.Future[None] = loop.create_future()
        self._abandoned = False
        if not keys:
            self.done.set_result(None)

    def _settle(self, key: str, error: BaseException | None) -> None:
        with self._lock:
            if self._abandoned:
                return
            if error is None:
                self.acked.append(key)
            elif self.error is None:
                self.error = error
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._loop.call_soon_threadsafe(_resolve, self.done)

    def callbacks(self, key: str) -> tuple[Any, Any]:
        return (lambda _meta: self._settle(key, None)), (lambda exc: self._settle(key, exc))

    def fail_unsent(self, keys: Sequence[str], error: BaseException) -> None:
        for key in keys:
            self._settle(key, error)

    def abandon(self, error: BaseException) -> None:
        """Give up on what is still unsettled: it counts as failed, later answers are ignored."""
        with self._lock:
            if self._remaining > 0 and self.error is None:
                self.error = error
            self._remaining = 0
            self._abandoned = True
        self._loop.call_soon_threadsafe(_resolve, self.done)


class ProducerStuck(Exception):
    """The producer settled neither way within its delivery timeout (it is replaced)."""


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Publisher:
    """Sends raw items to ``topic`` with de-duplication; see the module docstring for guarantees."""

    def __init__(
        self,
        producer: Producer,
        seen: SeenStore,
        *,
        topic: str,
        metrics: IngestMetrics,
        gate: BrokerGate,
        max_inflight: int = 10_000,
        settle_timeout_s: float | None = None,
        replace_producer: Callable[[], None] | None = None,
    ) -> None:
        self._producer = producer
        self._seen = seen
        self._topic = topic
        self._metrics = metrics
        self.gate = gate
        self._capacity = _Capacity(max_inflight)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-send")
        self._pending: dict[str, asyncio.Future[bool]] = {}
        # A producer must settle every send (ack or error) within its delivery timeout; one that
        # does not is wedged (kafka-python can stop sending for good when batches expired while
        # the broker restarted), and waiting on it would hold those items forever.
        self._settle_timeout_s = settle_timeout_s
        self._replace_producer = replace_producer

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    async def drain(self, timeout_s: float) -> None:
        """Wait until every batch in flight was acknowledged or failed (at most ``timeout_s``)."""
        pending = [f for f in self._pending.values() if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    def _unavailable(self, message: str, accepted: Sequence[str] = ()) -> PublishUnavailable:
        return PublishUnavailable(message, max(1.0, self.gate.seconds_until_retry()), accepted)

    async def publish(self, items: Sequence[RawItemV1 | EncodedItem], origin: str) -> PublishResult:
        """Publish ``items``; raises :class:`PublishUnavailable` when nothing or not all was taken."""
        unique: dict[str, EncodedItem] = {}
        in_batch_duplicates: list[str] = []
        for item in items:
            if item.id in unique:
                in_batch_duplicates.append(item.id)
            else:
                unique[item.id] = item if isinstance(item, EncodedItem) else encoded(item)
        if not self.gate.allow():
            raise self._unavailable("broker unavailable")
        try:
            already = await self._seen.seen(list(unique))
        except Exception as exc:
            self._metrics.redis_errors.inc()
            log.warning("seen-set unavailable: %s", type(exc).__name__)
            raise PublishUnavailable("de-duplication store unavailable", 5.0) from None
        waits = {i: self._pending[i] for i in unique if i not in already and i in self._pending}
        new = [item for i, item in unique.items() if i not in already and i not in waits]
        result = PublishResult(duplicates=[*sorted(already), *in_batch_duplicates])
        failure: PublishUnavailable | None = None
        if new:
            try:
                result.accepted = await self._send(new)
            except PublishUnavailable as exc:
                failure = exc
        for item_id, fut in waits.items():
            # Another request is sending the same item: it is a duplicate once that send succeeded.
            if await asyncio.shield(fut):
                result.duplicates.append(item_id)
            elif failure is None:
                failure = self._unavailable("broker unavailable")
        self._metrics.items.labels(origin=origin, outcome="accepted").inc(
            len(failure.accepted) if failure else len(result.accepted)
        )
        if failure is not None:
            raise failure
        self._metrics.items.labels(origin=origin, outcome="duplicate").inc(len(result.duplicates))
        return result

    async def _send(self, items: list[EncodedItem]) -> list[str]:
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[bool]] = {}
        for item in items:
            futures[item.id] = self._pending[item.id] = loop.create_future()
        taken = await self._capacity.acquire(len(items))
        self._metrics.inflight_messages.inc(len(items))
        started = time.perf_counter()
        tracker = _AckTracker(loop, [i.id for i in items])
        acked: list[str] = []
        try:
            records = [(item.id, item.value) for item in items]
            await loop.run_in_executor(self._executor, self._send_all, records, tracker)
            await self._settled(tracker)
            acked = list(tracker.acked)
            self._metrics.observe_ingested(items, acked)
            if acked:
                try:
                    await self._seen.mark(acked)
                except Exception as exc:
                    self._metrics.redis_errors.inc()
                    # Already durable in Kafka: still accepted; a re-send may be a duplicate downstream.
                    log.warning("could not record %d ids as seen: %s", len(acked), type(exc).__name__)
        finally:
            self._metrics.inflight_messages.dec(len(items))
            await self._capacity.release(taken)
            acked_set = set(acked)
            for item_id, fut in futures.items():
                self._pending.pop(item_id, None)
                if not fut.done():
                    fut.set_result(item_id in acked_set)
        self._metrics.publish_seconds.observe(time.perf_counter() - started)
        if tracker.error is not None:
            self.gate.record_failure()
            self._metrics.broker_available.set(0)
            self._metrics.broker_errors.inc()
            log.warning(
                "broker refused %d of %d message(s): %s",
                len(items) - len(acked),
                len(items),
                type(tracker.error).__name__,
            )
            raise self._unavailable("broker did not acknowledge every item", accepted=acked)
        self.gate.record_success()
        self._metrics.broker_available.set(1)
        return acked

    async def _settled(self, tracker: _AckTracker) -> None:
        if self._settle_timeout_s is None:
            await tracker.done
            return
        try:
            await asyncio.wait_for(asyncio.shield(tracker.done), self._settle_timeout_s)
        except TimeoutError:
            log.error("the producer settled nothing for %.0fs; replacing it", self._settle_timeout_s)
            tracker.abandon(ProducerStuck("the producer did not settle its sends in time"))
            if self._replace_producer is not None:
                try:
                    await asyncio.get_running_loop().run_in_executor(self._executor, self._replace_producer)
                except Exception as exc:  # the next stuck batch tries again
                    log.error("could not replace the producer: %s", type(exc).__name__)
            await tracker.done

    def _send_all(self, records: list[tuple[str, bytes]], tracker: _AckTracker) -> None:
        for n, (key, value) in enumerate(records):
            try:
                future = self._producer.send(self._topic, key=key.encode(), value=value)
            except Exception as exc:  # KafkaTimeoutError when metadata or buffer space is missing
                tracker.fail_unsent([k for k, _ in records[n:]], exc)
                return
            on_ok, on_error = tracker.callbacks(key)
            future.add_callback(on_ok)
            future.add_errback(on_error)

    async def send_raw(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Send one message (a dead letter) and wait for the broker's acknowledgement."""
        loop = asyncio.get_running_loop()
        tracker = _AckTracker(loop, ["-"])

        def send() -> None:
            try:
                future = self._producer.send(topic, value=value, headers=headers)
            except Exception as exc:
                tracker.fail_unsent(["-"], exc)
                return
            on_ok, on_error = tracker.callbacks("-")
            future.add_callback(on_ok)
            future.add_errback(on_error)

        await loop.run_in_executor(self._executor, send)
        await tracker.done
        if tracker.error is not None:
            self.gate.record_failure()
            self._metrics.broker_available.set(0)
            self._metrics.broker_errors.inc()
            raise self._unavailable("broker did not acknowledge the dead letter")
