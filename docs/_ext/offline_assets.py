"""MkDocs hook: ship MathJax with the site, so that formulas render offline.

The MathJax files come from the PyPI distribution ``django-static-mathjax``
(pinned in the ``docs`` extra of ``pyproject.toml``; it has no dependencies and
is used here only as a source of the MathJax files, not with Django). They are
added to the site under ``assets/mathjax/``: the ``tex-chtml.js`` bundle, the
TeX extensions it may load on demand, the CHTML web fonts and the menu
components. ``mkdocs.yml`` loads ``assets/mathjax/tex-chtml.js`` after its
configuration in ``javascripts/mathjax.js``; nothing is fetched from another
host, so the site works from a plain static server and from ``file://``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

MATHJAX_VERSION = "3.2.2"
DEST = "assets/mathjax"
# Paths under MathJax's es5/ folder that the site needs (files or folders).
PARTS = (
    "tex-chtml.js",
    "input/tex/extensions",
    "output/chtml/fonts/woff-v2",
    "ui",
)
log = logging.getLogger("mkdocs.hooks.offline_assets")


def mathjax_root() -> Path:
    """The folder holding MathJax's ``package.json`` and ``es5/`` (checked version)."""
    spec = importlib.util.find_spec("mathjax")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        root = Path(location) / "static" / "mathjax"
        package = root / "package.json"
        if package.is_file():
            version = json.loads(package.read_text(encoding="utf-8")).get("version")
            if version != MATHJAX_VERSION:
                raise PluginError(
                    f"MathJax {version} found in {root}, the docs expect {MATHJAX_VERSION}: "
                    'reinstall with python -m pip install -e ".[docs]"'
                )
            return root
    raise PluginError(
        "MathJax not found: the docs ship it from the django-static-mathjax package; "
        'install the docs extra with python -m pip install -e ".[docs]"'
    )


def mathjax_files(root: Path) -> list[tuple[str, Path]]:
    """``(site path, source path)`` for every MathJax file the site ships."""
    es5 = root / "es5"
    out = [(f"{DEST}/LICENSE", root / "LICENSE")]
    for part in PARTS:
        source = es5 / part
        paths = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        if not paths:
            raise PluginError(f"MathJax file or folder missing: {source}")
        out.extend((f"{DEST}/{p.relative_to(es5).as_posix()}", p) for p in paths)
    return out


def on_files(files: Files, config, **kwargs) -> Files:
    shipped = mathjax_files(mathjax_root())
    for uri, source in shipped:
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    log.debug("shipping %d MathJax files under %s/", len(shipped), DEST)
    return files
