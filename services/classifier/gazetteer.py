"""Resolving place mentions against the gazetteer."""

from __future__ import annotations

from typing import Final

from schemas.common import Region
from services.classifier.matcher import Hit, PhraseMatcher
from services.classifier.sentences import Sentence
from services.classifier.taxonomy import ROUTE_KINDS, Gazetteer, GazetteerEntry

PLACE: Final = "place"
DEMONYM: Final = "adj"
# "India's embassy in Kabul": the city hosts a mission, it is not where the news happens.
_GUEST_BEFORE: Final = ("embassy in ", "mission in ", "consulate in ", "envoy in ", "ambassador in ")
_GUEST_AFTER: Final = (" mission", " embassy", " consulate")
# "strikes on Pakistani soil", "the Afghan side": a demonym that names ground, not a nationality.
_SOIL_AFTER: Final = (" soil", " territory", " territories", " side of", " side ")


class Mention:
    """A resolved gazetteer mention in a sentence (``hit`` offsets are sentence-relative).

    ``text`` is the spelling in the item (original case).
    """

    # A plain class rather than a dataclass: compiled, its __init__ is native code too. What the
    # analysers ask of a mention again and again is worked out here, once.
    __slots__ = (
        "demonym",
        "entry",
        "guest",
        "hit",
        "is_country",
        "is_route",
        "no_evidence",
        "on_soil",
        "text",
    )

    def __init__(
        self,
        hit: Hit,
        entry: GazetteerEntry,
        demonym: bool,
        guest: bool = False,
        on_soil: bool = False,
        text: str = "",
    ) -> None:
        self.hit = hit
        self.entry = entry
        self.demonym = demonym
        self.guest = guest
        self.on_soil = on_soil
        self.text = text
        kind = entry.kind
        # Talk venues, embassies and visiting delegations say nothing of where events happen.
        self.no_evidence: bool = entry.venue or guest
        self.is_route: bool = not demonym and kind in ROUTE_KINDS
        self.is_country: bool = demonym or kind == "country"


class PlaceIndex:
    """Gazetteer entries registered in a phrase matcher, and per-sentence resolution."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.entries = list(gazetteer.entries)
        self._by_name = {e.name: e for e in self.entries}
        self._country = {e.country: e for e in self.entries if e.kind == "country" and e.country}

    def register(self, matcher: PhraseMatcher) -> None:
        for i, entry in enumerate(self.entries):
            for variant in [entry.name, *entry.variants]:
                matcher.add(variant, PLACE, i)
            for adj in entry.adjectives:
                matcher.add(adj, DEMONYM, i)

    def get(self, name: str) -> GazetteerEntry | None:
        return self._by_name.get(name)

    def country(self, iso2: str | None) -> GazetteerEntry | None:
        return None if iso2 is None else self._country.get(iso2)

    def mentions(self, sent: Sentence) -> list[Mention]:
        """Place and demonym mentions, longest match first, in text order."""
        if not sent.has(PLACE) and not sent.has(DEMONYM):
            return []
        hits = [h for h in sent.hits if h.group in (PLACE, DEMONYM)]
        kept: list[Hit] = []
        for h in hits:
            if any(
                o is not h and o.start <= h.start and h.end <= o.end and (o.end - o.start) > (h.end - h.start)
                for o in hits
            ):
                continue
            if any(k.start == h.start and k.end == h.end and k.group == h.group for k in kept):
                continue
            kept.append(h)
        out: list[Mention] = []
        low = sent.low
        for h in kept:
            demonym = h.group == DEMONYM
            before = low[max(0, h.start - 16) : h.start]
            guest = (
                before.endswith(_GUEST_BEFORE)
                or (not demonym and low.startswith(_GUEST_AFTER, h.end))
                or (demonym and before.endswith("visiting "))
            )
            on_soil = demonym and low.startswith(_SOIL_AFTER, h.end)
            out.append(Mention(h, self.entries[h.ref], demonym, guest, on_soil, sent.text[h.start : h.end]))
        return out


def region_of(entry: GazetteerEntry) -> Region:
    return entry.region or Region.OTHER
