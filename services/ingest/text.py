"""Plain text from what feeds and partners send: HTML stripped, Unicode NFC, whitespace collapsed.

Pure. ``html_to_text`` never raises on bad markup; it drops scripts, styles and comments and
decodes entities. Language detection uses CLD2 (pycld2: compiled, tables built in, no model to
load or download), about ten times cheaper per item than a pure-Python n-gram scorer.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

import pycld2

# Elements whose content is never reader-visible text.
_SKIPPED = frozenset({"script", "style", "template", "noscript", "head", "svg", "math", "iframe", "object"})
# Elements that separate words: "<p>a</p><p>b</p>" is "a b", not "ab".
_BREAKING = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
# Only text that may hold markup or an entity goes through the parser (most titles do not).
_MARKUP_HINT = re.compile(r"[<&]")
# A headline and the start of the body are enough, and bound the cost of a huge body.
LANGUAGE_SAMPLE_CHARS = 300
_NOT_LETTERS = re.compile(r"[\W\d_]+")
MIN_LETTERS_FOR_LANGUAGE = 40
# A sample this long is judged by CLD2 alone (which answers "un" for text without enough letters).
LONG_SAMPLE_CHARS = 200
UNKNOWN_LANGUAGE = "un"  # CLD2's answer when no language scores reliably


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
        elif tag in _BREAKING:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKING:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BREAKING:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def clean_text(text: str) -> str:
    """Unicode NFC with runs of whitespace collapsed to one space, control characters removed."""
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() or ch.isspace() else " " for ch in text)
    # split() breaks at exactly the characters that are str.isspace() (as re's \s does), and a
    # join is several times cheaper than a regex substitution on text with many words.
    return " ".join(text.split())


def html_to_text(text: str) -> str:
    """Visible text of an HTML fragment (or plain text, unchanged apart from :func:`clean_text`).

    Idempotent: the output contains no markup that a second pass would change, because a literal
    ``<`` or ``&`` that survives decoding is kept as text only when it cannot start a tag or
    entity again.
    """
    if not _MARKUP_HINT.search(text):
        return clean_text(text)
    out = text
    # Decoding can produce new markup ("&lt;b&gt;" -> "<b>"); a few passes reach a fixed point,
    # and the final pass escapes what is left so the result is stable.
    for _ in range(3):
        parser = _TextExtractor()
        parser.feed(out)
        parser.close()
        new = clean_text("".join(parser.parts))
        if new == out:
            break
        out = new
        if not _MARKUP_HINT.search(out):
            return out
    return _neutralise(out)


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY_START = re.compile(r"&(?=[#A-Za-z])")


def _neutralise(text: str) -> str:
    """Replace what could still be read as a tag or entity by a look-alike that cannot."""
    text = _TAG_START.sub("\u2039", text)  # single left-pointing angle quotation mark
    return _ENTITY_START.sub("\uff06", text)  # fullwidth ampersand


def detect_language(title: str, body: str) -> str | None:
    """ISO 639-1 code of the most likely language, or None for text too short or too mixed to tell."""
    sample = (title + " " + body[:LANGUAGE_SAMPLE_CHARS]).strip()
    if len(sample) < LONG_SAMPLE_CHARS and len(_NOT_LETTERS.sub("", sample)) < MIN_LETTERS_FOR_LANGUAGE:
        return None  # a short headline alone is too often mistaken for a related language
    try:
        _reliable, _bytes, details = pycld2.detect(sample)
    except (pycld2.error, UnicodeError):  # text CLD2 will not read (e.g. lone surrogates)
        return None
    code = str(details[0][1])
    return None if code == UNKNOWN_LANGUAGE else code
