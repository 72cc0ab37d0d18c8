"""MkDocs hooks: make sure the generated files the pages include exist.

``docs/build.sh`` regenerates everything before ``mkdocs build``; these hooks
only fill in what is missing, so that a bare ``mkdocs serve`` or
``mkdocs build`` works too (the first run takes about a minute). The method
tables (``docs/_ext/method_table.py``, a few seconds) are rendered from the
method declarations before every build, so they never go stale.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "docs" / "generated"
log = logging.getLogger("mkdocs.hooks.softjax")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_ENABLE_X64=os.environ.get("JAX_ENABLE_X64", "0"))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, **kwargs)


def on_pre_build(config, **kwargs) -> None:
    if not all((GENERATED / part / ".stamp").is_file() for part in ("gallery", "methods")):
        log.info("generating the plot gallery (docs/gallery.py)")
        _run(["docs/gallery.py", "--if-missing"])
    if not all((GENERATED / f"{name}_output.txt").is_file() for name in ("quickstart", "ranking_losses")):
        log.info("running the quick examples to capture their output")
        _run(["docs/capture_quickstart.py"])
    _run(["docs/_ext/method_table.py"])
