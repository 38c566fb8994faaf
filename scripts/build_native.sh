#!/usr/bin/env bash
# Compile the classifier's tagging core with mypyc into services/classifier/_native/.
#
# Usage: scripts/build_native.sh [--force]
#
# The compiled modules are C extensions built from the strictly typed sources listed in MODULES;
# they run the same code several times faster. The build is skipped when the stamp (a hash of
# the sources, this script, the Python version and the mypy version) matches the last build, so
# re-running is cheap. A failed build exits non-zero and leaves no half-written _native/ behind:
# nothing falls back silently.
#
# At import, services.classifier uses _native/ only while every compiled source still has the
# hash recorded in _native/manifest.json (see services/classifier/native.py); without a build,
# after an edit, or with BW_PURE_PYTHON=1 the Python sources run. Generated C, objects and the
# mypy cache of the build stay under build/native/ (ignored by git, like _native/).
#
# Environment:
#   PY   the Python of the virtual environment (default <repo>/.venv/bin/python)
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"
PY=${PY:-$REPO_DIR/.venv/bin/python}
PKG=services/classifier
OUT=$PKG/_native
WORK=build/native
# The hot, pure modules. taxonomy.py stays Python: pydantic models are not mypyc's to compile,
# and compiled code calls them like any other Python module.
MODULES=(matcher sentences numbers document figures truce crossings region severity gazetteer tagger)

sources=()
for m in "${MODULES[@]}"; do sources+=("$PKG/$m.py"); done

stamp=$(
    {
        "$PY" -c 'import sys, mypy.version; print(sys.version); print(mypy.version.__version__)'
        sha256sum "${BASH_SOURCE[0]}" "${sources[@]}"
    } | sha256sum | cut -d' ' -f1
)
if [[ ${1:-} != --force && -f $OUT/stamp && $(cat "$OUT/stamp") == "$stamp" ]]; then
    echo "native: compiled tagging core is up to date ($OUT)"
    exit 0
fi

echo "native: compiling ${#MODULES[@]} tagging modules with mypyc (about a minute)..."
start=$SECONDS
rm -rf "$WORK"
mkdir -p "$WORK"
# One group, so the modules call each other natively; its shared library lives in the package.
if ! MYPY_CACHE_DIR=$WORK/mypy_cache "$PY" - "${sources[@]}" >"$WORK/build.log" 2>&1 <<'EOF'
import sys

from mypyc.build import mypycify
from setuptools import setup

paths = sys.argv[1:]
sys.argv[1:] = ["build_ext", "--build-lib", "build/native/lib", "--build-temp", "build/native/temp"]
setup(
    name="borderwatch-native",
    packages=[],
    ext_modules=mypycify(
        paths, opt_level="3", target_dir="build/native/c", group_name="services.classifier.native_core"
    ),
)
EOF
then
    tail -n 40 "$WORK/build.log" >&2
    echo "native: mypyc build FAILED (full log: $WORK/build.log)" >&2
    exit 1
fi

# Swap in the new build whole (renames): an importer sees the old build, no build or the new
# one, never a mix.
staging=$PKG/_native.new
rm -rf "$staging"
mkdir -p "$staging"
cp "$WORK"/lib/$PKG/*.so "$staging"/
BW_PURE_PYTHON=1 "$PY" - "$staging" "${MODULES[@]}" <<'EOF'
import sys
from pathlib import Path

from services.classifier.native import write_manifest

write_manifest(Path(sys.argv[1]), Path("services/classifier"), sys.argv[2:])
EOF
echo "$stamp" >"$staging/stamp"
rm -rf "$OUT.old"
if [[ -d $OUT ]]; then mv "$OUT" "$OUT.old"; fi
mv "$staging" "$OUT"
rm -rf "$OUT.old"
echo "native: built $OUT in $((SECONDS - start))s"
