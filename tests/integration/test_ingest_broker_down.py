"""The ingest service while its broker is down: 503 with Retry-After, nothing half-accepted, feed
polling paused, and after the broker is back every item goes through and none is lost.

Runs against a private broker (other ports, its own state directory) that the test starts and
stops itself; the shared broker is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas import RawItemV1, TopicKey, decode_as, topic_name
from tests.integration.ingest_helpers import FeedServer, IngestProcess
from tests.integration.kafka_helpers import read_topic
from tests.integration.processes import ROOT, free_port, wait_until
from tests.integration.test_ingest_service import AUTH, _cleanup_redis, _env, _item
from tests.services import unavailable

pytestmark = pytest.mark.integration
KAFKA_SCRIPT = ROOT / "scripts" / "kafka.sh"


class PrivateBroker:
    """A second single-node broker on free ports with its own BW_VAR_DIR (scripts/kafka.sh)."""

    def __init__(self, var_dir: Path) -> None:
        self.port = free_port()
        controller = free_port()
        while controller == self.port:
            controller = free_port()
        self.env = {
            **os.environ,
            "BW_KAFKA_PORT": str(self.port),
            "BW_KAFKA_CONTROLLER_PORT": str(controller),
            "BW_VAR_DIR": str(var_dir),
            "BW_KAFKA_HEAP_OPTS": "-Xms128m -Xmx384m",
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KAFKA_SCRIPT), action],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    def start(self) -> None:
        result = self._run("start")
        if result.returncode != 0:
            raise AssertionError(
                f"private broker did not start:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )

    def stop(self) -> None:
        result = self._run("stop")
        if result.returncode != 0:
            raise AssertionError(
                f"private broker did not stop:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    if not shutil.which("java") or not (ROOT / "deploy" / "kafka" / "libs").is_dir():
        unavailable("a private broker needs Java and the broker jars (scripts/kafka.sh setup)")
    broker = PrivateBroker(tmp_path / "var")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_outage_answers_503_pauses_polling_and_loses_nothing(
    private_broker: PrivateBroker, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    with FeedServer() as feeds:
        feeds_file = tmp_path / "feeds.yaml"
        feeds_file.write_text(
            f"version: 1\nfeeds:\n  - id: good\n    url: {feeds.url('/good.xml')}\n    interval_s: 1\n"
        )
        env = _env(private_broker.bootstrap, redis_url, namespace, feeds_file)
        env.update(
            {
                # Fail fast while the broker is away, and keep the gate closed long enough to see
                # that polling pauses.
                "BW_PRODUCER_MAX_BLOCK_MS": "3000",
                "BW_PRODUCER_REQUEST_TIMEOUT_MS": "2000",
                "BW_PRODUCER_DELIVERY_TIMEOUT_MS": "5000",
                "BW_INGEST_API_ACK_TIMEOUT_S": "20",
                "BW_INGEST_RETRY_AFTER_S": "8",
                "BW_INGEST_FETCH_TIMEOUT_S": "5",
            }
        )
        service = IngestProcess(env, tmp_path / "ingest.log").start()
        try:
            with httpx.Client(base_url=service.url, timeout=60) as http:
                before = http.post("/v1/items", json=[_item(n, run) for n in (1, 2)], headers=AUTH)
                assert before.status_code == 202 and before.json()["accepted"] == 2
                wait_until(
                    lambda: feeds.count("/good.xml", 304) >= 1, 30, "feed not polled", on_fail=service.log
                )
                assert http.get("/readyz").status_code == 200

                private_broker.stop()
                # Ready no more: the probe asks the broker for metadata, not just for a socket.
                wait_until(
                    lambda: http.get("/readyz").status_code == 503, 15, "still ready", on_fail=service.log
                )
                assert http.get("/readyz").json()["checks"]["broker"] is False

                batch = [_item(n, run) for n in range(3, 9)]
                refused = http.post("/v1/items", json=batch, headers=AUTH)
                assert refused.status_code == 503, refused.text
                assert int(refused.headers["retry-after"]) >= 1
                half = refused.json()["accepted"]
                assert half == []  # nothing reached a broker that is down
                again = http.post("/v1/items", json=batch, headers=AUTH)  # refused at once now
                assert again.status_code == 503 and again.json()["accepted"] == []
                assert "retry-after" in again.headers

                # The gate is closed for BW_INGEST_RETRY_AFTER_S: a feed polled every second pauses.
                polls = feeds.count("/good.xml", 304) + feeds.count("/good.xml", 200)
                time.sleep(4)
                assert feeds.count("/good.xml", 304) + feeds.count("/good.xml", 200) <= polls + 1

                private_broker.start()

                def retried() -> bool:
                    answer = http.post("/v1/items", json=batch, headers=AUTH)
                    if answer.status_code == 503:
                        assert "retry-after" in answer.headers
                        return False
                    assert answer.status_code == 202, answer.text
                    statuses.append(answer.json())
                    return True

                statuses: list[dict[str, object]] = []
                wait_until(retried, 90, "items never went through after the restart", on_fail=service.log)
                assert statuses[-1]["accepted"] == len(batch) and statuses[-1]["duplicates"] == 0
                wait_until(lambda: http.get("/readyz").status_code == 200, 15, "not ready again")
                polls = feeds.count("/good.xml", 304) + feeds.count("/good.xml", 200)
                wait_until(
                    lambda: feeds.count("/good.xml", 304) + feeds.count("/good.xml", 200) > polls,
                    30,
                    "feed polling did not resume",
                    on_fail=service.log,
                )
            assert service.stop() == 0
        finally:
            service.stop()
            _cleanup_redis(redis_url, namespace)
    records = read_topic(
        private_broker.bootstrap, topic_name(TopicKey.RAW_ITEMS, namespace), min_count=10, timeout_s=20
    )
    items = [decode_as(RawItemV1, r.value) for r in records]
    pushed = sorted({i.url or "" for i in items if i.origin == "push"})
    assert pushed == sorted(f"https://partner.example/{run}/{n}" for n in range(1, 9))  # none lost
    assert len([i for i in items if i.origin == "push"]) == 8  # and none twice
    assert {i.url for i in items if i.origin == "feed"} == {
        "https://feeds.example/a",
        "https://feeds.example/b",
    }
