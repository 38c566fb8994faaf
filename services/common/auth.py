"""Guarding the HTTP APIs: bearer tokens with scopes, a rate limit per token, a body size cap.

Pure apart from :class:`BodyLimit`, a plain ASGI middleware. Tokens are compared in constant time
against every configured token (timing tells neither whether nor which one matched) and their
values never appear in reprs, logs or error messages.

Scopes: ``push`` (push items to ingest), ``read`` (read feed health and silences), ``admin``
(everything, including creating and expiring silences).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Scope = Literal["push", "read", "admin"]


class ApiToken(BaseModel):
    """A bearer token with the scopes it grants; ``admin`` grants every scope."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    token: SecretStr = Field(min_length=16)
    scopes: frozenset[Scope] = frozenset({"push"})

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def find_token(tokens: Sequence[ApiToken], authorization: str | None) -> ApiToken | None:
    """The token named by an ``Authorization: Bearer`` header, compared in constant time."""
    if not authorization:
        return None
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    given = presented.strip().encode("utf-8", "surrogateescape")
    found = None
    for token in tokens:  # compare with every token, so timing does not tell which one matched
        if hmac.compare_digest(token.token.get_secret_value().encode(), given):
            found = token
    return found


class RateLimiter:
    """A token bucket per API token name: ``rate`` requests a second, ``burst`` at once.

    ``now`` is a monotonic clock in seconds (injected). Buckets exist only for configured tokens,
    so the memory they take is bounded by the configuration.
    """

    def __init__(self, rate: float, burst: int, now: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._now = now
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)

    def acquire(self, name: str) -> float | None:
        """Take one request's worth; ``None`` when allowed, else seconds until the next one is."""
        now = self._now()
        tokens, at = self._buckets.get(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[name] = (tokens - 1.0, now)
            return None
        self._buckets[name] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """A ``Retry-After`` value in whole seconds, never 0 (clients would retry at once)."""
    return str(max(1, int(seconds + 0.999)))


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets ``413``, declared or streamed.

    A ``Content-Length`` over the limit is refused before anything is read; otherwise the body
    (chunked or not) is read up to the limit before the application sees it, so the limit also
    holds for bodies without a declared length. Meant for APIs with small bodies.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def buffered_receive() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, buffered_receive, send)


async def _too_large(send: Callable[[Any], Awaitable[None]], limit: int) -> None:
    body = b'{"error": "request body exceeds %d bytes"}' % limit
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
