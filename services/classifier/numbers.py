"""Reading quantities ("at least 12", "two dozen", "between 15 and 20") from token texts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

_UNITS: Final = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS: Final = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
_SCALES: Final = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_UNITS_AFTER: Final = frozenset(
    {
        "percent",
        "pc",
        "%",
        "km",
        "kilometres",
        "kilometers",
        "miles",
        "hours",
        "minutes",
        "days",
        "weeks",
        "months",
        "years",
        "am",
        "pm",
        "points",
        "metres",
        "meters",
    }
)


def word_value(word: str) -> int | None:
    """Value of a single number word such as 'seven' or 'twenty-three'; None if not one."""
    if word in _UNITS:
        return _UNITS[word]
    if word in _TENS:
        return _TENS[word]
    if "-" in word:
        head, _, tail = word.partition("-")
        if head in _TENS and tail in _UNITS and 0 < _UNITS[tail] < 10:
            return _TENS[head] + _UNITS[tail]
    return None


class Quantity:
    """A quantity found at ``start``..``end`` (token indices, end exclusive).

    ``value`` is None for vague amounts ("dozens"); ``among`` marks "among N", which names a total.
    """

    # A plain class rather than a dataclass: compiled, its __init__ is native code too.
    __slots__ = ("among", "end", "implicit", "start", "value")

    def __init__(
        self, value: int | None, start: int, end: int, among: bool = False, implicit: bool = False
    ) -> None:
        self.value = value
        self.start = start
        self.end = end
        self.among = among
        self.implicit = implicit


class NumberReader:
    """Parse quantities using fixed number words plus the taxonomy's vocabulary."""

    def __init__(
        self,
        approximations: Iterable[str],
        vague: Iterable[str],
        extra: Mapping[str, int],
        max_value: int | None = None,
        guarded: Mapping[str, int] | None = None,
        guarded_next: Iterable[str] = (),
    ) -> None:
        """``max_value`` bounds a countable amount: a number above it is no quantity at all.

        ``guarded`` number words count only right before a word of ``guarded_next`` ("do zakhmi":
        two wounded; "do not" is no number).
        """
        phrases = sorted((tuple(p.lower().split()) for p in approximations), key=len, reverse=True)
        self._approx: dict[str, list[tuple[str, ...]]] = {}
        for phrase in phrases:
            if phrase:
                self._approx.setdefault(phrase[0], []).append(phrase)
        self._vague = frozenset(v.lower() for v in vague)
        self._extra = {k.lower(): v for k, v in extra.items()}
        self._guarded = {k.lower(): v for k, v in (guarded or {}).items()}
        self._guarded_next = frozenset(w.lower() for w in guarded_next)
        self._max: float = float("inf") if max_value is None else float(max_value)
        # Words a quantity can begin with, besides digits and hyphenated numbers ("twenty-one"):
        # most tokens are none of these, and :meth:`read` rejects them at once.
        self._openers = frozenset(
            {
                "between",
                "a",
                "an",
                "half",
                *self._approx,
                *self._vague,
                *self._extra,
                *self._guarded,
                *_UNITS,
                *_TENS,
            }
        )

    def _atom(self, toks: list[str], i: int) -> tuple[int | None, int, bool] | None:
        """(value, next index, vague) for a bare number at ``i``."""
        if i >= len(toks):
            return None
        w = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if w[0].isdigit():
            if nxt in _UNITS_AFTER or (i > 0 and toks[i - 1] in {"$", "g", "no"}):
                return None
            try:
                number = float(w.replace(",", ""))
            except ValueError:
                return None
            if number > self._max:  # also too long for a float (infinity)
                return None
            value = int(number)
            j = i + 1
            if nxt in _SCALES and nxt != "hundred":
                value *= _SCALES[nxt]
                j += 1
            return (value, j, False) if value <= self._max else None
        if w in ("a", "an") and nxt == "dozen":
            return 12, i + 2, False
        if w == "a" and nxt == "score" and i + 2 < len(toks) and toks[i + 2] == "of":
            return 20, i + 2, False  # "a score of people": twenty (a match's score has no "of")
        if w == "half" and nxt == "a" and i + 2 < len(toks) and toks[i + 2] == "dozen":
            return 6, i + 3, False
        if w in self._vague:
            return None, i + 1, True
        base = word_value(w)
        if base is None:
            base = self._extra.get(w)
        if base is None and nxt in self._guarded_next:
            base = self._guarded.get(w)
        if base is None:
            return None
        j = i + 1
        if j < len(toks) and toks[j] == "dozen":
            return (base * 12, j + 1, False) if base * 12 <= self._max else None
        if j < len(toks) and toks[j] in ("dozens", "hundreds", "thousands"):
            return None, j + 1, True
        if j < len(toks) and toks[j] in _SCALES:
            base *= _SCALES[toks[j]]
            j += 1
            if j + 1 < len(toks) and toks[j] == "and" and word_value(toks[j + 1]) is not None:
                base += word_value(toks[j + 1]) or 0
                j += 2
        if nxt in _UNITS_AFTER or base > self._max:
            return None
        return base, j, False

    def may_open(self, word: str) -> bool:
        """Whether a quantity can begin with ``word`` (when False, :meth:`read` returns None)."""
        return word in self._openers or word[0].isdigit() or "-" in word

    def read(self, toks: list[str], i: int) -> Quantity | None:
        """Quantity starting at token ``i`` (modifiers included), or None."""
        if i >= len(toks):
            return None
        first = toks[i]
        if first not in self._openers and not first[0].isdigit() and "-" not in first:
            return None
        start = i
        among = i > 0 and toks[i - 1] == "among"
        between = False
        if i < len(toks) and toks[i] == "between":
            between = True
            i += 1
        if i < len(toks):
            for phrase in self._approx.get(toks[i], ()):
                if tuple(toks[i : i + len(phrase)]) == phrase:
                    i += len(phrase)
                    break
        atom = self._atom(toks, i)
        if atom is None:
            return None
        value, j, vague = atom
        if vague:
            return Quantity(None, start, j, among)
        if _is_age(toks, j):
            return None  # "a 62-year-old woman": an age, not a count
        # ranges: "15 to 20", "45-50", "between 15 and 20" -> lower bound
        if j + 1 < len(toks) and toks[j] in ("to", "-", "and", "or") and (between or toks[j] != "and"):
            nxt = self._atom(toks, j + 1)
            if nxt is not None and nxt[0] is not None:
                j = nxt[1]
        return Quantity(value, start, j, among)

    def find_after(self, toks: list[str], i: int, limit: int) -> Quantity | None:
        """First quantity beginning within ``limit`` tokens from ``i`` (stops at clause punctuation)."""
        openers = self._openers
        for k in range(i, min(len(toks), i + limit)):
            w = toks[k]
            if w in (".", ";", ":"):
                return None
            if w not in openers and not w[0].isdigit() and "-" not in w:
                continue
            q = self.read(toks, k)
            if q is not None:
                return q
        return None


_AGE_WORDS: Final = frozenset({"year-old", "years-old", "month-old", "months-old"})


def _is_age(toks: list[str], j: int) -> bool:
    """The number ending before token ``j`` is an age: "62-year-old", "7 year old", "30 years old"."""
    if j >= len(toks):
        return False
    nxt = toks[j]
    if nxt == "-" and j + 1 < len(toks):
        nxt = toks[j + 1]
    if nxt in _AGE_WORDS:
        return True
    return nxt in ("year", "years", "month", "months") and j + 1 < len(toks) and toks[j + 1] == "old"
