"""Run the examples shown on the "Quick examples" page and store exactly what they print.

Writes ``docs/generated/<example>_output.txt`` (git-ignored) for every
script in ``EXAMPLES``, and ``docs/generated/<example>.png`` (the script's
``--plot``) for those in ``PLOTS``; the page includes them verbatim. A file
is written only after its script succeeded, so the page never shows a
partial or stale-on-failure output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "docs" / "generated"
EXAMPLES = ("quickstart", "ranking_losses", "moe_routing", "feature_pruning", "histogram_matching")
# The training examples also save a figure with --plot PATH.
PLOTS = ("moe_routing", "feature_pruning", "histogram_matching")


def capture(name: str) -> int:
    """Run ``examples/<name>.py``; on success write its stdout to ``<name>_output.txt``."""
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    GENERATED.mkdir(parents=True, exist_ok=True)
    # The figure goes to a temporary name (matplotlib reads the format from
    # the suffix) and replaces <name>.png only once the script succeeded.
    figure = GENERATED / f"{name}.png"
    partial = GENERATED / f"{name}.tmp.png"
    plot = ["--plot", str(partial)] if name in PLOTS else []
    proc = subprocess.run(
        [sys.executable, f"examples/{name}.py", *plot],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    out = GENERATED / f"{name}_output.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(proc.stdout)
    tmp.replace(out)
    if plot:
        partial.replace(figure)
    print(f"{name}: {len(proc.stdout.splitlines())} lines -> {out.relative_to(ROOT)}")
    return 0


def main() -> int:
    for name in EXAMPLES:
        code = capture(name)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
