"""Topic ``tagged-events``: items with labels, figures, crossings, places and evidence.

This topic is consumed by other systems: only add optional fields in a minor revision; anything
else is a new ``TaggedEventV2`` on a new topic.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.common import ContractModel, CrossingState, Label, Region, Severity, UtcDatetime


class Figures(ContractModel):
    """Casualty figures newly reported by the item; ``None`` when not stated."""

    killed: int | None = Field(default=None, ge=0)
    injured: int | None = Field(default=None, ge=0)
    civilians_killed: int | None = Field(default=None, ge=0)


class Crossing(ContractModel):
    """A border crossing, road, port or airspace whose status the item reports."""

    name: str = Field(description="Canonical name from the gazetteer, e.g. 'Torkham'.")
    state: CrossingState


class Place(ContractModel):
    """A place where the reported events happened, resolved against the gazetteer."""

    name: str = Field(description="Canonical gazetteer name.")
    mention: str = Field(description="The spelling found in the text.")
    kind: Literal["crossing", "city", "district", "province", "region", "country"]
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2, e.g. 'AF', 'PK'.")
    admin_area: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class Evidence(ContractModel):
    """The sentence behind a label or figure; offsets index into the named field of the item."""

    supports: str = Field(description="A label ('casualties') or a figure ('killed').")
    field: Literal["title", "body"]
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    sentence: str


class TaggedEventV1(ContractModel):
    """An item after classification. Kafka key: ``item_id``.

    ``event_id`` is derived from the item id and the classifier and taxonomy versions, so a
    redelivered item yields the same event id.
    """

    schema_version: Literal[1] = 1
    event_id: str
    item_id: str
    source: str
    url: str | None = None
    title: str
    published_at: UtcDatetime
    ingested_at: UtcDatetime
    tagged_at: UtcDatetime
    labels: list[Label] = Field(default_factory=list)
    figures: Figures = Field(default_factory=Figures)
    crossings: list[Crossing] = Field(default_factory=list)
    places: list[Place] = Field(default_factory=list)
    actors: list[str] = Field(default_factory=list)
    region: Region
    severity: Severity
    evidence: list[Evidence] = Field(default_factory=list)
    classifier_version: str
    taxonomy_version: str
    story_id: str | None = Field(
        default=None,
        description="Shared by near-duplicate items (syndicated copies, rewrites) within a time window.",
    )
