"""One raw-items message in, one tagged event out: the classifier's pure step.

Decoding errors surface as :class:`InvalidMessage`; everything here is free of Kafka and faust,
so the same step runs in the faust agent, the tests and the benchmarks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from schemas.codec import decode_as
from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1

CE_SOURCE = "urn:borderwatch:classifier"
CE_TYPE = "org.borderwatch.tagged_event.v1"


class ItemTagger(Protocol):
    def tag(self, item: RawItemV1, now: datetime, story_id: str | None = None) -> TaggedEventV1: ...


def tag_raw_message(raw: bytes | None, tagger: ItemTagger, now: datetime) -> TaggedEventV1:
    """Decode a raw-items message and tag it; raises InvalidMessage for undecodable input."""
    return tagger.tag(decode_as(RawItemV1, raw), now)


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
