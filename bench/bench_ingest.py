"""Ingest throughput: replay and push API against a raw kafka-python producer, same run.

The baseline sends the same items, already normalised and encoded, with the same producer
settings (acks=all, idempotence, gzip) and no de-duplication. It runs before and after each
measured figure, and each figure is compared with the mean of its two neighbours, so that load
from other work on the machine affects both sides of a ratio alike. Goal: ingest (with the Redis
seen-set on) at >= 50% of the raw rate. Also reports the resident memory of the service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis as redis_lib
from kafka import KafkaProducer

from bench.report import BenchResult
from schemas.codec import encode
from schemas.topics import TopicKey, topic_name
from services.common.kafka_admin import ensure_topics
from services.ingest.app import replay
from services.ingest.settings import IngestSettings
from services.ingest.submission import ItemSubmission, normalise

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.5
TOKEN = "bench-" + "t" * 24


def _items(n: int, run: str) -> list[dict[str, object]]:
    start = datetime(2025, 10, 1, tzinfo=UTC)
    return [
        {
            "source": f"outlet-{i % 7}",
            "title": f"Report {i}: border crossing at Torkham closed after clashes, officials say",
            "body": "<p>Trucks were stranded on both sides as security forces exchanged fire overnight. "
            "Traders said the closure would cost them heavily.</p>",
            "url": f"https://news.example/{run}/{i}?utm_source=rss",
            "published_at": (start + timedelta(minutes=i)).isoformat(),
        }
        for i in range(n)
    ]


def _raw_rate(
    bootstrap: str, topic: str, values: list[tuple[bytes, bytes]], settings: IngestSettings
) -> float:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type="gzip",
        linger_ms=settings.producer_linger_ms,
    )
    try:
        producer.send(topic, key=b"warm-up", value=b"{}").get(30)
        started = time.perf_counter()
        for key, value in values:
            producer.send(topic, key=key, value=value)
        producer.flush(60)
        return len(values) / (time.perf_counter() - started)
    finally:
        producer.close()


def _rss_mb(pid: int) -> float:
    """Resident memory of the service and its normalisation workers."""
    import psutil  # type: ignore[import-untyped]

    proc = psutil.Process(pid)
    total: int = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / (1024 * 1024)


def _push_rate(env: dict[str, str], items: list[dict[str, object]], log: Path) -> tuple[float, float]:
    port = env["BW_INGEST_API_PORT"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "ingest"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "serving push API" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ingest did not start:\n" + log.read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        headers = {"authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            http.post("/v1/items", json=items[:1], headers=headers).raise_for_status()  # warm-up
            started = time.perf_counter()
            for i in range(1, len(items), 500):
                answer = http.post("/v1/items", json=items[i : i + 500], headers=headers)
                answer.raise_for_status()
            elapsed = time.perf_counter() - started
        return (len(items) - 1) / elapsed, _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def run(bootstrap: str, redis_url: str, budget_s: float) -> list[BenchResult]:
    n = 20_000 if budget_s >= 120 else max(2_000, int(budget_s * 150))
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    settings = IngestSettings(
        kafka_bootstrap_servers=bootstrap, topic_namespace=namespace, redis_url=redis_url
    )
    ensure_topics(settings)
    run_id = uuid.uuid4().hex[:8]
    rows = _items(n, run_id)
    now = datetime.now(UTC)
    encoded = []
    for row in rows:
        item = normalise(ItemSubmission.model_validate(row), origin="replay", now=now)
        encoded.append((item.id.encode(), encode(item)))
    raw_topic = topic_name(TopicKey.RAW_ITEMS, namespace) + "-baseline"
    raw_before = _raw_rate(bootstrap, raw_topic, encoded, settings)

    results: list[BenchResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        started = time.perf_counter()
        summary = replay(settings, str(path))
        replay_rate = summary.accepted / (time.perf_counter() - started)
        raw_between = _raw_rate(bootstrap, raw_topic, encoded, settings)
        results.append(
            BenchResult.against(
                "ingest replay throughput (dedup on)",
                replay_rate,
                "items/s",
                baseline="raw kafka-python producer, pre-encoded",
                baseline_value=(raw_before + raw_between) / 2,
                goal_ratio=GOAL,
            )
        )
        push_rows = _items(n, run_id + "-push")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
        env.update(
            {
                "BW_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "BW_REDIS_URL": redis_url,
                "BW_TOPIC_NAMESPACE": namespace,
                "BW_INGEST_API_PORT": str(_free_port()),
                "BW_INGEST_API_TOKENS": json.dumps([{"name": "bench", "token": TOKEN}]),
                "BW_INGEST_FEEDS_FILE": str(Path(tmp) / "feeds.yaml"),
                "BW_LOG_LEVEL": "WARNING",
            }
        )
        (Path(tmp) / "feeds.yaml").write_text("version: 1\nfeeds: []\n")
        push_rate, rss = _push_rate(env, push_rows, Path(tmp) / "ingest.log")
        raw_after = _raw_rate(bootstrap, raw_topic, encoded, settings)
        results.append(
            BenchResult.against(
                "ingest push API throughput (dedup on, batches of 500)",
                push_rate,
                "items/s",
                baseline="raw kafka-python producer, pre-encoded",
                baseline_value=(raw_between + raw_after) / 2,
                goal_ratio=GOAL,
            )
        )
        results.append(
            BenchResult.absolute("ingest service RSS after the push run (with its workers)", rss, "MiB")
        )
    _cleanup(redis_url, namespace)
    return results


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cleanup(redis_url: str, namespace: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"bw:{namespace}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
    finally:
        client.close()


if __name__ == "__main__":
    for result in run(
        os.environ.get("BW_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        os.environ.get("BW_REDIS_URL", "redis://127.0.0.1:6379/0"),
        float(os.environ.get("BW_BENCH_BUDGET_S", "120")),
    ):
        print(result)
