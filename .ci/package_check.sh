#!/usr/bin/env bash
# Packaging smoke test: build the sdist and the wheel, check their metadata,
# install the wheel (not the source tree) into a fresh virtual environment
# and run the quick examples against it.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf dist .pkg-venv
python -m pip install --quiet "build>=1.2" "twine>=5"
python -m build --quiet --sdist --wheel --outdir dist .
python -m twine check --strict dist/*

python3 -m venv .pkg-venv
.pkg-venv/bin/python -m pip install --quiet --upgrade pip
.pkg-venv/bin/python -m pip install --quiet dist/*.whl
# Run from outside the tree so that the installed wheel, not src/, is imported.
(cd /tmp && "$OLDPWD/.pkg-venv/bin/python" -c "
import softjax as sj, softjax.random, softjax.straight_through, pathlib
assert 'site-packages' in pathlib.Path(sj.__file__).as_posix(), sj.__file__
print('installed softjax', sj.__version__, 'from', sj.__file__)
")
(cd /tmp && "$OLDPWD/.pkg-venv/bin/python" "$OLDPWD/examples/quickstart.py" > /dev/null)
echo "package check: sdist + wheel built, twine check passed, wheel runs the quick examples"
rm -rf .pkg-venv
