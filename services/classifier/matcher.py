"""Multi-phrase matching with Aho-Corasick and word-boundary checks.

All phrases are compiled once into one automaton; a document is scanned once, in lower case.
"""

from __future__ import annotations

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
            # (length, ((order, group, ref), ...)): ``order`` keeps a phrase's groups in the
            # order they were added when hits are sorted as plain tuples.
            entries = tuple((k, group, ref) for k, (group, ref) in enumerate(payload))
            self._automaton.add_word(key, (len(key), entries))
        if self._payloads:
            self._automaton.make_automaton()
        self._built = True

    def scan(self, low: str) -> list[tuple[int, int, int, str, int]]:
        """Whole-word hits of an already normalised text as ``(start, -end, order, group, ref)``.

        Sorted by start, then longest first, then registration order: the order of :meth:`find`.
        """
        if not self._built:
            self.build()
        if not self._payloads:
            return []
        out: list[tuple[int, int, int, str, int]] = []
        add = out.append
        last = len(low) - 1
        for end_idx, (length, entries) in self._automaton.iter(low):
            start = end_idx - length + 1
            if start > 0 and low[start - 1].isalnum():
                continue
            if end_idx < last and low[end_idx + 1].isalnum():
                continue
            neg_end = -end_idx - 1
            for order, group, ref in entries:
                add((start, neg_end, order, group, ref))
        out.sort()
        return out

    def find(self, low: str) -> list[Hit]:
        """Scan an already normalised text; hits sorted by start then longest first."""
        return [Hit(s, -e, g, r) for s, e, _, g, r in self.scan(low)]
