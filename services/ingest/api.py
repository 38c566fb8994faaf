"""The push API: ``POST /v1/items`` (one item or a batch), health, readiness and metrics.

Answers: ``202`` with each item's id and whether it was new or a duplicate; ``400`` with
field-level errors (nothing of the request is accepted then); ``401`` without a valid bearer
token, ``403`` for a token without the ``push`` scope; ``413`` over the body size or batch limit;
``429`` with ``Retry-After`` over the token's request rate;
``503`` with ``Retry-After`` when the broker or the seen-set cannot take the items (the
response lists any ids that did get through; the caller retries and sees them as duplicates).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from services.common.auth import RateLimiter, retry_after_header
from services.ingest.batches import EncodedItem, EntryError, normalise_entries
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import Publisher, PublishUnavailable
from services.ingest.submission import ItemSubmission
from services.ingest.tokens import ApiToken, find_token
from services.ingest.workers import NormaliseFailed, NormalisePool


@dataclass(frozen=True)
class ApiLimits:
    max_body_bytes: int
    max_batch: int
    ack_timeout_s: float
    future_tolerance: timedelta
    rate_per_s: float = 50.0  # requests per token, sustained
    rate_burst: int = 100


class FieldError(BaseModel):
    index: int | None = Field(description="Position in the batch; null for a single item or the whole body.")
    field: str
    message: str


class ErrorBody(BaseModel):
    error: str
    errors: list[FieldError] = Field(default_factory=list)
    accepted: list[str] = Field(default_factory=list, description="Ids the broker took before a 503.")


class ItemOutcome(BaseModel):
    index: int
    id: str
    status: Literal["accepted", "duplicate"]


class AcceptedBody(BaseModel):
    accepted: int
    duplicates: int
    items: list[ItemOutcome]


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def create_api(
    *,
    publisher: Publisher,
    tokens: Sequence[ApiToken],
    limits: ApiLimits,
    metrics: IngestMetrics,
    registry: CollectorRegistry,
    clock: Callable[[], datetime],
    ready: Callable[[], Awaitable[dict[str, bool]]],
    feed_status: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None,
    pool: NormalisePool | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The push API; large batches are normalised on ``pool`` (in-process without one).

    ``monotonic`` (seconds) drives the per-token rate limit."""
    app = FastAPI(
        title="borderwatch ingest",
        version="1",
        description="Push news items and field reports into borderwatch.",
    )
    item_schema = ItemSubmission.model_json_schema()
    request_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        item_schema,
                        {"type": "array", "items": item_schema, "minItems": 1, "maxItems": limits.max_batch},
                    ]
                }
            }
        },
    }

    normaliser = pool or NormalisePool(0)
    rate_limiter = RateLimiter(limits.rate_per_s, limits.rate_burst, monotonic)

    async def _normalise(
        data: list[object], *, single: bool, now: datetime
    ) -> tuple[list[EncodedItem], list[FieldError]]:
        """All entries, errors in batch order. A large batch is split: one share per worker and one
        normalised here meanwhile (this process would otherwise only wait)."""

        def part(start: int, stop: int) -> tuple[list[EncodedItem], list[EntryError]]:
            return normalise_entries(
                data[start:stop],
                first_index=start,
                single=single,
                origin="push",
                now=now,
                future_tolerance=limits.future_tolerance,
            )

        shares = normaliser.workers + 1 if normaliser.ready and len(data) >= normaliser.min_batch else 1
        step = -(-len(data) // shares)
        bounds = [(start, min(len(data), start + step)) for start in range(0, len(data), step)]
        pooled = [
            asyncio.ensure_future(
                normaliser.run(
                    stop - start,
                    normalise_entries,
                    data[start:stop],
                    first_index=start,
                    single=single,
                    origin="push",
                    now=now,
                    future_tolerance=limits.future_tolerance,
                )
            )
            for start, stop in bounds[:-1]
        ]
        if pooled:
            await asyncio.sleep(0)  # hand the shares to the workers before working on the last one
        try:
            local = part(*bounds[-1])
        finally:
            results = await asyncio.gather(*pooled, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        ordered = [r for r in results if not isinstance(r, BaseException)] + [local]
        items = [item for part_items, _ in ordered for item in part_items]
        errors = [
            FieldError(index=e.index, field=e.field, message=e.message) for _, errs in ordered for e in errs
        ]
        return items, errors

    def answer(status: int, body: BaseModel, headers: dict[str, str] | None = None) -> JSONResponse:
        metrics.api_requests.labels(status=str(status)).inc()
        return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)

    def error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
        return answer(status, ErrorBody(error=message, **extra), headers)

    @app.post(
        "/v1/items",
        status_code=202,
        response_model=AcceptedBody,
        openapi_extra={"requestBody": request_body},
        responses={
            400: {"model": ErrorBody, "description": "Invalid JSON or items; nothing was accepted."},
            401: {"model": ErrorBody, "description": "Missing or unknown bearer token."},
            403: {"model": ErrorBody, "description": "The token lacks the push scope."},
            413: {"model": ErrorBody, "description": "Body or batch over the limit."},
            429: {"model": ErrorBody, "description": "Over the token rate; retry after Retry-After."},
            503: {"model": ErrorBody, "description": "Broker unavailable; retry after Retry-After seconds."},
        },
    )
    async def push_items(request: Request) -> Response:
        started = time.perf_counter()
        try:
            return await _push(request)
        finally:
            metrics.api_request_seconds.observe(time.perf_counter() - started)

    async def _push(request: Request) -> Response:
        token = find_token(tokens, request.headers.get("authorization"))
        if token is None:
            return error(401, "a valid bearer token is required", {"www-authenticate": "Bearer"})
        if not token.allows("push"):
            return error(403, "this token may not push items")
        wait_s = rate_limiter.acquire(token.name)
        if wait_s is not None:
            return error(429, "too many requests for this token", {"retry-after": retry_after_header(wait_s)})
        try:
            raw = await _read_body(request, limits.max_body_bytes)
        except _TooLarge:
            return error(413, f"request body exceeds {limits.max_body_bytes} bytes")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return error(400, f"body is not JSON: {getattr(exc, 'msg', 'not UTF-8')}")
        except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
            return error(400, "body is not usable JSON: nested too deeply or a number too long")
        single = isinstance(data, dict)
        if single:
            data = [data]
        if not isinstance(data, list) or not data:
            return error(400, "body must be an item object or a non-empty array of items")
        if len(data) > limits.max_batch:
            return error(413, f"batch of {len(data)} items exceeds {limits.max_batch}")
        now = clock()
        try:
            items, errors = await _normalise(data, single=single, now=now)
        except NormaliseFailed:
            return error(503, "normalisation failed; retry", {"retry-after": "1"})
        if errors:
            metrics.items.labels(origin="push", outcome="invalid").inc(len({e.index for e in errors}))
            return error(400, "invalid items; nothing was accepted", errors=errors[:1000])
        try:
            result = await asyncio.wait_for(
                asyncio.shield(publisher.publish(items, origin="push")), timeout=limits.ack_timeout_s
            )
        except PublishUnavailable as exc:
            retry = str(max(1, round(exc.retry_after_s)))
            return error(503, str(exc), {"retry-after": retry}, accepted=exc.accepted)
        except TimeoutError:
            # Still in flight: what the broker takes is recorded as seen, so a retry reports it.
            return error(503, "the broker did not acknowledge in time", {"retry-after": "5"})
        new_ids = set(result.accepted)
        outcomes = []
        for index, item in enumerate(items):
            # A repeat inside the batch is a duplicate of its first copy.
            status: Literal["accepted", "duplicate"] = "accepted" if item.id in new_ids else "duplicate"
            new_ids.discard(item.id)
            outcomes.append(ItemOutcome(index=index, id=item.id, status=status))
        body = AcceptedBody(
            accepted=sum(o.status == "accepted" for o in outcomes),
            duplicates=sum(o.status == "duplicate" for o in outcomes),
            items=outcomes,
        )
        return answer(202, body)

    @app.get("/healthz", include_in_schema=True)
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        """The broker, Redis and the configuration are usable."""
        checks = await ready()
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ready": status == 200, "checks": checks}, status_code=status)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if feed_status is not None:
        status_source = feed_status

        @app.get(
            "/v1/feeds",
            responses={
                401: {"model": ErrorBody, "description": "Missing or unknown bearer token."},
                403: {"model": ErrorBody, "description": "The token lacks the read scope."},
            },
        )
        async def feeds(request: Request) -> Response:
            """Health of every configured feed (needs a token with the ``read`` scope)."""
            token = find_token(tokens, request.headers.get("authorization"))
            if token is None:
                return JSONResponse(
                    {"error": "a valid bearer token is required"},
                    status_code=401,
                    headers={"www-authenticate": "Bearer"},
                )
            if not token.allows("read"):
                return JSONResponse({"error": "this token may not read feed status"}, status_code=403)
            return JSONResponse({"feeds": await status_source()})

    return app
