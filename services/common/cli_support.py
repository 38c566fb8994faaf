"""Helpers shared by the per-service command modules."""

from __future__ import annotations

import os
from typing import NoReturn

import typer

from services.common.logs import configure_logging


def setup_logging(level: str) -> None:
    """JSON logs on stderr; ``BW_LOG_FORMAT=console`` for readable lines while developing."""
    configure_logging(level, os.environ.get("BW_LOG_FORMAT", "json"))


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
    )
