"""Notifier wiring: Kafka consumer and producer, Redis, rules engine, dispatcher, HTTP API, signals.

Three loops share one process: the consumer (tagged events and incident updates → the rules
engine, which decides alerts and queues them in the Redis outbox atomically; offsets are committed
only after a batch was recorded in Redis), the tick loop (time-driven rules, silence refresh,
scheduled digests, about once a second) and the dispatcher (outbox → channels → alerts topic; see
:mod:`services.notifier.delivery`). The HTTP API serves ``/v1/silences``, ``/metrics``,
``/healthz`` and ``/readyz``.

Fault injection (tests only, off by default): ``BW_NOTIFIER_FAULT_POINT=before_send`` or
``after_send`` makes the process log ``fault point <name> reached`` and pause there, at the first
delivery, so that a test can SIGKILL it between deciding and delivering, or between delivering
and recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import Field, SecretStr, field_validator
from redis.asyncio import Redis
from redis.exceptions import RedisError

from schemas.alerts import AlertV1
from schemas.codec import InvalidMessage, decode_as, encode
from schemas.tagged_events import TaggedEventV1
from schemas.topics import TopicKey
from services.common.auth import ApiToken
from services.common.clock import Clock, utc_now
from services.common.dead_letters import dead_letter_headers, make_dead_letter
from services.common.kafka_admin import ensure_topics
from services.common.settings import CommonSettings
from services.notifier.api import create_api
from services.notifier.channels import (
    Channel,
    ConsoleChannel,
    EmailChannel,
    SlackChannel,
    SmtpServer,
    WebhookChannel,
)
from services.notifier.delivery import DeliveryPolicy, Dispatcher
from services.notifier.evaluate import RuleEngine
from services.notifier.metrics import NotifierMetrics, create_metrics
from services.notifier.outbox import DeliveryKeys, Outbox
from services.notifier.rule_state import RedisRuleState
from services.notifier.rules import RuleSet, load_rules
from services.notifier.silence_store import RedisSilenceStore, SilenceCache
from services.notifier.subscribers import (
    EmailTarget,
    ResolvedTarget,
    SlackTarget,
    SubscriberFile,
    WebhookTarget,
    check_routes,
    load_subscribers,
    resolve_secrets,
)

try:  # the incidents topic is optional for the notifier
    from schemas.incidents import IncidentV1
except ImportError:  # pragma: no cover - older schema package
    IncidentV1 = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)
SERVICE = "notifier"
FAULT_POINTS = ("before_send", "after_send")


class NotifierSettings(CommonSettings):
    rules_file: Path = Field(default=Path("config/rules.yaml"))
    notifier_subscribers_file: Path = Field(default=Path("config/subscribers.yaml"))
    notifier_group_id: str = Field(default="borderwatch-notifier", min_length=1)
    notifier_instance: str = Field(default_factory=socket.gethostname, min_length=1)
    notifier_api_host: str = Field(default="127.0.0.1")
    notifier_api_port: int = Field(default=8082, ge=0, le=65535, description="0 = no HTTP API.")
    notifier_api_token: SecretStr | None = Field(default=None, description="Bearer token for /v1/silences.")
    notifier_api_tokens: list[ApiToken] = Field(
        default_factory=list,
        description='JSON: [{"name": "ops", "token": "...", "scopes": ["admin"]}] (read: list silences).',
    )
    notifier_api_rate_per_s: float = Field(default=10.0, gt=0, description="Requests per token per second.")
    notifier_api_rate_burst: int = Field(default=20, ge=1, description="Requests per token at once.")
    notifier_http_timeout_s: float = Field(default=5.0, gt=0)
    notifier_smtp_host: str = Field(default="127.0.0.1")
    notifier_smtp_port: int = Field(default=587, ge=1, le=65535)
    notifier_smtp_sender: str = Field(default="borderwatch@localhost")
    notifier_smtp_username: str | None = None
    notifier_smtp_password: SecretStr | None = None
    notifier_smtp_starttls: bool = True
    notifier_smtp_ca_file: Path | None = Field(
        default=None, description="PEM bundle for the SMTP server's certificate (private CA)."
    )
    sent_marker_ttl_s: int = Field(default=int(timedelta(days=15).total_seconds()), ge=60)
    notifier_inhibit_ttl_s: int = Field(default=6 * 3600, ge=1)
    retry_interval_s: float = Field(default=2.0, gt=0, description="How often held entries are rescanned.")
    stale_claim_s: float = Field(
        default=30.0, gt=0, description="Take over another instance's stuck entries."
    )
    notifier_backoff_cap_s: float = Field(default=300.0, gt=0)
    notifier_tick_s: float = Field(default=1.0, gt=0)
    notifier_batch_linger_ms: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="After the first record of a batch, wait this long for more: fewer Redis round trips.",
    )
    notifier_channel_concurrency: int = Field(
        default=8, ge=1, le=256, description="Sends in flight at once per channel (rate-limited: 1)."
    )
    notifier_console: bool = Field(default=True, description="Print each delivered alert on standard output.")
    notifier_fault_point: str | None = Field(default=None, description="Fault-injection hook (tests only).")

    @field_validator(
        "notifier_api_token",
        "notifier_smtp_password",
        "notifier_smtp_ca_file",
        "notifier_fault_point",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("notifier_fault_point")
    @classmethod
    def _known_point(cls, value: str | None) -> str | None:
        if value is not None and value not in FAULT_POINTS:
            raise ValueError(f"fault point must be one of {', '.join(FAULT_POINTS)}")
        return value


def load_config(
    settings: NotifierSettings, env: dict[str, str]
) -> tuple[RuleSet, SubscriberFile, list[ResolvedTarget]]:
    """Rules and subscribers, validated together; raises ``ConfigError`` with file/line/field."""
    rules = load_rules(settings.rules_file)
    subscribers = load_subscribers(settings.notifier_subscribers_file)
    check_routes(subscribers, {r.id: list(r.routes) for r in rules.rules}, settings.rules_file)
    targets, skipped = resolve_secrets(subscribers, env, settings.notifier_subscribers_file)
    for note in skipped:
        log.info("channel %s left out", note)
    return rules, subscribers, targets


def outbound_http_client(settings: NotifierSettings) -> httpx.AsyncClient:
    """The client of every HTTP channel: a total timeout, and redirects never followed (a 3xx is
    a permanent failure), so alerts go only to the configured destinations."""
    return httpx.AsyncClient(timeout=settings.notifier_http_timeout_s, follow_redirects=False)


def build_channels(
    settings: NotifierSettings, targets: list[ResolvedTarget], http: httpx.AsyncClient
) -> dict[str, Channel]:
    smtp = SmtpServer(
        host=settings.notifier_smtp_host,
        port=settings.notifier_smtp_port,
        sender=settings.notifier_smtp_sender,
        username=settings.notifier_smtp_username,
        password=settings.notifier_smtp_password.get_secret_value()
        if settings.notifier_smtp_password
        else None,
        starttls=settings.notifier_smtp_starttls,
        timeout_s=settings.notifier_http_timeout_s,
        ca_file=str(settings.notifier_smtp_ca_file) if settings.notifier_smtp_ca_file else None,
    )
    channels: dict[str, Channel] = {}
    for t in targets:
        url = t.url.get_secret_value() if t.url else ""
        if isinstance(t.target, WebhookTarget):
            secret = t.secret.get_secret_value().encode() if t.secret else None
            channels[t.key] = WebhookChannel(http, url, secret)
        elif isinstance(t.target, SlackTarget):
            channels[t.key] = SlackChannel(http, url)
        elif isinstance(t.target, EmailTarget):
            channels[t.key] = EmailChannel(smtp, list(t.target.to))
        elif settings.notifier_console:
            channels[t.key] = ConsoleChannel()
    return channels


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the notifier owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Notifier:
    def __init__(
        self,
        settings: NotifierSettings,
        *,
        redis: Redis,
        producer: AIOKafkaProducer,
        channels: dict[str, Channel],
        rules: RuleSet,
        subscribers: SubscriberFile,
        targets: list[ResolvedTarget],
        metrics: NotifierMetrics,
        clock: Clock = utc_now,
        delivery_redis: Redis | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._redis = redis
        self._producer = producer
        self.metrics = metrics
        metrics.register_rules(r.id for r in rules.rules)
        self.engine = RuleEngine(
            rules,
            RedisRuleState(redis, settings.topic_namespace),
            on_cooldown=lambda rule: metrics.alerts.labels(rule, "suppressed_cooldown").inc(),
        )
        self.outbox = Outbox(
            delivery_redis or redis,
            DeliveryKeys(settings.topic_namespace),
            group=settings.notifier_group_id,
            consumer=settings.notifier_instance,
        )
        self.silence_store = RedisSilenceStore(redis, settings.topic_namespace)
        self.silences = SilenceCache(self.silence_store)
        self._faulted = False

        def routes_of(rule_id: str) -> list[str] | None:
            rule = self.engine.rule(rule_id)
            return None if rule is None else list(rule.routes)

        self.dispatcher = Dispatcher(
            outbox=self.outbox,
            subscribers=subscribers,
            targets=targets,
            channels=channels,
            routes_of=routes_of,
            silences=self.silences.current,
            publish=self._publish,
            dead_letter=self._dead_letter_alert,
            metrics=metrics,
            policy=DeliveryPolicy(
                sent_ttl_s=settings.sent_marker_ttl_s,
                inhibit_ttl_s=settings.notifier_inhibit_ttl_s,
                backoff_cap_s=settings.notifier_backoff_cap_s,
                stale_claim_s=settings.stale_claim_s,
                rescan_s=settings.retry_interval_s,
                concurrency=settings.notifier_channel_concurrency,
            ),
            clock=clock,
            fault=self._fault,
        )
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()
        self.dispatcher.stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def _fault(self, point: str) -> None:
        if self.settings.notifier_fault_point == point and not self._faulted:
            self._faulted = True
            log.warning("fault point %s reached; pausing", point)
            for handler in logging.getLogger().handlers:
                handler.flush()
            # Freeze the whole process (not just this task), as if it stopped right here.
            while True:
                time.sleep(3600)  # noqa: ASYNC251 - blocking on purpose: freezes every task

    # -- consuming -----------------------------------------------------------------------
    async def consume(self, consumer: AIOKafkaConsumer) -> None:
        """Count each batch in Redis, then commit its offsets (never before)."""
        linger_s = self.settings.notifier_batch_linger_ms / 1000
        while not self.stopping:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if batch and linger_s > 0:
                # A short wait lets a batch form: its Redis work costs the same few round trips
                # whether it holds one event or fifty.
                await asyncio.sleep(linger_s)
                for tp, more in (await consumer.getmany(timeout_ms=0, max_records=500)).items():
                    batch.setdefault(tp, []).extend(more)
            records = [r for records in batch.values() for r in records]
            if records:
                await self.handle_records(records)
                await consumer.commit()

    async def handle_record(self, record: ConsumerRecord) -> None:
        await self.handle_records([record])

    async def handle_records(self, records: list[ConsumerRecord]) -> None:
        """Decode, dead-letter what is invalid, and evaluate the rest (tagged events as one batch).

        Redis errors are transient: the batch is evaluated again (counting is idempotent by event
        id, and a decided alert is queued once) and its offsets stay uncommitted meanwhile.
        """
        incidents_topic = self.settings.topic(TopicKey("incidents")) if IncidentV1 is not None else None
        events: list[TaggedEventV1] = []
        updates: list[Any] = []
        for record in records:
            incidents = record.topic == incidents_topic
            topic_label = "incidents" if incidents else "tagged-events"
            try:
                message: Any = decode_as(IncidentV1 if incidents else TaggedEventV1, record.value)
            except InvalidMessage as exc:
                self.metrics.consumed.labels(topic_label, "dead_lettered").inc()
                await self._dead_letter_record(record, exc.reason, exc.reason_class, topic_label)
                continue
            (updates if incidents else events).append(message)
        if events:
            fired = await self._evaluate(
                "tagged-events", lambda: self.engine.observe_many(events, self._clock())
            )
            self.metrics.consumed.labels("tagged-events", "ok").inc(len(events))
            self._log_fired(fired)
            self.metrics.observe_alerted(fired, {e.event_id: e.tagged_at for e in events})
        for update in updates:
            fired = await self._evaluate("incidents", functools.partial(self._observe_incident, update))
            self.metrics.consumed.labels("incidents", "ok").inc()
            self._log_fired(fired)
            self.metrics.observe_alerted(fired, {}, fallback=update.updated_at)

    async def _observe_incident(self, update: Any) -> list[AlertV1]:
        return await self.engine.observe_incident(update, self._clock())

    async def _evaluate(
        self, topic_label: str, step: Callable[[], Awaitable[list[AlertV1]]]
    ) -> list[AlertV1]:
        delay = 0.2
        while True:
            try:
                return await step()
            except RedisError as exc:
                self.metrics.redis_errors.inc()
                # Transient: keep the offsets uncommitted and wait; never skip a message.
                log.warning("redis unavailable while counting %s: %s", topic_label, type(exc).__name__)
                if self.stopping:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _log_fired(self, fired: list[AlertV1]) -> None:
        # Debug only: at hundreds of alerts a second, a line each is a cost; deliveries show them.
        for alert in fired:
            self.metrics.alert_decided(alert.rule_id, alert.status)
            log.debug(
                "rule %s %s for %s (alert %s)", alert.rule_id, alert.status, alert.group, alert.alert_id
            )

    async def tick(self) -> None:
        """Time-driven rules, silences and scheduled digests, about once a second."""
        while not self.stopping:
            now = self._clock()
            try:
                for alert in await self.engine.tick(now):
                    self.metrics.alert_decided(alert.rule_id, alert.status)
                    log.info("rule %s %s for %s (tick)", alert.rule_id, alert.status, alert.group)
                self.metrics.silences_active.set(await self.silences.refresh(now))
                await self.dispatcher.flush_digests(now)
            except RedisError as exc:
                self.metrics.redis_errors.inc()
                log.warning("redis unavailable in tick: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.notifier_tick_s)

    async def report_lag(self, consumer: AIOKafkaConsumer, interval_s: float = 5.0) -> None:
        """Refresh the consumer-lag gauge (high watermark minus position) every few seconds."""
        labels = {self.settings.topic(TopicKey.TAGGED_EVENTS): "tagged-events"}
        if IncidentV1 is not None:
            labels[self.settings.topic(TopicKey("incidents"))] = "incidents"
        shown: set[tuple[str, str]] = set()
        while not self.stopping:
            current: set[tuple[str, str]] = set()
            for tp in list(consumer.assignment()):
                highwater = consumer.highwater(tp)
                topic = labels.get(tp.topic)
                if highwater is None or topic is None:
                    continue
                with contextlib.suppress(KafkaError, AssertionError):
                    position = await consumer.position(TopicPartition(tp.topic, tp.partition))
                    key = (topic, str(tp.partition))
                    self.metrics.consumer_lag.labels(*key).set(max(0, highwater - position))
                    current.add(key)
            for key in shown - current:
                with contextlib.suppress(KeyError):
                    self.metrics.consumer_lag.remove(*key)
            shown = current
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)

    async def _dead_letter_record(
        self, record: ConsumerRecord, reason: str, reason_class: str, topic_label: str
    ) -> None:
        cls: Literal["decode", "validation"] = "decode" if reason_class == "decode" else "validation"
        letter = make_dead_letter(
            service=SERVICE,
            reason=reason,
            reason_class=cls,
            payload=record.value,
            now=self._clock(),
            original_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        log.warning("dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
        await self._send(
            self.settings.topic(TopicKey.TAGGED_EVENTS_DLQ),
            encode(letter),
            headers=dead_letter_headers(letter),
        )
        self.metrics.dead_letters.labels(topic_label, cls).inc()

    async def _dead_letter_alert(self, reason: str, payload: bytes) -> None:
        letter = make_dead_letter(
            service=SERVICE, reason=reason, reason_class="processing", payload=payload, now=self._clock()
        )
        await self._send(
            self.settings.topic(TopicKey.ALERTS_DLQ), encode(letter), headers=dead_letter_headers(letter)
        )
        self.metrics.dead_letters.labels("alerts", "processing").inc()

    async def _publish(self, alert: AlertV1) -> None:
        await self._send(self.settings.topic(TopicKey.ALERTS), encode(alert), key=alert.alert_id.encode())

    async def _send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        try:
            await self._producer.send_and_wait(topic, value, key=key, headers=headers)
        except KafkaError:
            self.metrics.broker_errors.inc()
            raise

    async def readiness(self, consumer: AIOKafkaConsumer) -> dict[str, bool]:
        checks = {"config": True, "redis": False, "broker": False}
        with contextlib.suppress(RedisError, TimeoutError, OSError):
            checks["redis"] = bool(await asyncio.wait_for(self._redis.ping(), 2.0))
        with contextlib.suppress(Exception):
            checks["broker"] = bool(await asyncio.wait_for(consumer.topics(), 2.0))
        return checks


async def run_notifier(settings: NotifierSettings) -> None:
    """Run until SIGTERM or SIGINT; then stop consuming, finish the current batch and close."""
    rules, subscribers, targets = load_config(settings, dict(os.environ))
    await asyncio.to_thread(ensure_topics, settings)
    registry = CollectorRegistry()
    metrics = create_metrics(registry, instance=settings.notifier_instance)
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    client_id = f"borderwatch-notifier-{settings.notifier_instance}"
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        client_id=client_id,
    )
    topics = [settings.topic(TopicKey.TAGGED_EVENTS)]
    if IncidentV1 is not None:
        topics.append(settings.topic(TopicKey("incidents")))
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.notifier_group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=client_id,
    )
    http = outbound_http_client(settings)
    notifier = Notifier(
        settings,
        redis=redis,
        producer=producer,
        channels=build_channels(settings, targets, http),
        rules=rules,
        subscribers=subscribers,
        targets=targets,
        metrics=metrics,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, notifier.stop)
    tasks: list[asyncio.Task[Any]] = []
    server: _QuietServer | None = None
    dispatching: asyncio.Task[None] | None = None
    try:
        await producer.start()
        await consumer.start()
        if settings.notifier_api_port:
            api = create_api(
                store=notifier.silence_store,
                registry=registry,
                readiness=lambda: notifier.readiness(consumer),
                token=settings.notifier_api_token,
                tokens=settings.notifier_api_tokens,
                rate_per_s=settings.notifier_api_rate_per_s,
                rate_burst=settings.notifier_api_rate_burst,
                clock=utc_now,
            )
            config = uvicorn.Config(
                api,
                host=settings.notifier_api_host,
                port=settings.notifier_api_port,
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
            server = _QuietServer(config)
            tasks.append(asyncio.create_task(server.serve()))
        log.info("notifier %s consuming %s", settings.notifier_instance, ", ".join(topics))
        dispatching = asyncio.create_task(notifier.dispatcher.run())
        tasks += [
            asyncio.create_task(notifier.consume(consumer)),
            dispatching,
            asyncio.create_task(notifier.tick()),
            asyncio.create_task(notifier.report_lag(consumer)),
        ]
        stop_wait = asyncio.create_task(notifier._stop.wait())
        done, _ = await asyncio.wait([*tasks, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        for task in done:
            if task is not stop_wait and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        notifier.stop()
        if server is not None:
            server.should_exit = True
        if dispatching is not None:
            # Sends in flight finish and are recorded (bounded), so a stop does not repeat them.
            await asyncio.wait([dispatching], timeout=DeliveryPolicy.drain_s + 5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        await http.aclose()
        await redis.aclose()
