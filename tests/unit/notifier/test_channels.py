from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from schemas import AlertV1, TopicKey, decode
from schemas.alerts import AlertEvent
from services.notifier.channels import (
    ConsoleChannel,
    Notification,
    PermanentSendError,
    RetryableSendError,
    SlackChannel,
    WebhookChannel,
    backoff_delay,
    classify_status,
    ingest_to_delivery_seconds,
    parse_retry_after,
)
from services.notifier.channels.smtp import HeaderInjection, build_message, header_value
from services.notifier.channels.webhook import verify
from services.notifier.render import (
    SLACK_HEADER_MAX,
    SLACK_MAX_BLOCKS,
    SLACK_SECTION_MAX,
    SLACK_TOTAL_MAX,
    email_html,
    safe_link,
    slack_escape,
    slack_payload,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "schemas" / "examples" / "alerts" / "v1" / "count-fired.json"
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)


def alert(**update: object) -> AlertV1:
    model = decode(TopicKey.ALERTS, EXAMPLE.read_bytes())
    assert isinstance(model, AlertV1)
    return model.model_copy(update=update)


def note(*alerts: AlertV1, subscriber: str = "ops", channel: str = "main") -> Notification:
    return Notification(subscriber, channel, alerts or (alert(),), NOW)


def hostile_event(**update: object) -> AlertEvent:
    base = alert().events[0]
    return base.model_copy(update=update)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "ok"), (204, "ok"), (429, "retry"), (500, "retry"), (503, "retry"), (400, "permanent"),
     (401, "permanent"), (404, "permanent"), (301, "permanent")],
)  # fmt: skip
def test_classify_status(status: int, outcome: str) -> None:
    assert classify_status(status) == outcome


@pytest.mark.parametrize(
    ("value", "seconds"), [("7", 7.0), ("0.5", 0.5), (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", None)]
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


@pytest.mark.parametrize(
    ("attempt", "jitter", "retry_after", "expected"),
    [
        (1, 0.0, None, 0.5),  # half of base at the lowest jitter
        (1, 1.0, None, 1.0),
        (4, 1.0, None, 8.0),  # exponential
        (30, 1.0, None, 300.0),  # capped
        (1, 0.0, 7.0, 7.0),  # Retry-After is a floor
        (1, 0.0, 10_000.0, 300.0),  # but a bogus one is capped
    ],
)
def test_backoff_is_exponential_jittered_capped_and_honours_retry_after(
    attempt: int, jitter: float, retry_after: float | None, expected: float
) -> None:
    assert backoff_delay(attempt, retry_after_s=retry_after, jitter=lambda: jitter) == pytest.approx(expected)


def test_latency_is_measured_from_the_latest_ingested_event() -> None:
    a = alert()
    latest = max(e.ingested_at for e in a.events)
    assert ingest_to_delivery_seconds(a, latest + timedelta(seconds=1.5)) == pytest.approx(1.5)


async def test_console_channel_prints_one_line_per_alert_with_latency() -> None:
    out = io.StringIO()
    a = alert()
    at = max(e.ingested_at for e in a.events) + timedelta(milliseconds=250)
    await ConsoleChannel(out).send(Notification("console", "console", (a,), at))
    line = out.getvalue()
    assert line.count("\n") == 1 and a.rule_id in line and "ingest->delivery=0.250s" in line


def test_idempotency_key_differs_per_subscriber_and_channel_and_is_stable() -> None:
    a = alert()
    assert note(a).idempotency_key == note(a).idempotency_key
    assert note(a).idempotency_key != note(a, subscriber="other").idempotency_key
    assert note(a).idempotency_key != note(a, channel="other").idempotency_key


async def test_webhook_posts_signed_alert_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await WebhookChannel(client, "https://hooks.example/secret-path", b"s3cret").send(note())
    request = seen[0]
    assert json.loads(request.content)["alert_id"] == alert().alert_id
    assert request.headers["idempotency-key"] == note().idempotency_key
    assert request.headers["x-borderwatch-alert-id"] == alert().alert_id
    ts, sig = request.headers["x-borderwatch-timestamp"], request.headers["x-borderwatch-signature"]
    assert ts == str(int(NOW.timestamp())) and sig.startswith("sha256=")
    assert verify(b"s3cret", ts, request.content, sig)
    assert not verify(b"other", ts, request.content, sig)
    assert not verify(b"s3cret", ts, request.content + b" ", sig)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, RetryableSendError),
        (502, RetryableSendError),
        (404, PermanentSendError),
        (302, PermanentSendError),
    ],
)
async def test_http_failures_are_classified_and_never_show_the_url(
    status: int, error: type[Exception]
) -> None:
    secret_url = "https://hooks.example/T000/B000/very-secret-token"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"retry-after": "3", "location": "https://elsewhere.example/"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=False) as client:
        for channel in (WebhookChannel(client, secret_url), SlackChannel(client, secret_url)):
            with pytest.raises(error) as info:
                await channel.send(note())
            assert "very-secret-token" not in str(info.value)
            if isinstance(info.value, RetryableSendError) and status == 429:
                assert info.value.retry_after_s == 3.0


async def test_connection_errors_are_retryable_without_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(RetryableSendError) as info:
            await WebhookChannel(client, "https://hooks.example/very-secret-token").send(note())
    assert "very-secret-token" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [("a & b", "a &amp; b"), ("<!channel>", "&lt;!channel&gt;"), ("<http://x|click>", "&lt;http://x|click&gt;"),
     ("*bold* _it_", "*bold* _it_")],
)  # fmt: skip
def test_slack_escape_exactly_amp_lt_gt(text: str, escaped: str) -> None:
    assert slack_escape(text) == escaped


@pytest.mark.parametrize(
    ("url", "kept"),
    [("https://news.example/a?b=1", True), ("http://x.example/", True), ("javascript:alert(1)", False),
     ("ftp://x.example/f", False), ("https://x.example/a|b", False), ("https://x.example/<b>", False),
     (None, False)],
)  # fmt: skip
def test_only_plain_http_links_are_kept(url: str | None, kept: bool) -> None:
    assert (safe_link(url) is not None) == kept


def test_slack_payload_escapes_item_text_and_links_sources() -> None:
    event = hostile_event(title="<!channel> Torkham & Chaman <http://evil|x>", url="https://news.example/1")
    payload = slack_payload([alert(events=[event])])
    text = json.dumps(payload)
    assert "<!channel>" not in text and "&lt;!channel&gt; Torkham &amp; Chaman" in text
    assert "<https://news.example/1|" in text
    assert payload["text"] and payload["blocks"][0]["type"] == "header"


def test_slack_payload_stays_within_limits_for_huge_digests() -> None:
    long_event = hostile_event(title="x" * 5000, evidence=["y" * 5000])
    alerts = [alert(alert_id=f"a{i}", summary="s" * 400, events=[long_event] * 8) for i in range(120)]
    payload = slack_payload(alerts)
    blocks = payload["blocks"]
    assert len(blocks) <= SLACK_MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= SLACK_HEADER_MAX
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections and all(len(s) <= SLACK_SECTION_MAX for s in sections)
    assert sum(len(s) for s in sections) <= SLACK_TOTAL_MAX
    assert "more alert(s) not shown" in json.dumps(blocks[-1])


def test_single_alert_header_is_cut_to_slack_limit() -> None:
    payload = slack_payload([alert(summary="z" * 1000)])
    assert len(payload["blocks"][0]["text"]["text"]) == SLACK_HEADER_MAX


def test_email_is_multipart_text_and_escaped_html() -> None:
    event = hostile_event(title="<script>alert(1)</script> & more", evidence=["<b>bold</b>"])
    message = build_message(note(alert(events=[event])), "bw@example.org", ["ops@example.org"])
    parsed = message_from_bytes(bytes(message))
    assert parsed.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in parsed.walk()]
    assert "text/plain" in types and "text/html" in types
    assert isinstance(message, EmailMessage)
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; more" in html
    assert message["X-Borderwatch-Idempotency-Key"] == note(alert(events=[event])).idempotency_key


@pytest.mark.parametrize("bad", ["a\r\nBcc: x@y", "a\nb", "a\0b"])
def test_header_values_with_cr_lf_nul_are_rejected(bad: str) -> None:
    with pytest.raises(HeaderInjection):
        header_value(bad)
    with pytest.raises(HeaderInjection):
        build_message(note(), f"bw@example.org{bad}", ["ops@example.org"])


def test_subject_from_item_text_is_folded_to_one_line() -> None:
    message = build_message(note(alert(summary="Torkham\r\nBcc: evil@example.org")), "bw@x.org", ["o@x.org"])
    assert "\n" not in str(message["Subject"]) and message["Bcc"] is None


def test_email_html_links_only_http() -> None:
    html = email_html([alert(events=[hostile_event(url="javascript:alert(1)")])])
    assert "javascript:" not in html
