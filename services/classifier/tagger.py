"""The tagging core: one news item in, one tagged event out.

Pure and deterministic: no I/O after construction, and the clock is passed in. Build a
:class:`Tagger` once (all phrase tables are compiled then) and call :meth:`Tagger.tag` per item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar, cast

from pydantic import BaseModel

from schemas.common import Label
from schemas.raw_items import RawItemV1
from schemas.tagged_events import Crossing, Evidence, Figures, Place, TaggedEventV1
from services.classifier.crossings import CrossingAnalyser
from services.classifier.document import Doc, register_months
from services.classifier.figures import CasualtyAnalyser
from services.classifier.gazetteer import DEMONYM, PLACE, Mention, PlaceIndex
from services.classifier.matcher import PhraseMatcher, normalise
from services.classifier.numbers import NumberReader
from services.classifier.region import decide_region
from services.classifier.sentences import Sentence, make_sentences
from services.classifier.severity import SeverityRules
from services.classifier.taxonomy import ROUTE_KINDS, Gazetteer, Taxonomy, load_gazetteer, load_taxonomy
from services.classifier.truce import TruceAnalyser

CLASSIFIER_VERSION: Final = "0.1.0"
_CUE_PREFIX: Final = {"shared": "shared", "truce": "truce", "casualties": "cas", "closure": "clo"}
# Word lists the analysers look up in token windows themselves: as phrase hits they would only
# cost time.
_NOT_MATCHED: Final = frozenset(
    {
        "cas.civilians",
        "cas.person_nouns",
        "cas.armed_people",
        "cas.counted_nouns",
        "cas.metaphor_objects",
        "cas.metaphor_subjects",
        "cas.totals",
        "cas.sport_play",
        "cas.war_spans",
        "cas.retrospective",
        "truce.hedges",
        "truce.references",
    }
)
ACTOR: Final = "actor"
_THEATRE_LANGUAGE: Final = "shared.theatre_language"
_PLACE_GROUPS: Final = (PLACE, DEMONYM)
_VIOLATION: Final = Label.CEASEFIRE_VIOLATION
_CLOSURE: Final = Label.CLOSURE
_CASUALTIES: Final = Label.CASUALTIES
_VIOLATION_NAME: Final[str] = _VIOLATION.value
_CLOSURE_NAME: Final[str] = _CLOSURE.value
_CASUALTIES_NAME: Final[str] = _CASUALTIES.value
_NO_FIGURES: Final = Figures()  # immutable, so one instance serves every event
_M = TypeVar("_M", bound=BaseModel)


def make_event_id(item_id: str, classifier_version: str, taxonomy_version: str) -> str:
    """Stable id of the event for an item under given classifier and taxonomy versions."""
    key = f"{item_id}\x1f{classifier_version}\x1f{taxonomy_version}".encode()
    return hashlib.blake2b(key, digest_size=10).hexdigest()


# The nested parts of the event are handed over as plain dicts and the event is validated once,
# as a whole: one pass of pydantic-core costs less than building (or constructing) each nested
# model on its own.
def _evidence(supports: str, sent: Sentence) -> dict[str, object]:
    return {
        "supports": supports,
        "field": sent.field,
        "start": sent.start,
        "end": sent.end,
        "sentence": sent.text,
    }


class Tagger:
    """Tags items using a loaded taxonomy and gazetteer.

    With ``validate_events`` every event goes through pydantic validation; by default it is
    assembled directly when that gives the same event (see :func:`unvalidated_build_applies`).
    """

    def __init__(self, taxonomy: Taxonomy, gazetteer: Gazetteer, *, validate_events: bool = False) -> None:
        self.taxonomy = taxonomy
        self.gazetteer = gazetteer
        self._matcher = PhraseMatcher()
        self._places = PlaceIndex(gazetteer)
        self._places.register(self._matcher)
        for section, prefix in _CUE_PREFIX.items():
            cues = getattr(taxonomy.cues, section)
            for name, value in cues:
                if isinstance(value, list) and f"{prefix}.{name}" not in _NOT_MATCHED:
                    for phrase in value:
                        self._matcher.add(phrase, f"{prefix}.{name}")
        for i, actor in enumerate(taxonomy.actors):
            for variant in [actor.name, *actor.variants]:
                self._matcher.add(variant, ACTOR, i)
        CrossingAnalyser.register(self._matcher)
        register_months(self._matcher)
        self._matcher.build()
        fig = taxonomy.figures
        reader = NumberReader(
            fig.approximations,
            fig.vague,
            fig.extra_number_words,
            fig.max_figure,
            guarded=fig.guarded_number_words,
            guarded_next=fig.guarded_number_next,
        )
        self._casualties = CasualtyAnalyser(taxonomy, reader)
        self._truce = TruceAnalyser(self.taxonomy)
        self._crossings = CrossingAnalyser(taxonomy, self._places)
        self._severity = SeverityRules(taxonomy.severity_rules, taxonomy.default_severity)
        self._assembler = _EventAssembler() if _UNVALIDATED_OK and not validate_events else None
        # Read out of the validated models once: compiled code reads its own attributes natively.
        self._version: str = taxonomy.version
        self._actor_names: list[str] = [actor.name for actor in taxonomy.actors]
        self._actor_countries: list[str | None] = [actor.country for actor in taxonomy.actors]

    def _document(self, item: RawItemV1) -> Doc:
        sentences: list[Sentence] = []
        lows: list[str] = []
        for fld, text in (("title", item.title), ("body", item.body)):
            if not text.strip():
                continue
            low = normalise(text)
            lows.append(low)
            sentences.extend(make_sentences(fld, text, low, self._matcher))  # type: ignore[arg-type]
        return Doc(sentences, item.published_at.year, lows, item.published_at.date())

    def _figures(self, killed: int | None, injured: int | None, civilians_killed: int | None) -> Figures:
        if self._assembler is None:
            return Figures(killed=killed, injured=injured, civilians_killed=civilians_killed)
        # Counts read from the text are never negative: nothing for validation to check.
        values: dict[str, object] = {
            "killed": killed,
            "injured": injured,
            "civilians_killed": civilians_killed,
        }
        return _model(Figures, values, {"killed", "injured", "civilians_killed"})

    def tag(self, item: RawItemV1, now: datetime, story_id: str | None = None) -> TaggedEventV1:
        """The tagged event of ``item``; ``story_id`` (from the story index) travels in it."""
        doc = self._document(item)
        mentions = {
            n: self._places.mentions(s) for n, s in enumerate(doc.sentences) if s.has_any(_PLACE_GROUPS)
        }
        flat = [(doc.sentences[n].field == "title", m) for n, ms in mentions.items() for m in ms]
        casualties = self._casualties.analyse(doc)
        violation = self._truce.analyse(doc)
        closure = self._crossings.analyse(doc, mentions)

        labels: list[Label] = []
        evidence: list[dict[str, object]] = []
        if violation is not None:
            labels.append(_VIOLATION)
            evidence.append(_evidence(_VIOLATION_NAME, violation))
        if closure.positive:
            labels.append(_CLOSURE)
            if closure.evidence is not None:
                evidence.append(_evidence(_CLOSURE_NAME, closure.evidence))
        figures = _NO_FIGURES
        if casualties.positive:
            labels.append(_CASUALTIES)
            if casualties.evidence is not None:
                evidence.append(_evidence(_CASUALTIES_NAME, casualties.evidence))
            figures = self._figures(casualties.killed, casualties.injured, casualties.civilians_killed)
            for name, sent in casualties.figure_evidence.items():
                evidence.append(_evidence(name, sent))

        actor_hits = [(s.field == "title", h.ref) for s in doc.sentences for h in s.groups(ACTOR)]
        names = self._actor_names
        countries = self._actor_countries
        actors = list(dict.fromkeys(names[ref] for _, ref in actor_hits))
        region = decide_region(
            (r for _, _, r in closure.crossings),
            flat,
            ((t, countries[ref]) for t, ref in actor_hits),
            doc.has(_THEATRE_LANGUAGE),
        )
        severity = self._severity.assess(labels, figures)
        values: dict[str, object] = {
            "event_id": make_event_id(item.id, CLASSIFIER_VERSION, self._version),
            "item_id": item.id,
            "source": item.source,
            "url": item.url,
            "title": item.title,
            "published_at": item.published_at,
            "ingested_at": item.ingested_at,
            "tagged_at": now,
            "labels": labels,
            "figures": figures,
            "crossings": [{"name": n, "state": s} for n, s, _ in closure.crossings],
            "places": _place_mentions(flat),
            "actors": actors,
            "region": region,
            "severity": severity,
            "evidence": evidence,
            "classifier_version": CLASSIFIER_VERSION,
            "taxonomy_version": self._version,
        }
        if story_id is not None:
            values["story_id"] = story_id
        # Times in UTC already: validation would leave them as they are.
        utc = now.tzinfo is UTC and item.published_at.tzinfo is UTC and item.ingested_at.tzinfo is UTC
        if self._assembler is not None and utc:
            return self._assembler.event(values)
        values["places"] = [_place(m) for m in cast(list[Mention], values["places"])]
        return TaggedEventV1.model_validate(values)


# -- building the event without validating it again ----------------------------------------------
# Validating the finished event costs more than all of the tagging but the phrase scan, and it
# cannot fail: every value is built to fit (enums from the taxonomy, kinds mapped to the place
# kinds, offsets >= 0, coordinates from the validated gazetteer, UTC times). So the event is
# assembled the way ``model_construct`` does it (its own code is slower than validating). A
# unit test checks on every corpus that the result equals the validated event; the shortcut
# applies only while the models have exactly the fields below and no validator, post-init or
# private attribute that construction would skip; otherwise the event is validated.
_SHAPES: Final[dict[type[BaseModel], tuple[str, ...]]] = {
    TaggedEventV1: (
        "schema_version",
        "event_id",
        "item_id",
        "source",
        "url",
        "title",
        "published_at",
        "ingested_at",
        "tagged_at",
        "labels",
        "figures",
        "crossings",
        "places",
        "actors",
        "region",
        "severity",
        "evidence",
        "classifier_version",
        "taxonomy_version",
        "story_id",
    ),
    Figures: ("killed", "injured", "civilians_killed"),
    Crossing: ("name", "state"),
    Place: ("name", "mention", "kind", "country", "admin_area", "lat", "lon"),
    Evidence: ("supports", "field", "start", "end", "sentence"),
}


def unvalidated_build_applies(shapes: Mapping[type[BaseModel], tuple[str, ...]] | None = None) -> bool:
    """Whether the event models (``shapes``: model -> its fields) are still the ones assembled."""
    for cls, fields in (_SHAPES if shapes is None else shapes).items():
        decorators = cls.__pydantic_decorators__
        if (
            tuple(cls.model_fields) != fields
            or cls.__pydantic_post_init__ is not None
            or cls.__pydantic_root_model__
            or cls.__private_attributes__
            or cls.model_config.get("extra") == "allow"
            or decorators.validators
            or decorators.field_validators
            or decorators.root_validators
            or decorators.model_validators
        ):
            return False
    return True


_UNVALIDATED_OK: Final = unvalidated_build_applies()
_SHARED_MAX: Final = 4096
_set: Final = object.__setattr__


def _model(cls: type[_M], values: dict[str, object], given: set[str]) -> _M:
    """An instance holding ``values`` (every field, in field order), as ``model_construct`` makes it."""
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", given)
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


class _EventAssembler:
    """Builds events from the values :meth:`Tagger.tag` would validate, without validating.

    Crossings and places repeat from item to item and are immutable, so each distinct one is
    built once and shared (up to ``_SHARED_MAX`` of each).
    """

    def __init__(self) -> None:
        self._crossings: dict[tuple[object, ...], Crossing] = {}
        self._places: dict[tuple[str, str], Place] = {}

    def event(self, values: dict[str, object]) -> TaggedEventV1:
        crossings = cast(list[dict[str, object]], values["crossings"])
        if crossings:
            values["crossings"] = [self._shared(self._crossings, Crossing, c) for c in crossings]
        places = cast(list[Mention], values["places"])
        if places:
            values["places"] = [self._place(m) for m in places]
        evidence = cast(list[dict[str, object]], values["evidence"])
        values["evidence"] = [_model(Evidence, e, set(e)) for e in evidence]
        given = set(values)
        full: dict[str, object] = {"schema_version": 1, **values, "story_id": values.get("story_id")}
        return _model(TaggedEventV1, full, given)

    def _place(self, mention: Mention) -> Place:
        """The shared place of a mention: one per place and spelling (the rest follows from those)."""
        key = (mention.entry.name, mention.text)
        found = self._places.get(key)
        if found is None:
            values = _place(mention)
            found = _model(Place, values, set(values))
            if len(self._places) < _SHARED_MAX:
                self._places[key] = found
        return found

    @staticmethod
    def _shared(cache: dict[tuple[object, ...], _M], cls: type[_M], values: dict[str, object]) -> _M:
        key = tuple(values.values())
        found = cache.get(key)
        if found is None:
            found = _model(cls, values, set(values))
            if len(cache) < _SHARED_MAX:
                cache[key] = found
        return found


def _place_mentions(mentions: list[tuple[bool, Mention]]) -> list[Mention]:
    """The first mention of each place the event names, in text order."""
    out: dict[str, Mention] = {}
    for _, m in mentions:
        # Talk venues (Doha, Istanbul) name where negotiations happen, not where events did.
        if m.demonym or m.no_evidence:
            continue
        name = m.entry.name
        if name not in out:
            out[name] = m
    return list(out.values())


def _place(mention: Mention) -> dict[str, object]:
    """The values of the event's place for ``mention``."""
    e = mention.entry
    return {
        "name": e.name,
        "mention": mention.text,
        "kind": "crossing" if e.kind in ROUTE_KINDS else e.kind,
        "country": e.country,
        "admin_area": e.admin_area,
        "lat": e.lat,
        "lon": e.lon,
    }


def load_tagger(taxonomy_path: str | Path, gazetteer_path: str | Path | Iterable[str | Path]) -> Tagger:
    """Load and validate both configuration files and build a tagger (raises ConfigError)."""
    return Tagger(load_taxonomy(taxonomy_path), load_gazetteer(gazetteer_path))
