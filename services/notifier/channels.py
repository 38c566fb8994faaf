"""Delivery channels behind one protocol, and the one status classifier they share."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Literal, Protocol, TextIO

import httpx

from schemas.alerts import AlertV1
from schemas.codec import encode

Outcome = Literal["ok", "retry", "permanent"]


class RetryableSendError(Exception):
    """The channel may accept the alert later (429, 5xx, timeout, connection refused)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentSendError(Exception):
    """The channel will never accept this alert as it is (other 4xx)."""


def classify_status(status: int) -> Outcome:
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


def ingest_to_delivery_seconds(alert: AlertV1, delivered_at: datetime) -> float | None:
    if not alert.events:
        return None
    return (delivered_at - max(e.ingested_at for e in alert.events)).total_seconds()


def render_console_line(alert: AlertV1, delivered_at: datetime) -> str:
    latency = ingest_to_delivery_seconds(alert, delivered_at)
    shown = f"{latency:.3f}s" if latency is not None else "n/a"
    return (
        f"ALERT [{alert.severity.upper()}] {alert.rule_id} {alert.summary} "
        f"window={alert.window_start:%Y-%m-%d} ingest->delivery={shown}"
    )


class Channel(Protocol):
    name: str

    async def send(self, alert: AlertV1, delivered_at: datetime) -> None:
        """Deliver once; raise RetryableSendError or PermanentSendError on failure."""
        ...


class ConsoleChannel:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, alert: AlertV1, delivered_at: datetime) -> None:
        stream = self._stream or sys.stdout
        stream.write(render_console_line(alert, delivered_at) + "\n")
        stream.flush()


class WebhookChannel:
    """POSTs the alert JSON. The URL is a secret: it never appears in errors or logs."""

    name = "webhook"

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self._client = client
        self._url = url

    async def send(self, alert: AlertV1, delivered_at: datetime) -> None:
        try:
            response = await self._client.post(
                self._url,
                content=encode(alert),
                headers={"content-type": "application/json", "idempotency-key": alert.alert_id},
            )
        except httpx.TimeoutException as exc:
            raise RetryableSendError(f"webhook timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RetryableSendError(f"webhook unreachable ({type(exc).__name__})") from None
        outcome = classify_status(response.status_code)
        if outcome == "retry":
            raise RetryableSendError(
                f"webhook answered {response.status_code}",
                parse_retry_after(response.headers.get("retry-after")),
            )
        if outcome == "permanent":
            raise PermanentSendError(f"webhook answered {response.status_code}")
