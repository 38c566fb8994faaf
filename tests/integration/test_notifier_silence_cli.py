"""``borderwatch silence add|list|expire`` against a running notifier process and its HTTP API.

A silence added from the command line mutes the matching alerts of the running process; once
expired from the command line, alerts flow again. A wrong token fails the command without
echoing the token.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.processes import ROOT, ServiceProcess, wait_until
from tests.integration.test_notifier_process import env_for, produce_events
from tests.sinks import HttpSink

pytestmark = pytest.mark.integration
TOKEN = "silence-cli-admin-token"


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as s:
        yield s


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "silence", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def metric(api: str, name: str, labels: str) -> float:
    text = httpx.get(f"{api}/metrics", timeout=5).text
    found = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_silence_cli_mutes_and_unmutes_a_running_notifier(
    kafka_bootstrap: str, redis_url: str, namespace: str, tmp_path: Path, sink: HttpSink
) -> None:
    env = env_for(kafka_bootstrap, redis_url, namespace, tmp_path, sink, BW_NOTIFIER_API_TOKEN=TOKEN)
    api = f"http://127.0.0.1:{env['BW_NOTIFIER_API_PORT']}"
    client_env = {**env, "BW_NOTIFIER_API_URL": api}
    notifier = ServiceProcess("notifier", env, tmp_path / "notifier.log").start()
    try:
        wrong = cli({**client_env, "BW_NOTIFIER_API_TOKEN": "not-the-token"}, "list")
        assert wrong.returncode != 0 and "401" in wrong.stderr + wrong.stdout
        assert "not-the-token" not in wrong.stderr + wrong.stdout

        added = cli(client_env, "add", "rule_id=any-casualty", "--duration", "1h", "--comment", "drill")
        assert added.returncode == 0, added.stderr
        silence_id = added.stdout.strip()
        listed = [json.loads(line) for line in cli(client_env, "list", "--json").stdout.splitlines()]
        assert [(s["id"], s["state"], s["comment"]) for s in listed] == [(silence_id, "active", "drill")]

        time.sleep(2.5)  # the process refreshes its silences about once a second
        produce_events(kafka_bootstrap, namespace, 2)
        muted = 'reason="silenced"'
        wait_until(
            lambda: metric(api, "borderwatch_notifier_muted_total", muted) >= 2,
            60,
            "alerts were not muted",
            on_fail=notifier.log,
        )
        assert sink.snapshot() == []

        expired = cli(client_env, "expire", silence_id)
        assert expired.returncode == 0 and expired.stdout.split() == [silence_id, "expired"]
        time.sleep(2.5)
        items = produce_events(kafka_bootstrap, namespace, 1)
        # Routed to two subscribers on one webhook: two messages for the one new alert.
        wait_until(lambda: len(sink.snapshot()) >= 2, 60, "alert not delivered", on_fail=notifier.log)
        time.sleep(1.0)
    finally:
        notifier.stop()
    assert {b["events"][0]["item_id"] for b in sink.snapshot()} == set(items)
    assert len(sink.snapshot()) == 2
