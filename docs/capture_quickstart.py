"""Run ``examples/quickstart.py`` and store exactly what it prints.

Writes ``docs/generated/quickstart_output.txt`` (git-ignored), which the
"Quick examples" page includes verbatim. The file is written only after the
script succeeded, so the page never shows a partial or stale-on-failure output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "generated" / "quickstart_output.txt"


def main() -> int:
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    proc = subprocess.run(
        [sys.executable, "examples/quickstart.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(proc.stdout)
    tmp.replace(OUT)
    print(f"quickstart: {len(proc.stdout.splitlines())} lines -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
