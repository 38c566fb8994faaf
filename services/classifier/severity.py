"""Ordered severity rules from the taxonomy: the first rule that matches wins."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.common import Label, Severity
from schemas.tagged_events import Figures
from services.classifier.taxonomy import SeverityRule


class _Rule:
    """A severity rule's condition, read out of the validated model once."""

    __slots__ = ("labels_all", "labels_any", "min_injured", "min_killed", "severity")

    def __init__(self, rule: SeverityRule) -> None:
        when = rule.when
        self.labels_all = frozenset(when.labels_all)
        self.labels_any = frozenset(when.labels_any)
        self.min_killed = when.min_killed
        self.min_injured = when.min_injured
        self.severity = rule.severity

    def matches(self, labels: set[Label], killed: int | None, injured: int | None) -> bool:
        if self.labels_all and not self.labels_all <= labels:
            return False
        if self.labels_any and self.labels_any.isdisjoint(labels):
            return False
        if self.min_killed is not None and (killed is None or killed < self.min_killed):
            return False
        return not (self.min_injured is not None and (injured is None or injured < self.min_injured))


class SeverityRules:
    """The taxonomy's rules, prepared for assessing many events."""

    def __init__(self, rules: Sequence[SeverityRule], default: Severity) -> None:
        self._rules = [_Rule(rule) for rule in rules]
        self._default = default

    def assess(self, labels: Sequence[Label], figures: Figures) -> Severity:
        present = set(labels)
        killed, injured = figures.killed, figures.injured
        for rule in self._rules:
            if rule.matches(present, killed, injured):
                return rule.severity
        return self._default


def assess(
    rules: Sequence[SeverityRule], default: Severity, labels: Sequence[Label], figures: Figures
) -> Severity:
    """Severity of an event with ``labels`` and ``figures`` (see :class:`SeverityRules`)."""
    return SeverityRules(rules, default).assess(labels, figures)
