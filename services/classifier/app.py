"""Classifier wiring: the faust app and its tables, the raw-items consumer, the dead-letter path,
metrics and health.

Topics carry raw bytes and go through the project's codec, not ``faust.Record``.

Consumption: raw items are read by :class:`RawItemsConsumer`, a service of the faust app that
takes whole fetches from an aiokafka consumer (``getmany``) in the consumer group
``classifier_group_id``. faust's stream path hands over one message per event-loop turn and costs
more per message than tagging does; reading whole fetches removes that floor. Each record of a
batch is handled alone: an exception becomes a dead letter with its reason and the batch goes on.
Batches are decided by :class:`~services.classifier.batch_core.ClassifierCore`, in the event
loop, or (``classifier_tag_processes=1``, the default with two or more CPUs) with its tagging in a
process beside the loop (:mod:`services.classifier.core_process`), while the loop sends and
commits one batch and gives the next its story ids; the core's state writes come back as table
changes and are applied to the faust tables here.

Delivery: every output of a batch (tagged events, incident revisions, dead letters, table
changelog records) is sent with faust's producer and the batch waits until the broker acknowledged
all of them; only then are the batch's offsets committed (explicit offsets, auto-commit off). A
rebalance waits for the batch in flight to be delivered and committed before partitions are
revoked. So an offset is never committed before the outputs it stands for are on the broker.

State: story signatures and incidents live in faust tables backed by changelog topics, which faust
reads back at start (and after a rebalance of its own group, ``<classifier_group_id>-state``)
before any batch is processed. Story detection and incident grouping need a view of every item
whatever its partition (copies of a story have different item ids), so the stateful stage is one
worker that owns every partition; table keys go through the producer's partitioner
(``use_partitioner``), so each key's history lives, in order, in one changelog partition.
Scaling out would re-key through an incidents topic first.

Stop-switch: when dead-lettering would exceed the limits of :mod:`services.classifier.dlq_limit`,
the worker logs why and exits with status 3 at once, leaving the batch's offsets uncommitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import faust
import mode
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import Field

from schemas.codec import encode
from schemas.topics import TOPICS, TopicKey
from services.classifier.batch_core import (
    INCIDENTS,
    STORIES,
    TABLES,
    BatchOutcome,
    ClassifierCore,
    TableChange,
)
from services.classifier.batch_tagger import FailedItem
from services.classifier.core_process import CoreFailed, CoreRunner, make_runner, tagging_processes
from services.classifier.dlq_limit import DlqLimitConfig
from services.classifier.incidents import IncidentConfig
from services.classifier.metrics import INPUT_TOPIC, ClassifierMetrics, create_metrics
from services.classifier.process import ItemTagger
from services.classifier.stories import StoryConfig
from services.classifier.tagger import CLASSIFIER_VERSION, load_tagger
from services.common.clock import Clock, utc_now
from services.common.dead_letters import dead_letter_headers, make_dead_letter
from services.common.kafka_admin import ensure_compacted_topics, ensure_topics
from services.common.logs import configure_logging
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)
SERVICE = "classifier"
EXIT_HALTED = 3


class ClassifierSettings(CommonSettings):
    taxonomy_file: Path = Field(default=Path("config/taxonomy.yaml"))
    classifier_session_timeout_s: float = Field(
        default=10.0,
        ge=6.0,
        le=300.0,
        description="How soon a killed worker's partitions move to a restarted one (faust: 60 s).",
    )
    gazetteer_path: Path = Field(
        default=Path("config/gazetteer"), description="A YAML file or a folder of them."
    )
    classifier_group_id: str = Field(
        default="borderwatch-classifier", min_length=1, description="faust app id."
    )
    classifier_web_host: str = Field(default="127.0.0.1")
    classifier_web_port: int = Field(default=6066, ge=1, le=65535)
    classifier_data_dir: Path = Field(default=Path("var/classifier"))
    classifier_batch_max: int = Field(default=2000, ge=1, le=10_000, description="Records per fetch.")
    classifier_fetch_wait_ms: int = Field(
        default=100, ge=1, le=5000, description="How long a fetch waits for records when none are buffered."
    )
    classifier_send_attempts: int = Field(default=8, ge=1, description="Per batch, before halting.")
    classifier_send_backoff_max_s: float = Field(default=5.0, gt=0)
    classifier_lag_interval_s: float = Field(default=5.0, gt=0)
    classifier_story_window_h: float = Field(default=72.0, gt=0)
    classifier_story_threshold: float = Field(default=0.5, gt=0, le=1)
    classifier_incident_retention_days: int = Field(default=7, ge=1)
    classifier_dlq_max_ratio: float = Field(default=0.5, gt=0, le=1)
    classifier_dlq_max_consecutive: int = Field(default=200, ge=1)
    classifier_dlq_window_s: float = Field(default=60.0, gt=0)
    classifier_dlq_min_messages: int = Field(default=50, ge=1)
    classifier_tag_processes: int | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "0: decide batches in the event loop; 1: tag in a process beside it (needs a second "
            "core; 40-90 MB more resident memory). Unset: 1 when the service may run on two "
            "or more CPUs, else 0."
        ),
    )


class _Output(NamedTuple):
    """One record to send: the arguments of ``app.producer.send`` that vary.

    ``current`` (changelog records) gives the key's value at the time of a resend, so that a
    resend after a later batch's write of the same key never restores an older state.
    """

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    current: Callable[[], bytes | None] | None = None


class _Table:
    """A raw-serialised faust table that the core's state writes are applied to.

    Each write goes to the table's store and becomes a changelog record that the batch sends
    with its other outputs and awaits before its offsets can be committed. (Assigning to the table
    itself would queue each record in faust's producer buffer, which sends one record per
    event-loop turn and stops consumption while more than 100 are queued.) Keys go through the
    producer's default partitioner, like the table's own writes with ``use_partitioner``.
    """

    def __init__(self, table: Any) -> None:
        self._data = table.data
        self._changelog: str = table.changelog_topic.get_topic_name()

    def snapshot(self) -> dict[str, bytes]:
        return {bytes(k).decode(): bytes(v) for k, v in list(self._data.items()) if v is not None}

    def apply(self, change: TableChange) -> _Output:
        data, key = self._data, change.key.encode()
        if change.value is None:
            data.pop(key, None)
        else:
            data[key] = change.value
        return _Output(self._changelog, key, change.value, [], lambda: data.get(key))


class _DeliveryFailed(RuntimeError):
    """Outputs of a batch stayed unacknowledged after every attempt; the worker halts."""


def _halt(reason: str) -> None:
    """Exit at once: a graceful stop would ack (and commit) the batch that was not processed."""
    log.critical("classifier halted by the %s", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_HALTED)


class _Record(Protocol):
    """What the batch logic reads of a consumed record (aiokafka's ``ConsumerRecord``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class _Decided(NamedTuple):
    """A batch's outputs, decided and not yet sent, and its tagged events' ingest times."""

    out: list[_Output]
    ingested: list[float]


class RawItemsConsumer(mode.Service):
    """Reads raw items in whole fetches, decides each fetch's outputs, delivers them, commits.

    ``decide`` returns a batch's outputs (None: the worker halted; nothing more is committed).
    ``deliver`` returns True once the broker acknowledged every output of a batch (False: halted).
    Batches are pipelined: batch N+2 starts being decided as soon as it is fetched (a tagging
    process takes it up when it finished N+1), batch N+1 is decided while batch N's outputs are on
    their way, then N's delivery is awaited before N+1's outputs are sent (outputs go out in batch
    order), and N's offsets are committed in the background, in batch order, only after all of N's
    outputs were acknowledged. The work in flight holds a lock that a revocation and :meth:`on_stop` take
    to deliver and commit everything pending, so partitions change owner only at a committed
    boundary.
    ``ready`` is awaited before each batch (the faust tables must be recovered); when
    ``state_current`` says the state is to be rebuilt, the batch being decided is taken first.
    ``on_broker_error`` is called for each Kafka error caught (a failed fetch or commit).
    """

    def __init__(
        self,
        make_consumer: Callable[[], AIOKafkaConsumer],
        topic: str,
        decide: Callable[[list[Any]], Awaitable[_Decided | None]],
        deliver: Callable[[_Decided], Awaitable[bool]],
        ready: Callable[[], Awaitable[None]],
        *,
        batch_max: int,
        wait_ms: int,
        on_committed: Callable[[], None],
        on_broker_error: Callable[[], None] = lambda: None,
        state_current: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__()
        self._make_consumer = make_consumer  # aiokafka wants a running event loop to build one
        self._consumer: AIOKafkaConsumer | None = None
        self.topic = topic
        self.committed: dict[TopicPartition, int] = {}
        self._decide = decide
        self._deliver = deliver
        self._ready = ready
        self._state_current = state_current
        self._batch_max = batch_max
        self._wait_ms = wait_ms
        self._on_committed = on_committed
        self._on_broker_error = on_broker_error
        self._lock = asyncio.Lock()
        self._pending: tuple[asyncio.Future[bool], dict[TopicPartition, int]] | None = None
        self._deciding: tuple[asyncio.Future[_Decided | None], dict[TopicPartition, int]] | None = None
        self._committing: asyncio.Future[None] | None = None
        self._done = False

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the raw-items consumer has not started")
        return self._consumer

    def assignment(self) -> set[TopicPartition]:
        return set() if self._consumer is None else set(self._consumer.assignment())

    async def on_start(self) -> None:
        self._consumer = self._make_consumer()
        self.consumer.subscribe([self.topic], listener=_CommitBeforeRevoke(self))
        await self.consumer.start()

    async def on_stop(self) -> None:
        async with self._lock:  # the batch in flight is delivered and committed first
            await self._drain()
            self._done = True
        await self.consumer.stop()

    @mode.Service.task
    async def _consume(self) -> None:
        backoff = 0.1
        while not (self.should_stop or self._done):
            try:
                # With a batch in flight, take only what is already fetched: its commit must not wait.
                busy = self._pending is not None or self._deciding is not None
                fetched = await self.consumer.getmany(
                    timeout_ms=0 if busy else self._wait_ms, max_records=self._batch_max
                )
            except KafkaError as exc:  # the consumer reconnects by itself; pause, then fetch again
                self._on_broker_error()
                log.warning("fetching raw items failed (%s); retrying in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
                continue
            backoff = 0.1
            async with self._lock:
                if self._done:
                    return
                assigned = self.consumer.assignment()
                batches = {tp: recs for tp, recs in fetched.items() if recs and tp in assigned}
                started = None
                if batches:
                    # When the state is about to be rebuilt from the tables, the batch being
                    # decided goes first: its writes belong in them.
                    rebuild_due = self._deciding is not None and not self._state_current()
                    if rebuild_due and not await self._take_decided():
                        self._done = True
                        return
                    await self._ready()
                    # Deciding starts now, so the tagging process takes this batch up as soon as it
                    # finished the previous one, while that one is counted, sent and committed here.
                    records = [r for recs in batches.values() for r in recs]
                    offsets = {tp: recs[-1].offset + 1 for tp, recs in batches.items()}
                    started = (asyncio.ensure_future(self._decide(records)), offsets)
                if not await self._take_decided():
                    if started is not None:
                        await asyncio.gather(started[0], return_exceptions=True)
                    self._done = True
                    return
                self._deciding = started

    async def _take_decided(self) -> bool:
        """Wait for the batch being decided, then for the one in flight, and send the decided one;
        False when the worker halted."""
        if self._deciding is None:
            return await self._finish_pending()
        deciding, offsets = self._deciding
        self._deciding = None
        decided = await deciding
        if decided is None or not await self._finish_pending():
            return False
        self._pending = (asyncio.ensure_future(self._deliver(decided)), offsets)
        return True

    async def _finish_pending(self) -> bool:
        """Await the batch in flight and start its commit; False when the worker halted.

        Commits run one after another in the background (a commit is a broker round trip the next
        batch need not wait for); :meth:`_drain` waits for them.
        """
        if self._pending is None:
            return True
        delivery, offsets = self._pending
        self._pending = None
        if not await delivery:
            return False
        self._committing = asyncio.ensure_future(self._commit_after(self._committing, offsets))
        return True

    async def _commit_after(
        self, previous: asyncio.Future[None] | None, offsets: dict[TopicPartition, int]
    ) -> None:
        if previous is not None:
            await previous
        await self._commit(offsets)

    async def _drain(self) -> None:
        """Deliver and commit everything in flight (before a revocation or a stop)."""
        if not self._done and not await self._take_decided():
            self._done = True
        if not self._done and not await self._finish_pending():
            self._done = True
        if self._committing is not None:
            await self._committing
            self._committing = None

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            # The outputs are on the broker; an uncommitted batch is delivered again (at least once).
            self._on_broker_error()
            log.warning("committing %d partition(s) failed (%s)", len(offsets), type(exc).__name__)
            return
        self.committed.update(offsets)
        self._on_committed()

    async def load_committed(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            with contextlib.suppress(KafkaError):
                offset = await self.consumer.committed(tp)
                if offset is not None:
                    self.committed[tp] = offset
        self._on_committed()

    async def finish_in_flight(self) -> None:
        async with self._lock:
            await self._drain()


class _CommitBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: RawItemsConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner.finish_in_flight()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner.load_committed(assigned)


def build_core(settings: ClassifierSettings, tagger: ItemTagger) -> ClassifierCore:
    """The pure per-batch core with the service's story, incident and stop-switch settings."""
    return ClassifierCore(
        tagger,
        StoryConfig(
            threshold=settings.classifier_story_threshold,
            window=timedelta(hours=settings.classifier_story_window_h),
        ),
        IncidentConfig(retention=timedelta(days=settings.classifier_incident_retention_days)),
        DlqLimitConfig(
            max_ratio=settings.classifier_dlq_max_ratio,
            max_consecutive=settings.classifier_dlq_max_consecutive,
            window_s=settings.classifier_dlq_window_s,
            min_messages=settings.classifier_dlq_min_messages,
        ),
    )


def create_app(
    settings: ClassifierSettings,
    runner: CoreRunner,
    clock: Clock = utc_now,
    registry: CollectorRegistry | None = None,
    halt: Callable[[str], None] = _halt,
    *,
    taxonomy_version: str = "unknown",
) -> faust.App:
    """The faust app; ``runner`` is where batches are decided (:mod:`~services.classifier.core_process`)."""
    registry = registry or CollectorRegistry()
    partitions = TOPICS[TopicKey.RAW_ITEMS].partitions
    raw_name = settings.topic(TopicKey.RAW_ITEMS)
    metrics: ClassifierMetrics = create_metrics(
        registry,
        lag_partitions=partitions,
        classifier_version=CLASSIFIER_VERSION,
        taxonomy_version=taxonomy_version,
    )
    group = settings.classifier_group_id
    # faust's own group only carries the tables' changelogs; the raw items are consumed in
    # ``group`` by RawItemsConsumer (one group id cannot mix faust's assignor with aiokafka's).
    app = faust.App(
        f"{group}-state",
        broker=[f"kafka://{s}" for s in settings.bootstrap_list],
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        processing_guarantee="at_least_once",
        topic_replication_factor=1,
        topic_partitions=partitions,
        topic_allow_declare=True,
        datadir=str(settings.classifier_data_dir),
        web_host=settings.classifier_web_host,
        web_port=settings.classifier_web_port,
        web_bind=settings.classifier_web_host,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=1,
        producer_max_batch_size=512 * 1024,  # a batch's tagged events are ~2 KiB each
        loghandlers=[],
        broker_session_timeout=settings.classifier_session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.classifier_session_timeout_s / 4),
    )
    tagged_name = settings.topic(TopicKey.TAGGED_EVENTS)
    incidents_name = settings.topic(TopicKey.INCIDENTS)
    dlq_name = settings.topic(TopicKey.RAW_ITEMS_DLQ)

    def table(name: str) -> _Table:
        # The changelog keeps the name it had when faust's app id was the group id.
        changelog = app.topic(
            changelog_name(group, name),
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            compacting=True,
            acks=False,
            internal=True,
        )
        faust_table = app.Table(
            name,
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            use_partitioner=True,
            changelog_topic=changelog,
        )
        return _Table(faust_table)

    tables = {STORIES: table(STORIES), INCIDENTS: table(INCIDENTS)}
    state_generation: dict[str, int | None] = {"rebuilt_for": None}
    # Changelog records of a state rebuild, sent with the next batch's outputs.
    rebuilt_writes: list[_Output] = []

    changelogs = set(changelog_topics(settings))
    every_changelog_partition = len(changelogs) * partitions
    waiting_logged: dict[str, int | None] = {"generation": None}

    def owns_all_state() -> bool:
        actives = app.assignor.assigned_actives()
        return sum(1 for tp in actives if tp.topic in changelogs) == every_changelog_partition

    def state_current() -> bool:
        """True when batches may be decided on the state as it is (no rebuild is due)."""
        return (
            app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
            and not app.rebalancing
            and state_generation["rebuilt_for"] == app.consumer_generation_id
        )

    async def state_ready() -> None:
        """Wait until faust recovered every partition of the tables; rebuild the in-memory indexes
        after each recovery.

        Stories and incidents need the whole state (one worker owns it all): while another
        instance still holds some changelog partitions (a rolling restart, a stopped instance whose
        session has not expired), deciding from part of the state would restart incidents from
        revision 1, so the batch waits instead.
        """
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        await recovery.completed.wait()
        # faust has no event for "rebalance over" (its recovery follows it): poll.
        while app.rebalancing or not owns_all_state():
            if not app.rebalancing and waiting_logged["generation"] != app.consumer_generation_id:
                waiting_logged["generation"] = app.consumer_generation_id
                log.warning("waiting for every table partition: another classifier instance holds some")
            await asyncio.sleep(0.05)
            await recovery.completed.wait()
        generation = app.consumer_generation_id
        if state_generation["rebuilt_for"] != generation:
            story_count, incident_count, changes = await runner.load_state(
                tables[STORIES].snapshot(), tables[INCIDENTS].snapshot()
            )
            rebuilt_writes.extend(tables[c.table].apply(c) for c in changes)
            log.info("rebuilt state: %d story signatures, %d incidents", story_count, incident_count)
            state_generation["rebuilt_for"] = generation

    async def deliver(records: list[_Output]) -> None:
        """Send every record and wait for the broker's acks; resend failures with backoff.

        Raises _DeliveryFailed once ``classifier_send_attempts`` are spent: the caller halts, so
        the batch's offsets are never committed past outputs that did not reach the broker.
        """
        todo = records
        for attempt in range(1, settings.classifier_send_attempts + 1):
            futures: list[Awaitable[Any]] = []
            failed: list[_Output] = []
            error: BaseException | None = None
            for i, record in enumerate(todo):
                if attempt > 1 and record.current is not None:
                    record = record._replace(value=record.current())
                try:
                    futures.append(
                        await app.producer.send(
                            record.topic, record.key, record.value, None, None, record.headers
                        )
                    )
                except Exception as exc:  # the producer refused it (buffer, metadata, broker)
                    failed.extend(todo[i:])
                    error = exc
                    break
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = [
                r for r, res in zip(todo, results, strict=False) if isinstance(res, BaseException)
            ] + failed
            error = next((res for res in results if isinstance(res, BaseException)), error)
            if not failed:
                return
            metrics.send_retries.inc(len(failed))
            metrics.broker_errors.inc()
            if attempt == settings.classifier_send_attempts:
                break
            delay = min(settings.classifier_send_backoff_max_s, 0.1 * 2**attempt) * random.uniform(0.5, 1.0)
            log.warning(
                "%d output(s) not acknowledged (%s); attempt %d, retrying in %.2fs",
                len(failed),
                type(error).__name__,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
            todo = failed
        raise _DeliveryFailed(
            f"{len(failed)} output(s) not acknowledged by the broker after "
            f"{settings.classifier_send_attempts} attempts ({type(error).__name__})"
        )

    def dead_letter(message: _Record, reason: str, reason_class: str, out: list[_Output]) -> None:
        letter = make_dead_letter(
            service=SERVICE,
            reason=reason,
            reason_class=reason_class,  # type: ignore[arg-type]
            payload=message.value,
            now=clock(),
            original_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        log.warning("dead-lettering %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        metrics.items.labels("dead_lettered", reason_class).inc()
        metrics.dead_letters.labels(INPUT_TOPIC, reason_class).inc()
        out.append(_Output(dlq_name, message.key, encode(letter), dead_letter_headers(letter)))

    def outputs(batch: list[_Record], outcome: BatchOutcome) -> _Decided:
        """The records to send for a decided batch, in message order, and the metrics it moves."""
        out: list[_Output] = []
        ingested: list[float] = []
        label_counts: dict[str, int] = {}
        tagged = 0
        for item in outcome.items:
            if isinstance(item, FailedItem):
                message = batch[item.position]
                if item.detail:
                    log.error(
                        "tagging failed for %s[%s]@%s\n%s",
                        message.topic,
                        message.partition,
                        message.offset,
                        item.detail,
                    )
                dead_letter(message, item.reason, item.reason_class, out)
                continue
            out.append(_Output(tagged_name, item.key, item.event, item.headers))
            tagged += 1
            metrics.tagging_seconds.observe(item.tagging_seconds)
            for label in item.labels:
                label_counts[label] = label_counts.get(label, 0) + 1
            ingested.append(item.ingested_at)
        metrics.items.labels("ok", "none").inc(tagged)
        for label_value, count in label_counts.items():
            metrics.labels.labels(label_value).inc(count)
        for revision in outcome.incidents:
            out.append(_Output(incidents_name, revision.key, revision.value, []))
            metrics.incident_updates.labels(revision.label).inc()
        # Table writes once per batch, delivered (and awaited) with the batch's outputs.
        out.extend(rebuilt_writes)
        rebuilt_writes.clear()
        out.extend(tables[change.table].apply(change) for change in outcome.changes)
        metrics.stories_indexed.set(outcome.stories_indexed)
        return _Decided(out, ingested)

    async def decide(batch: list[Any]) -> _Decided | None:
        """Decide a batch's outputs (None: the worker halted). While the core decides, the event
        loop goes on sending the previous batch's outputs and taking their acks."""
        started = time.perf_counter()
        try:
            outcome = await runner.decide([message.value for message in batch], clock())
        except CoreFailed as exc:
            halt(f"tagging core: {exc}")
            return None
        decided = outputs(batch, outcome)
        if outcome.halted is not None:
            # What was decided before the limit is delivered; the rest stays uncommitted.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(deliver(decided.out), timeout=30)
            halt(f"dead-letter stop-switch: {outcome.halted}")
            return None
        metrics.stage_seconds.labels("process").observe(time.perf_counter() - started)
        metrics.batch_size.observe(len(batch))
        return decided

    async def deliver_decided(decided: _Decided) -> bool:
        """True once the broker acknowledged every output (False: the worker halted)."""
        sent = time.perf_counter()
        try:
            await deliver(decided.out)
        except _DeliveryFailed as exc:
            halt(f"delivery guard: {exc}")
            return False
        except Exception as exc:  # never lose a batch silently: stop without committing it
            log.exception("delivering a batch failed")
            halt(f"delivery guard: {type(exc).__name__}")
            return False
        metrics.stage_seconds.labels("deliver").observe(time.perf_counter() - sent)
        done = clock().timestamp()
        ingested_to_tagged = metrics.pipeline_latency_seconds.labels("ingested_to_tagged")
        for at in decided.ingested:
            ingested_to_tagged.observe(max(0.0, done - at))
        return True

    def refresh_lag() -> None:
        for tp in raw.assignment():
            highwater = raw.consumer.highwater(tp)
            if highwater is None:
                continue
            done = raw.committed.get(tp)
            lag = highwater - (done if done is not None and done >= 0 else 0)
            metrics.consumer_lag.labels(INPUT_TOPIC, str(tp.partition)).set(max(0, lag))

    raw = RawItemsConsumer(
        lambda: AIOKafkaConsumer(
            bootstrap_servers=",".join(settings.bootstrap_list),
            group_id=group,
            client_id=f"{group}-raw-items",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.classifier_batch_max,
        ),
        raw_name,
        decide,
        deliver_decided,
        state_ready,
        state_current=state_current,
        batch_max=settings.classifier_batch_max,
        wait_ms=settings.classifier_fetch_wait_ms,
        on_committed=refresh_lag,
        on_broker_error=metrics.broker_errors.inc,
    )
    app.service(raw)  # type: ignore[arg-type]  # faust starts a given instance as it is

    @app.timer(settings.classifier_lag_interval_s)  # type: ignore[untyped-decorator]
    async def refresh_lag_periodically() -> None:
        refresh_lag()

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        checks = {
            "config": True,  # taxonomy and gazetteer were validated before the app was built
            "broker": bool(raw.assignment()) and not app.rebalancing,
            "state": app.tables.recovery.completed.is_set(),  # type: ignore[attr-defined]
        }
        ready = all(checks.values())
        return web.json({"ready": ready, "checks": checks}, status=200 if ready else 503)

    return app


def changelog_name(group: str, table: str) -> str:
    """A table's changelog topic (the name it had when faust's app id was the group id)."""
    return f"{group}-{table}-changelog"


def changelog_topics(settings: ClassifierSettings) -> list[str]:
    """The changelog topics of the classifier's tables."""
    return [changelog_name(settings.classifier_group_id, name) for name in TABLES]


def run_classifier(settings: ClassifierSettings) -> None:
    """Load and validate configuration, create the topics, and run the faust worker until a signal."""
    tagger = load_tagger(settings.taxonomy_file, settings.gazetteer_path)
    ensure_topics(settings)
    # The tables' changelogs exist before faust's group joins: created by faust at start-up, one of
    # them could still be missing from the metadata of the first assignment, which then leaves its
    # partitions unassigned and the worker waiting for them.
    ensure_compacted_topics(settings, changelog_topics(settings), TOPICS[TopicKey.RAW_ITEMS].partitions)
    settings.classifier_data_dir.mkdir(parents=True, exist_ok=True)
    # The tagging process starts here, and is ready before faust starts.
    processes = tagging_processes(settings.classifier_tag_processes, len(os.sched_getaffinity(0)))
    log.info("tagging %s", "in a tagging process beside the event loop" if processes else "in the event loop")
    runner = make_runner(
        build_core(settings, tagger),
        processes,
        settings.taxonomy_file,
        settings.gazetteer_path,
        tagger.taxonomy.version,
    )
    app = create_app(settings, runner, taxonomy_version=tagger.taxonomy.version)
    gc.freeze()  # configuration and tagger live as long as the process: no collection scans them
    worker = _JsonLoggingWorker(app, loglevel=settings.log_level.lower(), quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        runner.close()


class _JsonLoggingWorker(faust.Worker):
    """faust's worker installs its own text log format at start; put ours (JSON) back after it."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        configure_logging(
            logging.getLevelName(level) if level else "INFO", os.environ.get("BW_LOG_FORMAT", "json")
        )
