from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import Place
from services.common.yaml_config import ConfigError
from services.notifier.evaluate import InMemoryRuleState, RuleEngine, plan_updates
from services.notifier.rules import RuleSet, alert_id, groups_of, load_rules, matches, window_start
from tests.unit.notifier.rule_cases import T0
from tests.unit.notifier.rule_cases import ev as event


def ruleset(yaml_text: str, tmp_path: Path) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(yaml_text))
    return load_rules(path)


CLOSED_TWICE = """
    version: 1
    rules:
      - id: closed
        title: Crossing closed
        type: count
        match: {labels: [closure], crossing_states: [closed, partially_open]}
        group_by: [crossing]
        window: 1d
        threshold: 2
        severity: high
        routes: [console]
"""


def test_config_errors_name_file_line_and_field(tmp_path: Path) -> None:
    text = CLOSED_TWICE.replace("threshold: 2", "threshold: 0")
    with pytest.raises(ConfigError) as info:
        ruleset(text, tmp_path)
    message = str(info.value)
    assert f"{tmp_path / 'rules.yaml'}:10" in message
    assert "rules.0.threshold" in message


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("window: 1d", "window: 1 fortnight"),
        ("routes: [console]", "routes: [Pager!]"),
        ("routes: [console]", "routes: []"),
        ("type: count", "type: sometimes"),
    ],
)
def test_invalid_values_are_refused(tmp_path: Path, bad: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=r"rules\.0\."):
        ruleset(CLOSED_TWICE.replace(bad, fragment), tmp_path)


def test_duplicate_rule_ids_and_unknown_fields_are_refused(tmp_path: Path) -> None:
    doubled = CLOSED_TWICE + textwrap.indent(textwrap.dedent(CLOSED_TWICE).split("rules:\n", 1)[1], "    ")
    with pytest.raises(ConfigError, match="used twice"):
        ruleset(doubled, tmp_path)
    with pytest.raises(ConfigError, match="Extra inputs"):
        ruleset(CLOSED_TWICE.replace("severity: high", "severity: high\n        colour: red"), tmp_path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_rules(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_rules(tmp_path / "empty.yaml")


def test_match_and_groups(tmp_path: Path) -> None:
    rule = ruleset(CLOSED_TWICE, tmp_path).rules[0]
    closed = event("a", labels=["closure"], crossings=[("Torkham", "closed"), ("Chaman", "reopened")])
    assert matches(rule, closed)
    assert groups_of(rule, closed) == [{"crossing": "Torkham"}]
    reopened = event("b", labels=[], crossings=[("Torkham", "reopened")])
    assert not matches(rule, reopened)


def test_tumbling_windows_are_utc_days_and_ids_are_stable(tmp_path: Path) -> None:
    rule = ruleset(CLOSED_TWICE, tmp_path).rules[0]
    assert window_start(rule, datetime(2025, 10, 12, 23, 59, tzinfo=UTC)) == datetime(
        2025, 10, 12, tzinfo=UTC
    )
    assert window_start(rule, datetime(2025, 10, 13, 0, 0, tzinfo=UTC)) == datetime(2025, 10, 13, tzinfo=UTC)
    a = alert_id("closed", {"crossing": "Torkham"}, T0)
    assert a == alert_id("closed", {"crossing": "Torkham"}, T0)
    assert a != alert_id("closed", {"crossing": "Chaman"}, T0)


async def test_count_rule_fires_once_at_threshold_and_ignores_redelivery(tmp_path: Path) -> None:
    state = InMemoryRuleState()
    engine = RuleEngine(ruleset(CLOSED_TWICE, tmp_path), state)
    first = event("a", labels=["closure"], crossings=[("Torkham", "closed")], source="wire")
    second = event("b", labels=["closure"], crossings=[("Torkham", "closed")], source="daily")
    assert await engine.observe(first, T0) == []
    assert await engine.observe(first, T0) == []  # the same event again does not count twice
    fired = await engine.observe(second, T0)
    assert [(a.rule_id, a.group) for a in fired] == [("closed", {"crossing": "Torkham"})]
    alert = fired[0]
    assert [e.item_id for e in alert.events] == ["a", "b"]
    assert (alert.event_count, alert.source_count, alert.fired_at) == (2, 2, T0)
    third = event("c", labels=["closure"], crossings=[("Torkham", "closed")])
    assert await engine.observe(third, T0) == []  # one alert per window
    assert state.outbox == [alert]


async def test_next_day_is_a_new_window(tmp_path: Path) -> None:
    engine = RuleEngine(ruleset(CLOSED_TWICE, tmp_path), InMemoryRuleState())
    day2 = datetime(2025, 10, 13, 1, tzinfo=UTC)
    assert await engine.observe(event("a", labels=["closure"], crossings=[("Torkham", "closed")]), T0) == []
    assert (
        await engine.observe(event("b", labels=["closure"], crossings=[("Torkham", "closed")], at=day2), T0)
        == []
    )


ANY_VIOLATION = """
    version: 1
    rules:
      - id: violation
        title: Ceasefire violation
        type: any
        match: {labels: [ceasefire_violation], region: af-pak, min_severity: medium}
        severity: critical
        routes: [console, webhook]
"""


async def test_any_rule_fires_per_item_once(tmp_path: Path) -> None:
    rules = ruleset(ANY_VIOLATION, tmp_path)
    engine = RuleEngine(rules, InMemoryRuleState())
    a = event("a", labels=["ceasefire_violation"])
    b = event("b", labels=["ceasefire_violation"])
    assert len(await engine.observe(a, T0)) == 1
    assert await engine.observe(a, T0) == []
    assert len(await engine.observe(b, T0)) == 1
    assert plan_updates(rules, event("c", labels=["ceasefire_violation"], region="other")) == []
    assert plan_updates(rules, event("d", labels=["ceasefire_violation"], severity="low")) == []


def test_place_kinds_restrict_matching_and_groups(tmp_path: Path) -> None:
    rules = ruleset(
        """
        version: 1
        rules:
          - id: hurt
            title: Casualties
            type: count
            match: {labels: [casualties], place_kinds: [district, city]}
            group_by: [place]
            threshold: 2
            severity: high
            routes: [console]
        """,
        tmp_path,
    )
    rule = rules.rules[0]
    ev = event("a", labels=["casualties"], places=["Kurram"])
    ev = ev.model_copy(
        update={"places": [*ev.places, Place(name="Pakistan", mention="Pakistan", kind="country")]}
    )
    assert groups_of(rule, ev) == [{"place": "Kurram"}]
    only_country = ev.model_copy(
        update={"places": [Place(name="Pakistan", mention="Pakistan", kind="country")]}
    )
    assert not matches(rule, only_country)
