"""Kill, restart and outage during replays: nothing lost, nothing duplicated.

One private stack (its own broker and Redis on free ports, the three services as processes, a
Slack-like webhook, a partner webhook and an SMTP server) replays a phase of generated items per
fault, with known expected alerts (the pure pipeline over the same items and rules). During each
replay one fault strikes: SIGKILL of ingest, the classifier, the notifier (each restarted); a
broker restart; a Redis restart from its AOF; Slack answering 429 with Retry-After, then 500,
then hanging; the SMTP server refusing connections, then deferring with 451, then accepting.

Afterwards, per fault: every accepted item is on the tagged topic; each subscriber's channel
received exactly the expected alerts (0 missing, 0 duplicates; the one documented repeat window,
a notifier crash between a channel accepting and the sent marker, is accounted by receiver key
and time); the outbox is empty and every consumer group caught up. A table (items, alerts,
missing, duplicates, recovery time) is printed and written to var/faults/report.json.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator

import pytest

from schemas import TopicKey
from tests.faults.phases import FaultWindow, PhaseResult, Stack, wait_for
from tests.faults.sinks import FaultySlack, FaultySmtp, PartnerHook
from tests.faults.stack import (
    PrivateBroker,
    PrivateRedis,
    Pusher,
    Service,
    TaggedWatcher,
    ingest_env,
)
from tests.faults.workload import Workload
from tests.integration.processes import ROOT, free_port, service_env
from tests.services import unavailable

pytestmark = pytest.mark.integration

FAULTS = [
    "ingest-sigkill",
    "classifier-sigkill",
    "notifier-sigkill",
    "broker-restart",
    "redis-restart",
    "slack-429-500-hang",
    "smtp-refuse-then-accept",
]
ITEMS_PER_PHASE = 400
REPORT = ROOT / "var" / "faults" / "report.json"
SMTP_USER, SMTP_PASSWORD = "bw-faults", "smtp-fault-secret"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not shutil.which("java") or not (ROOT / "deploy" / "kafka" / "libs").is_dir():
        unavailable("fault tests need Java and the broker jars (scripts/kafka.sh setup)")
    if not shutil.which("redis-server"):
        unavailable("fault tests need redis-server (scripts/redis.sh setup)")
    workdir = tmp_path_factory.mktemp("faults")
    events: list[str] = []
    broker = PrivateBroker(workdir / "var", events.append)
    redis = PrivateRedis(workdir / "var", events.append)
    namespace = f"faults-{uuid.uuid4().hex[:10]}"
    workload = Workload(workdir, uuid.uuid4().hex[:8], FAULTS, ITEMS_PER_PHASE)
    (workdir / "feeds.yaml").write_text("version: 1\nfeeds: []\n")
    started: list[Service] = []
    stack_: Stack | None = None
    broker.run("start")
    try:
        redis.run("start")
        with (
            FaultySlack(workload) as slack,
            PartnerHook() as hook,
            FaultySmtp(workload, SMTP_USER, SMTP_PASSWORD) as smtp,
        ):
            base = service_env(
                kafka=broker.bootstrap,
                redis=redis.url,
                namespace=namespace,
                workdir=workdir,
                BW_RULES_FILE=str(workload.rules_file),
                BW_NOTIFIER_SUBSCRIBERS_FILE=str(workload.subscribers_file),
                BW_INGEST_FEEDS_FILE=str(workdir / "feeds.yaml"),
                BW_FAULTS_SLACK_URL=slack.url,
                BW_FAULTS_HOOK_URL=hook.url,
                BW_NOTIFIER_SMTP_HOST="127.0.0.1",
                BW_NOTIFIER_SMTP_PORT=str(smtp.port),
                BW_NOTIFIER_SMTP_STARTTLS="false",
                BW_NOTIFIER_SMTP_USERNAME=SMTP_USER,
                BW_NOTIFIER_SMTP_PASSWORD=SMTP_PASSWORD,
                BW_NOTIFIER_CONSOLE="false",
                BW_NOTIFIER_HTTP_TIMEOUT_S="2",
                BW_NOTIFIER_BACKOFF_CAP_S="2",
                BW_RETRY_INTERVAL_S="0.5",
                BW_STALE_CLAIM_S="3",
                # faust's defaults wait 60 s for a killed worker's session to expire before its
                # partitions move to the restarted one; a supervisor-managed worker wants less.
                BROKER_SESSION_TIMEOUT="6",
                BROKER_HEARTBEAT_INTERVAL="1",
            )
            ingest_port = free_port()
            services = {
                "ingest": Service("ingest", ingest_env(base, ingest_port), workdir / "logs" / "ingest.log"),
                "classifier": Service("classifier", base, workdir / "logs" / "classifier.log"),
                "notifier": Service("notifier", base, workdir / "logs" / "notifier.log"),
            }
            stack_ = Stack(
                workdir=workdir,
                namespace=namespace,
                workload=workload,
                broker=broker,
                redis=redis,
                slack=slack,
                hook=hook,
                smtp=smtp,
                services=services,
                ingest_url=f"http://127.0.0.1:{ingest_port}",
            )
            try:
                for name in ("ingest", "classifier", "notifier"):
                    started.append(services[name])
                    services[name].start()
                stack_.watcher = TaggedWatcher(broker.bootstrap, stack_.topic(TopicKey.TAGGED_EVENTS))
                stack_.watcher.start()
                yield stack_
            finally:
                if stack_.watcher is not None:
                    stack_.watcher.stop()
                for service in reversed(started):
                    service.stop()
    finally:
        try:
            redis.run("stop")
        finally:
            broker.run("stop")
        if stack_ is not None:
            write_report(stack_.results, events)


def write_report(results: list[PhaseResult], events: list[str]) -> None:
    if not results:
        return
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"faults": [r.as_dict() for r in results]}, indent=2) + "\n")
    lines = [
        "",
        f"{'fault':<26}{'items':>6}{'alerts':>7}{'missing':>8}{'dups':>6}{'repeats*':>9}{'recovery':>10}",
    ]
    for r in results:
        repeats = sum(s.repeats_in_crash_window for s in r.subscriptions.values())
        recovery = "n/a" if r.recovery_s is None else f"{r.recovery_s:.1f}s"
        lines.append(
            f"{r.fault:<26}{r.items:>6}{r.alerts:>7}{r.missing:>8}{r.duplicates:>6}{repeats:>9}{recovery:>10}"
        )
    lines.append("* repeats in the documented crash window, same idempotency key (dropped by receivers)")
    lines.append(f"report: {REPORT}")
    print("\n".join(lines))


def check(result: PhaseResult, stack: Stack) -> None:
    """The promises, for one fault."""
    detail = json.dumps(result.as_dict(), indent=1)
    assert "push_error" not in result.notes, detail
    assert result.accepted == result.items, detail
    assert result.tagged_missing == [], detail
    assert result.alerts > 0, detail
    for name, sub in result.subscriptions.items():
        assert sub.missing == [], f"{name} missed alerts\n{detail}"
        assert sub.unexpected == [], f"{name} got alerts nobody expected\n{detail}"
        assert sub.duplicates == 0, f"{name} got duplicates\n{detail}"
    assert result.recovery_s is not None, f"the pipeline did not catch up\n{detail}\n{logs(stack)}"
    assert result.outbox["pending"] == 0 and result.outbox["lag"] == 0, detail
    assert result.lags == {"classifier": 0, "notifier": 0}, detail


def logs(stack: Stack) -> str:
    return "\n".join(f"--- {n}\n{s.log()[-3000:]}" for n, s in stack.services.items())


def sigkill_and_restart(name: str):
    def fault(stack: Stack, pusher: Pusher) -> FaultWindow:
        time.sleep(2.0)  # mid-replay
        service = stack.services[name]
        start = time.monotonic()
        service.kill()
        time.sleep(0.5)
        service.start()
        return FaultWindow(start, time.monotonic(), crash_at=start if name == "notifier" else None)

    return fault


@pytest.mark.parametrize("name", ["ingest", "classifier", "notifier"])
def test_sigkill_and_restart_of_a_service_loses_and_repeats_nothing(stack: Stack, name: str) -> None:
    result = stack.run_phase(f"{name}-sigkill", sigkill_and_restart(name))
    check(result, stack)
    if name != "notifier":
        assert all(s.repeats_in_crash_window == 0 for s in result.subscriptions.values())


def test_broker_restart_loses_and_repeats_nothing(stack: Stack) -> None:
    def fault(stack: Stack, pusher: Pusher) -> FaultWindow:
        time.sleep(2.0)
        start = time.monotonic()
        stack.broker.run("stop")
        stopped = time.monotonic()
        stack.broker.run("start")
        return FaultWindow(
            start, time.monotonic(), notes={"broker_down_s": round(time.monotonic() - stopped, 1)}
        )

    check(stack.run_phase("broker-restart", fault), stack)


def test_redis_restart_from_its_aof_loses_and_repeats_nothing(stack: Stack) -> None:
    def fault(stack: Stack, pusher: Pusher) -> FaultWindow:
        time.sleep(2.0)
        loaded_before = stack.redis.log_text().count("DB loaded from append only file")
        start = time.monotonic()
        stack.redis.run("stop")
        time.sleep(1.0)
        stack.redis.run("start")
        end = time.monotonic()
        loaded = stack.redis.log_text().count("DB loaded from append only file") > loaded_before
        return FaultWindow(start, end, notes={"reloaded_from_aof": loaded})

    result = stack.run_phase("redis-restart", fault)
    assert result.notes["reloaded_from_aof"] is True, result.notes
    check(result, stack)


def test_slack_throttling_errors_and_hangs_lose_and_repeat_nothing(stack: Stack) -> None:
    def fault(stack: Stack, pusher: Pusher) -> FaultWindow:
        time.sleep(1.5)
        start = time.monotonic()
        end = stack.slack.timetable.play(("429", 3.0), ("500", 3.0), ("hang", 4.0))
        time.sleep(max(0.0, end - time.monotonic()))
        return FaultWindow(start, end)

    result = stack.run_phase("slack-429-500-hang", fault)
    check(result, stack)
    refused = stack.slack.refused
    assert refused.get("429", 0) >= 1 and refused.get("500", 0) >= 1 and refused.get("hang", 0) >= 1, refused
    assert refused.get("invalid", 0) == 0, refused


def test_smtp_refusing_then_accepting_loses_and_repeats_nothing(stack: Stack) -> None:
    def fault(stack: Stack, pusher: Pusher) -> FaultWindow:
        time.sleep(1.5)
        start = time.monotonic()
        stack.smtp.down()  # connection refused
        time.sleep(3.0)
        stack.smtp.deferring = True
        stack.smtp.up()  # 451 to every message
        wait_for(lambda: stack.smtp.refused.get("451", 0) >= 1, 20, "no message was deferred")
        time.sleep(2.0)
        stack.smtp.deferring = False
        return FaultWindow(start, time.monotonic(), notes={"deferred": stack.smtp.refused.get("451", 0)})

    check(stack.run_phase("smtp-refuse-then-accept", fault), stack)
