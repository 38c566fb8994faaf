"""The delivery pipeline on real Redis, a Slack-like HTTP server and a real SMTP server.

The dispatcher runs in-process; alerts are queued in the outbox stream the way the rules engine
queues them. Kafka is not needed here (publication is captured); the notifier process tests
(test_notifier_process.py) cover the whole process on the broker.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from schemas import AlertV1, TopicKey, decode
from services.notifier.app import NotifierSettings, build_channels
from services.notifier.channels.base import Notification, RetryableSendError
from services.notifier.channels.smtp import EmailChannel, SmtpServer
from services.notifier.delivery import DeliveryPolicy, Dispatcher
from services.notifier.metrics import create_metrics
from services.notifier.outbox import DeliveryKeys, Outbox
from services.notifier.silence_store import RedisSilenceStore, SilenceCache
from services.notifier.silences import Matcher, Silence, SilenceRequest
from services.notifier.subscribers import load_subscribers, resolve_secrets
from tests.integration.processes import free_port
from tests.integration.slack_sink import SlackLikeSink, SmtpSink
from tests.sinks import HttpSink

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "schemas" / "examples" / "alerts" / "v1" / "count-fired.json"

SUBSCRIBERS = """\
version: 1
subscribers:
  - id: ops
    channels:
      - type: slack
        webhook_env: BW_TEST_SLACK
        rate_limit: {per_second: 1, burst: 3}
  - id: hook
    channels:
      - type: webhook
        url_env: BW_TEST_HOOK
        secret_env: BW_TEST_HOOK_SECRET
  - id: mail
    filters: {min_severity: critical}
    channels:
      - type: email
        to: [analyst@example.org]
groups:
  all: [ops, hook, mail]
"""


def make_alert(n: int, **update: Any) -> AlertV1:
    model = decode(TopicKey.ALERTS, EXAMPLE.read_bytes())
    assert isinstance(model, AlertV1)
    data = {**model.model_dump(mode="json"), "alert_id": f"alert-{n}-{uuid.uuid4().hex[:6]}", **update}
    return AlertV1.model_validate(data)


class Harness:
    def __init__(
        self, redis: Redis, namespace: str, tmp: Path, slack: SlackLikeSink, hook: HttpSink, smtp: SmtpSink
    ):
        self.redis = redis
        self.namespace = namespace
        self.keys = DeliveryKeys(namespace)
        path = tmp / "subscribers.yaml"
        path.write_text(SUBSCRIBERS)
        self.subscribers = load_subscribers(path)
        env = {"BW_TEST_SLACK": slack.url, "BW_TEST_HOOK": hook.url, "BW_TEST_HOOK_SECRET": "hmac-key"}
        self.targets, _ = resolve_secrets(self.subscribers, env, path)
        self.settings = NotifierSettings(
            notifier_smtp_port=smtp.port,
            notifier_smtp_starttls=False,
            notifier_smtp_username="bw",
            notifier_smtp_password="smtp-secret",
            notifier_http_timeout_s=2.0,
        )
        self.published: list[AlertV1] = []
        self.dead: list[str] = []
        self.store = RedisSilenceStore(redis, namespace)
        self.silences = SilenceCache(self.store)
        self.routes: dict[str, list[str]] = {}

    async def enqueue(self, *alerts: AlertV1, routes: list[str] | None = None) -> None:
        for a in alerts:
            self.routes[a.rule_id] = routes or ["all"]
            await self.redis.xadd(self.keys.outbox, {"alert_id": a.alert_id, "alert": a.model_dump_json()})

    def dispatcher(self, http: httpx.AsyncClient, consumer: str = "c1") -> Dispatcher:
        async def publish(alert: AlertV1) -> None:
            self.published.append(alert)

        async def dead_letter(reason: str, payload: bytes) -> None:
            self.dead.append(reason)

        return Dispatcher(
            outbox=Outbox(self.redis, self.keys, group="g", consumer=consumer),
            subscribers=self.subscribers,
            targets=self.targets,
            channels=build_channels(self.settings, self.targets, http),
            routes_of=self.routes.get,
            silences=self.silences.current,
            publish=publish,
            dead_letter=dead_letter,
            metrics=create_metrics(CollectorRegistry()),
            policy=DeliveryPolicy(backoff_base_s=0.2, backoff_cap_s=2.0, rescan_s=0.5),
        )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def sinks() -> Any:
    with SlackLikeSink() as slack, HttpSink() as hook, SmtpSink() as smtp:
        yield slack, hook, smtp


@pytest.fixture
async def harness(redis: Redis, namespace: str, tmp_path: Path, sinks: Any) -> AsyncIterator[Harness]:
    h = Harness(redis, namespace, tmp_path, *sinks)
    yield h
    keys = [k async for k in redis.scan_iter(match=f"bw:{namespace}:*")]
    if keys:
        await redis.delete(*keys)


async def run_until(dispatcher: Dispatcher, condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    task = asyncio.create_task(dispatcher.run())
    try:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if task.done():
                task.result()
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would show now
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 5)


def alert_ids(bodies: list[dict[str, Any]]) -> list[str]:
    return [b["alert_id"] for b in bodies]


async def test_each_subscriber_gets_each_alert_once_also_after_a_restart(
    harness: Harness, sinks: Any
) -> None:
    slack, hook, smtp = sinks
    alerts = [make_alert(1), make_alert(2, severity="critical", group={"crossing": "Chaman"})]
    await harness.enqueue(*alerts)
    async with httpx.AsyncClient() as http:
        await run_until(harness.dispatcher(http), lambda: len(harness.published) == 2)
        assert Counter(alert_ids(hook.snapshot())) == Counter(a.alert_id for a in alerts)
        assert len(slack.snapshot()) == 2 and all(b["text"] and b["blocks"] for b in slack.snapshot())
        assert len(smtp.messages) == 1 and smtp.recipients == [["analyst@example.org"]]
        message = smtp.messages[0]
        assert message.get_content_type() == "multipart/alternative"
        assert alerts[1].summary.split(":")[0] in str(message["Subject"])
        signature = hook.headers[0]["x-borderwatch-signature"]
        assert signature.startswith("sha256=")

        # A restart that re-reads the same entries (e.g. after a crash before the ack) sends nothing.
        await harness.redis.xgroup_setid(harness.keys.outbox, "g", "0")
        await harness.enqueue(make_alert(3))
        await run_until(harness.dispatcher(http, consumer="c2"), lambda: len(harness.published) >= 3)
    assert len(hook.snapshot()) == 3 and len(set(alert_ids(hook.snapshot()))) == 3
    assert len(slack.snapshot()) == 3 and len(smtp.messages) == 1
    assert await Outbox(harness.redis, harness.keys, "g", "c2").pending_count() == 0


async def test_slack_429_is_retried_after_retry_after_and_500_with_backoff(
    harness: Harness, sinks: Any
) -> None:
    slack, _hook, _ = sinks
    slack.script.extend([(429, {"Retry-After": "1"}, 0.0), (500, {}, 0.0)])
    a = make_alert(1)
    await harness.enqueue(a, routes=["ops"])
    started = time.monotonic()
    async with httpx.AsyncClient() as http:
        await run_until(harness.dispatcher(http), lambda: len(harness.published) == 1)
    statuses = [s for _, s in slack.attempts]
    assert statuses == [429, 500, 200]
    assert slack.attempts[1][0] - slack.attempts[0][0] >= 0.95  # honoured Retry-After
    assert len(slack.snapshot()) == 1 and time.monotonic() - started >= 1.0
    assert harness.dead == []


async def test_a_slow_slack_does_not_hold_up_other_channels(harness: Harness, sinks: Any) -> None:
    slack, hook, _ = sinks
    slack.script.append((200, {}, 1.5))
    a = make_alert(1)
    await harness.enqueue(a, routes=["ops", "hook"])
    async with httpx.AsyncClient() as http:
        task_start = time.monotonic()
        d = harness.dispatcher(http)
        task = asyncio.create_task(d.run())
        while not hook.snapshot():  # noqa: ASYNC110 - filled by the sink's server thread
            await asyncio.sleep(0.02)
        hook_latency = time.monotonic() - task_start
        while not harness.published:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        d.stop()
        await task
    assert hook_latency < 1.2
    assert len(slack.snapshot()) == 1


async def test_permanent_4xx_goes_to_the_dead_letter_topic_once(harness: Harness, sinks: Any) -> None:
    slack, _, _ = sinks
    slack.script.append((404, {}, 0.0))
    a = make_alert(1)
    await harness.enqueue(a, routes=["ops"])
    async with httpx.AsyncClient() as http:
        await run_until(harness.dispatcher(http), lambda: len(harness.published) == 1)
    assert [s for _, s in slack.attempts] == [404]
    assert len(harness.dead) == 1 and "ops/slack" in harness.dead[0] and "404" in harness.dead[0]
    assert "127.0.0.1" not in harness.dead[0]  # the webhook URL is a secret


async def test_a_burst_beyond_the_rate_limit_becomes_one_digest(harness: Harness, sinks: Any) -> None:
    slack, _, _ = sinks
    alerts = [make_alert(i) for i in range(7)]
    await harness.enqueue(*alerts, routes=["ops"])
    async with httpx.AsyncClient() as http:
        await run_until(harness.dispatcher(http), lambda: len(harness.published) == 7)
    bodies = slack.snapshot()
    # One batch of 7 due at once against a bucket of 3: one digest message covers them all.
    assert len(bodies) == 1
    assert bodies[0]["blocks"][0]["text"]["text"] == "7 alerts (digest)"
    assert sum(1 for b in bodies[0]["blocks"] if b["type"] == "section") == 7


async def test_silences_and_inhibition_mute_deliveries(harness: Harness, sinks: Any) -> None:
    _slack, hook, _ = sinks
    now = datetime.now(UTC)
    silenced = make_alert(1, rule_id="noisy-rule")
    await harness.store.put(
        Silence.create(
            SilenceRequest(
                matchers=[Matcher(name="rule_id", value="noisy-rule")],
                ends_at=now + timedelta(hours=1),
                created_by="test",
                comment="maintenance",
            ),
            now,
        )
    )
    await harness.silences.refresh(now)
    critical = make_alert(2, severity="critical", group={"crossing": "Torkham"}, rule_id="r-critical")
    lower = make_alert(3, severity="high", group={"crossing": "Torkham"}, rule_id="r-lower")
    other = make_alert(4, severity="high", group={"crossing": "Chaman"}, rule_id="r-other")
    await harness.enqueue(silenced, critical, lower, other, routes=["hook"])
    async with httpx.AsyncClient() as http:
        await run_until(harness.dispatcher(http), lambda: len(harness.published) == 4)
    # Sends run concurrently per channel, so arrival order is not part of the contract.
    assert sorted(alert_ids(hook.snapshot())) == sorted([critical.alert_id, other.alert_id])


def slack_titles(bodies: list[dict[str, Any]]) -> list[str]:
    """The section text of every alert a Slack message carries (one, or several in a digest)."""
    return [b["text"]["text"] for body in bodies for b in body["blocks"] if b["type"] == "section"]


async def test_a_slack_outage_delays_only_slack_and_every_alert_arrives_once(
    harness: Harness, sinks: Any
) -> None:
    slack, hook, _ = sinks
    # Slack hangs past the client timeout, answers 500, then 429 with Retry-After, then recovers.
    slack.script.extend([(503, {}, 1.5), (500, {}, 0.0), (429, {"Retry-After": "1"}, 0.0)])
    alerts = [make_alert(i, summary=f"Outage alert {i}: Torkham") for i in range(5)]
    await harness.enqueue(*alerts, routes=["ops", "hook"])
    started = time.monotonic()
    hook_done_at: list[float] = []

    def all_hooked() -> bool:
        if len(hook.snapshot()) == 5 and not hook_done_at:
            hook_done_at.append(time.monotonic())
        return len(harness.published) == 5

    async with httpx.AsyncClient(timeout=1.0) as http:
        await run_until(harness.dispatcher(http), all_hooked, timeout_s=30)
    # The webhook was not held up by Slack's outage.
    assert hook_done_at and hook_done_at[0] - started < 1.0
    assert Counter(alert_ids(hook.snapshot())) == Counter(a.alert_id for a in alerts)
    # Slack got every alert exactly once, in single messages or digests, after it recovered.
    # (The sink notes an attempt when it answers: the hung one shows up late.)
    attempts = sorted(slack.attempts)
    statuses = [s for _, s in attempts]
    assert sorted(statuses)[-3:] == [429, 500, 503] and set(statuses) == {200, 429, 500, 503}
    delivered = [re.search(r"Outage alert (\d)", t) for t in slack_titles(slack.snapshot())]
    assert sorted(int(m.group(1)) for m in delivered if m) == list(range(5)) and all(delivered)
    # The retry after the 429 waited for Retry-After.
    at_429 = next(t for t, s in attempts if s == 429)
    assert min(t for t, s in attempts if s == 200 and t > at_429) - at_429 >= 0.95
    assert harness.dead == []
    assert await Outbox(harness.redis, harness.keys, "g", "c1").pending_count() == 0


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (its own CA), made with the openssl tool."""
    cert, key = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*command, "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class _TlsCapture:
    def __init__(self) -> None:
        self.messages: list[tuple[bool, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((session.ssl is not None, envelope.original_content or envelope.content))
        return "250 OK"


async def test_email_uses_starttls_verified_against_the_configured_ca(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    capture = _TlsCapture()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=isinstance(data, LoginPassword) and data.password == b"smtp-secret")

    port = free_port()
    controller = Controller(
        capture,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,  # no MAIL (and no AUTH) before STARTTLS
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        alert = make_alert(1, severity="critical")
        notification = Notification("mail", "email", (alert,), datetime.now(UTC))

        def channel(ca_file: str | None) -> EmailChannel:
            server = SmtpServer(
                host="127.0.0.1",
                port=port,
                sender="borderwatch@example.org",
                username="bw",
                password="smtp-secret",
                starttls=True,
                timeout_s=5.0,
                ca_file=ca_file,
            )
            return EmailChannel(server, ["analyst@example.org"])

        # Not trusted without the CA: nothing is sent, and the failure is retryable, not permanent.
        with pytest.raises(RetryableSendError) as refused:
            await channel(None).send(notification)
        assert "smtp-secret" not in str(refused.value) and capture.messages == []

        await channel(str(cert)).send(notification)
    finally:
        controller.stop()
    assert len(capture.messages) == 1
    over_tls, content = capture.messages[0]
    assert over_tls and alert.summary.split(":")[0].encode() in content
