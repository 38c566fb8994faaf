"""Deciding whether an item's events take place in the Afghanistan-Pakistan theatre.

Evidence, strongest first: the routes whose status the item reports; then places below country
level (cities, districts, provinces, crossings, "Pakistani soil"), the headline counting double;
talk venues, embassies and visiting delegations not at all; then countries, demonyms and actors.
An item about both Afghanistan and Pakistan is about their frontier; one pairing Pakistan with a
third country needs a place on Pakistani soil.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from schemas.common import Region
from services.classifier.gazetteer import Mention, region_of

_TITLE_WEIGHT: Final = 2.0
_AF_PAK: Final = Region.AF_PAK
_OTHER: Final = Region.OTHER


def decide_region(
    route_regions: Iterable[Region],
    mentions: Iterable[tuple[bool, Mention]],
    actor_countries: Iterable[tuple[bool, str | None]],
    theatre_language: bool = False,
) -> Region:
    """The item's region; ``theatre_language``: the item is written with words of the theatre's own
    languages ("Doha jang bandi barqarar"), which decides only when nothing else does."""
    routes = list(route_regions)
    if routes:
        return _AF_PAK if _AF_PAK in routes else _OTHER
    local = {_AF_PAK: 0.0, _OTHER: 0.0}
    national = {_AF_PAK: 0.0, _OTHER: 0.0}
    countries: set[str] = set()
    for in_title, m in mentions:
        weight = _TITLE_WEIGHT if in_title else 1.0
        region = region_of(m.entry)
        if m.no_evidence:
            continue
        if m.is_country and not m.on_soil:
            national[region] += weight
            if m.entry.country:
                countries.add(m.entry.country)
        else:
            local[region] += weight
    for in_title, country in actor_countries:
        if country is None:
            continue
        weight = _TITLE_WEIGHT if in_title else 1.0
        national[_AF_PAK if country in ("AF", "PK") else _OTHER] += weight
        countries.add(country)
    if local[_AF_PAK] != local[_OTHER]:
        return _AF_PAK if local[_AF_PAK] > local[_OTHER] else _OTHER
    if {"AF", "PK"} <= countries:
        return _AF_PAK
    if national[_AF_PAK] > national[_OTHER]:
        return _AF_PAK
    if theatre_language and not countries and local[_OTHER] == 0.0 and national[_OTHER] == 0.0:
        return _AF_PAK
    return _OTHER
