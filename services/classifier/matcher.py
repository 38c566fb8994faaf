"""Multi-phrase matching with Aho-Corasick and word-boundary checks.

All phrases are compiled once into one automaton; a document is scanned once, in lower case.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import ahocorasick  # type: ignore[import-not-found]


class Hit(NamedTuple):
    """A phrase found in a text: ``text[start:end]`` is the matched span.

    A tuple rather than a dataclass: a document yields dozens of hits and building them is on
    the tagger's hot path.
    """

    start: int
    end: int
    group: str
    ref: int


def normalise(text: str) -> str:
    """Lower-case a text keeping its length, so offsets stay valid; unify apostrophes and dashes."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return low.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", "-").replace("\u2014", "-")


class PhraseMatcher:
    """Find registered phrases in a text, whole words only.

    ``add(phrase, group, ref)`` registers a phrase under a group with an integer reference (an
    index into the caller's own table); one phrase may belong to several groups.
    """

    def __init__(self) -> None:
        self._automaton = ahocorasick.Automaton()
        self._payloads: dict[str, list[tuple[str, int]]] = {}
        self._built = False

    def add(self, phrase: str, group: str, ref: int = 0) -> None:
        key = normalise(" ".join(phrase.split()))
        if not key:
            return
        payload = self._payloads.setdefault(key, [])
        if (group, ref) not in payload:
            payload.append((group, ref))
        self._built = False

    def build(self) -> None:
        self._automaton = ahocorasick.Automaton()
        for key, payload in self._payloads.items():
            self._automaton.add_word(key, (len(key) - 1, tuple(payload)))
        if self._payloads:
            self._automaton.make_automaton()
        self._built = True

    def find(self, low: str) -> list[Hit]:
        """Scan an already normalised text; hits sorted by start then longest first.

        Hits of one phrase in several groups keep the order in which the groups were added.
        """
        if not self._built:
            self.build()
        if not self._payloads:
            return []
        hits: list[Hit] = []
        add = hits.append
        new = tuple.__new__
        last = len(low) - 1
        in_order = True
        prev_start = prev_end = -1
        # Typed, so that compiled code unpacks the automaton's tuples natively.
        found: Iterable[tuple[int, tuple[int, tuple[tuple[str, int], ...]]]] = self._automaton.iter(low)
        for end_idx, (span, payload) in found:
            start = end_idx - span
            if start > 0 and low[start - 1].isalnum():
                continue
            end = end_idx + 1
            if end_idx < last and low[end].isalnum():
                continue
            # The automaton reports hits by end; overlapping phrases ("death toll", "toll") can
            # come out of start order, which is rare enough to sort only then.
            if start < prev_start or (start == prev_start and end > prev_end):
                in_order = False
            prev_start, prev_end = start, end
            for group, ref in payload:
                add(new(Hit, (start, end, group, ref)))
        if not in_order:
            hits.sort(key=_start_longest_first)  # stable: a phrase's groups keep their order
        return hits


def _start_longest_first(hit: Hit) -> tuple[int, int]:
    return hit.start, -hit.end
