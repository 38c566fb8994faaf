"""Polling the configured feeds: each feed in its own task, so a failing feed fails alone.

A poll fetches with conditional GET (ETag / Last-Modified; a 304 costs nothing), caps the
body size while streaming and the total time, parses the bytes, normalises the entries and
publishes them. The validators of a response (ETag, Last-Modified) are stored only after every
new item of it was acknowledged, so a failed publish re-fetches the same items next time
instead of losing them. While the broker is down polling pauses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from services.ingest.feed_parse import FeedError, parse_feed
from services.ingest.feeds_config import FeedConfig
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import Publisher, PublishUnavailable
from services.ingest.schedule import next_poll_delay
from services.ingest.stores import FeedState, FeedStateStore
from services.ingest.submission import SubmissionRejected, normalise

log = logging.getLogger(__name__)
USER_AGENT = "borderwatch-ingest/0.1 (+https://github.com/borderwatch)"


class FetchError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""


@dataclass(frozen=True)
class PollLimits:
    max_bytes: int
    total_timeout_s: float
    backoff_cap_s: float
    future_tolerance: timedelta


async def fetch_feed(
    client: httpx.AsyncClient, feed: FeedConfig, state: FeedState, limits: PollLimits
) -> Fetched:
    """GET the feed; raises :class:`FetchError` with a bounded ``kind``."""
    headers = {"user-agent": USER_AGENT, "accept-encoding": "gzip, deflate", **feed.request_headers()}
    if state.etag:
        headers["if-none-match"] = state.etag
    if state.last_modified:
        headers["if-modified-since"] = state.last_modified
    try:
        async with (
            asyncio.timeout(limits.total_timeout_s),
            client.stream("GET", feed.url, headers=headers) as resp,
        ):
            if resp.status_code == 304:
                return Fetched(304, etag=state.etag, last_modified=state.last_modified)
            if resp.status_code != 200:
                raise FetchError("http_status", f"HTTP {resp.status_code}")
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limits.max_bytes:
                raise FetchError("too_large", f"response of {declared} bytes exceeds {limits.max_bytes}")
            body = bytearray()
            async for chunk in resp.aiter_bytes():  # decoded: a gzip bomb counts at full size
                body += chunk
                if len(body) > limits.max_bytes:
                    raise FetchError("too_large", f"response exceeds {limits.max_bytes} bytes")
            return Fetched(
                200,
                bytes(body),
                etag=resp.headers.get("etag"),
                last_modified=resp.headers.get("last-modified"),
                content_type=resp.headers.get("content-type", ""),
            )
    except TimeoutError:
        raise FetchError("timeout", f"no complete answer within {limits.total_timeout_s:g}s") from None
    except httpx.TooManyRedirects:
        raise FetchError("redirects", "too many redirects") from None
    except httpx.TimeoutException:
        raise FetchError("timeout", "timed out") from None
    except httpx.HTTPError as exc:
        raise FetchError("network", f"{type(exc).__name__}") from None


class FeedPoller:
    """Runs one polling task per enabled feed until :meth:`stop`."""

    def __init__(
        self,
        feeds: list[FeedConfig],
        *,
        client: httpx.AsyncClient,
        publisher: Publisher,
        store: FeedStateStore,
        metrics: IngestMetrics,
        limits: PollLimits,
        clock: Callable[[], datetime],
    ) -> None:
        self.feeds = feeds
        self._client = client
        self._publisher = publisher
        self._store = store
        self._metrics = metrics
        self._limits = limits
        self._clock = clock
        self._stopping = asyncio.Event()
        metrics.register_feeds(f.id for f in feeds)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._stopping.wait())  # returns on stop, also with no feeds
            for feed in self.feeds:
                group.create_task(self._run_feed(feed), name=f"feed-{feed.id}")

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _run_feed(self, feed: FeedConfig) -> None:
        while not self._stopping.is_set():
            while not self._publisher.gate.allow() and not self._stopping.is_set():
                await self._sleep(max(0.5, self._publisher.gate.seconds_until_retry()))  # broker down: pause
            if self._stopping.is_set():
                return
            try:
                failures = await self.poll_once(feed)
            except Exception:  # one feed's surprise must not end the others' polling
                log.exception("feed %s: poll failed unexpectedly", feed.id)
                failures = 1
            delay = next_poll_delay(feed.interval_s, failures, backoff_cap_s=self._limits.backoff_cap_s)
            try:
                await self._store.record_next_poll(feed.id, self._clock() + timedelta(seconds=delay))
            except Exception as exc:
                log.warning("feed %s: cannot record next poll time: %s", feed.id, type(exc).__name__)
            await self._sleep(delay)

    async def poll_once(self, feed: FeedConfig) -> int:
        """Poll ``feed`` once; returns its number of consecutive failures afterwards."""
        state = await self._store.get(feed.id)
        try:
            fetched = await fetch_feed(self._client, feed, state, self._limits)
            if fetched.status == 304:
                await self._succeeded(feed, fetched, seen=0, new=0, outcome="not_modified")
                return 0
            parsed = parse_feed(
                fetched.body, source=feed.source_name, url=feed.url, content_type=fetched.content_type
            )
        except (FetchError, FeedError) as exc:
            kind = exc.kind if isinstance(exc, FetchError) else exc.reason
            return await self._failed(feed, kind, exc.message)
        if parsed.warning:
            log.info("feed %s: %s", feed.id, parsed.warning)
        now = self._clock()
        items = []
        invalid = len(parsed.rejected)
        for rejected in parsed.rejected:
            log.info("feed %s: entry %d skipped: %s", feed.id, rejected.index, rejected.reason)
        for submission in parsed.submissions:
            try:
                items.append(
                    normalise(
                        submission, origin="feed", now=now, future_tolerance=self._limits.future_tolerance
                    )
                )
            except SubmissionRejected as exc:
                invalid += 1
                log.info("feed %s: entry skipped: %s", feed.id, exc)
        self._metrics.items.labels(origin="feed", outcome="invalid").inc(invalid)
        self._metrics.feed_items_seen.labels(feed=feed.id).inc(parsed.entries_seen)
        try:
            result = await self._publisher.publish(items, origin="feed")
        except PublishUnavailable as exc:
            return await self._failed(feed, "publish", str(exc))
        await self._succeeded(feed, fetched, seen=parsed.entries_seen, new=len(result.accepted), outcome="ok")
        if result.accepted:
            log.info("feed %s: %d new item(s)", feed.id, len(result.accepted))
        return 0

    async def _succeeded(
        self, feed: FeedConfig, fetched: Fetched, *, seen: int, new: int, outcome: str
    ) -> None:
        now = self._clock()
        await self._store.record_success(
            feed.id, at=now, etag=fetched.etag, last_modified=fetched.last_modified, seen=seen, new=new
        )
        self._metrics.feed_polls.labels(feed=feed.id, outcome=outcome).inc()
        self._metrics.feed_last_success.labels(feed=feed.id).set(now.timestamp())

    async def _failed(self, feed: FeedConfig, kind: str, message: str) -> int:
        now = self._clock()
        log.warning("feed %s: %s", feed.id, message)
        self._metrics.feed_polls.labels(feed=feed.id, outcome="error").inc()
        self._metrics.feed_errors.labels(feed=feed.id, kind=kind).inc()
        self._metrics.feed_last_error.labels(feed=feed.id).set(now.timestamp())
        return await self._store.record_failure(feed.id, at=now, error=f"{kind}: {message}")
