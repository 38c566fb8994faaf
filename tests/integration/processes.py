"""Running borderwatch services as real subprocesses in integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_MARKERS = {"classifier": "Ready", "notifier": "consuming"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(*, kafka: str, redis: str, namespace: str, workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
    env.update(
        {
            "BW_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "BW_REDIS_URL": redis,
            "BW_TOPIC_NAMESPACE": namespace,
            "BW_CLASSIFIER_GROUP_ID": f"{namespace}-classifier",
            "BW_CLASSIFIER_WEB_PORT": str(free_port()),
            "BW_CLASSIFIER_DATA_DIR": str(workdir / "classifier"),
            "BW_NOTIFIER_GROUP_ID": f"{namespace}-notifier",
            "BW_NOTIFIER_INSTANCE": f"{namespace}-n1",
            "BW_NOTIFIER_API_PORT": str(free_port()),
            "BW_TAXONOMY_FILE": str(ROOT / "config" / "taxonomy.yaml"),
            "BW_GAZETTEER_PATH": str(ROOT / "config" / "gazetteer"),
            "BW_RULES_FILE": str(ROOT / "config" / "rules.yaml"),
        }
    )
    env.update(extra)
    return env


class ServiceProcess:
    """One ``borderwatch <service>`` process with its output in a log file."""

    def __init__(self, service: str, env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", self.service],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(
            lambda: READY_MARKERS[self.service] in self.log(),
            timeout_s,
            f"{self.service} did not become ready",
            on_fail=self.log,
            alive=self.alive,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    message: str,
    *,
    on_fail: Callable[[], str] | None = None,
    alive: Callable[[], bool] | None = None,
    interval_s: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if alive is not None and not alive():
            break
        time.sleep(interval_s)
    detail = on_fail()[-4000:] if on_fail else ""
    raise AssertionError(f"{message} (after {timeout_s:.0f}s)\n{detail}")
