"""A whole private borderwatch stack for fault tests: its own broker and Redis (started with the
project's scripts on free ports, under their own state directory), the three services as real
processes, a pusher replaying items through the push API, and a watcher of the tagged topic.

Nothing here touches the shared broker or Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import redis as redis_lib
from kafka import KafkaConsumer, TopicPartition

from tests.integration.processes import ROOT, ServiceProcess, free_port

PUSH_TOKEN = "fault-push-token-0123456789"


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class ScriptServer:
    """A broker or Redis run by ``scripts/<name>.sh`` with its own ports and BW_VAR_DIR."""

    def __init__(self, script: str, env: dict[str, str], log: Callable[[str], None]) -> None:
        self._script = ROOT / "scripts" / script
        self.env = {**os.environ, **env}
        self._log = log

    def run(self, action: str, timeout_s: float = 180) -> None:
        result = subprocess.run(
            [str(self._script), action],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout_s,
        )
        self._log(f"{self._script.name} {action}: {result.stdout.strip()}")
        if result.returncode != 0:
            raise AssertionError(
                f"{self._script.name} {action} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )


class PrivateBroker(ScriptServer):
    def __init__(self, var_dir: Path, log: Callable[[str], None]) -> None:
        self.port, controller = _free_ports(2)
        super().__init__(
            "kafka.sh",
            {
                "BW_KAFKA_PORT": str(self.port),
                "BW_KAFKA_CONTROLLER_PORT": str(controller),
                "BW_VAR_DIR": str(var_dir),
                "BW_KAFKA_HEAP_OPTS": "-Xms128m -Xmx384m",
            },
            log,
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class PrivateRedis(ScriptServer):
    """AOF on with ``appendfsync everysec`` (scripts/redis.sh writes that configuration)."""

    def __init__(self, var_dir: Path, log: Callable[[str], None]) -> None:
        self.port = free_port()
        self.var_dir = var_dir
        super().__init__("redis.sh", {"BW_REDIS_PORT": str(self.port), "BW_VAR_DIR": str(var_dir)}, log)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def log_text(self) -> str:
        path = self.var_dir / "redis" / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Service(ServiceProcess):
    """One ``borderwatch <service>`` process; a restart keeps its environment (ports included),
    appends to the same log and waits for the ready marker of the new run."""

    READY_IN_NEW_OUTPUT_ONLY = True
    READY_POLL_S = 0.1
    STOP_TIMEOUT_S = 20.0


class Pusher(threading.Thread):
    """Pushes items in batches at a steady pace, retrying a batch until it is answered 202
    (after a refused connection, a timeout, a 503 or a 429), as a well-behaved client does.
    Records the id of every item the API answered as accepted or duplicate."""

    def __init__(self, url: str, items: Sequence[dict[str, Any]], duration_s: float, batch: int = 20) -> None:
        super().__init__(name="fault-pusher", daemon=True)
        self._url = url
        self._batches = [list(items[i : i + batch]) for i in range(0, len(items), batch)]
        self._interval = duration_s / max(1, len(self._batches))
        self.accepted: dict[str, str] = {}
        self.retries: dict[str, int] = {}
        self.error: str | None = None
        self.trail: list[str] = []
        self._quit = threading.Event()

    def cancel(self) -> None:
        self._quit.set()

    def _retry(self, why: str, pause: float) -> None:
        self.retries[why] = self.retries.get(why, 0) + 1
        self.trail.append(f"{time.monotonic():.1f} {why}")
        self._quit.wait(pause)

    def run(self) -> None:
        try:
            self._push()
        except Exception as exc:  # reported by the phase, never lost in a thread
            self.error = f"pusher failed: {type(exc).__name__}: {exc}"

    def stack(self) -> str:
        """Where the pusher is now (for a report when it did not finish)."""
        frame = sys._current_frames().get(self.ident or -1)
        return "".join(traceback.format_stack(frame)) if frame is not None else ""

    def _push(self) -> None:
        headers = {"authorization": f"Bearer {PUSH_TOKEN}"}
        started = time.monotonic()
        with httpx.Client(base_url=self._url, timeout=15.0) as http:
            for n, batch in enumerate(self._batches):
                self._quit.wait(max(0.0, started + n * self._interval - time.monotonic()))
                while not self._quit.is_set():
                    try:
                        answer = http.post("/v1/items", json=batch, headers=headers)
                    except httpx.TransportError as exc:
                        self._retry(type(exc).__name__, 0.3)
                        continue
                    self.trail.append(f"{time.monotonic():.1f} batch {n}: {answer.status_code}")
                    if answer.status_code == 202:
                        for outcome in answer.json()["items"]:
                            self.accepted[outcome["id"]] = outcome["status"]
                        break
                    if answer.status_code in (429, 503):
                        self._retry(
                            str(answer.status_code), min(1.0, float(answer.headers.get("retry-after", 1)))
                        )
                        continue
                    self.error = f"push answered {answer.status_code}: {answer.text[:500]}"
                    return


class TaggedWatcher(threading.Thread):
    """Collects the item id (the key) of every record on the tagged-events topic, from the start."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(name="tagged-watcher", daemon=True)
        self._servers = bootstrap
        self._topic = topic
        self._lock = threading.Lock()
        self._ids: set[str] = set()
        self.records = 0
        self._quit = threading.Event()

    def ids(self) -> set[str]:
        with self._lock:
            return set(self._ids)

    def stop(self) -> None:
        self._quit.set()
        self.join(10)

    def run(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self._servers,
            enable_auto_commit=False,
            group_id=None,
            request_timeout_ms=20000,
            reconnect_backoff_max_ms=1000,
        )
        try:
            partitions: set[int] = set()
            while not partitions and not self._quit.is_set():
                partitions = consumer.partitions_for_topic(self._topic) or set()
                self._quit.wait(0.2)
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self._quit.is_set():
                try:
                    polled = consumer.poll(timeout_ms=300)
                except Exception:  # the broker restarts: the client reconnects by itself
                    self._quit.wait(0.5)
                    continue
                keys = [r.key.decode() for batch in polled.values() for r in batch if r.key]
                with self._lock:
                    self._ids.update(keys)
                    self.records += len(keys)
        finally:
            consumer.close()


def outbox_state(redis_url: str, namespace: str, group: str) -> dict[str, int]:
    """The outbox stream's pending entries (XPENDING) and the group's lag (XINFO GROUPS)."""
    client = redis_lib.Redis.from_url(redis_url, socket_timeout=2)
    key = f"bw:{namespace}:outbox"
    try:
        if not client.exists(key):
            return {"pending": 0, "lag": 0, "length": 0}
        groups = {g["name"].decode(): g for g in client.xinfo_groups(key)}
        info = groups.get(group)
        pending = int(client.xpending(key, group)["pending"]) if info is not None else 0
        lag = info.get("lag") if info is not None else None
        return {
            "pending": pending,
            "lag": int(lag) if lag is not None else -1,
            "length": int(client.xlen(key)),
        }
    finally:
        client.close()


def ingest_env(base: dict[str, str], port: int) -> dict[str, str]:
    return {
        **base,
        "BW_INGEST_API_PORT": str(port),
        "BW_INGEST_API_TOKENS": json.dumps([{"name": "replayer", "token": PUSH_TOKEN, "scopes": ["push"]}]),
        "BW_INGEST_NORMALISE_WORKERS": "0",
        "BW_INGEST_RETRY_AFTER_S": "1",
        "BW_INGEST_API_ACK_TIMEOUT_S": "8",
        "BW_PRODUCER_MAX_BLOCK_MS": "3000",
        "BW_PRODUCER_REQUEST_TIMEOUT_MS": "2000",
        "BW_PRODUCER_DELIVERY_TIMEOUT_MS": "5000",
    }
