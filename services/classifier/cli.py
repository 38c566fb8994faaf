"""``borderwatch classifier`` and the other classifier commands."""

from __future__ import annotations

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
