"""Property tests: normalising twice changes nothing; ids ignore tracking parameters and case."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.submission import ItemSubmission, canonical_url, clean_text, item_id, normalise
from services.ingest.text import html_to_text

NOW = datetime(2025, 10, 12, 7, 0, tzinfo=UTC)
html_ish = st.lists(
    st.sampled_from([*list("ab <>/&;#x1ṕé\t\nscript"), "<b>", "</p>", "&amp;", "&lt;", "<script>"]),
    max_size=40,
).map("".join)
segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)
hosts = st.lists(segment, min_size=1, max_size=3).map(lambda p: ".".join(p) + ".org")
paths = st.lists(segment, max_size=3).map(lambda p: "/" + "/".join(p))
params = st.lists(st.tuples(segment, segment), max_size=3)
tracking = st.lists(
    st.tuples(st.sampled_from(["utm_source", "utm_medium", "UTM_Campaign", "fbclid", "gclid"]), segment),
    max_size=3,
)


@given(st.text(max_size=200))
def test_clean_text_is_idempotent(text: str) -> None:
    assert clean_text(clean_text(text)) == clean_text(text)


@given(html_ish)
@settings(max_examples=300)
def test_html_to_text_is_idempotent_and_has_no_tags(text: str) -> None:
    once = html_to_text(text)
    assert html_to_text(once) == once
    assert "<b>" not in once and "</p>" not in once


@given(hosts, paths, params, tracking, st.booleans())
def test_id_is_stable_under_tracking_parameters_case_and_fragments(
    host: str, path: str, query: list[tuple[str, str]], extra: list[tuple[str, str]], upper: bool
) -> None:
    plain = f"https://{host}{path}" + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    noisy_host = host.upper() if upper else host
    all_params = query + extra
    noisy = f"HTTPS://{noisy_host}{path}" + (
        "?" + "&".join(f"{k}={v}" for k, v in all_params) if all_params else ""
    )
    noisy += "#section"
    assert item_id(url=plain, guid=None, source="a", title="b") == item_id(
        url=noisy, guid="other", source="c", title="d"
    )
    assert canonical_url(canonical_url(noisy)) == canonical_url(noisy) == canonical_url(plain)


@given(
    st.text(min_size=1, max_size=60).filter(lambda t: html_to_text(t) != ""),
    st.text(max_size=200),
    hosts,
)
@settings(deadline=None)  # the first call loads the language model
def test_normalising_a_normalised_item_changes_nothing(title: str, body: str, host: str) -> None:
    first = normalise(
        ItemSubmission(source="src", title=title, body=body, url=f"https://{host}/a?utm_source=x"),
        origin="push",
        now=NOW,
    )
    again = normalise(
        ItemSubmission(
            source=first.source,
            title=first.title,
            body=first.body,
            url=first.url,
            published_at=first.published_at,
            language=first.language,
        ),
        origin="push",
        now=NOW,
    )
    assert (again.id, again.title, again.body, again.url, again.language) == (
        first.id,
        first.title,
        first.body,
        first.url,
        first.language,
    )
