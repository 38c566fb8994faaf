"""The fault suite's workload: generated items with known expected alerts, and reading the sinks.

Each fault gets its own phase of items on two UTC days of its own, so the alerts of one phase
never share a count window with another's. The expected alerts come from the pure pipeline
(normalise → tag → rules in memory, as ``rules test`` does) over the same items and rules; the
expected deliveries from the notifier's own routing stage over the same subscribers file.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

from schemas.alerts import AlertV1
from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1
from services.classifier.tagger import load_tagger
from services.ingest.replay_reader import AcceptedLine, parse_line
from services.notifier.channels.base import Notification
from services.notifier.dry_run import dry_run
from services.notifier.evaluate import plan_updates
from services.notifier.routing import plan_deliveries
from services.notifier.rules import RuleSet, load_rules
from services.notifier.subscribers import load_subscribers, resolve_secrets

ROOT = Path(__file__).resolve().parents[2]

RULES = """\
version: 1
rules:
  - id: violation
    title: Ceasefire violation reported
    type: any
    match: {labels: [ceasefire_violation], region: af-pak}
    lateness: 60d
    severity: critical
    routes: [everyone]
  - id: crossing-closed
    title: Border crossing closed (corroborated)
    type: count
    match: {labels: [closure], crossing_states: [closed]}
    group_by: [crossing]
    window: 1d
    threshold: 2
    lateness: 60d
    severity: high
    routes: [everyone]
"""

# Slack gets every alert (its bucket is large enough that no burst becomes a digest); the partner
# webhook every alert; the analysts' mailbox only critical ones.
SUBSCRIBERS = """\
version: 1
subscribers:
  - id: ops
    channels:
      - type: slack
        webhook_env: BW_FAULTS_SLACK_URL
        rate_limit: {per_second: 100, burst: 100}
  - id: partner
    channels:
      - {type: webhook, url_env: BW_FAULTS_HOOK_URL}
  - id: analysts
    filters: {min_severity: critical}
    channels:
      - {type: email, to: [analysts@example.org]}
groups:
  everyone: [ops, partner, analysts]
"""

VIOLATIONS = [
    (
        "Ceasefire violated as forces exchange fire near {town}",
        "Heavy firing broke out overnight in violation of the Doha ceasefire near {town}, officials said.",
    ),
    (
        "Truce breached: Taliban accuse Pakistan of cross-border shelling in {province}",
        "The Taliban said Pakistani forces shelled villages in {province}, breaching the ceasefire.",
    ),
]
CLOSURES = [
    (
        "{crossing} border crossing closed for trade",
        "Authorities closed the {crossing} crossing; hundreds of trucks were stranded.",
    ),
    ("{crossing} crossing shut after talks stall", "The {crossing} border crossing was shut to traffic."),
]
NOISE = [
    (
        "Wheat prices steady in {city} markets",
        "Traders in {city} said wheat prices were unchanged this week.",
    ),
    ("{city} schools reopen after winter break", "Pupils returned to classes in {city} on Monday."),
]
TOWNS = ["Chaman", "Spin Boldak", "Torkham", "Angoor Adda"]
PROVINCES = ["Kunar", "Khost", "Paktika", "Nangarhar"]
BUSY_CROSSINGS = ["Torkham", "Chaman", "Ghulam Khan", "Angoor Adda"]
LONE_CROSSING = "Kharlachi"  # one report a phase: below the threshold, never an alert
CITIES = ["Kabul", "Peshawar", "Quetta", "Jalalabad"]
SOURCES = ["Frontier Post", "Dawn", "Tolo", "Pajhwok", "AP"]


@dataclass(frozen=True)
class Subscription:
    """One (subscriber, channel) pair: ``ops/slack``, ``partner/webhook``, ``analysts/email``."""

    subscriber: str
    channel: str

    def __str__(self) -> str:
        return f"{self.subscriber}/{self.channel}"


SLACK = Subscription("ops", "slack")
HOOK = Subscription("partner", "webhook")
MAIL = Subscription("analysts", "email")
SUBSCRIPTIONS = (SLACK, HOOK, MAIL)


@dataclass
class Phase:
    """The items of one fault and what they must lead to."""

    name: str
    submissions: list[dict[str, Any]]
    items: list[RawItemV1]
    alerts: list[AlertV1] = field(default_factory=list)
    expected: dict[Subscription, set[str]] = field(default_factory=dict)

    @property
    def item_ids(self) -> set[str]:
        return {i.id for i in self.items}

    @property
    def alert_ids(self) -> set[str]:
        return {a.alert_id for a in self.alerts}


def make_submissions(run: str, phase_no: int, count: int, day0: datetime) -> list[dict[str, Any]]:
    """``count`` push-API items on ``day0`` and the day after: about 10% ceasefire violations,
    30% closures of busy crossings, one closure of a quiet crossing, the rest unrelated news."""
    out: list[dict[str, Any]] = []
    for n in range(count):
        day = day0 + timedelta(days=n % 2)
        at = day + timedelta(seconds=60 + n * 17)
        kind = n % 10
        if n == 0:
            title, body = CLOSURES[0]
            values = {"crossing": LONE_CROSSING}
        elif kind == 3:
            title, body = VIOLATIONS[n % len(VIOLATIONS)]
            values = {"town": TOWNS[n % len(TOWNS)], "province": PROVINCES[(n // 7) % len(PROVINCES)]}
        elif kind in (1, 5, 8):
            title, body = CLOSURES[n % len(CLOSURES)]
            values = {"crossing": BUSY_CROSSINGS[(n // 10) % len(BUSY_CROSSINGS)]}
        else:
            title, body = NOISE[n % len(NOISE)]
            values = {"city": CITIES[n % len(CITIES)]}
        out.append(
            {
                "source": SOURCES[n % len(SOURCES)],
                "title": f"{title.format(**values)} (report {phase_no}-{n})",
                "body": body.format(**values),
                "url": f"https://news.example/{run}/{phase_no}/{n}?utm_source=feed",
                "published_at": at.isoformat().replace("+00:00", "Z"),
            }
        )
    return out


class Workload:
    """Every phase's items, tagged events and expected alerts, from the pure pipeline."""

    def __init__(self, workdir: Path, run: str, phases: Sequence[str], items_per_phase: int) -> None:
        self.rules_file = workdir / "rules.yaml"
        self.subscribers_file = workdir / "subscribers.yaml"
        self.rules_file.write_text(RULES)
        self.subscribers_file.write_text(SUBSCRIBERS)
        self.rules: RuleSet = load_rules(self.rules_file)
        now = datetime.now(UTC)
        first_day = (now - timedelta(days=2 * len(phases) + 3)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.phases: dict[str, Phase] = {}
        for number, name in enumerate(phases):
            subs = make_submissions(run, number, items_per_phase, first_day + timedelta(days=2 * number))
            items = []
            for line_no, sub in enumerate(subs, start=1):
                outcome = parse_line(json.dumps(sub).encode(), line_no, now)
                if not isinstance(outcome, AcceptedLine):
                    raise AssertionError(f"generated item refused: {outcome.reason}")
                items.append(outcome.item)
            self.phases[name] = Phase(name, subs, items)
        tagger = load_tagger(ROOT / "config" / "taxonomy.yaml", ROOT / "config" / "gazetteer")
        self.events: dict[str, TaggedEventV1] = {
            i.id: tagger.tag(i, now) for p in self.phases.values() for i in p.items
        }
        self.by_url = {e.url: e for e in self.events.values() if e.url}
        phase_of_item = {i.id: p for p in self.phases.values() for i in p.items}
        alerts = asyncio.run(dry_run(self.rules, list(self.events.values())))
        subscribers = load_subscribers(self.subscribers_file)
        fake_env = {
            "BW_FAULTS_SLACK_URL": "http://slack.invalid/",
            "BW_FAULTS_HOOK_URL": "http://hook.invalid/",
        }
        targets, _ = resolve_secrets(subscribers, fake_env, self.subscribers_file)
        routes = {r.id: list(r.routes) for r in self.rules.rules}
        self.mail_keys: dict[str, str] = {}
        for alert in alerts:
            phase = phase_of_item[alert.events[0].item_id]
            phase.alerts.append(alert)
            for d in plan_deliveries(alert, routes[alert.rule_id], subscribers, targets):
                pair = Subscription(d.subscriber.id, d.target.target.name)
                phase.expected.setdefault(pair, set()).add(alert.alert_id)
                if pair == MAIL:
                    note = Notification(MAIL.subscriber, MAIL.channel, (alert,), now)
                    self.mail_keys[note.idempotency_key] = alert.alert_id
        for phase in self.phases.values():
            for each in SUBSCRIPTIONS:
                phase.expected.setdefault(each, set())

    # -- reading what the sinks received ---------------------------------------------------
    def slack_alert_ids(self, body: dict[str, Any]) -> list[str]:
        """The alerts one Slack message shows (one, or several in a digest).

        The message carries no id, so each section is traced back from its rule line and its
        first link (an item of the workload) through the rules' own windowing to the alert id.
        Raises on a section that cannot be traced, or a digest that left alerts out.
        """
        ids: list[str] = []
        for block in body.get("blocks", []):
            if block.get("type") == "context":
                raise AssertionError(f"a Slack digest left alerts out: {block}")
            if block.get("type") != "section":
                continue
            text = block["text"]["text"]
            rule = re.search(r"^rule (\S+) ·", text, re.MULTILINE)
            link = re.search(r"^• <(https?://[^|>]+)\|", text, re.MULTILINE)
            if rule is None or link is None or link.group(1) not in self.by_url:
                raise AssertionError(f"cannot trace a Slack section to an alert: {text[:300]!r}")
            event = self.by_url[link.group(1)]
            header = text.splitlines()[0]
            candidates = [
                u.alert_id
                for u in plan_updates(self.rules, event)
                if u.rule.id == rule.group(1) and all(v in header for v in u.group.values())
            ]
            if len(candidates) != 1:
                raise AssertionError(f"ambiguous Slack section ({len(candidates)} candidates): {header!r}")
            ids.append(candidates[0])
        return ids

    def mail_alert_id(self, message: Message) -> str:
        key = str(message["X-Borderwatch-Idempotency-Key"])
        if key not in self.mail_keys:
            raise AssertionError(f"an e-mail with an unknown idempotency key: {message['Subject']!r}")
        return self.mail_keys[key]


@dataclass(frozen=True)
class Received:
    """One alert as a subscriber's channel received it."""

    alert_id: str
    key: str
    """The receiver's de-duplication key: the idempotency key (webhook, e-mail) or the alert id
    (Slack cannot de-duplicate)."""
    at: float
    """``time.monotonic()`` when the sink took it."""


def tally(received: Sequence[Received]) -> Counter[str]:
    return Counter(r.alert_id for r in received)
