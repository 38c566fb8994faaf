"""The stop-switch: halt the service instead of dead-lettering most of the traffic.

Like arroyo's ``DlqLimit``: a message may be dead-lettered only while, over a sliding window of
recent outcomes, the share of dead letters stays at or below ``max_ratio`` (checked once the
window holds ``min_messages``) and fewer than ``max_consecutive`` dead letters came in a row. A
broken deployment (a bad taxonomy, an incompatible producer) then stops with a clear reason
instead of emptying the topic into the DLQ. Pure: the caller passes the clock readings.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class DlqLimitConfig:
    max_ratio: float = 0.5
    max_consecutive: int = 200
    window_s: float = 60.0
    min_messages: int = 50


class DeadLetterLimitExceeded(RuntimeError):
    """Raised by :meth:`DlqLimit.check_dead_letter`; the message says which limit and why."""


class DlqLimit:
    def __init__(self, config: DlqLimitConfig | None = None) -> None:
        self.config = config or DlqLimitConfig()
        self._outcomes: deque[tuple[float, bool]] = deque()  # (monotonic time, dead-lettered)
        self._dead = 0
        self._consecutive = 0

    def _trim(self, now: float) -> None:
        horizon = now - self.config.window_s
        while self._outcomes and self._outcomes[0][0] < horizon:
            _, dead = self._outcomes.popleft()
            self._dead -= dead

    def record_ok(self, now: float) -> None:
        self._trim(now)
        self._outcomes.append((now, False))
        self._consecutive = 0

    def check_dead_letter(self, now: float) -> None:
        """Record one more dead letter, or raise if it would break a limit (then nothing is recorded)."""
        self._trim(now)
        consecutive = self._consecutive + 1
        if consecutive >= self.config.max_consecutive:
            raise DeadLetterLimitExceeded(
                f"{consecutive} consecutive messages would be dead-lettered "
                f"(limit {self.config.max_consecutive})"
            )
        total = len(self._outcomes) + 1
        dead = self._dead + 1
        if total >= self.config.min_messages and dead / total > self.config.max_ratio:
            raise DeadLetterLimitExceeded(
                f"{dead} of the last {total} messages would be dead-lettered within "
                f"{self.config.window_s:g}s (ratio {dead / total:.2f} > limit {self.config.max_ratio:g})"
            )
        self._outcomes.append((now, True))
        self._dead += 1
        self._consecutive = consecutive
