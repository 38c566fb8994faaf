"""Configuration loaders over arbitrary YAML: a file loads or raises ``ConfigError``, nothing else.

Covers the rules, subscribers, feeds, taxonomy and gazetteer loaders with random text, random
YAML documents, and the shipped files with one value replaced by a hostile one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.classifier.taxonomy import load_gazetteer, load_taxonomy
from services.common.yaml_config import ConfigError
from services.ingest.feeds_config import load_feeds
from services.notifier.rules import load_rules
from services.notifier.subscribers import load_subscribers
from tests.fuzz.cases import ran
from tests.fuzz.hostile import hostile_json, leaf_paths, replaced

CONFIG = Path(__file__).resolve().parents[2] / "config"
LOADERS: dict[str, tuple[Callable[[Path], object], Path]] = {
    "rules": (load_rules, CONFIG / "rules.yaml"),
    "subscribers": (load_subscribers, CONFIG / "subscribers.yaml"),
    "feeds": (load_feeds, CONFIG / "feeds.yaml"),
    "taxonomy": (load_taxonomy, CONFIG / "taxonomy.yaml"),
    "gazetteer": (load_gazetteer, CONFIG / "gazetteer" / "af-pak.yaml"),
}
SHIPPED = {name: yaml.safe_load(path.read_text()) for name, (_, path) in LOADERS.items()}
PATHS = {name: leaf_paths(document) for name, document in SHIPPED.items()}


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bw-fuzz-config-") as name:
        yield Path(name)


def _loads_or_config_error(name: str, text: bytes, workdir: Path) -> None:
    loader, _ = LOADERS[name]
    path = workdir / f"{name}.yaml"
    path.write_bytes(text)
    try:
        loader(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)), str(exc)[:200]


def _dump(document: Any) -> bytes:
    try:
        return yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass")
    except yaml.YAMLError:  # a lone surrogate: write it as raw bytes instead
        return repr(document).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("name", list(LOADERS))
def test_the_shipped_files_load(name: str) -> None:
    loader, path = LOADERS[name]
    loader(path)


@pytest.mark.parametrize("name", list(LOADERS))
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_text_loads_or_raises_config_error(name: str, text: str, workdir: Path) -> None:
    ran("config: arbitrary text")
    _loads_or_config_error(name, text.encode("utf-8", "surrogatepass"), workdir)


@pytest.mark.parametrize("name", list(LOADERS))
@given(document=hostile_json)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_yaml_documents_raise_config_error(name: str, document: Any, workdir: Path) -> None:
    ran("config: arbitrary YAML documents")
    _loads_or_config_error(name, _dump(document), workdir)


def _one_hostile_value(name: str, data: st.DataObject, workdir: Path) -> None:
    path = data.draw(st.sampled_from(PATHS[name]))
    value = data.draw(hostile_json)
    ran("config: shipped files with a hostile value")
    _loads_or_config_error(name, _dump(replaced(SHIPPED[name], path, value)), workdir)


@pytest.mark.parametrize("name", ["rules", "subscribers", "feeds"])
@given(data=st.data())
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_small_shipped_files_with_one_hostile_value_load_or_raise_config_error(
    name: str, data: st.DataObject, workdir: Path
) -> None:
    _one_hostile_value(name, data, workdir)


# The taxonomy and gazetteer are large: each example parses ~17 kB of YAML twice.
@pytest.mark.parametrize("name", ["taxonomy", "gazetteer"])
@given(data=st.data())
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_large_shipped_files_with_one_hostile_value_load_or_raise_config_error(
    name: str, data: st.DataObject, workdir: Path
) -> None:
    _one_hostile_value(name, data, workdir)


YAML_BOMBS = {
    "deep flow sequence": "[" * 5000 + "]" * 5000,
    "deep block mapping": "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "  " * 2000 + "v\n",
    "huge integer": "version: " + "9" * 5000 + "\n",
    "python tag": "version: !!python/object/apply:os.system ['true']\n",
    "alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "version: 1\n"
    ),
    "NUL": "version: 1\x00\n",
    "tab indentation": "version: 1\n\tfeeds: []\n",
    "duplicate anchors": "a: &x 1\nb: &x 2\nversion: *x\n",
}


@pytest.mark.parametrize("name", list(LOADERS))
@pytest.mark.parametrize("bomb", list(YAML_BOMBS))
def test_yaml_bombs_and_tags_raise_config_error(name: str, bomb: str, workdir: Path) -> None:
    ran("config: YAML bombs and tags")
    loader, _ = LOADERS[name]
    path = workdir / f"{name}-bomb.yaml"
    path.write_text(YAML_BOMBS[bomb])
    with pytest.raises(ConfigError):
        loader(path)


def test_invalid_utf8_is_a_config_error(workdir: Path) -> None:
    ran("config: YAML bombs and tags")
    path = workdir / "bad.yaml"
    path.write_bytes(b"version: 1\nrules: [\xff\xfe]\n")
    with pytest.raises(ConfigError, match="cannot read file"):
        load_rules(path)
