"""What every channel shares: the notification it sends, its errors, and one status classifier.

Channels are plugins behind :class:`Channel`: ``async send(notification)`` returns when the
receiving side accepted the message and raises :class:`RetryableSendError` (429, 5xx, timeouts,
refused connections) or :class:`PermanentSendError` (any other 4xx, a payload the receiver will
never take). Errors never carry URLs, addresses or other secrets.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from schemas.alerts import AlertV1

Outcome = Literal["ok", "retry", "permanent"]


class RetryableSendError(Exception):
    """The channel may accept the message later (429, 5xx, timeout, connection refused)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentSendError(Exception):
    """The channel will never accept this message as it is (other 4xx, bad payload)."""


def classify_status(status: int) -> Outcome:
    """The one decision for every HTTP channel: 2xx ok; 429 and 5xx retry; anything else permanent."""
    if 200 <= status < 300:
        return "ok"
    if status == 429 or status >= 500:
        return "retry"
    return "permanent"


def parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


def raise_for_status(what: str, status: int, retry_after: str | None) -> None:
    outcome = classify_status(status)
    if outcome == "retry":
        raise RetryableSendError(f"{what} answered {status}", parse_retry_after(retry_after))
    if outcome == "permanent":
        raise PermanentSendError(f"{what} answered {status}")


def backoff_delay(
    attempt: int,
    *,
    retry_after_s: float | None = None,
    base_s: float = 1.0,
    cap_s: float = 300.0,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` >= 1 failed attempts so far).

    Full-jitter exponential backoff capped at ``cap_s``; a server's ``Retry-After`` is a floor
    (never retry earlier than asked), itself capped so a bogus header cannot park an alert for days.
    """
    exponential = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    delay = float(exponential / 2 + jitter() * exponential / 2)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, cap_s))
    return delay


@dataclass(frozen=True)
class Notification:
    """One message to one subscriber on one channel: a single alert, or a digest of several."""

    subscriber: str
    channel: str
    alerts: tuple[AlertV1, ...]
    sent_at: datetime

    @property
    def is_digest(self) -> bool:
        return len(self.alerts) > 1

    @property
    def idempotency_key(self) -> str:
        """Stable per (alerts, subscriber, channel): receivers can drop a repeat after a crash."""
        basis = "|".join([self.subscriber, self.channel, *sorted(a.alert_id for a in self.alerts)])
        return hashlib.blake2b(basis.encode(), digest_size=16).hexdigest()


class Channel(Protocol):
    kind: str

    async def send(self, notification: Notification) -> None:
        """Deliver once; raise RetryableSendError or PermanentSendError on failure."""
        ...


def delivery_key(alert_id: str, subscriber: str, channel: str) -> str:
    """The idempotency key of one alert for one subscriber on one channel (sent markers)."""
    return f"{alert_id}:{subscriber}:{channel}"
