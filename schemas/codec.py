"""The one codec for every topic: models to JSON bytes and back.

Every way a message can be bad (not UTF-8, not JSON, wrong shape, failed validation) surfaces as
one :class:`InvalidMessage` whose ``reason`` is safe to log and to put in a dead letter.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError

from schemas.common import ContractModel
from schemas.topics import TOPICS, TopicKey

M = TypeVar("M", bound=ContractModel)

_MAX_REASON = 2000


class InvalidMessage(ValueError):
    """A message that can never be processed; ``reason_class`` is 'decode' or 'validation'."""

    def __init__(self, reason: str, reason_class: str = "validation") -> None:
        super().__init__(reason)
        self.reason = reason[:_MAX_REASON]
        self.reason_class = reason_class


def encode(model: ContractModel) -> bytes:
    return model.model_dump_json().encode("utf-8")


def decode_as(model: type[M], raw: bytes | str | None) -> M:
    """Parse ``raw`` as ``model``; raise :class:`InvalidMessage` on any problem."""
    if raw is None:
        raise InvalidMessage("empty message (tombstone or null value)", "decode")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(f"not UTF-8: {exc.reason} at byte {exc.start}", "decode") from exc
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise InvalidMessage(f"not JSON: {exc.errors()[0]['msg']}", "decode") from exc
        raise InvalidMessage(describe_validation_error(exc), "validation") from exc


def decode(topic: TopicKey, raw: bytes | str | None) -> ContractModel:
    """Parse a message of ``topic`` with the model the registry names for it."""
    return decode_as(TOPICS[topic].model, raw)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per failing field, without echoing the input values (which may be huge or secret)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "<message>"
        parts.append(f"{where}: {err['msg']}")
    return f"{exc.error_count()} validation error(s) for {exc.title}: " + "; ".join(parts)
