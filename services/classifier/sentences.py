"""Sentence splitting and tokenisation with character offsets.

Tokens are computed per sentence and only when an analysis asks for them: most sentences of an
item carry no cue that needs token positions, and tokenising is the costliest step per word.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from services.classifier.matcher import Hit, PhraseMatcher, chunks, single_spaced, spaced_starts

Field = Literal["title", "body"]

_ABBREVIATIONS: Final = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "gen",
        "lt",
        "col",
        "maj",
        "capt",
        "sgt",
        "st",
        "no",
        "nos",
        "vs",
        "etc",
        "jr",
        "sr",
        "prof",
        "gov",
        "sen",
        "rep",
        "brig",
        "u.s",
        "u.n",
        "u.k",
        "inc",
        "co",
        # wire style abbreviates months before a day: "on Oct. 19"
        "jan",
        "feb",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_BOUNDARY: Final = re.compile(r"[.!?]+['\")\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# Numbers with thousands separators, plain numbers, words with inner apostrophes or hyphens, and
# single punctuation marks. No token spans whitespace, so a whitespace-separated chunk can be
# tokenised on its own (see :func:`tokenise`).
TOKEN: Final = re.compile(
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[^\W\d_]+(?:['-][^\W_]+)*|[^\w\s]", re.UNICODE
)
_EMPTY: Final[list[Hit]] = []


def tokenise(low: str) -> tuple[list[str], list[int]]:
    """Token texts and start offsets of ``low``: the same tokens as ``TOKEN.finditer(low)``."""
    parts, starts = chunks(low)
    return tokenise_chunks(low, parts, starts)


def tokenise_chunks(low: str, parts: list[str], starts: list[int]) -> tuple[list[str], list[int]]:
    """:func:`tokenise` given the text's :func:`~services.classifier.matcher.chunks`.

    No token spans whitespace, so each chunk is tokenised on its own. A chunk of letters only
    is one token, and so is a number of digits only; a word or number with one mark after it
    ("said," "day." "12,") is two. Other chunks go through the regular expression. That skips
    the regular expression for most words, which is where tokenising spends its time.
    """
    if not low.isascii():
        return _tokenise_unicode(parts, starts)
    # In ASCII, a chunk of letters and digits with no digit has letters only: str.isalnum and
    # the digit offsets tell that faster (compiled) than str.isalpha.
    digits = _digit_offsets(low)
    nd = len(digits)
    d = 0
    words: list[str] = []
    offsets: list[int] = []
    for k in range(len(parts)):
        part = parts[k]
        at = starts[k]
        end = at + len(part)
        while d < nd and digits[d] < at:
            d += 1
        plain = d == nd or digits[d] >= end  # no digit in this chunk
        if part.isalnum():
            if plain or part.isdigit():
                words.append(part)
                offsets.append(at)
                continue
        else:
            head = part[:-1]
            last = part[-1]
            if head.isalnum() and (plain or head.isdigit()) and last != "_" and not last.isalnum():
                # A word or number with one mark after it: the mark is a token of its own.
                words.append(head)
                words.append(last)
                offsets.append(at)
                offsets.append(end - 1)
                continue
        for m in TOKEN.finditer(part):
            words.append(m.group())
            offsets.append(at + m.start())
    return words, offsets


def _digit_offsets(low: str) -> list[int]:
    """Sorted offsets of the ASCII digits in ``low``."""
    out: list[int] = []
    for digit in "0123456789":
        at = low.find(digit)
        while at >= 0:
            out.append(at)
            at = low.find(digit, at + 1)
    if len(out) > 1:
        out.sort()
    return out


def _tokenise_unicode(parts: list[str], starts: list[int]) -> tuple[list[str], list[int]]:
    words: list[str] = []
    offsets: list[int] = []
    for k in range(len(parts)):
        part = parts[k]
        at = starts[k]
        if part.isalpha():
            words.append(part)
            offsets.append(at)
        elif part[:-1].isalpha() and not part[-1].isalnum() and part[-1] != "_":
            words.append(part[:-1])
            words.append(part[-1])
            offsets.append(at)
            offsets.append(at + len(part) - 1)
        else:
            for m in TOKEN.finditer(part):
                words.append(m.group())
                offsets.append(at + m.start())
    return words, offsets


class Sentence:
    """One sentence of a field; offsets (its own and its hits') are into that field's text.

    ``hits`` are sorted by start, longest first. :meth:`groups` lists returned are shared: callers
    must not change them.
    """

    __slots__ = (
        "_by_group",
        "_part_starts",
        "_parts",
        "_starts",
        "_words",
        "end",
        "field",
        "hits",
        "index",
        "low",
        "start",
        "text",
    )

    def __init__(
        self,
        field: Field,
        index: int,
        start: int,
        end: int,
        text: str,
        low: str,
        hits: list[Hit] | None = None,
        parts: list[str] | None = None,
        part_starts: list[int] | None = None,
    ) -> None:
        self.field = field
        self.index = index
        self.start = start
        self.end = end
        self.text = text
        self.low = low
        self.hits: list[Hit] = [] if hits is None else hits
        self._words: list[str] | None = None
        self._starts: list[int] = []
        self._by_group: dict[str, list[Hit]] | None = None
        # The text's whitespace-separated chunks, when the caller has them (see make_sentences);
        # no offsets with them means the chunks are single-spaced (counted when needed).
        self._parts = parts
        self._part_starts = part_starts

    @property
    def words(self) -> list[str]:
        """Token texts (lower case), computed on first use."""
        if self._words is None:
            parts = self._parts
            if parts is None:
                self._words, self._starts = tokenise(self.low)
            else:
                starts = self._part_starts
                if starts is None:
                    starts = spaced_starts(parts)
                self._words, self._starts = tokenise_chunks(self.low, parts, starts)
        return self._words

    def token_start(self, index: int) -> int:
        """Sentence offset where token ``index`` starts."""
        _ = self.words
        return self._starts[index]

    def token_at(self, offset: int) -> int:
        """Index of the token that starts at or covers ``offset`` (sentence-relative)."""
        n = len(self.words)
        i = _after_last(self._starts, offset, n) - 1
        return max(0, min(i, n - 1))

    def token_after(self, offset: int) -> int:
        """Index of the first token starting at or after ``offset``."""
        n = len(self.words)
        # bisect_left, written out: compiled, a loop over native integers beats calling it.
        starts = self._starts
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if starts[mid] < offset:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def word_after(self, offset: int) -> str | None:
        """Text of the first token starting at or after ``offset`` (None at the end).

        When ``offset`` is followed by whitespace the next whitespace-separated chunk holds that
        token, so only that chunk is tokenised.
        """
        low = self.low
        if self._words is None and offset < len(low) and low[offset].isspace():
            rest = low[offset:].split(maxsplit=1)
            if rest:
                words, _ = tokenise(rest[0])
                if words:
                    return words[0]
        words = self.words
        index = self.token_after(offset)
        return words[index] if index < len(words) else None

    def _index(self) -> dict[str, list[Hit]]:
        by_group: dict[str, list[Hit]] = {}
        for h in self.hits:
            found = by_group.get(h.group)
            if found is None:
                by_group[h.group] = [h]
            else:
                found.append(h)
        self._by_group = by_group
        return by_group

    def groups(self, group: str) -> list[Hit]:
        """Hits of ``group`` in text order (a shared list: do not modify)."""
        by_group = self._by_group if self._by_group is not None else self._index()
        return by_group.get(group, _EMPTY)

    def has(self, group: str) -> bool:
        by_group = self._by_group if self._by_group is not None else self._index()
        return group in by_group

    def has_any(self, groups: tuple[str, ...]) -> bool:
        by_group = self._by_group if self._by_group is not None else self._index()
        return any(group in by_group for group in groups)


def _after_last(starts: list[int], offset: int, n: int) -> int:
    """``bisect_right(starts[:n], offset)``, written out (compiled, faster than calling it)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if offset < starts[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _boundaries(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each ``_BOUNDARY`` match, as ``_BOUNDARY.finditer`` would give them.

    Every match starts with '.', '!' or '?', found with ``str.find`` (much faster than letting
    the regular expression scan every character); the expression then runs at those places
    only. When it fails at a mark, it fails at the marks right after it too.
    """
    marks: list[int] = []
    for mark in ".!?":
        at = text.find(mark)
        while at >= 0:
            marks.append(at)
            at = text.find(mark, at + 1)
    marks.sort()
    out: list[tuple[int, int]] = []
    done = 0
    match = _BOUNDARY.match
    for at in marks:
        if at < done:
            continue
        m = match(text, at)
        if m is not None:
            done = m.end()
            out.append((at, done))
    return out


def split_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` with surrounding whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for cut, stop in _boundaries(text):
        word = text[max(start, cut - 6) : cut + 1].split()
        last = word[-1].rstrip(".").lower() if word else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        end = stop
        while end > start and text[end - 1].isspace():
            end -= 1
        spans.append((start, end))
        start = stop
    if start < len(text):
        spans.append((start, len(text)))
    out: list[tuple[int, int]] = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def make_sentences(fld: Field, text: str, low: str, matcher: PhraseMatcher) -> list[Sentence]:
    """Split a field into sentences and give each the phrase hits ``matcher`` finds in it.

    Each sentence is scanned on its own, so hit offsets are sentence-relative from the start. A
    sentence is preceded and followed by whitespace (or the ends of the field), so a whole-word
    match inside it is one in the field and vice versa; a phrase spanning two sentences is not
    a hit of either.

    The sentences are those of :func:`split_spans`, found from the field's chunks: a sentence
    starts and ends with a chunk, and can end only with a chunk ending in a sentence mark (and
    closing quotes or brackets). So the field is cut into chunks once, and each sentence takes
    its share of them for the phrase scan and the tokeniser.
    """
    parts = low.split()
    spaced = single_spaced(low, parts)
    if fld == "title":
        if not text:
            return []
        # A title is one sentence, taken whole.
        title_starts = None if spaced else chunks(low)[1]
        hits = matcher.scan(low, parts, title_starts)
        return [Sentence(fld, 0, 0, len(text), text, low, hits, parts, title_starts)]
    n = len(parts)
    offsets: list[int] = [] if spaced else chunks(low)[1]
    out: list[Sentence] = []
    first = 0  # first chunk of the current sentence
    first_at = 0
    pos = 0
    for k in range(n):
        part = parts[k]
        size = len(part)
        if spaced:
            at = pos
            pos += size + 1
        else:
            at = offsets[k]
        if k == 0:
            first_at = at
        if k == n - 1 or not _ends_like_a_sentence(ord(part[size - 1])):
            continue
        cut = _cut(text, at, at + size)
        if cut < 0:
            continue
        following = pos if spaced else offsets[k + 1]
        if not _opens_sentence(text, following):
            continue
        last = text[max(at, cut - 6) : cut + 1].rstrip(".").lower()
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        out.append(
            _sentence(fld, len(out), text, low, parts, offsets, first, k + 1, first_at, at + size, matcher)
        )
        first = k + 1
        first_at = following
    if first < n:
        end = (pos - 1) if spaced else offsets[n - 1] + len(parts[n - 1])
        out.append(_sentence(fld, len(out), text, low, parts, offsets, first, n, first_at, end, matcher))
    return out


# Characters (as code points) a chunk that ends a sentence can end with: sentence marks and
# closing quotes and brackets (``_BOUNDARY``).
_MARKS: Final = frozenset(ord(c) for c in ".!?")
_CLOSERS: Final = frozenset(ord(c) for c in "'\")]")
_END_CHARS: Final = _MARKS | _CLOSERS


def _ends_like_a_sentence(c: int) -> bool:
    """``c in _END_CHARS``, as comparisons (compiled, cheaper than a set lookup per chunk)."""
    if c > 93 or (c > 63 and c != 93):
        return False  # most chunks end with a letter
    return c == 46 or c == 33 or c == 63 or c == 39 or c == 34 or c == 41 or c == 93


_OPENERS: Final = frozenset(ord(c) for c in "\"'([")


def _cut(text: str, start: int, end: int) -> int:
    """Where ``_BOUNDARY`` can match in the chunk ``text[start:end]``, or -1.

    The expression needs sentence marks followed by closers only up to the whitespace, so the
    only place is the first mark of the chunk's last run of marks before its closers.
    """
    j = end
    while j > start and ord(text[j - 1]) in _CLOSERS:
        j -= 1
    i = j
    while i > start and ord(text[i - 1]) in _MARKS:
        i -= 1
    return -1 if i == j else i


def _opens_sentence(text: str, at: int) -> bool:
    """``_BOUNDARY``'s look-ahead at ``at``: an ASCII capital or digit, maybe after a quote or bracket."""
    c = ord(text[at])
    if c in _OPENERS and at + 1 < len(text):
        c = ord(text[at + 1])
    return 65 <= c <= 90 or 48 <= c <= 57


def _sentence(
    fld: Field,
    index: int,
    text: str,
    low: str,
    parts: list[str],
    offsets: list[int],
    first: int,
    stop: int,
    a: int,
    b: int,
    matcher: PhraseMatcher,
) -> Sentence:
    """The sentence made of chunks ``first``..``stop - 1`` (``text[a:b]``), scanned for phrases."""
    own = parts[first:stop]
    starts = None if not offsets else [offsets[k] - a for k in range(first, stop)]
    part = low[a:b]
    hits = matcher.scan(part, own, starts)
    return Sentence(fld, index, a, b, text[a:b], part, hits, own, starts)
