"""Crossing names and states (with variant spellings) and the region decision."""

from __future__ import annotations

import pytest

from schemas.common import Region
from tests.unit.classifier.conftest import TagFn

CROSSINGS: list[tuple[str, str, str, dict[str, str]]] = [
    ("variant torkhum", "Torkhum crossing sealed after exchange of fire", "", {"Torkham": "closed"}),
    ("bab-e-dosti is chaman", "Bab-e-Dosti shut for Eid holidays", "", {"Chaman": "closed"}),
    ("friendship gate", "Friendship Gate closed to trade", "", {"Chaman": "closed"}),
    ("spin boldak side", "Spin Boldak crossing closed by Afghan authorities", "", {"Chaman": "closed"}),
    ("gulam khan", "Gulam Khan border closed indefinitely", "", {"Ghulam Khan": "closed"}),
    ("khar lachi", "Khar Lachi crossing suspended over security", "", {"Kharlachi": "closed"}),
    ("angur adda", "Angur Adda gate remains shut", "", {"Angoor Adda": "closed"}),
    ("reopened", "Torkham reopened to traffic on Monday", "", {"Torkham": "reopened"}),
    (
        "partial",
        "Chaman open only for returning refugees; trade still suspended",
        "",
        {"Chaman": "partially_open"},
    ),
    (
        "partial across sentences",
        "Torkham closed to cargo for two days",
        "Customs said cargo trucks would not cross until Thursday. Pedestrians will keep moving through the "
        "gate as usual.",
        {"Torkham": "partially_open"},
    ),
    (
        "all crossings unnamed",
        "Pakistan closes all crossings with Afghanistan",
        "",
        {"Torkham": "closed", "Chaman": "closed"},
    ),
    ("named road", "Quetta-Chaman highway blocked by sit-in", "", {"Quetta-Chaman highway": "closed"}),
    (
        "the whole road named",
        "Quetta-Kandahar highway blocked by sit-in",
        "",
        {"Quetta-Kandahar highway": "closed"},
    ),
    (
        "airspace of a country",
        "Pakistan shuts its airspace to Indian airlines",
        "",
        {"Pakistani airspace": "closed"},
    ),
    ("airport built name", "Flights halted at Kandahar airport", "", {"Kandahar airport": "closed"}),
    (
        "generic highway attaches",
        "Gunmen block Parachinar road",
        "The highway stayed closed on Sunday.",
        {"Parachinar highway": "closed"},
    ),
]


@pytest.mark.parametrize(("name", "title", "body", "expected"), CROSSINGS, ids=[c[0] for c in CROSSINGS])
def test_crossings(tag: TagFn, name: str, title: str, body: str, expected: dict[str, str]) -> None:
    event = tag(title, body)
    assert {c.name: c.state.value for c in event.crossings} == expected, name


def test_reopened_alone_has_no_closure_label(tag: TagFn) -> None:
    event = tag("Ghulam Khan reopens after week-long closure")
    assert [(c.name, c.state.value) for c in event.crossings] == [("Ghulam Khan", "reopened")]
    assert event.labels == []


REGIONS: list[tuple[str, str, str, Region]] = [
    ("af district", "Blast in Bajaur kills three", "", Region.AF_PAK),
    ("af province", "Drone strike reported in Paktia", "", Region.AF_PAK),
    ("talks venue", "Afghan and Pakistani delegations meet in Istanbul", "", Region.AF_PAK),
    ("gaza", "Strike in Khan Younis kills 12", "", Region.OTHER),
    ("indian side of loc", "Shelling hits homes in Kupwara and Rajouri", "", Region.OTHER),
    ("cricket abroad", "Afghanistan beat Pakistan in Dubai final", "", Region.OTHER),
    ("indo-pak truce without event", "India and Pakistan agree to stop firing", "", Region.OTHER),
    ("pakistan closure with india", "Pakistan shuts Wagah crossing", "", Region.AF_PAK),
    ("bilateral af-pak", "Qatar urges Pakistan and Afghanistan to show restraint", "", Region.AF_PAK),
    ("ukraine", "Russian missiles hit Kharkiv", "", Region.OTHER),
]


@pytest.mark.parametrize(("name", "title", "body", "expected"), REGIONS, ids=[r[0] for r in REGIONS])
def test_region(tag: TagFn, name: str, title: str, body: str, expected: Region) -> None:
    assert tag(title, body).region == expected, name


def test_places_resolved_with_coordinates(tag: TagFn) -> None:
    event = tag("Clashes in Bajor and North Waziristan")
    places = {p.name: p for p in event.places}
    assert places["Bajaur"].mention == "Bajor"
    assert places["Bajaur"].country == "PK"
    assert places["North Waziristan"].kind == "district"
    assert "Waziristan" not in places  # the longer name wins
    assert places["Bajaur"].lat is not None
