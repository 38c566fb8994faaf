"""Multi-phrase matching keyed by words, with whole-word boundaries.

A phrase matches where its text occurs with no letter or digit right before or right after it
(so "fire" matches in "cease-fire", not in "fired"). Such an occurrence always begins at the
start of a run of letters and digits that equals the phrase's own first run ("death" for "death
toll", "u" for "u.s."), or, for a phrase beginning with a mark, at that mark. So the text is cut
into whitespace-separated chunks once, each run is looked up in a dict from first runs to
phrases, and only those few phrases are compared with the text. The chunks are handed on: the
tokeniser reuses them (see :mod:`services.classifier.sentences`).
"""

from __future__ import annotations


class Hit:
    """A phrase found in a text: ``text[start:end]`` is the matched span. Compared by value.

    A plain class rather than a tuple or dataclass: a document yields dozens of hits, and
    compiled, building one and reading its fields are native operations.
    """

    __slots__ = ("end", "group", "ref", "start")

    def __init__(self, start: int, end: int, group: str, ref: int) -> None:
        self.start = start
        self.end = end
        self.group = group
        self.ref = ref

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        return (
            self.start == other.start
            and self.end == other.end
            and self.group == other.group
            and self.ref == other.ref
        )

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.group, self.ref))

    def __repr__(self) -> str:
        return f"Hit(start={self.start}, end={self.end}, group={self.group!r}, ref={self.ref})"


class _Phrase:
    """A registered phrase: its text and length, and its groups with their references.

    ``single`` says the phrase is one run of letters and digits, and so equal to the run it is
    filed under. Otherwise the two characters after that run (``probe``, ``probe + 1``) are
    compared first: most candidates differ there ("in" is followed by a space, "in the" by
    "t"), and two characters cost less to compare than the phrase.
    """

    __slots__ = ("first", "groups", "key", "probe", "refs", "second", "single", "size")

    def __init__(self, key: str, run: str, payload: list[tuple[str, int]]) -> None:
        self.key = key
        self.size = len(key)
        self.single = run == key
        self.probe = len(run)
        # Code points: compiled, comparing integers read out of the text builds no string.
        self.first = -1 if self.single else ord(key[self.probe])
        self.second = ord(key[self.probe + 1]) if self.probe + 1 < self.size else self.first
        self.groups = [g for g, _ in payload]
        self.refs = [r for _, r in payload]


def normalise(text: str) -> str:
    """Lower-case a text keeping its length, so offsets stay valid; unify apostrophes and dashes."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return low.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", "-").replace("\u2014", "-")


def chunks(low: str) -> tuple[list[str], list[int]]:
    """The whitespace-separated chunks of ``low`` and the offset where each starts."""
    parts = low.split()
    starts: list[int] = []
    if not parts:
        return parts, starts
    pos = low.find(parts[0])
    starts.append(pos)
    pos += len(parts[0])
    for k in range(1, len(parts)):
        part = parts[k]
        # The previous chunk ends at whitespace; chunks are mostly one space apart, which a
        # look at one character tells.
        at = pos + 1 if not low[pos + 1].isspace() else low.find(part, pos)
        starts.append(at)
        pos = at + len(part)
    return parts, starts


def single_spaced(low: str, parts: list[str]) -> bool:
    """Whether ``parts`` (the chunks of ``low``) start at 0 and lie exactly one character apart.

    Then the chunk offsets follow from the chunk lengths (see :func:`spaced_starts`), which most
    texts allow, so the offsets need not be looked up one by one.
    """
    total = len(parts) - 1
    for k in range(len(parts)):
        total += len(parts[k])
    return total == len(low)


def spaced_starts(parts: list[str]) -> list[int]:
    """The offsets of chunks that start at 0 and lie one character apart."""
    starts: list[int] = []
    pos = 0
    for k in range(len(parts)):
        starts.append(pos)
        pos += len(parts[k]) + 1
    return starts


def alnum_at(text: str, at: int) -> bool:
    """``text[at].isalnum()``, deciding ASCII by code point (compiled, no one-character string)."""
    c = ord(text[at])
    if c < 128:
        return 97 <= c <= 122 or 48 <= c <= 57 or 65 <= c <= 90
    return text[at].isalnum()


def _first_run(key: str) -> str:
    """The leading run of letters and digits of ``key`` ("" when it begins with a mark)."""
    for i, c in enumerate(key):
        if not c.isalnum():
            return key[:i]
    return key


class PhraseMatcher:
    """Find registered phrases in a text, whole words only.

    ``add(phrase, group, ref)`` registers a phrase under a group with an integer reference (an
    index into the caller's own table); one phrase may belong to several groups.
    """

    def __init__(self) -> None:
        self._payloads: dict[str, list[tuple[str, int]]] = {}
        self._by_run: dict[str, list[_Phrase]] = {}
        self._marked: list[_Phrase] = []  # phrases beginning with a mark ("'s", "-led")
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
        by_run: dict[str, list[_Phrase]] = {}
        marked: list[_Phrase] = []
        for key, payload in self._payloads.items():
            run = _first_run(key)
            entry = _Phrase(key, run, payload)
            if run:
                by_run.setdefault(run, []).append(entry)
            else:
                marked.append(entry)
        for entries in by_run.values():
            # Longest first, so the hits at one offset come out longest first.
            entries.sort(key=_longest_first)
        self._by_run = by_run
        self._marked = marked
        self._built = True

    def find(self, low: str) -> list[Hit]:
        """Scan an already normalised text; hits sorted by start then longest first.

        Hits of one phrase in several groups keep the order in which the groups were added.
        """
        parts, starts = chunks(low)
        return self.scan(low, parts, starts)

    def scan(self, low: str, parts: list[str], starts: list[int] | None) -> list[Hit]:
        """:meth:`find` given the text's :func:`chunks` (computed once, shared with the tokeniser).

        ``starts`` None says the chunks are :func:`single_spaced`: their offsets are then counted.
        """
        if not self._built:
            self.build()
        hits: list[Hit] = []
        by_run = self._by_run
        counted = starts is None
        offsets: list[int] = [] if starts is None else starts
        pos = 0
        for k in range(len(parts)):
            part = parts[k]
            if counted:
                at = pos
                pos += len(part) + 1
            else:
                at = offsets[k]
            if part.isalnum():
                # The whole chunk is one run, bounded by whitespace: a one-run phrase equal to it
                # matches without further checks.
                found = by_run.get(part)
                if found is not None:
                    _match(low, at, found, hits)
                continue
            head = part[:-1]
            if head.isalnum():  # "said," "day." (the last character is then a mark)
                found = by_run.get(head)
                if found is not None:
                    _match(low, at, found, hits)
                continue
            self._scan_runs(low, part, at, hits)
        if self._marked:
            self._scan_marked(low, hits)
        return hits

    def _scan_runs(self, low: str, part: str, at: int, hits: list[Hit]) -> None:
        """Look up every run of letters and digits in a chunk that also holds marks."""
        by_run = self._by_run
        n = len(part)
        i = 0
        while i < n:
            if not part[i].isalnum():
                i += 1
                continue
            j = i + 1
            while j < n and part[j].isalnum():
                j += 1
            found = by_run.get(part[i:j])
            if found is not None:
                _match(low, at + i, found, hits)
            i = j

    def _scan_marked(self, low: str, hits: list[Hit]) -> None:
        """Phrases beginning with a mark: found with ``str.find``, then merged in order."""
        last = len(low)
        for phrase in self._marked:
            start = low.find(phrase.key)
            while start >= 0:
                end = start + phrase.size
                if (start == 0 or not alnum_at(low, start - 1)) and (end == last or not alnum_at(low, end)):
                    for i in range(len(phrase.groups)):
                        hits.append(Hit(start, end, phrase.groups[i], phrase.refs[i]))
                start = low.find(phrase.key, start + 1)
        hits.sort(key=_start_longest_first)  # stable: a phrase's groups keep their order


def _match(low: str, start: int, found: list[_Phrase], hits: list[Hit]) -> None:
    """Add the hits of the phrases filed under the run that starts at ``start``."""
    last = len(low)
    for phrase in found:
        end = start + phrase.size
        if not phrase.single:
            if end > last:
                continue
            at = start + phrase.probe
            if ord(low[at]) != phrase.first or (at + 1 < end and ord(low[at + 1]) != phrase.second):
                continue
            # find() within exactly the phrase's span: a comparison without a slice.
            if low.find(phrase.key, start, end) < 0:
                continue
            if end < last and alnum_at(low, end):
                continue
        groups = phrase.groups
        refs = phrase.refs
        for i in range(len(groups)):
            hits.append(Hit(start, end, groups[i], refs[i]))


def _longest_first(phrase: _Phrase) -> int:
    return -phrase.size


def _start_longest_first(hit: Hit) -> tuple[int, int]:
    return hit.start, -hit.end
