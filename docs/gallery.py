"""Generate the documentation's plot gallery (matplotlib, Agg, PNG).

Run from anywhere: ``python docs/gallery.py``. Writes into ``docs/generated/``
(git-ignored):

* ``gallery/<name>.png`` -- elementwise and comparison operators across modes
  and two softness values; the ``sigmoidal``/``softrelu`` families; soft
  ``sort``/``rank``/``max``/``median`` of ``[x, 0, 1, 2]`` as ``x`` moves, for
  every method; every figure shows values beside derivatives;
* ``methods/accuracy.png`` and ``methods/timing.png`` -- accuracy versus
  softness and a quick timing of every ``sort`` method on this machine;
* ``methods/harness.md`` -- a snippet that embeds the benchmark harness's plots
  when ``benchmarks/results/plots/`` (or ``benchmarks/plots/``) holds them;
* ``gallery/.stamp``, ``methods/.stamp`` -- written when a part is complete
  (``--if-missing`` skips complete parts).

``--part plots`` / ``--part methods`` generate one half (``docs/build.sh`` runs
the halves in parallel).

Everything runs in float32 (JAX's default); derivatives are forward-mode
(``jax.jvp``) over a ``vmap``-ed grid. Elementwise curves run eagerly (their
primitives are compiled once and shared); each axis-wise method is one ``jit``
compiled with cheap XLA options, since compile time, not run time, dominates
here. The quick timing is compiled normally.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# Before JAX and matplotlib are imported (here or by the figure modules).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax
from gallery_figures.axiswise import axiswise_figures, sort_modes_figure, top_k_mask_figure
from gallery_figures.common import GALLERY, METHODS_DIR, OUT, ROOT
from gallery_figures.elementwise import elementwise_figures, step_figures
from gallery_figures.methods import harness_snippet, method_figures

# ------------------------------------------------------------------ main


PARTS = {
    # part -> (steps, stamp); build.sh runs the two parts in parallel processes
    "plots": (
        (elementwise_figures, step_figures, axiswise_figures, sort_modes_figure, top_k_mask_figure),
        GALLERY / ".stamp",
    ),
    "methods": ((method_figures, harness_snippet), METHODS_DIR / ".stamp"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=(*PARTS, "all"), default="all", help="what to generate (default: all)"
    )
    parser.add_argument("--if-missing", action="store_true", help="skip parts that are already complete")
    args = parser.parse_args(argv)
    if jax.config.jax_enable_x64:
        print("gallery: x64 is enabled; the plots are meant for float32", file=sys.stderr)
    GALLERY.mkdir(parents=True, exist_ok=True)
    METHODS_DIR.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for part in PARTS if args.part == "all" else (args.part,):
        steps, stamp = PARTS[part]
        if args.if_missing and stamp.is_file():
            continue
        stamp.unlink(missing_ok=True)
        t_part = time.perf_counter()
        for step in steps:
            t0 = time.perf_counter()
            result = step()
            label = result if isinstance(result, str) else f"{len(result)} items"
            print(f"gallery: {step.__name__:20s} {time.perf_counter() - t0:6.1f} s  ({label})", flush=True)
        stamp.write_text(f"{time.perf_counter() - t_part:.1f}\n")  # written last: the part is complete
    print(f"gallery: {args.part}: {time.perf_counter() - start:.1f} s -> {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
