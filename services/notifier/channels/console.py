"""The console channel: one line per alert on standard output (``make run`` shows these)."""

from __future__ import annotations

import sys
from typing import TextIO

from services.notifier.channels.base import Notification
from services.notifier.render import render_console_line


class ConsoleChannel:
    kind = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, notification: Notification) -> None:
        stream = self._stream or sys.stdout
        for alert in notification.alerts:
            stream.write(render_console_line(alert, notification.sent_at) + "\n")
        stream.flush()
