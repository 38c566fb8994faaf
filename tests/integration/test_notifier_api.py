"""The notifier's HTTP API on real Redis: silences (token-authenticated), metrics, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from redis.asyncio import Redis

from services.notifier.api import create_api
from services.notifier.metrics import create_metrics
from services.notifier.silence_store import RedisSilenceStore, SilenceCache

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
TOKEN = "admin-token-123"


@pytest.fixture
async def api(redis_url: str, namespace: str) -> AsyncIterator[tuple[httpx.AsyncClient, RedisSilenceStore]]:
    redis = Redis.from_url(redis_url)
    store = RedisSilenceStore(redis, namespace)
    registry = CollectorRegistry()
    create_metrics(registry)
    ready = {"config": True, "redis": True, "broker": True}

    async def readiness() -> dict[str, bool]:
        return dict(ready)

    app = create_api(
        store=store,
        registry=registry,
        readiness=readiness,
        token=SecretStr(TOKEN),
        clock=lambda: datetime.now(UTC),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        client.ready = ready  # type: ignore[attr-defined]
        yield client, store
    await redis.delete(f"bw:{namespace}:silences")
    await redis.aclose()


def body(**update: object) -> dict[str, object]:
    return {
        "matchers": [{"name": "group.crossing", "value": "Torkham"}],
        "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "created_by": "ops",
        "comment": "planned closure",
        **update,
    }


async def test_silences_need_the_bearer_token(api: tuple[httpx.AsyncClient, RedisSilenceStore]) -> None:
    client, _ = api
    assert (await client.get("/v1/silences")).status_code == 401
    wrong = {"authorization": "Bearer nope"}
    assert (await client.post("/v1/silences", json=body(), headers=wrong)).status_code == 401


async def test_silence_create_list_expire_persist_in_redis(
    api: tuple[httpx.AsyncClient, RedisSilenceStore],
) -> None:
    client, store = api
    auth = {"authorization": f"Bearer {TOKEN}"}
    created = await client.post("/v1/silences", json=body(), headers=auth)
    assert created.status_code == 201 and created.json()["state"] == "active"
    sid = created.json()["id"]
    listed = (await client.get("/v1/silences", headers=auth)).json()
    assert [s["id"] for s in listed] == [sid]
    cache = SilenceCache(store)
    assert await cache.refresh(datetime.now(UTC)) == 1
    expired = await client.delete(f"/v1/silences/{sid}", headers=auth)
    assert expired.status_code == 200 and expired.json()["state"] == "expired"
    assert await cache.refresh(datetime.now(UTC)) == 0
    assert (await client.delete("/v1/silences/unknown", headers=auth)).status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {"matchers": []},
        {"matchers": [{"name": "summary", "value": "x"}]},
        {"ends_at": "2020-01-01T00:00:00Z"},
        {"ends_at": "2030-01-01T00:00:00"},  # naive time
        {"extra": 1},
    ],
)
async def test_invalid_silences_are_rejected(
    api: tuple[httpx.AsyncClient, RedisSilenceStore], bad: dict[str, object]
) -> None:
    client, _ = api
    response = await client.post(
        "/v1/silences", json=body(**bad), headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 422


async def test_metrics_health_and_readiness(api: tuple[httpx.AsyncClient, RedisSilenceStore]) -> None:
    client, _ = api
    metrics = (await client.get("/metrics")).text
    assert 'borderwatch_notifier_deliveries_total{channel="slack",outcome="retry"} 0.0' in metrics
    assert "borderwatch_notifier_build_info" in metrics
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    client.ready["redis"] = False  # type: ignore[attr-defined]
    response = await client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["redis"] is False
