"""The ``borderwatch`` command: one subcommand per service, plus tools for operators."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from services.common.yaml_config import ConfigError

app = typer.Typer(
    help="borderwatch: alerts on conflict news.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Kafka topics of the contract.", no_args_is_help=True)
rules_app = typer.Typer(help="Alert rules.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts on the alerts topic.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(rules_app, name="rules")
app.add_typer(alerts_app, name="alerts")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Client libraries are chatty at INFO about every connection; keep their warnings.
    for noisy in ("kafka", "aiokafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def replay(path: Annotated[str, typer.Argument(help="JSONL file (.gz allowed), or - for stdin")]) -> None:
    """Replay news items from a JSONL file into the raw-items topic."""
    from services.ingest.app import IngestSettings
    from services.ingest.app import replay as run_replay

    settings = IngestSettings()
    _setup_logging(settings.log_level)
    if path != "-" and not Path(path).is_file():
        _fail(f"{path}: no such file")
    summary = run_replay(settings, path)
    typer.echo(summary.render())


@app.command()
def classifier() -> None:
    """Run the classifier (a faust worker) until SIGTERM or Ctrl-C."""
    from services.classifier.app import ClassifierSettings, run_classifier

    settings = ClassifierSettings()
    _setup_logging(settings.log_level)
    try:
        run_classifier(settings)
    except ConfigError as exc:
        _fail(str(exc))


@app.command()
def notifier() -> None:
    """Run the notifier until SIGTERM or Ctrl-C."""
    from services.notifier.app import NotifierSettings, run_notifier

    settings = NotifierSettings()
    _setup_logging(settings.log_level)
    try:
        asyncio.run(run_notifier(settings))
    except ConfigError as exc:
        _fail(str(exc))


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic of the contract that does not exist yet."""
    from services.common.kafka_admin import ensure_topics
    from services.common.settings import CommonSettings

    created = ensure_topics(CommonSettings())
    typer.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


@rules_app.command("check")
def rules_check(path: Path) -> None:
    """Validate a rules file; exit 2 with file, line and field on the first problem."""
    from services.notifier.rules import load_rules

    try:
        rules = load_rules(path)
    except ConfigError as exc:
        _fail(str(exc))
    typer.echo(f"{path}: {len(rules.rules)} rule(s) OK")


@alerts_app.command("watch")
def alerts_watch(
    from_beginning: Annotated[bool, typer.Option(help="Show alerts already on the topic.")] = False,
    idle_exit: Annotated[
        float, typer.Option(help="Exit after this many seconds without an alert; 0 never.")
    ] = 0,
) -> None:
    """Print alerts from the alerts topic as they are published."""
    from services.common.settings import CommonSettings
    from services.demo import watch_alerts

    settings = CommonSettings()
    watch_alerts(settings, from_beginning=from_beginning, idle_exit_s=idle_exit)


@app.command()
def demo(
    path: Annotated[str, typer.Argument(help="JSONL file of items to replay")] = "samples/items.jsonl",
    timeout: Annotated[
        float, typer.Option(help="Give up waiting for the pipeline after this long (s).")
    ] = 180,
) -> None:
    """Replay a file through the running stack and show each alert as it is delivered."""
    from services.demo import run_demo
    from services.ingest.app import IngestSettings

    settings = IngestSettings()
    _setup_logging("WARNING")
    raise typer.Exit(code=run_demo(settings, path, timeout_s=timeout))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
