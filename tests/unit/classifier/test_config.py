"""Configuration loading: validation errors name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.classifier.taxonomy import load_gazetteer, load_taxonomy
from services.common.yaml_config import ConfigError
from tests.unit.classifier.conftest import GAZETTEER, TAXONOMY

MINI_GAZETTEER = """\
theatre: test
region: af-pak
entries:
  - name: Torkham
    kind: crossing
    country: PK
    variants: [Torkham]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads() -> None:
    taxonomy = load_taxonomy(TAXONOMY)
    gazetteer = load_gazetteer(GAZETTEER)
    assert taxonomy.version
    names = {e.name for e in gazetteer.entries}
    assert {"Torkham", "Chaman", "Ghulam Khan", "Angoor Adda", "Kharlachi", "Kabul", "Kurram"} <= names
    assert "af-pak" in gazetteer.theatres


def test_taxonomy_wrong_type_names_file_line_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    data["severity_rules"][0]["severity"] = "catastrophic"
    path = _write(tmp_path, "taxonomy.yaml", yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    err = info.value
    assert err.path == str(path)
    assert err.field == "severity_rules.0.severity"
    assert err.line is not None
    assert "catastrophic" in path.read_text().splitlines()[err.line - 1]
    assert str(path) in str(err) and "severity_rules.0.severity" in str(err)


def test_taxonomy_missing_version(tmp_path: Path) -> None:
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    del data["version"]
    path = _write(tmp_path, "taxonomy.yaml", yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    assert info.value.field == "version"


def test_taxonomy_rejects_unknown_keys(tmp_path: Path) -> None:
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    data["cues"]["closure"]["code"] = ["lambda x: x"]
    path = _write(tmp_path, "taxonomy.yaml", yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    assert info.value.field == "cues.closure.code"


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "taxonomy.yaml", "version: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    assert info.value.line == 1


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "g.yaml", "theatre: x\nregion: af-pak\nentries: [\n  {name: A\n")
    with pytest.raises(ConfigError) as info:
        load_gazetteer(path)
    assert info.value.line is not None and str(path) in str(info.value)


def test_gazetteer_bad_country_code(tmp_path: Path) -> None:
    path = _write(tmp_path, "g.yaml", MINI_GAZETTEER.replace("country: PK", "country: Pakistan"))
    with pytest.raises(ConfigError) as info:
        load_gazetteer(path)
    assert info.value.field == "entries.0.country"
    assert info.value.line == 6


def test_gazetteer_border_countries_are_codes(tmp_path: Path) -> None:
    path = _write(tmp_path, "g.yaml", MINI_GAZETTEER + "    between: [PK, Afghanistan]\n")
    with pytest.raises(ConfigError) as info:
        load_gazetteer(path)
    assert info.value.field == "entries.0.between"
    assert "Afghanistan" in str(info.value)


def test_gazetteer_stands_for_names_a_route(tmp_path: Path) -> None:
    town = (
        "  - {name: Landi Kotal, kind: city, country: PK, stands_for: Landi Kotal road,"
        " variants: [Landi Kotal]}\n"
    )
    path = _write(tmp_path, "g.yaml", MINI_GAZETTEER + town)
    with pytest.raises(ConfigError) as info:
        load_gazetteer(path)
    assert info.value.field == "entries.1.stands_for"
    assert "Landi Kotal road" in str(info.value)
    fixed = MINI_GAZETTEER + town.replace("stands_for: Landi Kotal road", "stands_for: Torkham")
    assert load_gazetteer(_write(tmp_path, "h.yaml", fixed)).entries[1].stands_for == "Torkham"


def test_gazetteer_latitude_out_of_range(tmp_path: Path) -> None:
    path = _write(tmp_path, "g.yaml", MINI_GAZETTEER + "    lat: 123\n    lon: 70\n")
    with pytest.raises(ConfigError) as info:
        load_gazetteer(path)
    assert info.value.field == "entries.0.lat"


def test_gazetteer_duplicate_name_across_files(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.yaml", MINI_GAZETTEER)
    b = _write(tmp_path, "b.yaml", MINI_GAZETTEER.replace("theatre: test", "theatre: other"))
    with pytest.raises(ConfigError) as info:
        load_gazetteer([a, b])
    assert info.value.path == str(b)
    assert info.value.field == "entries.0.name"
    assert "Torkham" in str(info.value)


def test_gazetteer_list_of_files_merges_theatres(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.yaml", MINI_GAZETTEER)
    b = _write(
        tmp_path,
        "b.yaml",
        MINI_GAZETTEER.replace("Torkham", "Rafah").replace("theatre: test", "theatre: gaza"),
    )
    gazetteer = load_gazetteer([a, b])
    assert gazetteer.theatres == ["test", "gaza"]
    assert [e.region.value if e.region else None for e in gazetteer.entries] == ["af-pak", "af-pak"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_taxonomy(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)
