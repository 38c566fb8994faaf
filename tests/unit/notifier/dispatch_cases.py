"""Building blocks for dispatcher tests: the outbox contract in memory, and a dispatcher with one
webhook subscriber (``hook``) on any outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import httpx

from schemas import AlertV1
from services.common.clock import utc_now
from services.notifier.channels import WebhookChannel
from services.notifier.delivery import DeliveryPolicy, DeliveryStore, Dispatcher
from services.notifier.metrics import NotifierMetrics
from services.notifier.outbox import OutboxEntry, Precheck
from services.notifier.silences import Silence
from services.notifier.subscribers import load_subscribers, resolve_secrets

HOOK_SUBSCRIBERS = """\
version: 1
subscribers:
  - id: hook
    channels:
      - {type: webhook, url_env: BW_TEST_HOOK}
"""
# Stale entries are rescanned every 60 s: not within a test, where each entry is read once.
NO_RESCAN = DeliveryPolicy(rescan_s=60)


class MemoryOutbox:
    """The outbox contract in memory: entries, acks and sent markers, without inhibition or digests
    (the Redis outbox is tested for those)."""

    def __init__(self, alerts: Sequence[AlertV1]) -> None:
        self.entries: list[OutboxEntry] = [
            (f"{i}-0", {"alert_id": a.alert_id, "alert": a.model_dump_json()}) for i, a in enumerate(alerts)
        ]
        self.delivered = 0
        self.acked: list[str] = []
        self.sent: set[str] = set()
        self.record_calls = 0

    async def ensure_group(self) -> None:
        return None

    async def read(
        self, *, ack: Sequence[str] = (), pending: bool = False, count: int = 100, block_ms: int = 500
    ) -> list[OutboxEntry]:
        self.acked += ack
        if pending:
            return []
        batch = self.entries[self.delivered : self.delivered + count]
        self.delivered += len(batch)
        if not batch:
            await asyncio.sleep(block_ms / 1000)
        return batch

    async def claim_stale(self, min_idle_ms: int, count: int = 100) -> list[OutboxEntry]:
        return []

    async def touch(self, entry_ids: Sequence[str]) -> None:
        return None

    async def ack(self, entry_ids: Sequence[str]) -> None:
        self.acked += entry_ids

    async def precheck_many(
        self, checks: Sequence[Precheck], inhibit_ttl_s: int
    ) -> list[tuple[bool, list[bool]]]:
        return [(False, [k in self.sent for k in c.delivery_keys]) for c in checks]

    async def record(self, delivery_keys: Sequence[str], ttl_s: int, ack: Sequence[str] = ()) -> None:
        self.record_calls += 1
        self.sent.update(delivery_keys)
        self.acked += ack

    async def queue_digest(self, target_key: str, delivery_key: str, alert_json: str, ttl_s: int) -> None:
        raise AssertionError("no digest subscribers here")

    async def take_digest(self, target_key: str, slot: str, lock_ttl_s: int) -> list[str] | None:
        return None

    async def finish_digest(self, target_key: str, slot: str, count: int) -> None:
        return None

    async def release_digest(self, target_key: str) -> None:
        return None


def webhook_dispatcher(
    tmp_path: Path,
    outbox: DeliveryStore,
    http: httpx.AsyncClient,
    hook_url: str,
    *,
    metrics: NotifierMetrics,
    published: list[str],
    dead: list[str] | None = None,
    silences: Callable[[], list[Silence]] = list,
    policy: DeliveryPolicy = NO_RESCAN,
    clock: Callable[[], datetime] = utc_now,
) -> Dispatcher:
    """A dispatcher that routes every rule to the ``hook`` subscriber's webhook at ``hook_url``.

    Published alerts' ids go to ``published``; dead-letter reasons to ``dead`` (without a list, a
    dead letter fails the test).
    """
    path = tmp_path / "subscribers.yaml"
    path.write_text(HOOK_SUBSCRIBERS)
    subscribers = load_subscribers(path)
    targets, _ = resolve_secrets(subscribers, {"BW_TEST_HOOK": hook_url}, path)

    async def publish(alert: AlertV1) -> None:
        published.append(alert.alert_id)

    async def dead_letter(reason: str, payload: bytes) -> None:
        if dead is None:
            raise AssertionError(reason)
        dead.append(reason)

    return Dispatcher(
        outbox=outbox,
        subscribers=subscribers,
        targets=targets,
        channels={t.key: WebhookChannel(http, hook_url, None) for t in targets},
        routes_of=lambda rule_id: ["hook"],
        silences=silences,
        publish=publish,
        dead_letter=dead_letter,
        metrics=metrics,
        policy=policy,
        clock=clock,
    )


async def run_until_published(d: Dispatcher, published: list[str], n: int, timeout_s: float = 10) -> None:
    """Run ``d`` until ``n`` alerts were published, then stop it."""
    task = asyncio.create_task(d.run())
    try:
        async with asyncio.timeout(timeout_s):
            while len(published) < n:  # noqa: ASYNC110 - filled by the publish hook
                await asyncio.sleep(0.01)
    finally:
        d.stop()
        await asyncio.wait_for(task, 5)
