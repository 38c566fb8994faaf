"""No secret value reaches a log: an end-to-end run of all three services with every kind of secret
configured (push and admin tokens, Slack and webhook URLs, a webhook signing secret, an SMTP
password), debug logging on, wrong tokens tried, and start-ups that fail on bad settings."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fuzz.cases import ran
from tests.integration.ingest_helpers import IngestProcess
from tests.integration.processes import ROOT, ServiceProcess, service_env, wait_until
from tests.integration.slack_sink import SlackLikeSink, SmtpSink
from tests.sinks import HttpSink

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
SECRETS = {
    "push token": f"push-tok-{RUN}-S3CR3T",
    "admin token": f"admin-tok-{RUN}-S3CR3T",
    "notifier token": f"silence-tok-{RUN}-S3CR3T",
    "slack path": f"slack-path-{RUN}-S3CR3T",
    "webhook path": f"hook-path-{RUN}-S3CR3T",
    "webhook signing secret": f"hmac-key-{RUN}-S3CR3T",
    "smtp password": f"smtp-pw-{RUN}-S3CR3T",
}
RULES = """\
version: 1
rules:
  - id: any-casualty
    title: Casualties reported
    type: any
    match: {labels: [casualties]}
    severity: high
    routes: [slack-ops, hook, mail]
"""
SUBSCRIBERS = """\
version: 1
subscribers:
  - id: slack-ops
    channels:
      - {type: slack, webhook_env: BW_TEST_SLACK_URL}
  - id: hook
    channels:
      - {type: webhook, url_env: BW_TEST_HOOK_URL, secret_env: BW_TEST_HOOK_SECRET}
  - id: mail
    channels:
      - {type: email, to: [ops@example.org]}
"""
ITEMS = [
    "Clashes near Spin Boldak leave at least 12 dead",
    "Twelve killed in Kurram shelling, officials say",
    "Five soldiers killed as ceasefire is violated near Chaman",
]


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


@pytest.fixture
def sinks() -> Iterator[tuple[SlackLikeSink, HttpSink, SmtpSink]]:
    slack = SlackLikeSink()
    with slack, HttpSink() as hook, SmtpSink("bw", SECRETS["smtp password"]) as smtp:
        yield slack, hook, smtp


def test_an_end_to_end_run_logs_no_secret(
    kafka_bootstrap: str,
    redis_url: str,
    namespace: str,
    tmp_path: Path,
    sinks: tuple[SlackLikeSink, HttpSink, SmtpSink],
) -> None:
    slack, hook, smtp = sinks
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "subscribers.yaml").write_text(SUBSCRIBERS)
    (tmp_path / "feeds.yaml").write_text("version: 1\nfeeds: []\n")
    base = slack.url.rsplit("/hooks/", 1)[0]
    env = service_env(
        kafka=kafka_bootstrap,
        redis=redis_url,
        namespace=namespace,
        workdir=tmp_path,
        BW_LOG_LEVEL="DEBUG",
        BW_RULES_FILE=str(tmp_path / "rules.yaml"),
        BW_NOTIFIER_SUBSCRIBERS_FILE=str(tmp_path / "subscribers.yaml"),
        BW_NOTIFIER_CONSOLE="false",
        BW_TEST_SLACK_URL=f"{base}/services/T0/B0/{SECRETS['slack path']}",
        BW_TEST_HOOK_URL=f"{hook.url.rsplit('/hooks/', 1)[0]}/in/{SECRETS['webhook path']}",
        BW_TEST_HOOK_SECRET=SECRETS["webhook signing secret"],
        BW_NOTIFIER_SMTP_HOST="127.0.0.1",
        BW_NOTIFIER_SMTP_PORT=str(smtp.port),
        BW_NOTIFIER_SMTP_USERNAME="bw",
        BW_NOTIFIER_SMTP_PASSWORD=SECRETS["smtp password"],
        BW_NOTIFIER_SMTP_STARTTLS="false",
        BW_NOTIFIER_API_TOKEN=SECRETS["notifier token"],
        BW_INGEST_FEEDS_FILE=str(tmp_path / "feeds.yaml"),
        BW_INGEST_API_TOKENS=json.dumps(
            [
                {"name": "scraper", "token": SECRETS["push token"], "scopes": ["push"]},
                {"name": "ops", "token": SECRETS["admin token"], "scopes": ["admin"]},
            ]
        ),
    )
    classifier = ServiceProcess("classifier", env, tmp_path / "classifier.log")
    notifier = ServiceProcess("notifier", env, tmp_path / "notifier.log")
    ingest = IngestProcess(env, tmp_path / "ingest.log")
    processes = [classifier, notifier]
    try:
        classifier.start()
        notifier.start()
        ingest.start()
        notifier_url = f"http://127.0.0.1:{env['BW_NOTIFIER_API_PORT']}"
        with httpx.Client(timeout=30) as http:
            # Near misses of real tokens, on both APIs.
            for wrong in (
                SECRETS["push token"] + "x",
                SECRETS["admin token"][:-1],
                SECRETS["notifier token"][1:],
            ):
                assert (
                    http.post(
                        f"{ingest.url}/v1/items", json={}, headers={"authorization": f"Bearer {wrong}"}
                    ).status_code
                    == 401
                )
                assert (
                    http.get(
                        f"{notifier_url}/v1/silences", headers={"authorization": f"Bearer {wrong}"}
                    ).status_code
                    == 401
                )
            items = [
                {
                    "source": f"outlet-{i}",
                    "title": title,
                    "url": f"https://sec.example/{RUN}/{i}",
                    "published_at": "2025-11-20T10:00:00Z",
                }
                for i, title in enumerate(ITEMS)
            ]
            push = http.post(
                f"{ingest.url}/v1/items",
                json=items,
                headers={"authorization": f"Bearer {SECRETS['push token']}"},
            )
            assert push.status_code == 202, push.text
            silences = http.get(
                f"{notifier_url}/v1/silences",
                headers={"authorization": f"Bearer {SECRETS['notifier token']}"},
            )
            assert silences.status_code == 200
        wait_until(
            lambda: bool(slack.snapshot()) and bool(hook.snapshot()) and bool(smtp.messages),
            120,
            "alerts did not reach every channel",
            on_fail=lambda: notifier.log() + classifier.log()[-2000:],
        )
        assert hook.headers[0]["x-borderwatch-signature"].startswith("sha256=")
    finally:
        ingest.stop()
        for process in processes:
            process.stop()
    paths = [classifier.log_path, notifier.log_path, ingest.log_path]
    logs = {path.name: path.read_text(errors="replace") for path in paths}
    ran("security: end-to-end log lines checked", sum(text.count("\n") for text in logs.values()))
    assert all(logs.values())
    assert "DEBUG" in logs["notifier.log"] or '"debug"' in logs["notifier.log"]
    for name, text in logs.items():
        assert _leaks(text) == [], f"{name} shows {_leaks(text)}"


BAD_SETTINGS = [
    (
        "ingest",
        {
            "BW_INGEST_API_TOKENS": json.dumps(
                [{"name": "x", "token": SECRETS["push token"], "scopes": ["bogus"]}]
            )
        },
    ),
    (
        "ingest",
        {"BW_INGEST_API_TOKENS": '[{"name": "x", "token": "' + SECRETS["push token"] + '"'},
    ),  # not JSON
    ("ingest", {"BW_INGEST_API_TOKENS": json.dumps([{"name": "x", "token": SECRETS["push token"][:8]}])}),
    ("notifier", {"BW_NOTIFIER_SMTP_STARTTLS": SECRETS["smtp password"]}),
    ("notifier", {"BW_NOTIFIER_API_TOKENS": json.dumps([{"token": SECRETS["admin token"]}])}),
    ("notifier", {"BW_NOTIFIER_API_TOKENS": "{" + SECRETS["admin token"]}),
    ("notifier", {"BW_TOPIC_NAMESPACE": "bad namespace " + SECRETS["webhook path"]}),
]


@pytest.mark.parametrize(("service", "bad"), BAD_SETTINGS)
def test_a_bad_setting_holding_a_secret_fails_start_up_without_showing_it(
    tmp_path: Path, service: str, bad: dict[str, str]
) -> None:
    ran("security: failing start-ups checked")
    env = service_env(
        kafka="127.0.0.1:1", redis="redis://127.0.0.1:1/0", namespace="unused", workdir=tmp_path
    )
    env.update(bad)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", service],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-2000:]
    assert _leaks(output) == [], output[-2000:]
