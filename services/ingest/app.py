"""Ingest wiring: the Kafka producer, replay of a JSONL file, and the summary.

An item counts as accepted only once the broker acknowledged it (``acks=all``, idempotent
producer). A rejected line goes to the raw-items dead-letter topic with its line number.
"""

from __future__ import annotations

import gzip
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from pydantic import Field, model_validator

from schemas.codec import encode
from schemas.topics import TopicKey
from services.common.clock import Clock, utc_now
from services.common.dead_letters import dead_letter_headers, make_dead_letter
from services.common.kafka_admin import ensure_topics
from services.common.settings import CommonSettings
from services.ingest.replay_reader import AcceptedLine, read_replay_lines

log = logging.getLogger(__name__)
SERVICE = "ingest"


class IngestSettings(CommonSettings):
    producer_linger_ms: int = Field(default=5, ge=0, le=1000)
    producer_max_block_ms: int = Field(default=10_000, ge=100)
    producer_request_timeout_ms: int = Field(default=15_000, ge=1000)
    producer_delivery_timeout_ms: int = Field(default=30_000, ge=2000)
    ack_timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _delivery_outlasts_a_request(self) -> IngestSettings:
        # kafka-python refuses to start otherwise; say so in terms of our settings.
        if self.producer_delivery_timeout_ms <= self.producer_linger_ms + self.producer_request_timeout_ms:
            raise ValueError("BW_PRODUCER_DELIVERY_TIMEOUT_MS must exceed linger + request timeout")
        return self


@dataclass
class ReplaySummary:
    accepted: int = 0
    invalid: int = 0
    invalid_lines: list[tuple[int, str]] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"replay: {self.accepted} accepted, {self.invalid} invalid"]
        lines += [f"  line {n}: {reason}" for n, reason in self.invalid_lines[:50]]
        if len(self.invalid_lines) > 50:
            lines.append(f"  ... and {len(self.invalid_lines) - 50} more")
        return "\n".join(lines)


def create_producer(settings: IngestSettings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_list,
        client_id="borderwatch-ingest",
        acks="all",
        enable_idempotence=True,
        compression_type="gzip",
        linger_ms=settings.producer_linger_ms,
        max_block_ms=settings.producer_max_block_ms,
        request_timeout_ms=settings.producer_request_timeout_ms,
        delivery_timeout_ms=settings.producer_delivery_timeout_ms,
    )


@contextmanager
def open_replay_source(path: str) -> Iterator[Iterable[bytes]]:
    """``-`` is standard input; a ``.gz`` name is read through gzip."""
    if path == "-":
        yield sys.stdin.buffer
    elif path.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            yield fh
    else:
        with Path(path).open("rb") as fh:
            yield fh


def replay(
    settings: IngestSettings, path: str, *, clock: Clock = utc_now, producer: KafkaProducer | None = None
) -> ReplaySummary:
    """Produce every valid line of ``path`` to raw-items and every invalid one to its DLQ.

    Returns after the broker acknowledged every message; raises if any send failed, so a
    caller never reports an item as accepted that the broker did not take.
    """
    ensure_topics(settings)
    own_producer = producer is None
    prod = producer or create_producer(settings)
    raw_topic = settings.topic(TopicKey.RAW_ITEMS)
    dlq_topic = settings.topic(TopicKey.RAW_ITEMS_DLQ)
    summary = ReplaySummary()
    futures: list[Any] = []
    try:
        with open_replay_source(path) as source:
            for outcome in read_replay_lines(source, clock):
                if isinstance(outcome, AcceptedLine):
                    item = outcome.item
                    futures.append(prod.send(raw_topic, key=item.id.encode(), value=encode(item)))
                    summary.accepted += 1
                else:
                    letter = make_dead_letter(
                        service=SERVICE,
                        reason=outcome.reason,
                        reason_class="input",
                        payload=outcome.raw,
                        now=clock(),
                        source_file=None if path == "-" else Path(path).name,
                        line_number=outcome.line_number,
                    )
                    futures.append(
                        prod.send(dlq_topic, value=encode(letter), headers=dead_letter_headers(letter))
                    )
                    summary.invalid += 1
                    summary.invalid_lines.append((outcome.line_number, outcome.reason))
        prod.flush(timeout=settings.ack_timeout_s)
        for fut in futures:
            fut.get(timeout=settings.ack_timeout_s)  # raises KafkaError when the broker refused
    finally:
        if own_producer:
            prod.close(timeout=settings.ack_timeout_s)
    return summary
