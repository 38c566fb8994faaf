"""The bundled sample through the pure cores yields the pinned alerts (reviewed by hand).

tests/data/sample_alerts.json is what a subscriber of config/rules.yaml should receive for
samples/items.jsonl: Torkham closed by several reports on 12 Oct and 1 Nov, corroborated
casualties at Spin Boldak (15 Oct, 6 Nov), Kurram (28 Oct) and Islamabad (11 Nov), and every
Af-Pak ceasefire violation once. The end-to-end test checks the same set through Kafka and Redis.
"""

from __future__ import annotations

import json
from collections import Counter

from tests.sample_pipeline import SAMPLE, expected_alerts, sample_alerts, tagged_sample

GOLD = SAMPLE.parent / "gold.jsonl"


async def test_pure_pipeline_yields_the_pinned_alerts() -> None:
    assert Counter(await sample_alerts()) == Counter(expected_alerts())


def test_every_af_pak_violation_in_the_sample_alerts_once() -> None:
    gold = [json.loads(line) for line in GOLD.read_text().splitlines()]
    violations = [g for g in gold if "ceasefire_violation" in g["labels"] and g["region"] == "af-pak"]
    pinned = [a for a in expected_alerts() if a[0] == "ceasefire-violation"]
    assert len(pinned) == len(violations)


def test_tagger_agrees_with_the_sample_labels_on_most_items() -> None:
    gold = [json.loads(line) for line in GOLD.read_text().splitlines()]
    events = tagged_sample()
    assert [e.url for e in events] == [g["url"] for g in gold]
    agree = sum([str(lb) for lb in e.labels] == g["labels"] for e, g in zip(events, gold, strict=True))
    assert agree / len(gold) >= 0.9
