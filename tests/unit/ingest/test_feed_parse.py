from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.ingest.feed_parse import FeedError, parse_feed

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Frontier news</title>
<item><title>Torkham closed &amp; sealed</title><link>https://ex.org/a?utm_source=rss</link>
<guid isPermaLink="false">g1</guid><pubDate>Sun, 12 Oct 2025 12:00:00 +0500</pubDate>
<description>&lt;p&gt;Trucks &lt;b&gt;stranded&lt;/b&gt;&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;
</description></item>
<item><link>https://ex.org/no-title</link></item>
<item><title>No link, no guid</title></item>
<item><title>Undated</title><guid isPermaLink="false">g4</guid></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><title>Chaman reopened</title><link href="/x/1"/><id>tag:ex.org,2025:1</id>
<updated>2025-10-12T07:00:00Z</updated><summary>Trade resumed.</summary></entry></feed>"""

JSON_FEED = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [
 {"id": "1", "url": "https://j.org/1", "title": "Ghulam Khan shut", "content_html": "<p>Shut</p>",
  "date_published": "2025-10-13T08:00:00+05:00"},
 {"id": "2", "content_text": "no title"}]}"""


def test_rss_entries_become_submissions_and_bad_entries_are_rejected_alone() -> None:
    parsed = parse_feed(RSS, source="frontier", url="https://ex.org/feed")
    first = parsed.submissions[0]
    assert first.title == "Torkham closed & sealed" and first.url == "https://ex.org/a?utm_source=rss"
    assert first.published_at == datetime(2025, 10, 12, 7, 0, tzinfo=UTC)
    assert "<b>stranded</b>" in first.body  # markup is removed later, by normalise
    assert [s.title for s in parsed.submissions] == ["Torkham closed & sealed", "Undated"]
    assert parsed.submissions[1].published_at is None and parsed.submissions[1].guid == "g4"
    assert [(r.index, r.reason) for r in parsed.rejected] == [
        (1, "entry has no title"),
        (2, "entry has neither a link nor a guid"),
    ]
    assert parsed.entries_seen == 4


def test_atom_relative_links_are_resolved_against_the_feed_url() -> None:
    parsed = parse_feed(ATOM, source="a", url="https://ex.org/feeds/atom.xml")
    assert parsed.submissions[0].url == "https://ex.org/x/1"
    assert parsed.submissions[0].published_at == datetime(2025, 10, 12, 7, 0, tzinfo=UTC)


def test_json_feed() -> None:
    parsed = parse_feed(JSON_FEED, source="j", url="https://j.org/feed.json")
    assert [s.url for s in parsed.submissions] == ["https://j.org/1"]
    assert parsed.submissions[0].published_at == datetime(2025, 10, 13, 3, 0, tzinfo=UTC)
    assert parsed.rejected[0].reason == "entry has no title"


def test_a_not_well_formed_feed_with_usable_entries_still_yields_them() -> None:
    data = RSS.replace(b"Undated", b"Undated&nbsp;now")  # &nbsp; is not an XML entity
    parsed = parse_feed(data, source="f", url="https://ex.org/feed")
    assert len(parsed.submissions) == 2 and parsed.warning


BOMB = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><rss version="2.0"><channel><item><title>&c;</title>
<link>https://x.org/1</link></item></channel></rss>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&x;</title><link>https://x.org/1</link></item></channel></rss>"""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (BOMB, "unsafe"),
        (XXE, "unsafe"),
        (b"<rss><channel><item><title>cut off", "malformed"),
        (b"\xff\xfe\x00\x00 not a feed at all \x81", "malformed"),
        (b"<html><body><p>Just a web page</p></body></html>", "not_a_feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "not_a_feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "malformed"),
        (b'{"version": "1", "items": []}', "not_a_feed"),
    ],
)
def test_unreadable_documents_raise_a_feed_error_with_a_bounded_reason(data: bytes, reason: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(data, source="f", url="https://ex.org/feed")
    assert caught.value.reason == reason
    assert caught.value.message
