"""Dates, schedules, pacing, tokens, text and the feeds file."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.common.yaml_config import ConfigError
from services.ingest.dates import DateError, check_not_future, parse_published
from services.ingest.feeds_config import load_feeds
from services.ingest.pacing import Pacer
from services.ingest.schedule import BrokerGate, next_poll_delay
from services.ingest.text import detect_language, html_to_text
from services.ingest.tokens import ApiToken, find_token

T = datetime(2025, 10, 12, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2025-10-12T07:00:00Z",
        "2025-10-12T12:00:00+05:00",
        "2025-10-12 07:00:00",
        "Sun, 12 Oct 2025 07:00:00 GMT",
        "Sun, 12 Oct 2025 12:00:00 +0500",
        "12 Oct 2025 03:00:00 EDT",
        "Sun, 12 Oct 2025 07:00:00",
    ],
)
def test_publication_times_in_real_feed_formats(text: str) -> None:
    assert parse_published(text) == T


def test_struct_time_and_errors() -> None:
    assert parse_published(time.gmtime(T.timestamp())) == T
    with pytest.raises(DateError, match="unrecognised"):
        parse_published("yesterday")
    check_not_future(T + timedelta(minutes=30), T, timedelta(hours=1))
    with pytest.raises(DateError, match="future"):
        check_not_future(T + timedelta(hours=2), T, timedelta(hours=1))


def test_poll_delay_jitters_around_the_interval_and_backs_off_to_a_cap() -> None:
    assert next_poll_delay(100, 0, backoff_cap_s=1000, rand=lambda: 0.0) == pytest.approx(90)
    assert next_poll_delay(100, 0, backoff_cap_s=1000, rand=lambda: 0.999999) == pytest.approx(110, rel=1e-3)
    mid = [next_poll_delay(100, n, backoff_cap_s=1000, rand=lambda: 0.5) for n in range(6)]
    assert mid == [100, 200, 400, 800, 1000, 1000]
    assert next_poll_delay(100, 10_000, backoff_cap_s=1000, rand=lambda: 0.5) == 1000


def test_broker_gate_closes_after_a_failure_and_lets_one_try_through_later() -> None:
    now = [0.0]
    gate = BrokerGate(retry_after_s=5, now=lambda: now[0])
    assert gate.allow() and gate.available
    gate.record_failure()
    assert not gate.allow() and gate.seconds_until_retry() == 5
    now[0] = 5.0
    assert gate.allow() and not gate.available
    gate.record_success()
    assert gate.available


def test_pacer_by_rate_and_by_speedup() -> None:
    by_rate = Pacer(rate=4)
    assert [by_rate.due(i, T) for i in range(3)] == [0, 0.25, 0.5]
    fast = Pacer(speedup=60)
    assert fast.due(0, T) == 0
    assert fast.due(1, T + timedelta(minutes=2)) == 2
    assert fast.due(2, T - timedelta(hours=1)) == 0  # out of order: at once
    assert not Pacer().paced
    with pytest.raises(ValueError):
        Pacer(rate=1, speedup=2)


def test_tokens_match_only_bearer_and_exact_value() -> None:
    tokens = [
        ApiToken(name="scraper", token=SecretStr("p" * 20)),
        ApiToken(name="viewer", token=SecretStr("r" * 20), scopes=frozenset({"read"})),
    ]
    assert find_token(tokens, "Bearer " + "p" * 20) is tokens[0]
    assert find_token(tokens, "bearer " + "r" * 20) is tokens[1]
    for header in (None, "", "Basic " + "p" * 20, "Bearer " + "p" * 19, "Bearer", "p" * 20):
        assert find_token(tokens, header) is None
    assert "p" * 20 not in repr(tokens[0])


def test_html_and_language() -> None:
    text = html_to_text("<p>Border&nbsp;<b>closed</b></p><style>p{}</style><script>x()</script><p>again</p>")
    assert text == "Border closed again"
    assert detect_language("Pakistan closes the Torkham border crossing after clashes", "") == "en"
    assert detect_language("ok", "") is None


def test_feeds_file_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("version: 1\nfeeds:\n  - id: a\n    url: https://a.org/f\n  - id: b\n    url: ftp://b\n")
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    assert caught.value.line == 6 and caught.value.field == "feeds.1.url"
    path.write_text("version: 1\nfeeds:\n  - id: a\n    url: https://a.org/f\n    headers: {X-Key: s3cret}\n")
    feeds = load_feeds(path)
    assert feeds.feeds[0].request_headers() == {"X-Key": "s3cret"} and "s3cret" not in repr(feeds)


def test_shipped_feeds_file_is_valid_and_polls_nothing() -> None:
    feeds = load_feeds(Path(__file__).parents[3] / "config" / "feeds.yaml")
    assert feeds.enabled == []
