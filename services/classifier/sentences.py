"""Sentence splitting and tokenisation with character offsets."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Literal

from services.classifier.matcher import Hit

Field = Literal["title", "body"]

_ABBREVIATIONS = frozenset(
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
    ]
)
_BOUNDARY = re.compile(r"[.!?]+['\")\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_TOKEN = re.compile(
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[^\W\d_]+(?:['-][^\W_]+)*|[^\w\s]", re.UNICODE
)


@dataclass(slots=True)
class Token:
    start: int
    end: int
    text: str


@dataclass(slots=True)
class Sentence:
    """One sentence of a field; offsets are into that field's text."""

    field: Field
    index: int
    start: int
    end: int
    text: str
    low: str
    hits: list[Hit] = dc_field(default_factory=list)
    _tokens: list[Token] | None = None
    _starts: list[int] | None = None

    @property
    def tokens(self) -> list[Token]:
        if self._tokens is None:
            self._tokens = [Token(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(self.low)]
            self._starts = [t.start for t in self._tokens]
        return self._tokens

    def token_at(self, offset: int) -> int:
        """Index of the token that starts at or covers ``offset`` (sentence-relative)."""
        toks = self.tokens
        assert self._starts is not None
        i = bisect_right(self._starts, offset) - 1
        return max(0, min(i, len(toks) - 1))

    def token_after(self, offset: int) -> int:
        """Index of the first token starting at or after ``offset``."""
        if self._starts is None:
            _ = self.tokens
        assert self._starts is not None
        return bisect_left(self._starts, offset)

    def groups(self, group: str) -> list[Hit]:
        return [h for h in self.hits if h.group == group]

    def has(self, group: str) -> bool:
        return any(h.group == group for h in self.hits)


def split_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` with surrounding whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        cut = m.start()
        stop = m.end()
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


def make_sentences(fld: Field, text: str, low: str, hits: list[Hit]) -> list[Sentence]:
    """Split a field into sentences and hand each the phrase hits inside it (offsets rebased)."""
    spans = [(0, len(text))] if fld == "title" else split_spans(text)
    spans = [(a, b) for a, b in spans if b > a]
    out: list[Sentence] = []
    hi = 0
    ordered = sorted(hits, key=lambda h: h.start)
    for i, (a, b) in enumerate(spans):
        sent = Sentence(fld, i, a, b, text[a:b], low[a:b])
        while hi < len(ordered) and ordered[hi].start < a:
            hi += 1
        j = hi
        while j < len(ordered) and ordered[j].start < b:
            h = ordered[j]
            if h.end <= b:
                sent.hits.append(Hit(h.start - a, h.end - a, h.group, h.ref))
            j += 1
        out.append(sent)
    return out
