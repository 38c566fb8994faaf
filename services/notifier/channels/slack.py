"""Slack incoming webhooks: Block Kit with a text fallback (see :func:`render.slack_payload`).

Slack answers 400 to a payload it cannot take (``invalid_blocks``, ``no_text``): permanent. 429
carries ``Retry-After``. The webhook URL is a secret and never leaves this object.
"""

from __future__ import annotations

import json

import httpx

from services.notifier.channels.base import Notification
from services.notifier.channels.webhook import post
from services.notifier.render import slack_payload


class SlackChannel:
    kind = "slack"

    def __init__(self, client: httpx.AsyncClient, webhook_url: str) -> None:
        self._client = client
        self._url = webhook_url

    async def send(self, notification: Notification) -> None:
        body = json.dumps(slack_payload(notification.alerts), ensure_ascii=False).encode()
        await post(self._client, self._url, body, {"content-type": "application/json"}, "slack")
