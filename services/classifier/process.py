"""What a tagger is to the classifier's core, and the CloudEvents headers of a tagged event.

Free of Kafka and faust; the per-batch step that uses them is
:mod:`services.classifier.batch_tagger`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1

CE_SOURCE = "urn:borderwatch:classifier"
CE_TYPE = "org.borderwatch.tagged_event.v1"


class ItemTagger(Protocol):
    def tag(self, item: RawItemV1, now: datetime, story_id: str | None = None) -> TaggedEventV1: ...


def cloudevent_headers(event: TaggedEventV1) -> list[tuple[str, bytes]]:
    """CloudEvents 1.0 Kafka binding, binary mode: the value is the event, attributes are headers."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event.event_id.encode()),
        ("ce_source", CE_SOURCE.encode()),
        ("ce_type", CE_TYPE.encode()),
        ("ce_time", event.tagged_at.isoformat().replace("+00:00", "Z").encode()),
        ("ce_subject", event.item_id.encode()),
        ("content-type", b"application/json"),
    ]
