"""The Prometheus configuration, alerting rules and their unit tests, checked with promtool.

promtool comes with Debian's ``prometheus`` package (``scripts/prometheus.sh setup``). Without it
the tests fail under CI and are skipped with a loud reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "deploy" / "prometheus"
RULES = sorted((PROM_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool is not installed (run scripts/prometheus.sh setup)")
    assert path is not None
    return path


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def _alerts() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule
    return found


def test_rules_pass_promtool_check(promtool: str) -> None:
    assert RULES
    result = _run(promtool, "check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_prometheus_config_passes_promtool_check(promtool: str) -> None:
    result = _run(promtool, "check", "config", str(PROM_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    # The relative rule_files glob must find the rules, or Prometheus would run without alerts.
    assert f"SUCCESS: {len(RULES)} rule files found" in result.stdout + result.stderr


def test_local_prometheus_config_passes_promtool_check(promtool: str, tmp_path: Path) -> None:
    env = {**os.environ, "BW_VAR_DIR": str(tmp_path), "BW_PROMETHEUS_SCRAPE_INTERVAL": "1s"}
    written = subprocess.run(
        [str(ROOT / "scripts" / "prometheus.sh"), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    config = Path(written.stdout.strip().splitlines()[-1])
    assert config.is_relative_to(tmp_path)
    result = _run(promtool, "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"] for job in yaml.safe_load(config.read_text())["scrape_configs"]}
    assert {"ingest", "classifier", "notifier"} <= jobs


def test_rule_unit_tests_pass(promtool: str) -> None:
    assert RULE_TESTS
    result = _run(promtool, "test", "rules", *(p.name for p in RULE_TESTS), cwd=PROM_DIR / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_is_tested_firing_and_quiet() -> None:
    """Each alert has a unit test where it fires and one where it stays quiet."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(_alerts())
    assert alerts, "no alerting rules found"
    assert alerts - firing == set(), "alerts without a firing test"
    assert alerts - quiet == set(), "alerts without a quiet test"
    assert (firing | quiet) - alerts == set(), "tests for alerts that do not exist"


def test_alerts_carry_severity_summary_and_description() -> None:
    for name, rule in _alerts().items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert "for" in rule, f"{name} would fire on a single evaluation"
