"""Hostile values for fuzz tests: what a careless or malicious producer might put in a field."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

CONTROL = "".join(chr(c) for c in range(32)) + "\x7f\u0085\u2028\u2029\ufeff\u202e\u200b"

hostile_strings = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.sampled_from(CONTROL), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\ud800",  # a lone surrogate: not encodable as UTF-8
            "x" * 200_000,
            "<!channel> <http://evil.example|click> &amp; <@U123>",
            "line\r\nBcc: victim@example.com",
            "9999-12-31T23:59:59-05:00",
            "0001-01-01T00:00:00+05:00",
            "99999-01-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
            "Fri, 31 Dec 9999 23:59:59 -0500",
            "Mon, 01 Jan 99999999999 00:00:00 +0500",
            "1e400",
            "NaN",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "\x00",
            "é" * 5000,
        ]
    ),
)

hostile_numbers = st.one_of(
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, -(10**30), 2**1000]),
    st.floats(allow_nan=False, allow_infinity=False),
)

hostile_scalars = st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_strings)

hostile_json = st.recursive(
    hostile_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a decoded JSON document (the root included)."""
    paths: list[tuple[Any, ...]] = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths += leaf_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths += leaf_paths(child, (*prefix, index))
    return paths


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of ``document`` with the value at ``path`` replaced."""
    copy = json.loads(json.dumps(document))
    if not path:
        return value
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def to_bytes(document: Any) -> bytes:
    """JSON bytes; lone surrogates become invalid UTF-8, as a broken producer would send them."""
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


def nested(depth: int, kind: str = "list") -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


NUMBER_OVERFLOWS = [b"1e400", b"-1e400", b"9" * 5000, b"1" + b"0" * 400 + b".5", b"-0e-99999"]
