"""When to poll a feed next, and when the broker may be tried again. Pure; clocks are injected.

A feed that succeeds is polled every ``interval`` seconds with +/- ``jitter`` so that feeds with
the same interval spread out; a feed that fails backs off exponentially (doubling per
consecutive failure) up to ``cap`` seconds, also jittered.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

JITTER = 0.1


def next_poll_delay(
    interval_s: float,
    consecutive_failures: int,
    *,
    backoff_cap_s: float,
    rand: Callable[[], float] = random.random,
    jitter: float = JITTER,
) -> float:
    """Seconds until the next poll; ``rand`` returns a float in [0, 1)."""
    if consecutive_failures <= 0:
        base = interval_s
    else:
        # Cap the exponent first: 2**1000 would overflow a float.
        base = min(backoff_cap_s, interval_s * 2 ** min(consecutive_failures, 30))
        base = max(base, min(interval_s, backoff_cap_s))
    spread = base * jitter
    return max(0.0, base - spread + 2 * spread * rand())


@dataclass
class BrokerGate:
    """Remembers that the broker failed, so callers can refuse work at once (503, paused polling).

    After a failure the gate stays closed for ``retry_after_s``; then one attempt is let through
    (half-open). A success opens it again.
    """

    retry_after_s: float
    now: Callable[[], float]
    _closed_until: float = 0.0
    _failing: bool = False

    def allow(self) -> bool:
        return not self._failing or self.now() >= self._closed_until

    @property
    def available(self) -> bool:
        return not self._failing

    def seconds_until_retry(self) -> float:
        return max(0.0, self._closed_until - self.now())

    def record_failure(self) -> None:
        self._failing = True
        self._closed_until = self.now() + self.retry_after_s

    def record_success(self) -> None:
        self._failing = False
        self._closed_until = 0.0
