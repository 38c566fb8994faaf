"""``borderwatch replay``, ``borderwatch ingest`` and ``borderwatch feeds ...``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from services.common.cli_support import fail, new_app, setup_logging

if TYPE_CHECKING:
    from services.ingest.app import ReplaySummary
    from services.ingest.settings import IngestSettings

# Files larger than this get a progress bar (on standard error, when it is a terminal).
PROGRESS_MIN_BYTES = 1024 * 1024


def register(app: typer.Typer) -> None:
    feeds_app = new_app("Feeds polled by the ingest service.")
    app.add_typer(feeds_app, name="feeds")

    @app.command()
    def replay(
        path: Annotated[str, typer.Argument(help="JSONL file (.gz allowed), or - for stdin")],
        rate: Annotated[
            float | None, typer.Option(help="Items per second (default: as fast as possible).")
        ] = None,
        speedup: Annotated[
            float | None, typer.Option(help="Keep the gaps between published times, compressed X times.")
        ] = None,
        progress: Annotated[bool | None, typer.Option(help="Progress bar (default: on long files).")] = None,
    ) -> None:
        """Replay news items from a JSONL file into the raw-items topic (items seen before are skipped)."""
        from services.ingest.app import IngestSettings
        from services.ingest.app import replay as run_replay
        from services.ingest.publisher import PublishUnavailable

        settings = IngestSettings()
        setup_logging(settings.log_level)
        if path != "-" and not Path(path).is_file():
            fail(f"{path}: no such file")
        if rate is not None and speedup is not None:
            fail("give either --rate or --speedup, not both")
        if (rate is not None and rate <= 0) or (speedup is not None and speedup <= 0):
            fail("--rate and --speedup must be positive")
        size = None if path == "-" else Path(path).stat().st_size
        show = progress if progress is not None else (size is not None and size >= PROGRESS_MIN_BYTES)
        try:
            if show and size:
                summary = _replay_with_progress(settings, path, size, rate, speedup)
            else:
                summary = run_replay(settings, path, rate=rate, speedup=speedup)
        except PublishUnavailable as exc:
            fail(f"broker unavailable, replay stopped: {exc} (re-run: items already taken are skipped)", 1)
        typer.echo(summary.render())

    @app.command()
    def ingest() -> None:
        """Run the ingest service: poll the configured feeds and serve the push API."""
        from services.common.yaml_config import ConfigError
        from services.ingest.app import IngestSettings, run_service

        settings = IngestSettings()
        setup_logging(settings.log_level)
        try:
            run_service(settings)
        except ConfigError as exc:
            fail(str(exc))

    @feeds_app.command("check")
    def feeds_check(
        path: Annotated[Path, typer.Argument(help="Feeds file")] = Path("config/feeds.yaml"),
    ) -> None:
        """Validate a feeds file."""
        from services.common.yaml_config import ConfigError
        from services.ingest.feeds_config import load_feeds

        try:
            feeds = load_feeds(path)
        except ConfigError as exc:
            fail(str(exc))
        typer.echo(f"{path}: {len(feeds.feeds)} feed(s), {len(feeds.enabled)} enabled")

    @feeds_app.command("status")
    def feeds_status() -> None:
        """Health of each configured feed: last success, last error, items seen, next poll."""
        from services.common.yaml_config import ConfigError
        from services.ingest.app import IngestSettings

        settings = IngestSettings()
        setup_logging("WARNING")
        try:
            rows = asyncio.run(_feed_rows(settings))
        except ConfigError as exc:
            fail(str(exc))
        if not rows:
            typer.echo(f"no feeds configured in {settings.ingest_feeds_file}")
            return
        for line in _table(rows):
            typer.echo(line)


async def _feed_rows(settings: IngestSettings) -> list[list[str]]:
    from services.ingest.app import create_redis
    from services.ingest.feeds_config import load_feeds
    from services.ingest.stores import FeedStateStore

    feeds = load_feeds(settings.ingest_feeds_file)
    redis = create_redis(settings)
    try:
        store = FeedStateStore(redis, settings.topic_namespace)
        rows = [
            ["feed", "enabled", "last success", "last error", "error", "seen", "new", "failures", "next poll"]
        ]
        for feed in feeds.feeds:
            s = await store.get(feed.id)
            rows.append(
                [
                    feed.id,
                    "yes" if feed.enabled else "no",
                    s.last_success_at or "-",
                    s.last_error_at or "-",
                    (s.last_error or "-")[:60],
                    str(s.items_seen),
                    str(s.items_new),
                    str(s.consecutive_failures),
                    s.next_poll_at or "-",
                ]
            )
        return rows if len(rows) > 1 else []
    finally:
        await redis.aclose()


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _replay_with_progress(
    settings: IngestSettings, path: str, size: int, rate: float | None, speedup: float | None
) -> ReplaySummary:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from services.ingest.app import replay as run_replay

    if path.endswith(".gz"):
        size = 0  # uncompressed size unknown: the bar shows bytes read without a total
    console = Console(stderr=True, force_terminal=None if os.environ.get("TERM") else False)
    with Progress(
        TextColumn("replay"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("replay", total=size or None)
        return run_replay(
            settings, path, rate=rate, speedup=speedup, progress=lambda n: bar.update(task, completed=n)
        )
