"""``borderwatch notifier``, ``rules`` and ``alerts`` commands."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from schemas.raw_items import RawItemV1
from schemas.tagged_events import TaggedEventV1
from services.common.cli_support import fail, new_app, setup_logging
from services.common.yaml_config import ConfigError


def register(app: typer.Typer) -> None:
    rules_app = new_app("Alert rules.")
    alerts_app = new_app("Alerts on the alerts topic.")
    app.add_typer(rules_app, name="rules")
    app.add_typer(alerts_app, name="alerts")
    from services.notifier.silence_cli import register_silences

    register_silences(app)

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

    @rules_app.command("test")
    def rules_test(
        rules_file: Annotated[Path, typer.Option("--rules", help="The rules file to try.")],
        events_file: Annotated[
            Path, typer.Option("--events", help="JSON lines: tagged events, or raw items to tag first.")
        ],
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per alert.")] = False,
    ) -> None:
        """Run rules over events in event-time order (no Kafka, Redis or delivery); print the alerts."""
        import json
        from datetime import UTC, datetime

        from services.classifier.tagger import load_tagger
        from services.notifier.dry_run import EventsFileError, alert_line, alert_text, dry_run, read_events
        from services.notifier.rules import load_rules

        try:
            rules = load_rules(rules_file)
            now = datetime.now(UTC)
            tagger = None

            def tag(item: RawItemV1) -> TaggedEventV1:
                nonlocal tagger
                if tagger is None:  # only raw items need the taxonomy and gazetteer
                    tagger = load_tagger(Path("config/taxonomy.yaml"), Path("config/gazetteer"))
                return tagger.tag(item, now)

            events = list(read_events(events_file, tag, now))
        except (ConfigError, EventsFileError, FileNotFoundError) as exc:
            fail(str(exc))
        for alert in asyncio.run(dry_run(rules, events)):
            typer.echo(json.dumps(alert_line(alert), ensure_ascii=False) if as_json else alert_text(alert))

    @alerts_app.command("watch")
    def alerts_watch(
        from_beginning: Annotated[bool, typer.Option(help="Show alerts already on the topic.")] = False,
        idle_exit: Annotated[float, typer.Option(help="Exit after this many idle seconds; 0 never.")] = 0,
    ) -> None:
        """Print alerts from the alerts topic as they are published."""
        from services.common.settings import CommonSettings
        from services.demo import watch_alerts

        watch_alerts(CommonSettings(), from_beginning=from_beginning, idle_exit_s=idle_exit)
