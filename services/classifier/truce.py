"""The ceasefire_violation label.

A sentence is evidence when it names a truce and either (a) alleges a breach of it ("accused
Kabul of violating the ceasefire", "truce frays"), or (b) reports a hostile act while the truce
was in force ("shelling despite the truce", "deadliest strike since the ceasefire", "missiles
fired after the truce took effect"). Agreements, extensions, a truce holding, denials, threats
and acts before a truce began are not evidence.
"""

from __future__ import annotations

from services.classifier.document import Doc, hit_after, hit_before, tok, tok_end
from services.classifier.matcher import Hit
from services.classifier.sentences import Sentence


def _clean_hostile(sent: Sentence) -> list[Hit]:
    """Hostile-act hits that are not negated, hypothetical or part of a truce term ('cease-fire')."""
    terms = sent.groups("truce.terms")
    out: list[Hit] = []
    for h in sent.groups("truce.hostile_acts"):
        if any(t.start <= h.start < t.end for t in terms):
            continue
        i = tok(sent, h)
        if hit_before(sent, i, "shared.negations", 4) or hit_before(sent, i, "shared.hypotheticals", 5):
            continue
        out.append(h)
    return out


class TruceAnalyser:
    def _breach_near(self, sent: Sentence, term: Hit) -> bool:
        i, j = tok(sent, term), tok_end(sent, term)
        cands: list[Hit] = []
        before = hit_before(sent, i, "truce.breach", 5)
        if before is not None:
            cands.append(before)
        after = hit_after(sent, j, "truce.breach_after_term", 2)
        if after is not None:
            cands.append(after)
        for b in cands:
            k = tok(sent, b)
            negated = hit_before(sent, k, "shared.negations", 3) is not None
            if negated or hit_before(sent, k, "shared.hypotheticals", 6) is not None:
                continue
            return True
        return False

    def _in_force_act(self, doc: Doc, sent: Sentence, term: Hit, hostile: list[Hit]) -> bool:
        i, j = tok(sent, term), tok_end(sent, term)
        toks = sent.tokens
        if hostile and hit_before(sent, i, "truce.in_force", 6) is not None:
            return True
        window = [t.text for t in toks[max(0, i - 7) : i]]
        if "since" in window and sent.has("truce.superlatives") and (hostile or _doc_hostile(doc)):
            return True
        after = "after" in window[-5:] and hit_after(sent, j, "truce.start_verbs", 6) is not None
        return bool(hostile) and after

    def analyse(self, doc: Doc) -> Sentence | None:
        """The first sentence evidencing a violation, or None."""
        hostile_doc = _doc_hostile(doc)
        ended = _truce_ended(doc)
        for sent in doc.sentences:
            terms = sent.groups("truce.terms")
            if not terms:
                continue
            hostile = _clean_hostile(sent)
            accusing = sent.has("shared.reporting_verbs")
            for term in terms:
                if self._breach_near(sent, term) and (hostile_doc or accusing):
                    return sent
                if not ended and self._in_force_act(doc, sent, term, hostile):
                    return sent
        return None


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
