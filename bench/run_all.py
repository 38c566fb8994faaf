"""``make bench``: run every benchmark of the project in one go and write the report.

Starts (or reuses) the local broker and Redis, runs each ``bench/bench_*.py`` module's
``run(bootstrap, redis_url, budget_s)`` within a share of the overall budget, and writes
``var/bench/report.json``, ``var/bench/report.md`` and the latency plots next to them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.report import BenchResult, write_report

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"


def _start(script: str) -> bool:
    """Start a local service with its script; True when this run started it (and must stop it)."""
    result = subprocess.run(
        [str(ROOT / "scripts" / script), "start"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{script} start failed:\n{result.stdout}\n{result.stderr}")
    return "reusing" not in result.stdout


def modules(only: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules([str(ROOT / "bench")]) if m.name.startswith("bench_"))
    return [n for n in names if not only or n.removeprefix("bench_") in only]


def _weight(name: str) -> float:
    try:
        return float(getattr(importlib.import_module(f"bench.{name}"), "BUDGET_WEIGHT", 1.0))
    except Exception:
        return 1.0  # reported when the module is run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=520.0, help="seconds for all benchmarks together")
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names, e.g. tagger ingest")
    args = parser.parse_args()
    started = [s for s in ("kafka.sh", "redis.sh") if _start(s)]
    bootstrap, redis_url = "127.0.0.1:9092", "redis://127.0.0.1:6379/0"
    names = modules(args.only)
    results: list[BenchResult] = []
    failed: list[str] = []
    deadline = time.monotonic() + args.budget
    try:
        # A module may ask for a larger share of the budget with BUDGET_WEIGHT (default 1).
        weights = {name: _weight(name) for name in names}
        for index, name in enumerate(names):
            remaining = sum(weights[n] for n in names[index:])
            share = max(10.0, (deadline - time.monotonic()) * weights[name] / remaining)
            print(f"== {name} (budget {share:.0f}s)", flush=True)
            began = time.monotonic()
            try:
                module = importlib.import_module(f"bench.{name}")
                got = module.run(bootstrap, redis_url, share)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
            for result in got:
                print(
                    f"   {result.name}: {result.value:.4g} {result.unit}"
                    + (
                        f" (ratio {result.ratio:.3f} vs {result.baseline})"
                        if result.ratio is not None
                        else ""
                    )
                    + ("" if result.met is None else f" goal {'met' if result.met else 'NOT met'}"),
                    flush=True,
                )
            results += got
            print(f"   ({time.monotonic() - began:.0f}s)", flush=True)
    finally:
        for script in reversed(started):
            subprocess.run(
                [str(ROOT / "scripts" / script), "stop"], cwd=ROOT, stdin=subprocess.DEVNULL, check=False
            )
    path = write_report(results, OUT)
    print(f"wrote {path} and {OUT / 'report.md'}")
    from bench.plots import draw_latencies

    plot = draw_latencies(OUT)
    if plot is not None:
        print(f"wrote {plot}")
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
