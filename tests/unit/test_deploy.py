"""The docker-compose stack cannot run on machines without a Docker engine: check its structure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer.main
import yaml

from services.classifier.app import ClassifierSettings
from services.cli import app as cli_app
from services.common.settings import CommonSettings
from services.ingest.app import IngestSettings
from services.notifier.app import NotifierSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
GRAFANA = ROOT / "deploy" / "grafana"
# The port each service serves /metrics, /healthz and /readyz on, by its own setting.
SERVICE_PORTS = {
    "classifier": "BW_CLASSIFIER_WEB_PORT",
    "notifier": "BW_NOTIFIER_API_PORT",
    "ingest": "BW_INGEST_API_PORT",
}
SETTINGS: dict[str, type[CommonSettings]] = {
    "classifier": ClassifierSettings,
    "notifier": NotifierSettings,
    "ingest": IngestSettings,
}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _subscriber_secret_variables() -> set[str]:
    """Variables that config/subscribers.yaml names for webhook URLs and signing secrets."""
    data = yaml.safe_load((ROOT / "config" / "subscribers.yaml").read_text())
    return {
        channel[key]
        for subscriber in data["subscribers"]
        for channel in subscriber["channels"]
        for key in ("url_env", "webhook_env", "secret_env")
        if channel.get(key)
    }


def test_stack_has_broker_redis_the_three_services_and_operations() -> None:
    services = compose()["services"]
    assert {"kafka", "redis", "classifier", "notifier", "ingest"} <= set(services)
    assert {"prometheus", "grafana", "mailpit"} <= set(services)
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
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
        if name == "notifier":
            known |= _subscriber_secret_variables()
        env = services[name]["environment"]
        assert env, f"{name} has no environment"
        unknown = {key for key in env if key.startswith("BW_")} - known
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of {settings_cls.__name__}"
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_image_runs_as_a_non_root_user() -> None:
    lines = (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions, one list per build stage (continuation lines joined)."""
    text = (ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            stages.append([])
        if stages and line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def test_image_carries_the_compiled_tagging_core() -> None:
    stages = _stages()
    builder, final = stages[1], stages[-1]
    assert builder[0].split()[1:] == ["base", "AS", "native"] and final[0] == "FROM base"
    assert any("scripts/build_native.sh" in line for line in builder if line.startswith("RUN "))
    copies = [line.split() for line in final if line.startswith("COPY --from=")]
    assert [
        "COPY",
        "--from=native",
        "/app/services/classifier/_native",
        "./services/classifier/_native",
    ] in copies
    # The image refuses to build when the copied core would not load (pure Python is 3-4x slower).
    assert any("tagging_build()" in line and "mypyc" in line for line in final if line.startswith("RUN "))


def test_image_copies_only_what_the_repository_has_and_never_local_builds() -> None:
    for stage in _stages():
        for line in stage:
            words = line.split()
            if words[0] == "COPY" and not words[1].startswith("--"):
                for source in words[1:-1]:
                    assert (ROOT / source).exists(), line
    ignored = (ROOT / ".dockerignore").read_text().split()
    for local in (".venv", "var", "services/classifier/_native", "deploy/kafka/libs"):
        assert local in ignored


def test_every_long_running_service_has_a_health_check() -> None:
    for name, spec in compose()["services"].items():
        if spec.get("restart") == "no":
            continue  # one-shot jobs exit when done
        check = spec.get("healthcheck")
        assert check and check["test"], f"{name} has no healthcheck"
        assert {"interval", "timeout", "retries"} <= set(check), name


def test_services_check_their_own_readiness_port_and_publish_it() -> None:
    services = compose()["services"]
    for name, variable in SERVICE_PORTS.items():
        port = str(services[name]["environment"][variable])
        assert f":{port}/readyz" in " ".join(services[name]["healthcheck"]["test"]), name
        assert any(str(p).endswith(f":{port}:{port}") for p in services[name]["ports"]), name
        host = next(k for k in services[name]["environment"] if k.endswith("_HOST") and k.startswith("BW_"))
        assert services[name]["environment"][host] == "0.0.0.0", f"{name} must listen beyond loopback"


def test_prometheus_scrapes_each_service_where_it_serves_metrics() -> None:
    services = compose()["services"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }
    for name, variable in SERVICE_PORTS.items():
        assert targets[name] == [f"{name}:{services[name]['environment'][variable]}"]
    mounts = services["prometheus"]["volumes"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in mounts


def test_service_commands_exist_in_the_cli() -> None:
    commands = set(typer.main.get_command(cli_app).commands)  # type: ignore[attr-defined]
    for name, spec in compose()["services"].items():
        if spec.get("build"):
            assert spec["command"][0] in commands, f"{name} runs an unknown command {spec['command']}"


def test_mounted_files_exist() -> None:
    for name, spec in compose()["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts missing {source}"


def test_grafana_provisions_the_dashboard_from_prometheus() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "borderwatch.yml").read_text())
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    dashboard = json.loads((GRAFANA / "dashboards" / "borderwatch.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ("throughput", "latenc", "alerts", "dead", "feed", "lag"):
        assert topic in titles, f"the dashboard has no {topic} panel"
