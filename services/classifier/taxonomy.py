"""Models and loaders for the taxonomy and gazetteer YAML files.

Both files are plain data: lists of cue phrases, places and ordered severity rules. They are
validated once at start-up; any problem raises :class:`ConfigError` naming the file, the line
and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.common import Label, Region, Severity
from services.common.yaml_config import ConfigError, compose_yaml, line_of, load_yaml_model

Phrase = str
PhraseList = list[Phrase]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clean_phrases(values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        text = " ".join(value.split())
        if not text:
            raise ValueError("cue phrases must not be blank")
        out.append(text)
    return out


class _Cues(_Strict):
    @field_validator("*", mode="after")
    @classmethod
    def _phrases(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return _clean_phrases(value)
        return value


class SharedCues(_Cues):
    negations: PhraseList = Field(min_length=1)
    hypotheticals: PhraseList = Field(min_length=1)
    reporting_verbs: PhraseList = Field(min_length=1)
    denials: PhraseList = Field(
        default_factory=list, description="'denied', 'dismissed': with a claim noun they govern the clause."
    )
    claim_nouns: PhraseList = Field(
        default_factory=list, description="'claims', 'reports': what a denial denies ('denies reports that')."
    )
    theatre_language: PhraseList = Field(
        default_factory=list,
        description="Words of the theatre's own languages as written in the news (Roman Urdu, Pashto): "
        "an item that names no place, country or actor but is written with them is about the theatre.",
    )


class TruceCues(_Cues):
    terms: PhraseList = Field(min_length=1, description="Words naming a truce or accord.")
    breach: PhraseList = Field(min_length=1, description="Words alleging a breach, used near a truce term.")
    breach_after_term: PhraseList = Field(
        min_length=1, description="Words after a truce term ('truce frays')."
    )
    references: PhraseList = Field(
        default_factory=list,
        description="Words ('agreement', 'deal') naming the truce again when the item names one elsewhere.",
    )
    hedges: PhraseList = Field(
        default_factory=list,
        description="'did not say', 'stopped short of saying': the breach after them is not alleged.",
    )
    non_parties: PhraseList = Field(
        default_factory=list,
        description="Armed groups party to no truce: their attack during one breaches it only when alleged.",
    )
    in_force: PhraseList = Field(
        min_length=1, description="Connectors saying an act happened while a truce held."
    )
    in_force_after: PhraseList = Field(
        default_factory=list,
        description="After a truce term: 'the ceasefire, which remains in force' (acts then breach it).",
    )
    superlatives: PhraseList = Field(min_length=1, description="'heaviest ... since the truce'.")
    start_verbs: PhraseList = Field(min_length=1, description="'after the truce took effect'.")
    hostile_acts: PhraseList = Field(min_length=1)
    ended: PhraseList = Field(
        default_factory=list, description="'expired', 'was over': later acts do not breach the truce."
    )


class CasualtyCues(_Cues):
    killed: PhraseList = Field(min_length=1)
    injured: PhraseList = Field(min_length=1)
    toll: PhraseList = Field(min_length=1)
    violence: PhraseList = Field(min_length=1)
    non_violent: PhraseList = Field(min_length=1, description="Disasters, accidents, hunger and disease.")
    background: PhraseList = Field(min_length=1, description="Anniversaries and earlier tolls.")
    prior_event: PhraseList = Field(min_length=1, description="'after', 'following' before an old killing.")
    past_perfect: PhraseList = Field(min_length=1)
    conflict_ended: PhraseList = Field(
        default_factory=list,
        description="'ending', 'end to': with a truce term, deaths in the fighting ended are background.",
    )
    separate_event: PhraseList = Field(min_length=1)
    separate_reports: PhraseList = Field(
        default_factory=list,
        description="'in a separate statement': a separate_event phrase inside one tells another report "
        "of the same event, not another event.",
    )
    metaphors: PhraseList = Field(min_length=1)
    metaphor_objects: PhraseList = Field(
        default_factory=list, description="'killing (our) business': a killing verb with these objects."
    )
    metaphor_subjects: PhraseList = Field(
        default_factory=list,
        description="'prices are killing traders': 'kill(s)/killing' shortly after one of these words.",
    )
    totals: PhraseList = Field(default_factory=list, description="'in all', 'in total' after a figure.")
    war_spans: PhraseList = Field(
        default_factory=list,
        description="'conflict', 'clashes' near a toll: a whole war's toll, background in a truce item.",
    )
    retrospective: PhraseList = Field(
        default_factory=list,
        description="'weeks on', 'in numbers': a headline looking back; war tolls under it are background.",
    )
    counted_nouns: PhraseList = Field(
        default_factory=list,
        description="Killed cues that count the dead only with a figure right before them, in a "
        "violent sentence ('three bodies', '12 lives', '6 martyrs').",
    )
    armed_people: PhraseList = Field(
        default_factory=list,
        description="Violence words that name armed people ('soldiers', 'troops'): in a sentence with a "
        "cause of no violence ('plane crash') they tell no violence.",
    )
    calm: PhraseList = Field(
        default_factory=list,
        description="Phrases around a violence word that tell no violence and no cause of death: "
        "'rescue operation'.",
    )
    sport: PhraseList = Field(
        default_factory=list,
        description="Words of a match report; with two of them an item is about sport.",
    )
    sport_play: PhraseList = Field(
        default_factory=list,
        description="Violence words that also tell play ('attack', 'shot'): no violence in a match report.",
    )
    zero_killed: PhraseList = Field(min_length=1)
    zero_injured: PhraseList = Field(min_length=1)
    civilians: PhraseList = Field(min_length=1)
    person_nouns: PhraseList = Field(min_length=1, description="Singular nouns meaning one person.")


class ClosureCues(_Cues):
    closed: PhraseList = Field(min_length=1)
    falsehoods: PhraseList = Field(
        default_factory=list,
        description="'baseless', 'rumours': a closure told in a sentence with one of these is denied.",
    )
    closed_weak: PhraseList = Field(min_length=1, description="Consequences: 'stranded', 'stuck'.")
    opened: PhraseList = Field(min_length=1)
    restricted: PhraseList = Field(min_length=1, description="'only', 'still letting': some traffic moves.")
    stays_open: PhraseList = Field(
        default_factory=list,
        description="'remained open': a route open as usual (queues or delays alone then say nothing).",
    )
    routes: PhraseList = Field(min_length=1, description="Generic route nouns: crossing, highway, airspace.")
    all_crossings: PhraseList = Field(
        min_length=1, description="'all crossings': every crossing of a border."
    )
    prior: PhraseList = Field(min_length=1, description="'after' before an earlier shutdown.")
    route_kinds: dict[str, str] = Field(description="Suffix word -> route kind for names built from text.")


class FigureVocab(_Cues):
    approximations: PhraseList = Field(min_length=1, description="'at least', 'more than' ...")
    vague: PhraseList = Field(min_length=1, description="'dozens', 'several' ...: no countable figure.")
    extra_number_words: dict[str, int] = Field(default_factory=dict)
    guarded_number_words: dict[str, int] = Field(
        default_factory=dict,
        description="Number words that are also common words elsewhere ('do', two in Roman Urdu): "
        "read as numbers only right before one of guarded_number_next.",
    )
    guarded_number_next: PhraseList = Field(default_factory=list)
    max_figure: int = Field(
        default=1_000_000,
        ge=1,
        description="Largest believable casualty figure: a number above it is not a figure "
        "(the label may still apply).",
    )


class Cues(_Strict):
    shared: SharedCues
    truce: TruceCues
    casualties: CasualtyCues
    closure: ClosureCues


class ActorSpec(_Strict):
    name: str = Field(min_length=1)
    variants: PhraseList = Field(min_length=1)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class SeverityWhen(_Strict):
    labels_all: list[Label] = Field(default_factory=list)
    labels_any: list[Label] = Field(default_factory=list)
    min_killed: int | None = Field(default=None, ge=0)
    min_injured: int | None = Field(default=None, ge=0)


class SeverityRule(_Strict):
    name: str = Field(min_length=1)
    severity: Severity
    when: SeverityWhen = Field(default_factory=SeverityWhen)


class Taxonomy(_Strict):
    version: str = Field(min_length=1, max_length=64)
    cues: Cues
    figures: FigureVocab
    actors: list[ActorSpec] = Field(default_factory=list)
    severity_rules: list[SeverityRule] = Field(min_length=1)
    default_severity: Severity = Severity.INFO

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


PlaceKind = Literal[
    "crossing",
    "road",
    "airport",
    "airspace",
    "port",
    "corridor",
    "city",
    "district",
    "province",
    "region",
    "country",
]
ROUTE_KINDS: frozenset[str] = frozenset({"crossing", "road", "airport", "airspace", "port", "corridor"})


class GazetteerEntry(_Strict):
    name: str = Field(min_length=1)
    kind: PlaceKind
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    admin_area: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    precision: Literal["point", "area", "approximate"] = "area"
    variants: PhraseList = Field(min_length=1)
    adjectives: PhraseList = Field(default_factory=list, description="Demonyms: 'Pakistani', 'Afghan'.")
    region: Region | None = None
    venue: bool = Field(default=False, description="A neutral venue for talks: not evidence of region.")
    between: list[str] = Field(
        default_factory=list,
        description="For a border: the countries it separates ('the Durand Line': AF and PK).",
    )
    stands_for: str | None = Field(
        default=None,
        description="The route a place's bare name means in a sentence that tells a route's state "
        "('Rafah to stay closed': the Rafah crossing); the canonical name of a route entry.",
    )

    @field_validator("between")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        bad = [code for code in value if len(code) != 2 or not code.isupper()]
        if bad:
            raise ValueError(f"not two-letter country codes: {bad}")
        return value

    @model_validator(mode="after")
    def _coordinates_pair(self) -> GazetteerEntry:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self


class GazetteerFile(_Strict):
    theatre: str = Field(min_length=1)
    region: Region = Field(description="Region of every entry unless the entry overrides it.")
    entries: list[GazetteerEntry] = Field(min_length=1)


class Gazetteer(_Strict):
    """All gazetteer files merged; each entry's region is resolved."""

    theatres: list[str]
    entries: list[GazetteerEntry]

    def by_name(self) -> dict[str, GazetteerEntry]:
        return {e.name: e for e in self.entries}


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Load and validate the taxonomy YAML; raise :class:`ConfigError` on any problem."""
    return load_yaml_model(path, Taxonomy)


def _gazetteer_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
            if not found:
                raise ConfigError(str(p), "gazetteer directory holds no .yaml files")
            out.extend(found)
        else:
            out.append(p)
    if not out:
        raise ConfigError("<gazetteer>", "no gazetteer file given")
    return out


def load_gazetteer(paths: str | Path | Iterable[str | Path]) -> Gazetteer:
    """Load one gazetteer file, a directory of them, or a list; entries keep file order.

    Each theatre is its own file; a canonical name may appear only once across all files.
    """
    entries: list[GazetteerEntry] = []
    theatres: list[str] = []
    seen: dict[str, str] = {}
    places: list[tuple[Path, int]] = []  # each entry's file and index, for messages
    for path in _gazetteer_paths(paths):
        gfile = load_yaml_model(path, GazetteerFile)
        theatres.append(gfile.theatre)
        for i, entry in enumerate(gfile.entries):
            if entry.name in seen:
                message = f"duplicate canonical name {entry.name!r} (first defined in {seen[entry.name]})"
                raise _entry_error(path, i, "name", message)
            seen[entry.name] = str(path)
            region = entry.region or gfile.region
            entries.append(entry.model_copy(update={"region": region}))
            places.append((path, i))
    kinds = {e.name: e.kind for e in entries}
    for entry, (path, i) in zip(entries, places, strict=True):
        if entry.stands_for is not None and kinds.get(entry.stands_for) not in ROUTE_KINDS:
            message = f"stands_for {entry.stands_for!r} is not the canonical name of a route entry"
            raise _entry_error(path, i, "stands_for", message)
    return Gazetteer(theatres=theatres, entries=entries)


def _entry_error(path: Path, index: int, field: str, message: str) -> ConfigError:
    """An error in one gazetteer entry's field, with the file and the field's line."""
    root, _ = compose_yaml(path)
    return ConfigError(
        str(path), message, line=line_of(root, ["entries", index, field]), field=f"entries.{index}.{field}"
    )
