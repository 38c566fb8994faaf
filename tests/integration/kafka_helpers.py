"""Reading and writing test topics with kafka-python."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def read_topic(
    bootstrap: str, topic: str, *, min_count: int = 0, timeout_s: float = 30.0
) -> list[ConsumerRecord]:
    """Every record on ``topic`` from the beginning; waits until at least ``min_count`` arrived."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        deadline = time.monotonic() + timeout_s
        partitions: set[int] = set()
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        while time.monotonic() < deadline:
            ends = consumer.end_offsets(tps)
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            caught_up = all(consumer.position(tp) >= ends[tp] for tp in tps)
            if caught_up and len(records) >= min_count:
                break
        return records
    finally:
        consumer.close()


def produce_raw(bootstrap: str, topic: str, values: list[bytes], key: bytes | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, key=key, value=value)
        producer.flush(30)
    finally:
        producer.close()
