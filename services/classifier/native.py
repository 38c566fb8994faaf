"""Choosing between the compiled tagging core and its Python sources.

``scripts/build_native.sh`` compiles the tagging modules with mypyc into ``_native/`` beside this
file and records each compiled module's source hash in ``_native/manifest.json``. The package
searches ``_native/`` first only when the build is current: every listed source still has its
recorded hash and the extensions were built for this interpreter. So an edited module never runs
as stale compiled code, and a checkout without a build runs the sources. ``BW_PURE_PYTHON=1``
always runs the sources. Compiled or not, the modules behave identically.

Kept free of any compiled module: it runs before them, from ``services/classifier/__init__.py``.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

NATIVE_DIR = "_native"
MANIFEST = "manifest.json"
PURE_ENV = "BW_PURE_PYTHON"
COMPILED, PURE = "mypyc", "python"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ext_suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def write_manifest(native_dir: Path, source_dir: Path, modules: Iterable[str]) -> None:
    """Record what a build in ``native_dir`` was compiled from (used by the build script)."""
    manifest = {
        "ext_suffix": _ext_suffix(),
        "sources": {m: _digest(source_dir / f"{m}.py") for m in modules},
    }
    (native_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def current_build(package_dir: Path) -> tuple[Path | None, str]:
    """The native directory when its build is current, else None; and why, in words."""
    native = package_dir / NATIVE_DIR
    path = native / MANIFEST
    if not path.is_file():
        return None, "no compiled build (run `make native`)"
    try:
        manifest = json.loads(path.read_text())
        suffix = manifest["ext_suffix"]
        sources = manifest["sources"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"unreadable {path}: {exc}"
    if suffix != _ext_suffix():
        return None, f"compiled for another interpreter ({suffix}); run `make native`"
    if not isinstance(sources, dict) or not sources:
        return None, f"{path} lists no modules"
    stale = [m for m, digest in sources.items() if not _source_matches(package_dir / f"{m}.py", digest)]
    if stale:
        return None, f"compiled build is older than {', '.join(sorted(stale))}.py; run `make native`"
    return native, "compiled build is current"


def _source_matches(path: Path, digest: object) -> bool:
    try:
        return _digest(path) == digest
    except OSError:
        return False


def search_path(package_path: list[str], environ: Mapping[str, str]) -> list[str]:
    """The package's module search path: the current native build first, if it is to be used.

    A build that exists but is out of date is reported with a warning (the sources still run).
    """
    if environ.get(PURE_ENV, "") not in ("", "0"):
        return package_path
    native, why = current_build(Path(package_path[0]))
    if native is None:
        if (Path(package_path[0]) / NATIVE_DIR).exists():
            warnings.warn(f"services.classifier runs as pure Python: {why}", RuntimeWarning, stacklevel=2)
        return package_path
    return [str(native), *package_path]


def tagging_build() -> str:
    """``"mypyc"`` when the tagging core in use is compiled, ``"python"`` otherwise."""
    import services.classifier.tagger as tagger

    spec = tagger.__spec__
    loader = None if spec is None else spec.loader
    return COMPILED if isinstance(loader, importlib.machinery.ExtensionFileLoader) else PURE
