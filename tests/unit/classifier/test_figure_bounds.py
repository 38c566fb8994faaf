"""Implausible casualty numbers: the item still reports casualties, the number is no figure."""

from __future__ import annotations

import pytest

from schemas.common import Label
from services.classifier.numbers import NumberReader
from services.classifier.taxonomy import FigureVocab
from tests.unit.classifier.conftest import TagFn


@pytest.mark.parametrize(
    ("title", "killed", "injured"),
    [
        ("99999999999999999999999 killed in Khost market blast", None, None),
        ("Blast in Khost kills 1000001, wounds 12", None, 12),
        ("Five million killed in Khost, officials say", None, None),
        ("1,000,000 killed in Khost", 1_000_000, None),  # the bound itself is still a figure
        ("Bajaur attack kills 14", 14, None),
    ],
)
def test_numbers_above_the_bound_are_not_figures(
    tag: TagFn, title: str, killed: int | None, injured: int | None
) -> None:
    event = tag(title)
    assert Label.CASUALTIES in event.labels
    assert (event.figures.killed, event.figures.injured) == (killed, injured)


def test_a_number_too_long_for_a_float_is_no_figure(tag: TagFn) -> None:
    event = tag("Khost blast", f"Officials said {'9' * 400} people were killed in the blast.")
    assert Label.CASUALTIES in event.labels
    assert event.figures.killed is None


def test_the_bound_comes_from_the_taxonomy() -> None:
    reader = NumberReader(["at least"], ["dozens"], {}, max_value=50)
    assert reader.read(["at", "least", "50"], 0) is not None
    assert reader.read(["51"], 0) is None
    assert reader.read(["five", "dozen"], 0) is None  # 60
    assert reader.read(["four", "dozen"], 0).value == 48  # type: ignore[union-attr]
    unbounded = NumberReader(["at least"], ["dozens"], {})
    assert unbounded.read(["5", "million"], 0).value == 5_000_000  # type: ignore[union-attr]


def test_guarded_number_words_count_only_before_their_words() -> None:
    reader = NumberReader(["at least"], ["dozens"], {}, guarded={"do": 2}, guarded_next=["zakhmi"])
    assert reader.read(["do", "zakhmi"], 0).value == 2  # type: ignore[union-attr]
    assert reader.read(["do", "not"], 0) is None
    assert reader.read(["do"], 0) is None


def test_the_bound_must_be_positive() -> None:
    vocab = {"approximations": ["at least"], "vague": ["dozens"]}
    assert FigureVocab.model_validate(vocab).max_figure == 1_000_000
    with pytest.raises(ValueError, match="max_figure"):
        FigureVocab.model_validate({**vocab, "max_figure": 0})
