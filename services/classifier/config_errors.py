"""Errors raised while loading classifier configuration files."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration file is missing, malformed or fails validation.

    The message names the file, the line when it is known, and the offending field, so an
    operator can fix the file without reading code.
    """

    def __init__(self, path: str, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.detail = message
        where = path if line is None else f"{path}:{line}"
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")
