from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import AlertV1, TopicKey, decode
from services.common.yaml_config import ConfigError
from services.notifier.ratelimit import TokenBucket
from services.notifier.routing import inhibition, plan_deliveries
from services.notifier.silences import Matcher, Silence, SilenceRequest, silenced_by
from services.notifier.subscribers import (
    Digest,
    check_routes,
    load_subscribers,
    next_digest_at,
    previous_digest_at,
    resolve_secrets,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "schemas" / "examples" / "alerts" / "v1" / "count-fired.json"
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)


def alert(**update: object) -> AlertV1:
    model = decode(TopicKey.ALERTS, EXAMPLE.read_bytes())
    assert isinstance(model, AlertV1)
    return AlertV1.model_validate({**model.model_dump(mode="json"), **update})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subscribers.yaml"
    path.write_text(text)
    return path


GOOD = """\
version: 1
subscribers:
  - id: ops
    channels:
      - type: slack
        webhook_env: BW_SLACK_OPS
      - type: console
  - id: mail
    filters: {min_severity: critical}
    channels:
      - type: email
        to: [a@example.org]
  - id: torkham
    filters: {places: [Torkham]}
    channels:
      - type: webhook
        url_env: BW_HOOK
        secret_env: BW_HOOK_SECRET
groups:
  everyone: [ops, mail, torkham]
"""


def test_bundled_subscribers_file_is_valid_and_covers_the_bundled_rules() -> None:
    from services.notifier.rules import load_rules

    subs = load_subscribers(ROOT / "config" / "subscribers.yaml")
    rules = load_rules(ROOT / "config" / "rules.yaml")
    check_routes(subs, {r.id: list(r.routes) for r in rules.rules}, "config/rules.yaml")
    targets, skipped = resolve_secrets(subs, {}, "config/subscribers.yaml")
    assert "console/console" in {t.key for t in targets}
    assert any("BW_WEBHOOK_URL" in s for s in skipped)


def test_secrets_come_from_named_variables_and_a_missing_one_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    subs = load_subscribers(path)
    env = {"BW_SLACK_OPS": "https://hooks.slack.example/T/B/secret-token", "BW_HOOK": "http://h/x"}
    with pytest.raises(ConfigError) as info:
        resolve_secrets(subs, env, path)
    assert "BW_HOOK_SECRET" in str(info.value) and "subscribers.2.channels.0" in str(info.value)
    targets, _ = resolve_secrets(subs, {**env, "BW_HOOK_SECRET": "k"}, path)
    assert [t.key for t in targets] == ["ops/slack", "ops/console", "mail/email", "torkham/webhook"]
    with pytest.raises(ConfigError) as info:
        resolve_secrets(subs, {}, path)
    assert "BW_SLACK_OPS" in str(info.value) and "secret-token" not in str(info.value)
    assert "secret-token" not in repr(targets[0])


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (GOOD.replace("type: console", "type: pager"), 7, "does not match any of the expected tags"),
        (GOOD.replace("[a@example.org]", "[not-an-address]"), 11, "not an e-mail address"),
        (GOOD.replace("webhook_env: BW_SLACK_OPS", "webhook_env: https://hooks.slack.com/x"), 5, "pattern"),
        (GOOD.replace("[ops, mail, torkham]", "[ops, nobody]"), 1, "nobody"),
        (GOOD.replace("  - id: mail\n", "  - id: mail\n    mode: digest\n"), 8, "digest"),
        (GOOD.replace("{min_severity: critical}", "{min_severity: urgent}"), 9, "min_severity"),
    ],
)
def test_invalid_subscribers_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_subscribers(path)
    assert str(path) in str(info.value) and needle in str(info.value)
    assert info.value.line == line


def test_unknown_route_is_a_startup_error(tmp_path: Path) -> None:
    subs = load_subscribers(write(tmp_path, GOOD))
    check_routes(subs, {"r1": ["ops", "everyone"]}, "rules.yaml")
    with pytest.raises(ConfigError) as info:
        check_routes(subs, {"r1": ["ops"], "r2": ["pager"]}, "rules.yaml")
    assert "'pager'" in str(info.value) and info.value.field == "rules.1.routes"


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({}, ["ops/slack", "ops/console"]),  # high, no Torkham group
        ({"severity": "critical"}, ["ops/slack", "ops/console", "mail/email"]),
        ({"group": {"crossing": "Torkham"}}, ["ops/slack", "ops/console", "torkham/webhook"]),
    ],
)
def test_filters_choose_the_deliveries(
    tmp_path: Path, update: dict[str, object], expected: list[str]
) -> None:
    path = write(tmp_path, GOOD)
    subs = load_subscribers(path)
    targets, _ = resolve_secrets(subs, {"BW_SLACK_OPS": "u", "BW_HOOK": "u", "BW_HOOK_SECRET": "k"}, path)
    planned = plan_deliveries(alert(**update), ["everyone", "ops"], subs, targets)
    assert [p.target.key for p in planned] == expected
    assert len({p.key for p in planned}) == len(planned)


@pytest.mark.parametrize(
    ("severity", "status", "group", "mode"),
    [
        ("critical", "firing", {"crossing": "Torkham"}, "set"),
        ("critical", "resolved", {"crossing": "Torkham"}, "none"),
        ("high", "firing", {"crossing": "Torkham"}, "check"),
        ("critical", "firing", {}, "none"),
        ("low", "firing", {}, "none"),
    ],
)
def test_inhibition_policy(severity: str, status: str, group: dict[str, str], mode: str) -> None:
    got_mode, token = inhibition(alert(severity=severity, status=status, group=group))
    assert got_mode == mode
    assert (token == "crossing=Torkham") == (mode != "none")


def silence(
    *matchers: Matcher, start: timedelta = timedelta(0), length: timedelta = timedelta(hours=1)
) -> Silence:
    request = SilenceRequest(
        matchers=list(matchers),
        starts_at=NOW + start,
        ends_at=NOW + start + length,
        created_by="t",
        comment="c",
    )
    return Silence.create(request, NOW)


@pytest.mark.parametrize(
    ("matchers", "muted"),
    [
        ([Matcher(name="rule_id", value="crossing-closed")], True),
        ([Matcher(name="rule_id", value="other")], False),
        ([Matcher(name="group.crossing", value="Torkham")], True),
        ([Matcher(name="group.crossing", op="!=", value="Torkham")], False),
        ([Matcher(name="severity", op="=~", value="high|critical")], True),
        ([Matcher(name="severity", op="=~", value="hig")], False),  # full match only
        ([Matcher(name="rule_id", value="crossing-closed"), Matcher(name="status", value="resolved")], False),
    ],
)
def test_silence_matchers(matchers: list[Matcher], muted: bool) -> None:
    a = alert(rule_id="crossing-closed", severity="high", group={"crossing": "Torkham"})
    assert (silenced_by([silence(*matchers)], a, NOW) is not None) == muted


def test_silence_is_active_only_between_start_and_end_and_expires() -> None:
    a = alert()
    s = silence(Matcher(name="rule_id", value=a.rule_id), start=timedelta(minutes=10))
    assert s.state(NOW) == "pending" and not s.mutes(a, NOW)
    later = NOW + timedelta(minutes=20)
    assert s.mutes(a, later)
    expired = s.expired(later)
    assert expired.state(later) == "expired" and not expired.mutes(a, later)


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "summary", "value": "x"},
        {"name": "rule_id", "op": "=~", "value": "("},
        {"name": "group.", "value": "x"},
    ],
)
def test_bad_matchers_are_rejected(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Matcher.model_validate(bad)


def test_silence_end_must_follow_start() -> None:
    with pytest.raises(ValueError):
        silence(Matcher(name="rule_id", value="x"), length=timedelta(0))


def test_token_bucket_allows_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.next_token_at(0.0) == pytest.approx(1.0)
    assert bucket.available(0.5) == 0 and bucket.take(1.0)
    assert bucket.available(100.0) == 3  # never above burst


@pytest.mark.parametrize(
    ("now", "at", "zone", "next_utc", "prev_utc"),
    [
        # 08:00 in Karachi (UTC+5) is 03:00 UTC.
        (datetime(2025, 10, 20, 2, 0, tzinfo=UTC), time(8), "Asia/Karachi",
         datetime(2025, 10, 20, 3, 0, tzinfo=UTC), datetime(2025, 10, 19, 3, 0, tzinfo=UTC)),
        (datetime(2025, 10, 20, 3, 0, tzinfo=UTC), time(8), "Asia/Karachi",
         datetime(2025, 10, 21, 3, 0, tzinfo=UTC), datetime(2025, 10, 20, 3, 0, tzinfo=UTC)),
        # Across a DST change in Berlin: 08:00 is 06:00 UTC in summer, 07:00 UTC in winter.
        (datetime(2025, 10, 25, 12, 0, tzinfo=UTC), time(8), "Europe/Berlin",
         datetime(2025, 10, 26, 7, 0, tzinfo=UTC), datetime(2025, 10, 25, 6, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_digest_times_follow_the_subscribers_zone(
    now: datetime, at: time, zone: str, next_utc: datetime, prev_utc: datetime
) -> None:
    digest = Digest(at=at, timezone=zone)
    assert next_digest_at(now, digest) == next_utc
    assert previous_digest_at(now, digest) == prev_utc


def test_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Digest(at=time(8), timezone="Mars/Olympus")
