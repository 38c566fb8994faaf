"""Classifier wiring: the faust app, its agent, the dead-letter path and the worker.

Topics carry raw bytes and go through the project's codec, not ``faust.Record``. The agent
catches per event: an exception escaping a faust agent would skip its offset, so every failure
becomes a dead letter with its reason and the stream goes on. Sends made while handling an
event are attached to it, and faust flushes the producer before committing the offset, so the
tagged event (or dead letter) is on the broker before the raw item counts as done.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import faust
from pydantic import Field

from schemas.codec import InvalidMessage, encode
from schemas.topics import TOPICS, TopicKey
from services.classifier.process import ItemTagger, cloudevent_headers, tag_raw_message
from services.classifier.tagger import load_tagger
from services.common.clock import Clock, utc_now
from services.common.dead_letters import dead_letter_headers, make_dead_letter
from services.common.kafka_admin import ensure_topics
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)
SERVICE = "classifier"


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


def _headers(pairs: list[tuple[str, bytes]]) -> dict[str, bytes]:
    return dict(pairs)


def create_app(settings: ClassifierSettings, tagger: ItemTagger, clock: Clock = utc_now) -> faust.App:
    app = faust.App(
        settings.classifier_group_id,
        broker=[f"kafka://{s}" for s in settings.bootstrap_list],
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        processing_guarantee="at_least_once",
        topic_replication_factor=1,
        topic_allow_declare=True,
        datadir=str(settings.classifier_data_dir),
        web_host=settings.classifier_web_host,
        web_port=settings.classifier_web_port,
        web_bind=settings.classifier_web_host,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        loghandlers=[],
    )
    raw_topic = app.topic(
        settings.topic(TopicKey.RAW_ITEMS),
        value_type=bytes,
        key_type=bytes,
        partitions=TOPICS[TopicKey.RAW_ITEMS].partitions,
    )
    tagged_topic = app.topic(
        settings.topic(TopicKey.TAGGED_EVENTS),
        value_type=bytes,
        key_type=bytes,
        partitions=TOPICS[TopicKey.TAGGED_EVENTS].partitions,
    )
    dlq_topic = app.topic(
        settings.topic(TopicKey.RAW_ITEMS_DLQ),
        value_type=bytes,
        key_type=bytes,
        partitions=TOPICS[TopicKey.RAW_ITEMS_DLQ].partitions,
    )

    async def dead_letter(event: Any, reason: str, reason_class: str) -> None:
        message = event.message
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
        await dlq_topic.send(
            key=message.key, value=encode(letter), headers=_headers(dead_letter_headers(letter))
        )

    @app.agent(raw_topic, name="tag-items")
    async def tag_items(stream: Any) -> None:
        async for event in stream.events():
            try:
                tagged = tag_raw_message(event.value, tagger, clock())
            except InvalidMessage as exc:
                await dead_letter(event, exc.reason, exc.reason_class)
                continue
            except Exception as exc:  # per-event isolation: never let one item stop the stream
                log.exception(
                    "tagging failed for %s[%s]@%s",
                    event.message.topic,
                    event.message.partition,
                    event.message.offset,
                )
                await dead_letter(event, f"tagging failed: {type(exc).__name__}: {exc}", "processing")
                continue
            await tagged_topic.send(
                key=tagged.item_id.encode(),
                value=encode(tagged),
                headers=_headers(cloudevent_headers(tagged)),
            )

    return app


def run_classifier(settings: ClassifierSettings) -> None:
    """Load and validate configuration, create the topics, and run the faust worker until a signal."""
    tagger = load_tagger(settings.taxonomy_file, settings.gazetteer_path)
    ensure_topics(settings)
    settings.classifier_data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, tagger)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
