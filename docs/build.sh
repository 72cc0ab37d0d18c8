#!/usr/bin/env bash
# Build the documentation site into site/ (needs: python -m pip install -e ".[docs]").
#
#   bash docs/build.sh     # regenerate gallery + quick-example output, then mkdocs build --strict
#
# Two processes share the work (a small CI machine has 2 cores): the background
# one runs the example scripts shown on the Quick examples page (their output
# and figures, via docs/capture_quickstart.py) and then the method comparison
# figures; the foreground one draws the gallery.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python}"
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
export NO_MKDOCS_2_WARNING=1
start=$SECONDS

rm -rf docs/generated
mkdir -p docs/generated

( "$PYTHON" docs/capture_quickstart.py &&
  JAX_ENABLE_X64=0 "$PYTHON" docs/gallery.py --part methods ) &
background=$!
trap 'kill "$background" 2>/dev/null || true' EXIT

JAX_ENABLE_X64=0 "$PYTHON" docs/gallery.py --part plots
wait "$background"
trap - EXIT

"$PYTHON" -m mkdocs build --strict --site-dir site
echo "docs: built site/ in $((SECONDS - start)) s"
