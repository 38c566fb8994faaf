"""The notifier process on the real broker and Redis: SIGKILL at the delivery fault points, and
two processes in one consumer group. Each subscriber must see each alert once.

The fault points (``BW_NOTIFIER_FAULT_POINT``) pause the process at its first delivery: before
sending (decided, not delivered) or after sending (delivered, not recorded). The second is the
documented window for a repeat: the receiver then gets the same ``Idempotency-Key`` again, which
is how it drops the repeat, so "once" is counted by idempotency key.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from schemas import TopicKey, topic_name
from services.common.kafka_admin import ensure_topics
from services.common.settings import CommonSettings
from tests.integration.processes import ServiceProcess, service_env, wait_until
from tests.sinks import HttpSink

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((ROOT / "schemas/examples/tagged-events/v1/casualties-and-closure.json").read_text())
RULES = """\
version: 1
rules:
  - id: any-casualty
    title: Casualties reported
    type: any
    match: {labels: [casualties]}
    severity: high
    routes: [hook, audit]
"""
SUBSCRIBERS = """\
version: 1
subscribers:
  - id: hook
    channels:
      - {type: webhook, url_env: BW_TEST_HOOK}
  - id: audit
    channels:
      - {type: webhook, url_env: BW_TEST_HOOK}
"""


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as s:
        yield s


def env_for(
    kafka: str, redis: str, namespace: str, tmp: Path, sink: HttpSink, **extra: str
) -> dict[str, str]:
    (tmp / "rules.yaml").write_text(RULES)
    (tmp / "subscribers.yaml").write_text(SUBSCRIBERS)
    return service_env(
        kafka=kafka,
        redis=redis,
        namespace=namespace,
        workdir=tmp,
        BW_RULES_FILE=str(tmp / "rules.yaml"),
        BW_NOTIFIER_SUBSCRIBERS_FILE=str(tmp / "subscribers.yaml"),
        BW_TEST_HOOK=sink.url,
        BW_NOTIFIER_CONSOLE="false",
        BW_RETRY_INTERVAL_S="0.5",
        BW_STALE_CLAIM_S="3",
        **extra,
    )


def produce_events(kafka: str, namespace: str, count: int) -> list[str]:
    ensure_topics(CommonSettings(kafka_bootstrap_servers=kafka, topic_namespace=namespace))
    producer = KafkaProducer(bootstrap_servers=kafka, acks="all")
    items = []
    try:
        for _ in range(count):
            item = uuid.uuid4().hex[:24]
            event = {**EVENT, "event_id": uuid.uuid4().hex, "item_id": item}
            producer.send(
                topic_name(TopicKey.TAGGED_EVENTS, namespace),
                key=item.encode(),
                value=json.dumps(event).encode(),
            )
            items.append(item)
        producer.flush(30)
    finally:
        producer.close()
    return items


def per_subscriber(sink: HttpSink) -> Counter[tuple[str, str]]:
    """(alert id, idempotency key) pairs: one key per (alert, subscriber, channel)."""
    return Counter(
        (b["alert_id"], h["idempotency-key"]) for b, h in zip(sink.snapshot(), sink.headers, strict=True)
    )


@pytest.mark.parametrize("point", ["before_send", "after_send"])
def test_sigkill_at_a_fault_point_then_restart_delivers_once_per_subscriber(
    kafka_bootstrap: str, redis_url: str, namespace: str, tmp_path: Path, sink: HttpSink, point: str
) -> None:
    env = env_for(kafka_bootstrap, redis_url, namespace, tmp_path, sink)
    faulty = ServiceProcess("notifier", {**env, "BW_NOTIFIER_FAULT_POINT": point}, tmp_path / "n-faulty.log")
    faulty.start()
    try:
        produce_events(kafka_bootstrap, namespace, 3)
        wait_until(
            lambda: f"fault point {point} reached" in faulty.log(),
            60,
            "fault point not reached",
            on_fail=faulty.log,
        )
        sent_before_kill = len(sink.snapshot())
        assert (sent_before_kill > 0) == (point == "after_send")
    finally:
        faulty.stop(signal.SIGKILL)
    restarted = ServiceProcess("notifier", env, tmp_path / "n-restarted.log").start()
    try:
        wait_until(
            lambda: len(per_subscriber(sink)) >= 6, 60, "not every alert arrived", on_fail=restarted.log
        )
        time.sleep(1.5)  # a duplicate would arrive now
    finally:
        restarted.stop()
    counts = per_subscriber(sink)
    assert len({a for a, _ in counts}) == 3 and len(counts) == 6  # 3 alerts x 2 subscribers
    repeats = sum(n - 1 for n in counts.values())
    # before_send: nothing was sent before the kill, so nothing repeats. after_send: what was sent
    # but not recorded before the kill repeats once, with the same idempotency key.
    assert repeats == sent_before_kill


def test_two_processes_in_one_group_deliver_each_alert_once_per_subscriber(
    kafka_bootstrap: str, redis_url: str, namespace: str, tmp_path: Path, sink: HttpSink
) -> None:
    env = env_for(kafka_bootstrap, redis_url, namespace, tmp_path, sink)
    first = ServiceProcess("notifier", env, tmp_path / "n1.log").start()
    second = ServiceProcess(
        "notifier", {**env, "BW_NOTIFIER_INSTANCE": f"{namespace}-n2"}, tmp_path / "n2.log"
    ).start()
    try:
        produce_events(kafka_bootstrap, namespace, 30)
        wait_until(
            lambda: len(per_subscriber(sink)) >= 60,
            90,
            "not every alert arrived",
            on_fail=lambda: first.log()[-2000:] + second.log()[-2000:],
        )
        time.sleep(1.5)
    finally:
        first.stop()
        second.stop()
    counts = per_subscriber(sink)
    assert len(counts) == 60 and max(counts.values()) == 1
    assert len(sink.snapshot()) == 60
