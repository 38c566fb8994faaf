"""The compiled tagging core: when it is used, and that it tags exactly like the Python sources."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.raw_items import RawItemV1
from services.classifier.native import (
    COMPILED,
    MANIFEST,
    NATIVE_DIR,
    PURE,
    PURE_ENV,
    current_build,
    search_path,
    tagging_build,
    write_manifest,
)
from services.classifier.tagger import Tagger
from tests.services import required
from tests.unit.classifier.conftest import NOW, ROOT, known_items

PACKAGE = ROOT / "services" / "classifier"


def _package(tmp_path: Path, sources: dict[str, str]) -> Path:
    pkg = tmp_path / "pkg"
    (pkg / NATIVE_DIR).mkdir(parents=True)
    for name, text in sources.items():
        (pkg / f"{name}.py").write_text(text)
    return pkg


def test_current_build_is_used_first(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"matcher": "A = 1\n", "tagger": "B = 2\n"})
    write_manifest(pkg / NATIVE_DIR, pkg, ["matcher", "tagger"])
    assert current_build(pkg)[0] == pkg / NATIVE_DIR
    assert search_path([str(pkg)], {}) == [str(pkg / NATIVE_DIR), str(pkg)]


def test_pure_python_on_request(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"matcher": "A = 1\n"})
    write_manifest(pkg / NATIVE_DIR, pkg, ["matcher"])
    assert search_path([str(pkg)], {PURE_ENV: "1"}) == [str(pkg)]
    assert search_path([str(pkg)], {PURE_ENV: "0"}) == [str(pkg / NATIVE_DIR), str(pkg)]


def test_edited_source_makes_the_build_stale(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"matcher": "A = 1\n", "tagger": "B = 2\n"})
    write_manifest(pkg / NATIVE_DIR, pkg, ["matcher", "tagger"])
    (pkg / "tagger.py").write_text("B = 3\n")
    native, why = current_build(pkg)
    assert native is None
    assert "tagger.py" in why
    with pytest.warns(RuntimeWarning, match="pure Python"):
        assert search_path([str(pkg)], {}) == [str(pkg)]


@pytest.mark.parametrize(
    "manifest",
    [
        "not json",
        json.dumps({"sources": {"matcher": "x"}}),
        json.dumps({"ext_suffix": ".cpython-0-other.so", "sources": {"matcher": "x"}}),
        json.dumps({"ext_suffix": ".so", "sources": {}}),
    ],
)
def test_unusable_manifest_means_pure_python(tmp_path: Path, manifest: str) -> None:
    pkg = _package(tmp_path, {"matcher": "A = 1\n"})
    (pkg / NATIVE_DIR / MANIFEST).write_text(manifest)
    assert current_build(pkg)[0] is None
    with pytest.warns(RuntimeWarning):
        assert search_path([str(pkg)], {}) == [str(pkg)]


def test_no_build_means_pure_python_without_warning(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    assert search_path([str(pkg)], {}) == [str(pkg)]


def _corpus() -> list[str]:
    """JSON lines of every item of the development set, the held-out set and the samples."""
    return [item.model_dump_json() for item in known_items()]


_TAG_ALL = """
import json, sys
from datetime import datetime
from schemas.raw_items import RawItemV1
from services.classifier.native import tagging_build
from services.classifier.tagger import load_tagger

tagger = load_tagger("config/taxonomy.yaml", "config/gazetteer")
now = datetime.fromisoformat(sys.argv[1])
print(tagging_build())
for line in sys.stdin:
    print(tagger.tag(RawItemV1.model_validate_json(line), now).model_dump_json())
"""


def test_compiled_and_pure_tag_identically(tagger: Tagger) -> None:
    """Every event of the corpora, tagged by the build in use and by the Python sources."""
    if tagging_build() != COMPILED:
        reason = "the tagging core is not compiled here (run `make native`)"
        if required():
            pytest.fail(f"{reason} (CI is set)", pytrace=False)
        pytest.skip(f"SKIPPED LOUDLY: {reason}")
    lines = _corpus()
    assert len(lines) > 100
    env = {**os.environ, PURE_ENV: "1"}
    out = subprocess.run(
        [sys.executable, "-c", _TAG_ALL, NOW.isoformat()],
        input="\n".join(lines) + "\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.splitlines()
    assert out[0] == PURE
    compiled = [tagger.tag(RawItemV1.model_validate_json(line), NOW).model_dump_json() for line in lines]
    assert out[1:] == compiled


def test_pure_python_runs_without_a_build(tmp_path: Path) -> None:
    """A checkout without the compiled build (or with BW_PURE_PYTHON=1) imports and tags."""
    tree = tmp_path / "tree"
    for part in ("schemas", "services", "config"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns(NATIVE_DIR, "__pycache__"))
    code = (
        "from services.classifier.native import tagging_build; "
        "from services.classifier.tagger import load_tagger; "
        "load_tagger('config/taxonomy.yaml', 'config/gazetteer'); print(tagging_build())"
    )
    env = {k: v for k, v in os.environ.items() if k != PURE_ENV}
    env["PYTHONPATH"] = str(tree)
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == PURE
