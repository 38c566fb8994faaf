"""The ceasefire_violation label.

A sentence is evidence when it names a truce and either (a) alleges a breach of it ("accused
Kabul of violating the ceasefire", "truce frays"), or (b) reports a hostile act while the truce
was in force ("shelling despite the truce", "deadliest strike since the ceasefire", "missiles
fired after the truce took effect"). Agreements, extensions, a truce holding, denials, threats
and acts before a truce began are not evidence.
"""

from __future__ import annotations

from typing import Final

from services.classifier.document import (
    MONTH_WORDS,
    Doc,
    before_hit,
    denied,
    hit_after,
    hit_before,
    tok,
    tok_end,
)
from services.classifier.matcher import Hit
from services.classifier.sentences import Sentence
from services.classifier.taxonomy import Taxonomy

_BREACH_GROUPS: Final = ("truce.breach", "truce.breach_after_term")
_ACCUSE: Final = frozenset({"accuses", "accused", "accusing", "accuse"})
_ENDED_BEFORE: Final = frozenset({"ended", "ending", "ends", "end"})
_PASSIVE_BE: Final = frozenset({"was", "were", "been", "being"})
# "fighting had stopped", "the clashes ended" (not "ended the truce", nor "stopped, then resumed").
_STOPPED: Final = frozenset({"stopped", "ended", "ceased", "halted", "subsided"})
_DETERMINERS: Final = frozenset({"the", "a", "an", "its", "their", "this", "that", "his", "her"})
_RESUMED: Final = frozenset({"resumed", "resume", "resumes", "again", "erupted", "flared", "restarted"})
_HEDGE_REACH: Final = 90  # characters before the truce term
# "a peace deal in neighbouring Kurram": the truce named is another place's.
_ELSEWHERE: Final = frozenset({"neighbouring", "neighboring", "another", "elsewhere", "separate"})
# Acts and breaches of no one in particular: "would respond to any such attack", "any tribe found
# to have violated the accord will be fined", "those who fire on convoys will be arrested".
_GENERIC: Final = frozenset({"any", "anyone", "anybody", "whoever", "whichever"})
_GENERIC_REACH: Final = 5
_TO_COME: Final = frozenset({"would", "will", "shall"})
# The truce named as what an act attacked: "an attack on the peace agreement".
_ATTACK_ON: Final = ("attack on the ", "attack on ", "assault on the ", "attacks on the ")
_ACCUSED_REACH: Final = 7  # "accused the Rapid Support Forces of shelling"
_BEFORE_THE_TRUCE: Final = frozenset({"before", "until", "prior", "pre"})


def _generic(words: list[str], k: int, reach: int) -> bool:
    """Word ``k`` tells an act of whoever might commit it, named within ``reach`` words before."""
    window = words[max(0, k - reach) : k]
    if not _GENERIC.isdisjoint(window):
        return True
    return any(window[i] == "those" and window[i + 1] == "who" for i in range(len(window) - 1))


def _clean_hostile(sent: Sentence) -> list[Hit]:
    """Hostile-act hits that are not negated, hypothetical or part of a truce term ('cease-fire')."""
    terms = sent.groups("truce.terms")
    out: list[Hit] = []
    for h in sent.groups("truce.hostile_acts"):
        if any(t.start <= h.start < t.end for t in terms):
            continue
        k = sent.token_at(h.start)
        if _ENDED_BEFORE.intersection(sent.words[max(0, k - 3) : k]):
            continue  # "the ceasefire that ended the July fighting": the fighting it ended
        if _stopped_after(sent.words, k):
            continue  # "fighting in the city had stopped": the act is over, not reported
        if before_hit(sent, h, "shared.negations", 4) or before_hit(sent, h, "shared.hypotheticals", 5):
            continue
        if denied(sent, k):
            continue  # "dismissed videos that purported to show fresh fighting"
        if _generic(sent.words, k, 3) or not _TO_COME.isdisjoint(sent.words[max(0, k - 2) : k]):
            continue  # "would hit back at any such attack": a threat, no act
        if k > 0 and sent.words[k - 1] in MONTH_WORDS:
            continue  # "families who fled during the October fighting": an episode named, not news
        out.append(h)
    return out


def _stopped_after(words: list[str], k: int) -> bool:
    """The act at word ``k`` is said to have stopped within a few words ("fighting in the city had
    stopped", "the clashes have ended"), not to have stopped something ("shelling that ended the
    truce") nor to have started again ("stopped, then resumed")."""
    window = words[k + 1 : k + 6]
    for i, word in enumerate(window):
        if word in _STOPPED:
            following = window[i + 1] if i + 1 < len(window) else (words[k + 6] if k + 6 < len(words) else "")
            return following not in _DETERMINERS and _RESUMED.isdisjoint(words[k + 1 :])
    return False


class TruceAnalyser:
    def __init__(self, taxonomy: Taxonomy) -> None:
        self._hedges = tuple(p.lower() for p in taxonomy.cues.truce.hedges)
        self._reference_words = frozenset(p.lower() for p in taxonomy.cues.truce.references)

    def _references(self, sent: Sentence) -> list[Hit]:
        """The words naming the truce again ("the agreement"), as hits (looked up in the words: they
        matter only in the rare sentence that alleges a breach)."""
        out: list[Hit] = []
        words = sent.words
        for k, word in enumerate(words):
            # "the agreement", "the Kohat agreement"; not "broke up without agreement"
            if word in self._reference_words and "the" in words[max(0, k - 2) : k]:
                start = sent.token_start(k)
                out.append(Hit(start, start + len(word), "truce.references", 0))
        return out

    @staticmethod
    def _accused_of_breach(sent: Sentence) -> bool:
        """A party accused of breaches in a sentence naming the truce ("committed to the ceasefire,
        accuses India of violations"), not denied."""
        words = sent.words
        for h in sent.groups("truce.breach"):
            k = sent.token_at(h.start)
            if not _ACCUSE.intersection(words[max(0, k - 4) : k]):
                continue
            if before_hit(sent, h, "shared.negations", 6) is None:
                return True
        # "committed to the ceasefire, but accused Indian forces of opening fire": the act it is
        # accused of is the breach
        accusing = bool(_ACCUSE.intersection(words)) and not any(
            _BEFORE_THE_TRUCE.intersection(words[max(0, tok(sent, t) - 3) : tok(sent, t)])
            for t in sent.groups("truce.terms")
        )  # not "before the ceasefire, Pakistan accused India of shelling villages"
        for h in _clean_hostile(sent) if accusing else ():
            k = sent.token_at(h.start)
            if _ACCUSE.intersection(words[max(0, k - _ACCUSED_REACH) : k]):
                return True
        return False

    @staticmethod
    def _accusing_verb(sent: Sentence) -> bool:
        return sent.has("shared.reporting_verbs") and not sent.has("shared.negations")

    def _hedged(self, sent: Sentence, term: Hit) -> bool:
        """A held-back reporting verb shortly before the truce term ("did not say that the Doha
        ceasefire had been broken")."""
        before = sent.low[max(0, term.start - _HEDGE_REACH) : term.start]
        return any(h in before for h in self._hedges)

    def _breach_near(self, sent: Sentence, term: Hit) -> bool:
        if sent.low.endswith(_ATTACK_ON, 0, term.start) and self._accusing_verb(sent):
            return True  # "called the shooting an attack on the peace agreement"
        cands: list[Hit] = []
        before = before_hit(sent, term, "truce.breach", 7)  # "a breach of the 48-hour ceasefire"
        if before is not None:
            cands.append(before)
        if sent.has("truce.breach_after_term"):
            after = hit_after(sent, tok_end(sent, term), "truce.breach_after_term", 2)
            if after is not None:
                cands.append(after)
        # The passive later in the clause: "a ceasefire announced on Tuesday was broken within hours".
        end = tok_end(sent, term)
        words = sent.words
        for h in sent.groups("truce.breach"):
            k = sent.token_at(h.start)
            if end <= k <= end + 10 and words[k - 1] in _PASSIVE_BE:
                cands.append(h)
                break
        if not cands:
            return False
        hedged = self._hedged(sent, term)
        for b in cands:
            # "did not call it a breach", "neither side described it as a breach of the truce"
            negated = before_hit(sent, b, "shared.negations", 6) is not None
            if negated or hedged or before_hit(sent, b, "shared.hypotheticals", 6) is not None:
                continue
            if _generic(sent.words, sent.token_at(b.start), _GENERIC_REACH):
                continue
            return True
        return False

    def _in_force_act(self, doc: Doc, sent: Sentence, term: Hit, hostile: list[Hit]) -> bool:
        superlative = sent.has("truce.superlatives")
        if not hostile and not superlative and not sent.has("truce.in_force_after"):
            return False  # every test below needs a hostile act, a superlative or an in-force phrase
        i = tok(sent, term)
        if hostile and hit_before(sent, i, "truce.in_force", 6) is not None:
            return True
        in_force = sent.has("truce.in_force_after")
        if in_force and hit_after(sent, tok_end(sent, term), "truce.in_force_after", 10):
            return bool(hostile) or _doc_hostile(doc)  # "the ceasefire, which remains in force"
        window = sent.words[max(0, i - 7) : i]
        if "since" in window and superlative and (hostile or _doc_hostile(doc)):
            return True
        if not hostile or "after" not in window[-5:]:
            return False
        # "after the ceasefire took effect", "three days after elders signed a peace accord" (not
        # "a peace deal in neighbouring Kurram": a truce elsewhere)
        if hit_after(sent, tok_end(sent, term), "truce.start_verbs", 6) is not None:
            return True
        elsewhere = not _ELSEWHERE.isdisjoint(sent.words[tok_end(sent, term) : tok_end(sent, term) + 4])
        return not elsewhere and hit_before(sent, i, "truce.start_verbs", 3) is not None

    def analyse(self, doc: Doc) -> Sentence | None:
        """The first sentence evidencing a violation, or None."""
        hostile_doc: bool | None = None  # computed on first need: most items name no truce
        ended: bool | None = None
        named = doc.has("truce.terms")
        for sent in doc.sentences:
            terms = sent.groups("truce.terms")
            if named and sent.has_any(_BREACH_GROUPS):
                terms = terms + self._references(sent)  # "a violation of the agreement"
            if not terms:
                continue
            if self._accused_of_breach(sent):
                return sent  # "accuses India of violations in Neelum"
            hostile = _clean_hostile(sent)
            accusing = sent.has("shared.reporting_verbs")
            for term in terms:
                if self._breach_near(sent, term):
                    if not accusing and hostile_doc is None:
                        hostile_doc = _doc_hostile(doc)
                    if accusing or hostile_doc:
                        return sent
                if ended is None:
                    # The truce is over, or the item says the parties did not call the act a breach.
                    ended = _truce_ended(doc) or _breach_disowned(doc)
                if not ended and self._in_force_act(doc, sent, term, hostile):
                    if _claimed_by_non_party(doc):
                        continue  # "a Hafiz Gul Bahadur faction claimed the attack"
                    return sent
        return None


def _claimed_by_non_party(doc: Doc) -> bool:
    """A group party to no truce claimed the attack, or is said to have carried it out."""
    if not doc.has("truce.non_parties"):
        return False
    return any(
        sent.has("truce.non_parties") and ("claimed" in sent.words or sent.has("truce.hostile_acts"))
        for sent in doc.sentences
    )


def _breach_disowned(doc: Doc) -> bool:
    """ "Neither Islamabad nor Kabul called it a breach of the ceasefire": a breach word negated
    shortly before, next to a truce term."""
    if not doc.has("truce.breach") or not doc.has("shared.negations"):
        return False
    for sent in doc.sentences:
        for b in sent.groups("truce.breach"):
            if before_hit(sent, b, "shared.negations", 6) is None:
                continue
            k = tok(sent, b)
            if any(0 < tok(sent, t) - k <= 4 for t in sent.groups("truce.terms")):
                return True
    return False


def _truce_ended(doc: Doc) -> bool:
    """The item says the truce is over ("the ceasefire expired", "declared the truce over")."""
    if not doc.has("truce.ended"):
        return False
    for sent in doc.sentences:
        for end in sent.groups("truce.ended"):
            k = tok(sent, end)
            if any(abs(tok(sent, t) - k) <= 6 for t in sent.groups("truce.terms")):
                return True
    return False


def _doc_hostile(doc: Doc) -> bool:
    return any(_clean_hostile(s) for s in doc.sentences if s.has("truce.hostile_acts"))
