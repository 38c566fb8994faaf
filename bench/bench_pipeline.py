"""End to end: items offered at fixed rates through ingest, to delivery at a local HTTP webhook.

Ingest, the classifier and the notifier run as real processes (``borderwatch ingest``,
``classifier``, ``notifier``) on the real broker and Redis, under a fresh namespace, with their
own rules file: one ``any`` rule that turns every tagged event into an alert routed to a local
HTTP sink (TCP_NODELAY). Items enter through ingest's push API: every ``TICK_S`` the items due by
the offered rate are posted as one small batch (``borderwatch replay -`` is not used because it
reads stdin in chunks of 500 lines and normalises several chunks ahead, so at 200 items/s an item
would wait seconds for its chunk to fill). Each item is unique (its URL carries a run id and its
index, and ingest derives the item id from the URL); the ids come back in the 202 answers, and
alerts at the sink name the item ids of their events.

Per item: the offer time (bench clock, when its request is sent; the item's ``published_at``
is set to it), ``ingested_at`` (set by ingest when it takes the request) and ``tagged_at``, both
read back from the tagged-events topic, the alert's ``fired_at`` and the arrival at the sink.
Stages: published → ingested, ingested → tagged (the broker acknowledgement, the raw-items topic
and the classifier), tagged → alerted, alerted → delivered; end to end is arrival - offer. All
clocks are this machine's wall clock. An item whose request was not answered 202 counts as lost.

Resident memory is sampled every half second for each of the three services: the process plus
its child processes, summed (ingest's children are its normalisation worker and the
resource tracker of Python's multiprocessing; the count is in the figure's unit). The peak during
the 200 items/s phase is compared with the 200 MB goal; the peak over the whole run is reported
beside it. Where a service has children, the summed PSS is reported too: a summed RSS counts
the pages a forked child shares with its parent twice, PSS once.

Baseline, in the same run and at the same rates: a raw kafka-python produce → consume round trip
on a topic of its own. Ratios (pipeline p99 / raw p99, pipeline throughput / raw throughput)
are the machine-independent figures; the absolute goals (p99 ≤ 250 ms at 200 items/s, nothing
lost, each service under 200 MB RSS) are reported beside them.

Run: ``python -m bench.bench_pipeline [budget_s]`` (prints the results; latency samples go to
``var/bench/pipeline_latencies.json``, which ``bench/plots.py`` draws).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from bench.bench_tagger import make_items
from bench.report import BenchResult
from schemas.codec import decode_as
from schemas.tagged_events import TaggedEventV1
from schemas.topics import TopicKey, topic_name

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"
RATES = (100, 200, 500, 1000)
GOAL_RATE = 200
GOAL_P99_S = 0.25
SUSTAINED_P99_S = 1.0
RSS_LIMIT_MB = 200.0
READY_MARKERS = {"ingest": "serving push API", "classifier": "Ready", "notifier": "consuming"}
STAGES = ("ingested", "tagged", "alerted", "delivered")
# What each stage spans, for the report and the plot.
STAGE_BOUNDARIES = {
    "ingested": "published→ingested",
    "tagged": "ingested→tagged",
    "alerted": "tagged→alerted",
    "delivered": "alerted→delivered",
}
SUSTAINED_S = 60.0
# One push request per tick: 40 requests/s stays under the push API's default rate limit per
# token (50/s), and an item waits at most one tick in the bench before it is offered.
TICK_S = 0.025
# run_all.py gives this module a larger share of `make bench`'s budget: it holds a rate for a minute.
BUDGET_WEIGHT = 4.0
RULES_YAML = """\
version: 1
rules:
  - id: bench-every-item
    title: Every item (benchmark)
    type: any
    severity: low
    routes: [webhook]
"""
SUBSCRIBERS_YAML = """\
version: 1
subscribers:
  - id: webhook
    channels:
      - type: webhook
        url_env: BW_WEBHOOK_URL
"""


def _now() -> float:
    return time.time()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class AlertSink:
    """A local webhook that records, per item id, when its alert arrived and when it fired."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.fired: dict[str, float] = {}
        self.duplicates = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                at = _now()
                sink.record(json.loads(body or b"null"), at)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                conn, addr = super().get_request()
                # Without it, Nagle and delayed ACKs add ~40 ms to every small response.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return conn, addr

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="alert-sink", daemon=True)

    def record(self, alert: Any, at: float) -> None:
        if not isinstance(alert, dict):
            return
        fired = datetime.fromisoformat(str(alert.get("fired_at", "")).replace("Z", "+00:00")).timestamp()
        with self._lock:
            for event in alert.get("events") or []:
                item = event.get("item_id")
                if item in self.arrived:
                    self.duplicates += 1
                    continue
                self.arrived[item] = at
                self.fired[item] = fired

    def count(self, ids: set[str]) -> int:
        with self._lock:
            return len(ids.intersection(self.arrived))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/bench"

    def __enter__(self) -> AlertSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def memory(self) -> tuple[int, int, int]:
        """(RSS, PSS) in bytes of the process and all its children, each summed; number of children.

        A summed RSS counts pages that a forked child shares copy-on-write with its parent twice;
        PSS splits each shared page among its sharers, so its sum is what the group really holds.
        """
        try:
            proc = psutil.Process(self.proc.pid)
            children = proc.children(recursive=True)
        except psutil.Error:
            return 0, 0, 0
        rss = pss = 0
        for member in [proc, *children]:
            with suppress(psutil.Error):
                info = member.memory_full_info()
                rss += info.rss
                pss += info.pss
        return rss, pss, len(children)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class RssSampler:
    """Samples every service's memory (process + children) every ``interval_s`` while entered."""

    def __init__(self, services: list[Service], interval_s: float = 0.5) -> None:
        self._services = services
        self._interval_s = interval_s
        self.peak: dict[str, int] = {s.name: 0 for s in services}  # summed RSS
        self.peak_pss: dict[str, int] = {s.name: 0 for s in services}
        self.children: dict[str, int] = {s.name: 0 for s in services}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        for service in self._services:
            rss, pss, children = service.memory()
            self.peak_pss[service.name] = max(self.peak_pss[service.name], pss)
            if rss > self.peak[service.name]:
                self.peak[service.name] = rss
                self.children[service.name] = children

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self._interval_s):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _service(name: str, env: dict[str, str], workdir: Path, timeout_s: float = 120.0) -> Iterator[Service]:
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", name],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = Service(name, proc, log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while READY_MARKERS[name] not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} did not start:\n{tail}")
            time.sleep(0.2)
        yield service
    finally:
        service.stop()


@dataclass
class Offered:
    """What one phase offered to the push API."""

    rate: int
    duration_s: float
    attempted: int = 0
    at: dict[str, float] = field(default_factory=dict)  # item id → offer time (its published_at)
    duplicates: int = 0  # answered 202 but as a duplicate (each offered item is unique: expect 0)
    answers: Counter[str] = field(default_factory=Counter)  # HTTP status (or error) → items


@dataclass(frozen=True)
class PushTarget:
    """Where the bench's ingest serves its push API, and the bench's push token (never printed)."""

    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _offer_push(
    target: PushTarget, rate: int, duration_s: float, make: Callable[[int], dict[str, Any]]
) -> Offered:
    """Offer ``rate`` items per second for ``duration_s`` to the push API, one request per tick.

    Item ``i`` is due ``i / rate`` seconds after the start; each tick posts every item due by
    then (a late tick catches up, so the offered rate holds). Requests run concurrently: a slow
    answer never delays the next tick.
    """
    offered = Offered(rate, duration_s)
    total = int(rate * duration_s)

    async def offer() -> None:
        transport = httpx.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        async with httpx.AsyncClient(
            base_url=target.url,
            transport=transport,
            timeout=30.0,
            headers={"authorization": f"Bearer {target.token}"},
        ) as http:

            async def post(batch: list[dict[str, Any]], at: float) -> None:
                try:
                    answer = await http.post("/v1/items", json=batch)
                except httpx.HTTPError as exc:
                    offered.answers[type(exc).__name__] += len(batch)
                    return
                offered.answers[str(answer.status_code)] += len(batch)
                if answer.status_code != 202:
                    return
                for outcome in answer.json()["items"]:
                    if outcome["status"] == "accepted":
                        offered.at[outcome["id"]] = at
                    else:
                        offered.duplicates += 1

            tasks: list[asyncio.Task[None]] = []
            start = time.monotonic()
            tick = 0
            while offered.attempted < total:
                delay = start + tick * TICK_S - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tick += 1
                due = min(total, int((time.monotonic() - start) * rate) + 1)
                if due <= offered.attempted:
                    continue
                at = _now()
                published = datetime.fromtimestamp(at, UTC).isoformat()
                batch = [{**make(i), "published_at": published} for i in range(offered.attempted, due)]
                offered.attempted = due
                tasks.append(asyncio.create_task(post(batch, at)))
            await asyncio.gather(*tasks)

    asyncio.run(offer())
    return offered


def _offer_raw(
    producer: KafkaProducer, topic: str, rate: int, duration_s: float, payload: bytes
) -> dict[str, float]:
    """Send ``rate`` messages per second for ``duration_s`` on a fixed schedule; key → send time."""
    sent: dict[str, float] = {}
    total = int(rate * duration_s)
    start = time.monotonic()
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        key = f"{i}"
        sent[key] = _now()
        producer.send(topic, key=key.encode(), value=payload)
    producer.flush(60)
    return sent


def _raw_round_trip(bootstrap: str, namespace: str, rate: int, duration_s: float) -> tuple[float, float]:
    """Baseline: kafka-python produce → consume of small messages; (p99 seconds, messages/s)."""
    topic = f"{namespace}.raw-baseline.{rate}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        from kafka.admin import NewTopic

        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    arrived: dict[str, float] = {}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=50).values():
                at = _now()
                for record in records:
                    arrived[record.key.decode()] = at

    reader = threading.Thread(target=consume, name="baseline-consumer", daemon=True)
    reader.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    payload = b"x" * 900  # about the size of an encoded item
    sent: dict[str, float] = {}
    try:
        sent = _offer_raw(producer, topic, rate, duration_s, payload)
        deadline = time.monotonic() + 15
        while len(arrived) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(5)
        producer.close(10)
        consumer.close()
    latencies = [arrived[k] - sent[k] for k in sent if k in arrived]
    span = max(arrived.values(), default=0.0) - min(sent.values(), default=0.0)
    return _percentile(latencies, 0.99), len(arrived) / span if span > 0 else 0.0


def _tagged_times(bootstrap: str, topic: str) -> dict[str, tuple[float, float]]:
    """item id → (ingested_at, tagged_at) for every tagged event on ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        times: dict[str, tuple[float, float]] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for record in records:
                    event = decode_as(TaggedEventV1, record.value)
                    times[event.item_id] = (event.ingested_at.timestamp(), event.tagged_at.timestamp())
        return times
    finally:
        consumer.close()


def _cleanup(bootstrap: str, redis_url: str, namespace: str) -> None:
    """Delete this run's topics and Redis keys (only ours: never a flush)."""
    import redis

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            ours = [t for t in admin.list_topics() if t.startswith(f"{namespace}.")]
            if ours:
                admin.delete_topics(ours)
        finally:
            admin.close()
    except Exception as exc:  # best effort: leftovers only cost disk space
        print(f"pipeline bench: could not delete topics: {type(exc).__name__}", file=sys.stderr)
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"bw:{namespace}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@dataclass
class PhaseResult:
    rate: int
    duration_s: float
    offered: int
    delivered: int
    throughput: float
    p50: float
    p99: float
    stages: dict[str, list[float]]
    answers: dict[str, int]
    rss: dict[str, int]  # service → peak RSS bytes (process + children, summed) during the phase
    pss: dict[str, int]  # service → peak PSS bytes (process + children, summed) during the phase
    rss_children: dict[str, int]

    @property
    def lost(self) -> int:
        return self.offered - self.delivered


def _pipeline_phase(
    target: PushTarget,
    bootstrap: str,
    namespace: str,
    sink: AlertSink,
    services: list[Service],
    rate: int,
    duration_s: float,
) -> PhaseResult:
    templates = [{"source": t.source, "title": t.title, "body": t.body} for t in make_items(200, seed=rate)]
    run_id = uuid.uuid4().hex[:8]

    def make(i: int) -> dict[str, Any]:
        # A URL of its own makes every offered item a new item with an id of its own.
        return {**templates[i % len(templates)], "url": f"https://bench.example/{run_id}/{i}"}

    with RssSampler(services) as sampler:
        offered = _offer_push(target, rate, duration_s, make)
        ids = set(offered.at)
        # Drain: wait while deliveries still make progress (bounded).
        last, last_change = -1, time.monotonic()
        drain_deadline = time.monotonic() + 60
        while time.monotonic() - last_change < 10 and time.monotonic() < drain_deadline:
            got = sink.count(ids)
            if got == len(ids):
                break
            if got != last:
                last, last_change = got, time.monotonic()
            time.sleep(0.2)
    tagged = _tagged_times(bootstrap, topic_name(TopicKey.TAGGED_EVENTS, namespace))
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    end_to_end: list[float] = []
    arrivals: list[float] = []
    for item, offered_at in offered.at.items():
        arrived = sink.arrived.get(item)
        if arrived is None:
            continue
        arrivals.append(arrived)
        end_to_end.append(arrived - offered_at)
        times, fired = tagged.get(item), sink.fired.get(item)
        if times is not None and fired is not None:
            ingested_at, tagged_at = times
            stages["ingested"].append(ingested_at - offered_at)
            stages["tagged"].append(tagged_at - ingested_at)
            stages["alerted"].append(fired - tagged_at)
            stages["delivered"].append(arrived - fired)
    span = (max(arrivals) - min(offered.at.values())) if arrivals else 0.0
    return PhaseResult(
        rate=rate,
        duration_s=duration_s,
        offered=offered.attempted,
        delivered=len(end_to_end),
        throughput=len(end_to_end) / span if span > 0 else 0.0,
        p50=_percentile(end_to_end, 0.5),
        p99=_percentile(end_to_end, 0.99),
        stages=stages,
        answers=dict(offered.answers),
        rss=dict(sampler.peak),
        pss=dict(sampler.peak_pss),
        rss_children=dict(sampler.children),
    )


def _environment(
    bootstrap: str, redis_url: str, namespace: str, workdir: Path, sink_url: str, target: PushTarget
) -> dict[str, str]:
    rules = workdir / "rules.yaml"
    rules.write_text(RULES_YAML)
    subscribers = workdir / "subscribers.yaml"
    subscribers.write_text(SUBSCRIBERS_YAML)
    feeds = workdir / "feeds.yaml"
    feeds.write_text("version: 1\nfeeds: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
    env.update(
        {
            "BW_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "BW_REDIS_URL": redis_url,
            "BW_TOPIC_NAMESPACE": namespace,
            "BW_LOG_LEVEL": "INFO",  # the start-up markers are INFO lines
            "BW_INGEST_API_PORT": str(target.port),
            "BW_INGEST_API_TOKENS": json.dumps(
                [{"name": "bench", "token": target.token, "scopes": ["push"]}]
            ),
            "BW_INGEST_FEEDS_FILE": str(feeds),
            "BW_CLASSIFIER_GROUP_ID": f"{namespace}-classifier",
            "BW_CLASSIFIER_WEB_PORT": str(_free_port()),
            "BW_CLASSIFIER_DATA_DIR": str(workdir / "classifier"),
            "BW_NOTIFIER_GROUP_ID": f"{namespace}-notifier",
            "BW_NOTIFIER_INSTANCE": f"{namespace}-n1",
            "BW_NOTIFIER_CONSOLE": "false",
            "BW_NOTIFIER_API_PORT": str(_free_port()),
            "BW_NOTIFIER_SUBSCRIBERS_FILE": str(subscribers),
            "BW_RULES_FILE": str(rules),
            "BW_WEBHOOK_URL": sink_url,
        }
    )
    return env


def _step_seconds(budget_s: float) -> float:
    """Seconds per offered rate in the step phases, leaving room for start-up, baselines,
    drains and the one-minute sustained phase."""
    overhead = 55.0 + 15.0 * len(RATES) + SUSTAINED_S + 15.0
    return max(4.0, min(20.0, (budget_s - overhead) / len(RATES)))


def _sustains(p: PhaseResult) -> bool:
    return p.lost == 0 and p.p99 < SUSTAINED_P99_S and p.throughput >= 0.95 * p.rate


def _report_phase(label: str, p: PhaseResult) -> None:
    refused = {k: v for k, v in p.answers.items() if k != "202"}
    print(
        f"   {label} {p.rate}/s for {p.duration_s:.0f}s: delivered {p.delivered}/{p.offered}, "
        f"{p.throughput:.0f}/s, p50 {p.p50 * 1000:.0f} ms, p99 {p.p99 * 1000:.0f} ms"
        + (f", not taken by ingest: {refused}" if refused else ""),
        flush=True,
    )


def run(bootstrap: str, redis_url: str, budget_s: float = 240.0) -> list[BenchResult]:
    """Step through :data:`RATES` (each beside its raw Kafka baseline), then hold the highest
    rate that kept up for :data:`SUSTAINED_S` seconds (less when the budget does not allow it),
    and the next lower one if it did not hold."""
    deadline = time.monotonic() + budget_s
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    step = _step_seconds(budget_s)
    baseline_duration = max(3.0, step / 3)
    phases: list[PhaseResult] = []
    sustained: PhaseResult | None = None
    baselines: dict[int, tuple[float, float]] = {}
    services: list[Service] = []
    target = PushTarget(_free_port(), secrets.token_urlsafe(24))
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bw-bench-")))
        stack.callback(_cleanup, bootstrap, redis_url, namespace)
        sink = stack.enter_context(AlertSink())
        env = _environment(bootstrap, redis_url, namespace, workdir, sink.url, target)
        for name in ("ingest", "classifier", "notifier"):
            services.append(stack.enter_context(_service(name, env, workdir)))
        # Warm-up, not measured: partition assignment, connections and first-use costs.
        _pipeline_phase(target, bootstrap, namespace, sink, services, 20, 1.0)
        for rate in RATES:
            baselines[rate] = _raw_round_trip(bootstrap, namespace, rate, baseline_duration)
            result = _pipeline_phase(target, bootstrap, namespace, sink, services, rate, step)
            phases.append(result)
            _report_phase("step", result)
            if rate >= GOAL_RATE and not _sustains(result):
                break  # saturated: higher rates only pile up a backlog (the goal rate is always run)
        # The highest rate that kept up in its step, held; one step lower when it did not hold.
        for rate in sorted((p.rate for p in phases if _sustains(p)), reverse=True):
            hold = min(SUSTAINED_S, deadline - time.monotonic() - 20.0)
            if hold < 5.0:
                break
            sustained = _pipeline_phase(target, bootstrap, namespace, sink, services, rate, hold)
            _report_phase("sustained", sustained)
            if _sustains(sustained):
                break
        duplicates = sink.duplicates
    _write_samples(phases)
    return _results(phases, sustained, baselines, duplicates)


def _write_samples(phases: list[PhaseResult]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    data = {
        "stages": list(STAGES),
        "stage_boundaries": STAGE_BOUNDARIES,
        "offered_through": "ingest push API",
        "phases": [{"rate": p.rate, "duration_s": p.duration_s, "stages": p.stages} for p in phases],
    }
    (OUT / "pipeline_latencies.json").write_text(json.dumps(data))


def _rss_results(label: str, phases: list[PhaseResult], goal: bool) -> list[BenchResult]:
    """One figure per service: the peak of ``phases`` (process + children, summed)."""
    results: list[BenchResult] = []
    for name in READY_MARKERS:
        peak = max(phases, key=lambda p: p.rss.get(name, 0))
        mb = peak.rss.get(name, 0) / 1e6
        children = peak.rss_children.get(name, 0)
        # Ingest runs its normalisation workers as child processes: the name says they are in.
        who = "ingest_with_workers" if name == "ingest" else name
        unit = f"MB (process + {children} child process(es), summed)" if children else "MB (process)"
        results.append(
            BenchResult.absolute(
                f"pipeline_rss_{who}_{label}",
                mb,
                unit,
                goal=f"< {RSS_LIMIT_MB:g} MB" if goal else None,
                met=(mb < RSS_LIMIT_MB) if goal else None,
            )
        )
        if children:
            # Shared copy-on-write pages counted once: beside the summed RSS, not instead of it.
            pss_mb = max(p.pss.get(name, 0) for p in phases) / 1e6
            results.append(
                BenchResult.absolute(
                    f"pipeline_pss_{who}_{label}",
                    pss_mb,
                    f"MB (PSS, process + {children} child process(es), summed)",
                )
            )
    return results


def _results(
    phases: list[PhaseResult],
    sustained: PhaseResult | None,
    baselines: dict[int, tuple[float, float]],
    duplicates: int,
) -> list[BenchResult]:
    results: list[BenchResult] = []
    for p in phases:
        base_p99, base_rate = baselines[p.rate]
        results += [
            BenchResult.against(
                f"pipeline_{p.rate}_throughput",
                p.throughput,
                "items/s",
                baseline=f"raw kafka-python produce->consume at {p.rate}/s",
                baseline_value=base_rate,
                goal_ratio=0.95,
            ),
            BenchResult.against(
                f"pipeline_{p.rate}_p99_latency",
                p.p99,
                "s",
                baseline=f"raw kafka-python produce->consume p99 at {p.rate}/s",
                baseline_value=base_p99,
            ),
            BenchResult.absolute(f"pipeline_{p.rate}_p50_latency", p.p50, "s"),
            BenchResult.absolute(f"pipeline_{p.rate}_lost", p.lost, "items", goal="0", met=p.lost == 0),
        ]
        for stage in STAGES:
            results.append(
                BenchResult.absolute(
                    f"pipeline_{p.rate}_stage_{stage}_p99",
                    _percentile(p.stages[stage], 0.99),
                    f"s ({STAGE_BOUNDARIES[stage]})",
                )
            )
    at_goal = next((p for p in phases if p.rate == GOAL_RATE), None)
    if at_goal is not None:
        results.append(
            BenchResult.absolute(
                f"pipeline_p99_at_{GOAL_RATE}_per_s",
                at_goal.p99,
                "s",
                goal=f"<= {GOAL_P99_S} s offer to ingest -> delivery, 0 lost",
                met=at_goal.p99 <= GOAL_P99_S and at_goal.lost == 0,
            )
        )
        results += _rss_results(f"at_{GOAL_RATE}_per_s", [at_goal], goal=True)
    held = sustained is not None and _sustains(sustained)
    results.append(
        BenchResult.absolute(
            "pipeline_max_sustained_rate",
            sustained.rate if sustained is not None and held else 0,
            "items/s",
            goal=f"highest offered rate held {SUSTAINED_S:g}s with p99 < {SUSTAINED_P99_S:g} s, 0 lost",
            met=held and sustained is not None and sustained.duration_s >= SUSTAINED_S,
        )
    )
    if sustained is not None:
        results += [
            BenchResult.absolute("pipeline_sustained_seconds", sustained.duration_s, "s"),
            BenchResult.absolute("pipeline_sustained_throughput", sustained.throughput, "items/s"),
            BenchResult.absolute("pipeline_sustained_p99_latency", sustained.p99, "s"),
            BenchResult.absolute(
                "pipeline_sustained_lost", sustained.lost, "items", goal="0", met=sustained.lost == 0
            ),
        ]
    results.append(
        BenchResult.absolute(
            "pipeline_duplicate_deliveries", duplicates, "alerts", goal="0", met=duplicates == 0
        )
    )
    measured = phases + ([sustained] if sustained is not None else [])
    if measured:
        results += _rss_results("peak", measured, goal=False)
    return results


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 240.0
    results = run("127.0.0.1:9092", "redis://127.0.0.1:6379/0", budget)
    for r in results:
        ratio = f"  ratio {r.ratio:.3f} vs {r.baseline_value:.4g}" if r.ratio is not None else ""
        met = "" if r.met is None else f"  goal {r.goal}: {'met' if r.met else 'NOT met'}"
        print(f"{r.name:<44} {r.value:12.4g} {r.unit}{ratio}{met}")
    from bench.plots import draw_latencies

    print(f"wrote {draw_latencies(OUT)}")


if __name__ == "__main__":
    main()
