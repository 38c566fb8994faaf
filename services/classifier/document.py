"""A tokenised item: title and body sentences with their phrase hits, plus window helpers."""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from services.classifier.matcher import Hit, PhraseMatcher
from services.classifier.sentences import Sentence

_YEAR: Final = re.compile(r"\b(19[0-9]{2}|20[0-9]{2})\b")
_MONTHS: Final = {
    m: n
    for n, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}  # fmt: skip
MONTH_WORDS: Final = frozenset(_MONTHS)
_DAY: Final = re.compile(r"\b([0-3]?[0-9])(?:st|nd|rd|th)?\b")
# Month names are matched with the cues, under a group of their own: a sentence without any
# names no date.
MONTHS_GROUP: Final = "doc.months"
OLD_DATE_DAYS: Final = 10  # a dated event this long before publication is an earlier event
# "in January", "last March" with no day: a month at least this many months before the item's
# own is an earlier event; a month named up to two months after it is one to come ("talks due in
# January" in a November item).
_OLD_MONTHS: Final = 2
_COMING_MONTHS: Final = 2
_IN_MONTH: Final = re.compile(
    r"\b(?:(?:in|last|during) ("
    + "|".join(m for m in _MONTHS if len(m) > 3)
    + r")|the ("  # "the November bombing" (not "the march on Islamabad")
    + "|".join(m for m in _MONTHS if len(m) > 3 and m != "march")
    + r"))\b(?! [0-3]?[0-9]\b)"
)
CLAUSE_STOPS: Final = frozenset({";", ":", "but", "although", "though", "while", "whereas"})


class Doc:
    """An item's sentences (title first, when it has one) and its publication year.

    ``lows`` are the normalised texts of its fields: a word missing from all of them is in no
    sentence (see :meth:`mentions`).
    """

    __slots__ = ("_groups", "lows", "published", "sentences", "year")

    def __init__(
        self,
        sentences: list[Sentence],
        year: int,
        lows: list[str] | None = None,
        published: date | None = None,
    ) -> None:
        self.sentences = sentences
        self.year = year
        self.published = published
        self.lows = [s.low for s in sentences] if lows is None else lows
        self._groups = {h.group for s in sentences for h in s.hits}

    def mentions(self, text: str) -> bool:
        """Whether ``text`` occurs in any field (lower case), possibly across sentences."""
        return any(text in low for low in self.lows)

    @property
    def title(self) -> Sentence | None:
        return self.sentences[0] if self.sentences and self.sentences[0].field == "title" else None

    def has(self, group: str) -> bool:
        return group in self._groups


def tok(sent: Sentence, hit: Hit) -> int:
    """Token index where a hit starts."""
    return sent.token_at(hit.start)


def tok_end(sent: Sentence, hit: Hit) -> int:
    """Index of the first token after a hit."""
    return sent.token_after(hit.end)


def hit_before(sent: Sentence, index: int, group: str, window: int, *, clause: bool = True) -> Hit | None:
    """A hit of ``group`` starting within ``window`` tokens before token ``index``.

    With ``clause`` the search stops at clause punctuation and contrastive conjunctions.
    """
    hits = sent.groups(group)
    if not hits:
        return None
    lo = max(0, index - window)
    if clause:
        words = sent.words
        for k in range(index - 1, lo - 1, -1):
            if words[k] in CLAUSE_STOPS:
                lo = k + 1
                break
    best: Hit | None = None
    for h in hits:
        k = sent.token_at(h.start)
        if lo <= k < index:
            best = h
    return best


def before_hit(sent: Sentence, hit: Hit, group: str, window: int, *, clause: bool = True) -> Hit | None:
    """:func:`hit_before` the token where ``hit`` starts; the sentence is tokenised only if needed."""
    if not sent.groups(group):
        return None
    return hit_before(sent, sent.token_at(hit.start), group, window, clause=clause)


def hit_after(sent: Sentence, index: int, group: str, window: int) -> Hit | None:
    """A hit of ``group`` starting at or within ``window`` tokens after token ``index``."""
    for h in sent.groups(group):
        k = sent.token_at(h.start)
        if index <= k <= index + window:
            return h
    return None


_ACCORD_DATED: Final = re.compile(r"\b(?:signed|agreed|brokered|reached|struck|began|started|took effect)\b")
WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Words dating an act to the days of the item, not to the past it looks back on.
NOW_WORDS: Final = frozenset(
    {*WEEKDAYS, "today", "yesterday", "overnight", "hours", "tonight", "morning", "evening", "afternoon"}
)


def denied(sent: Sentence, index: int) -> bool:
    """Word ``index`` is what a denial earlier in the clause denies: 'dismissed reports that 40 were
    killed', 'dismissed videos that purported to show fresh fighting'."""
    for d in sent.groups("shared.denials"):
        k = tok_end(sent, d)
        if k > index:
            continue
        toks = sent.words
        if any(t in (";", "but") for t in toks[k:index]):
            continue
        claim = next((c for c in sent.groups("shared.claim_nouns") if c.start >= d.end), None)
        # the claim before the word ("dismissed reports that 40 were killed"), or right after it
        # ("dismisses clash reports")
        if claim is not None and tok(sent, claim) <= min(index + 1, k + 3):
            return True
    return False


def old_date(sent: Sentence, published: date | None) -> bool:
    """The sentence dates what it tells ("on 11 October", "October 11") well before the item's
    publication day: an earlier event retold, not news."""
    low = sent.low
    if published is None or not sent.has(MONTHS_GROUP):
        return False
    for m in _DAY.finditer(low):  # a day number, then the month next to it
        following = low[m.end() + 1 : m.end() + 11].split(" ", 1)[0].rstrip(".,;:")
        preceding = low[max(0, m.start() - 11) : max(0, m.start() - 1)].rsplit(" ", 1)[-1]
        month = _MONTHS.get(following) or _MONTHS.get(preceding)
        if month is None:
            continue
        if "since" in low[max(0, m.start() - 60) : m.start()]:
            continue  # "the worst breach since the truce took effect on 10 October"
        if _ACCORD_DATED.search(low, max(0, m.start() - 30), m.start()):
            continue  # "in breach of the accord signed in Kohat on January 1": the accord's date
        day = int(m[1])
        year = published.year if month <= published.month else published.year - 1
        try:
            told = date(year, month, day)
        except ValueError:
            continue
        if (published - told).days > OLD_DATE_DAYS:
            return True
    months = list(_IN_MONTH.finditer(low))
    if months and NOW_WORDS.isdisjoint(sent.words):  # not "killed on Wednesday ... agreed in July"
        for m in months:
            back = (published.month - _MONTHS[m[1] or m[2]]) % 12
            if not _OLD_MONTHS <= back < 12 - _COMING_MONTHS:
                continue
            if _ACCORD_DATED.search(low, max(0, m.start() - 30), m.start()):
                continue  # "the ceasefire that began in January": the truce's date
            return True  # "when gunmen ambushed a convoy in January" in an April item
    return False


def register_months(matcher: PhraseMatcher) -> None:
    """Add the month names (before ``build``)."""
    for name in _MONTHS:
        matcher.add(name, MONTHS_GROUP)


def old_year(sent: Sentence, year: int) -> bool:
    """The sentence names a calendar year before the item's own year."""
    text = sent.text
    if "19" not in text and "20" not in text:
        return False
    return any(int(m.group(1)) < year for m in _YEAR.finditer(text))


def inside(hit: Hit, spans: list[Hit]) -> bool:
    return any(s.start <= hit.start and hit.end <= s.end and s != hit for s in spans)
