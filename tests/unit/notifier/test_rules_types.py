"""Every rule type, table-driven (tests/unit/notifier/rule_cases.py), on the in-memory store.

The clock is the scenario's: events carry their event time and ticks name theirs.
"""

from __future__ import annotations

import pytest

from services.notifier.evaluate import RuleEngine
from services.notifier.state_store import InMemoryRuleState
from tests.unit.notifier.rule_cases import CASES, Case, describe, ruleset, run_step


@pytest.mark.parametrize("case", CASES, ids=[c.name.split(":")[0] + f"-{i}" for i, c in enumerate(CASES)])
async def test_rule_type(case: Case) -> None:
    store = InMemoryRuleState()
    engine = RuleEngine(ruleset(case.rule), store)
    queued = 0
    for number, (item, expected) in enumerate(case.steps, start=1):
        fired = await run_step(engine, item)
        assert sorted(describe(a) for a in fired) == sorted(expected), f"{case.name}: step {number}"
        # Every returned alert was queued in the outbox by the step that decided it.
        assert store.outbox[queued:] == fired, f"{case.name}: step {number}"
        queued = len(store.outbox)
