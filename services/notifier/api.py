"""The notifier's HTTP API: ``/v1/silences`` (bearer token), ``/metrics``, ``/healthz``, ``/readyz``.

Silence endpoints need ``Authorization: Bearer <BW_NOTIFIER_API_TOKEN>`` (compared in constant
time); without a configured token they answer 503. Request bodies are capped at 64 KiB.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from services.common.clock import Clock
from services.notifier.silence_store import RedisSilenceStore
from services.notifier.silences import Silence, SilenceRequest

MAX_BODY = 64 * 1024
Readiness = Callable[[], Awaitable[dict[str, bool]]]


def create_api(
    *,
    store: RedisSilenceStore,
    registry: CollectorRegistry,
    readiness: Readiness,
    token: SecretStr | None,
    clock: Clock,
) -> FastAPI:
    app = FastAPI(title="borderwatch notifier", version="1", docs_url=None, redoc_url=None)

    async def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None or not token.get_secret_value():
            raise HTTPException(503, "silences API disabled: BW_NOTIFIER_API_TOKEN is not set")
        expected = f"Bearer {token.get_secret_value()}".encode()
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def small_body(request: Request) -> None:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise HTTPException(413, "request body too large")

    def view(silence: Silence) -> dict[str, Any]:
        return {**silence.model_dump(mode="json"), "state": silence.state(clock())}

    @app.post("/v1/silences", status_code=201, dependencies=[Depends(authorized), Depends(small_body)])
    async def create_silence(request: SilenceRequest) -> dict[str, Any]:
        try:
            silence = Silence.create(request, clock())
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        await store.put(silence)
        return view(silence)

    @app.get("/v1/silences", dependencies=[Depends(authorized)])
    async def list_silences() -> list[dict[str, Any]]:
        return [view(s) for s in await store.all(clock())]

    @app.get("/v1/silences/{silence_id}", dependencies=[Depends(authorized)])
    async def get_silence(silence_id: str) -> dict[str, Any]:
        silence = await store.get(silence_id)
        if silence is None:
            raise HTTPException(404, "no such silence")
        return view(silence)

    @app.delete("/v1/silences/{silence_id}", dependencies=[Depends(authorized)])
    async def expire_silence(silence_id: str) -> dict[str, Any]:
        silence = await store.get(silence_id)
        if silence is None:
            raise HTTPException(404, "no such silence")
        expired = silence.expired(clock())
        await store.put(expired)
        return view(expired)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, Any]:
        checks = await readiness()
        ready = all(checks.values())
        response.status_code = 200 if ready else 503
        return {"ready": ready, "checks": checks}

    return app
