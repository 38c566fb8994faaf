"""Plots of the benchmark figures: the latency distribution per pipeline stage.

``bench/bench_pipeline.py`` writes its per-item stage latencies to
``var/bench/pipeline_latencies.json``; :func:`draw_latencies` turns them into
``var/bench/latency.png`` (one panel per offered rate, an empirical CDF per stage on a log
time axis, each stage labelled by its boundaries, e.g. ``ingested→tagged``, with the 250 ms goal
marked).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"
GOAL_S = 0.25
FLOOR_S = 1e-4  # log axis: clock noise can make a stage look 0 or slightly negative


def draw_latencies(out_dir: Path = OUT) -> Path | None:
    """Draw ``latency.png`` from ``pipeline_latencies.json`` in ``out_dir``; None without data."""
    source = out_dir / "pipeline_latencies.json"
    if not source.exists():
        return None
    data = json.loads(source.read_text())
    phases = [p for p in data["phases"] if any(p["stages"].values())]
    if not phases:
        return None
    fig, axes = plt.subplots(1, len(phases), figsize=(5 * len(phases), 4.2), sharey=True, squeeze=False)
    # Files written before stages carried their boundaries name the stage by where it ends.
    boundaries: dict[str, str] = data.get("stage_boundaries", {})
    for ax, phase in zip(axes[0], phases, strict=True):
        end_to_end = [sum(parts) for parts in zip(*(phase["stages"][s] for s in data["stages"]), strict=True)]
        series = [
            *((boundaries.get(s, s), phase["stages"][s]) for s in data["stages"]),
            ("end to end", end_to_end),
        ]
        for name, values in series:
            if not values:
                continue
            xs = sorted(max(FLOOR_S, v) for v in values)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.step(xs, ys, where="post", label=f"{name} (p99 {xs[int(0.99 * (len(xs) - 1))] * 1000:.0f} ms)")
        ax.axvline(GOAL_S, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("seconds")
        ax.set_title(f"{phase['rate']} items/s for {phase['duration_s']:.0f} s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("fraction of items")
    through = data.get("offered_through")
    fig.suptitle(
        "borderwatch: latency per stage (published → ingested → tagged → alerted → delivered)"
        + (f", offered through the {through}" if through else "")
    )
    fig.tight_layout()
    path = out_dir / "latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    path = draw_latencies(out)
    print(f"wrote {path}" if path else f"no latency samples in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
