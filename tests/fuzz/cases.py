"""How many generated cases each fuzz test ran; printed at the end of the session."""

from __future__ import annotations

from collections import Counter

CASES: Counter[str] = Counter()


def ran(name: str, n: int = 1) -> None:
    CASES[name] += n
