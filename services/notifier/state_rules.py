"""The ``state`` rule's state machine, pure: observed signals, hold-down, fire and resolve.

A group (one crossing, or one region's ceasefire) has a *confirmed* state (what subscribers were
last told) and a *candidate* state (what the latest report says, since when). A candidate that
differs from the confirmed state becomes confirmed once it has persisted for the rule's
``hold_down`` (on event time when a newer report arrives, on the clock when ``tick`` runs), so a
crossing reported closed and reopened within the hold-down never alerts (no flapping).

Crossings: reports say closed, partially_open or reopened (= ``open``, the normal state).
Ceasefire: a violation report sets ``violated``; the ceasefire is ``holding`` again (normal)
once ``quiet_for`` has passed since the last violation report, on event time. The tagger has
no "holding" signal; silence from every source is the only evidence a truce holds.

Leaving the normal state fires an alert; a change between two abnormal states (closed →
partially_open) fires a new alert; returning to normal sends a resolve notice for the latest
firing alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.common import CrossingState
from services.notifier.rules import Rule

NORMAL = {"crossing": "open", "ceasefire": "holding"}
CROSSING_SIGNAL = {
    CrossingState.CLOSED: "closed",
    CrossingState.PARTIALLY_OPEN: "partially_open",
    CrossingState.REOPENED: "open",
}


@dataclass(frozen=True)
class Transition:
    previous: str
    state: str
    since: float
    at: float
    evidence: dict[str, Any] | None


def new_doc(rule: Rule) -> dict[str, Any]:
    normal = NORMAL[rule.state or "crossing"]
    return {"confirmed": normal, "candidate": normal, "since": None, "last": None, "evidence": None}


def is_normal(rule: Rule, state: str) -> bool:
    return state == NORMAL[rule.state or "crossing"]


def pending(rule: Rule, doc: dict[str, Any]) -> bool:
    """Whether time alone may still change this group (a tick should look at it)."""
    return doc["candidate"] != doc["confirmed"] or (
        rule.state == "ceasefire" and not is_normal(rule, doc["candidate"])
    )


def _confirm(rule: Rule, doc: dict[str, Any], at: float) -> list[Transition]:
    since = doc["since"]
    if doc["candidate"] == doc["confirmed"] or since is None:
        return []
    if at - since < rule.hold_down.total_seconds():
        return []
    previous, doc["confirmed"] = doc["confirmed"], doc["candidate"]
    return [Transition(previous, doc["candidate"], since, at, doc["evidence"])]


def advance(rule: Rule, doc: dict[str, Any], at: float) -> list[Transition]:
    """Confirm what has persisted until ``at``; for a ceasefire, let quiet time restore holding."""
    changes: list[Transition] = []
    if rule.state == "ceasefire" and doc["candidate"] == "violated" and doc["last"] is not None:
        quiet_end = doc["last"] + rule.quiet_for.total_seconds()
        if at >= quiet_end:
            changes += _confirm(rule, doc, quiet_end)
            doc.update(candidate="holding", since=quiet_end, evidence=None)
    return changes + _confirm(rule, doc, at)


def observe(
    rule: Rule, doc: dict[str, Any], state: str, at: float, evidence: dict[str, Any]
) -> list[Transition]:
    """Apply one report saying ``state`` at event time ``at``; reports older than the latest are
    ignored (they cannot tell us the current state)."""
    if doc["last"] is not None and at < doc["last"]:
        return []
    changes = advance(rule, doc, at)
    doc["last"] = at
    if state != doc["candidate"]:
        doc.update(candidate=state, since=at, evidence=evidence)
    return changes + _confirm(rule, doc, at)
