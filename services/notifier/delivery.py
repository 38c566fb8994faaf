"""Delivering decided alerts from the outbox: plan → silence/inhibit → dedup → rate-limit → send → record.

:class:`Dispatcher` takes outbox entries and turns each into deliveries, one per (subscriber,
channel) its rule routes to. Nothing sleeps: a delivery that must wait (a retry after 429/5xx with
jittered, capped backoff honouring ``Retry-After``, or a channel out of tokens) is rescheduled in
memory while its entry stays unacknowledged in the stream, so other alerts keep flowing and a
crash re-delivers it. A channel whose token bucket cannot take every due message sends them as ONE
digest message instead of queueing many. Permanent failures go to the alerts dead-letter topic.
An entry is acknowledged once every delivery is done and the alert was published.

No Redis, Kafka or HTTP import here: the outbox, channels and publishers are injected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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
from services.notifier.outbox import Outbox, OutboxEntry
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


@dataclass(frozen=True)
class DeliveryPolicy:
    sent_ttl_s: int = 15 * 86400
    inhibit_ttl_s: int = 6 * 3600
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    stale_claim_s: float = 30.0
    rescan_s: float = 2.0


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
    sent: bool = field(default=False)


class Dispatcher:
    def __init__(
        self,
        *,
        outbox: Outbox,
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
        self._held: dict[str, _Entry] = {}
        self._queue: list[_Pending] = []
        self._to_ack: list[str] = []
        self._unpublished: list[_Entry] = []
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def held(self) -> int:
        return len(self._held)

    # -- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver until :meth:`stop`; Redis errors are logged and retried, never fatal."""
        await self._outbox.ensure_group()
        await self.accept(await self._outbox.read(pending=True, count=10_000))
        next_rescan = self._mono() + self._policy.rescan_s
        while not self._stop.is_set():
            try:
                if self._mono() >= next_rescan:
                    await self._outbox.touch(list(self._held))
                    claimed = await self._outbox.claim_stale(int(self._policy.stale_claim_s * 1000))
                    await self.accept(claimed)
                    next_rescan = self._mono() + self._policy.rescan_s
                await self.flush_due()
                entries = await self._outbox.read(ack=self._to_ack, block_ms=self._block_ms())
                self._to_ack = []
                await self.accept(entries)
                await self.flush_due()
            except Exception as exc:  # Redis or broker trouble: keep the entries, try again
                if self._stop.is_set():
                    break
                log.warning("delivery loop error (%s); retrying", type(exc).__name__)
                log.debug("delivery loop error", exc_info=True)
                await asyncio.sleep(0.5)
        if self._to_ack:
            await self._outbox.ack(self._to_ack)

    def _block_ms(self) -> int:
        if self._unpublished:
            return 50
        if not self._queue:
            return 500
        wait = min(p.due for p in self._queue) - self._mono()
        return max(1, min(500, int(wait * 1000)))

    # -- taking entries -------------------------------------------------------------------
    async def accept(self, entries: list[OutboxEntry]) -> None:
        fresh = [(i, f) for i, f in entries if i not in self._held]
        # Entries are independent: their prechecks (one round trip each) overlap.
        await asyncio.gather(*(self._accept_one(i, f) for i, f in fresh))
        self._metrics.outbox_held.set(len(self._held))

    async def _accept_one(self, entry_id: str, fields: dict[str, str]) -> None:
        raw = fields.get("alert")
        try:
            alert = decode_as(AlertV1, raw)
        except InvalidMessage as exc:
            log.error("outbox entry %s is unreadable (%s); dead-lettering it", entry_id, exc.reason)
            await self._dead_letter(f"outbox entry: {exc.reason}", (raw or "").encode())
            self._to_ack.append(entry_id)
            return
        self._metrics.alerts_decided.labels(alert.status).inc()
        routes = self._routes_of(alert.rule_id)
        if routes is None:
            log.warning(
                "alert %s names rule %s, which is not configured; dropping", alert.alert_id, alert.rule_id
            )
            self._to_ack.append(entry_id)
            return
        now = self._clock()
        planned = plan_deliveries(alert, routes, self._subscribers, self._targets)
        silence = silenced_by(self._silences(), alert, now)
        if silence is not None and planned:
            log.info("alert %s silenced by %s", alert.alert_id, silence.id)
            self._metrics.muted.labels("silenced").inc()
            planned = []
        mode, token = inhibition(alert)
        inhibited, sent = False, [False] * len(planned)
        if planned or mode == "set":
            inhibited, sent = await self._outbox.precheck(
                [p.key for p in planned], mode, token, self._policy.inhibit_ttl_s, alert.alert_id
            )
        todo = [p for p, done in zip(planned, sent, strict=True) if not done]
        if inhibited and todo:
            log.info("alert %s inhibited by a critical alert for %s", alert.alert_id, token)
            self._metrics.muted.labels("inhibited").inc()
            todo = []
        entry = _Entry(entry_id, alert, {p.key for p in todo})
        mono = self._mono()
        for p in todo:
            if p.digest:
                await self._outbox.queue_digest(
                    p.target.key, p.key, alert.model_dump_json(), self._policy.sent_ttl_s
                )
                entry.remaining.discard(p.key)
            else:
                self._queue.append(_Pending(mono, p, entry))
        if entry.remaining:
            self._held[entry_id] = entry
        else:
            await self._finish(entry)

    # -- sending --------------------------------------------------------------------------
    async def flush_due(self) -> None:
        if self._unpublished:
            retry, self._unpublished = self._unpublished, []
            for entry in retry:
                await self._finish(entry)
        now = self._mono()
        due: dict[str, list[_Pending]] = {}
        for p in self._queue:
            if p.due <= now:
                due.setdefault(p.delivery.target.key, []).append(p)
        if not due:
            return
        await asyncio.gather(*(self._send_target(key, items) for key, items in due.items()))
        self._queue = [p for p in self._queue if not p.sent]
        self._metrics.outbox_held.set(len(self._held))

    async def _send_target(self, key: str, items: list[_Pending]) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            # Unlimited channel: send concurrently (the HTTP client's pool bounds the fan-out).
            await asyncio.gather(*(self._send([p]) for p in items))
            return
        now = self._mono()
        available = bucket.available(now)
        if available < 1:
            at = bucket.next_token_at(now)
            for p in items:
                p.due = max(p.due, at)
            return
        if len(items) <= available:
            for p in items:
                bucket.take(now)
                await self._send([p])
        else:
            bucket.take(now)
            self._metrics.digests.labels("burst").inc()
            await self._send(items)

    async def _send(self, batch: list[_Pending]) -> None:
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
            for p in batch:
                p.attempt += 1
                p.due = self._mono() + backoff_delay(
                    p.attempt,
                    retry_after_s=exc.retry_after_s,
                    base_s=self._policy.backoff_base_s,
                    cap_s=self._policy.backoff_cap_s,
                )
            log.warning(
                "delivery to %s/%s will be retried (attempt %d): %s",
                first.subscriber.id,
                first.target.target.name,
                batch[0].attempt,
                exc,
            )
            return
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
                p.entry.delivered_at = p.entry.delivered_at or delivered
        await self._fault("after_send")
        await self._record([p.delivery.key for p in batch])
        for p in batch:
            p.sent = True
            p.entry.remaining.discard(p.delivery.key)
        for entry in {id(p.entry): p.entry for p in batch}.values():
            if not entry.remaining:
                self._held.pop(entry.entry_id, None)
                await self._finish(entry)

    async def _record(self, keys: list[str]) -> None:
        """Write the sent markers; keep trying while Redis is away (never resend instead)."""
        delay = 0.1
        while True:
            try:
                await self._outbox.mark_sent(keys, self._policy.sent_ttl_s)
                return
            except Exception as exc:
                if self._stop.is_set():
                    raise
                log.warning("cannot record delivery (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _finish(self, entry: _Entry) -> None:
        published = entry.alert.model_copy(update={"delivered_at": entry.delivered_at or self._clock()})
        try:
            await self._publish(published)
        except Exception as exc:
            log.warning("cannot publish alert %s (%s); will retry", entry.alert.alert_id, type(exc).__name__)
            self._unpublished.append(entry)
            return
        self._metrics.alerts_published.labels(entry.alert.status).inc()
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
