"""When each replayed item is due: as fast as possible, at a fixed rate, or at a speed-up of the
original gaps between publication times. Pure."""

from __future__ import annotations

from datetime import datetime


class Pacer:
    """``due(index, published_at)`` is the offset in seconds from the start of the replay.

    With ``speedup`` the gaps between items' publication times are kept, divided by
    ``speedup``; an item older than the first one is due at once (files are not always sorted).
    """

    def __init__(self, *, rate: float | None = None, speedup: float | None = None) -> None:
        if rate is not None and speedup is not None:
            raise ValueError("give either a rate or a speed-up, not both")
        if (rate is not None and rate <= 0) or (speedup is not None and speedup <= 0):
            raise ValueError("rate and speed-up must be positive")
        self.rate = rate
        self.speedup = speedup
        self._first: datetime | None = None

    @property
    def paced(self) -> bool:
        return self.rate is not None or self.speedup is not None

    def due(self, index: int, published_at: datetime) -> float:
        if self.rate is not None:
            return index / self.rate
        if self.speedup is not None:
            if self._first is None:
                self._first = published_at
            return max(0.0, (published_at - self._first).total_seconds() / self.speedup)
        return 0.0
