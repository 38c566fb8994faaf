"""The tagger's shortcuts give exactly what the plain algorithms give.

Each shortcut (chunk-wise tokenising, locating sentence ends with ``str.find``, reading the next
word without tokenising the sentence, sorting hits only when needed) is checked against the
straightforward version on generated text.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.classifier.matcher import Hit, PhraseMatcher, alnum_at, chunks, normalise
from services.classifier.sentences import (
    _BOUNDARY,
    _END_CHARS,
    TOKEN,
    Sentence,
    _boundaries,
    _ends_like_a_sentence,
    make_sentences,
    split_spans,
    tokenise,
)

# Letters, digits, the marks the tokeniser and sentence splitter care about, odd word characters
# (underscore, superscript two, a combining accent) and several kinds of whitespace.
_ALPHABET = st.sampled_from(list("abcdeKLMXY019 .,;:!?'\"()[]-_\u00b2\u0301\u00e9\t\n\u00a0\u2019"))
_TEXT = st.text(_ALPHABET, max_size=60)
_WORDS = ["no", "no one", "one", "killed", "death toll", "toll", "cease-fire", "fire", "u.s.", "n't", "a"]
# Phrases beginning with a mark, with digits, or sharing a first word with others.
_WORDS += ["'s", "-led", "12", "a1", "no. 1", "one-off", "one two"]
# ASCII text with digits and the marks numbers use (the tokeniser's ASCII path).
_ASCII_TEXT = st.text(st.sampled_from(list("abXY0129 .,-'_()\n")), max_size=60)


@given(_TEXT)
@settings(max_examples=400)
def test_tokenise_matches_the_token_expression(text: str) -> None:
    words, starts = tokenise(text)
    assert list(zip(words, starts, strict=True)) == [(m.group(), m.start()) for m in TOKEN.finditer(text)]


@given(_ASCII_TEXT)
@settings(max_examples=400)
def test_tokenise_matches_the_token_expression_in_ascii(text: str) -> None:
    words, starts = tokenise(text)
    assert list(zip(words, starts, strict=True)) == [(m.group(), m.start()) for m in TOKEN.finditer(text)]


def test_code_point_checks_match_the_string_methods_and_sets() -> None:
    for c in range(0x3100):
        assert alnum_at(f"x{chr(c)}", 1) == chr(c).isalnum(), hex(c)
        assert _ends_like_a_sentence(c) == (c in _END_CHARS), hex(c)


@given(_TEXT)
@settings(max_examples=400)
def test_chunks_are_the_whitespace_separated_parts_with_offsets(text: str) -> None:
    parts, starts = chunks(text)
    assert parts == text.split()
    assert [(m.group(), m.start()) for m in re.finditer(r"\S+", text)] == list(
        zip(parts, starts, strict=True)
    )


@given(_TEXT)
@settings(max_examples=400)
def test_sentence_ends_match_the_boundary_expression(text: str) -> None:
    assert _boundaries(text) == [m.span() for m in _BOUNDARY.finditer(text)]


def test_split_spans_cuts_after_marks_only_before_capitals() -> None:
    text = "Gen. Raza said five died... Officials agreed?! Then. no cut here. 12 were hurt"
    parts = [text[a:b] for a, b in split_spans(text)]
    assert parts == [
        "Gen. Raza said five died...",
        "Officials agreed?!",
        "Then. no cut here.",
        "12 were hurt",
    ]


@given(_TEXT, st.integers(min_value=0, max_value=70))
@settings(max_examples=400)
def test_word_after_matches_full_tokenisation(text: str, offset: int) -> None:
    low = normalise(text)
    offset = min(offset, len(low))
    quick = Sentence("body", 0, 0, len(low), text, low).word_after(offset)
    full = Sentence("body", 0, 0, len(low), text, low)
    words = full.words
    index = full.token_after(offset)
    assert quick == (words[index] if index < len(words) else None)


def _reference_find(low: str, phrases: dict[str, list[tuple[str, int]]]) -> list[Hit]:
    """Every whole-word occurrence of every phrase, sorted by start then longest first."""
    hits: list[Hit] = []
    for key, payload in phrases.items():
        for m in re.finditer(f"(?={re.escape(key)})", low):
            start, end = m.start(), m.start() + len(key)
            if start > 0 and low[start - 1].isalnum():
                continue
            if end < len(low) and low[end].isalnum():
                continue
            hits.extend(Hit(start, end, group, ref) for group, ref in payload)
    hits.sort(key=lambda h: (h.start, -h.end))  # stable: a phrase's groups stay in order added
    return hits


@given(st.lists(st.sampled_from([*_WORDS, " ", ", ", "x", "-", ".", "\n", "  ", "\u00e9", "_"]), max_size=25))
@settings(max_examples=300)
def test_phrase_matcher_finds_whole_words_in_order(parts: list[str]) -> None:
    matcher = PhraseMatcher()
    phrases: dict[str, list[tuple[str, int]]] = {}
    for i, word in enumerate(_WORDS):
        for group in ("g1", "g2") if i % 3 == 0 else ("g1",):
            matcher.add(word, group, i)
            phrases.setdefault(word, []).append((group, i))
    low = normalise("".join(parts))
    assert matcher.find(low) == _reference_find(low, phrases)


def test_sentence_groups_keep_text_order_and_answer_presence() -> None:
    hits = [Hit(0, 4, "a", 0), Hit(2, 9, "b", 0), Hit(5, 9, "a", 1)]
    sent = Sentence("title", 0, 0, 9, "x" * 9, "x" * 9, hits)
    assert sent.groups("a") == [hits[0], hits[2]]
    assert sent.groups("missing") == []
    assert sent.has("b") and not sent.has("c")
    assert sent.has_any(("c", "b")) and not sent.has_any(("c",))


# Sentence text: capitals and digits open sentences; marks, closers, a curly quote (normalised
# to a closer in the lower-case text only) and several kinds of whitespace.
_SENTENCE_TEXT = st.lists(
    st.sampled_from(
        [
            *"abKX1 .!?'\")]([\u2019\n\t\u00a0",
            "Gen",
            "u.s",
            "no",
            "  ",
            ". ",
            ". (K",
            '." "X',
            "xprof.",
            "prof.",
        ]
    ),
    max_size=40,
).map("".join)


@given(_SENTENCE_TEXT, st.sampled_from(["title", "body"]))
@example("Shelling went on. (Kabul) Officials, said. \u2019X left. Dr. Ali spoke. Xprof. Yes", "body")
@settings(max_examples=500)
def test_sentences_from_chunks_match_split_spans_and_a_scan_per_sentence(text: str, fld: str) -> None:
    matcher = PhraseMatcher()
    for i, word in enumerate(_WORDS):
        matcher.add(word, "g1", i)
    low = normalise(text)
    got = make_sentences(fld, text, low, matcher)  # type: ignore[arg-type]
    spans = ([(0, len(text))] if text else []) if fld == "title" else split_spans(text)
    assert [(s.start, s.end) for s in got] == spans
    for index, (sent, (a, b)) in enumerate(zip(got, spans, strict=True)):
        assert (sent.index, sent.text, sent.low) == (index, text[a:b], low[a:b])
        assert sent.hits == matcher.find(low[a:b])
        assert (sent.words, sent._starts) == tokenise(low[a:b])


@given(_TEXT, st.integers(min_value=-2, max_value=70))
@settings(max_examples=300)
def test_token_positions_match_bisect(text: str, offset: int) -> None:
    sent = Sentence("body", 0, 0, len(text), text, normalise(text))
    words, starts = sent.words, sent._starts
    if words:
        assert sent.token_at(offset) == max(0, min(bisect_right(starts, offset) - 1, len(words) - 1))
    assert sent.token_after(offset) == bisect_left(starts, offset)
