"""Rendering alerts for people: console lines, Slack Block Kit, e-mail text and HTML. Pure.

Slack's limits (https://api.slack.com/reference/block-kit/blocks): at most 50 blocks, header text
150 characters, section text 3000; messages much above ~13k characters are cut by Slack, so we stay
well under. Item text is mrkdwn-escaped (exactly ``&``, ``<``, ``>``), which also defuses
``<!channel>`` and ``<http://x|label>`` injected by a source; links are http(s) only.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from schemas.alerts import AlertV1

SLACK_MAX_BLOCKS = 50
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_TOTAL_MAX = 12_000
_MAX_LINKS = 5


def ingest_to_delivery_seconds(alert: AlertV1, delivered_at: datetime) -> float | None:
    if not alert.events:
        return None
    return (delivered_at - max(e.ingested_at for e in alert.events)).total_seconds()


def render_console_line(alert: AlertV1, delivered_at: datetime) -> str:
    latency = ingest_to_delivery_seconds(alert, delivered_at)
    shown = f"{latency:.3f}s" if latency is not None else "n/a"
    status = "" if alert.status == "firing" else " RESOLVED"
    return (
        f"ALERT [{alert.severity.upper()}]{status} {alert.rule_id} {alert.summary} "
        f"window={alert.window_start:%Y-%m-%d} ingest->delivery={shown}"
    )


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_link(url: str | None) -> str | None:
    """The URL when it is http(s) and cannot break out of Slack's ``<url|label>`` syntax."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if any(c in url for c in "<>| \n\r\t"):
        return None
    return url


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _title(alert: AlertV1) -> str:
    prefix = "RESOLVED: " if alert.status == "resolved" else ""
    return f"{prefix}[{alert.severity.upper()}] {alert.summary}"


def alert_lines(alert: AlertV1) -> list[str]:
    """Plain-text evidence: the supporting sentences and the sources, one per line."""
    lines = [f"rule {alert.rule_id}; {alert.event_count} report(s) from {alert.source_count} source(s)"]
    for event in alert.events[:_MAX_LINKS]:
        lines.append(f"- {event.source}: {event.title}" + (f" <{event.url}>" if event.url else ""))
        lines.extend(f"    \u201c{sentence}\u201d" for sentence in event.evidence[:2])
    return lines


def _alert_section(alert: AlertV1) -> str:
    parts = [f"*{slack_escape(_title(alert))}*"]
    parts.append(
        slack_escape(
            f"rule {alert.rule_id} · {alert.event_count} report(s) from {alert.source_count} source(s)"
        )
    )
    for event in alert.events[:_MAX_LINKS]:
        link = safe_link(event.url)
        title = slack_escape(_cut(event.title, 200))
        source = slack_escape(event.source)
        parts.append(f"• <{link}|{title}> ({source})" if link else f"• {title} ({source})")
        for sentence in event.evidence[:1]:
            parts.append(f">{slack_escape(_cut(sentence, 400))}")
    return _cut("\n".join(parts), SLACK_SECTION_MAX)


def slack_payload(alerts: Sequence[AlertV1]) -> dict[str, Any]:
    """An incoming-webhook body: Block Kit blocks plus the ``text`` fallback, within Slack's limits."""
    header = _title(alerts[0]) if len(alerts) == 1 else f"{len(alerts)} alerts (digest)"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(header, SLACK_HEADER_MAX)}}
    ]
    total = len(header)
    shown = 0
    for alert in alerts:
        section = _alert_section(alert)
        # Keep two blocks in reserve for the divider and the "more" note.
        if len(blocks) + 2 > SLACK_MAX_BLOCKS - 1 or total + len(section) > SLACK_TOTAL_MAX:
            break
        if shown:
            blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": section}})
        total += len(section)
        shown += 1
    if shown < len(alerts):
        more = f"…and {len(alerts) - shown} more alert(s) not shown."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    fallback = slack_escape(_cut(header if len(alerts) > 1 else _title(alerts[0]), SLACK_SECTION_MAX))
    return {"text": fallback, "blocks": blocks}


def email_subject(alerts: Sequence[AlertV1]) -> str:
    if len(alerts) == 1:
        return _cut(" ".join(_title(alerts[0]).split()), 200)
    return f"borderwatch digest: {len(alerts)} alert(s)"


def email_text(alerts: Sequence[AlertV1]) -> str:
    blocks = []
    for alert in alerts:
        blocks.append("\n".join([_title(alert), *alert_lines(alert)]))
    return "\n\n".join(blocks) + "\n"


def email_html(alerts: Sequence[AlertV1]) -> str:
    esc = html.escape
    parts = ["<html><body>"]
    for alert in alerts:
        parts.append(f"<h2>{esc(_title(alert))}</h2>")
        parts.append(
            f"<p>rule {esc(alert.rule_id)}; {alert.event_count} report(s) from "
            f"{alert.source_count} source(s)</p><ul>"
        )
        for event in alert.events[:_MAX_LINKS]:
            link = safe_link(event.url)
            title = esc(event.title)
            item = f'<a href="{esc(link, quote=True)}">{title}</a>' if link else title
            quotes = "".join(f"<blockquote>{esc(s)}</blockquote>" for s in event.evidence[:2])
            parts.append(f"<li>{item} ({esc(event.source)}){quotes}</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
