"""How far a consumer group is behind the end of a topic (for readiness waits and the demo)."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient


def group_lag(bootstrap: list[str], group_id: str, topic: str) -> int | None:
    """Messages not yet committed by ``group_id`` on ``topic``; None when the group has no offsets."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="borderwatch-lag")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return None
        ends = consumer.end_offsets(tps)
        committed = admin.list_group_offsets({group_id: tps}).get(group_id, {})
        if not any(meta is not None and meta.offset >= 0 for meta in committed.values()):
            return None if any(ends.values()) else 0
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, ends[tp] - done)
        return lag
    finally:
        consumer.close()
        admin.close()
