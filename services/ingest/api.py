"""The push API: ``POST /v1/items`` (one item or a batch), health, readiness and metrics.

Answers: ``202`` with each item's id and whether it was new or a duplicate; ``400`` with
field-level errors (nothing of the request is accepted then); ``401`` without a valid bearer
token, ``403`` for a token without the ``push`` scope; ``413`` over the body size or batch limit;
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
from pydantic import BaseModel, Field, ValidationError

from schemas.raw_items import RawItemV1
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import Publisher, PublishUnavailable
from services.ingest.submission import ItemSubmission, SubmissionRejected, normalise
from services.ingest.tokens import ApiToken, find_token


@dataclass(frozen=True)
class ApiLimits:
    max_body_bytes: int
    max_batch: int
    ack_timeout_s: float
    future_tolerance: timedelta


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


def _errors_of(exc: ValidationError, index: int | None) -> list[FieldError]:
    return [
        FieldError(index=index, field=".".join(str(p) for p in e["loc"]) or "<item>", message=e["msg"])
        for e in exc.errors(include_input=False, include_url=False)
    ]


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
) -> FastAPI:
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
        if "push" not in token.scopes:
            return error(403, "this token may not push items")
        try:
            raw = await _read_body(request, limits.max_body_bytes)
        except _TooLarge:
            return error(413, f"request body exceeds {limits.max_body_bytes} bytes")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return error(400, f"body is not JSON: {getattr(exc, 'msg', 'not UTF-8')}")
        single = isinstance(data, dict)
        if single:
            data = [data]
        if not isinstance(data, list) or not data:
            return error(400, "body must be an item object or a non-empty array of items")
        if len(data) > limits.max_batch:
            return error(413, f"batch of {len(data)} items exceeds {limits.max_batch}")
        now = clock()
        items: list[RawItemV1] = []
        errors: list[FieldError] = []
        for index, entry in enumerate(data):
            at = None if single else index
            if not isinstance(entry, dict):
                errors.append(FieldError(index=at, field="<item>", message="expected a JSON object"))
                continue
            try:
                submission = ItemSubmission.model_validate(entry)
                items.append(
                    normalise(submission, origin="push", now=now, future_tolerance=limits.future_tolerance)
                )
            except ValidationError as exc:
                errors.extend(_errors_of(exc, at))
            except SubmissionRejected as exc:
                errors.append(FieldError(index=at, field=exc.field, message=exc.message))
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

        @app.get("/v1/feeds")
        async def feeds(request: Request) -> Response:
            """Health of every configured feed (needs a token with the ``read`` scope)."""
            token = find_token(tokens, request.headers.get("authorization"))
            if token is None:
                return JSONResponse(
                    {"error": "a valid bearer token is required"},
                    status_code=401,
                    headers={"www-authenticate": "Bearer"},
                )
            if "read" not in token.scopes:
                return JSONResponse({"error": "this token may not read feed status"}, status_code=403)
            return JSONResponse({"feeds": await status_source()})

    return app
