"""The classifier stage through the real broker, against its two unavoidable parts.

Measured in one run on the same ~150-word news-like items (:func:`make_items`: 40 outlets over
three days, a quarter of them copies or light rewrites of an earlier item):

(a) a raw aiokafka pass-through: consume a topic and produce the same bytes to another topic
    (batched ``getmany`` and sends, offsets committed after the sends are acknowledged);
(b) the pure tagger, ``Tagger.tag``, on the decoded items, one core;
(c) the classifier stage: ``borderwatch classifier`` as a subprocess (faust, decoding, tagging,
    story ids, incidents, tagged events, incident revisions and table changelogs with acks=all)
    over a backlog, as deployed by default (``BW_CLASSIFIER_TAG_PROCESSES`` unset: with two or
    more CPUs, tagging in a process beside the event loop).

Their composed limit for one process is ``1 / (1/a + 1/b)``; the goal is c >= 0.8 * limit. Each
of a, b and c is measured in two rounds and the better round counts (the ratio of each round is
printed too). The same stage with everything in the event loop (``BW_CLASSIFIER_TAG_PROCESSES=0``,
the default on one CPU) is reported beside it, against the same limit. To tell what
faust and the Kafka wiring cost from what the stage's own work costs, the whole pure core (decode,
story id, tag, encode, incidents and their revisions, state writes; no Kafka) is measured on the
same items too, and the stage is set against ``1 / (1/a + 1/core)``.
Two extra figures: the no-op faust floor (a faust agent that takes the same backlog in batches
with ``take_events`` and does nothing: the most faust's stream path delivers, which is why the
classifier reads raw items in whole fetches), and the story index's cost per item (pure).
Broker-side rates (a, c) are counted from the output records' timestamps (first to last), so
start-up and group joins are not included. The worker's memory (with its tagging process) is
read from /proc: RSS, and PSS, which splits the pages the two processes share. With a tagging
process the stage uses two cores' worth of CPU where the limit is one process's: its CPU time per
item (both processes, from /proc, between the first and the last output records seen) is set
against the one-process budget ``1 / limit``, so what the second core buys is on the record.

Run: ``python -m bench.bench_classifier`` (prints the results).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from bench.report import BenchResult
from schemas.codec import encode
from schemas.raw_items import RawItemV1
from schemas.topics import TopicKey, topic_name
from services.classifier.app import ClassifierSettings, build_core
from services.classifier.core_process import tagging_processes
from services.classifier.stories import StoryIndex
from services.classifier.tagger import Tagger, load_tagger

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO = 0.8
# run_all.py gives this module a larger share of `make bench`'s budget: its 10,000 items through
# the broker, in two rounds and two modes, take about 90 s.
BUDGET_WEIGHT = 1.8
GOAL_STORY_US = 30.0
TARGET_WORDS = 150
_OUTLETS = [f"outlet-{i:02d}" for i in range(40)]
_SUBJECTS = [
    "Officials",
    "Residents",
    "Police",
    "Elders",
    "Traders",
    "Witnesses",
    "Doctors",
    "A spokesman",
    "Local reporters",
    "Security sources",
    "Tribal leaders",
    "Border guards",
    "Aid workers",
    "Hospital staff",
    "Customs officers",
    "Drivers",
    "Shopkeepers",
    "Teachers",
    "Farmers",
    "Provincial authorities",
    "Military officials",
    "Rescue workers",
    "Students",
    "Diplomats",
]
_EVENTS = [
    "{n} people were killed in an exchange of fire",
    "{n} soldiers were injured by a roadside bomb",
    "the {crossing} crossing was closed to trucks",
    "the {crossing} border crossing reopened for pedestrians",
    "mortar shells hit a village despite the ceasefire",
    "the truce was broken by overnight shelling",
    "a convoy was stopped at the {crossing} gate",
    "prices of flour rose after the border was shut",
    "{n} civilians died when a market was shelled",
    "talks on the ceasefire were postponed",
    "a curfew was imposed after clashes",
    "mobile networks were suspended as a precaution",
    "hundreds of families fled their homes",
    "a checkpoint came under attack by gunmen",
]
_PLACES = [
    "Khost",
    "Kurram",
    "Bajaur",
    "North Waziristan",
    "Quetta",
    "Peshawar",
    "Paktika",
    "Kunar",
    "Lakki Marwat",
    "Zhob",
    "Nangarhar",
    "Chitral",
    "Mohmand",
    "Tank",
    "Bannu",
    "Kandahar",
]
_CROSSINGS = ["Torkham", "Chaman", "Ghulam Khan", "Angoor Adda", "Kharlachi"]
_NUMBERS = ["three", "five", "seven", "12", "at least 9", "more than 20", "two dozen", "four", "eleven"]
_WHEN = [
    "late on {day}",
    "early on {day}",
    "on {day} evening",
    "overnight",
    "this week",
    "after dawn prayers",
    "before the talks",
    "during a funeral",
    "near the main bazaar",
    "on the highway",
    "at a school",
]
_TAILS = [
    "the district chief told reporters",
    "according to a statement",
    "local media reported",
    "a senior official confirmed",
    "in a phone interview",
    "citing hospital records",
    "sources said",
    "witnesses told a news agency",
    "an inquiry was ordered",
    "families demanded compensation",
    "the market stayed shut",
    "schools remained closed",
    "queues of trucks grew longer",
    "elders called for calm",
    "the United Nations urged restraint",
    "rain slowed the rescue",
]
_FILLER = [
    "angry",
    "quiet",
    "crowded",
    "remote",
    "dusty",
    "narrow",
    "busy",
    "old",
    "new",
    "small",
    "large",
    "northern",
    "southern",
    "eastern",
    "western",
    "nearby",
    "local",
    "main",
    "second",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def make_items(count: int, seed: int = 11) -> list[RawItemV1]:
    """``count`` news-like items of about 150 words (deterministic for a seed).

    Sentences are drawn from a grammar with many free slots, so unrelated items share few word
    triples; 15% of items are word-for-word copies of an earlier item from another outlet and 10%
    are light rewrites (another headline, one inserted clause), which is what the story index is for.
    Items spread over three days and 40 outlets, so incidents get several reports and sources.
    """
    rng = random.Random(seed)
    start = datetime(2025, 11, 1, 6, 0, tzinfo=UTC)

    def fill(template: str) -> str:
        return template.format(n=rng.choice(_NUMBERS), crossing=rng.choice(_CROSSINGS), day=rng.choice(_DAYS))

    def sentence() -> str:
        return (
            f"{rng.choice(_SUBJECTS)} in {rng.choice(_FILLER)} {rng.choice(_PLACES)} said "
            f"{fill(rng.choice(_EVENTS))} {fill(rng.choice(_WHEN))}, {rng.choice(_TAILS)}."
        )

    items: list[RawItemV1] = []
    for i in range(count):
        published = start + timedelta(seconds=i * 259_200 / max(1, count))
        roll = rng.random()
        if items and roll < 0.25:
            original = rng.choice(items[-200:])
            title, body = original.title, original.body
            if roll >= 0.15:  # a light rewrite
                title = f"{rng.choice(_FILLER).capitalize()} {title}"
                first, _, rest = body.partition(". ")
                body = f"{first}, {rng.choice(_TAILS)}. {rest}"
        else:
            title = f"{fill(rng.choice(_EVENTS)).capitalize()} in {rng.choice(_PLACES)}"
            sentences: list[str] = []
            while sum(len(s.split()) for s in sentences) < TARGET_WORDS:
                sentences.append(sentence())
            body = " ".join(sentences)
        items.append(
            RawItemV1(
                id=f"bench-{uuid.uuid4().hex[:8]}-{i}",
                source=rng.choice(_OUTLETS),
                title=title,
                body=body,
                published_at=published,
                ingested_at=published,
                origin="replay",
            )
        )
    return items


def _produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024)
    try:
        for key, value in values:
            producer.send(topic, key=key, value=value)
        producer.flush(60)
    finally:
        producer.close()


def _rate_from_timestamps(
    bootstrap: str,
    topic: str,
    count: int,
    timeout_s: float,
    on_progress: Callable[[int], None] = lambda arrived: None,
) -> float | None:
    """Records/s between the first and last output record, once ``count`` records arrived.

    The records are read only once the topic's end offsets say all of them are there: a reader
    decoding the topic while the stage writes it would take most of a core from the stage (and
    from its tagging process) on a two-core machine. The timestamps are the producers' own, so
    reading them afterwards changes nothing in the figure."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        deadline = time.monotonic() + timeout_s
        partitions: set[int] = set()
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic) or set()
            time.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        arrived = 0
        while time.monotonic() < deadline and arrived < count:
            arrived = sum(consumer.end_offsets(tps).values())
            on_progress(arrived)
            if arrived < count:
                time.sleep(0.25)
        deadline = max(deadline, time.monotonic() + 30)  # reading what arrived is not the stage's time
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        stamps: list[int] = []
        while len(stamps) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300, max_records=5000).values():
                stamps.extend(r.timestamp for r in batch)
        if len(stamps) < count:
            return None
        span = (max(stamps) - min(stamps)) / 1000.0
        return (len(stamps) - 1) / span if span > 0 else None
    finally:
        consumer.close()


async def _pass_through(bootstrap: str, source: str, target: str, count: int, timeout_s: float) -> None:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-pass-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        seen = 0
        deadline = time.monotonic() + timeout_s
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            futures = []
            for records in batches.values():
                for r in records:
                    futures.append(await producer.send(target, r.value, key=r.key, headers=r.headers))
                seen += len(records)
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _family(pid: int) -> list[int]:
    """A process and its children (the classifier and its tagging process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [pid, *(int(p) for p in children.read_text().split())]
    return [pid]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children so far."""
    ticks = 0
    for one in _family(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class _CpuPerItem:
    """CPU time per item of the stage's processes, between the first output records seen and the
    last (start-up and the group join are not counted)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.first: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None

    def __call__(self, arrived: int) -> None:
        if arrived <= 0:
            return
        sample = (arrived, _cpu_seconds(self.pid))
        if self.first is None:
            self.first = sample
        else:
            self.last = sample

    def us(self) -> float:
        if self.first is None or self.last is None or self.last[0] <= self.first[0]:
            return 0.0
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0]) * 1e6


def _memory_mb(pid: int) -> tuple[float, float]:
    """Resident and proportional set size (shared pages split between the processes sharing them)
    of a process and its children together: the classifier forks its tagging process, and the
    pages they share would count twice in a sum of RSS."""
    rss = pss = 0.0
    for one in _family(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024.0
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024.0
    return rss, pss


def _stage(
    bootstrap: str, payloads: list[tuple[bytes, bytes]], processes: int | None, timeout_s: float
) -> tuple[float, float, float, float]:
    """``borderwatch classifier`` over a backlog of ``payloads`` with ``processes`` tagging
    processes (None: the default): its rate (records/s of tagged events, first to last), its RSS
    and PSS in MiB, and its CPU time per item in microseconds (with its tagging process)."""
    from services.common.kafka_admin import ensure_topics
    from services.common.settings import CommonSettings

    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    ensure_topics(CommonSettings(kafka_bootstrap_servers=bootstrap, topic_namespace=namespace))
    _produce(bootstrap, topic_name(TopicKey.RAW_ITEMS, namespace), payloads)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
        env.update(
            BW_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            BW_TOPIC_NAMESPACE=namespace,
            BW_CLASSIFIER_GROUP_ID=f"{namespace}-classifier",
            BW_CLASSIFIER_WEB_PORT=str(_free_port()),
            BW_CLASSIFIER_DATA_DIR=str(Path(tmp) / "classifier"),
            BW_TAXONOMY_FILE=str(ROOT / "config" / "taxonomy.yaml"),
            BW_GAZETTEER_PATH=str(ROOT / "config" / "gazetteer"),
            BW_LOG_LEVEL="WARNING",
        )
        if processes is not None:
            env["BW_CLASSIFIER_TAG_PROCESSES"] = str(processes)
        log = (Path(tmp) / "classifier.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "classifier"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        cpu = _CpuPerItem(proc.pid)
        try:
            rate = (
                _rate_from_timestamps(
                    bootstrap, topic_name(TopicKey.TAGGED_EVENTS, namespace), len(payloads), timeout_s, cpu
                )
                or 0.0
            )
            rss, pss = _memory_mb(proc.pid) if proc.poll() is None else (0.0, 0.0)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()
    return rate, rss, pss, cpu.us()


def _noop_floor_worker(bootstrap: str, topic: str, count: int, web_port: int, datadir: str) -> None:
    """A faust worker whose agent takes ``topic`` in batches and does nothing; prints its rate."""
    import faust

    app = faust.App(
        f"bench-noop-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_port=web_port,
        datadir=datadir,
        loghandlers=[],
    )
    source = app.topic(topic, value_type=bytes, key_type=bytes)
    seen = {"events": 0, "first_batch": 0}
    first = [0.0]

    @app.agent(source)
    async def noop(stream: object) -> None:
        async for batch in stream.take_events(500, within=0.005):  # type: ignore[attr-defined]
            now = time.monotonic()
            if not seen["events"]:
                first[0], seen["first_batch"] = now, len(batch)
            seen["events"] += len(batch)
            if seen["events"] >= count:
                rate = (seen["events"] - seen["first_batch"]) / max(1e-9, now - first[0])
                print(f"NOOP-RATE {rate:.1f}", flush=True)
                os._exit(0)  # the figure is printed; a graceful faust stop only costs time

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def _noop_floor(bootstrap: str, topic: str, count: int, timeout_s: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "bench.bench_classifier",
            "--noop-floor",
            bootstrap,
            topic,
            str(count),
        ]
        command += [str(_free_port()), tmp]
        try:
            result = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            return 0.0
    # faust's worker routes stdout through its logging, so the line may come with a log prefix.
    for line in (result.stdout + result.stderr).splitlines():
        if "NOOP-RATE " in line:
            return float(line.split("NOOP-RATE ", 1)[1].split()[0])
    return 0.0


def _story_us_per_item(items: list[RawItemV1], now: datetime) -> float:
    """The story index's cost per item (pure; writes deferred and flushed per 500 like the service)."""
    index = StoryIndex({}, defer_writes=True)
    started = time.perf_counter()
    for start in range(0, len(items), 500):
        for item in items[start : start + 500]:
            index.assign(item.id, item.title, item.body, item.published_at, now)
        index.flush()
    return (time.perf_counter() - started) / len(items) * 1e6


def _tagger_rate(tagger: Tagger, items: list[RawItemV1], now: datetime) -> float:
    started = time.perf_counter()
    for item in items:
        tagger.tag(item, now)
    return len(items) / (time.perf_counter() - started)


def _core_rate(tagger: Tagger, payloads: list[tuple[bytes, bytes]], now: datetime) -> float:
    """The stage's whole pure work, no Kafka: :class:`ClassifierCore` deciding the raw messages in
    fetches of 500 (decode, story id, tag, encode, incidents and their revisions, state writes)."""
    core = build_core(ClassifierSettings(), tagger)
    values = [value for _, value in payloads]
    started = time.perf_counter()
    for start in range(0, len(values), 500):
        core.decide(values[start : start + 500], now)
    return len(values) / (time.perf_counter() - started)


def _raw_rate(bootstrap: str, payloads: list[tuple[bytes, bytes]], timeout_s: float) -> float:
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    source, target = f"{namespace}.pass-in", f"{namespace}.pass-out"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(t, 3, 1) for t in (source, target)])
    finally:
        admin.close()
    _produce(bootstrap, source, payloads)
    asyncio.run(_pass_through(bootstrap, source, target, len(payloads), timeout_s))
    return _rate_from_timestamps(bootstrap, target, len(payloads), 30) or 0.0


def _limit(raw: float, pure: float) -> float:
    return 1.0 / (1.0 / raw + 1.0 / pure) if raw and pure else 0.0


def run(bootstrap: str, redis_url: str, budget_s: float = 120.0) -> list[BenchResult]:
    """Raw pass-through, pure tagger, pure core and the stage (in its event loop) are each
    measured in two rounds, one after the other, and each figure is the better of its two: a burst
    of load from elsewhere on a shared machine then slows one round of one figure, not the ratio."""
    started = time.monotonic()
    tagger = load_tagger(ROOT / "config" / "taxonomy.yaml", ROOT / "config" / "gazetteer")
    # Ten fetches' worth at least: the rates count from the first output record to the last, so
    # with only a few fetches the first one's work would be missing from most of the span.
    count = 10_000
    now = datetime.now(UTC)
    items = [i.model_copy(update={"ingested_at": now}) for i in make_items(count)]
    payloads = [(i.id.encode(), encode(i)) for i in items]
    share = max(30.0, budget_s / 6)  # an upper bound per measurement: it costs time only when slow

    story_us = _story_us_per_item(items, now)
    raw_rates, tagger_rates, core_rates, stage_rates, rss_seen, cpu_seen = [], [], [], [], [], []
    for _ in range(2):
        # (b) the pure tagger and the pure core, on the same items.
        tagger_rates.append(_tagger_rate(tagger, items, now))
        core_rates.append(_core_rate(tagger, payloads, now))
        # (a) raw pass-through.
        raw_rates.append(_raw_rate(bootstrap, payloads, share))
        # (c) the classifier stage over a backlog of the same items, as deployed by default.
        stage_rate, rss, pss, cpu_us = _stage(bootstrap, payloads, None, share)
        stage_rates.append(stage_rate)
        rss_seen.append((rss, pss))
        cpu_seen.append(cpu_us)
    raw_rate, tagger_rate, core_rate, stage_rate = (
        max(raw_rates),
        max(tagger_rates),
        max(core_rates),
        max(stage_rates),
    )

    # The no-op faust floor over the same backlog, and the stage with everything in the event loop.
    source = f"bench-{uuid.uuid4().hex[:10]}.noop-in"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(source, 3, 1)])
    finally:
        admin.close()
    _produce(bootstrap, source, payloads)
    noop_rate = _noop_floor(bootstrap, source, count, share)
    remaining = max(20.0, budget_s - (time.monotonic() - started))
    loop_rate, loop_rss, _, _ = _stage(bootstrap, payloads, 0, remaining)
    processes = tagging_processes(None, len(os.sched_getaffinity(0)))
    deployed = "a tagging process beside the event loop" if processes else "all in the event loop"
    rss, pss = max(rss_seen)

    limit = _limit(raw_rate, tagger_rate)
    core_limit = _limit(raw_rate, core_rate)
    rounds = ", ".join(
        f"{s / _limit(r, t):.2f}"
        for r, t, s in zip(raw_rates, tagger_rates, stage_rates, strict=True)
        if r and t
    )
    return [
        BenchResult.absolute("classifier: raw aiokafka pass-through", raw_rate, "items/s"),
        BenchResult.against(
            "classifier: no-op faust agent (take_events) on the same backlog",
            noop_rate,
            "items/s",
            baseline="raw aiokafka pass-through",
            baseline_value=raw_rate,
        ),
        BenchResult.absolute(
            "classifier: story index per item",
            story_us,
            "us",
            goal=f"<= {GOAL_STORY_US:g} us",
            met=story_us <= GOAL_STORY_US,
        ),
        BenchResult.absolute("classifier: pure tagger", tagger_rate, "docs/s"),
        BenchResult.absolute("classifier: composed limit 1/(1/raw + 1/tagger)", limit, "items/s"),
        BenchResult.against(
            f"classifier: stage through the broker, as deployed here ({deployed}; ratio per round: {rounds})",
            stage_rate,
            "items/s",
            baseline="composed limit",
            baseline_value=limit,
            goal_ratio=GOAL_RATIO,
        ),
        BenchResult.against(
            "classifier: pure core (decode, story, tag, encode, incidents) per item",
            core_rate,
            "items/s",
            baseline="pure tagger",
            baseline_value=tagger_rate,
        ),
        BenchResult.against(
            "classifier: stage against 1/(1/raw + 1/pure core) (what faust and the Kafka wiring cost)",
            stage_rate,
            "items/s",
            baseline="raw + pure core",
            baseline_value=core_limit,
        ),
        BenchResult.against(
            "classifier: stage with everything in the event loop (BW_CLASSIFIER_TAG_PROCESSES=0)",
            loop_rate,
            "items/s",
            baseline="composed limit",
            baseline_value=limit,
        ),
        BenchResult.against(
            f"classifier: stage CPU time per item as deployed here ({deployed}; summed), against the "
            "one-process budget 1/limit",
            min((c for c in cpu_seen if c > 0), default=0.0),
            "us",
            baseline="1/limit",
            baseline_value=1e6 / limit if limit else 0.0,
            higher_is_better=False,
        ),
        BenchResult.absolute(f"classifier: worker RSS as deployed here ({deployed}; summed)", rss, "MiB"),
        BenchResult.absolute(f"classifier: worker PSS as deployed here ({deployed}; summed)", pss, "MiB"),
        BenchResult.absolute("classifier: worker RSS, all in the event loop", loop_rss, "MiB"),
    ]


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--noop-floor":
        _, _, bootstrap, topic, count, port, datadir = sys.argv
        _noop_floor_worker(bootstrap, topic, int(count), int(port), datadir)
        return
    bootstrap = os.environ.get("BW_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    for r in run(bootstrap, os.environ.get("BW_REDIS_URL", "redis://127.0.0.1:6379/0"), 120.0):
        ratio = f"  ratio {r.ratio:.3f} vs {r.baseline} (goal {r.goal})" if r.ratio is not None else ""
        print(f"{r.name}: {r.value:.4g} {r.unit}{ratio}")


if __name__ == "__main__":
    main()
