"""The ``borderwatch`` command: each service registers its own subcommands."""

from __future__ import annotations

from typing import Annotated

import typer

from services.classifier import cli as classifier_cli
from services.common.cli_support import new_app
from services.ingest import cli as ingest_cli
from services.notifier import cli as notifier_cli

app = new_app("borderwatch: alerts on conflict news.")
topics_app = new_app("Kafka topics of the contract.")
app.add_typer(topics_app, name="topics")
ingest_cli.register(app)
classifier_cli.register(app)
notifier_cli.register(app)


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic of the contract that does not exist yet."""
    from services.common.kafka_admin import ensure_topics
    from services.common.settings import CommonSettings

    created = ensure_topics(CommonSettings())
    typer.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


@app.command()
def demo(
    path: Annotated[str, typer.Argument(help="JSONL file of items to replay")] = "samples/items.jsonl",
    timeout: Annotated[
        float, typer.Option(help="Give up waiting for the pipeline after this long (s).")
    ] = 180,
) -> None:
    """Replay a file through the running stack and show each alert as it is delivered."""
    from services.common.cli_support import setup_logging
    from services.demo import run_demo
    from services.ingest.app import IngestSettings

    setup_logging("WARNING")
    raise typer.Exit(code=run_demo(IngestSettings(), path, timeout_s=timeout))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
