"""Delivering decided alerts from the outbox: plan → silence/inhibit → dedup → rate-limit → send → record.

:class:`Dispatcher` takes outbox entries and turns each into deliveries, one per (subscriber,
channel) its rule routes to. Three loops share the work, and none of them waits for a send:

- the reader takes new entries (one read, carrying pending acknowledgements) and prechecks the
  whole batch at once (sent markers and inhibition, one round trip);
- the sender starts due deliveries as tasks, at most ``concurrency`` at a time per channel (one at
  a time on a rate-limited channel, whose token bucket is spent per message). Nothing sleeps: a
  delivery that must wait (a retry after 429/5xx with jittered, capped backoff honouring
  ``Retry-After``, or a channel out of tokens) is rescheduled in memory while its entry stays
  unacknowledged in the stream, so other alerts and channels keep flowing and a crash re-delivers
  it. A ``Retry-After`` pauses the whole channel until then (the receiver's limit is per
  webhook, not per message). A rate-limited channel whose bucket cannot take every due message
  sends them as ONE digest;
- the recorder writes the sent markers of every send that finished meanwhile in one round trip
  (with acknowledgements of entries finished before), then publishes the alerts whose deliveries
  are all done, together; their acknowledgements ride on the next round trip.

Permanent failures go to the alerts dead-letter topic. An entry is acknowledged once every
delivery is done and the alert was published.

No Redis, Kafka or HTTP import here: the outbox, channels and publishers are injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from schemas.alerts import AlertV1
from schemas.codec import InvalidMessage, decode_as
from services.common.clock import Clock, utc_now
from services.notifier.channels.base import (
    Channel,
    Notification,
    PermanentSendError,
    RetryableSendError,
    backoff_delay,
)
from services.notifier.metrics import NotifierMetrics
from services.notifier.outbox import OutboxEntry, Precheck
from services.notifier.ratelimit import TokenBucket
from services.notifier.render import ingest_to_delivery_seconds
from services.notifier.routing import PlannedDelivery, inhibition, plan_deliveries
from services.notifier.silences import Silence, silenced_by
from services.notifier.subscribers import ResolvedTarget, SubscriberFile, previous_digest_at

log = logging.getLogger(__name__)

Publish = Callable[[AlertV1], Awaitable[None]]
DeadLetter = Callable[[str, bytes], Awaitable[None]]
FaultHook = Callable[[str], Awaitable[None]]


async def _no_fault(point: str) -> None:
    return None


class DeliveryStore(Protocol):
    """What the dispatcher needs of the outbox (:class:`~services.notifier.outbox.Outbox` in Redis)."""

    async def ensure_group(self) -> None: ...

    async def read(
        self, *, ack: Sequence[str] = (), pending: bool = False, count: int = 100, block_ms: int = 500
    ) -> list[OutboxEntry]: ...

    async def claim_stale(self, min_idle_ms: int, count: int = 100) -> list[OutboxEntry]: ...

    async def touch(self, entry_ids: Sequence[str]) -> None: ...

    async def ack(self, entry_ids: Sequence[str]) -> None: ...

    async def precheck_many(
        self, checks: Sequence[Precheck], inhibit_ttl_s: int
    ) -> list[tuple[bool, list[bool]]]: ...

    async def record(self, delivery_keys: Sequence[str], ttl_s: int, ack: Sequence[str] = ()) -> None: ...

    async def queue_digest(self, target_key: str, delivery_key: str, alert_json: str, ttl_s: int) -> None: ...

    async def take_digest(self, target_key: str, slot: str, lock_ttl_s: int) -> list[str] | None: ...

    async def finish_digest(self, target_key: str, slot: str, count: int) -> None: ...

    async def release_digest(self, target_key: str) -> None: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    sent_ttl_s: int = 15 * 86400
    inhibit_ttl_s: int = 6 * 3600
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    stale_claim_s: float = 30.0
    rescan_s: float = 2.0
    concurrency: int = 8
    """Sends in flight at once per channel without a rate limit (rate-limited ones: one)."""
    read_count: int = 200
    record_linger_s: float = 0.01
    """Wait up to this long for the sends in flight to end, so their markers share one write."""
    drain_s: float = 10.0
    """On stop, how long sends in flight may take to finish (and be recorded)."""


@dataclass
class _Entry:
    entry_id: str
    alert: AlertV1
    remaining: set[str]
    delivered_at: datetime | None = None


@dataclass
class _Pending:
    due: float
    delivery: PlannedDelivery
    entry: _Entry
    attempt: int = 0
    in_flight: bool = False


@dataclass
class _Plan:
    entry_id: str
    alert: AlertV1
    planned: list[PlannedDelivery]
    mode: str
    token: str


class Dispatcher:
    def __init__(
        self,
        *,
        outbox: DeliveryStore,
        subscribers: SubscriberFile,
        targets: Sequence[ResolvedTarget],
        channels: dict[str, Channel],
        routes_of: Callable[[str], list[str] | None],
        silences: Callable[[], list[Silence]],
        publish: Publish,
        dead_letter: DeadLetter,
        metrics: NotifierMetrics,
        policy: DeliveryPolicy = DeliveryPolicy(),
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        fault: FaultHook = _no_fault,
    ) -> None:
        self._outbox = outbox
        self._subscribers = subscribers
        self._targets = [t for t in targets if t.key in channels]
        self._channels = channels
        self._routes_of = routes_of
        self._silences = silences
        self._publish = publish
        self._dead_letter = dead_letter
        self._metrics = metrics
        self._policy = policy
        self._clock = clock
        self._mono = monotonic
        self._fault = fault
        self._buckets: dict[str, TokenBucket] = {}
        now = monotonic()
        for t in self._targets:
            limit = getattr(t.target, "rate_limit", None)
            if limit is not None:
                self._buckets[t.key] = TokenBucket(limit.per_second, limit.burst, now)
        # Entries taken and not yet published (touched so no other process claims them).
        self._held: dict[str, _Entry] = {}
        # Deliveries to make, per channel, oldest first (id → delivery: O(1) removal).
        self._queues: dict[str, dict[int, _Pending]] = {}
        self._busy: dict[str, int] = {}
        # A channel that answered Retry-After gets nothing before then (the limit is the
        # receiver's, not one message's).
        self._paused_until: dict[str, float] = {}
        self._sends: set[asyncio.Task[None]] = set()
        self._done: list[_Pending] = []  # sent or given up: markers to write
        self._finished: list[_Entry] = []  # nothing (more) to send: to publish
        self._unpublished: list[_Entry] = []
        self._to_ack: list[str] = []
        self._wake_sender = asyncio.Event()
        self._wake_recorder = asyncio.Event()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def held(self) -> int:
        return len(self._held)

    # -- the loops ------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver until :meth:`stop`; Redis errors are logged and retried, never fatal.

        On stop, sends in flight may finish (up to ``drain_s``) and are recorded; entries not
        finished stay pending in the stream for the next start (or another process).
        """
        await self._outbox.ensure_group()
        await self.accept(await self._outbox.read(pending=True, count=10_000))
        loops = [
            asyncio.create_task(self._read_loop(), name="outbox-reader"),
            asyncio.create_task(self._send_loop(), name="outbox-sender"),
            asyncio.create_task(self._record_loop(), name="outbox-recorder"),
        ]
        try:
            stopped = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait([*loops, stopped], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            for task in done:
                if task is not stopped:
                    task.result()  # a loop only ends by raising
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._drain()

    async def _drain(self) -> None:
        if self._sends:
            _, late = await asyncio.wait(self._sends, timeout=self._policy.drain_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:
            await self._record_once()
            if self._to_ack:
                await self._outbox.ack(self._to_ack)
                self._to_ack = []
        except Exception as exc:  # the entries stay pending: the next start re-checks them
            log.warning("could not record the last deliveries on stop (%s)", type(exc).__name__)

    async def _read_loop(self) -> None:
        next_rescan = self._mono() + self._policy.rescan_s
        while True:
            try:
                if self._mono() >= next_rescan:
                    await self._outbox.touch(list(self._held))
                    claimed = await self._outbox.claim_stale(int(self._policy.stale_claim_s * 1000))
                    await self.accept(claimed)
                    next_rescan = self._mono() + self._policy.rescan_s
                ack, self._to_ack = self._to_ack, []
                try:
                    block_ms = max(1, min(500, int((next_rescan - self._mono()) * 1000)))
                    entries = await self._outbox.read(
                        ack=ack, count=self._policy.read_count, block_ms=block_ms
                    )
                except BaseException:
                    self._to_ack[:0] = ack
                    raise
                await self.accept(entries)
            except Exception as exc:  # Redis trouble: keep the entries, try again
                log.warning("outbox read error (%s); retrying", type(exc).__name__)
                log.debug("outbox read error", exc_info=True)
                await asyncio.sleep(0.5)

    async def _send_loop(self) -> None:
        while True:
            self._wake_sender.clear()
            next_due = self._start_due()
            timeout = None if next_due is None else max(0.0, next_due - self._mono())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_sender.wait(), timeout)

    async def _record_loop(self) -> None:
        while True:
            timeout = 0.5 if self._unpublished else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_recorder.wait(), timeout)
            self._wake_recorder.clear()
            if self._sends and self._policy.record_linger_s > 0:
                await asyncio.wait(set(self._sends), timeout=self._policy.record_linger_s)
            await self._record_once()

    # -- taking entries -------------------------------------------------------------------
    async def accept(self, entries: list[OutboxEntry]) -> None:
        """Plan the deliveries of new entries and precheck them all in one round trip."""
        plans: list[_Plan] = []
        for entry_id, fields in entries:
            if entry_id in self._held:
                continue
            plan = await self._plan(entry_id, fields)
            if plan is not None:
                plans.append(plan)
        needs = [p for p in plans if p.planned or p.mode == "set"]
        results = await self._outbox.precheck_many(
            [Precheck([d.key for d in p.planned], p.mode, p.token, p.alert.alert_id) for p in needs],
            self._policy.inhibit_ttl_s,
        )
        checked = {id(p): r for p, r in zip(needs, results, strict=True)}
        mono = self._mono()
        for plan in plans:
            inhibited, sent = checked.get(id(plan), (False, [False] * len(plan.planned)))
            todo = [d for d, done in zip(plan.planned, sent, strict=True) if not done]
            if len(todo) < len(plan.planned):
                self._metrics.alerts.labels(plan.alert.rule_id, "suppressed_dedup").inc()
            if inhibited and todo:
                log.info("alert %s inhibited by a critical alert for %s", plan.alert.alert_id, plan.token)
                self._metrics.muted.labels("inhibited").inc()
                self._metrics.alerts.labels(plan.alert.rule_id, "suppressed_inhibit").inc()
                todo = []
            entry = _Entry(plan.entry_id, plan.alert, {d.key for d in todo})
            self._held[plan.entry_id] = entry
            for d in todo:
                if d.digest:
                    await self._outbox.queue_digest(
                        d.target.key, d.key, plan.alert.model_dump_json(), self._policy.sent_ttl_s
                    )
                    entry.remaining.discard(d.key)
                else:
                    pending = _Pending(mono, d, entry)
                    self._queues.setdefault(d.target.key, {})[id(pending)] = pending
            if not entry.remaining:
                self._finished.append(entry)
        self._metrics.outbox_held.set(len(self._held))
        if self._finished:
            self._wake_recorder.set()
        if plans:
            self._wake_sender.set()

    async def _plan(self, entry_id: str, fields: dict[str, str]) -> _Plan | None:
        raw = fields.get("alert")
        try:
            alert = decode_as(AlertV1, raw)
        except InvalidMessage as exc:
            log.error("outbox entry %s is unreadable (%s); dead-lettering it", entry_id, exc.reason)
            await self._dead_letter(f"outbox entry: {exc.reason}", (raw or "").encode())
            self._to_ack.append(entry_id)
            return None
        self._metrics.alerts_decided.labels(alert.status).inc()
        routes = self._routes_of(alert.rule_id)
        if routes is None:
            log.warning(
                "alert %s names rule %s, which is not configured; dropping", alert.alert_id, alert.rule_id
            )
            self._to_ack.append(entry_id)
            return None
        planned = plan_deliveries(alert, routes, self._subscribers, self._targets)
        silence = silenced_by(self._silences(), alert, self._clock())
        if silence is not None and planned:
            log.info("alert %s silenced by %s", alert.alert_id, silence.id)
            self._metrics.muted.labels("silenced").inc()
            self._metrics.alerts.labels(alert.rule_id, "suppressed_silence").inc()
            planned = []
        mode, token = inhibition(alert)
        return _Plan(entry_id, alert, planned, mode, token)

    # -- sending --------------------------------------------------------------------------
    def _start_due(self) -> float | None:
        """Start what is due on every channel with a free slot; return when to look again
        (None: nothing waits on time; a channel without a free slot wakes the loop itself)."""
        now = self._mono()
        next_due: float | None = None
        for key, queue in self._queues.items():
            bucket = self._buckets.get(key)
            free = (1 if bucket else self._policy.concurrency) - self._busy.get(key, 0)
            if free <= 0 or not queue:
                continue
            paused = self._paused_until.get(key, 0.0)
            if paused > now:
                next_due = paused if next_due is None else min(next_due, paused)
                continue
            due: list[_Pending] = []
            for p in queue.values():
                if p.in_flight:
                    continue
                if p.due <= now:
                    due.append(p)
                    if bucket is None and len(due) >= free:
                        break  # the rest waits for a free slot
                elif next_due is None or p.due < next_due:
                    next_due = p.due
            if due:
                self._start_target(key, due, free, now)
                later = [p.due for p in due if not p.in_flight]  # waiting for a token
                if later:
                    next_due = min([*later, *([next_due] if next_due is not None else [])])
        return next_due

    def _start_target(self, key: str, items: list[_Pending], free: int, now: float) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            for p in items[:free]:
                self._spawn(key, [p])
            return
        available = bucket.available(now)
        if available < 1:
            at = bucket.next_token_at(now)
            for p in items:
                p.due = max(p.due, at)
            return
        bucket.take(now)
        if len(items) <= available:
            self._spawn(key, [items[0]])  # the others follow one by one, while tokens last
        else:
            self._metrics.digests.labels("burst").inc()
            self._spawn(key, items)

    def _spawn(self, key: str, batch: list[_Pending]) -> None:
        for p in batch:
            p.in_flight = True
        self._busy[key] = self._busy.get(key, 0) + 1
        task = asyncio.create_task(self._send(key, batch))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, key: str, batch: list[_Pending]) -> None:
        try:
            if await self._attempt(batch):
                self._done.extend(batch)
                self._wake_recorder.set()
        except Exception as exc:  # e.g. the dead-letter topic is away: try the batch again later
            log.warning("delivery to %s failed unexpectedly (%s); will retry", key, type(exc).__name__)
            log.debug("delivery error", exc_info=True)
            self._reschedule(batch, None)
        finally:
            self._busy[key] -= 1
            self._wake_sender.set()

    async def _attempt(self, batch: list[_Pending]) -> bool:
        """Send once; True when the deliveries are done (sent, or dead-lettered for good)."""
        first = batch[0].delivery
        channel = self._channels[first.target.key]
        kind = first.target.target.type
        notification = Notification(
            subscriber=first.subscriber.id,
            channel=first.target.target.name,
            alerts=tuple(p.delivery.alert for p in batch),
            sent_at=self._clock(),
        )
        await self._fault("before_send")
        started = self._mono()
        try:
            await channel.send(notification)
        except RetryableSendError as exc:
            self._metrics.deliveries.labels(kind, "retry").inc()
            if exc.retry_after_s is not None:
                pause = min(exc.retry_after_s, self._policy.backoff_cap_s)
                self._paused_until[first.target.key] = self._mono() + pause
            self._reschedule(batch, exc.retry_after_s)
            log.warning(
                "delivery to %s/%s will be retried (attempt %d): %s",
                first.subscriber.id,
                first.target.target.name,
                batch[0].attempt,
                exc,
            )
            return False
        except PermanentSendError as exc:
            self._metrics.deliveries.labels(kind, "permanent").inc()
            reason = f"{first.subscriber.id}/{first.target.target.name}: {exc}"
            log.error("delivery failed permanently: %s", reason)
            for p in batch:
                await self._dead_letter(reason, p.delivery.alert.model_dump_json().encode())
        else:
            self._metrics.deliveries.labels(kind, "ok").inc()
            delivered = self._clock()
            self._metrics.send_seconds.labels(kind).observe(self._mono() - started)
            for p in batch:
                latency = ingest_to_delivery_seconds(p.delivery.alert, delivered)
                if latency is not None:
                    self._metrics.ingest_to_delivery_seconds.labels(kind).observe(max(0.0, latency))
                self._metrics.observe_delivered(p.delivery.alert, delivered)
                p.entry.delivered_at = p.entry.delivered_at or delivered
        await self._fault("after_send")
        return True

    def _reschedule(self, batch: list[_Pending], retry_after_s: float | None) -> None:
        self._metrics.delivery_retries.labels(batch[0].delivery.target.target.type).inc()
        for p in batch:
            p.attempt += 1
            p.in_flight = False
            p.due = self._mono() + backoff_delay(
                p.attempt,
                retry_after_s=retry_after_s,
                base_s=self._policy.backoff_base_s,
                cap_s=self._policy.backoff_cap_s,
            )

    # -- recording ------------------------------------------------------------------------
    async def _record_once(self) -> None:
        """Write the markers of finished sends (and pending acks) in one round trip, then
        publish the entries that are complete. Keeps trying while Redis is away: a delivery
        is never resent instead of being recorded."""
        done, self._done = self._done, []
        ack, self._to_ack = self._to_ack, []
        delay = 0.1
        while True:
            try:
                await self._outbox.record([p.delivery.key for p in done], self._policy.sent_ttl_s, ack)
                break
            except BaseException as exc:
                if self._stop.is_set() or not isinstance(exc, Exception):
                    self._done[:0] = done
                    self._to_ack[:0] = ack
                    raise
                log.warning("cannot record deliveries (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        if done:
            complete: dict[int, _Entry] = {}
            for p in done:
                self._queues[p.delivery.target.key].pop(id(p), None)
                p.entry.remaining.discard(p.delivery.key)
                if not p.entry.remaining:
                    complete[id(p.entry)] = p.entry
            self._finished.extend(complete.values())
        finished = self._unpublished + self._finished
        self._unpublished, self._finished = [], []
        if finished:
            await self._publish_all(finished)
        self._metrics.outbox_held.set(len(self._held))

    async def _publish_all(self, entries: list[_Entry]) -> None:
        """Publish together (the producer batches them); acks ride on the next round trip."""
        now = self._clock()
        results = await asyncio.gather(
            *(
                self._publish(e.alert.model_copy(update={"delivered_at": e.delivered_at or now}))
                for e in entries
            ),
            return_exceptions=True,
        )
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "cannot publish alert %s (%s); will retry", entry.alert.alert_id, type(result).__name__
                )
                self._unpublished.append(entry)
                continue
            self._metrics.alerts_published.labels(entry.alert.status).inc()
            self._held.pop(entry.entry_id, None)
            self._to_ack.append(entry.entry_id)

    # -- scheduled digests ----------------------------------------------------------------
    async def flush_digests(self, now: datetime) -> None:
        """Send each digest-mode subscriber's queued alerts once its local digest time passed."""
        for target in self._targets:
            sub = self._subscribers.subscriber(target.subscriber)
            if sub is None or sub.mode != "digest" or sub.digest is None:
                continue
            slot = previous_digest_at(now, sub.digest).isoformat()
            items = await self._outbox.take_digest(target.key, slot, lock_ttl_s=120)
            if items is None:
                continue
            alerts = []
            for raw in items:
                try:
                    alerts.append(AlertV1.model_validate_json(raw))
                except ValidationError:
                    log.error("dropping an unreadable digest item for %s", target.key)
            if alerts:
                notification = Notification(sub.id, target.target.name, tuple(alerts), self._clock())
                try:
                    await self._channels[target.key].send(notification)
                except RetryableSendError as exc:
                    self._metrics.deliveries.labels(target.target.type, "retry").inc()
                    self._metrics.delivery_retries.labels(target.target.type).inc()
                    log.warning("digest for %s will be retried: %s", target.key, exc)
                    await self._outbox.release_digest(target.key)
                    continue
                except PermanentSendError as exc:
                    self._metrics.deliveries.labels(target.target.type, "permanent").inc()
                    await self._dead_letter(f"{target.key} digest: {exc}", "\n".join(items).encode())
                else:
                    self._metrics.deliveries.labels(target.target.type, "ok").inc()
                    self._metrics.digests.labels("scheduled").inc()
            await self._outbox.finish_digest(target.key, slot, len(items))
