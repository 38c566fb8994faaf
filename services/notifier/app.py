"""Notifier wiring: Kafka consumer and producer, Redis state and outbox, channels, signals.

Offsets of the tagged topic are committed only after every event of a batch was counted in
Redis (where a fired window is queued in the same step), and an outbox entry is acknowledged
only after every channel took the alert and the alert was published: delivery is at least
once, and the per-channel "sent" markers make a repeat after a crash rare and bounded.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from datetime import timedelta
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from pydantic import Field, SecretStr, field_validator
from redis.asyncio import Redis
from redis.exceptions import RedisError

from schemas.alerts import AlertV1
from schemas.codec import InvalidMessage, decode_as, encode
from schemas.tagged_events import TaggedEventV1
from schemas.topics import TopicKey
from services.common.clock import Clock, utc_now
from services.common.dead_letters import dead_letter_headers, make_dead_letter
from services.common.kafka_admin import ensure_topics
from services.common.settings import CommonSettings
from services.notifier.channels import (
    Channel,
    ConsoleChannel,
    PermanentSendError,
    RetryableSendError,
    WebhookChannel,
)
from services.notifier.evaluate import RuleEngine
from services.notifier.redis_state import Outbox, OutboxEntry, RedisKeys, RedisRuleState
from services.notifier.rules import load_rules

log = logging.getLogger(__name__)
SERVICE = "notifier"


class NotifierSettings(CommonSettings):
    rules_file: Path = Field(default=Path("config/rules.yaml"))
    notifier_group_id: str = Field(default="borderwatch-notifier", min_length=1)
    notifier_instance: str = Field(default_factory=socket.gethostname, min_length=1)
    webhook_url: SecretStr | None = Field(default=None, description="Generic webhook for alerts (secret).")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    sent_marker_ttl_s: int = Field(default=int(timedelta(days=15).total_seconds()), ge=60)
    retry_interval_s: float = Field(default=2.0, gt=0, description="How often failed deliveries are retried.")
    stale_claim_s: float = Field(
        default=30.0, gt=0, description="Take over another instance's stuck entries."
    )
    notifier_console: bool = Field(default=True, description="Print each delivered alert on standard output.")

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


class Notifier:
    def __init__(
        self,
        settings: NotifierSettings,
        *,
        redis: Redis,
        producer: AIOKafkaProducer,
        channels: dict[str, Channel],
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._redis = redis
        self._producer = producer
        self._channels = channels
        keys = RedisKeys(settings.topic_namespace)
        self._state = RedisRuleState(redis, keys)
        self.engine = RuleEngine(load_rules(settings.rules_file), self._state)
        self.outbox = Outbox(
            redis, keys, group=settings.notifier_group_id, consumer=settings.notifier_instance
        )
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- consuming tagged events -------------------------------------------------------------
    async def consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self.stopping:
            batch = await consumer.getmany(timeout_ms=500, max_records=200)
            for records in batch.values():
                for record in records:
                    await self.handle_record(record)
            if batch:
                await consumer.commit()

    async def handle_record(self, record: ConsumerRecord) -> None:
        try:
            event = decode_as(TaggedEventV1, record.value)
        except InvalidMessage as exc:
            await self._dead_letter(
                TopicKey.TAGGED_EVENTS_DLQ,
                record,
                exc.reason,
                "decode" if exc.reason_class == "decode" else "validation",
            )
            return
        delay = 0.2
        while True:
            try:
                fired = await self.engine.observe(event, self._clock())
                break
            except RedisError as exc:
                # Transient: keep the offset uncommitted and wait; never skip the event.
                log.warning(
                    "redis unavailable while counting event %s: %s", event.event_id, type(exc).__name__
                )
                if self.stopping:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        for alert in fired:
            log.info("rule %s fired for %s (alert %s)", alert.rule_id, alert.group, alert.alert_id)

    async def _dead_letter(
        self, dlq: TopicKey, record: ConsumerRecord, reason: str, reason_class: str
    ) -> None:
        letter = make_dead_letter(
            service=SERVICE,
            reason=reason,
            reason_class=reason_class,  # type: ignore[arg-type]
            payload=record.value,
            now=self._clock(),
            original_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        log.warning("dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
        await self._producer.send_and_wait(
            self.settings.topic(dlq), encode(letter), headers=[(k, v) for k, v in dead_letter_headers(letter)]
        )

    # -- delivering from the outbox ----------------------------------------------------------
    async def deliver(self) -> None:
        await self.outbox.ensure_group()
        loop = asyncio.get_running_loop()
        next_rescan = 0.0
        while not self.stopping:
            entries: list[OutboxEntry] = []
            if loop.time() >= next_rescan:
                entries = await self.outbox.read(pending=True)
                entries += await self.outbox.claim_stale(int(self.settings.stale_claim_s * 1000))
                next_rescan = loop.time() + self.settings.retry_interval_s
            if not entries:
                entries = await self.outbox.read(pending=False, block_ms=500)
            for entry_id, fields in entries:
                try:
                    await self.deliver_entry(entry_id, fields)
                except RedisError as exc:
                    log.warning(
                        "redis unavailable while delivering %s: %s",
                        fields.get("alert_id"),
                        type(exc).__name__,
                    )

    async def deliver_entry(self, entry_id: str, fields: dict[str, str]) -> bool:
        """Send one decided alert on every route not yet served; True when the entry is done."""
        try:
            alert = decode_as(AlertV1, fields.get("alert"))
        except InvalidMessage as exc:
            log.error("outbox entry %s is unreadable (%s); dead-lettering it", entry_id, exc.reason)
            letter = make_dead_letter(
                service=SERVICE,
                reason=f"outbox entry: {exc.reason}",
                reason_class="decode",
                payload=(fields.get("alert") or "").encode(),
                now=self._clock(),
            )
            await self._producer.send_and_wait(
                self.settings.topic(TopicKey.ALERTS_DLQ), encode(letter), headers=dead_letter_headers(letter)
            )
            await self.outbox.ack(entry_id)
            return True
        ident = alert.alert_id
        rule = self.engine.rule(alert.rule_id)
        if rule is None:
            log.warning(
                "alert %s names rule %s, which is no longer configured; dropping", ident, alert.rule_id
            )
            await self.outbox.ack(entry_id)
            return True
        delivered_at = None
        done = True
        for route in rule.routes:
            channel = self._channels.get(route)
            if channel is None or await self.outbox.was_sent(ident, route):
                continue
            now = self._clock()
            try:
                await channel.send(alert, now)
            except RetryableSendError as exc:
                log.warning("alert %s via %s will be retried: %s", ident, route, exc)
                done = False
                continue
            except PermanentSendError as exc:
                log.error("alert %s via %s failed permanently: %s", ident, route, exc)
                letter = make_dead_letter(
                    service=SERVICE,
                    reason=f"{route}: {exc}",
                    reason_class="processing",
                    payload=encode(alert),
                    now=now,
                )
                await self._producer.send_and_wait(
                    self.settings.topic(TopicKey.ALERTS_DLQ),
                    encode(letter),
                    headers=dead_letter_headers(letter),
                )
            await self.outbox.mark_sent(ident, route, self.settings.sent_marker_ttl_s)
            delivered_at = delivered_at or now
        if not done:
            return False
        published = alert.model_copy(update={"delivered_at": delivered_at or self._clock()})
        await self._producer.send_and_wait(
            self.settings.topic(TopicKey.ALERTS), encode(published), key=ident.encode()
        )
        await self.outbox.ack(entry_id)
        return True


def build_channels(settings: NotifierSettings, http: httpx.AsyncClient) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if settings.notifier_console:
        channels["console"] = ConsoleChannel()
    if settings.webhook_url is not None:
        channels["webhook"] = WebhookChannel(http, settings.webhook_url.get_secret_value())
    return channels


async def run_notifier(settings: NotifierSettings) -> None:
    """Run until SIGTERM or SIGINT; then stop consuming, finish the current batch and close."""
    await asyncio.to_thread(ensure_topics, settings)
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        client_id=f"borderwatch-notifier-{settings.notifier_instance}",
    )
    consumer = AIOKafkaConsumer(
        settings.topic(TopicKey.TAGGED_EVENTS),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.notifier_group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=f"borderwatch-notifier-{settings.notifier_instance}",
    )
    http = httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False)
    notifier = Notifier(settings, redis=redis, producer=producer, channels=build_channels(settings, http))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, notifier.stop)
    await producer.start()
    await consumer.start()
    log.info("notifier %s consuming %s", settings.notifier_instance, settings.topic(TopicKey.TAGGED_EVENTS))
    try:
        tasks = [asyncio.create_task(notifier.consume(consumer)), asyncio.create_task(notifier.deliver())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        notifier.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        await http.aclose()
        await redis.aclose()
