"""The whole pipeline on the real broker and Redis: replay → classifier → notifier → webhook.

The classifier and notifier run as real subprocesses; alerts arrive at a real local HTTP
server. The expected alerts of the bundled sample are pinned in tests/data/sample_alerts.json.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import redis as redis_lib
from kafka import KafkaProducer

from schemas import AlertV1, DeadLetterV1, TaggedEventV1, TopicKey, decode_as, topic_name
from schemas.export import JSONSCHEMA_DIR
from services.common.lag import group_lag
from services.ingest.app import IngestSettings, replay
from tests.integration.kafka_helpers import produce_raw, read_topic
from tests.integration.processes import ServiceProcess, service_env, wait_until
from tests.sample_pipeline import SAMPLE, alert_key, expected_alerts
from tests.sinks import HttpSink

pytestmark = pytest.mark.integration


class Stack:
    def __init__(self, kafka: str, redis_url: str, namespace: str, workdir: Path, sink: HttpSink) -> None:
        self.kafka = kafka
        self.redis_url = redis_url
        self.namespace = namespace
        self.sink = sink
        self.env = service_env(
            kafka=kafka, redis=redis_url, namespace=namespace, workdir=workdir, BW_WEBHOOK_URL=sink.url
        )
        self.classifier = ServiceProcess("classifier", self.env, workdir / "classifier.log")
        self.notifier = ServiceProcess("notifier", self.env, workdir / "notifier.log")

    def topic(self, key: TopicKey) -> str:
        return topic_name(key, self.namespace)

    def ingest_settings(self) -> IngestSettings:
        return IngestSettings(kafka_bootstrap_servers=self.kafka, topic_namespace=self.namespace)

    def caught_up(self) -> bool:
        """Both consumer groups at the end of their topics and the outbox empty."""
        raw = group_lag([self.kafka], self.env["BW_CLASSIFIER_GROUP_ID"], self.topic(TopicKey.RAW_ITEMS))
        tagged = group_lag([self.kafka], self.env["BW_NOTIFIER_GROUP_ID"], self.topic(TopicKey.TAGGED_EVENTS))
        if raw != 0 or tagged != 0:
            return False
        client = redis_lib.Redis.from_url(self.redis_url)
        try:
            key = f"bw:{self.namespace}:outbox"
            if not client.exists(key):
                return True
            pending = client.xpending(key, self.env["BW_NOTIFIER_GROUP_ID"])
            groups = client.xinfo_groups(key)
            lag = sum(int(g.get("lag") or 0) for g in groups)
            return int(pending["pending"]) == 0 and lag == 0
        finally:
            client.close()

    def logs(self) -> str:
        classifier, notifier = self.classifier.log()[-3000:], self.notifier.log()[-3000:]
        return f"--- classifier ---\n{classifier}\n--- notifier ---\n{notifier}"


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    namespace = f"e2e-{uuid.uuid4().hex[:10]}"
    workdir = tmp_path_factory.mktemp("stack")
    with HttpSink() as sink:
        s = Stack(kafka_bootstrap, redis_url, namespace, workdir, sink)
        s.classifier.start()
        s.notifier.start()
        try:
            yield s
        finally:
            s.notifier.stop()
            s.classifier.stop()


def _sink_keys(sink: HttpSink) -> list[tuple[object, ...]]:
    return [
        alert_key(a["rule_id"], a["group"], a["window_start"].replace("Z", "+00:00")) for a in sink.snapshot()
    ]


def test_sample_replay_delivers_exactly_the_expected_alerts_once(stack: Stack) -> None:
    expected = expected_alerts()
    assert expected, "the pinned sample expectation must not be empty"
    summary = replay(stack.ingest_settings(), str(SAMPLE))
    assert summary.invalid == 0 and summary.accepted > 40

    wait_until(
        lambda: len(stack.sink.snapshot()) >= len(expected) and stack.caught_up(),
        120,
        "expected alerts did not all arrive",
        on_fail=stack.logs,
    )
    time.sleep(1.0)  # anything extra (a duplicate) would arrive now
    delivered = _sink_keys(stack.sink)
    assert Counter(delivered) == Counter(expected)
    assert max(Counter(delivered).values()) == 1

    schema = json.loads((JSONSCHEMA_DIR / "AlertV1.json").read_text())
    for body, headers in zip(stack.sink.snapshot(), stack.sink.headers, strict=True):
        jsonschema.validate(body, schema)
        alert = AlertV1.model_validate(body)
        assert headers.get("x-borderwatch-alert-id") == alert.alert_id
        assert headers.get("idempotency-key")
        assert alert.event_count >= 1 and alert.events[0].evidence

    published = read_topic(stack.kafka, stack.topic(TopicKey.ALERTS), min_count=len(expected))
    on_topic = [decode_as(AlertV1, r.value) for r in published]
    assert Counter(alert_key(a.rule_id, a.group, a.window_start.isoformat()) for a in on_topic) == Counter(
        expected
    )
    assert all(a.delivered_at is not None and a.delivered_at >= a.fired_at for a in on_topic)


def test_tagged_events_carry_cloudevents_headers(stack: Stack) -> None:
    records = read_topic(stack.kafka, stack.topic(TopicKey.TAGGED_EVENTS), min_count=1)
    assert records
    for record in records[:10]:
        headers = {k: v.decode() for k, v in record.headers}
        event = decode_as(TaggedEventV1, record.value)
        assert headers["ce_specversion"] == "1.0"
        assert headers["ce_id"] == event.event_id
        assert headers["ce_type"] == "org.borderwatch.tagged_event.v1"
        assert headers["content-type"] == "application/json"
        assert headers["ce_source"] and headers["ce_time"].endswith("Z")


def test_second_replay_of_the_same_file_sends_no_new_alert(stack: Stack) -> None:
    before = len(stack.sink.snapshot())
    assert before > 0, "run after the first replay"
    tagged_before = len(read_topic(stack.kafka, stack.topic(TopicKey.TAGGED_EVENTS)))
    raw_before = read_topic(stack.kafka, stack.topic(TopicKey.RAW_ITEMS))
    summary = replay(stack.ingest_settings(), str(SAMPLE))
    # Ingest's seen-set: every item of the second replay is a duplicate and nothing is produced.
    assert summary.accepted == 0 and summary.duplicates == len(raw_before) > 0
    assert len(read_topic(stack.kafka, stack.topic(TopicKey.RAW_ITEMS))) == len(raw_before)
    # A crash between the broker's ack and the seen-set write re-sends items: produce them again
    # straight to the raw topic. The classifier tags them again (same event ids), the notifier
    # counts nothing new.
    producer = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    try:
        for record in raw_before:
            producer.send(stack.topic(TopicKey.RAW_ITEMS), key=record.key, value=record.value)
        producer.flush(30)
    finally:
        producer.close()
    wait_until(
        lambda: (
            len(read_topic(stack.kafka, stack.topic(TopicKey.TAGGED_EVENTS), timeout_s=2))
            >= 2 * tagged_before
            and stack.caught_up()
        ),
        120,
        "second replay not processed",
        on_fail=stack.logs,
    )
    time.sleep(1.5)
    assert len(stack.sink.snapshot()) == before


def _dead_letters(stack: Stack, key: TopicKey, count: int) -> list[DeadLetterV1]:
    return [
        decode_as(DeadLetterV1, r.value) for r in read_topic(stack.kafka, stack.topic(key), min_count=count)
    ]


def test_bad_replay_lines_go_to_the_dead_letter_topic_with_line_numbers(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {
        "source": "dlq-test",
        "title": "Weather service forecasts rain in Peshawar",
        "url": f"https://dlq.example/{uuid.uuid4().hex}",
        "published_at": "2025-11-20T10:00:00Z",
    }
    path.write_bytes(json.dumps(good).encode() + b"\n{broken json\n" + b'{"source": "x"}\n')
    summary = replay(stack.ingest_settings(), str(path))
    assert (summary.accepted, summary.invalid) == (1, 2)
    letters = [d for d in _dead_letters(stack, TopicKey.RAW_ITEMS_DLQ, 2) if d.service == "ingest"]
    assert sorted((d.line_number, d.reason_class) for d in letters) == [(2, "input"), (3, "input")]
    assert base64.b64decode(letters[0].payload_base64) in (b"{broken json", b'{"source": "x"}')
    assert any("title: Field required" in d.reason for d in letters)


def test_classifier_dead_letters_undecodable_items_and_keeps_going(stack: Stack) -> None:
    good = {
        "schema_version": 1,
        "id": uuid.uuid4().hex[:24],
        "source": "dlq-test",
        "url": None,
        "title": "Market report: wheat prices steady in Kabul",
        "body": "",
        "published_at": "2025-11-20T10:00:00Z",
        "ingested_at": "2025-11-20T10:00:01Z",
        "origin": "push",
    }
    produce_raw(
        stack.kafka,
        stack.topic(TopicKey.RAW_ITEMS),
        [b"\xff\xfe not utf-8", b'{"id": 1}', json.dumps(good).encode()],
    )
    wait_until(
        lambda: (
            sum(1 for d in _dead_letters(stack, TopicKey.RAW_ITEMS_DLQ, 0) if d.service == "classifier") >= 2
        ),
        60,
        "classifier dead letters missing",
        on_fail=stack.logs,
    )
    letters = [d for d in _dead_letters(stack, TopicKey.RAW_ITEMS_DLQ, 0) if d.service == "classifier"]
    assert sorted(d.reason_class for d in letters) == ["decode", "validation"]
    assert all(d.original_topic == stack.topic(TopicKey.RAW_ITEMS) and d.offset is not None for d in letters)
    wait_until(
        lambda: any(
            decode_as(TaggedEventV1, r.value).item_id == good["id"]
            for r in read_topic(stack.kafka, stack.topic(TopicKey.TAGGED_EVENTS), timeout_s=2)
        ),
        60,
        "the good item after the bad ones was not tagged",
        on_fail=stack.logs,
    )
    assert stack.classifier.alive()


def test_notifier_dead_letters_invalid_events_and_keeps_going(stack: Stack) -> None:
    produce_raw(stack.kafka, stack.topic(TopicKey.TAGGED_EVENTS), [b"not json", b'{"event_id": "x"}'])
    wait_until(
        lambda: len(_dead_letters(stack, TopicKey.TAGGED_EVENTS_DLQ, 0)) >= 2,
        60,
        "notifier dead letters missing",
        on_fail=stack.logs,
    )
    letters = _dead_letters(stack, TopicKey.TAGGED_EVENTS_DLQ, 2)
    assert sorted(d.reason_class for d in letters) == ["decode", "validation"]
    assert {d.service for d in letters} == {"notifier"}
    wait_until(stack.caught_up, 60, "notifier stopped consuming after bad events", on_fail=stack.logs)
    assert stack.notifier.alive()
