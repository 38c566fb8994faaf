"""Receivers that misbehave on a timetable: a Slack-like webhook (429 with Retry-After, 500, hang)
and an SMTP server (connection refused, 451, then accepting), plus the partner webhook.

Each records every alert it accepted as a :class:`~tests.faults.workload.Received`, with the
moment it took it, so a test can tell a repeat from the documented crash window.
"""

from __future__ import annotations

import hashlib
import threading
import time
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.faults.workload import HOOK, Received, Workload
from tests.integration.processes import free_port
from tests.integration.slack_sink import slack_would_refuse
from tests.sinks import HttpSink

HANG_LIMIT_S = 30.0


class Timetable:
    """Modes that follow each other for given durations, then ``ok`` for good."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: list[tuple[float, str]] = []

    def play(self, *steps: tuple[str, float]) -> float:
        """Start the steps now; returns the monotonic time the last one ends."""
        at = time.monotonic()
        plan = []
        for mode, duration in steps:
            at += duration
            plan.append((at, mode))
        with self._lock:
            self._steps = plan
        return at

    def mode(self, now: float | None = None) -> tuple[str, float]:
        """The current mode and when it ends."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for until, mode in self._steps:
                if now < until:
                    return mode, until
        return "ok", now


class _RecordingSink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refused: dict[str, int] = {}
        self._lock = threading.Lock()

    def _take(self, items: list[Received]) -> None:
        with self._lock:
            self.received.extend(items)

    def _refuse(self, mode: str) -> None:
        with self._lock:
            self.refused[mode] = self.refused.get(mode, 0) + 1

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)


class FaultySlack(_RecordingSink):
    """Slack's incoming webhook: 400 for what Slack refuses, else the timetable's answer."""

    def __init__(self, workload: Workload) -> None:
        super().__init__()
        self.timetable = Timetable()
        self._workload = workload
        self._http = HttpSink(self._answer)
        self._http._server.handle_error = lambda *args: None  # type: ignore[method-assign]

    @property
    def url(self) -> str:
        return self._http.url

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        if slack_would_refuse(body):
            self._refuse("invalid")
            return 400, {}
        mode, until = self.timetable.mode()
        if mode == "429":
            self._refuse(mode)
            return 429, {"Retry-After": "1"}
        if mode == "500":
            self._refuse(mode)
            return 500, {}
        if mode == "hang":
            self._refuse(mode)
            # Never answer within the caller's timeout, and never accept what it gave up on.
            time.sleep(min(HANG_LIMIT_S, max(0.0, until - time.monotonic())))
            return 503, {}
        now = time.monotonic()
        self._take([Received(a, a, now) for a in self._workload.slack_alert_ids(body)])
        return 200, {}

    def __enter__(self) -> FaultySlack:
        self._http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.__exit__(*exc)


def hook_key(alert_id: str) -> str:
    """The idempotency key the notifier gives ``alert_id`` for the partner webhook."""
    basis = "|".join([HOOK.subscriber, HOOK.channel, alert_id])
    return hashlib.blake2b(basis.encode(), digest_size=16).hexdigest()


class PartnerHook(_RecordingSink):
    """A plain webhook receiver that always accepts (the channel no fault touches)."""

    def __init__(self) -> None:
        super().__init__()
        self._http = HttpSink(self._answer)

    @property
    def url(self) -> str:
        return self._http.url

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        alerts = body.get("alerts", [body])
        now = time.monotonic()
        self._take([Received(a["alert_id"], hook_key(a["alert_id"]), now) for a in alerts])
        return 200, {}

    def __enter__(self) -> PartnerHook:
        self._http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.__exit__(*exc)


class _Handler:
    def __init__(self, sink: FaultySmtp) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self._sink._data(envelope.original_content or envelope.content)


class FaultySmtp(_RecordingSink):
    """A real SMTP server (aiosmtpd, AUTH, no TLS) on a fixed port that can go away (connection
    refused) or answer ``451`` for a while, and then accepts again."""

    def __init__(self, workload: Workload, user: str, password: str) -> None:
        super().__init__()
        self.port = free_port()
        self._workload = workload
        self._user = user.encode()
        self._password = password.encode()
        self._controller: Controller | None = None
        self.deferring = False

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == self._user and data.password == self._password
        return AuthResult(success=ok)

    def _data(self, raw: bytes) -> str:
        if self.deferring:
            self._refuse("451")
            return "451 4.3.0 Mailbox busy, try again later"
        message = message_from_bytes(raw)
        alert = self._workload.mail_alert_id(message)
        self._take([Received(alert, str(message["X-Borderwatch-Idempotency-Key"]), time.monotonic())])
        return "250 OK"

    def up(self) -> None:
        if self._controller is None:
            self._controller = Controller(
                _Handler(self),
                hostname="127.0.0.1",
                port=self.port,
                authenticator=self._authenticate,
                auth_require_tls=False,
            )
            self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FaultySmtp:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
