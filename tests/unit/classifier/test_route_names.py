"""Routes named in running text (airports, roads, corridors, airspace, ports, border pairs).

A sentence is searched for such names only when it holds one of the route words as a whole
word; each kind of name below must still be found.
"""

from __future__ import annotations

import pytest

from tests.unit.classifier.conftest import TagFn


@pytest.mark.parametrize(
    ("title", "crossings"),
    [
        ("Iran closes border crossings with Turkey", [("Iran-Turkey crossings", "closed")]),
        ("Iran closed its checkpoints with Iraq", [("Iran-Iraq crossings", "closed")]),
        ("Wakhan corridor closed to traders", [("Wakhan corridor", "closed")]),
        ("Pakistan closes its ports to Afghan transit cargo", [("Pakistani ports", "closed")]),
        (
            "India shuts Indian airspace; Pakistani ports closed",
            [("Indian airspace", "closed"), ("Pakistani ports", "closed")],
        ),
        ("Traffic suspended on the Kabul-Jalalabad highway", [("Kabul-Jalalabad highway", "closed")]),
        (
            "Flights halted at Hamid Karzai International Airport",
            [("Hamid Karzai International airport", "closed")],
        ),
        ("Flights halted as passengers wait, the Ministry said", []),
    ],
)
def test_route_names_from_running_text(tag: TagFn, title: str, crossings: list[tuple[str, str]]) -> None:
    event = tag(title)
    assert [(c.name, c.state.value) for c in event.crossings] == crossings
