"""The two HTTP APIs as the fuzz and security tests run them: ingest as a real process (uvicorn,
the broker and Redis behind it), the notifier's silences API on real Redis."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from redis.asyncio import Redis

from services.common.auth import ApiToken
from services.notifier.api import create_api
from services.notifier.metrics import create_metrics
from services.notifier.silence_store import RedisSilenceStore
from tests.integration.ingest_helpers import IngestProcess
from tests.integration.processes import free_port

PUSH_TOKEN = "push-" + "p" * 24
READ_TOKEN = "read-" + "r" * 24
ADMIN_TOKEN = "admin-" + "a" * 24
LEGACY_ADMIN_TOKEN = "legacy-" + "l" * 24


def start_ingest(kafka: str, redis_url: str, namespace: str, workdir: Path, **extra: str) -> IngestProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    feeds = workdir / "feeds.yaml"
    feeds.write_text("version: 1\nfeeds: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
    env.update(
        {
            "BW_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "BW_REDIS_URL": redis_url,
            "BW_TOPIC_NAMESPACE": namespace,
            "BW_INGEST_FEEDS_FILE": str(feeds),
            "BW_INGEST_NORMALISE_WORKERS": "0",
            "BW_INGEST_API_MAX_BODY_BYTES": "65536",
            "BW_INGEST_API_MAX_BATCH": "20",
            "BW_INGEST_API_TOKENS": json.dumps(
                [
                    {"name": "scraper", "token": PUSH_TOKEN, "scopes": ["push"]},
                    {"name": "viewer", "token": READ_TOKEN, "scopes": ["read"]},
                    {"name": "ops", "token": ADMIN_TOKEN, "scopes": ["admin"]},
                ]
            ),
            **extra,
        }
    )
    return IngestProcess(env, workdir / "ingest.log").start()


def silences_app(
    redis: Redis,
    namespace: str,
    *,
    rate_per_s: float = 1000.0,
    rate_burst: int = 1000,
    now: Callable[[], float],
) -> FastAPI:
    registry = CollectorRegistry()
    create_metrics(registry)

    async def readiness() -> dict[str, bool]:
        return {"config": True, "redis": bool(await redis.ping()), "broker": True}

    return create_api(
        store=RedisSilenceStore(redis, namespace),
        registry=registry,
        readiness=readiness,
        token=SecretStr(LEGACY_ADMIN_TOKEN),
        tokens=[
            ApiToken(name="scraper", token=SecretStr(PUSH_TOKEN), scopes=frozenset({"push"})),
            ApiToken(name="viewer", token=SecretStr(READ_TOKEN), scopes=frozenset({"read"})),
            ApiToken(name="ops", token=SecretStr(ADMIN_TOKEN), scopes=frozenset({"admin"})),
        ],
        rate_per_s=rate_per_s,
        rate_burst=rate_burst,
        monotonic=now,
        clock=lambda: datetime.now(UTC),
    )


class SilencesServer:
    """The silences API on a real uvicorn in a thread of its own (its own event loop and Redis
    client); ``now`` drives the per-token rate limit."""

    def __init__(self, redis_url: str, namespace: str, **limits: float) -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self.limits = limits
        self.clock = ManualClock()
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, name="silences-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        redis = Redis.from_url(self.redis_url)
        app = silences_app(redis, self.namespace, now=self.clock, **self.limits)  # type: ignore[arg-type]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        try:
            await self._server.serve()
        finally:
            await redis.delete(f"bw:{self.namespace}:silences")
            await redis.aclose()

    def __enter__(self) -> SilencesServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not (self._server is not None and self._server.started):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError("silences API did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(20)


class ManualClock:
    """A monotonic clock (seconds) that moves only when told; starts at real time."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
