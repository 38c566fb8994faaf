"""Classifier wiring: the faust app, its agent and tables, the dead-letter path, metrics and health.

Topics carry raw bytes and go through the project's codec, not ``faust.Record``.

Delivery: the agent takes events in batches (``take_events``) to amortise faust's per-event
cost. Each event of a batch is handled alone: an exception becomes a dead letter with its reason
and the batch goes on. Every output is sent with the producer and the batch waits until the broker
acknowledged all of them; only then does ``take_events`` ack the batch, and faust flushes the
producer (table changelogs included) before it commits offsets. So an offset is never committed
before the tagged events, incident revisions and dead letters it stands for are on the broker.

State: story signatures and incidents live in faust tables backed by changelog topics, which a
restarted worker reads back before the agent resumes. Story detection and incident grouping need a
view of every item whatever its partition (copies of a story have different item ids), so the
stateful stage is one worker that owns every partition; table keys go through the producer's
partitioner (``use_partitioner``), so each key's history lives, in order, in one changelog
partition. Scaling out would re-key through an incidents topic first.

Stop-switch: when dead-lettering would exceed the limits of :mod:`services.classifier.dlq_limit`,
the worker logs why and exits with status 3 at once, leaving the batch's offsets uncommitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import Field

from schemas.codec import InvalidMessage, encode
from schemas.topics import TOPICS, TopicKey
from services.classifier.dlq_limit import DeadLetterLimitExceeded, DlqLimit, DlqLimitConfig
from services.classifier.incidents import IncidentBook, IncidentConfig
from services.classifier.metrics import ClassifierMetrics, create_metrics
from services.classifier.process import ItemTagger, classify, cloudevent_headers
from services.classifier.stories import StoryConfig, StoryIndex
from services.classifier.tagger import load_tagger
from services.common.clock import Clock, utc_now
from services.common.dead_letters import dead_letter_headers, make_dead_letter
from services.common.kafka_admin import ensure_topics
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)
SERVICE = "classifier"
EXIT_HALTED = 3


class ClassifierSettings(CommonSettings):
    taxonomy_file: Path = Field(default=Path("config/taxonomy.yaml"))
    gazetteer_path: Path = Field(
        default=Path("config/gazetteer"), description="A YAML file or a folder of them."
    )
    classifier_group_id: str = Field(
        default="borderwatch-classifier", min_length=1, description="faust app id."
    )
    classifier_web_host: str = Field(default="127.0.0.1")
    classifier_web_port: int = Field(default=6066, ge=1, le=65535)
    classifier_data_dir: Path = Field(default=Path("var/classifier"))
    classifier_batch_max: int = Field(default=500, ge=1, le=10_000)
    classifier_batch_within_s: float = Field(
        default=0.005,
        gt=0,
        le=5,
        description="How long a batch waits to fill (faust's fetcher hands over one message per "
        "event-loop turn, so a busy worker without a wait would see batches of one).",
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


class _TextKeys(MutableMapping[str, bytes]):
    """A raw-serialised faust table seen with text keys (the changelog carries UTF-8 bytes).

    Writes go to the table's store and their changelog records to ``changes``, which the batch
    sends with its other outputs and awaits before its offsets can be committed. (Assigning to
    the table itself would queue each record in faust's producer buffer, which sends one record
    per event-loop turn and stops consumption while more than 100 are queued.) Keys go through
    the producer's default partitioner, like the table's own writes with ``use_partitioner``.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._data = table.data
        self._changelog: str = table.changelog_topic.get_topic_name()
        self.changes: list[_Output] = []

    def __getitem__(self, key: str) -> bytes:
        value = self._data.get(key.encode())
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def _record(self, key: bytes, value: bytes | None) -> None:
        data = self._data
        self.changes.append(_Output(self._changelog, key, value, [], lambda: data.get(key)))

    def __setitem__(self, key: str, value: bytes) -> None:
        raw = key.encode()
        self._data[raw] = value
        self._record(raw, value)

    def __delitem__(self, key: str) -> None:
        raw = key.encode()
        del self._data[raw]
        self._record(raw, None)

    def __iter__(self) -> Iterator[str]:
        return (bytes(k).decode() for k in list(self._data.keys()))

    def __len__(self) -> int:
        return len(self._data)

    def take_changes(self) -> list[_Output]:
        changes, self.changes = self.changes, []
        return changes


class _DeliveryFailed(RuntimeError):
    """Outputs of a batch stayed unacknowledged after every attempt; the worker halts."""


def _halt(reason: str) -> None:
    """Exit at once: a graceful stop would ack (and commit) the batch that was not processed."""
    log.critical("classifier halted by the %s", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_HALTED)


def create_app(
    settings: ClassifierSettings,
    tagger: ItemTagger,
    clock: Clock = utc_now,
    registry: CollectorRegistry | None = None,
    halt: Callable[[str], None] = _halt,
) -> faust.App:
    registry = registry or CollectorRegistry()
    partitions = TOPICS[TopicKey.RAW_ITEMS].partitions
    metrics: ClassifierMetrics = create_metrics(
        registry, lag_partitions=(settings.topic(TopicKey.RAW_ITEMS), partitions)
    )
    app = faust.App(
        settings.classifier_group_id,
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
    )
    raw_topic = app.topic(
        settings.topic(TopicKey.RAW_ITEMS), value_type=bytes, key_type=bytes, partitions=partitions
    )
    tagged_name = settings.topic(TopicKey.TAGGED_EVENTS)
    incidents_name = settings.topic(TopicKey.INCIDENTS)
    dlq_name = settings.topic(TopicKey.RAW_ITEMS_DLQ)

    def table(name: str) -> _TextKeys:
        faust_table = app.Table(
            name,
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            use_partitioner=True,
        )
        return _TextKeys(faust_table)

    story_table, incident_table = table("stories"), table("incidents")
    stories = StoryIndex(
        story_table,
        StoryConfig(
            threshold=settings.classifier_story_threshold,
            window=timedelta(hours=settings.classifier_story_window_h),
        ),
    )
    book = IncidentBook(
        incident_table,
        IncidentConfig(retention=timedelta(days=settings.classifier_incident_retention_days)),
        defer_writes=True,
    )
    limit = DlqLimit(
        DlqLimitConfig(
            max_ratio=settings.classifier_dlq_max_ratio,
            max_consecutive=settings.classifier_dlq_max_consecutive,
            window_s=settings.classifier_dlq_window_s,
            min_messages=settings.classifier_dlq_min_messages,
        )
    )
    status = {"rebuilt": False}

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

    def dead_letter(event: Any, reason: str, reason_class: str, out: list[_Output]) -> None:
        message = event.message
        limit.check_dead_letter(time.monotonic())  # raises DeadLetterLimitExceeded
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
        out.append(_Output(dlq_name, message.key, encode(letter), dead_letter_headers(letter)))

    def handle_events(batch: list[Any], out: list[_Output]) -> list[float]:
        """Decide every event's outputs (appended to ``out``); returns the tagged events' ingest times."""
        ingested: list[float] = []
        now = clock()
        for event in batch:
            try:
                tagged, took = classify(event.value, tagger, stories, book, now, time.perf_counter)
            except InvalidMessage as exc:
                dead_letter(event, exc.reason, exc.reason_class, out)
                continue
            except DeadLetterLimitExceeded:
                raise
            except Exception as exc:  # per-event isolation: never let one item stop the stream
                message = event.message
                log.exception(
                    "tagging failed for %s[%s]@%s", message.topic, message.partition, message.offset
                )
                dead_letter(event, f"tagging failed: {type(exc).__name__}: {exc}", "processing", out)
                continue
            limit.record_ok(time.monotonic())
            out.append(
                _Output(tagged_name, tagged.item_id.encode(), encode(tagged), cloudevent_headers(tagged))
            )
            metrics.items.labels("ok", "none").inc()
            metrics.tagging_seconds.observe(took)
            for label in tagged.labels:
                metrics.labels.labels(label.value).inc()
            ingested.append(tagged.ingested_at.timestamp())
        return ingested

    async def process_batch(batch: list[Any]) -> Awaitable[None] | None:
        """Decide a batch's outputs; returns their delivery, which ends once the broker acknowledged
        every output (None: the worker halted)."""
        if not status["rebuilt"]:
            log.info("rebuilt state: %d story signatures, %d incidents", stories.rebuild(), book.rebuild())
            status["rebuilt"] = True
        started = time.perf_counter()
        out: list[_Output] = []
        try:
            try:
                ingested = handle_events(batch, out)
            finally:
                # One revision per touched incident for the whole batch (also when the stop-switch
                # tripped: the revisions of what was decided go out with it).
                for update in book.take_updates(clock()):
                    out.append(_Output(incidents_name, update.incident_id.encode(), encode(update), []))
                    metrics.incident_updates.labels(update.label.value).inc()
                # Table writes once per batch, delivered (and awaited) with the batch's outputs.
                stories.flush()
                book.flush()
                out.extend(story_table.take_changes())
                out.extend(incident_table.take_changes())
        except DeadLetterLimitExceeded as exc:
            # What was decided before the limit is delivered; the rest stays uncommitted.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(deliver(out), timeout=30)
            halt(f"dead-letter stop-switch: {exc}")
            return None
        metrics.stage_seconds.labels("process").observe(time.perf_counter() - started)
        metrics.batch_size.observe(len(batch))
        metrics.stories_indexed.set(len(stories))
        return finish(out, ingested)

    async def finish(out: list[_Output], ingested: list[float]) -> None:
        sent = time.perf_counter()
        try:
            await deliver(out)
        except _DeliveryFailed as exc:
            halt(f"delivery guard: {exc}")
            return
        except Exception as exc:  # never lose a batch silently: stop without committing it
            log.exception("delivering a batch failed")
            halt(f"delivery guard: {type(exc).__name__}")
            return
        metrics.stage_seconds.labels("deliver").observe(time.perf_counter() - sent)
        done = clock().timestamp()
        for at in ingested:
            metrics.publish_to_tagged_seconds.observe(max(0.0, done - at))

    @app.agent(raw_topic, name="tag-items")
    async def tag_items(stream: Any) -> None:
        # take_events acks a batch's events when the loop body returns: after its delivery.
        async for batch in stream.take_events(
            settings.classifier_batch_max, within=settings.classifier_batch_within_s
        ):
            delivery = await process_batch(list(batch))
            if delivery is not None:
                await delivery

    @app.timer(settings.classifier_lag_interval_s)  # type: ignore[untyped-decorator]
    async def refresh_lag() -> None:
        consumer = app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        for tp in consumer.assignment():
            if tp.topic != raw_topic.get_topic_name():
                continue
            highwater = consumer.highwater(tp)
            done = committed.get(tp)
            if highwater is None:
                continue
            lag = highwater - (done if done is not None and done >= 0 else 0)
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, lag))

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
            "broker": bool(app.consumer.assignment()) and not app.rebalancing,
            "state": app.tables.recovery.completed.is_set(),  # type: ignore[attr-defined]
        }
        ready = all(checks.values())
        return web.json({"ready": ready, "checks": checks}, status=200 if ready else 503)

    return app


def run_classifier(settings: ClassifierSettings) -> None:
    """Load and validate configuration, create the topics, and run the faust worker until a signal."""
    tagger = load_tagger(settings.taxonomy_file, settings.gazetteer_path)
    ensure_topics(settings)
    settings.classifier_data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, tagger)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
