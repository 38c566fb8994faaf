"""Local stand-ins for Slack's incoming webhook and an SMTP server, for integration tests.

:class:`SlackLikeSink` behaves like Slack's webhook endpoint: 400 ``invalid_blocks``/``no_text`` on
a payload Slack would refuse, and a script of answers (200, 429 with Retry-After, 500, slow) that
tests queue up. :class:`SmtpSink` is a real aiosmtpd server with AUTH, capturing every message.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.integration.processes import free_port
from tests.sinks import HttpSink


def slack_would_refuse(body: Any) -> bool:
    if not isinstance(body, dict) or not body.get("text"):
        return True
    blocks = body.get("blocks", [])
    if len(blocks) > 50:
        return True
    for block in blocks:
        text = (block.get("text") or {}).get("text", "")
        if block.get("type") == "header" and len(text) > 150:
            return True
        if block.get("type") == "section" and len(text) > 3000:
            return True
    return False


class SlackLikeSink(HttpSink):
    """``script`` entries: ``(status, headers, delay_s)``; once empty every answer is 200."""

    def __init__(self) -> None:
        self.script: deque[tuple[int, dict[str, str], float]] = deque()
        self.attempts: list[tuple[float, int]] = []
        self._script_lock = threading.Lock()
        super().__init__(self._answer)

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        if slack_would_refuse(body):
            self.attempts.append((time.monotonic(), 400))
            return 400, {}
        with self._script_lock:
            status, headers, delay = self.script.popleft() if self.script else (200, {}, 0.0)
        if delay:
            time.sleep(delay)
        self.attempts.append((time.monotonic(), status))
        return status, headers


class _Capture:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._sink.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        self._sink.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port; AUTH with ``user``/``password`` (no TLS)."""

    def __init__(self, user: str = "bw", password: str = "smtp-secret") -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []
        self.port = free_port()

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and data.login == user.encode()
                and data.password == password.encode()
            )
            return AuthResult(success=ok)

        self._controller = Controller(
            _Capture(self),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
        )

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
