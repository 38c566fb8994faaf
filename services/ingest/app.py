"""Ingest wiring: builds the Kafka producer, Redis client, HTTP client and servers from settings.

``replay`` reads a JSONL file; ``run_service`` runs the feed poller and the push API until
SIGTERM/SIGINT, then stops taking work, waits for what is in flight and flushes the producer.
An item counts as accepted only once the broker acknowledged it (``acks=all``, idempotent
producer); its id is written to the seen-set only after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from schemas.codec import encode
from schemas.topics import TopicKey
from services.common.clock import Clock, utc_now
from services.common.dead_letters import dead_letter_headers, make_dead_letter
from services.common.kafka_admin import ensure_topics
from services.ingest.batches import EncodedItem, EncodedLine, parse_replay_chunk
from services.ingest.metrics import IngestMetrics, create_metrics
from services.ingest.pacing import Pacer
from services.ingest.publisher import Publisher, PublishResult, PublishUnavailable
from services.ingest.replay_reader import RejectedLine
from services.ingest.schedule import BrokerGate
from services.ingest.settings import IngestSettings
from services.ingest.stores import RedisSeenStore
from services.ingest.workers import NormalisePool

log = logging.getLogger(__name__)
SERVICE = "ingest"
REPLAY_BATCH = 500
REPLAY_BATCHES_IN_FLIGHT = 8
REPLAY_RETRIES = 5
# Chunks of REPLAY_BATCH lines handed to the normalisation workers ahead of the one being sent.
REPLAY_CHUNKS_AHEAD = 4
# Files at least this large start the normalisation workers at once; a smaller file that turns out
# to be longer than one chunk (stdin) starts them at its second chunk.
POOL_MIN_FILE_BYTES = 256 * 1024

__all__ = ["IngestSettings", "ReplaySummary", "create_producer", "replay", "run_service"]


@dataclass
class ReplaySummary:
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0
    invalid_lines: list[tuple[int, str]] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"replay: {self.accepted} accepted, {self.duplicates} duplicates, {self.invalid} invalid"]
        lines += [f"  line {n}: {reason}" for n, reason in self.invalid_lines[:50]]
        if len(self.invalid_lines) > 50:
            lines.append(f"  ... and {len(self.invalid_lines) - 50} more")
        return "\n".join(lines)


def create_producer(settings: IngestSettings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_list,
        client_id="borderwatch-ingest",
        acks="all",
        enable_idempotence=True,
        compression_type="gzip",
        linger_ms=settings.producer_linger_ms,
        max_block_ms=settings.producer_max_block_ms,
        request_timeout_ms=settings.producer_request_timeout_ms,
        delivery_timeout_ms=settings.producer_delivery_timeout_ms,
    )


class ReplaceableProducer:
    """A ``KafkaProducer`` that the publisher can swap for a fresh one when it stopped settling
    sends (see :class:`~services.ingest.publisher.ProducerStuck`); the old one is closed at
    once, failing what it still held (those items are answered 503 and sent again)."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self._producer = create_producer(settings)
        self.settle_timeout_s = (
            settings.producer_delivery_timeout_ms + settings.producer_request_timeout_ms
        ) / 1000

    def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None
    ) -> Any:
        return self._producer.send(topic, value=value, key=key, headers=headers)

    def replace(self) -> None:
        old, self._producer = self._producer, create_producer(self._settings)
        try:
            old.close(timeout=0)  # fails what it still holds; a flush that cannot finish raises
        except Exception as exc:
            log.warning("closing the replaced producer: %s", type(exc).__name__)

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        self._producer.close(timeout=timeout)


def create_redis(settings: IngestSettings) -> Redis:
    return Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5)


def create_publisher(
    settings: IngestSettings, producer: Any, redis: Redis, metrics: IngestMetrics
) -> Publisher:
    return Publisher(
        producer,
        RedisSeenStore(redis, settings.topic_namespace, settings.ingest_seen_ttl_s),
        topic=settings.topic(TopicKey.RAW_ITEMS),
        metrics=metrics,
        gate=BrokerGate(retry_after_s=settings.ingest_retry_after_s, now=time.monotonic),
        max_inflight=settings.ingest_max_inflight,
        settle_timeout_s=producer.settle_timeout_s if isinstance(producer, ReplaceableProducer) else None,
        replace_producer=producer.replace if isinstance(producer, ReplaceableProducer) else None,
    )


@contextmanager
def open_replay_source(path: str) -> Iterator[Iterable[bytes]]:
    """``-`` is standard input; a ``.gz`` name is read through gzip."""
    if path == "-":
        yield sys.stdin.buffer
    elif path.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            yield fh
    else:
        with Path(path).open("rb") as fh:
            yield fh


class _Counted:
    """Counts the bytes of the lines read so far (for the progress bar)."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = lines
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self._lines:
            self.bytes_read += len(line)
            yield line


def replay(
    settings: IngestSettings,
    path: str,
    *,
    clock: Clock = utc_now,
    producer: KafkaProducer | None = None,
    rate: float | None = None,
    speedup: float | None = None,
    progress: Callable[[int], None] | None = None,
    metrics: IngestMetrics | None = None,
) -> ReplaySummary:
    """Produce every new valid line of ``path`` to raw-items and every invalid one to its DLQ.

    Returns after the broker acknowledged every message; items seen before are counted as
    duplicates and not produced again. Raises :class:`PublishUnavailable` when the broker stays
    unavailable, so a caller never reports an item as accepted that the broker did not take.
    ``progress`` receives the number of (uncompressed) bytes read so far; ``metrics`` (default: a
    private registry, as a one-shot command serves no ``/metrics``) counts what the replay did.
    """
    ensure_topics(settings)
    own_producer = producer is None
    prod = producer or create_producer(settings)
    try:
        return asyncio.run(
            _replay(
                settings,
                path,
                prod,
                clock=clock,
                pacer=Pacer(rate=rate, speedup=speedup),
                progress=progress,
                metrics=metrics or create_metrics(CollectorRegistry()),
            )
        )
    finally:
        if own_producer:
            prod.close(timeout=settings.ack_timeout_s)


async def _replay(
    settings: IngestSettings,
    path: str,
    producer: KafkaProducer,
    *,
    clock: Clock,
    pacer: Pacer,
    progress: Callable[[int], None] | None,
    metrics: IngestMetrics,
) -> ReplaySummary:
    redis = create_redis(settings)
    publisher = create_publisher(settings, producer, redis, metrics)
    pool = NormalisePool(settings.ingest_normalise_workers)
    dlq_topic = settings.topic(TopicKey.RAW_ITEMS_DLQ)
    summary = ReplaySummary()
    tasks: set[asyncio.Task[None]] = set()
    batch: list[EncodedItem] = []
    tolerance = timedelta(seconds=settings.ingest_future_tolerance_s)
    source_file = None if path == "-" else Path(path).name

    async def publish(items: list[EncodedItem]) -> None:
        for attempt in range(REPLAY_RETRIES + 1):
            try:
                result: PublishResult = await publisher.publish(items, origin="replay")
            except PublishUnavailable as exc:
                summary.accepted += len(exc.accepted)
                done = set(exc.accepted)
                items = [i for i in items if i.id not in done]
                if attempt == REPLAY_RETRIES:
                    raise
                log.warning("broker unavailable, retrying %d item(s) in %.0fs", len(items), exc.retry_after_s)
                await asyncio.sleep(exc.retry_after_s)
                continue
            summary.accepted += len(result.accepted)
            summary.duplicates += len(result.duplicates)
            return

    async def start(coro: Any) -> None:
        while len(tasks) >= REPLAY_BATCHES_IN_FLIGHT:
            finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                tasks.discard(task)
                task.result()  # re-raise a failure now, not at the end
        tasks.add(asyncio.create_task(coro))

    async def flush() -> None:
        nonlocal batch
        if batch:
            await start(publish(batch))
            batch = []

    started = time.monotonic()
    index = 0

    async def handle(outcomes: list[EncodedLine | RejectedLine], bytes_read: int) -> None:
        nonlocal index
        for outcome in outcomes:
            if isinstance(outcome, EncodedLine):
                if pacer.paced:
                    wait = started + pacer.due(index, outcome.item.published_at) - time.monotonic()
                    if wait > 0:
                        await flush()
                        await asyncio.sleep(wait)
                index += 1
                batch.append(outcome.item)
                if len(batch) >= REPLAY_BATCH:
                    await flush()
                continue
            letter = make_dead_letter(
                service=SERVICE,
                reason=outcome.reason,
                reason_class="input",
                payload=outcome.raw,
                now=clock(),
                source_file=source_file,
                line_number=outcome.line_number,
            )
            await start(publisher.send_raw(dlq_topic, encode(letter), dead_letter_headers(letter)))
            metrics.items.labels(origin="replay", outcome="invalid").inc()
            metrics.dead_letters.labels(topic="raw-items", reason_class="input").inc()
            summary.invalid += 1
            summary.invalid_lines.append((outcome.line_number, outcome.reason))
        if progress is not None:
            progress(bytes_read)

    # Chunks are normalised by the workers (in file order, several ahead) while this process sends
    # the chunks before them; a short file is done in-process before the workers would be ready.
    ahead: deque[tuple[asyncio.Task[list[EncodedLine | RejectedLine]], int]] = deque()
    try:
        with open_replay_source(path) as source:
            counted = _Counted(source)
            if _file_size(path) >= POOL_MIN_FILE_BYTES:
                pool.start_soon()
            for number, chunk in enumerate(_numbered_chunks(counted, REPLAY_BATCH)):
                if number == 1:
                    pool.start_soon()  # input of unknown length (stdin) that is more than one chunk
                work = pool.run(len(chunk), parse_replay_chunk, chunk, clock(), tolerance)
                ahead.append((asyncio.create_task(work), counted.bytes_read))
                while len(ahead) > REPLAY_CHUNKS_AHEAD:
                    parsed, bytes_read = ahead.popleft()
                    await handle(await parsed, bytes_read)
            while ahead:
                parsed, bytes_read = ahead.popleft()
                await handle(await parsed, bytes_read)
            await flush()
            while tasks:
                finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    tasks.discard(task)
                    task.result()
            if progress is not None:
                progress(counted.bytes_read)
    finally:
        pending: list[asyncio.Task[Any]] = [t for t, _ in ahead]
        pending += tasks
        for left in pending:
            left.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await pool.aclose()
        publisher.close()
        await redis.aclose()
    return summary


def _file_size(path: str) -> int:
    try:
        return 0 if path == "-" else Path(path).stat().st_size
    except OSError:
        return 0


def _numbered_chunks(lines: Iterable[bytes], size: int) -> Iterator[list[tuple[int, bytes]]]:
    """Non-blank lines with their numbers as an editor shows them, ``size`` at a time."""
    chunk: list[tuple[int, bytes]] = []
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if stripped:
            chunk.append((number, stripped))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


class BrokerProbe:
    """Readiness of the broker: a real Metadata request listing at least one broker.

    An open port is not enough (a KRaft broker serves only once registered, and a hung broker
    still accepts connections). Each probe opens a fresh client (bounded by ``timeout_s``), so
    nothing lingers while the broker is away; the answer is cached for ``ttl_s`` so that frequent
    readiness checks cost one request.
    """

    def __init__(
        self,
        bootstrap: list[str],
        *,
        timeout_s: float = 2.0,
        ttl_s: float = 1.5,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bootstrap = bootstrap
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._now = now
        self._checked_at: float | None = None
        self._ok = False
        self._lock = asyncio.Lock()

    async def ready(self) -> bool:
        async with self._lock:  # concurrent checks share one request
            if self._checked_at is None or self._now() - self._checked_at >= self._ttl_s:
                self._ok = await self._probe()
                self._checked_at = self._now()
            return self._ok

    async def _probe(self) -> bool:
        from aiokafka.client import AIOKafkaClient

        client = AIOKafkaClient(
            bootstrap_servers=self._bootstrap,
            client_id="borderwatch-ingest-readiness",
            request_timeout_ms=int(self._timeout_s * 1000),
        )
        try:
            async with asyncio.timeout(self._timeout_s):
                await client.bootstrap()
            return bool(client.cluster.brokers())
        except Exception:
            return False
        finally:
            with contextlib.suppress(Exception):
                await client.close()


def run_service(settings: IngestSettings, *, clock: Clock = utc_now) -> None:
    """Run the feed poller and the push API until SIGTERM/SIGINT; raises ConfigError on bad config."""
    from services.ingest.feeds_config import load_feeds

    feeds = load_feeds(settings.ingest_feeds_file)
    ensure_topics(settings)
    producer = ReplaceableProducer(settings)
    try:
        asyncio.run(_serve(settings, feeds.enabled, producer, clock))
    finally:
        producer.flush(timeout=settings.ack_timeout_s)
        producer.close(timeout=settings.ack_timeout_s)
        log.info("ingest stopped; producer flushed")


async def _serve(
    settings: IngestSettings, feeds: list[Any], producer: KafkaProducer | ReplaceableProducer, clock: Clock
) -> None:
    import httpx
    import uvicorn

    from services.ingest.api import ApiLimits, create_api
    from services.ingest.poller import FeedPoller, PollLimits
    from services.ingest.stores import FeedStateStore

    registry = CollectorRegistry()
    metrics = create_metrics(registry)
    redis = create_redis(settings)
    publisher = create_publisher(settings, producer, redis, metrics)
    states = FeedStateStore(redis, settings.topic_namespace)
    tolerance = timedelta(seconds=settings.ingest_future_tolerance_s)
    http = httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=settings.ingest_fetch_max_redirects,
        timeout=httpx.Timeout(settings.ingest_fetch_timeout_s),
    )
    poller = FeedPoller(
        feeds,
        client=http,
        publisher=publisher,
        store=states,
        metrics=metrics,
        limits=PollLimits(
            max_bytes=settings.ingest_fetch_max_bytes,
            total_timeout_s=settings.ingest_fetch_timeout_s,
            backoff_cap_s=settings.ingest_backoff_cap_s,
            future_tolerance=tolerance,
        ),
        clock=clock,
    )

    probe = BrokerProbe(settings.bootstrap_list)

    async def ready() -> dict[str, bool]:
        try:
            redis_ok = bool(await redis.ping())
        except Exception:
            redis_ok = False
        broker_ok = await probe.ready()
        return {"broker": broker_ok, "redis": redis_ok, "config": True}

    async def feed_status() -> list[dict[str, Any]]:
        out = []
        for feed in feeds:
            state = await states.get(feed.id)
            out.append({"id": feed.id, **state.__dict__, "etag": None, "last_modified": None})
        return out

    pool = NormalisePool(settings.ingest_normalise_workers)
    await pool.start()
    api = create_api(
        publisher=publisher,
        pool=pool,
        tokens=settings.ingest_api_tokens,
        limits=ApiLimits(
            max_body_bytes=settings.ingest_api_max_body_bytes,
            max_batch=settings.ingest_api_max_batch,
            ack_timeout_s=settings.ingest_api_ack_timeout_s,
            future_tolerance=tolerance,
            rate_per_s=settings.ingest_api_rate_per_s,
            rate_burst=settings.ingest_api_rate_burst,
        ),
        metrics=metrics,
        registry=registry,
        clock=clock,
        ready=ready,
        feed_status=feed_status,
    )
    server = _QuietServer(
        uvicorn.Config(
            api,
            host=settings.ingest_api_host,
            port=settings.ingest_api_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(settings.ingest_api_ack_timeout_s) + 5,
        )
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server_task = asyncio.create_task(server.serve(), name="push-api")
    poller_task = asyncio.create_task(poller.run(), name="feed-poller")
    stop_task = asyncio.create_task(stopping.wait(), name="stop-signal")
    try:
        while not server.started and not server_task.done():  # noqa: ASYNC110 (uvicorn has no start-up event)
            await asyncio.sleep(0.05)
        if server.started:
            port = (
                server.servers[0].sockets[0].getsockname()[1] if server.servers else settings.ingest_api_port
            )
            print(
                f"ingest: serving push API on http://{settings.ingest_api_host}:{port} "
                f"and polling {len(feeds)} feed(s)",
                flush=True,
            )
        await asyncio.wait({server_task, poller_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("ingest stopping: no new requests, waiting for acknowledgements")
        server.should_exit = True
        poller.stop()
        stop_task.cancel()
        results = await asyncio.gather(server_task, poller_task, stop_task, return_exceptions=True)
        await publisher.drain(settings.ack_timeout_s)
        publisher.close()
        await pool.aclose()
        await http.aclose()
        await redis.aclose()
        for result in results[:2]:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result


class _QuietServer:
    """uvicorn's server without its own signal handlers: the service decides when to stop."""

    def __new__(cls, config: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        return Server(config)
