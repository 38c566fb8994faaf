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
from typing import Self

ROOT = Path(__file__).resolve().parents[2]
READY_MARKERS = {"classifier": "Ready", "notifier": "consuming", "ingest": "serving push API"}


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
    """One ``borderwatch <service>`` process (``python -m services.cli <service>``) with its
    output appended to a log file.

    ``start`` waits for the service's ready marker: by default anywhere in the log, with
    ``READY_IN_NEW_OUTPUT_ONLY`` only in what this start wrote (for a restart that appends to the
    log of an earlier run). ``stop`` signals (SIGTERM unless told otherwise), waits, then kills.
    """

    READY_IN_NEW_OUTPUT_ONLY = False
    READY_POLL_S = 0.2
    STOP_TIMEOUT_S = 30.0

    def __init__(self, service: str, env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> int:
        """Start the process without waiting; returns the log offset where its output begins."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", self.service],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return offset

    def start(self, timeout_s: float = 90.0) -> Self:
        offset = self.spawn()
        since = offset if self.READY_IN_NEW_OUTPUT_ONLY else 0
        wait_until(
            lambda: READY_MARKERS[self.service] in self.log(since),
            timeout_s,
            f"{self.service} did not become ready",
            on_fail=lambda: self.log(since),
            alive=self.alive,
            interval_s=self.READY_POLL_S,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, since: int = 0) -> str:
        """The log from byte offset ``since`` on ("" before the first start)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as fh:
            fh.seek(since)
            return fh.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float | None = None) -> int | None:
        """Signal and wait ``timeout_s`` (default ``STOP_TIMEOUT_S``), then SIGKILL; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(self.STOP_TIMEOUT_S if timeout_s is None else timeout_s)
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
