"""Fresh casualties versus background: "after" clauses and the fighting a truce brings to an end.

An earlier killing cited as the cause of today's news is background; an attack told with its toll
in a participle (", killing two") is the news itself, even inside an "after" clause. Deaths in a
clause about the war a truce ends are background to the truce.
"""

from __future__ import annotations

import pytest

from schemas.common import Label
from tests.unit.classifier.conftest import TagFn

V, C, K = Label.CEASEFIRE_VIOLATION, Label.CLOSURE, Label.CASUALTIES

# name, title, body, labels, (killed, injured)
CASES: list[tuple[str, str, str, set[Label], tuple[int | None, int | None]]] = [
    (
        "after clause with a participle toll",
        "Chaman crossing sealed after raid on customs post",
        "Officials shut the Chaman crossing on Sunday after militants stormed a customs post, killing two "
        "guards.",
        {C, K},
        (2, None),
    ),
    (
        "after clause with a participle toll of wounded",
        "Highway to Parachinar shut after convoy ambush",
        "Police blocked the highway on Monday after an ambush on a supply convoy near Sadda, injuring "
        "seven passengers.",
        {C, K},
        (None, 7),
    ),
    (
        "earlier killing with a finite verb stays background",
        "Army adds checkpoints across Swat valley",
        "The army sent extra units to the valley after gunmen killed nine quarry workers in the spring.",
        set(),
        (None, None),
    ),
    (
        "earlier killing in the passive stays background",
        "Border fence guards doubled",
        "Extra guards were posted along the fence after a sentry was killed near the gate.",
        set(),
        (None, None),
    ),
    (
        "deaths in the war a truce ends",
        "Truce between army and rebels takes hold in the north",
        "A truce between the army and the rebels began on Friday, ending eighteen months of war that killed "
        "tens of thousands.",
        set(),
        (None, None),
    ),
    (
        "deaths in the fighting a ceasefire halts",
        "Ceasefire agreed in the hills",
        "Both sides agreed a ceasefire on Monday, bringing an end to a week of clashes in which 40 people "
        "died.",
        set(),
        (None, None),
    ),
    (
        "fresh deaths that end a truce still count",
        "Air strikes kill 12 in Khost as truce ends",
        "The truce ended on Sunday when air strikes killed 12 people in Khost.",
        {K},
        (12, None),
    ),
    (
        "fresh deaths despite a truce still count",
        "Shelling kills three in Kotli despite truce",
        "Three villagers died when shells hit Kotli on Monday despite the ceasefire.",
        {V, K},
        (3, None),
    ),
]


@pytest.mark.parametrize(
    ("title", "body", "labels", "figures"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_fresh_casualties_versus_background(
    tag: TagFn, title: str, body: str, labels: set[Label], figures: tuple[int | None, int | None]
) -> None:
    event = tag(title, body)
    assert set(event.labels) == labels
    assert (event.figures.killed, event.figures.injured) == figures
