"""``borderwatch classifier`` and the other classifier commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.common.cli_support import fail, setup_logging
from services.common.yaml_config import ConfigError


def register(app: typer.Typer) -> None:
    @app.command()
    def classifier() -> None:
        """Run the classifier (a faust worker) until SIGTERM or Ctrl-C."""
        from services.classifier.app import ClassifierSettings, run_classifier

        settings = ClassifierSettings()
        setup_logging(settings.log_level)
        try:
            run_classifier(settings)
        except ConfigError as exc:
            fail(str(exc))

    @app.command("eval")
    def eval_command(
        paths: Annotated[
            list[Path],
            typer.Argument(help="Labelled JSONL files (the format of the dev set), scored together."),
        ],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object of scores.")] = False,
        errors: Annotated[
            bool | None,
            typer.Option(
                "--errors/--no-errors",
                help="List every disagreement (the text form does by default; --json only when asked).",
            ),
        ] = None,
        taxonomy: Annotated[Path, typer.Option(envvar="BW_TAXONOMY_FILE")] = Path("config/taxonomy.yaml"),
        gazetteer: Annotated[Path, typer.Option(envvar="BW_GAZETTEER_PATH")] = Path("config/gazetteer"),
    ) -> None:
        """Score the tagger on labelled files: per-label P/R/F1, figures, crossings, region."""
        import json

        from services.classifier.evaluate import DatasetError, evaluate, load_row_files
        from services.classifier.tagger import load_tagger

        for path in paths:
            if not path.is_file():
                fail(f"labelled file not found: {path}")
        try:
            tagger = load_tagger(taxonomy, gazetteer)
            rows = load_row_files(paths)
        except (ConfigError, DatasetError) as exc:
            fail(str(exc))
        report = evaluate(tagger, rows)
        if as_json:
            out = report.as_dict()
            if errors:
                out["errors"] = [e.describe() for e in report.errors]
            typer.echo(json.dumps(out))
        else:
            typer.echo(report.render(errors=errors is not False))
