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
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

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
    classifier_batch_within_s: float = Field(default=0.02, gt=0, le=5)
    classifier_story_window_h: float = Field(default=72.0, gt=0)
    classifier_story_threshold: float = Field(default=0.5, gt=0, le=1)
    classifier_incident_retention_days: int = Field(default=7, ge=1)
    classifier_dlq_max_ratio: float = Field(default=0.5, gt=0, le=1)
    classifier_dlq_max_consecutive: int = Field(default=200, ge=1)
    classifier_dlq_window_s: float = Field(default=60.0, gt=0)
    classifier_dlq_min_messages: int = Field(default=50, ge=1)


class _TextKeys(MutableMapping[str, bytes]):
    """A raw-serialised faust table seen with text keys (the changelog carries UTF-8 bytes)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getitem__(self, key: str) -> bytes:
        value = self._table.get(key.encode())
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        self._table[key.encode()] = value

    def __delitem__(self, key: str) -> None:
        del self._table[key.encode()]

    def __iter__(self) -> Iterator[str]:
        return (bytes(k).decode() for k in list(self._table.keys()))

    def __len__(self) -> int:
        return len(self._table)


def _halt(reason: str) -> None:
    """Exit at once: a graceful stop would ack (and commit) the batch that was not processed."""
    log.critical("classifier halted by the dead-letter stop-switch: %s", reason)
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
    metrics: ClassifierMetrics = create_metrics(registry)
    partitions = TOPICS[TopicKey.RAW_ITEMS].partitions
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
        producer_linger_ms=5,
        loghandlers=[],
    )
    raw_topic = app.topic(
        settings.topic(TopicKey.RAW_ITEMS), value_type=bytes, key_type=bytes, partitions=partitions
    )
    tagged_name = settings.topic(TopicKey.TAGGED_EVENTS)
    incidents_name = settings.topic(TopicKey.INCIDENTS)
    dlq_name = settings.topic(TopicKey.RAW_ITEMS_DLQ)

    def table(name: str) -> MutableMapping[str, bytes]:
        faust_table = app.Table(
            name,
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            use_partitioner=True,
        )
        return _TextKeys(faust_table)

    stories = StoryIndex(
        table("stories"),
        StoryConfig(
            threshold=settings.classifier_story_threshold,
            window=timedelta(hours=settings.classifier_story_window_h),
        ),
    )
    book = IncidentBook(
        table("incidents"),
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

    def send(topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Awaitable[Any]:
        return app.producer.send(topic, key, value, None, None, headers)

    async def dead_letter(event: Any, reason: str, reason_class: str) -> Awaitable[Any]:
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
        sent: Awaitable[Any] = await send(dlq_name, message.key, encode(letter), dead_letter_headers(letter))
        return sent

    async def process_batch(batch: list[Any]) -> None:
        if not status["rebuilt"]:
            log.info("rebuilt state: %d story signatures, %d incidents", stories.rebuild(), book.rebuild())
            status["rebuilt"] = True
        pending: list[Awaitable[Any]] = []
        try:
            await handle_events(batch, pending)
            book.flush()  # before the batch is acked; faust flushes changelogs before committing
        except DeadLetterLimitExceeded as exc:
            # What was decided before the limit is delivered; the rest stays uncommitted.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*pending), timeout=30)
            halt(str(exc))
            return
        metrics.batch_size.observe(len(batch))
        metrics.stories_indexed.set(len(stories))

    async def handle_events(batch: list[Any], pending: list[Awaitable[Any]]) -> None:
        ingested = []
        for event in batch:
            try:
                out = classify(event.value, tagger, stories, book, clock(), time.perf_counter)
            except InvalidMessage as exc:
                pending.append(await dead_letter(event, exc.reason, exc.reason_class))
                continue
            except Exception as exc:  # per-event isolation: never let one item stop the stream
                message = event.message
                log.exception(
                    "tagging failed for %s[%s]@%s", message.topic, message.partition, message.offset
                )
                pending.append(
                    await dead_letter(event, f"tagging failed: {type(exc).__name__}: {exc}", "processing")
                )
                continue
            limit.record_ok(time.monotonic())
            tagged = out.event
            pending.append(
                await send(tagged_name, tagged.item_id.encode(), encode(tagged), cloudevent_headers(tagged))
            )
            for update in out.incidents:
                pending.append(await send(incidents_name, update.incident_id.encode(), encode(update), []))
                metrics.incident_updates.labels(update.label.value).inc()
            metrics.items.labels("ok", "none").inc()
            metrics.tagging_seconds.observe(out.tagging_s)
            for label in tagged.labels:
                metrics.labels.labels(label.value).inc()
            ingested.append(tagged.ingested_at)
        await asyncio.gather(*pending)
        done = clock()
        for at in ingested:
            metrics.publish_to_tagged_seconds.observe(max(0.0, (done - at).total_seconds()))

    @app.agent(raw_topic, name="tag-items")
    async def tag_items(stream: Any) -> None:
        async for batch in stream.take_events(
            settings.classifier_batch_max, within=settings.classifier_batch_within_s
        ):
            await process_batch(list(batch))

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
