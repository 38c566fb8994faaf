"""The casualties label and casualty figures (killed, injured, civilians killed).

A casualty word counts when it is not negated, hypothetical, metaphorical, about a natural
disaster or accident, or background (anniversaries, earlier tolls). Figures follow the house
rules: a stated total wins ("death toll ... 30", "among eight killed"), then the headline figure,
then the first figure in the body; vague amounts ("dozens") give no figure.
"""

from __future__ import annotations

from datetime import date
from typing import Final, Literal

from services.classifier.document import (
    MONTH_WORDS,
    NOW_WORDS,
    WEEKDAYS,
    Doc,
    denied,
    hit_after,
    hit_before,
    inside,
    old_date,
    old_year,
    tok,
    tok_end,
)
from services.classifier.matcher import Hit
from services.classifier.numbers import NumberReader, Quantity
from services.classifier.sentences import Sentence
from services.classifier.taxonomy import Taxonomy

Kind = Literal["killed", "injured", "civilians_killed"]
_BE: Final = frozenset({"was", "were", "been", "being", "is", "are", "be", "also"})
# Verbs that give a toll its figure, and how far after "toll" they are looked for.
_TOLL_LEVEL_VERBS: Final = frozenset(
    {
        "rose",
        "risen",
        "rises",
        "climbed",
        "climbs",
        "jumped",
        "mounted",
        "reached",
        "reaches",
        "stood",
        "stands",
    }
)
_TOLL_VERB_REACH: Final = 24
_SAVING: Final = frozenset({"saved", "save", "saves", "saving", "spared", "protected", "protect"})
_VICTIM_REACH: Final = 6  # "killing six people, including four soldiers": soldiers among the victims
_BOUNDARY: Final = frozenset(
    {";", ":", ".", "said", "says", "say", "told", "that", "when", "according", "while", "whereas"}
)
_OBJECT_VERBS: Final = frozenset({
    "kill", "kills", "killing", "killed", "wounded", "wounding", "wounds", "injured", "injuring", "injures",
    "injure", "maims", "maiming", "maimed", "hurt", "slain", "shot dead", "shoot dead", "shoots dead",
    "shooting dead", "gunned down", "bodies of", "claimed the lives of", "claiming the lives of",
    "claims the lives of",
})  # fmt: skip
_AFTER_PREDICATE: Final = frozenset(
    [
        "and",
        "or",
        "as",
        "in",
        "at",
        "on",
        "after",
        "since",
        "when",
        "while",
        "with",
        "from",
        "among",
        "during",
        "by",
        "near",
        "including",
        "following",
        "across",
        "inside",
        "outside",
        "so",
        "but",
        "amid",
    ]
)
_RELATIVES: Final = frozenset({"which", "that", "who", "whom"})
_WEEKDAYS: Final = WEEKDAYS
_POSSESSIVE_DAYS: Final = {f"{day}'s": n for n, day in enumerate(_WEEKDAYS)}
_DETERMINERS: Final = frozenset(
    {"the", "our", "their", "its", "his", "her", "my", "your", "off", "any", "all", "whatever", "what"}
)
LEVEL_TOLL: Final = 3
LEVEL_AMONG: Final = 2
LEVEL_EXPLICIT: Final = 1
LEVEL_IMPLICIT: Final = 0
# Bodies handed back in an exchange are no toll of an attack ("returned the bodies of 30").
_EXCHANGED: Final = frozenset(
    {"returned", "returns", "return", "returning", "handed", "hands", "handing", "repatriated", "exchanged",
     "swapped", "released", "releases"}
)  # fmt: skip
_CLAIMING: Final = frozenset({"put", "puts", "putting", "claimed", "claims"})
_PLAIN_TOLL: Final = frozenset({"the", "overall", "final", "total", "official", "new", "revised", "its"})
_NOW: Final = NOW_WORDS  # words dating an act to the days of the item
# A headline telling of fighting or of a breach: the toll of that fighting is news.
_TITLE_NEWS_OF_WAR: Final = ("truce.hostile_acts", "truce.breach", "truce.breach_after_term")
_COUNTED: Final = frozenset({"cas.killed", "cas.injured", "cas.toll"})
# A sentence without any of these adds nothing to the result, whatever else it says.
_COUNTED_LIST: Final = ("cas.killed", "cas.injured", "cas.toll")  # for Sentence.has_any
_CASUALTY_GROUPS: Final = (*_COUNTED_LIST, "cas.zero_killed", "cas.zero_injured")


# Plain classes rather than dataclasses: compiled, their __init__ is native code too.
class Candidate:
    __slots__ = ("kind", "level", "order", "sentence", "value")

    def __init__(self, kind: Kind, value: int | None, level: int, sentence: Sentence, order: int) -> None:
        self.kind = kind
        self.value = value
        self.level = level
        self.sentence = sentence
        self.order = order


class CasualtyResult:
    __slots__ = ("civilians_killed", "evidence", "figure_evidence", "injured", "killed", "positive")

    def __init__(self) -> None:
        self.positive = False
        self.evidence: Sentence | None = None
        self.killed: int | None = None
        self.injured: int | None = None
        self.civilians_killed: int | None = None
        self.figure_evidence: dict[str, Sentence] = {}


_ACTIVE_KILLING: Final = frozenset({"kill", "kills", "killing"})
_EXECUTE: Final = frozenset({"executed", "execute", "executes", "executing"})
_QUOTES: Final = frozenset({"'", '"', "\u2018", "\u2019", "\u201c", "\u201d"})
_ONE_MORE: Final = frozenset({"a", "an", "one", "his", "her"})  # before one more person in a list
_REPORTED: Final = frozenset({"said", "says", "told", "added"})
_AUXILIARIES: Final = frozenset({"was", "were", "is", "are", "had", "has", "have", "who", "whose"})
_NOMINAL: Final = frozenset({"killing", "killings", "wounding", "maiming"})  # "the killing of 300"
_BEFORE_OBJECT: Final = frozenset({"their", "his", "her", "a", "an", "one"})  # "injuring their mother"
_BREAKDOWN: Final = frozenset({"including", "among", "of"})  # ", including ...", ", among them", ", of whom"
# What follows a persons apposition: "Three civilians, a woman and her two daughters, perished".
_CASUALTY_VERBS: Final = frozenset(
    {"died", "perished", "killed", "martyred", "wounded", "injured", "had", "have"}
)
# "four people — three soldiers and a civilian — were killed" (dashes are read as "-").
_APPOSITION_OPENERS: Final = frozenset({"-", "("})
# "succumbed to his wounds", "died of their injuries": the wound is how they died, no injured figure.
_DEATH_FROM_WOUNDS: Final = frozenset({"succumbed", "succumbing", "succumbs", "died", "dying", "dies"})


def _is_date(toks: list[str], q: Quantity) -> bool:
    """'on 11 October', 'October 11': a day of the month, not a count."""
    return (q.end < len(toks) and toks[q.end] in MONTH_WORDS) or (
        q.start > 0 and toks[q.start - 1] in MONTH_WORDS
    )


def _non_violent_cause(sent: Sentence, hit: Hit) -> bool:
    """'died of malnutrition', 'were killed when a bus ... collided with a truck', 'hunger deaths':
    a cause that is no violence right before the word, or closely after it with no act of
    violence in between."""
    if hit_before(sent, tok(sent, hit), "cas.non_violent", 2) is not None:
        return True  # "hunger deaths", "flood victims died"
    end = tok_end(sent, hit)
    cause = hit_after(sent, end, "cas.non_violent", 12)
    if cause is None:
        return False
    k = tok(sent, cause)
    return not any(end <= tok(sent, v) < k for v in sent.groups("cas.violence"))


def _no_figure_of_its_own(sent: Sentence, hit: Hit) -> bool:
    """'two of the wounded died', 'died in hospital': the word names people counted elsewhere."""
    i = tok(sent, hit)
    if i == 0:
        return False
    toks = sent.words
    before = toks[i - 1]
    if before.endswith("ly") and i > 1 and toks[i - 2] == "the":
        before = "the"  # "more of the critically wounded died"
    word = sent.low[hit.start : hit.end]
    if before == "the" and (hit.group == "cas.injured" or word == "dead") and not _the_number_of(toks, i):
        return True  # "two of the wounded died", "the dead were buried"
    return hit.group == "cas.injured" and word_is_killing(before)


def _reported_speech(sent: Sentence) -> bool:
    """'The observatory said two dozen people had been killed': the past perfect of reported
    speech (a reporting verb before it, no 'after'/'following' opening an earlier event), not an
    earlier toll retold."""
    for h in sent.groups("cas.past_perfect"):
        i = tok(sent, h)
        if hit_before(sent, i, "shared.reporting_verbs", 12, clause=False) is None:
            return False
        if hit_before(sent, i, "cas.prior_event", 8) is not None:
            return False
    return True


class CasualtyAnalyser:
    def __init__(self, taxonomy: Taxonomy, reader: NumberReader) -> None:
        self._reader = reader
        cues = taxonomy.cues.casualties
        self._persons = frozenset(p.lower() for p in cues.person_nouns)
        self._armed = frozenset(p.lower() for p in cues.armed_people)
        self._counted_nouns = frozenset(p.lower() for p in cues.counted_nouns)
        self._civilians = frozenset(p.lower() for p in cues.civilians)
        self._metaphor_objects = frozenset(p.lower() for p in cues.metaphor_objects)
        self._metaphor_subjects = frozenset(p.lower() for p in cues.metaphor_subjects)
        self._totals = [tuple(p.lower().split()) for p in cues.totals]
        self._play = frozenset(p.lower() for p in cues.sport_play)
        self._war_words = frozenset(p.lower() for p in cues.war_spans)
        self._retrospective = tuple(p.lower() for p in cues.retrospective)
        self._total_firsts = frozenset(p[0] for p in self._totals if p)

    # -- filters -----------------------------------------------------------------------------
    def _sentence_usable(self, doc: Doc, sent: Sentence, title_has_casualty: bool) -> bool:
        if sent.has("cas.background") or old_year(sent, doc.year) or old_date(sent, doc.published):
            return False
        if sent.has("cas.non_violent") and not _violent(sent, self._armed):
            return False
        return not (
            doc.has("cas.non_violent")
            and not _violent(sent, self._armed, cause_in_item=True)
            and not _doc_violent_title(doc, self._armed)
        )

    def _looks_back(self, title: Sentence) -> bool:
        return title.has("cas.background") or any(p in title.low for p in self._retrospective)

    def _war_toll(self, sent: Sentence, hit: Hit) -> bool:
        """A toll told of a whole war or stretch of fighting ("killed in the conflict", "a week of
        clashes left hundreds dead", "the clashes, which erupted on July 7 over a disputed plot of
        land, killed at least 11"): a war word within sixteen tokens either side of the casualty word."""
        i = tok(sent, hit)
        return not self._war_words.isdisjoint(sent.words[max(0, i - 16) : i + 17])

    def _match_report(self, doc: Doc) -> bool:
        """Two different match-report words or more in the item, and no violence word in it that
        does not also tell play (the cricketers killed in an air strike are no match report)."""
        seen: set[str] = set()
        for sent in doc.sentences:
            for h in sent.groups("cas.sport"):
                seen.add(sent.low[h.start : h.end])
        return len(seen) > 1 and not any(self._violence_beyond_play(sent) for sent in doc.sentences)

    def _violence_beyond_play(self, sent: Sentence) -> bool:
        """A violence word that does not also tell play ('bomb', 'gunmen'; not 'attack', 'shot')."""
        low = sent.low
        return any(low[h.start : h.end] not in self._play for h in sent.groups("cas.violence"))

    def _hit_usable(self, sent: Sentence, hit: Hit, title_has_casualty: bool) -> bool:
        if (
            sent.field == "body"
            and sent.has("cas.past_perfect")
            and not title_has_casualty
            and not _reported_speech(sent)
            and _after_past_perfect(sent, hit)
        ):
            return False  # "two soldiers had been killed by Hamas": an earlier event
        i = tok(sent, hit)
        toks = sent.words
        word = sent.low[hit.start : hit.end]
        if word == "dead" and i + 1 < len(toks) and not _the_number_of(toks, i):
            nxt = toks[i + 1]
            if nxt.isalpha() and nxt not in _AFTER_PREDICATE:
                return False  # attributive: "the bodies of dead hostages"
        if hit_before(sent, i, "shared.negations", 6) is not None or denied(sent, i):
            return False
        if hit.group == "cas.injured" and _DEATH_FROM_WOUNDS.intersection(toks[max(0, i - 4) : i]):
            return False  # "two more succumbed to their wounds"
        if hit.group == "cas.injured" and _died_after(toks, i):
            return False  # "after two wounded officers died in hospital": they are dead, not hurt
        if word == "bodies of":  # "the bodies of two herders"; not "the governing bodies of"
            if _EXCHANGED.intersection(toks[max(0, i - 4) : i]):
                return False  # "Israel returned the bodies of 30 Palestinians": an exchange
            j = tok_end(sent, hit)
            return j < len(toks) and self._reader.read(toks, j) is not None
        if word in self._counted_nouns:
            # "gunmen left three bodies", "claimed 12 lives", "6 martyrs"; not "law enforcement
            # bodies", "their lives", nor a morgue's bodies
            return _violent(sent, self._armed) and self._counted_before(toks, i)
        if (word_is_killing(word) or word in _EXECUTE) and self._metaphor_object(toks, tok_end(sent, hit)):
            return False  # "killing our business", "executed our plans"
        if _in_quotes(sent.low, hit):
            return False  # "the shutdown had been 'killing' the season": a word in quotes, not a death
        if word in _ACTIVE_KILLING and self._metaphor_subjects.intersection(toks[max(0, i - 4) : i]):
            return False  # "prices are killing small traders"
        if hit_before(sent, i, "shared.hypotheticals", 5) is not None:
            return False
        if sent.has("cas.non_violent") and _non_violent_cause(sent, hit):
            return False
        if _truce_background(sent, i):
            return False
        if sent.field != "body" or title_has_casualty or _outcome_participle(toks, i):
            return True
        if hit_before(sent, i, "cas.prior_event", 10, clause=False) is not None:
            return False
        # "steps taken after the 22 April attack at Pahalgam, in which 26 people were killed": the
        # relative clause tells the earlier event's toll.
        rel = next((k for k in range(i - 1, max(-1, i - 6), -1) if toks[k] in _RELATIVES), None)
        return rel is None or hit_before(sent, rel, "cas.prior_event", 14, clause=False) is None

    def _metaphor_object(self, toks: list[str], j: int) -> bool:
        """'killing (our / the) business', 'kill Lebanon's tourist season': the object is not a
        person (determiners, possessives and one modifier may come first)."""
        modifiers = 0
        for k in range(j, min(len(toks), j + 4)):
            word = toks[k]
            if word in self._metaphor_objects:
                return True
            if word in _DETERMINERS or word.endswith("'s") or word in _QUOTES:
                continue  # "closure 'killing' Peshawar's trade": a quote mark closes the verb
            if modifiers or not word.isalpha() or word in self._persons:
                return False
            modifiers += 1  # "tourist" in "tourist season"
        return False

    def _has_breakdown(self, toks: list[str], q: Quantity) -> bool:
        """'10 civilians, including nine children', '12 people, among them', '..., of whom', 'four
        people — three soldiers and a civilian —': the figure is its group's total (like 'among
        eight killed'), whatever figures follow."""
        j = q.end + (1 if q.end < len(toks) and toks[q.end].isalpha() else 0)  # the counted noun
        if j + 1 < len(toks) and toks[j] in _APPOSITION_OPENERS:
            return self._reader.read(toks, j + 1) is not None
        if j + 1 >= len(toks) or toks[j] != ",":
            return False
        if toks[j + 1] in _BREAKDOWN:
            # "11 soldiers, including a major": one of them named, no count of a part
            return not (j + 2 < len(toks) and toks[j + 2] in ("a", "an"))
        # "Eight civilians, three of them cricketers, were killed"
        if toks[j + 2 : j + 4] in (["of", "them"], ["of", "whom"]):
            return True
        return self._persons_apposition(toks, j)

    def _persons_apposition(self, toks: list[str], comma: int) -> bool:
        """'Three civilians, a woman and her two daughters, perished': persons between two commas,
        then the verb (or its auxiliary)."""
        for c in range(comma + 2, min(len(toks) - 1, comma + 10)):
            if toks[c] in _BOUNDARY:
                return False
            if toks[c] != ",":
                continue
            nxt = toks[c + 1]
            if not (nxt in _BE or nxt in _CASUALTY_VERBS):
                return False
            return any(t in self._persons for t in toks[comma + 1 : c])
        return False

    def _is_total(self, toks: list[str], q: Quantity) -> bool:
        """'eight people lost their lives in all': a figure followed closely by a totals phrase."""
        texts = toks[q.end : q.end + 8]
        for k in range(len(texts)):
            if texts[k] in (",", ";", "."):
                return False
            if texts[k] not in self._total_firsts:
                continue
            for phrase in self._totals:
                if tuple(texts[k : k + len(phrase)]) == phrase:
                    return True
        return False

    # -- figures -----------------------------------------------------------------------------
    def _backward(self, toks: list[str], lo: int, v: int) -> Quantity | None:
        for k in range(lo, v):
            if toks[k] == "among":
                q = self._reader.read(toks, k + 1)
                if q is not None and q.value is not None:
                    return Quantity(q.value, q.start, q.end, among=True)
        reader = self._reader
        for k in range(lo, v):
            if reader.may_open(toks[k]):
                q = self._reader.read(toks, k)
                if q is not None and not _is_date(toks, q):
                    return q
        for k in range(lo, v):
            if toks[k] in self._persons:
                return self._coordinated(toks, k, v)
        return None

    def _and_one_more(self, toks: list[str], q: Quantity) -> Quantity:
        """ "killed nine children and a woman": a count of persons and one more person is one sum
        (not "... and a woman was wounded", told of another verb)."""
        j = q.end
        if q.value is None or j + 3 >= len(toks) or not toks[j].isalpha() or toks[j + 1] != "and":
            return q
        if toks[j + 2] not in ("a", "an", "one") or toks[j + 3] not in self._persons:
            return q
        if j + 4 < len(toks) and toks[j + 4] in _AUXILIARIES:
            return q
        return Quantity(q.value + 1, q.start, j + 4)

    def _coordinated(self, toks: list[str], k: int, v: int) -> Quantity:
        """'a woman and a child', 'a teacher and his son', 'the commissioner of Nawagai, a tehsildar
        and three others': singular persons joined by 'and' or a comma count one each, and 'N
        others' at the end of the list count N."""
        count, end, j = 1, k + 1, k + 1
        if j + 1 < v and toks[j] == "of" and toks[j + 1].isalpha():
            j += 2  # "the assistant commissioner of Nawagai"
        while j + 1 < v:
            link = j + 1 if toks[j] == "," and toks[j + 1] == "and" else j
            if toks[link] not in ("and", ","):
                break
            nxt = link + 1
            if nxt + 1 < v and toks[nxt] in _ONE_MORE and toks[nxt + 1] in self._persons:
                if toks[link] == "," and nxt + 2 < len(toks) and toks[nxt + 2] in _REPORTED:
                    break  # "killed a soldier, an official said"
                count, end, j = count + 1, nxt + 2, nxt + 2
                continue
            q = self._reader.read(toks, nxt) if nxt < v else None
            if q is not None and q.value is not None and q.end < v and toks[q.end] in ("others", "more"):
                return Quantity(count + q.value, k, q.end + 1)  # "a policeman and two others"
            break
        return Quantity(count, k, end, implicit=True)

    def _window_start(self, sent: Sentence, v: int, casualty_tokens: set[int]) -> int:
        toks = sent.words
        lo = max(0, v - 16)
        for k in range(v - 1, lo - 1, -1):
            if toks[k] in _BOUNDARY:
                return k + 1
            # "ten were killed, among them three ..., and 12 were wounded", "toll at 82, with 156
            # injured": after ", and" / ", with", the figure of a clause of its own.
            clause = toks[k] in ("and", "with") and k > lo and toks[k - 1] == ","
            if clause and self._reader.read(toks, k + 1) is not None:
                return k + 1
            if k in casualty_tokens:
                # "toll at least 12, more than two dozen hurt", "the bodies of 31 people and more
                # than 170 wounded": the first figure belongs to the earlier casualty word, the one
                # after the comma or "and" to this one (not the "and" of a range: "10 and 12").
                for c in range(v - 1, k, -1):
                    if toks[c] not in (",", "and"):
                        continue
                    if toks[c] == "and" and self._reader.read(toks, c - 1) is not None:
                        continue
                    after = (
                        c + 2 if toks[c] == "," and c + 2 < v and toks[c + 1] in ("and", "with") else c + 1
                    )
                    if self._reader.read(toks, after) is not None:
                        return after
                    if toks[c] == ",":
                        return k + 1
                return k + 1
        return lo

    def _figure(self, sent: Sentence, hit: Hit, casualty_tokens: set[int]) -> Quantity | None:
        toks = sent.words
        v, ve = tok(sent, hit), tok_end(sent, hit)
        word = sent.low[hit.start : hit.end]
        if hit.group == "cas.toll":
            q = self._reader.find_after(toks, ve, 10)
            if q is None:
                q = self._risen_to(toks, ve)
            if q is not None and _is_date(toks, q):  # "toll of May 6-10 attacks": dates, no count
                q = None
            return q
        if _the_number_of(toks, v):
            q = self._risen_to(toks, ve, to_at_once=True)
            if q is not None:
                return q
        passive = v > 0 and toks[v - 1] in _BE
        if passive and toks[v - 1] == "also" and (v < 2 or toks[v - 2] not in _BE):
            passive = False  # "the blast also wounded 29" (not "were also wounded")
        if not passive and word in _OBJECT_VERBS:
            # "killing all 12", "the killing of more than 300 civilians"
            skip = ve < len(toks) and (toks[ve] == "all" or (toks[ve] == "of" and word in _NOMINAL))
            q = self._reader.read(toks, ve + 1 if skip else ve)
            if q is not None:
                return self._and_one_more(toks, q)
            # "..., and injuring their mother": the verb's own object, not a figure before it.
            k = ve + 1 if ve < len(toks) and toks[ve] in _BEFORE_OBJECT else ve
            if k < len(toks) and toks[k] in self._persons:
                return self._coordinated(toks, k, len(toks))
            # "killing the assistant commissioner ...": a person named with a title
            if k < len(toks) and toks[k] == "the":
                k += 1
            for person in range(k, min(len(toks), k + 3)):
                if toks[person] in self._persons:
                    if all(t.isalpha() for t in toks[k:person]):
                        return self._coordinated(toks, person, len(toks))
                    break
            if k + 2 < len(toks) and toks[k] in ("him", "her") and toks[k + 1] == "and":
                # "wounding him and two security personnel": the one named before, and the others
                more = self._reader.read(toks, k + 2)
                if more is not None and more.value is not None:
                    return Quantity(more.value + 1, k, more.end)
                if k + 3 < len(toks) and toks[k + 2] in ("his", "her") and toks[k + 3] in self._persons:
                    # "killing him and his son": people counted one by one, as good as a figure
                    others = self._coordinated(toks, k + 3, len(toks))
                    return Quantity((others.value or 0) + 1, k, others.end)
        q = self._backward(toks, self._window_start(sent, v, casualty_tokens), v)
        if q is not None and not q.implicit:
            return q
        ahead = self._reader.find_after(toks, ve, 4)
        if ahead is not None and ahead.value is None:
            return ahead
        if q is None and not passive and word in _OBJECT_VERBS:
            for k in (ve, ve + 1):
                if k < len(toks) and toks[k] in self._persons:
                    return self._coordinated(toks, k, len(toks))
        return q

    def _counted_before(self, toks: list[str], i: int) -> bool:
        """A figure ends right before token ``i`` or a few words of description before it: "three
        bodies", "at least 12 bodies", "six bullet-riddled bodies"."""
        for k in range(max(0, i - 7), i):
            q = self._reader.read(toks, k)
            if q is None or q.value is None or q.end > i or i - q.end > 3:
                continue
            if all(t.replace("-", "").isalpha() or t == "-" for t in toks[q.end : i]):
                return q.start == 0 or toks[q.start - 1] not in _SAVING  # not "saved 12 lives"
        return False

    def _risen_to(self, toks: list[str], ve: int, *, to_at_once: bool = False) -> Quantity | None:
        """A toll whose figure comes after a long "from ..." phrase: "the death toll from the attack
        on a police post in Bannu rose to 9": the figure a rise or level verb gives it. With
        ``to_at_once``, also a "to" or "at" right after the word ("bringing the number of wounded
        to 7", "put the number of wounded at 20")."""
        if to_at_once and ve < len(toks) and toks[ve] in ("to", "at"):
            return self._reader.read(toks, ve + 1)
        for k in range(ve, min(len(toks) - 1, ve + _TOLL_VERB_REACH)):
            w = toks[k]
            if w in (".", ";", ":"):
                return None
            if w in _TOLL_LEVEL_VERBS:
                after = k + 2 if toks[k + 1] in ("to", "at") else k + 1
                return self._reader.read(toks, after) if after < len(toks) else None
        return None

    def _civilians_count(self, sent: Sentence, hit: Hit, casualty_tokens: set[int]) -> int | None:
        toks = sent.words
        v, ve = tok(sent, hit), tok_end(sent, hit)
        lo = self._window_start(sent, v, casualty_tokens)
        stop = min(len(toks), ve + 20)
        reader = self._reader
        # Tokens before the casualty word, then after it (lo <= v <= ve <= stop).
        for k in range(lo, stop):
            if v <= k < ve:
                continue
            if toks[k] == ";":
                break
            if not reader.may_open(toks[k]):
                continue
            q = reader.read(toks, k)
            if q is None or q.value is None:
                continue
            rest = toks[q.end : q.end + 3]
            if rest[:1] and rest[0] in self._civilians:
                return q.value
            if rest == ["of", "them", "civilians"]:
                return q.value
        return None

    # -- main ---------------------------------------------------------------------------------
    def analyse(self, doc: Doc) -> CasualtyResult:
        result = CasualtyResult()
        if doc.has("cas.sport") and self._match_report(doc):
            return result  # play told in violent words: "top order massacred"
        title = doc.title
        title_has = title is not None and title.has_any(_COUNTED_LIST)
        # A headline with no toll and no fighting: under a truce headline a whole war's toll is
        # background; under one that looks back ("A month on", "Bajaur remembers ...") so is any
        # toll but that of an act of violence the sentence dates to now ("Hours before the ceremony,
        # militants attacked a police post, killing one").
        quiet = title is not None and not title_has and not title.has_any(_TITLE_NEWS_OF_WAR)
        # A look-back headline may name the old attack itself ("One year after Mastung bombing").
        look_back = title is not None and not title_has and self._looks_back(title)
        truce_item = quiet and title is not None and title.has("truce.terms")
        cands: list[Candidate] = []
        # Figures of events told apart ("Separately, ..."): they count only when the item gives no
        # other figure (its one event with a toll).
        separate_cands: list[Candidate] = []
        zero_killed = zero_injured = False
        order = 0
        for sent in doc.sentences:
            if not sent.has_any(_CASUALTY_GROUPS) or not self._sentence_usable(doc, sent, title_has):
                continue
            zero_killed = zero_killed or sent.has("cas.zero_killed")
            zero_injured = zero_injured or sent.has("cas.zero_injured")
            hits = _casualty_hits(sent)
            if not hits:
                continue
            separate = sent.has("cas.separate_event") and not all(
                inside(h, sent.groups("cas.separate_reports")) for h in sent.groups("cas.separate_event")
            )  # not "the ministry said in a separate statement"
            casualty_tokens = {tok(sent, h) for h in hits}
            civilians_named = not self._civilians.isdisjoint(sent.words)  # a civilian count needs one
            for hit in hits:
                if not self._hit_usable(sent, hit, title_has):
                    continue
                if (truce_item or look_back) and self._war_toll(sent, hit) and _NOW.isdisjoint(sent.words):
                    continue
                if look_back and not (sent.has("truce.hostile_acts") and _NOW.intersection(sent.words)):
                    continue  # "families of those killed ...", "gunmen killed 147 in the assault"
                published = doc.published
                if published is not None and _earlier_day_event(sent.words, tok(sent, hit), published):
                    continue
                if not result.positive:
                    result.positive, result.evidence = True, sent
                found = separate_cands if separate else cands
                kind: Kind = "injured" if hit.group == "cas.injured" else "killed"
                q = None if _no_figure_of_its_own(sent, hit) else self._figure(sent, hit, casualty_tokens)
                order += 1
                if q is not None:
                    at = tok(sent, hit)
                    level = (
                        LEVEL_TOLL
                        if (
                            (hit.group == "cas.toll" or _the_number_of(sent.words, at))
                            and not _claimed_toll(sent.words, at)
                        )
                        or self._is_total(sent.words, q)
                        else LEVEL_AMONG
                        if q.among or self._has_breakdown(sent.words, q)
                        else LEVEL_IMPLICIT
                        if q.implicit
                        else LEVEL_EXPLICIT
                    )
                    if sent.words and sent.words[0] == "among":
                        level = (
                            LEVEL_IMPLICIT  # "Among them were 1,068 civilians": part of a toll told before
                        )
                    found.append(Candidate(kind, q.value, level, sent, order))
                if kind == "killed" and civilians_named:
                    civ = self._civilians_count(sent, hit, casualty_tokens)
                    if civ is not None:
                        found.append(Candidate("civilians_killed", civ, LEVEL_EXPLICIT, sent, order))
        if not result.positive:
            return result
        if not any(c.value is not None for c in cands):
            cands = separate_cands
        for kind in ("killed", "injured", "civilians_killed"):
            best = _choose([c for c in cands if c.kind == kind and c.value is not None])
            if best is not None:
                if kind == "killed":
                    result.killed = best.value
                elif kind == "injured":
                    result.injured = best.value
                else:
                    result.civilians_killed = best.value
                result.figure_evidence[kind] = best.sentence
        if result.killed is None and zero_killed:
            result.killed = 0
        if result.injured is None and zero_injured:
            result.injured = 0
        return result


def _the_number_of(toks: list[str], v: int) -> bool:
    """The casualty word at ``v`` counts a total: "the number of (people) killed", "the number of
    those wounded", "the number of dead" (not "a number of": several)."""
    for n in range(max(1, v - 4), v - 1):
        if toks[n] == "number" and toks[n + 1] == "of" and toks[n - 1] == "the":
            return all(w not in (",", ";", ".") for w in toks[n + 2 : v])
    return False


def _in_quotes(low: str, hit: Hit) -> bool:
    """The casualty word alone stands in quotation marks ("'killing'", "\"massacred\"")."""
    if hit.start == 0 or hit.end >= len(low):
        return False
    before, after = low[hit.start - 1], low[hit.end]
    return (before == after and before in "'\"") or (before == "\u201c" and after == "\u201d")


def _claimed_toll(toks: list[str], index: int) -> bool:
    """ "Kabul put the Pakistani toll at 58": one side's claim, no stated total (not "the
    administration put the death toll at six", the toll itself)."""
    for j in range(max(0, index - 4), index):
        if toks[j] in _CLAIMING:
            return not all(w in _PLAIN_TOLL for w in toks[j + 1 : index])
    return False


def _after_past_perfect(sent: Sentence, hit: Hit) -> bool:
    """The casualty word is told in the past perfect ("had been killed", "had left 40 dead"): it
    lies in a past-perfect phrase or within four tokens after one's start."""
    i = tok(sent, hit)
    return any(0 <= i - tok(sent, p) <= 4 for p in sent.groups("cas.past_perfect"))


def _earlier_day_event(toks: list[str], index: int, published: date) -> bool:
    """ "the attackers were involved in Tuesday's ambush that killed 11": a relative clause about an
    event named by an earlier weekday than the item's ("Tuesday's" in a Friday report)."""
    if index < 3 or toks[index - 1] not in _RELATIVES:
        return False
    for k in range(max(0, index - 5), index - 1):
        day = _POSSESSIVE_DAYS.get(toks[k])
        if day is not None:
            return day != published.weekday()
    return False


def word_is_killing(word: str) -> bool:
    return word in ("killing", "kills", "killed", "kill")


def _outcome_participle(toks: list[str], index: int) -> bool:
    """', wounding five': the casualties are the outcome of the act the clause just told.

    "closed the road after gunmen fired on a convoy, wounding five" reports the attack with its
    toll; an earlier killing cited as a cause is told with a finite verb ("after gunmen killed
    26", "after a soldier was killed").
    """
    return index > 0 and toks[index - 1] == "," and toks[index].endswith("ing")


def _truce_background(sent: Sentence, index: int) -> bool:
    """Deaths in a clause about the fighting a truce ends are its background, not news.

    "A ceasefire took effect, ending twelve days of strikes in which hundreds died": the
    casualty word follows an ending cue and a relative pronoun, in a sentence naming a truce.
    """
    if not sent.has("truce.terms") or not sent.has("cas.conflict_ended"):
        return False
    ended = hit_before(sent, index, "cas.conflict_ended", 12, clause=False)
    if ended is not None:
        return any(t in _RELATIVES for t in sent.words[tok_end(sent, ended) : index])
    # "The clashes, which left dozens dead, ended with a ceasefire": the ending comes after.
    ended = hit_after(sent, index, "cas.conflict_ended", 15)
    if ended is None or not any(t in _RELATIVES for t in sent.words[max(0, index - 10) : index]):
        return False
    return hit_after(sent, tok_end(sent, ended), "truce.terms", 6) is not None


def _choose(cands: list[Candidate]) -> Candidate | None:
    if not cands:
        return None
    return min(cands, key=lambda c: (-c.level, 0 if c.sentence.field == "title" else 1, c.order))


def _casualty_hits(sent: Sentence) -> list[Hit]:
    if not sent.has_any(_COUNTED_LIST):
        return []
    hits = [h for h in sent.hits if h.group in _COUNTED]
    metaphors = (
        sent.groups("cas.metaphors") + sent.groups("cas.zero_killed") + sent.groups("cas.zero_injured")
    )
    if metaphors:
        hits = [h for h in hits if not any(m.start <= h.start and h.end <= m.end for m in metaphors)]
    if len(hits) < 2:
        return hits  # nothing for a hit to lie inside
    tolls = [h for h in hits if h.group == "cas.toll"]
    same = [h for h in hits if not inside(h, tolls) or h.group == "cas.toll"] if tolls else hits
    return [h for h in same if not inside(h, [o for o in same if o.group == h.group])]


def _violent(sent: Sentence, armed: frozenset[str], *, cause_in_item: bool = False) -> bool:
    """A violence word that is not part of a phrase of no violence ("fire" in "caught fire"); in a
    sentence that tells a cause of no violence (or in an item that does, ``cause_in_item``), a
    word naming armed people among the victims, a few words after a casualty word ("crashed,
    killing 46 people, including soldiers"), is none."""
    if not sent.has("cas.violence"):
        return False
    calm = sent.groups("cas.non_violent")
    acts = sent.groups("cas.violence")
    low = sent.low
    if (calm or cause_in_item) and any(low[v.start : v.end] in armed for v in acts):
        victims = [tok_end(sent, h) for group in ("cas.killed", "cas.injured") for h in sent.groups(group)]
        if victims:
            acts = [
                v
                for v in acts
                if low[v.start : v.end] not in armed
                or not any(0 <= tok(sent, v) - end <= _VICTIM_REACH for end in victims)
            ]
    calm = calm + sent.groups("cas.calm")
    return any(not any(c.start <= v.start < c.end for c in calm) for v in acts)


def _died_after(toks: list[str], i: int) -> bool:
    """A death verb within three words after token ``i`` ("wounded officers died")."""
    return any(toks[k] in _DEATH_FROM_WOUNDS for k in range(i + 1, min(len(toks), i + 4)))


def _doc_violent_title(doc: Doc, armed: frozenset[str]) -> bool:
    title = doc.title
    return title is not None and _violent(title, armed) and not title.has("cas.non_violent")
