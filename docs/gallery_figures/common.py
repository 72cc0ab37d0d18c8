"""Shared settings and helpers of the gallery figures (paths, styles, compile, save)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")  # before pyplot; docs/gallery.py also sets MPLBACKEND before any import
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "docs" / "generated"
GALLERY = OUT / "gallery"
METHODS_DIR = OUT / "methods"

# Cheap XLA compilation for plotting (the grids are tiny; compile time dominates).
FAST = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
    "xla_cpu_use_fusion_emitters": False,
}

MODES = ("smooth", "c0", "c1", "c2")
MODE_STYLE = {
    "smooth": dict(color="C0"),
    "c0": dict(color="C1"),
    "c1": dict(color="C2"),
    "c2": dict(color="C3"),
    "_c1_pnorm": dict(color="C2", ls="--"),
    "_c2_pnorm": dict(color="C3", ls="--"),
}
HARD_STYLE = dict(color="k", ls=":", lw=1.2)
SOFTNESSES = (0.1, 0.3)
METHODS = ("neuralsort", "softsort", "sorting_network", "fast_soft_sort", "smooth_sort", "ot")

plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "axes.titlesize": 9, "legend.fontsize": 8})


def mode_label(mode: str) -> str:
    # matplotlib's legend skips labels that start with "_": quote the private modes.
    return repr(mode) if mode.startswith("_") else mode


def run_compiled(fn, *args):
    """``jit(fn)`` compiled with the cheap options, called on ``args``; numpy result."""
    compiled = jax.jit(fn).lower(*args).compile(FAST)
    return jax.tree_util.tree_map(np.asarray, compiled(*args))


def run_eager(fn, *args):
    """``fn(*args)`` without ``jit``, numpy result.

    Elementwise curves are a few primitives each; run op by op, JAX compiles
    each primitive once for the grid's shape and reuses it across operators,
    which is much cheaper than one ``jit`` per operator.
    """
    return jax.tree_util.tree_map(np.asarray, fn(*args))


def value_and_derivative(f):
    """``x -> (f(x), df/dx)`` for scalar ``x``: one forward-mode pass (``jax.jvp``)."""

    def both(x):
        return jax.jvp(f, (x,), (jnp.ones_like(x),))

    return both


def save_figure(fig, path: Path, **margins: float) -> None:
    # Fixed margins instead of tight_layout(), which costs one extra full draw.
    adjust = dict(left=0.07, right=0.98, bottom=0.1, top=0.92, wspace=0.22, hspace=0.3)
    fig.subplots_adjust(**{**adjust, **margins})
    fig.savefig(path, dpi=90)
    plt.close(fig)
