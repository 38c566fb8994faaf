"""``borderwatch rules test`` and the validation of every rule type's settings."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from services.cli import app
from services.notifier.rules import Rule
from tests.unit.notifier.rule_cases import T0, ev

RULES = """
    version: 1
    rules:
      - id: closed
        title: Crossing closed
        type: count
        match: {labels: [closure]}
        group_by: [crossing]
        threshold: 2
        severity: high
        routes: [ops]
      - id: torkham
        title: Crossing status
        type: state
        state: crossing
        severity: high
        routes: [ops]
"""


def test_rules_test_prints_json_lines_in_event_time_order(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    events = [
        ev("c", T0 + timedelta(hours=5), labels=["closure"], crossings=[("Torkham", "reopened")]),
        ev("a", T0, labels=["closure"], crossings=[("Torkham", "closed")]),
        ev("b", T0 + timedelta(hours=1), labels=["closure"], crossings=[("Torkham", "closed")]),
    ]
    (tmp_path / "events.jsonl").write_text("".join(e.model_dump_json() + "\n" for e in events))
    args = [
        "rules",
        "test",
        "--rules",
        str(tmp_path / "rules.yaml"),
        "--events",
        str(tmp_path / "events.jsonl"),
    ]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(x["rule"], x["status"], x["at"], x["events"]) for x in lines] == [
        ("torkham", "firing", "2025-10-12T06:00:00Z", ["ev-a"]),
        ("closed", "firing", "2025-10-12T07:00:00Z", ["ev-a", "ev-b"]),
        ("torkham", "resolved", "2025-10-12T11:00:00Z", ["ev-c"]),
    ]
    assert set(lines[0]) == {"rule", "group", "status", "at", "severity", "events"}
    assert lines[0]["group"] == {"crossing": "Torkham"} and lines[0]["severity"] == "high"
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0 and "[resolved]" in text.output.replace(" ", "")


def test_rules_test_names_the_bad_line(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    (tmp_path / "events.jsonl").write_text(ev("a").model_dump_json() + "\n{not json\n")
    args = [
        "rules",
        "test",
        "--rules",
        str(tmp_path / "rules.yaml"),
        "--events",
        str(tmp_path / "events.jsonl"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "events.jsonl:2" in result.output


BASE = {"id": "r", "title": "T", "severity": "high", "routes": ["ops"]}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"type": "sum"}, "needs 'figure'"),
        ({"type": "spike"}, "needs 'factor'"),
        ({"type": "spike", "factor": 1}, "greater than 1"),
        ({"type": "state"}, "needs 'state'"),
        ({"type": "state", "state": "crossing", "group_by": ["place"]}, "own subject"),
        ({"type": "revision", "figure": "killed"}, "min_increase"),
        ({"type": "new_term"}, "needs 'term'"),
        ({"type": "corroborated"}, "threshold >= 2"),
        ({"type": "flatline", "group_by": ["place"]}, "by source only"),
        ({"type": "count", "lateness": "91d"}, "at most 90d"),
        ({"type": "count", "routes": []}, "at least 1"),
    ],
)
def test_rule_type_settings_are_checked(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Rule.model_validate({**BASE, **settings})


def test_escalation_raises_severity_only() -> None:
    rule = Rule.model_validate(
        {
            **BASE,
            "type": "sum",
            "figure": "killed",
            "escalate": [{"at_least": 5, "severity": "low"}, {"at_least": 9, "severity": "critical"}],
        }
    )
    assert (rule.severity_for(1), rule.severity_for(6), rule.severity_for(9)) == ("high", "high", "critical")
