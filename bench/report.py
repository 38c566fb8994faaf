"""The benchmark report format (``var/bench/report.json``) and how results are made.

Each machine-dependent figure is paired with a baseline measured in the same run, and the
ratio is what is compared with the goal: these machines are noisy, ratios are not.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchResult:
    name: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    goal: str | None = None
    met: bool | None = None

    @staticmethod
    def against(
        name: str,
        value: float,
        unit: str,
        *,
        baseline: str,
        baseline_value: float,
        goal_ratio: float | None = None,
        higher_is_better: bool = True,
    ) -> BenchResult:
        """A figure with its same-run baseline; ``goal_ratio`` is the minimum (or maximum) ratio."""
        ratio = value / baseline_value if baseline_value else None
        met = None
        goal = None
        if goal_ratio is not None and ratio is not None:
            met = ratio >= goal_ratio if higher_is_better else ratio <= goal_ratio
            goal = f"ratio {'>=' if higher_is_better else '<='} {goal_ratio:g}"
        return BenchResult(name, value, unit, baseline, baseline_value, ratio, goal, met)

    @staticmethod
    def absolute(
        name: str, value: float, unit: str, *, goal: str | None = None, met: bool | None = None
    ) -> BenchResult:
        return BenchResult(name, value, unit, goal=goal, met=met)


def machine() -> dict[str, object]:
    """What the figures were measured on: the interpreter (and how it was built) and the CPUs."""
    return {
        "python": sys.version.split()[0],
        "python_executable": getattr(sys, "_base_executable", sys.executable),
        "python_build": platform.python_build()[0],
        "python_config": sysconfig.get_config_var("CONFIG_ARGS") or "",
        "cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
    }


def write_report(results: list[BenchResult], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    about = machine()
    path.write_text(json.dumps({"machine": about, "results": [asdict(r) for r in results]}, indent=2) + "\n")
    lines = [
        f"Python {about['python']} ({about['python_executable']}), {about['cpus']} CPUs, {about['platform']}",
        "",
        "| name | value | unit | baseline | baseline value | ratio | goal | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = [
            r.name,
            f"{r.value:.4g}",
            r.unit,
            r.baseline or "",
            f"{r.baseline_value:.4g}" if r.baseline_value is not None else "",
            f"{r.ratio:.3f}" if r.ratio is not None else "",
            r.goal or "",
            "" if r.met is None else ("yes" if r.met else "NO"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
    return path
