"""Delivery channels behind one protocol (:class:`Channel`), sharing one status classifier."""

from services.notifier.channels.base import (
    Channel,
    Notification,
    Outcome,
    PermanentSendError,
    RetryableSendError,
    backoff_delay,
    classify_status,
    delivery_key,
    parse_retry_after,
)
from services.notifier.channels.console import ConsoleChannel
from services.notifier.channels.slack import SlackChannel
from services.notifier.channels.smtp import EmailChannel, SmtpServer
from services.notifier.channels.webhook import WebhookChannel
from services.notifier.render import ingest_to_delivery_seconds, render_console_line

__all__ = [
    "Channel",
    "ConsoleChannel",
    "EmailChannel",
    "Notification",
    "Outcome",
    "PermanentSendError",
    "RetryableSendError",
    "SlackChannel",
    "SmtpServer",
    "WebhookChannel",
    "backoff_delay",
    "classify_status",
    "delivery_key",
    "ingest_to_delivery_seconds",
    "parse_retry_after",
    "render_console_line",
]
