"""Topics ``<topic>.dlq``: messages that could not be processed, with the reason."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.common import ContractModel, UtcDatetime

ReasonClass = Literal["decode", "validation", "processing", "input"]


class DeadLetterV1(ContractModel):
    """A message a service gave up on. The original bytes are kept (base64) so nothing is lost.

    ``original_topic``/``partition``/``offset`` are set when the message came from Kafka;
    ``source_file``/``line_number`` when it came from a replayed file.
    """

    schema_version: Literal[1] = 1
    service: str
    reason: str = Field(description="Human-readable reason, e.g. the validation error.")
    reason_class: ReasonClass
    failed_at: UtcDatetime
    original_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    source_file: str | None = None
    line_number: int | None = Field(default=None, ge=1)
    payload_base64: str = Field(description="The original message value, base64-encoded.")
