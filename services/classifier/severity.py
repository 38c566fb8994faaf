"""Ordered severity rules from the taxonomy: the first rule that matches wins."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.common import Label, Severity
from schemas.tagged_events import Figures
from services.classifier.taxonomy import SeverityRule


def _matches(rule: SeverityRule, labels: set[Label], figures: Figures) -> bool:
    when = rule.when
    if when.labels_all and not set(when.labels_all) <= labels:
        return False
    if when.labels_any and not set(when.labels_any) & labels:
        return False
    if when.min_killed is not None and (figures.killed is None or figures.killed < when.min_killed):
        return False
    return not (
        when.min_injured is not None and (figures.injured is None or figures.injured < when.min_injured)
    )


def assess(
    rules: Sequence[SeverityRule], default: Severity, labels: Sequence[Label], figures: Figures
) -> Severity:
    present = set(labels)
    for rule in rules:
        if _matches(rule, present, figures):
            return rule.severity
    return default
