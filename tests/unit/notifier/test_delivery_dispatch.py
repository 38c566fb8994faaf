"""The dispatcher's scheduling on an in-memory outbox and fake channels (no network).

Bounded concurrency per channel, batched marker writes, and a Retry-After that pauses the whole
channel. The Redis outbox and real receivers are covered in tests/integration/test_notifier_delivery.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from schemas import AlertV1, TopicKey, decode
from services.notifier.channels.base import Notification, RetryableSendError
from services.notifier.delivery import DeliveryPolicy, Dispatcher
from services.notifier.metrics import create_metrics
from services.notifier.subscribers import load_subscribers, resolve_secrets
from tests.unit.notifier.dispatch_cases import MemoryOutbox, run_until_published

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "schemas" / "examples" / "alerts" / "v1" / "count-fired.json"
SUBSCRIBERS = """\
version: 1
subscribers:
  - id: fast
    channels:
      - {type: webhook, url_env: HOOK_FAST}
  - id: slow
    channels:
      - {type: webhook, url_env: HOOK_SLOW}
"""


class FakeChannel:
    kind = "webhook"

    def __init__(self, delay_s: float = 0.0, answers: Sequence[RetryableSendError] = ()) -> None:
        self.delay_s = delay_s
        self.answers = list(answers)
        self.in_flight = 0
        self.most_in_flight = 0
        self.started: list[float] = []
        self.received: list[str] = []

    async def send(self, notification: Notification) -> None:
        self.started.append(time.monotonic())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            if self.answers:
                raise self.answers.pop(0)
            self.received += [a.alert_id for a in notification.alerts]
        finally:
            self.in_flight -= 1


def alerts(n: int) -> list[AlertV1]:
    model = decode(TopicKey.ALERTS, EXAMPLE.read_bytes())
    assert isinstance(model, AlertV1)
    return [model.model_copy(update={"alert_id": f"alert-{i}"}) for i in range(n)]


def dispatcher(
    tmp_path: Path,
    outbox: MemoryOutbox,
    fast: FakeChannel,
    slow: FakeChannel,
    published: list[str],
    **policy: float,
) -> Dispatcher:
    path = tmp_path / "subscribers.yaml"
    path.write_text(SUBSCRIBERS)
    subscribers = load_subscribers(path)
    targets, _ = resolve_secrets(subscribers, {"HOOK_FAST": "http://f", "HOOK_SLOW": "http://s"}, path)
    by_sub = {t.subscriber: t.key for t in targets}

    async def publish(alert: AlertV1) -> None:
        published.append(alert.alert_id)

    async def dead_letter(reason: str, payload: bytes) -> None:
        raise AssertionError(reason)

    return Dispatcher(
        outbox=outbox,
        subscribers=subscribers,
        targets=targets,
        channels={by_sub["fast"]: fast, by_sub["slow"]: slow},
        routes_of=lambda rule_id: ["fast", "slow"],
        silences=list,
        publish=publish,
        dead_letter=dead_letter,
        metrics=create_metrics(CollectorRegistry()),
        policy=DeliveryPolicy(backoff_base_s=0.05, backoff_cap_s=2.0, rescan_s=60, **policy),  # type: ignore[arg-type]
    )


async def test_sends_per_channel_stay_within_the_limit_and_markers_are_batched(tmp_path: Path) -> None:
    outbox = MemoryOutbox(alerts(24))
    fast, slow = FakeChannel(delay_s=0.005), FakeChannel(delay_s=0.03)
    published: list[str] = []
    await run_until_published(
        dispatcher(tmp_path, outbox, fast, slow, published, concurrency=4), published, 24
    )
    assert fast.most_in_flight == 4 and slow.most_in_flight == 4
    assert sorted(fast.received) == sorted(slow.received) == sorted(f"alert-{i}" for i in range(24))
    assert sorted(published) == sorted(fast.received)
    assert sorted(outbox.acked) == sorted(e for e, _ in outbox.entries)
    # 48 deliveries: markers of sends that end together share one write.
    assert outbox.record_calls < 24


async def test_retry_after_pauses_the_channel_but_not_the_others(tmp_path: Path) -> None:
    outbox = MemoryOutbox(alerts(3))
    fast = FakeChannel()
    slow = FakeChannel(delay_s=0.05, answers=[RetryableSendError("answered 429", retry_after_s=0.4)])
    published: list[str] = []
    # One send at a time, so the later alerts are still queued when the 429 comes back.
    d = dispatcher(tmp_path, outbox, fast, slow, published, concurrency=1)
    await run_until_published(d, published, 3)
    answered_429 = slow.started[0] + 0.05
    # Nothing went to the throttled channel until Retry-After passed, whatever the alert.
    assert len(slow.started) == 4 and all(t - answered_429 >= 0.39 for t in slow.started[1:])
    # The other channel was not held up.
    assert len(fast.started) == 3 and max(fast.started) - answered_429 < 0.3
    assert sorted(slow.received) == sorted(fast.received) == ["alert-0", "alert-1", "alert-2"]
