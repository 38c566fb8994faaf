"""E-mail over SMTP (aiosmtplib): STARTTLS and auth, multipart text + HTML, escaped.

Header values are checked for CR, LF and NUL here (Python 3.11 before 3.11.10 could be talked
into header injection, CVE-2024-6923). 4xx SMTP replies and connection problems are retryable;
5xx replies are permanent.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib

from services.notifier.channels.base import Notification, PermanentSendError, RetryableSendError
from services.notifier.render import email_html, email_subject, email_text


class HeaderInjection(ValueError):
    pass


def header_value(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise HeaderInjection("header value contains CR, LF or NUL")
    return value


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = 10.0
    ca_file: str | None = None
    """PEM bundle to verify the server's certificate against (a private CA); None: the system's."""


def build_message(notification: Notification, sender: str, recipients: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = header_value(sender)
    message["To"] = header_value(", ".join(recipients))
    message["Subject"] = header_value(email_subject(notification.alerts))
    message["Date"] = format_datetime(notification.sent_at)
    message["Message-ID"] = make_msgid(idstring=notification.idempotency_key, domain="borderwatch.local")
    message["X-Borderwatch-Idempotency-Key"] = notification.idempotency_key
    message.set_content(email_text(notification.alerts))
    message.add_alternative(email_html(notification.alerts), subtype="html")
    return message


class EmailChannel:
    kind = "email"

    def __init__(self, server: SmtpServer, recipients: list[str]) -> None:
        for address in recipients:
            header_value(address)
        self._server = server
        self._recipients = recipients

    async def send(self, notification: Notification) -> None:
        try:
            message = build_message(notification, self._server.sender, self._recipients)
        except HeaderInjection as exc:
            raise PermanentSendError(str(exc)) from None
        s = self._server
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password,
                start_tls=s.starttls,
                cert_bundle=s.ca_file,
                timeout=s.timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise RetryableSendError(f"smtp answered {exc.code}") from None
            raise PermanentSendError(f"smtp answered {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise RetryableSendError(f"smtp unreachable ({type(exc).__name__})") from None
