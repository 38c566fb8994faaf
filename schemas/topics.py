"""The registry of every topic: its model, who produces and consumes it, and its dead-letter topic.

Topic names are ``<namespace>.<base>``; the namespace (``borderwatch`` by default) lets tests and
parallel deployments share one broker without sharing topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.alerts import AlertV1
from schemas.common import ContractModel
from schemas.dead_letters import DeadLetterV1
from schemas.incidents import IncidentV1
from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1

DEFAULT_NAMESPACE = "borderwatch"


class TopicKey(StrEnum):
    RAW_ITEMS = "raw-items"
    TAGGED_EVENTS = "tagged-events"
    ALERTS = "alerts"
    INCIDENTS = "incidents"
    RAW_ITEMS_DLQ = "raw-items.dlq"
    TAGGED_EVENTS_DLQ = "tagged-events.dlq"
    ALERTS_DLQ = "alerts.dlq"


@dataclass(frozen=True)
class TopicSpec:
    key: TopicKey
    base_name: str
    model: type[ContractModel]
    producer: str
    consumers: tuple[str, ...]
    dlq: TopicKey | None
    partitions: int

    def name(self, namespace: str = DEFAULT_NAMESPACE) -> str:
        return f"{namespace}.{self.base_name}"


TOPICS: dict[TopicKey, TopicSpec] = {
    spec.key: spec
    for spec in (
        TopicSpec(
            TopicKey.RAW_ITEMS,
            "raw-items.v1",
            RawItemV1,
            "ingest",
            ("classifier",),
            TopicKey.RAW_ITEMS_DLQ,
            3,
        ),
        TopicSpec(
            TopicKey.TAGGED_EVENTS,
            "tagged-events.v1",
            TaggedEventV1,
            "classifier",
            ("notifier", "external"),
            TopicKey.TAGGED_EVENTS_DLQ,
            3,
        ),
        TopicSpec(
            TopicKey.INCIDENTS,
            "incidents.v1",
            IncidentV1,
            "classifier",
            ("notifier", "external"),
            None,
            3,
        ),
        TopicSpec(TopicKey.ALERTS, "alerts.v1", AlertV1, "notifier", ("external",), TopicKey.ALERTS_DLQ, 1),
        TopicSpec(
            TopicKey.RAW_ITEMS_DLQ,
            "raw-items.v1.dlq",
            DeadLetterV1,
            "ingest, classifier",
            ("operators",),
            None,
            1,
        ),
        TopicSpec(
            TopicKey.TAGGED_EVENTS_DLQ,
            "tagged-events.v1.dlq",
            DeadLetterV1,
            "notifier",
            ("operators",),
            None,
            1,
        ),
        TopicSpec(TopicKey.ALERTS_DLQ, "alerts.v1.dlq", DeadLetterV1, "notifier", ("operators",), None, 1),
    )
}


def topic_name(key: TopicKey, namespace: str = DEFAULT_NAMESPACE) -> str:
    return TOPICS[key].name(namespace)
