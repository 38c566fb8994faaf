"""Multi-phrase matching with Aho-Corasick and word-boundary checks.

All phrases are compiled once into one automaton; a document is scanned once, in lower case.
"""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick  # type: ignore[import-not-found]


@dataclass(frozen=True, slots=True)
class Hit:
    """A phrase found in a text: ``text[start:end]`` is the matched span."""

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
            self._automaton.add_word(key, (len(key), tuple(payload)))
        if self._payloads:
            self._automaton.make_automaton()
        self._built = True

    def find(self, low: str) -> list[Hit]:
        """Scan an already normalised text; hits sorted by start then longest first."""
        if not self._built:
            self.build()
        if not self._payloads:
            return []
        hits: list[Hit] = []
        n = len(low)
        for end_idx, (length, payload) in self._automaton.iter(low):
            start = end_idx - length + 1
            end = end_idx + 1
            if start > 0 and low[start - 1].isalnum():
                continue
            if end < n and low[end].isalnum():
                continue
            for group, ref in payload:
                hits.append(Hit(start, end, group, ref))
        hits.sort(key=lambda h: (h.start, -h.end))
        return hits
