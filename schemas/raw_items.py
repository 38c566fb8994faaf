"""Topic ``raw-items``: news and field reports as ingest accepted them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.common import ContractModel, UtcDatetime


class RawItemV1(ContractModel):
    """One news item or field report, normalised by ingest.

    ``id`` is stable for the same story URL (or feed guid), so a re-sent item keeps its id and
    downstream services can de-duplicate by it. Kafka key: ``id``.
    """

    schema_version: Literal[1] = 1
    id: str = Field(min_length=1, max_length=128, description="Stable item id (from canonical URL or guid).")
    source: str = Field(min_length=1, max_length=200, description="Outlet or feed id.")
    url: str | None = Field(default=None, max_length=2048, description="Canonical URL of the item.")
    title: str = Field(max_length=1000)
    body: str = Field(default="", max_length=100_000)
    published_at: UtcDatetime = Field(description="When the source published the item (UTC).")
    published_at_missing: bool = Field(
        default=False, description="True when the source gave no time and published_at is the fetch time."
    )
    ingested_at: UtcDatetime = Field(description="When ingest accepted the item (UTC).")
    language: str | None = Field(default=None, max_length=16, description="ISO 639-1 code when known.")
    origin: Literal["replay", "feed", "push"] = Field(description="How the item entered borderwatch.")
