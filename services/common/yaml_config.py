"""Loading YAML configuration into pydantic models with errors that name file, line and field.

Configuration is data only: YAML is read with the safe loader (``!!python`` tags are refused),
and every file is validated in full at start-up so that a mistake stops the service with a
message a person can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file is missing, malformed or invalid.

    ``path``, ``line`` and ``field`` locate the (first) problem; the message lists every one.
    """

    def __init__(self, path: str, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.detail = message
        where = path if line is None else f"{path}:{line}"
        what = f" {field}:" if field else ""
        super().__init__(f"{where}:{what} {message}")


def line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the deepest YAML node along ``loc`` that exists."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for key in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next(
                (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)), None
            )
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def compose_yaml(path: Path) -> tuple[yaml.Node | None, object]:
    """Read ``path`` and return its node tree (for line numbers) and its data."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(label, "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(label, f"cannot read file: {exc}") from exc
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            label, f"invalid YAML: {exc.problem or exc}", line=None if mark is None else mark.line + 1
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(label, f"invalid YAML: {exc}") from exc
    except RecursionError:
        raise ConfigError(label, "invalid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise ConfigError(label, f"invalid YAML: {exc}") from None


def load_yaml_model(path: str | Path, model: type[M]) -> M:
    """Load ``path`` as ``model``; raise :class:`ConfigError` on any problem."""
    path = Path(path)
    label = str(path)
    root, data = compose_yaml(path)
    if data is None:
        raise ConfigError(label, "file is empty")
    if not isinstance(data, dict):
        raise ConfigError(label, "top level must be a mapping", line=1)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        located = []
        for err in errors:
            loc = [p for p in err["loc"] if isinstance(p, int | str)]
            located.append((line_of(root, loc), ".".join(str(p) for p in loc) or None, err["msg"]))
        first_line, first_field, first_msg = located[0]
        others = "".join(
            f"\n  {label}:{line}: {field}: {msg}" if line else f"\n  {label}: {field}: {msg}"
            for line, field, msg in located[1:]
        )
        raise ConfigError(label, first_msg + others, line=first_line, field=first_field) from exc
