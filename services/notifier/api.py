"""The notifier's HTTP API: ``/v1/silences`` (bearer token), ``/metrics``, ``/healthz``, ``/readyz``.

Silence endpoints need ``Authorization: Bearer <token>`` (compared in constant time): listing
and reading need the ``read`` scope, creating and expiring the ``admin`` scope. Tokens are
``BW_NOTIFIER_API_TOKENS`` (with scopes) and ``BW_NOTIFIER_API_TOKEN`` (an admin token); without
any they answer 503. No or an unknown token: 401; a token without the scope: 403; over the
per-token request rate: 429 with ``Retry-After``. Request bodies are capped at 64 KiB (413),
whether their length is declared or not.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from services.common.auth import ApiToken, BodyLimit, RateLimiter, Scope, find_token, retry_after_header
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
    tokens: Sequence[ApiToken] = (),
    rate_per_s: float = 10.0,
    rate_burst: int = 20,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    app = FastAPI(title="borderwatch notifier", version="1", docs_url=None, redoc_url=None)
    known = list(tokens)
    if token is not None and token.get_secret_value():
        # The single admin token predates scoped tokens; any length is accepted for it.
        known.append(ApiToken.model_construct(name="admin", token=token, scopes=frozenset({"admin"})))
    limiter = RateLimiter(rate_per_s, rate_burst, monotonic)

    def needs(scope: Scope) -> Callable[[str | None], Awaitable[None]]:
        async def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
            if not known:
                raise HTTPException(503, "silences API disabled: no API token is configured")
            found = find_token(known, authorization)
            if found is None:
                raise HTTPException(
                    401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
                )
            if not found.allows(scope):
                raise HTTPException(403, f"this token lacks the {scope} scope")
            wait_s = limiter.acquire(found.name)
            if wait_s is not None:
                raise HTTPException(
                    429,
                    "too many requests for this token",
                    headers={"Retry-After": retry_after_header(wait_s)},
                )

        return authorized

    def view(silence: Silence) -> dict[str, Any]:
        return {**silence.model_dump(mode="json"), "state": silence.state(clock())}

    @app.post("/v1/silences", status_code=201, dependencies=[Depends(needs("admin"))])
    async def create_silence(request: SilenceRequest) -> dict[str, Any]:
        try:
            silence = Silence.create(request, clock())
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        await store.put(silence)
        return view(silence)

    @app.get("/v1/silences", dependencies=[Depends(needs("read"))])
    async def list_silences() -> list[dict[str, Any]]:
        return [view(s) for s in await store.all(clock())]

    @app.get("/v1/silences/{silence_id}", dependencies=[Depends(needs("read"))])
    async def get_silence(silence_id: str) -> dict[str, Any]:
        silence = await store.get(silence_id)
        if silence is None:
            raise HTTPException(404, "no such silence")
        return view(silence)

    @app.delete("/v1/silences/{silence_id}", dependencies=[Depends(needs("admin"))])
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

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY)
    return app
