"""An in-memory stand-in for kafka-python's producer, for the publisher's unit tests."""

from __future__ import annotations

from typing import Any

from kafka.errors import KafkaTimeoutError


class _Future:
    """kafka-python's send future, settled at once: acknowledged, or failed with ``error``."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_callback(self, fn: Any) -> None:
        if self.error is None:
            fn(object())

    def add_errback(self, fn: Any) -> None:
        if self.error is not None:
            fn(self.error)


class MemoryProducer:
    """Acknowledges every send, except those of ``refuse`` keys; ``blocked`` sends raise at once
    (as kafka-python's ``send`` does when it cannot get metadata in time).

    ``sent`` holds (topic, key, value) of every acknowledged send, in order.
    """

    def __init__(self, refuse: set[bytes] | None = None, blocked: bool = False) -> None:
        self.refuse = refuse or set()
        self.blocked = blocked
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None
    ) -> Any:
        if self.blocked:
            raise KafkaTimeoutError("metadata not available")
        if key in self.refuse:
            return _Future(RuntimeError("not acknowledged"))
        self.sent.append((topic, key, value))
        return _Future(None)
