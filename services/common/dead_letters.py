"""Building dead letters: the original bytes, the reason, and where the message came from."""

from __future__ import annotations

import base64
from datetime import datetime

from schemas.dead_letters import DeadLetterV1, ReasonClass


def make_dead_letter(
    *,
    service: str,
    reason: str,
    reason_class: ReasonClass,
    payload: bytes | None,
    now: datetime,
    original_topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    source_file: str | None = None,
    line_number: int | None = None,
) -> DeadLetterV1:
    return DeadLetterV1(
        service=service,
        reason=reason[:2000],
        reason_class=reason_class,
        failed_at=now,
        original_topic=original_topic,
        partition=partition,
        offset=offset,
        source_file=source_file,
        line_number=line_number,
        payload_base64=base64.b64encode(payload or b"").decode("ascii"),
    )


def dead_letter_headers(letter: DeadLetterV1) -> list[tuple[str, bytes]]:
    """Kafka headers that let an operator filter a DLQ without decoding the value."""
    headers = [
        ("bw_service", letter.service.encode()),
        ("bw_reason_class", letter.reason_class.encode()),
        ("bw_reason", letter.reason[:500].encode("utf-8", "replace")),
    ]
    if letter.original_topic is not None:
        headers.append(("bw_original_topic", letter.original_topic.encode()))
        headers.append(("bw_original_partition", str(letter.partition).encode()))
        headers.append(("bw_original_offset", str(letter.offset).encode()))
    if letter.line_number is not None:
        headers.append(("bw_line_number", str(letter.line_number).encode()))
    return headers
