"""The ingest service as a real process: push API over HTTP, feeds from a local HTTP server,
the real broker and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from schemas import RawItemV1, TopicKey, decode_as, topic_name
from tests.integration.ingest_helpers import FeedServer, IngestProcess
from tests.integration.kafka_helpers import read_topic
from tests.integration.processes import ROOT, wait_until

pytestmark = pytest.mark.integration

PUSH = "p" * 24
READ = "r" * 24
AUTH = {"authorization": f"Bearer {PUSH}"}


def _env(kafka: str, redis_url: str, namespace: str, feeds_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
    env.update(
        {
            "BW_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "BW_REDIS_URL": redis_url,
            "BW_TOPIC_NAMESPACE": namespace,
            "BW_INGEST_FEEDS_FILE": str(feeds_file),
            "BW_INGEST_API_TOKENS": json.dumps(
                [
                    {"name": "scraper", "token": PUSH, "scopes": ["push"]},
                    {"name": "viewer", "token": READ, "scopes": ["read"]},
                ]
            ),
            "BW_INGEST_API_MAX_BODY_BYTES": "65536",
            "BW_INGEST_FETCH_TIMEOUT_S": "1",
            "BW_INGEST_FETCH_MAX_BYTES": "4096",
            "BW_INGEST_BACKOFF_CAP_S": "2",
        }
    )
    return env


def _cleanup_redis(redis_url: str, namespace: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"bw:{namespace}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def feeds(tmp_path: Path) -> Iterator[tuple[FeedServer, Path]]:
    with FeedServer(slow_s=3) as server:
        path = tmp_path / "feeds.yaml"
        lines = ["version: 1", "feeds:"]
        for feed_id, route in [
            ("good", "/good.xml"),
            ("failing", "/fail.xml"),
            ("slow", "/slow.xml"),
            ("broken", "/broken.xml"),
            ("oversized", "/big.xml"),
            ("redirect-loop", "/loop"),
            ("bomb", "/bomb.xml"),
        ]:
            lines += [f"  - id: {feed_id}", f"    url: {server.url(route)}", "    interval_s: 1"]
        lines += ["  - id: switched-off", f"    url: {server.url('/good.xml?off')}", "    enabled: false"]
        path.write_text("\n".join(lines) + "\n")
        yield server, path


def _raw_items(kafka: str, namespace: str, count: int = 0) -> list[RawItemV1]:
    records = read_topic(kafka, topic_name(TopicKey.RAW_ITEMS, namespace), min_count=count, timeout_s=10)
    return [decode_as(RawItemV1, r.value) for r in records]


def test_feeds_are_polled_conditionally_and_a_failing_feed_fails_alone(
    kafka_bootstrap: str, redis_url: str, namespace: str, feeds: tuple[FeedServer, Path], tmp_path: Path
) -> None:
    server, feeds_file = feeds
    env = _env(kafka_bootstrap, redis_url, namespace, feeds_file)
    service = IngestProcess(env, tmp_path / "ingest.log").start()
    try:
        wait_until(
            lambda: server.count("/good.xml", 304) >= 2, 30, "no conditional re-poll", on_fail=service.log
        )
        wait_until(
            lambda: server.count("/loop", 302) >= 2, 30, "redirect loop not retried", on_fail=service.log
        )
        items = _raw_items(kafka_bootstrap, namespace, 2)
        assert sorted(i.url or "" for i in items) == ["https://feeds.example/a", "https://feeds.example/b"]
        assert all(i.origin == "feed" and i.source == "good" for i in items)
        by_url = {i.url: i for i in items}
        closed = by_url["https://feeds.example/a"]
        assert closed.body == "Trucks stranded." and closed.language == "en"
        assert server.count("/good.xml", 200) == 1  # every later poll was answered 304

        metrics = httpx.get(f"{service.url}/metrics").text
        for kind, feed in [
            ("http_status", "failing"),
            ("timeout", "slow"),
            ("malformed", "broken"),
            ("too_large", "oversized"),
            ("redirects", "redirect-loop"),
            ("unsafe", "bomb"),
        ]:
            wait_until(
                partial(_error_counted, service.url, feed, kind),
                20,
                f"no {kind} error counted for {feed}",
                on_fail=lambda: httpx.get(f"{service.url}/metrics").text[-3000:],
            )
        assert 'borderwatch_ingest_feed_polls_total{feed="good",outcome="not_modified"}' in metrics

        status = subprocess.run(
            [sys.executable, "-m", "services.cli", "feeds", "status"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = {line.split()[0]: line for line in status.splitlines()[1:]}
        assert "http_status: HTTP 500" in rows["failing"] and "unsafe" in rows["bomb"]
        assert rows["good"].split()[5] == "3" or int(rows["good"].split()[5]) >= 3  # entries seen
        assert rows["switched-off"].split()[1] == "no"
        viewer = httpx.get(f"{service.url}/v1/feeds", headers={"authorization": f"Bearer {READ}"})
        assert viewer.status_code == 200 and {f["id"] for f in viewer.json()["feeds"]} >= {"good", "bomb"}
        assert httpx.get(f"{service.url}/v1/feeds", headers=AUTH).status_code == 403
        assert service.alive()
    finally:
        assert service.stop() == 0
        _cleanup_redis(redis_url, namespace)
    assert len(_raw_items(kafka_bootstrap, namespace)) == 2


def _error_counted(url: str, feed: str, kind: str) -> bool:
    return _metric(httpx.get(f"{url}/metrics").text, feed, kind) >= 1


def _metric(text: str, feed: str, kind: str) -> float:
    prefix = f'borderwatch_ingest_feed_errors_total{{feed="{feed}",kind="{kind}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


def _item(n: int, run: str, **extra: object) -> dict[str, object]:
    return {
        "source": "partner",
        "title": f"Report {n}: shelling near Angoor Adda",
        "url": f"https://partner.example/{run}/{n}?utm_campaign=x",
        "published_at": "2025-10-28T06:00:00Z",
        **extra,
    }


def test_push_api_over_http_accepts_once_and_remembers_across_a_restart(
    kafka_bootstrap: str, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text("version: 1\nfeeds: []\n")
    env = _env(kafka_bootstrap, redis_url, namespace, feeds_file)
    run = uuid.uuid4().hex[:8]
    service = IngestProcess(env, tmp_path / "ingest.log").start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            assert http.get("/healthz").status_code == 200
            ready = http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"] == {
                "broker": True,
                "redis": True,
                "config": True,
            }
            assert "/v1/items" in http.get("/openapi.json").json()["paths"]

            first = http.post("/v1/items", json=[_item(1, run), _item(2, run), _item(1, run)], headers=AUTH)
            assert first.status_code == 202, first.text
            assert [i["status"] for i in first.json()["items"]] == ["accepted", "accepted", "duplicate"]
            single = http.post("/v1/items", json=_item(3, run), headers=AUTH)
            assert single.status_code == 202 and single.json()["accepted"] == 1

            bad = http.post(
                "/v1/items",
                json=[
                    _item(4, run),
                    {"source": "partner"},
                    _item(5, run, published_at="2999-01-01T00:00:00Z"),
                ],
                headers=AUTH,
            )
            assert bad.status_code == 400
            assert {(e["index"], e["field"]) for e in bad.json()["errors"]} == {
                (1, "title"),
                (2, "published_at"),
            }
            assert http.post("/v1/items", content=b"{nope", headers=AUTH).status_code == 400
            assert http.post("/v1/items", json=[1, 2], headers=AUTH).status_code == 400

            assert http.post("/v1/items", json=_item(6, run)).status_code == 401
            wrong = http.post(
                "/v1/items", json=_item(6, run), headers={"authorization": "Bearer " + "x" * 24}
            )
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            viewer = {"authorization": f"Bearer {READ}"}
            assert http.post("/v1/items", json=_item(6, run), headers=viewer).status_code == 403

            huge = http.post("/v1/items", json=_item(7, run, body="x" * 70_000), headers=AUTH)
            assert huge.status_code == 413
            many = http.post("/v1/items", json=[_item(i, run) for i in range(501)], headers=AUTH)
            assert many.status_code in (413,)
        assert service.stop() == 0  # SIGTERM: flush and exit cleanly

        service = IngestProcess(env, tmp_path / "ingest2.log").start()
        with httpx.Client(base_url=service.url, timeout=30) as http:
            again = http.post("/v1/items", json=[_item(1, run), _item(2, run), _item(3, run)], headers=AUTH)
            assert again.status_code == 202
            assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 3
        items = _raw_items(kafka_bootstrap, namespace, 3)
        assert sorted(i.url or "" for i in items) == [f"https://partner.example/{run}/{n}" for n in (1, 2, 3)]
        assert {i.origin for i in items} == {"push"}
    finally:
        service.stop()
        _cleanup_redis(redis_url, namespace)
