"""Score the classifier against a labelled JSONL set (one item per line).

Usage: python scripts/eval_dev.py [DATASET] [--errors]

``evaluate(tagger, items)`` is importable: it returns per-label precision/recall/F1, exact-match
rates for killed and injured (over items whose gold value is not null), crossing-state accuracy
(per gold crossing), region accuracy and a list of errors.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from schemas.common import Label  # noqa: E402
from schemas.raw_items import RawItemV1  # noqa: E402
from schemas.tagged_events import TaggedEventV1  # noqa: E402
from services.classifier.tagger import Tagger, load_tagger  # noqa: E402

DEFAULT_DATASET = Path("/work/shared/eval/dev.jsonl")
_QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")


def to_raw_item(row: Mapping[str, Any]) -> RawItemV1:
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


def crossing_key(name: str) -> str:
    """Compare crossing names case-insensitively, ignoring a trailing parenthetical qualifier."""
    return _QUALIFIER.sub("", name).strip().casefold()


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def evaluate(tagger: Tagger, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    rows = list(items)
    counts = {lab.value: [0, 0, 0] for lab in Label}
    fig_total = {"killed": 0, "injured": 0}
    fig_ok = {"killed": 0, "injured": 0}
    cross_total = cross_ok = region_ok = 0
    errors: list[dict[str, Any]] = []
    now = datetime(2025, 12, 1, tzinfo=UTC)
    for row in rows:
        event: TaggedEventV1 = tagger.tag(to_raw_item(row), now)
        gold = set(row.get("labels") or [])
        pred = {lab.value for lab in event.labels}
        for lab, c in counts.items():
            c[0] += lab in gold and lab in pred
            c[1] += lab in pred and lab not in gold
            c[2] += lab in gold and lab not in pred
        if gold != pred:
            errors.append({"id": row["id"], "kind": "labels", "gold": sorted(gold), "pred": sorted(pred)})
        for name in ("killed", "injured"):
            gv = row.get(name)
            if gv is None:
                continue
            pv = getattr(event.figures, name)
            fig_total[name] += 1
            if pv == gv:
                fig_ok[name] += 1
            else:
                errors.append({"id": row["id"], "kind": name, "gold": gv, "pred": pv})
        pred_cross = {crossing_key(c.name): c.state.value for c in event.crossings}
        for gc in row.get("crossings") or []:
            cross_total += 1
            got = pred_cross.get(crossing_key(gc["name"]))
            if got == gc["state"]:
                cross_ok += 1
            else:
                errors.append(
                    {
                        "id": row["id"],
                        "kind": "crossing",
                        "gold": f"{gc['name']}={gc['state']}",
                        "pred": sorted(f"{c.name}={c.state.value}" for c in event.crossings),
                    }
                )
        if event.region.value == row.get("region"):
            region_ok += 1
        else:
            errors.append(
                {"id": row["id"], "kind": "region", "gold": row.get("region"), "pred": event.region.value}
            )
    return {
        "items": len(rows),
        "labels": {lab: _prf(*c) for lab, c in counts.items()},
        "killed_exact": round(fig_ok["killed"] / fig_total["killed"], 4) if fig_total["killed"] else None,
        "injured_exact": round(fig_ok["injured"] / fig_total["injured"], 4) if fig_total["injured"] else None,
        "figure_counts": fig_total,
        "crossing_state_accuracy": round(cross_ok / cross_total, 4) if cross_total else None,
        "crossing_count": cross_total,
        "region_accuracy": round(region_ok / len(rows), 4) if rows else None,
        "errors": errors,
    }


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    path = Path(args[0]) if args else DEFAULT_DATASET
    tagger = load_tagger(ROOT / "config" / "taxonomy.yaml", ROOT / "config" / "gazetteer")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = evaluate(tagger, rows)
    errors = report.pop("errors")
    print(json.dumps(report, indent=2))
    if "--errors" in argv:
        for err in errors:
            print(json.dumps(err, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
