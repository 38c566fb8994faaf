"""Finding or starting the Kafka broker and Redis that integration tests use.

Order: an address given in the environment; a server already answering on the default port;
the project's own broker or Redis started by its scripts (stopped again at the end); a
testcontainers container when a Docker engine answers. Without any of them the test fails when
``CI`` is set and is skipped with a loud reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def required() -> bool:
    return bool(os.environ.get("CI")) or bool(os.environ.get("BW_REQUIRE_SERVICES"))


def unavailable(reason: str) -> None:
    if required():
        pytest.fail(f"{reason} (CI is set: a missing service is a failure)", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {reason}")  # only outside CI: required() fails instead


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_pings(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def kafka_answers(bootstrap: str) -> bool:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    except KafkaError:
        return False
    try:
        consumer.topics()
        return True
    except KafkaError:
        return False
    finally:
        consumer.close()


def docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
        return True
    except Exception:
        return False


@dataclass
class Started:
    """What this test session started, so that it stops exactly that."""

    scripts: list[list[str]] = field(default_factory=list)
    containers: list[object] = field(default_factory=list)

    def stop_all(self) -> None:
        for command in reversed(self.scripts):
            subprocess.run(command, cwd=ROOT, check=False, stdin=subprocess.DEVNULL)
        for container in self.containers:
            container.stop()  # type: ignore[attr-defined]


def start_with_script(started: Started, script: Path) -> None:
    """``scripts/<name>.sh start``, recorded for stopping at the end unless it reused a server
    already running (stop only what this session started); a failed start is ``unavailable``."""
    result = subprocess.run(
        [str(script), "start"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        unavailable(f"scripts/{script.name} start failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    if "reusing" not in result.stdout:
        started.scripts.append([str(script), "stop"])


def find_kafka(started: Started) -> str:
    given = os.environ.get("BW_KAFKA_BOOTSTRAP_SERVERS")
    if given:
        if not kafka_answers(given):
            unavailable(f"BW_KAFKA_BOOTSTRAP_SERVERS={given} does not answer")
        return given
    if port_open("127.0.0.1", 9092) and kafka_answers("127.0.0.1:9092"):
        return "127.0.0.1:9092"
    script = ROOT / "scripts" / "kafka.sh"
    if shutil.which("java") and script.exists():
        start_with_script(started, script)
        return "127.0.0.1:9092"
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer().with_kraft()
        container.start()
        started.containers.append(container)
        return str(container.get_bootstrap_server())
    unavailable(
        "no Kafka broker: set BW_KAFKA_BOOTSTRAP_SERVERS, run scripts/kafka.sh start, or install Java 17"
    )
    raise AssertionError("unreachable")


def find_redis(started: Started) -> str:
    given = os.environ.get("BW_REDIS_URL")
    if given:
        return given
    if redis_pings("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    script = ROOT / "scripts" / "redis.sh"
    if script.exists():
        start_with_script(started, script)
        return "redis://127.0.0.1:6379/0"
    if docker_answers():
        from testcontainers.redis import RedisContainer

        container = RedisContainer()
        container.start()
        started.containers.append(container)
        host = container.get_container_host_ip()
        return f"redis://{host}:{container.get_exposed_port(6379)}/0"
    unavailable("no Redis: set BW_REDIS_URL or run scripts/redis.sh start")
    raise AssertionError("unreachable")
