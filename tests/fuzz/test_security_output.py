"""Item text cannot inject into Slack or e-mail, and outbound calls go only where configured.

Through the real channels: Slack's renderer posting to a local Slack-like server, e-mail to a real
aiosmtpd server, webhooks to local servers that redirect elsewhere or never answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.alerts import AlertV1
from services.notifier.app import NotifierSettings, outbound_http_client
from services.notifier.channels import (
    EmailChannel,
    Notification,
    PermanentSendError,
    RetryableSendError,
    SlackChannel,
    SmtpServer,
    WebhookChannel,
)
from services.notifier.render import email_html, slack_payload
from tests.fuzz.cases import ran
from tests.integration.slack_sink import SlackLikeSink, SmtpSink
from tests.sinks import HttpSink

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "alerts" / "v1" / "count-fired.json"
HOSTILE_TITLE = "<!channel> <!here> <@U024BE7LH> <http://evil.example|Click me> &amp; a < b > c"
HOSTILE_URLS = [
    "javascript:alert(1)",
    "http://evil.example|label>",
    "data:text/html,<script>x</script>",
    "ftp://x.example/",
]


def hostile_alert(title: str = HOSTILE_TITLE, url: str | None = None, summary: str | None = None) -> AlertV1:
    document = json.loads(EXAMPLE.read_text())
    for event in document["events"]:
        event["title"] = title
        event["source"] = "<script>alert('src')</script>"
        event["evidence"] = [f"{title} <img src=x onerror=alert(1)>"]
        event["url"] = url
    if summary is not None:
        document["summary"] = summary
    return AlertV1.model_validate(document)


def notification(alert: AlertV1) -> Notification:
    return Notification("ops", "slack", (alert,), datetime(2025, 11, 20, 12, tzinfo=UTC))


def _mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", [])]
    return texts


def _assert_no_slack_control_sequence(payload: dict[str, Any]) -> None:
    for text in _mrkdwn_texts(payload):
        # Our own links are <http(s)://...|label>; any other "<" would be a control sequence.
        stripped = re.sub(r"<https?://[^<>|\s]+\|[^<>]*>", "", text)
        assert "<" not in stripped and ">" not in stripped.replace("\n>", "\n").removeprefix(">"), text


def test_slack_messages_escape_item_text_through_the_real_channel() -> None:
    ran("security: slack output")
    settings_ = NotifierSettings()
    with SlackLikeSink() as sink:

        async def send_all() -> None:
            async with outbound_http_client(settings_) as client:
                channel = SlackChannel(client, sink.url)
                for url in [None, "https://news.example/a?x=1&y=2", *HOSTILE_URLS]:
                    await channel.send(notification(hostile_alert(url=url)))

        asyncio.run(send_all())
        received = sink.snapshot()
    assert len(received) == 2 + len(HOSTILE_URLS)
    for payload in received:
        _assert_no_slack_control_sequence(payload)
        body = json.dumps(payload)
        assert "<!channel>" not in body and "<!here>" not in body and "<@U024BE7LH>" not in body
        assert "&lt;!channel&gt;" in body
        assert "evil.example|Click" not in body.replace("&lt;http://evil.example|Click me&gt;", "")
        for bad in HOSTILE_URLS:
            assert f"<{bad}" not in body


@given(title=st.text(max_size=300), source=st.text(max_size=50), sentence=st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_slack_rendering_never_lets_item_text_form_a_control_sequence(
    title: str, source: str, sentence: str
) -> None:
    ran("security: slack rendering (hypothesis)")
    document = json.loads(EXAMPLE.read_text())
    for event in document["events"]:
        event.update(title=title, source=source, evidence=[sentence])
    payload = slack_payload([AlertV1.model_validate(document)])
    _assert_no_slack_control_sequence(payload)


@given(
    title=st.text(max_size=300), url=st.one_of(st.none(), st.text(max_size=80), st.sampled_from(HOSTILE_URLS))
)
@settings(max_examples=300, deadline=None)
def test_email_html_escapes_item_text_and_links_only_http(title: str, url: str | None) -> None:
    ran("security: e-mail HTML (hypothesis)")
    document = json.loads(EXAMPLE.read_text())
    for event in document["events"]:
        event.update(title=title, url=url)
    html = email_html([AlertV1.model_validate(document)])
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith(("http://", "https://")) for h in hrefs)
    tags = set(re.findall(r"</?([a-zA-Z][a-zA-Z0-9]*)", html))
    assert tags <= {"html", "body", "h2", "p", "ul", "li", "a", "blockquote"}


def _header_names(message: Message) -> list[str]:
    return [name.lower() for name in message]


def test_email_cannot_be_turned_into_header_injection_or_html_injection() -> None:
    ran("security: e-mail output")
    title = "Border closed\r\nBcc: victim@example.com\r\nX-Injected: yes\n<script>alert(1)</script>"
    alert = hostile_alert(title=title, url="javascript:alert(1)", summary=title)
    with SmtpSink(user="bw", password="smtp-pass-123") as smtp:
        server = SmtpServer(
            host="127.0.0.1",
            port=smtp.port,
            sender="borderwatch@example.org",
            username="bw",
            password="smtp-pass-123",
            starttls=False,
            timeout_s=5,
        )
        channel = EmailChannel(server, ["ops@example.org"])
        asyncio.run(
            channel.send(Notification("ops", "email", (alert,), datetime(2025, 11, 20, 12, tzinfo=UTC)))
        )
        assert len(smtp.messages) == 1
        message = smtp.messages[0]
        assert smtp.recipients == [["ops@example.org"]]
    names = _header_names(message)
    assert "bcc" not in names and "x-injected" not in names
    subject = re.sub(r"\r?\n[ \t]+", " ", str(message["subject"]))  # undo header folding
    assert "\n" not in subject and "\r" not in subject and subject.startswith("[HIGH] Border closed")
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True)
    assert isinstance(html, bytes)
    assert b"<script>" not in html and b"&lt;script&gt;" in html
    assert b'href="javascript' not in html


def test_email_recipients_with_cr_lf_are_refused_at_construction() -> None:
    ran("security: e-mail output")
    server = SmtpServer(host="127.0.0.1", port=1, sender="bw@example.org")
    with pytest.raises(ValueError):
        EmailChannel(server, ["ops@example.org\r\nBcc: victim@example.com"])


# -- outbound webhooks -----------------------------------------------------------------------


@pytest.fixture
def fast_settings(monkeypatch: pytest.MonkeyPatch) -> NotifierSettings:
    return NotifierSettings(notifier_http_timeout_s=1.0)


def _redirect(status: int, location: str) -> Callable[[Any], tuple[int, dict[str, str]]]:
    return lambda body: (status, {"location": location})


def test_webhook_redirects_to_another_host_are_not_followed(fast_settings: NotifierSettings) -> None:
    ran("security: outbound webhooks")
    with HttpSink() as elsewhere:
        redirect_to = elsewhere.url.replace("127.0.0.1", "localhost")
        for status in (301, 302, 307, 308):
            with HttpSink(_redirect(status, redirect_to)) as redirecting:

                async def send(url: str = redirecting.url) -> None:
                    async with outbound_http_client(fast_settings) as client:
                        await WebhookChannel(client, url, b"signing-secret").send(
                            notification(hostile_alert())
                        )

                with pytest.raises(PermanentSendError) as caught:
                    asyncio.run(send())
                assert redirecting.url not in str(caught.value) and "signing-secret" not in str(caught.value)
        assert elsewhere.snapshot() == []


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def test_a_hanging_webhook_or_smtp_server_times_out_as_retryable(
    fast_settings: NotifierSettings, silent_server: int
) -> None:
    ran("security: outbound timeouts")

    async def webhook() -> None:
        async with outbound_http_client(fast_settings) as client:
            channel = WebhookChannel(client, f"http://127.0.0.1:{silent_server}/hook")
            await asyncio.wait_for(channel.send(notification(hostile_alert())), 20)

    async def smtp() -> None:
        server = SmtpServer(host="127.0.0.1", port=silent_server, sender="bw@example.org", timeout_s=1.0)
        await asyncio.wait_for(
            EmailChannel(server, ["ops@example.org"]).send(notification(hostile_alert())), 20
        )

    for attempt in (webhook, smtp):
        with pytest.raises(RetryableSendError):
            asyncio.run(attempt())
