"""``borderwatch notifier``, ``rules`` and ``alerts`` commands."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from services.common.cli_support import fail, new_app, setup_logging
from services.common.yaml_config import ConfigError


def register(app: typer.Typer) -> None:
    rules_app = new_app("Alert rules.")
    alerts_app = new_app("Alerts on the alerts topic.")
    app.add_typer(rules_app, name="rules")
    app.add_typer(alerts_app, name="alerts")

    @app.command()
    def notifier() -> None:
        """Run the notifier until SIGTERM or Ctrl-C."""
        from services.notifier.app import NotifierSettings, run_notifier

        settings = NotifierSettings()
        setup_logging(settings.log_level)
        try:
            asyncio.run(run_notifier(settings))
        except ConfigError as exc:
            fail(str(exc))

    @rules_app.command("check")
    def rules_check(path: Path) -> None:
        """Validate a rules file; exit 2 with file, line and field on the first problem."""
        from services.notifier.rules import load_rules

        try:
            rules = load_rules(path)
        except ConfigError as exc:
            fail(str(exc))
        typer.echo(f"{path}: {len(rules.rules)} rule(s) OK")

    @alerts_app.command("watch")
    def alerts_watch(
        from_beginning: Annotated[bool, typer.Option(help="Show alerts already on the topic.")] = False,
        idle_exit: Annotated[float, typer.Option(help="Exit after this many idle seconds; 0 never.")] = 0,
    ) -> None:
        """Print alerts from the alerts topic as they are published."""
        from services.common.settings import CommonSettings
        from services.demo import watch_alerts

        watch_alerts(CommonSettings(), from_beginning=from_beginning, idle_exit_s=idle_exit)
