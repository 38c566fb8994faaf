from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from schemas import AlertV1, TopicKey, decode
from services.notifier.channels import (
    ConsoleChannel,
    PermanentSendError,
    RetryableSendError,
    WebhookChannel,
    classify_status,
    ingest_to_delivery_seconds,
    parse_retry_after,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "schemas" / "examples" / "alerts" / "v1" / "count-fired.json"


def alert() -> AlertV1:
    model = decode(TopicKey.ALERTS, EXAMPLE.read_bytes())
    assert isinstance(model, AlertV1)
    return model


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "ok"),
        (204, "ok"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (301, "permanent"),
    ],
)
def test_classify_status(status: int, outcome: str) -> None:
    assert classify_status(status) == outcome


@pytest.mark.parametrize(
    ("value", "seconds"), [("7", 7.0), ("0.5", 0.5), (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", None)]
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_latency_is_measured_from_the_latest_ingested_event() -> None:
    a = alert()
    latest = max(e.ingested_at for e in a.events)
    assert ingest_to_delivery_seconds(a, latest + timedelta(seconds=1.5)) == pytest.approx(1.5)


async def test_console_channel_prints_one_line_with_latency() -> None:
    out = io.StringIO()
    a = alert()
    await ConsoleChannel(out).send(a, max(e.ingested_at for e in a.events) + timedelta(milliseconds=250))
    line = out.getvalue()
    assert line.count("\n") == 1 and a.rule_id in line and "ingest->delivery=0.250s" in line


async def test_webhook_posts_the_alert_json_with_an_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await WebhookChannel(client, "https://hooks.example/secret-path").send(alert(), datetime.now(UTC))
    assert json.loads(seen[0].content)["alert_id"] == alert().alert_id
    assert seen[0].headers["idempotency-key"] == alert().alert_id


@pytest.mark.parametrize(
    ("status", "error"), [(429, RetryableSendError), (502, RetryableSendError), (404, PermanentSendError)]
)
async def test_webhook_failures_are_classified_and_never_show_the_url(
    status: int, error: type[Exception]
) -> None:
    secret_url = "https://hooks.example/T000/B000/very-secret-token"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"retry-after": "3"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(error) as info:
            await WebhookChannel(client, secret_url).send(alert(), datetime.now(UTC))
    assert "very-secret-token" not in str(info.value)
    if isinstance(info.value, RetryableSendError) and status == 429:
        assert info.value.retry_after_s == 3.0


async def test_webhook_connection_errors_are_retryable_without_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(RetryableSendError) as info:
            await WebhookChannel(client, "https://hooks.example/very-secret-token").send(
                alert(), datetime.now(UTC)
            )
    assert "very-secret-token" not in str(info.value)
