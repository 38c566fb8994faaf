"""Scoring the tagger against a labelled JSONL file.

The file holds one object per line with ``id``, ``title``, ``body``, ``published_at`` and the gold
``labels``, ``killed``, ``injured``, ``crossings`` (``{"name", "state"}``) and ``region``. The
report gives, per label, precision, recall and F1 with their counts; the exact-match accuracy of
``killed`` and ``injured`` over items whose gold value is not null; crossing-state accuracy (per
gold crossing: the tagger must name it with the same state); region accuracy; and the errors.

Free of Kafka, Redis and HTTP: the ``borderwatch eval`` command reads the file and prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from schemas.common import Label
from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1

_QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")
FIGURES = ("killed", "injured")


class DatasetError(ValueError):
    """A line of the labelled file is not usable; the message names the line."""


class ItemTagger(Protocol):
    def tag(self, item: RawItemV1, now: datetime) -> TaggedEventV1: ...


@dataclass(frozen=True, slots=True)
class EvalError:
    """One disagreement between the tagger and the gold labels."""

    item_id: str
    kind: str
    gold: Any
    pred: Any

    def describe(self) -> str:
        return f"{self.item_id}: {self.kind}: expected {_show(self.gold)}, got {_show(self.pred)}"


@dataclass(slots=True)
class LabelScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def _ratio(ok: int, total: int) -> float | None:
    return round(ok / total, 4) if total else None


@dataclass(slots=True)
class EvalReport:
    items: int = 0
    labels: dict[str, LabelScore] = field(default_factory=lambda: {lab.value: LabelScore() for lab in Label})
    figure_ok: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))
    figure_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))
    crossing_ok: int = 0
    crossing_total: int = 0
    region_ok: int = 0
    errors: list[EvalError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report in the documented JSON shape (accuracies are null when nothing was scored)."""
        return {
            "items": self.items,
            "labels": {name: score.as_dict() for name, score in self.labels.items()},
            "killed_exact": _ratio(self.figure_ok["killed"], self.figure_total["killed"]),
            "injured_exact": _ratio(self.figure_ok["injured"], self.figure_total["injured"]),
            "crossing_state_accuracy": _ratio(self.crossing_ok, self.crossing_total),
            "region_accuracy": _ratio(self.region_ok, self.items),
        }

    def render(self, *, errors: bool = True) -> str:
        """A human-readable summary, followed by the list of errors when asked."""
        lines = [f"items: {self.items}", "", "label                precision  recall     f1   tp   fp   fn"]
        for name, s in self.labels.items():
            lines.append(
                f"{name:<20} {s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f} {s.tp:4d} {s.fp:4d} {s.fn:4d}"
            )
        lines.append("")
        for name in FIGURES:
            lines.append(
                f"{name + ' exact':<24}{_fmt(_ratio(self.figure_ok[name], self.figure_total[name]))}"
                f"  ({self.figure_ok[name]}/{self.figure_total[name]})"
            )
        lines.append(
            f"{'crossing state':<24}{_fmt(_ratio(self.crossing_ok, self.crossing_total))}"
            f"  ({self.crossing_ok}/{self.crossing_total})"
        )
        lines.append(
            f"{'region':<24}{_fmt(_ratio(self.region_ok, self.items))}  ({self.region_ok}/{self.items})"
        )
        if errors:
            lines += ["", f"errors: {len(self.errors)}"]
            lines += [f"  {e.describe()}" for e in self.errors]
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "null" if value is None else str(value)


def crossing_key(name: str) -> str:
    """Compare crossing names case-insensitively, ignoring a trailing parenthetical qualifier and
    the kind of dash (an en or em dash is read as a hyphen)."""
    return _QUALIFIER.sub("", name).strip().casefold().replace("\u2013", "-").replace("\u2014", "-")


def to_raw_item(row: Mapping[str, Any]) -> RawItemV1:
    """The news item of a labelled row (the gold fields are ignored)."""
    published = datetime.fromisoformat(str(row["published_at"]).replace("Z", "+00:00"))
    return RawItemV1(
        id=str(row["id"]),
        source=str(row.get("source") or "eval"),
        title=str(row.get("title") or ""),
        body=str(row.get("body") or ""),
        published_at=published,
        ingested_at=published,
        origin="replay",
    )


def score_item(report: EvalReport, row: Mapping[str, Any], event: TaggedEventV1) -> None:
    """Add one item's comparison to ``report``."""
    item_id = str(row["id"])
    report.items += 1
    gold = set(row.get("labels") or [])
    pred = {lab.value for lab in event.labels}
    for name, score in report.labels.items():
        score.tp += name in gold and name in pred
        score.fp += name in pred and name not in gold
        score.fn += name in gold and name not in pred
    if gold != pred:
        report.errors.append(EvalError(item_id, "labels", sorted(gold), sorted(pred)))
    for name in FIGURES:
        expected = row.get(name)
        if expected is None:
            continue
        got = getattr(event.figures, name)
        report.figure_total[name] += 1
        if got == expected:
            report.figure_ok[name] += 1
        else:
            report.errors.append(EvalError(item_id, name, expected, got))
    predicted = {crossing_key(c.name): c.state.value for c in event.crossings}
    for crossing in row.get("crossings") or []:
        report.crossing_total += 1
        if predicted.get(crossing_key(crossing["name"])) == crossing["state"]:
            report.crossing_ok += 1
        else:
            shown = sorted(f"{c.name}={c.state.value}" for c in event.crossings)
            report.errors.append(
                EvalError(item_id, "crossing", f"{crossing['name']}={crossing['state']}", shown)
            )
    if event.region.value == row.get("region"):
        report.region_ok += 1
    else:
        report.errors.append(EvalError(item_id, "region", row.get("region"), event.region.value))


def evaluate(
    tagger: ItemTagger, rows: Iterable[Mapping[str, Any]], now: datetime | None = None
) -> EvalReport:
    """Tag every row and score it against its gold fields."""
    when = now or datetime(2026, 1, 1, tzinfo=UTC)
    report = EvalReport()
    for row in rows:
        score_item(report, row, tagger.tag(to_raw_item(row), when))
    return report


_REQUIRED = ("id", "title", "published_at", "labels", "region")


def parse_rows(text: str, source: str = "<input>") -> list[dict[str, Any]]:
    """Rows of a labelled JSONL text; raises :class:`DatasetError` naming the bad line."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{source}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{source}:{number}: expected a JSON object")
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise DatasetError(f"{source}:{number}: missing field(s) {', '.join(missing)}")
        try:
            to_raw_item(row)
        except ValueError as exc:
            raise DatasetError(f"{source}:{number}: unusable item ({exc.__class__.__name__})") from None
        rows.append(row)
    return rows


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read and parse a labelled JSONL file (raises OSError or :class:`DatasetError`)."""
    p = Path(path)
    return parse_rows(p.read_text(encoding="utf-8"), str(p))


def load_row_files(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The rows of several labelled files, in order; an id used by two files is an error."""
    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in paths:
        for row in load_rows(path):
            item_id = str(row["id"])
            if item_id in seen:
                raise DatasetError(f"{path}: id {item_id!r} is also in {seen[item_id]}")
            seen[item_id] = str(path)
            rows.append(row)
    return rows
