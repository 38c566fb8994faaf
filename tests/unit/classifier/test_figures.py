"""Casualty figures: digits, words, approximations, ranges, dozens, totals and backgrounds."""

from __future__ import annotations

import pytest

from tests.unit.classifier.conftest import TagFn

CASES: list[tuple[str, str, str, int | None, int | None]] = [
    ("digits", "Blast kills 17 in Mastung", "", 17, None),
    ("words", "Eleven soldiers killed in Tirah ambush", "", 11, None),
    ("hyphenated words", "Twenty-two wounded in Bannu rocket attack", "", None, 22),
    ("at least", "At least 9 killed, more than 30 wounded in Kohat bombing", "", 9, 30),
    ("range to", "Military says 35 to 40 militants killed in Zhob", "", 35, None),
    ("range between", "Between 6 and 8 people killed in Chitral raid", "", 6, None),
    ("range hyphen", "Drone strike kills 12-15 in Paktika", "", 12, None),
    ("two dozen", "Two dozen killed in Kunduz mosque attack", "", 24, None),
    ("a dozen injured", "Mortar fire leaves a dozen injured in Mir Ali", "", None, 12),
    ("dozens", "Dozens killed in Kabul suicide bombing", "", None, None),
    ("several", "Several soldiers killed in Dir clash", "", None, None),
    ("single person", "Policeman shot dead in Tank district", "", 1, None),
    ("roman urdu", "Orakzai mein dhamaka, teen afraad jaan bahaq", "", 3, None),
    (
        "passive with subject list",
        "Seminary attack in Charsadda",
        "Eight people, five students and three teachers, were killed and 14 injured when a bomb went off.",
        8,
        14,
    ),
    (
        "total beats parts",
        "Nine soldiers among the dead in Bajaur fighting",
        "Nine soldiers were killed in the fighting. "
        "Twelve militants also died, bringing the death toll to 21.",
        21,
        None,
    ),
    (
        "headline figure, sides not added",
        "Seven police killed in Lakki Marwat attack",
        "Seven policemen were killed when gunmen stormed the station. "
        "Four attackers were killed in the gunfight.",
        7,
        None,
    ),
    (
        "separate event not counted",
        "Three soldiers killed in South Waziristan",
        "Three soldiers were killed in an ambush near Wana. "
        "Separately, two guards were wounded in Tank district.",
        3,
        None,
    ),
    (
        "zero killed",
        "Fourteen wounded as rockets hit Parachinar",
        "Fourteen people were wounded when rockets landed in a bazaar. No deaths were reported.",
        0,
        14,
    ),
    (
        "background toll ignored",
        "Two killed in fresh Khost strike",
        "Two people were killed on Tuesday. UNAMA had earlier counted 50 civilians killed in the fighting.",
        2,
        None,
    ),
]


@pytest.mark.parametrize(("name", "title", "body", "killed", "injured"), CASES, ids=[c[0] for c in CASES])
def test_figures(
    tag: TagFn, name: str, title: str, body: str, killed: int | None, injured: int | None
) -> None:
    event = tag(title, body)
    assert event.figures.killed == killed, name
    assert event.figures.injured == injured, name


def test_civilians_killed(tag: TagFn) -> None:
    event = tag("Air strike kills 10 civilians in Barmal, Taliban say")
    assert event.figures.civilians_killed == 10
    event = tag("Shelling kills 9, six of them civilians, in Kurram")
    assert (event.figures.killed, event.figures.civilians_killed) == (9, 6)


def test_no_figures_without_casualties_label(tag: TagFn) -> None:
    event = tag("Quake kills 40 in Nangarhar")
    assert event.figures.killed is None
    assert event.labels == []


def test_severity_follows_figures(tag: TagFn) -> None:
    assert tag("Bomb kills 25 in Quetta").severity.value == "critical"
    assert tag("Bomb kills 6 in Quetta").severity.value == "high"
    assert tag("Bomb kills 2 in Quetta").severity.value == "medium"
