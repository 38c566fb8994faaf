"""The closure label and the state of each crossing, road, port, airport or airspace.

Each sentence gets a state from its cues (closed / reopened / partially open / only restricted)
and hands it to the routes it names. A sentence that names no route but speaks of one ("the
highway", "the crossings") hands its state to the last route named before it, or the next one.
"""

from __future__ import annotations

import itertools
import re
from typing import Final

from schemas.common import CrossingState, Region
from services.classifier.document import (
    MONTH_WORDS,
    WEEKDAYS,
    Doc,
    before_hit,
    hit_after,
    inside,
    tok,
    tok_end,
)
from services.classifier.gazetteer import Mention, PlaceIndex, region_of
from services.classifier.matcher import Hit, PhraseMatcher
from services.classifier.sentences import Sentence
from services.classifier.taxonomy import GazetteerEntry, Taxonomy

CLOSED: Final = "closed"
WEAK: Final = "weak"
OPEN: Final = "open"
PARTIAL: Final = "partial"
RESTRICTED: Final = "restricted"
RUNNING: Final = "running"  # open as usual: cancels what queues and delays alone would say
# The schema's states and regions, bound once (compiled, a constant costs less than the lookup).
_STATE_CLOSED: Final = CrossingState.CLOSED
_STATE_REOPENED: Final = CrossingState.REOPENED
_STATE_PARTIAL: Final = CrossingState.PARTIALLY_OPEN
_AF_PAK: Final = Region.AF_PAK
_OTHER: Final = Region.OTHER
_PRIOR_CLAUSE_WORDS: Final = 14  # 'after' opening a clause that tells what shut a reopened route
_AIRPORT: Final = re.compile(r"((?:[A-Z][\w'-]+ ){1,3})(?:[Ii]nternational )?[Aa]irport\b")
# "at Lahore and Sialkot airports", "the Peshawar, Quetta and Karachi airports": one airport each.
_AIRPORTS: Final = re.compile(
    r"\b((?:[A-Z][\w'-]+, )*[A-Z][\w'-]+(?:,? and |, )[A-Z][\w'-]+) (?:[Ii]nternational )?[Aa]irports\b"
    r"|\b[Aa]irports (?:of|in) ((?:[A-Z][\w'-]+, )*[A-Z][\w'-]+,? and [A-Z][\w'-]+)"
)
# "at Karachi port", "Gwadar Port": a seaport named by its city.
_PORT: Final = re.compile(r"\b([A-Z][\w'-]+) [Pp]ort\b")
_AIRPORT_LIST_SPLIT: Final = re.compile(r",? and |, ")
_HYPHEN_ROUTE: Final = re.compile(
    r"\b([A-Z][\w']+)([-\u2013\u2014])([A-Z][\w']+(?: [A-Z][\w']+)?) (highway|road|motorway|corridor)\b"
)  # "Khar-Loi Mamund road", "Quetta\u2013Karachi highway" (the text's own dash)
_HAS_ROAD: Final = re.compile(r"highway|road|motorway|corridor")
_NAMED_CORRIDOR: Final = re.compile(r"\b([A-Z][\w']+) corridor\b")
_ROAD_NAMES: Final = ((_HYPHEN_ROUTE, "{0}{1}{2} {3}"), (_NAMED_CORRIDOR, "{0} corridor"))
_PAIR: Final = re.compile(
    r"\b(?:border crossings|crossings|crossing points|checkpoints|border points|border) with\b"
)
_NOT_A_ROUTE_AFTER: Final = frozenset(
    [
        "town",
        "towns",
        "post",
        "posts",
        "area",
        "areas",
        "village",
        "villages",
        "region",
        "regions",
        "district",
        "districts",
        "forces",
        "force",
        "guards",
        "police",
        "tension",
        "tensions",
        "clashes",
        "clash",
        "fighting",
        "security",
        "officials",
        "official",
        "troops",
        "city",
        "cities",
        "dispute",
        "row",
        "regions",
        "province",
        "provinces",
        "dwellers",
        "residents",
        "markets",
        "market",
        "trade-off",
        "fence",
        "management",
    ]
)
_FUTURE: Final = frozenset(
    {
        "to",
        "would",
        "will",
        "could",
        "may",
        "might",
        "not",
        "once",
        "until",
        "if",
        "before",
        "no",
        "be",
        "should",
        "must",
    }
)  # "demanding that it be reopened", "should reopen": not (yet) open
# Words every route name read from running text contains as a whole word (the airport, road
# and pair expressions below, and "airspace" / "ports" after their owner). They are matched with
# the cues, under a group of their own: a sentence without any of them names no such route.
ROUTE_WORDS_GROUP: Final = "clo.route_words"
_ROUTE_WORDS: Final = (
    "airport",
    "airports",
    "port",
    "highway",
    "road",
    "motorway",
    "corridor",
    "airspace",
    "ports",
    "border",
    "crossing",
    "crossings",
    "checkpoints",
)
_DEFAULT_AFPAK: Final = ("Torkham", "Chaman")
_AFPAK: Final = frozenset({"AF", "PK"})  # the frontier's two countries
_NOT: Final = frozenset({"not", "n't", "never"})
_FUTURE_MARKS: Final = frozenset({"will", "would", "to", "shall"})
_ONGOING: Final = frozenset(
    {"remain", "remains", "stay", "stays", "still", "continue", "continues", "kept", "keep"}
)
_STARTING: Final = frozenset({"from", "starting", "beginning"})
_DAYS_TO_COME: Final = MONTH_WORDS | {*WEEKDAYS, "tomorrow", "next"}
# Weak closing words that tell traffic refused, not only slowed: beside an opening, a partial one.
_BARRED: Final = frozenset({"turned back", "turned away", "sent back", "unable to cross"})
_ONLY_OF_TIME: Final = frozenset(
    {"recently", "lately", "days", "weeks", "months", "hours", "minutes", "yesterday", "once", "twice"}
)
_ALONG_REACH: Final = 40  # characters from "along" to the route word of the road it names
_IN_THE_TOWN: Final = frozenset({"in", "inside", "near", "outside", "around"})
_STATE_REACH: Final = 3  # words between a place standing for its route and the state told of it
_AIM: Final = frozenset({"at", "to", "for", "on", "of", "about", "toward", "towards"})
_SPANS: Final = frozenset({"day", "week", "month", "hour", "long"})
_MAYBE: Final = frozenset({"would", "could", "might", "may", "if", "should", "whether"})
_SERVICES: Final = frozenset(
    {
        "flights",
        "flight",
        "trains",
        "train",
        "services",
        "service",
        "buses",
        "trips",
        "sailings",
        "traffic",
        "trade",
    }
)
_ROUTE_NOUNS: Final = frozenset({"road", "roads", "route", "routes", "highway", "crossing", "link", "supply"})
_OWNERS: Final = frozenset(
    {"the", "its", "their", "his", "her", "our", "'s"}
)  # "the only", "district's only"
_MOVING: Final = frozenset(
    {
        "crossing",
        "moving",
        "flowing",
        "operating",
        "running",
        "plying",
        "rolling",
        "passing",
        "trading",
        "flying",
    }
)
_WORK: Final = frozenset({"construction", "talks", "negotiations", "fighting"})
# What a closing verb may halt that is no traffic on a route.
_NOT_TRAFFIC_AFTER: Final = (
    " deportation",
    " repatriation",
    " talks",
    " negotiations",
    " construction",
    " dialogue",
)
# The nouns of _NOT_TRAFFIC_AFTER as words (singular and plural), matched with the cues: a sentence
# without any needs no closer look.
_NOT_TRAFFIC_WORDS: Final = (
    "deportation", "deportations", "repatriation", "repatriations", "talks", "negotiation", "negotiations",
    "construction", "constructions", "dialogue", "dialogues",
)  # fmt: skip
_NOT_TRAFFIC_GROUP: Final = "clo.not_traffic"
_NOT_TRAFFIC_REACH: Final = 2  # words between: "halt the disputed construction"


_NOT_TRAFFIC: Final = re.compile(
    r"(?: \S+){0,"
    + str(_NOT_TRAFFIC_REACH)
    + "}(?:"
    + "|".join(re.escape(w) for w in _NOT_TRAFFIC_AFTER)
    + ")"
)


def _stops_no_traffic(low: str, end: int) -> bool:
    """The closing word ending at ``end`` stops something that is no traffic, right after it or
    after a word or two ("halts deportations", "agree to halt disputed construction")."""
    return _NOT_TRAFFIC.match(low, end) is not None


# Closing words that close only in some company (see _no_closing_word).
_CHECKED_CLOSING: Final = frozenset({"stopped", "cancelled", "cuts", "cutting", "waiting", "block", "blocks"})
_NOT_A_QUEUE: Final = frozenset({"time", "times", "period", "periods", "list", "lists", "room", "hours"})
_AFTER_A_NOUN: Final = frozenset(
    {"of", "in", "on", "at", "near", "where", "which", "and", "was", "were", "is"}
)
# The other country of the frontier named from one side ("crossings with Afghanistan").
_THE_NEIGHBOUR: Final = (
    " with afghanistan",
    " with pakistan",
    "afghan border",
    "afghanistan border",
    "pakistan border",
    "pakistani border",
)
_STATE_GROUPS: Final = ("clo.opened", "clo.closed", "clo.closed_weak", "clo.restricted", "clo.stays_open")
_TRAFFIC_WORDS: Final = frozenset({"trade", "transit", "flights", "cargo", "traffic"})
# "close to" is near ("a village close to the border", "close to the daily average") unless traffic
# follows ("Torkham to close to trucks").
_CLOSED_TO: Final = frozenset(
    {
        "traffic",
        "trade",
        "trucks",
        "vehicles",
        "cargo",
        "pedestrians",
        "travellers",
        "travelers",
        "all",
        "flights",
    }
)
_TRAFFIC_NOUNS: Final = frozenset(
    {
        "trucks",
        "lorries",
        "vehicles",
        "pedestrians",
        "travellers",
        "travelers",
        "passengers",
        "cargo",
        "trade",
        "traffic",
        "refugees",
        "goods",
        "containers",
        "deportees",
        "returnees",
        "patients",
        "students",
        "pilgrims",
        "buses",
        "cars",
        "convoys",
        "aid",
        "flights",
    }
)
NO_STATE: Final = ""  # a route a clause names without telling its state
_TIME_OF_CLOSURE: Final = frozenset({"while", "when", "during", "throughout"})
_CLOSURE_NOUNS: Final = frozenset({"closure", "closures", "shutdown", "suspension", "blockade"})
_ENDING: Final = frozenset({"ending", "ended", "ends", "lifting", "lifted"})
_OPENISH: Final = frozenset({OPEN, RESTRICTED, RUNNING})
# "the blockade would continue until workers were again allowed to cross": a condition.
_UNTIL: Final = frozenset({"until", "unless", "till"})
_CONDITIONS: Final = frozenset({"after", "when", "if", "once", "until", "because"})
# "only" before a verb in the past restricts the act, not the traffic ("troops had only returned
# fire"); traffic let through only in part says so with these.
_RESTRICTING_VERBS: Final = frozenset({"allowed", "permitted", "cleared", "processed"})
# Contrasting clauses can give routes in one sentence different states ("A stays shut, while B
# opens only for refugees").
_CLAUSE_SPLIT: Final = re.compile(r";|,? (?:while|whereas|but) |, and ")
_HEADLINE_SPLIT: Final = re.compile(r"[;,]|,? (?:while|whereas|but|as) ")


# Plain classes rather than dataclasses: compiled, their __init__ is native code too.
class Route:
    __slots__ = ("kind", "name", "region", "states")

    def __init__(self, name: str, kind: str, region: Region) -> None:
        self.name = name
        self.kind = kind
        self.region = region
        self.states: list[tuple[str, bool]] = []


class ClosureResult:
    __slots__ = ("crossings", "evidence", "positive")

    def __init__(
        self, crossings: list[tuple[str, CrossingState, Region]], evidence: Sentence | None, positive: bool
    ) -> None:
        self.crossings = crossings
        self.evidence = evidence
        self.positive = positive


class CrossingAnalyser:
    def __init__(self, taxonomy: Taxonomy, places: PlaceIndex) -> None:
        self._places = places
        self._kinds = {k.lower(): v for k, v in taxonomy.cues.closure.route_kinds.items()}
        entries = places.entries
        # By entry index (a mention's hit.ref): the route a place's bare name stands for, and the
        # borders between the frontier's two countries ("the Pak-Afghan border").
        self._stands_for: dict[int, GazetteerEntry] = {}
        for i, entry in enumerate(entries):
            route = places.get(entry.stands_for) if entry.stands_for else None
            if route is not None:
                self._stands_for[i] = route
        self._frontier = frozenset(i for i, e in enumerate(entries) if set(e.between) >= _AFPAK)

    @staticmethod
    def register(matcher: PhraseMatcher) -> None:
        """Add the words that route names read from running text contain (before ``build``)."""
        for word in _ROUTE_WORDS:
            matcher.add(word, ROUTE_WORDS_GROUP)
        for word in _NOT_TRAFFIC_WORDS:
            matcher.add(word, _NOT_TRAFFIC_GROUP)

    # -- sentence state -------------------------------------------------------------------------
    def _state(self, sent: Sentence, span: tuple[int, int] | None = None) -> str | None:
        """The sentence's closure state, or that of the clause ``span`` (sentence offsets) only."""
        if not sent.has_any(_STATE_GROUPS):
            return None
        low = sent.low
        opened = []
        negated: list[Hit] = []
        for h in _in_span(sent.groups("clo.opened"), span):
            i, j = tok(sent, h), tok_end(sent, h)
            toks = sent.words
            if j < len(toks) and (toks[j] == "fire" or _resumed_other(low, h, toks[j])):
                continue
            if _fighting_resumed(sent, h):
                continue
            if _negated(toks, i):
                negated.append(h)  # "still not being let through", "has not reopened": still shut
                continue
            # "to" only right before ("to reopen"; not "aid to Gaza resumes")
            if (i > 0 and toks[i - 1] in _FUTURE) or (
                i > 1 and toks[i - 2] in _FUTURE and toks[i - 2] != "to"
            ):
                continue
            if any(t in _UNTIL for t in toks[max(0, i - 6) : i]):
                continue
            opened.append(h)
        closed: list[Hit] = []
        weak: list[Hit] = []
        denied = sent.has("clo.falsehoods")  # "reports that the crossing had been shut were false"
        # A day a closure is set for ("from Friday", "starting June 6"); most sentences name none,
        # and then need no tokens for it.
        scheduling: bool | None = None  # worked out at the first closing word that needs it
        not_traffic = sent.has(_NOT_TRAFFIC_GROUP)
        closed_again: Hit | None = None
        ended: list[Hit] = []
        for group, bucket in (("clo.closed", closed), ("clo.closed_weak", weak)):
            hits = _in_span(sent.groups(group), span)
            for h in hits:
                if denied or inside(h, hits):
                    continue
                word = low[h.start : h.end]
                # "would be suspended until further notice" is a suspension, not a condition.
                if word != "until further notice" and (
                    before_hit(sent, h, "shared.hypotheticals", 5)
                    or before_hit(sent, h, "shared.negations", 2)
                ):
                    continue
                if self._near(sent, h) or (word in _CHECKED_CLOSING and _no_closing_word(sent, h, word)):
                    continue
                if not_traffic and _stops_no_traffic(low, h.end):
                    continue  # "halts deportations", "suspended talks": no route shut
                if scheduling is None:
                    scheduling = " from " in low or " starting " in low or " beginning " in low
                if scheduling and _scheduled(sent.words, tok(sent, h)):
                    continue  # "will be closed from June 6 to 9": a closure to come
                if sent.has("truce.terms") and hit_after(sent, tok_end(sent, h), "truce.terms", 3):
                    continue  # "suspended the peace declaration": an accord, not a route
                if (
                    bucket is closed
                    and not opened
                    and word in _CLOSURE_NOUNS
                    and _ended(sent.words, tok(sent, h))
                ):
                    ended.append(h)  # "Trucks crossed again, ending a 19-day shutdown": a reopening
                    continue
                if bucket is closed and _says_again(low) and _again(sent, h):
                    closed_again = h  # "reopened last week, was shut again": the latest news
                elif opened and self._cause_of_reopening(sent, h):
                    continue
                bucket.append(h)
        closed.extend(negated)
        if ended:
            # Alone, a closure said to end tells a reopening; beside another closing word, as before.
            (closed if closed else opened).extend(ended)
        restricted = False
        for h in _in_span(sent.groups("clo.restricted"), span):
            # "would reopen only after ...": a condition, not traffic that still moves.
            if sent.low[h.start - 1 : h.start] == "-":
                continue  # "tazkira-only entry": a kind of document, not traffic let through
            nxt = sent.low[h.end : h.end + 16].split(maxsplit=1)
            if nxt and nxt[0] in _CONDITIONS:
                continue
            if sent.low.startswith(" a fraction", h.end):
                continue  # "funds to help only a fraction of the returnees": a quantity
            if sent.low[h.start : h.end] == "only" and _owned(sent, h):
                continue  # "the district's only link": an adjective, not traffic let through
            before_verb = nxt and (
                nxt[0] == "just" or (nxt[0].endswith("ed") and nxt[0] not in _RESTRICTING_VERBS)
            )
            if before_verb and sent.low[h.start : h.end] == "only":
                continue  # before a verb: "had only responded to fire", "had only just begun"
            if nxt and nxt[0] in _ONLY_OF_TIME and sent.low[h.start : h.end] == "only":
                continue  # "had only recently returned", "only days after": time, not traffic
            prior = before_hit(sent, h, "clo.prior", 8) if opened else None
            if prior is not None and any(o.start < prior.start for o in opened):
                continue  # "resumed on Monday, three weeks after the gate reopened to pedestrians only"
            restricted = True
        if closed_again is not None:
            # "closed again for trade, pedestrians allowed": some traffic still let through.
            still_let = any(o.start > closed_again.start for o in opened)
            return PARTIAL if restricted or still_let else CLOSED
        barred = any(low[h.start : h.end] in _BARRED for h in weak)
        if opened and (closed or restricted or barred):
            return PARTIAL  # "let families cross on foot while goods trucks were turned back"
        if opened:
            return OPEN
        if (closed or weak) and restricted:
            return PARTIAL
        running = False
        if sent.has("clo.stays_open"):
            running = any(not _not_able(sent, h) for h in _in_span(sent.groups("clo.stays_open"), span))
        if closed:
            # "cargo suspended, while pedestrians could still cross": some traffic still moves.
            return PARTIAL if running else CLOSED
        if weak:
            return RUNNING if running and not restricted else WEAK
        if restricted:
            return RESTRICTED
        return RUNNING if running else None

    @staticmethod
    def _near(sent: Sentence, h: Hit) -> bool:
        """ "close to" meaning near: the closing word "close" followed by "to" and no traffic."""
        low = sent.low
        if low[h.start : h.end] != "close" or not low.startswith(" to ", h.end):
            return False
        return sent.word_after(h.end + 4) not in _CLOSED_TO

    @staticmethod
    def _cause_of_reopening(sent: Sentence, h: Hit) -> bool:
        """In a sentence that reports a reopening, a closing word that tells the closure it ended:
        "resumed, ending a closure that began ...", "restored after a sit-in that had kept the road
        closed", "reopened nine days after fire between the guards shut it" (the 'after' clause
        may have a long subject; no "but" in between)."""
        at = tok(sent, h)
        before = sent.words[max(0, at - 4) : at]
        return (
            sent.low.startswith(" ke baad", h.end)  # Roman Urdu "bandish ke baad": after the closure
            or _ended(sent.words, at)
            or _lasted(sent.words, at)
            or "had" in before
            or before_hit(sent, h, "clo.prior", 6, clause=False) is not None
            or before_hit(sent, h, "clo.prior", _PRIOR_CLAUSE_WORDS) is not None
        )

    # -- route mentions -------------------------------------------------------------------------
    def _generic(self, sent: Sentence) -> list[str]:
        kinds: list[str] = []
        hits = sent.groups("clo.routes")
        for h in hits:
            if inside(h, hits):
                continue
            word = sent.low[h.start : h.end]
            if word in ("border", "borders") and sent.word_after(h.end) in _NOT_A_ROUTE_AFTER:
                continue
            kinds.append(self._kinds.get(word, "crossing"))
        return kinds

    def _named(self, sent: Sentence, mentions: list[Mention]) -> list[tuple[str, str, Region]]:
        out: list[tuple[str, str, Region]] = []
        route_spans: list[Hit] = []
        countries: list[Mention] = []
        for m in mentions:
            if m.is_route:
                route_spans.append(m.hit)
                out.append((m.entry.name, m.entry.kind, region_of(m.entry)))
            if m.is_country:
                countries.append(m)
        if mentions and self._stands_for and sent.has_any(_STATE_GROUPS):
            # "Rafah to stay closed", "Egypt keeps Rafah shut": a place whose bare name stands for
            # its route, next to the words that tell the route's state
            for m in mentions:
                route = self._stands_for.get(m.hit.ref)
                if route is not None and not _the_town(sent, m.hit) and _state_word_near(sent, m.hit):
                    route_spans.append(m.hit)
                    out.append((route.name, route.kind, region_of(route)))
        if not sent.has(ROUTE_WORDS_GROUP):
            return out
        low = sent.low
        port = "port" in low  # in "airport", "airports", "port" and "ports"
        for found in _AIRPORT.finditer(sent.text) if port and "airport" in low else ():
            words = found.group(1).strip()
            if words.split()[0] in ("The", "A", "Flights", "Its"):
                words = " ".join(words.split()[1:])
            words = words.removesuffix("'s")  # "Port Sudan's airport"
            if words:
                region = self._region_in(found.start(), found.end(), mentions)
                out.append((f"{words} airport", "airport", region))
        for found in _AIRPORTS.finditer(sent.text) if port and "airports" in low else ():
            group = 1 if found.group(1) is not None else 2
            listed = found.group(group)
            for city in _AIRPORT_LIST_SPLIT.split(listed):
                if city in ("The", "A", "Flights", "Its", "Both", "All"):
                    continue
                at = found.start(group) + listed.find(city)
                out.append((f"{city} airport", "airport", self._region_in(at, at + len(city), mentions)))
        # "trucks parked at Karachi port because all the land crossings remain closed": the port is
        # where the traffic waits, not what is shut.
        ports = port and " port" in low and not sent.has("clo.all_crossings")  # not "reported", "support"
        for found in _PORT.finditer(sent.text) if ports else ():
            city = found.group(1)
            if city in ("The", "A", "Its", "Sea", "Dry") or any(
                c.hit.start <= found.start() < c.hit.end for c in countries
            ):
                continue  # "any Indian port" is a country's ports, told by "ports" below
            region = self._region_in(found.start(), found.end(), mentions)
            out.append((f"{city} port", "port", region))
        roads = "corridor" in low or ("-" in low and _HAS_ROAD.search(low) is not None)
        for regex, fmt in _ROAD_NAMES if roads else ():
            for found in regex.finditer(sent.text):
                if any(r.start <= found.start() < r.end for r in route_spans):
                    continue
                if _waiting_along(sent, found.start()):
                    continue  # "lorries parked along the Khyber highway": where traffic waits
                region = self._region_in(found.start(), found.end(), mentions)
                out.append((fmt.format(*found.groups()), "road", region))
        toks = sent.words if "airspace" in low or (port and "ports" in low) else []
        for k, t in enumerate(toks):
            if t not in ("airspace", "ports") or k == 0:
                continue
            owner: Mention | None = None
            prev = toks[k - 1]
            prev_start = sent.token_start(k - 1)
            if prev == "its":
                owner = countries[0] if countries and countries[0].hit.start < prev_start else None
            else:
                prev_end = prev_start + len(prev)
                owner = next((c for c in countries if c.hit.end == prev_end), None)
                if owner is None and t == "airspace":
                    owner = self._subject_country(countries, prev_start, low)
            if owner is not None:
                adj = owner.entry.adjectives[0] if owner.entry.adjectives else owner.entry.name
                out.append((f"{adj} {t}", t, region_of(owner.entry)))
        for pair in _PAIR.finditer(low) if " with " in low else ():
            first = countries[0] if countries and countries[0].hit.start < pair.start() else None
            second = next((c for c in countries if c.hit.start >= pair.end()), None)
            if first is None or second is None or first.entry.name == second.entry.name:
                continue
            if {first.entry.country, second.entry.country} == {"AF", "PK"}:
                continue
            name = f"{first.entry.name}-{second.entry.name} crossings"
            out.append((name, "crossing", region_of(first.entry)))
        return out

    def _clause_states(self, sent: Sentence, ms: list[Mention], state: str) -> dict[str, str]:
        """State per named route when the sentence has contrasting clauses with their own states."""
        # Headlines join contrasting clauses with a bare comma: "A still shut, B open for refugees".
        split = _HEADLINE_SPLIT if sent.field == "title" else _CLAUSE_SPLIT
        cuts = [m.start() for m in split.finditer(sent.low)]
        if not cuts:
            return {}
        bounds = [0, *cuts, len(sent.low)]
        out: dict[str, str] = {}
        previous: list[str] = []  # the routes named in the last clause that had a state
        waiting: list[str] = []  # routes of clauses without a state: "Torkham, Ghulam Khan to close"
        for a, b in itertools.pairwise(bounds):
            clause = self._state(sent, (a, b))
            names = [m.entry.name for m in ms if m.is_route and a <= m.hit.start < b]
            if clause is None:
                waiting.extend(names)
                continue
            names, waiting = waiting + names, []
            if not names and previous and self._same_route_clause(sent, (a, b)):
                # "opened Chaman to deportees, while trade remained suspended": the same gate.
                for name in previous:
                    before = out.get(name)
                    if before is not None and _opposed(before, clause):
                        out[name] = PARTIAL  # open one way, shut the other
                continue
            for name in names:
                before = out.get(name)
                if before is None:
                    out[name] = clause
                elif before != PARTIAL and _opposed(before, clause):
                    # "let returnees through at Chaman, but the Friendship Gate stayed closed to trade"
                    out[name] = PARTIAL
            previous = names
        if sent.field == "title" and out:
            # A headline's last clause that names a route but tells nothing of it ("Rafah stays shut
            # as aid trucks roll in via Kerem Shalom"): the headline gives that route no state.
            for name in waiting:
                out.setdefault(name, NO_STATE)
        return out

    @staticmethod
    def _same_route_clause(sent: Sentence, span: tuple[int, int]) -> bool:
        """A clause that names no route, only traffic through one ('trade', 'cargo'): it goes on
        about the route of the clause before (not 'the other crossings')."""
        low = sent.low
        words = (
            low[h.start : h.end]
            for h in _in_span(sent.groups("clo.routes"), span)
            if not low.endswith("cross-", 0, h.start)  # "cross-border movement"
            and not _waiting_along(sent, h.start)
        )
        return all(word in _TRAFFIC_WORDS for word in words)

    @staticmethod
    def _subject_country(countries: list[Mention], before: int, low: str) -> Mention | None:
        """The country a sentence opens with ("Pakistan extends airspace closure ...", after a
        ticker's label: "FLASH: Pakistan closes airspace"), when no other country is named before
        ``before``: the airspace it speaks of is its own."""
        if not countries:
            return None
        opening = low[: countries[0].hit.start]
        if opening and not (opening.rstrip().endswith(":") and len(opening.split()) <= 2):
            return None
        if any(c.hit.start < before for c in countries[1:]):
            return None
        return countries[0]

    @staticmethod
    def _region_in(start: int, end: int, mentions: list[Mention]) -> Region:
        for m in mentions:
            if m.hit.start >= start and m.hit.end <= end:
                return region_of(m.entry)
        return _OTHER

    # -- document ---------------------------------------------------------------------------------
    def analyse(self, doc: Doc, mentions: dict[int, list[Mention]]) -> ClosureResult:
        """Routes with their states, and whether the item reports a closure.

        ``mentions`` maps sentence indexes to their place mentions (sentences without any may
        be left out). Only sentences with a state cue give routes a state, so an item without
        any such cue reports no route and no closure.
        """
        if not any(doc.has(g) for g in _STATE_GROUPS):
            return ClosureResult([], None, False)
        routes: dict[str, Route] = {}
        last: list[Route] = []
        pending: list[tuple[str, bool]] = []
        evidence: Sentence | None = None
        generic_closure = False
        afpak_state: str | None = None
        dominant: str | None = None
        named_afpak = any(
            m.is_route and m.entry.country in ("AF", "PK") for ms in mentions.values() for m in ms
        )
        states: list[str | None] = []
        for n, sent in enumerate(doc.sentences):
            ms = mentions.get(n, [])
            named = self._named(sent, ms)
            state = self._state(sent)
            states.append(state)
            if state is None:
                for name, kind, region in named:
                    last.append(routes.setdefault(name, Route(name, kind, region)))
                continue
            generic = self._generic(sent)
            if state in (CLOSED, PARTIAL) and (named or generic) and dominant != PARTIAL:
                dominant = state
            in_title = sent.field == "title"
            if named:
                clause_state = self._clause_states(sent, ms, state) if len(named) > 1 else {}
                for name, kind, region in named:
                    route = routes.setdefault(name, Route(name, kind, region))
                    told = clause_state.get(name, state)
                    if told != NO_STATE:
                        route.states.append((told, in_title))
                    last.append(route)
                    if pending:
                        route.states.extend(pending)
                        pending = []
            elif generic or state in (PARTIAL, RUNNING) or (state == RESTRICTED and _names_traffic(sent)):
                want = generic[0] if generic else "crossing"
                target = next((r for r in reversed(last) if r.kind == want), None) or (
                    last[-1] if last else None
                )
                if (
                    state == CLOSED
                    and target is not None
                    and target.states
                    and all(s == OPEN for s, _ in target.states)
                ):  # a closing sentence after the route was told reopened
                    if _had_closed(sent):
                        continue  # "The crossing had been sealed on 21 February": the closure it ended
                    if self._same_route_clause(sent, (0, len(sent.low))):
                        state = PARTIAL  # "reopened to passengers ... Cargo traffic remains suspended"
                if state in (CLOSED, PARTIAL) and generic:
                    generic_closure = True
                    evidence = evidence or sent
                afpak = sent.has("clo.all_crossings") or self._afpak_context(ms)
                if (
                    afpak
                    and not named_afpak
                    and "crossing" in generic
                    and (self._afpak_context_doc(mentions) or self._with_the_neighbour(sent, mentions))
                ):
                    afpak_state = afpak_state or state
                    continue
                if target is not None:
                    target.states.append((state, in_title))
                else:
                    pending.append((state, in_title))
            if evidence is None and state in (CLOSED, PARTIAL) and named:
                evidence = sent
        if afpak_state is not None:
            for name in _DEFAULT_AFPAK:
                entry = self._places.get(name)
                region = region_of(entry) if entry else _AF_PAK
                routes.setdefault(name, Route(name, "crossing", region)).states.append((afpak_state, False))
        out: list[tuple[str, CrossingState, Region]] = []
        for route in routes.values():
            final = _combine(route.states, dominant)
            if final is not None:
                out.append((route.name, final, route.region))
        positive = generic_closure or any(s != _STATE_REOPENED for _, s, _ in out)
        if positive and evidence is None:
            evidence = next(
                (s for s, st in zip(doc.sentences, states, strict=True) if st in (CLOSED, PARTIAL, WEAK)),
                None,
            )
        return ClosureResult(out, evidence if positive else None, positive)

    def _afpak_context(self, ms: list[Mention]) -> bool:
        """A country of the frontier, or the border between them ("Pak-Afghan border crossings")."""
        return any(
            (m.is_country and m.entry.country in ("AF", "PK")) or m.hit.ref in self._frontier for m in ms
        )

    @staticmethod
    def _with_the_neighbour(sent: Sentence, mentions: dict[int, list[Mention]]) -> bool:
        """ "all border crossings with Afghanistan", "Afghan border crossings" in an item that names
        no third country."""
        low = sent.low
        if not any(neighbour in low for neighbour in _THE_NEIGHBOUR):
            return False
        seen = {m.entry.country for ms in mentions.values() for m in ms if m.is_country}
        # A third country beside both ("move orders to Iranian ports as the crossings with Pakistan
        # stay shut", told of Afghanistan) leaves them the two sides; beside one, it is the other side.
        return seen <= _AFPAK or seen >= _AFPAK

    def _afpak_context_doc(self, mentions: dict[int, list[Mention]]) -> bool:
        seen = {m.entry.country for ms in mentions.values() for m in ms if not m.entry.venue}
        frontier = any(m.hit.ref in self._frontier for ms in mentions.values() for m in ms)
        return frontier or seen >= _AFPAK


def _ended(toks: list[str], at: int) -> bool:
    """ "ending a closure", "ending a 25-day closure", "lifted the three-week halt": an ending verb
    shortly before, in the same clause (not "talks aimed at ending the closure")."""
    for k in range(at - 1, max(-1, at - 7), -1):
        if toks[k] in _ENDING:
            return k == 0 or toks[k - 1] not in _AIM
        if toks[k] in (",", ";", ":", "but", "and", "while"):
            return False
    return False


def _no_closing_word(sent: Sentence, h: Hit, word: str) -> bool:
    """For a word of _CHECKED_CLOSING: "stopped" says a route is shut only beside the traffic it
    stopped ("cargo still stopped", "stopped all trade"), not "police stopped a man"; "cancelled"
    beside services ("flights cancelled"); "waiting" is no queue in "waiting times"; "block" is
    no closing verb in "the administrative block"."""
    if word in ("block", "blocks"):
        return _building_block(sent, h)
    toks, i = sent.words, tok(sent, h)
    if word == "stopped":
        return _TRAFFIC_WORDS.isdisjoint(toks[max(0, i - 3) : i + 4])
    if word == "cancelled":  # "cancelled flights", not "cancelled leave for police staff"
        return _SERVICES.isdisjoint(toks[max(0, i - 4) : i + 5])
    if word in ("cuts", "cutting"):  # "cuts the main road", not "cuts prices", "cutting waiting times"
        return _ROUTE_NOUNS.isdisjoint(toks[i + 1 : i + 5])
    if word == "waiting":
        return i + 1 < len(toks) and toks[i + 1] in _NOT_A_QUEUE
    return False


def _lasted(toks: list[str], at: int) -> bool:
    """ "the 25-day shutdown had wiped out ...", "after a three-week closure": a closure told by
    its length, or in the past perfect after the noun, is the one a reopening ended."""
    if toks[at] not in _CLOSURE_NOUNS:
        return False
    if "had" in toks[at + 1 : at + 3]:
        return True
    return at >= 2 and toks[at - 1] in _SPANS and (toks[at - 2] == "-" or toks[at - 2].isdigit())


def _the_town(sent: Sentence, place: Hit) -> bool:
    """A place named as the town, not its route: "shops in Spin Boldak have reopened", "Rafah's
    markets reopened"."""
    low = sent.low
    if low.startswith("'s ", place.end):
        return True
    at = tok(sent, place)
    return at > 0 and sent.words[at - 1] in _IN_THE_TOWN


def _state_word_near(sent: Sentence, place: Hit) -> bool:
    at, end = tok(sent, place), tok_end(sent, place)
    return any(
        -_STATE_REACH <= tok(sent, h) - end <= _STATE_REACH or 0 < at - tok_end(sent, h) <= _STATE_REACH
        for group in _STATE_GROUPS
        for h in sent.groups(group)
    )


def _not_able(sent: Sentence, h: Hit) -> bool:
    """ "were not able to cross": no traffic that still moves."""
    if not sent.low.startswith("able", h.start):
        return False
    i = tok(sent, h)
    return i > 0 and sent.words[i - 1] in _NOT


def _negated(toks: list[str], i: int) -> bool:
    """ "not" or "never" within three words before token ``i``, and no "would", "may", "if" ..."""
    negated = False
    for k in range(max(0, i - 3), i):
        if toks[k] in _MAYBE:
            return False
        negated = negated or toks[k] in _NOT
    return negated


def _fighting_resumed(sent: Sentence, h: Hit) -> bool:
    """ "as border fighting resumes", "shelling resumed": fighting, not traffic, resumed."""
    if not sent.low.startswith("resume", h.start):
        return False
    return any(before_hit(sent, h, group, 1) is not None for group in ("truce.hostile_acts", "cas.violence"))


def _resumed_other(low: str, h: Hit, after: str) -> bool:
    """ "resumed building a post", "resumed construction": work, not traffic, resumed."""
    if not ((after.endswith("ing") and after not in _MOVING) or after in _WORK):
        return False
    return low.startswith("resume", h.start) and h.end - h.start == 7


def _owned(sent: Sentence, h: Hit) -> bool:
    """The word after "the", a possessive or "'s" ("the only", "the district's only")."""
    i = tok(sent, h)
    if i == 0:
        return False
    prev = sent.words[i - 1]
    return prev in _OWNERS or prev.endswith("'s")


def _building_block(sent: Sentence, h: Hit) -> bool:
    """ "inside the administrative block", "a block of flats": the noun, not the closing verb."""
    toks, i, j = sent.words, tok(sent, h), tok_end(sent, h)
    after = toks[j] if j < len(toks) else "."
    noun_follows = not after.isalnum() or after in _AFTER_A_NOUN
    return noun_follows and any(t in ("the", "a", "an") for t in toks[max(0, i - 2) : i])


def _waiting_along(sent: Sentence, at: int) -> bool:
    """The road named at ``at`` (its name or its route word) is where traffic waits: "containers
    waiting at the terminal and along the Khyber highway" (a waiting word, then "along")."""
    low = sent.low
    along = low.rfind(" along ", 0, at)
    if along < 0 or at - along > _ALONG_REACH or any(c in low[along:at] for c in ",;."):
        return False
    return any(h.start < along for h in sent.groups("clo.closed_weak"))


def _scheduled(toks: list[str], at: int) -> bool:
    """The closing word at ``at`` tells a closure set for a day to come: 'will be closed from June 6',
    'to close for Eid from Monday', 'would block the gate to all cargo from Monday' (not 'will
    remain closed', nor 'was closed from Monday')."""
    before = toks[max(0, at - 3) : at]
    if _FUTURE_MARKS.isdisjoint(before) or not _ONGOING.isdisjoint(before):
        return False
    after = toks[at + 1 : at + 9]
    for k in range(len(after) - 1):
        if after[k] in _STARTING and (after[k + 1] in _DAYS_TO_COME or after[k + 1].isdigit()):
            return True
    return False


def _opposed(first: str, second: str) -> bool:
    """Two states of one route, one letting traffic through and the other not."""
    return (first in _OPENISH) != (second in _OPENISH)


def _says_again(low: str) -> bool:
    return "again" in low or "anew" in low or "once more" in low


def _again(sent: Sentence, h: Hit) -> bool:
    """A closing word followed by "again", "once more" or "anew": a route closed after it reopened."""
    low, end = sent.low, h.end
    return low.startswith(" again", end) or low.startswith(" once more", end) or low.startswith(" anew", end)


def _in_span(hits: list[Hit], span: tuple[int, int] | None) -> list[Hit]:
    """The hits starting within ``span`` (sentence offsets), or all of them when it is None."""
    return hits if span is None else [h for h in hits if span[0] <= h.start < span[1]]


def _names_traffic(sent: Sentence) -> bool:
    """Whether the sentence names traffic ("only empty trucks can cross"), not just any restriction
    ("it had hit terrorist infrastructure only")."""
    return not _TRAFFIC_NOUNS.isdisjoint(sent.words)


def _had_closed(sent: Sentence) -> bool:
    """Every closing word of the sentence tells the closure a reopening ended: in the past perfect
    ("had been sealed"), in a clause of its time ("while the border was shut"), or the noun ("the
    closure was killing us")."""
    hits = sent.groups("clo.closed")
    words = sent.words
    low = sent.low
    for h in hits:
        before = words[max(0, tok(sent, h) - 4) : tok(sent, h)]
        if "had" in before[-3:] or _TIME_OF_CLOSURE.intersection(before):
            continue
        if low[h.start : h.end] in _CLOSURE_NOUNS:
            continue
        return False
    return bool(hits)


def _combine(states: list[tuple[str, bool]], dominant: str | None) -> CrossingState | None:
    kinds = [s for s, _ in states]
    if RUNNING in kinds:
        # Open as usual: queues and delays say nothing; shut in one sentence while traffic still
        # moves in another is a partial opening; any other state says more than it does.
        if all(k in (RUNNING, WEAK, RESTRICTED) for k in kinds):
            return None  # a new rule while the route runs as usual is no closure
        if CLOSED in kinds and OPEN not in kinds:
            return _STATE_PARTIAL
        states = [st for st in states if st[0] != RUNNING]
        kinds = [s for s, _ in states]
    if not kinds:
        return None
    if PARTIAL in kinds or (RESTRICTED in kinds and (CLOSED in kinds or WEAK in kinds)):
        return _STATE_PARTIAL
    if CLOSED in kinds and OPEN in kinds:
        titled = [s for s, t in states if t and s in (CLOSED, OPEN)]
        pick = titled[0] if titled else [s for s in kinds if s in (CLOSED, OPEN)][-1]
        return _STATE_CLOSED if pick == CLOSED else _STATE_REOPENED
    if CLOSED in kinds:
        return _STATE_CLOSED
    if OPEN in kinds:
        return _STATE_REOPENED
    if WEAK in kinds:
        return _STATE_PARTIAL if dominant == PARTIAL else _STATE_CLOSED
    if RESTRICTED in kinds:
        return _STATE_PARTIAL
    return None
