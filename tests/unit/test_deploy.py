"""The docker-compose stack cannot run on machines without a Docker engine: check its structure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.classifier.app import ClassifierSettings
from services.common.settings import CommonSettings
from services.ingest.app import IngestSettings
from services.notifier.app import NotifierSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
SETTINGS: dict[str, type[CommonSettings]] = {
    "classifier": ClassifierSettings,
    "notifier": NotifierSettings,
    "ingest": IngestSettings,
}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_stack_has_broker_redis_and_the_three_services() -> None:
    services = compose()["services"]
    assert {"kafka", "redis", "classifier", "notifier", "ingest"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "--appendonly" in services["redis"]["command"] and "everysec" in services["redis"]["command"]


def test_dependencies_wait_for_health_checks_that_exist() -> None:
    services = compose()["services"]
    for name, spec in services.items():
        for dep, cond in (spec.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond == {"condition": "service_healthy"}, f"{name} -> {dep}"
            assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"


def test_environment_names_match_the_settings_classes() -> None:
    services = compose()["services"]
    for name, settings_cls in SETTINGS.items():
        known = {f"BW_{field.upper()}" for field in settings_cls.model_fields}
        env = services[name]["environment"]
        assert env, f"{name} has no environment"
        unknown = {key for key in env if key.startswith("BW_")} - known
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of {settings_cls.__name__}"
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_image_runs_as_a_non_root_user() -> None:
    lines = (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
