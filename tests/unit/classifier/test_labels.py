"""Label decisions, including the phrasings that must not fire."""

from __future__ import annotations

import pytest

from schemas.common import Label
from tests.unit.classifier.conftest import TagFn

V, C, K = Label.CEASEFIRE_VIOLATION, Label.CLOSURE, Label.CASUALTIES

CASES: list[tuple[str, str, str, set[Label]]] = [
    # --- ceasefire violations ---------------------------------------------------------------
    ("breach accusation", "Kabul accuses Islamabad of violating the truce", "", {V}),
    (
        "act despite truce",
        "Mortar fire hits Kurram villages despite tribal truce",
        "Mortar shells struck two villages in Kurram on Friday despite the ceasefire agreed last week.",
        {V},
    ),
    (
        "superlative since truce",
        "Shelling in Paktika is the heaviest since the ceasefire",
        "Residents described the shelling as the heaviest since the ceasefire began.",
        {V},
    ),
    ("fired after truce began", "Border guards say rockets were fired after the truce took effect", "", {V}),
    # agreement / holding / extension / denial: negative
    ("truce agreed", "Kabul and Islamabad agree to a 72-hour ceasefire", "", set()),
    ("truce extended", "Mediators say the ceasefire has been extended by a week", "", set()),
    ("truce holding", "Officials say the ceasefire is holding along the frontier", "", set()),
    (
        "denial of breach",
        "Afghan side says it has not breached the ceasefire",
        "A spokesman said Afghan units had not breached the ceasefire and would keep to it.",
        set(),
    ),
    (
        "threat only",
        "Minister warns any violation of the ceasefire would be answered",
        "",
        set(),
    ),
    (
        "act before truce",
        "Jets struck positions near Khost before the ceasefire took effect",
        "",
        set(),
    ),
    ("sovereignty violation", "Kabul calls air raid a violation of Afghan airspace", "", set()),
    ("talks collapse", "Talks in Istanbul end without agreement", "", set()),
    # --- closures ---------------------------------------------------------------------------
    ("closure", "Angur Adda crossing shut after firing", "", {C}),
    ("still shut", "Traders count losses as Torkhum stays closed for a third week", "", {C}),
    ("reopening only", "Torkham reopens after ten-day shutdown", "", set()),
    ("threatened closure", "Islamabad threatens to close the Chaman crossing", "", set()),
    ("visa rule without suspension", "New biometric checks introduced at Torkham", "", set()),
    ("airspace", "Iran closes its airspace to civilian flights", "", {C}),
    ("road blocked by protest", "Protesters block the Parachinar road for a second day", "", {C}),
    # --- casualties -------------------------------------------------------------------------
    ("bombing", "Bomb attack kills four policemen in Lakki Marwat", "", {K}),
    ("injured only", "Nine hurt as grenade thrown into Quetta market", "", {K}),
    ("earthquake", "Earthquake kills 30 in Herat villages", "", set()),
    ("flood", "Flash floods leave 40 dead in Swat valley", "", set()),
    ("accident", "Bus collides with truck near Kohat, 14 dead", "", set()),
    ("denial", "Army says no civilians were killed in the raid", "", set()),
    ("metaphor market", "Fuel shortages are killing the market in Landi Kotal", "", set()),
    ("sport", "Pakistan crush Afghanistan by nine wickets in Sharjah", "", set()),
    (
        "anniversary",
        "City remembers victims of the school siege",
        "Families marked ten years since gunmen killed 140 people at the school in 2014.",
        set(),
    ),
    (
        "background toll",
        "Elders sign peace accord in Kurram",
        "Tribal elders signed the accord on Monday. More than 100 people had died in the feud since July.",
        set(),
    ),
    (
        "hypothetical",
        "Official warns clashes could kill hundreds",
        "",
        set(),
    ),
    # --- combined -----------------------------------------------------------------------------
    (
        "all three",
        "Truce frays in Kurram: six dead as fighting closes highway",
        "Six people were killed as fighting resumed despite the tribal ceasefire, and the Parachinar road "
        "was closed to all traffic.",
        {V, C, K},
    ),
]


@pytest.mark.parametrize(("name", "title", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_labels(tag: TagFn, name: str, title: str, body: str, expected: set[Label]) -> None:
    event = tag(title, body)
    assert set(event.labels) == expected, name


def test_labels_keep_contract_order(tag: TagFn) -> None:
    event = tag(
        "Truce breached as shelling kills five and shuts Ghulam Khan crossing",
        "Five people were killed when shells hit the market despite the ceasefire, and the Ghulam Khan "
        "crossing was closed.",
    )
    assert event.labels == [V, C, K]


def test_no_label_is_info_severity(tag: TagFn) -> None:
    event = tag("Delegations meet in Doha for a second round of talks")
    assert event.labels == []
    assert event.severity.value == "info"
