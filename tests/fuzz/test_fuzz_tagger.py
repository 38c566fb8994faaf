"""The tagger over arbitrary text: it never raises, and every evidence span lies inside its field."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import decode_as, encode
from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1
from services.classifier.tagger import Tagger
from tests.fuzz.cases import ran
from tests.fuzz.hostile import CONTROL

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
WORDS = [
    "Torkham",
    "Chaman",
    "Spin Boldak",
    "Kurram",
    "ceasefire",
    "truce",
    "violated",
    "closed",
    "reopened",
    "killed",
    "injured",
    "civilians",
    "soldiers",
    "dozens",
    "twenty-three",
    "99999999999999999999999",
    "1e400",
    "-5",
    "½",
    "٣",  # an Arabic-Indic digit
    "۱۲",  # Extended Arabic-Indic digits
    "طورخم",
    "Taliban",
    "Pakistani forces",
    ".",
    "!",
    "?",
    "\n\n",
    "  ",
    "…",
    "\u200b",
    "\u202e",
]

texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(WORDS) | st.sampled_from(list(CONTROL)), max_size=80).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=40).map("".join),
)


@given(title=texts, body=texts)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_tagging_arbitrary_text_never_raises_and_evidence_stays_in_range(
    tagger: Tagger, title: str, body: str
) -> None:
    ran("tagger: arbitrary text")
    item = RawItemV1(
        id="fuzz-item",
        source="fuzz",
        title=title[:1000],
        body=body,
        published_at=datetime(2025, 11, 20, 9, 0, tzinfo=UTC),
        ingested_at=datetime(2025, 11, 20, 9, 5, tzinfo=UTC),
        origin="replay",
    )
    event = tagger.tag(item, NOW)
    for evidence in event.evidence:
        text = item.title if evidence.field == "title" else item.body
        assert 0 <= evidence.start <= evidence.end <= len(text)
        assert text[evidence.start : evidence.end] == evidence.sentence
    # What the classifier publishes is a valid contract message.
    assert decode_as(TaggedEventV1, encode(event)) == event
