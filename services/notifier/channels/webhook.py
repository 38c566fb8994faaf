"""Generic webhook: the alert JSON, signed with HMAC-SHA256 over ``<timestamp>.<body>``.

Headers: ``X-Borderwatch-Timestamp`` (Unix seconds), ``X-Borderwatch-Signature: sha256=<hex>``
(when a secret is configured), ``Idempotency-Key`` (stable per alert, subscriber and channel) and
``X-Borderwatch-Alert-Id``. A digest is ``{"alerts": [...]}``. Redirects are not followed (the
client is built with ``follow_redirects=False``), so a 3xx is a permanent failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from schemas.codec import encode
from services.notifier.channels.base import (
    Notification,
    PermanentSendError,
    RetryableSendError,
    raise_for_status,
)

SIGNATURE_HEADER = "x-borderwatch-signature"
TIMESTAMP_HEADER = "x-borderwatch-timestamp"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def webhook_body(notification: Notification) -> bytes:
    if not notification.is_digest:
        return encode(notification.alerts[0])
    alerts = [json.loads(encode(a)) for a in notification.alerts]
    return json.dumps({"alerts": alerts}, separators=(",", ":")).encode()


class WebhookChannel:
    """POSTs the alert JSON. The URL and secret never appear in errors or logs."""

    kind = "webhook"

    def __init__(self, client: httpx.AsyncClient, url: str, secret: bytes | None = None) -> None:
        self._client = client
        self._url = url
        self._secret = secret

    async def send(self, notification: Notification) -> None:
        body = webhook_body(notification)
        timestamp = str(int(notification.sent_at.timestamp()))
        headers = {
            "content-type": "application/json",
            "idempotency-key": notification.idempotency_key,
            "x-borderwatch-alert-id": ",".join(a.alert_id for a in notification.alerts),
            TIMESTAMP_HEADER: timestamp,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        await post(self._client, self._url, body, headers, "webhook")


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], what: str) -> None:
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise RetryableSendError(f"{what} timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise RetryableSendError(f"{what} unreachable ({type(exc).__name__})") from None
    except httpx.InvalidURL:
        raise PermanentSendError(f"{what} URL is invalid") from None
    raise_for_status(what, response.status_code, response.headers.get("retry-after"))
