"""``borderwatch replay`` and the other ingest commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.common.cli_support import fail, setup_logging


def register(app: typer.Typer) -> None:
    @app.command()
    def replay(path: Annotated[str, typer.Argument(help="JSONL file (.gz allowed), or - for stdin")]) -> None:
        """Replay news items from a JSONL file into the raw-items topic."""
        from services.ingest.app import IngestSettings
        from services.ingest.app import replay as run_replay

        settings = IngestSettings()
        setup_logging(settings.log_level)
        if path != "-" and not Path(path).is_file():
            fail(f"{path}: no such file")
        summary = run_replay(settings, path)
        typer.echo(summary.render())
