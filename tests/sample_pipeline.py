"""The bundled sample run through the pure cores: normalise → tag → rules, all in memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.tagged_events import TaggedEventV1
from services.classifier.tagger import load_tagger
from services.ingest.replay_reader import AcceptedLine, read_replay_lines
from services.notifier.dry_run import dry_run
from services.notifier.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "items.jsonl"
EXPECTED = ROOT / "tests" / "data" / "sample_alerts.json"
NOW = datetime(2025, 12, 1, tzinfo=UTC)

AlertKey = tuple[str, tuple[tuple[str, str], ...], str]


def alert_key(rule_id: str, group: dict[str, str], window_start: str) -> AlertKey:
    return (rule_id, tuple(sorted(group.items())), window_start)


def tagged_sample() -> list[TaggedEventV1]:
    tagger = load_tagger(ROOT / "config" / "taxonomy.yaml", ROOT / "config" / "gazetteer")
    with SAMPLE.open("rb") as fh:
        items = [o.item for o in read_replay_lines(fh, lambda: NOW) if isinstance(o, AcceptedLine)]
    return [tagger.tag(item, NOW) for item in items]


async def sample_alerts() -> list[AlertKey]:
    fired = await dry_run(load_rules(ROOT / "config" / "rules.yaml"), tagged_sample())
    return [alert_key(a.rule_id, a.group, a.window_start.isoformat()) for a in fired]


def expected_alerts() -> list[AlertKey]:
    data: list[dict[str, Any]] = json.loads(EXPECTED.read_text())
    return [alert_key(a["rule"], a["group"], a["window_start"]) for a in data]
