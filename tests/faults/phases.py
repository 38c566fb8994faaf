"""Running one fault during one replay and accounting for every item and alert afterwards.

A phase pushes its items through the push API at a steady pace, injects its fault while they
flow, then waits (bounded) until the pipeline caught up: every item of the phase on the tagged
topic, every expected delivery at its sink, the outbox empty (XPENDING 0, group lag 0) and the
consumer groups of the classifier and the notifier at lag 0. Recovery time runs from the end of
the fault to that moment.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas import TopicKey, topic_name
from services.common.lag import group_lag
from tests.faults.sinks import FaultySlack, FaultySmtp, PartnerHook
from tests.faults.stack import (
    PrivateBroker,
    PrivateRedis,
    Pusher,
    Service,
    TaggedWatcher,
    outbox_state,
)
from tests.faults.workload import HOOK, MAIL, SLACK, SUBSCRIPTIONS, Phase, Received, Subscription, Workload

CATCH_UP_S = 75.0
SETTLE_S = 1.5  # after catching up, a repeat would show within this


@dataclass
class FaultWindow:
    """When the fault began and ended; ``crash_at`` (a SIGKILL of the notifier) opens the
    documented repeat window for sends that were in flight at that moment."""

    start: float
    end: float
    crash_at: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class SubscriptionResult:
    expected: int
    delivered: int
    missing: list[str]
    unexpected: list[str]
    duplicates: int
    repeats_in_crash_window: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "delivered": self.delivered,
            "missing": len(self.missing),
            "unexpected": len(self.unexpected),
            "duplicates": self.duplicates,
            "repeats_in_crash_window": self.repeats_in_crash_window,
        }


@dataclass
class PhaseResult:
    fault: str
    items: int
    accepted: int
    tagged_missing: list[str]
    alerts: int
    subscriptions: dict[str, SubscriptionResult]
    recovery_s: float | None
    outbox: dict[str, int]
    lags: dict[str, int | None]
    unplanned_exits: list[str]
    push_retries: dict[str, int]
    notes: dict[str, Any]

    @property
    def missing(self) -> int:
        return sum(len(s.missing) for s in self.subscriptions.values())

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.subscriptions.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "items": self.items,
            "accepted": self.accepted,
            "tagged_missing": len(self.tagged_missing),
            "alerts": self.alerts,
            "missing": self.missing,
            "duplicates": self.duplicates,
            "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 2),
            "subscriptions": {k: v.as_dict() for k, v in self.subscriptions.items()},
            "outbox": self.outbox,
            "consumer_lag": self.lags,
            "unplanned_exits": self.unplanned_exits,
            "push_retries": self.push_retries,
            "notes": self.notes,
        }


# Sends in flight at once per channel: a crash can repeat at most this many (rate-limited: one).
IN_FLIGHT = {SLACK: 1, HOOK: 8, MAIL: 8}


class Stack:
    """The private broker and Redis, the sinks, the three services and the tagged-topic watcher."""

    def __init__(
        self,
        *,
        workdir: Path,
        namespace: str,
        workload: Workload,
        broker: PrivateBroker,
        redis: PrivateRedis,
        slack: FaultySlack,
        hook: PartnerHook,
        smtp: FaultySmtp,
        services: dict[str, Service],
        ingest_url: str,
    ) -> None:
        self.workdir = workdir
        self.namespace = namespace
        self.workload = workload
        self.broker = broker
        self.redis = redis
        self.slack = slack
        self.hook = hook
        self.smtp = smtp
        self.services = services
        self.ingest_url = ingest_url
        self.watcher: TaggedWatcher | None = None
        self.results: list[PhaseResult] = []
        self.exits: list[str] = []

    # -- plumbing --------------------------------------------------------------------------
    def topic(self, key: TopicKey) -> str:
        return topic_name(key, self.namespace)

    def sink(self, sub: Subscription) -> FaultySlack | PartnerHook | FaultySmtp:
        return {SLACK: self.slack, HOOK: self.hook, MAIL: self.smtp}[sub]  # type: ignore[return-value]

    def received(self, sub: Subscription) -> list[Received]:
        return self.sink(sub).snapshot()

    def restart_exited(self) -> None:
        """Like a supervisor: start again what exited on its own, and remember that it did."""
        for name, service in self.services.items():
            if service.proc is not None and not service.alive():
                self.exits.append(f"{name} exited with {service.proc.returncode}")
                service.start()

    def lags(self) -> dict[str, int | None]:
        bootstrap = [self.broker.bootstrap]
        return {
            "classifier": group_lag(
                bootstrap, f"{self.namespace}-classifier", self.topic(TopicKey.RAW_ITEMS)
            ),
            "notifier": group_lag(
                bootstrap, f"{self.namespace}-notifier", self.topic(TopicKey.TAGGED_EVENTS)
            ),
        }

    def outbox(self) -> dict[str, int]:
        return outbox_state(self.redis.url, self.namespace, f"{self.namespace}-notifier")

    # -- a phase -------------------------------------------------------------------------
    def caught_up(self, phase: Phase) -> bool:
        assert self.watcher is not None
        if not phase.item_ids <= self.watcher.ids():
            return False
        for sub in SUBSCRIPTIONS:
            if not phase.expected[sub] <= {r.alert_id for r in self.received(sub)}:
                return False
        state = self.outbox()
        if state["pending"] or state["lag"]:
            return False
        return all(lag == 0 for lag in self.lags().values())

    def run_phase(
        self, name: str, fault: Callable[[Stack, Pusher], FaultWindow], replay_s: float = 6.0
    ) -> PhaseResult:
        phase = self.workload.phases[name]
        exits_before = len(self.exits)
        self.restart_exited()
        pusher = Pusher(self.ingest_url, phase.submissions, replay_s)
        pusher.start()
        window = fault(self, pusher)
        pusher.join(CATCH_UP_S)
        if pusher.is_alive():
            window.notes["pusher_stuck_at"] = pusher.stack()[-1500:]
        window.notes["pusher_trail"] = pusher.trail[-30:]
        pusher.cancel()
        deadline = time.monotonic() + CATCH_UP_S
        recovered: float | None = None
        while time.monotonic() < deadline:
            self.restart_exited()
            if not pusher.is_alive() and self.caught_up(phase):
                recovered = time.monotonic()
                break
            time.sleep(0.25)
        time.sleep(SETTLE_S)
        result = self._account(phase, pusher, window, recovered)
        result.unplanned_exits = self.exits[exits_before:]
        self.results.append(result)
        return result

    def _account(
        self, phase: Phase, pusher: Pusher, window: FaultWindow, recovered: float | None
    ) -> PhaseResult:
        assert self.watcher is not None
        subs: dict[str, SubscriptionResult] = {}
        every_expected = {
            a for p in self.workload.phases.values() for ids in p.expected.values() for a in ids
        }
        for sub in SUBSCRIPTIONS:
            received = self.received(sub)
            mine = [r for r in received if r.alert_id in phase.alert_ids]
            counts = Counter(r.alert_id for r in mine)
            repeats = 0
            duplicates = 0
            for alert_id, n in counts.items():
                if n == 1:
                    continue
                copies = sorted((r for r in mine if r.alert_id == alert_id), key=lambda r: r.at)
                if window.crash_at is not None and n == 2 and _in_crash_window(copies, window):
                    repeats += 1
                else:
                    duplicates += n - 1
            if repeats > IN_FLIGHT[sub]:
                duplicates += repeats - IN_FLIGHT[sub]
                repeats = IN_FLIGHT[sub]
            subs[str(sub)] = SubscriptionResult(
                expected=len(phase.expected[sub]),
                delivered=len(counts),
                missing=sorted(phase.expected[sub] - set(counts)),
                unexpected=sorted(
                    ({r.alert_id for r in mine} - phase.expected[sub])
                    | {r.alert_id for r in received if r.alert_id not in every_expected}
                ),
                duplicates=duplicates,
                repeats_in_crash_window=repeats,
            )
        return PhaseResult(
            fault=phase.name,
            items=len(phase.items),
            accepted=len(set(pusher.accepted) & phase.item_ids),
            tagged_missing=sorted(phase.item_ids - self.watcher.ids()),
            alerts=len(phase.alerts),
            subscriptions=subs,
            recovery_s=None if recovered is None else max(0.0, recovered - window.end),
            outbox=self.outbox(),
            lags=self.lags(),
            unplanned_exits=[],
            push_retries=dict(pusher.retries),
            notes={
                **window.notes,
                **({"push_error": pusher.error} if pusher.error else {}),
            },
        )


def _in_crash_window(copies: list[Received], window: FaultWindow) -> bool:
    """Two copies with one receiver key: the first taken before the crash, the second after the
    restart: a send the channel accepted whose "sent" marker the crash kept from being written."""
    assert window.crash_at is not None
    first, second = copies
    return first.key == second.key and first.at <= window.crash_at and second.at >= window.crash_at


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (after {timeout_s:.0f}s)")
        time.sleep(0.1)
    return time.monotonic()
