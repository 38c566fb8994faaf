"""From one decided alert to the deliveries it needs: routes, filters, silences, inhibition. Pure.

Stages, each a function tested alone: :func:`plan_deliveries` expands a rule's routes into
(subscriber, channel) pairs the subscriber's filters accept; silences drop pairs of a muted alert
(:mod:`services.notifier.silences`); :func:`inhibition` says whether the alert sets or is
subject to an inhibition for its group (the store checks and records it atomically with the sent
markers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from schemas.alerts import AlertV1
from schemas.common import Severity
from services.notifier.channels.base import delivery_key
from services.notifier.rules import group_token
from services.notifier.subscribers import ResolvedTarget, Subscriber, SubscriberFile, wants


@dataclass(frozen=True)
class PlannedDelivery:
    alert: AlertV1
    subscriber: Subscriber
    target: ResolvedTarget

    @property
    def key(self) -> str:
        return delivery_key(self.alert.alert_id, self.subscriber.id, self.target.target.name)

    @property
    def digest(self) -> bool:
        return self.subscriber.mode == "digest"


def plan_deliveries(
    alert: AlertV1,
    routes: Sequence[str],
    subscribers: SubscriberFile,
    targets: Sequence[ResolvedTarget],
) -> list[PlannedDelivery]:
    """Every (subscriber, channel) the alert goes to, in route order."""
    planned: list[PlannedDelivery] = []
    for sub in subscribers.expand(list(routes)):
        if not wants(sub, alert):
            continue
        planned.extend(PlannedDelivery(alert, sub, t) for t in targets if t.subscriber == sub.id)
    return planned


InhibitionMode = Literal["set", "check", "none"]


def inhibition(alert: AlertV1) -> tuple[InhibitionMode, str]:
    """A critical alert for a group mutes lower ones for the same group (for a bounded time).

    Returns ("set", token) for a critical alert, ("check", token) for a lower one, and
    ("none", "") for alerts without a group: an ungrouped critical would mute everything.
    """
    if not alert.group:
        return "none", ""
    token = group_token(alert.group)
    if alert.severity == Severity.CRITICAL:
        return ("set", token) if alert.status == "firing" else ("none", "")
    return "check", token
